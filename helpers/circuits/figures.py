"""Figures of circuits, tuning curves and rotated pairs, in the style of the Distill thread.

Weights are drawn red where they excite and blue where they inhibit (``WEIGHT_CMAP``), on one
colour scale per figure; panel titles are at least ``TITLE_FONTSIZE`` points, readable in the
lectures.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import ConnectionPatch

from helpers.circuits.equivariance import kernel_image, rotate_kernel
from helpers.circuits.tuning import Tuning
from helpers.circuits.wiring import Circuit
from helpers.plotting import new_figure

WEIGHT_CMAP = "RdBu_r"  # red excites, blue inhibits
#: Smallest font size of panel titles, in points: smaller ones are unreadable in the lectures.
TITLE_FONTSIZE = 8


def _blank(ax, text: str = ""):
    ax.set_facecolor("#f2f2f2")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if text:
        ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, color="0.4",
                transform=ax.transAxes)


def _image_ax(ax, image):
    if image is None:
        _blank(ax, "dead unit")
    else:
        ax.imshow(image, interpolation="bilinear")  # small pictures, shown large
        ax.set_xticks([])
        ax.set_yticks([])


def _kernel_axes(colour_ax, grey_ax, kernel, floor: float = 0.0):
    """An RGB kernel (kh, kw, 3) in two panels, one square per weight: its colours (mid-grey =
    0, ``kernel_image``) and its sum over the colours (white +, black -, mid-grey 0, on its own
    symmetric scale). A kernel whose largest |weight| is at most ``floor`` gets a blank
    "zero kernel" panel and an empty one."""
    kernel = np.asarray(kernel, dtype=np.float32)
    if np.abs(kernel).max() <= floor:
        _blank(colour_ax, "zero kernel")
        _blank(grey_ax)
        return
    summed = kernel.sum(axis=-1)
    limit = float(np.abs(summed).max()) or 1.0
    colour_ax.imshow(kernel_image(kernel), interpolation="nearest")
    grey_ax.imshow(summed, cmap="gray", vmin=-limit, vmax=limit, interpolation="nearest")
    for ax in (colour_ax, grey_ax):
        ax.set_xticks([])
        ax.set_yticks([])


def plot_first_layer_kernels(kernels, labels=None, ncols: int = 8, size: float = 1.1,
                             title=None):
    """First-layer kernels over the RGB pixels, each twice: as colours (0.5 + w / (2 max|w|),
    mid-grey = 0, like notebook 02's section 1) and, under it, as its **grey-level kernel**, the
    sum over the colours (white +, black -), which is what a grey edge or bar meets: a kernel
    that is a colour patchwork can still be a clean edge detector there.

    Args:
        kernels: (kh, kw, 3, channels) over RGB pixels (``pixel_kernels``).
        labels: {channel: text} under each channel's number (e.g. "edge 90°").
        ncols: channels per row; size: inches per panel; title: the figure's title.

    Returns:
        The figure. An all-zero kernel gets a blank "zero kernel" panel.
    """
    kernels = np.asarray(kernels, dtype=np.float32)
    if kernels.ndim != 4 or kernels.shape[2] != 3:
        raise ValueError(f"Expected RGB kernels (kh, kw, 3, channels), e.g. from pixel_kernels; "
                         f"got shape {kernels.shape}.")
    labels = labels or {}
    channels = kernels.shape[-1]
    rows = -(-channels // ncols)
    fig, axes = plt.subplots(2 * rows, ncols, figsize=(size * ncols, 2 * (size + 0.2) * rows + 0.5),
                             squeeze=False)
    largest = float(np.abs(kernels).max()) or 1.0
    for c in range(rows * ncols):
        top, bottom = axes[2 * (c // ncols), c % ncols], axes[2 * (c // ncols) + 1, c % ncols]
        if c >= channels:
            top.axis("off")
            bottom.axis("off")
            continue
        _kernel_axes(top, bottom, kernels[..., c], floor=1e-6 * largest)
        text = f"{c}: {labels[c]}" if c in labels else str(c)
        top.set_title(text, fontsize=TITLE_FONTSIZE + 1, pad=2)
        if c % ncols == 0:
            top.set_ylabel("colour", fontsize=TITLE_FONTSIZE)
            bottom.set_ylabel("grey level", fontsize=TITLE_FONTSIZE)
    fig.suptitle((title + "\n" if title else "") + "each kernel on its own scale: colours "
                 "(mid-grey = 0) above, summed over the colours (white +, black -) below",
                 fontsize=9)
    fig.tight_layout()
    return fig


def plot_circuit(circ: Circuit, input_images=None, unit_image=None, input_labels=None,
                 title=None, vmax=None, input_caption=None, input_kernels=None):
    """Distill-style circuit: input features on the left, their weights into the unit in the
    middle (red excites, blue inhibits, one colour scale), the unit on the right.

    Args:
        circ: from ``circuit``.
        input_images: {channel: RGB image} of the input features (e.g. feature
            visualizations); None or missing channels are drawn as blank "dead unit" boxes.
        unit_image: the unit's RGB image.
        input_labels: {channel: extra text} under an input's name (e.g. its orientation).
        title: figure title (default: names the unit and its input layer).
        vmax: colour scale of the weights (default: the largest |weight| shown).
        input_caption: title of the inputs' column (default: the input layer's name).
        input_kernels: instead of ``input_images``, the input layer's kernels over the RGB
            pixels, (kh, kw, 3, channels) (``pixel_kernels``), for inputs computed by one
            convolution from the image: each input is drawn as its colour kernel (mid-grey =
            0) and beside it its **grey-level kernel**, the sum over the colours (what a grey
            pattern meets: white +, black -, on its own scale), which shows an edge
            detector's edge where a 3x3 colour patchwork or an optimized colour blob does not.

    Returns:
        The figure.
    """
    connections = circ.connections
    if not connections:
        raise ValueError(f"Unit {circ.unit} of {circ.layer!r} has no non-zero input weights.")
    input_images = input_images or {}
    input_labels = input_labels or {}
    if input_kernels is not None:
        input_kernels = np.asarray(input_kernels, dtype=np.float32)
    n = len(connections)
    vmax = vmax or max(float(np.abs(c.weights).max()) for c in connections) or 1.0
    height = 0.95 * max(n, 2) + 0.8
    fig = new_figure(figsize=(6.2, height))
    grid = fig.add_gridspec(max(n, 2), 4, width_ratios=[1, 1, 1.3, 2.0], wspace=0.12,
                            hspace=0.45, left=0.11, right=0.97, top=1 - 0.62 / height,
                            bottom=0.1 / height)
    middle = max(n, 2) // 2
    unit_ax = fig.add_subplot(grid[middle - 1:middle + 1, 3])
    _image_ax(unit_ax, unit_image)
    unit_ax.set_title(f"{circ.layer}\nunit {circ.unit}", fontsize=9, fontweight="bold")
    strongest = max(abs(c.strength) for c in connections) or 1.0
    for row, conn in enumerate(connections):
        image_ax, weight_ax = fig.add_subplot(grid[row, 0]), fig.add_subplot(grid[row, 1])
        label_ax = image_ax
        if input_kernels is None:
            _image_ax(image_ax, input_images.get(conn.channel))
        else:  # the colour kernel, and beside it its sum over the colours
            image_ax.set_axis_off()
            label_ax, grey_ax = (image_ax.inset_axes(box) for box in ([-0.04, 0, 0.5, 1],
                                                                       [0.54, 0, 0.5, 1]))
            _kernel_axes(label_ax, grey_ax, input_kernels[..., conn.channel])
        extra = input_labels.get(conn.channel)
        label_ax.set_ylabel(f"ch {conn.channel}" + (f"\n{extra}" if extra else ""), fontsize=8,
                            rotation=0, ha="right", va="center", labelpad=4)
        heat = weight_ax.imshow(conn.weights, cmap=WEIGHT_CMAP, vmin=-vmax, vmax=vmax)
        weight_ax.set_xticks([])
        weight_ax.set_yticks([])
        weight_ax.set_xlabel(f"{conn.strength:+.2f}", fontsize=7, labelpad=1)
        color = plt.get_cmap(WEIGHT_CMAP)(0.85 if conn.strength > 0 else 0.15)
        fig.add_artist(ConnectionPatch(
            xyA=(1.0, 0.5), coordsA=weight_ax.transAxes, xyB=(0.0, 0.5), coordsB=unit_ax.transAxes,
            color=color, lw=0.8 + 3.2 * abs(conn.strength) / strongest, alpha=0.8))
        if row == 0:
            image_ax.set_title(input_caption or circ.input_layer
                               + ("\ncolour | grey level" if input_kernels is not None
                                  else ""), fontsize=8)
            size = "x".join(str(s) for s in circ.kernel_size)
            weight_ax.set_title(f"weights {size}", fontsize=8)
    cbar = fig.colorbar(heat, ax=unit_ax, orientation="horizontal", fraction=0.08, pad=0.08,
                        aspect=18)
    cbar.ax.tick_params(labelsize=7)
    cbar.set_label("weight (red excites, blue inhibits)", fontsize=7)
    how = "expanded weights" if circ.expanded else "weights"
    fig.suptitle(title or f"Circuit of {circ.layer} unit {circ.unit}: strongest {how} "
                          f"from {circ.input_layer} (ranked by {circ.rank})", fontsize=9)
    return fig


def plot_tuning_grid(tuning: Tuning, highlight=(), ncols: int = 8, size: float = 1.4):
    """Every channel's tuning curve (at its preferred radius) as small multiples, each scaled to
    its own peak and titled with that radius and its tuning width; highlighted channels in red.
    Returns the figure."""
    channels = tuning.responses.shape[-1]
    rows = -(-channels // ncols)
    fig, axes = plt.subplots(rows, ncols, figsize=(size * ncols, 0.8 * size * rows + 0.5),
                             sharex=True, squeeze=False)
    radius_names = [_radius_name(r) for r in tuning.radii]
    width = tuning.width
    for c, ax in enumerate(axes.flat):
        if c >= channels:
            ax.axis("off")
            continue
        curve = tuning.curve(c)
        peak = curve.max()
        color = "tab:red" if c in highlight else "0.25"
        ax.plot(tuning.orientations, curve / peak if peak > 0 else curve, color=color, lw=1.2)
        ax.set_ylim(-0.05, 1.1)
        ax.set_xticks([])
        ax.set_yticks([])
        label = (f"{c}: {radius_names[tuning.preferred_radius[c]]}, {width[c]:.0f}°" if peak > 0
                 else f"{c}: silent")
        ax.set_title(label, fontsize=TITLE_FONTSIZE, color=color, pad=2)
        for spine in ax.spines.values():
            spine.set_color(color if c in highlight else "0.8")
    fig.suptitle(f"{tuning.layer}: response vs orientation (0-345°) at each channel's "
                 f"preferred radius; title: channel, radius, tuning width", fontsize=9)
    height = fig.get_figheight()  # fixed margins: tight_layout is slow on many small axes
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.1 / height, top=1 - 0.45 / height,
                        wspace=0.08, hspace=0.28 / (0.8 * size - 0.28))  # 0.28 in per title
    return fig


def _radius_name(radius: float) -> str:
    return "line" if np.isinf(radius) else f"r={radius:g}"


def plot_tuning_curves(tuning: Tuning, channels, stimuli=None, pictures=None,
                       size: float = 3.3):
    """Polar tuning curves of ``channels``, one line per radius (dashed: straight lines).

    Args:
        tuning: from ``orientation_tuning``.
        channels: the channels to draw, one column each.
        stimuli: the ``StimulusSet`` measured: each column then shows its preferred stimulus.
        pictures: {channel: RGB image} (feature visualizations) shown under the curves.
        size: inches per column.

    Returns:
        The figure.
    """
    channels = list(channels)
    if not channels:
        raise ValueError("Give at least one channel.")
    extra = [name for name, given in (("stimulus", stimuli is not None),
                                      ("picture", pictures is not None)) if given]
    fig = plt.figure(figsize=(size * len(channels), size * (1.15 + 0.5 * bool(extra))))
    grid = fig.add_gridspec(2 if extra else 1, 2 * len(channels),
                            height_ratios=[1.75, 1.25] if extra else [1], hspace=0.2,
                            wspace=0.15)
    theta = np.deg2rad(np.append(tuning.orientations, tuning.orientations[0]))
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.85, len(tuning.radii)))
    width = tuning.width
    for i, c in enumerate(channels):
        ax = fig.add_subplot(grid[0, 2 * i:2 * i + 2], projection="polar")
        for row, radius in enumerate(tuning.radii):
            curve = tuning.responses[row, :, c]
            ax.plot(theta, np.append(curve, curve[0]), color=colors[row], lw=1.4,
                    ls="--" if np.isinf(radius) else "-", label=_radius_name(radius))
        ax.set_xticks(np.deg2rad(np.arange(0, 360, 45)))
        ax.tick_params(labelsize=8, pad=1)
        ax.set_yticks(np.linspace(0, max(tuning.peak[c], 1e-9), 4)[1:])
        ax.set_yticklabels([])
        ax.set_title(f"unit {c}: {tuning.preferred_orientation[c]:.0f}°, "
                     f"{_radius_name(tuning.radii[tuning.preferred_radius[c]])}, "
                     f"width {width[c]:.0f}°", fontsize=9, pad=14)
        panels = []
        if stimuli is not None:
            best = int(np.argmax(tuning.curve(c)))
            panels.append((stimuli.images[tuning.preferred_radius[c], best], "best stimulus"))
        if pictures is not None:
            panels.append((pictures.get(c), "feature vis."))
        for k, (image, text) in enumerate(panels):
            sub = fig.add_subplot(grid[1, 2 * i + k] if len(panels) == 2
                                  else grid[1, 2 * i:2 * i + 2])
            if image is None:
                _blank(sub, "dead unit")
                sub.set_box_aspect(1)
            else:
                sub.imshow(image, cmap="gray" if image.ndim == 2 else None,
                           interpolation="bilinear")  # small pictures, shown large
                sub.set_xticks([])
                sub.set_yticks([])
            sub.set_xlabel(text, fontsize=TITLE_FONTSIZE + 1, labelpad=2)
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=len(tuning.radii),
               fontsize=9, frameon=False)
    height = fig.get_figheight()  # margins in inches: the title above, the legend below
    fig.subplots_adjust(left=0.03, right=0.97, top=1 - 0.5 / height, bottom=0.45 / height)
    return fig


def plot_rotated_pairs(kernels, pairs, size: float = 1.8, colour: bool | None = None):
    """Each pair as [channel a | a rotated | channel b] with their similarity, one square per
    weight (nearest neighbour), and a colour bar saying what red and blue mean. Returns the
    figure.

    Args:
        kernels: (kh, kw, in_channels, units).
        pairs: from ``rotated_pairs``.
        size: inches per panel.
        colour: show RGB kernels as colours (``kernel_image``). Default False: each kernel is
            shown as its sum over input channels (for RGB kernels, its response to grey-level
            light) in red (+) and blue (-), the pattern that turns; a 3x3 kernel's nine mixed
            colours read as a patchwork, and larger (expanded) ones average out to pale greys.

    Every panel is scaled to its own symmetric range (0 is grey or white, its own largest
    |weight| saturates), so a weak kernel is as visible as a strong one.
    """
    if not pairs:
        raise ValueError("No rotated pairs to show; lower the margin or try more angles.")
    kernels = np.asarray(kernels, dtype=np.float32)
    colour = bool(colour)
    if colour and kernels.shape[2] != 3:
        raise ValueError(f"colour=True needs RGB kernels; these have {kernels.shape[2]} inputs.")
    # constrained layout leaves room for every title, however few rows there are
    height = (size + 0.25) * len(pairs) + 0.4
    fig, axes = plt.subplots(len(pairs), 3, figsize=(3 * size + 0.3, height), squeeze=False,
                             layout="constrained")

    def show(ax, kernel, text):
        if colour:
            ax.imshow(kernel_image(kernel), interpolation="nearest")
            heat = None
        else:
            summed = kernel.sum(axis=-1)
            limit = max(np.abs(summed).max(), 1e-12)
            heat = ax.imshow(summed, cmap=WEIGHT_CMAP, vmin=-limit, vmax=limit,
                             interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(text, fontsize=9, pad=3)
        return heat

    for row, pair in enumerate(pairs):
        a, b = kernels[..., pair.a], kernels[..., pair.b]
        show(axes[row, 0], a, f"channel {pair.a}")
        show(axes[row, 1], rotate_kernel(a, pair.angle),
             f"channel {pair.a} turned {pair.angle:.0f}°")
        heat = show(axes[row, 2], b, f"channel {pair.b}: cos {pair.similarity:.2f}")
    kh, kw = kernels.shape[:2]
    how = ("colours, grey = 0" if colour else
           "summed over inputs, red +, blue -" if kernels.shape[2] > 1 else "red +, blue -")
    fig.suptitle(f"{kh}x{kw} kernels ({how}), each on its own scale;\n"
                 f"cos: of the turned kernel with the right one, over all its weights", fontsize=9)
    if heat is not None:  # one bar for all: each panel runs from -its largest |w| to +it
        bar = fig.colorbar(heat, ax=axes, orientation="horizontal", fraction=0.6 / height,
                           aspect=30, ticks=[-heat.norm.vmax, 0, heat.norm.vmax])
        bar.ax.set_xticklabels(["-max |w|\n(inhibits)", "0", "+max |w|\n(excites)"], fontsize=8)
    return fig

