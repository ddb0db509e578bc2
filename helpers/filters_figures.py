"""Figures of notebook 02 that put a unit's pictures side by side: its optimized image beside
its dataset examples (the top patches of real images), and its diverse images between the two;
and pairs of first-layer kernels drawn as signed weight maps, one per colour.

Olah, Mordvintsev & Schubert ("Feature Visualization", Distill 2017) show the two together:
the optimized image says what the unit *could* respond to, the dataset examples what it meets
in data; several diverse images show whether it responds to one thing or to several.
"""

from __future__ import annotations

import numpy as np


def _blank(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def show_beside(optimized, examples, labels=None, fmt: str | None = "{activation:.1f}",
                size: float = 1.15, title: str | None = None):
    """One row per unit: its optimized image, then its dataset examples, strongest first.

    Args:
        optimized: (U, h, w, 3) images, one per unit (e.g. ``maximize_filters(...).images``).
        examples: U ``DatasetExamples`` (``dataset_examples`` with a list of units), in the
            same order; every one with the same number of patches.
        labels: one label per row, written left of it (default "channel k").
        fmt: caption of each patch (see ``DatasetExamples.titles``); None for none.
        size: inches per panel.
        title: a title over the figure.

    Returns:
        the figure.
    """
    import matplotlib.pyplot as plt

    examples = list(examples)
    if len(optimized) != len(examples) or not examples:
        raise ValueError(f"Give one optimized image per unit: got {len(optimized)} images for "
                         f"{len(examples)} units' examples.")
    k = max(len(e) for e in examples)
    labels = labels or [f"channel {e.unit}" for e in examples]
    fig = plt.figure(figsize=(size * (k + 1.3), (size + (0.3 if fmt else 0.1)) * len(examples)
                              + 0.5), layout="constrained")
    grid = fig.add_gridspec(len(examples), k + 2, width_ratios=[1.0, 0.08] + [1.0] * k)
    for row, (image, found, label) in enumerate(zip(optimized, examples, labels)):
        ax = fig.add_subplot(grid[row, 0])
        ax.imshow(image)
        _blank(ax)
        ax.set_ylabel(label, fontsize=9, rotation=0, ha="right", va="center")
        if row == 0:
            ax.set_title("optimized", fontsize=9, fontweight="bold")
        captions = found.titles(fmt) if fmt else [""] * len(found)
        for col, (patch, caption) in enumerate(zip(found.patches, captions)):
            ax = fig.add_subplot(grid[row, col + 2])
            ax.imshow(patch, interpolation="nearest")
            _blank(ax)
            ax.set_title(caption, fontsize=7, pad=2)
    fig.suptitle(title or f"{examples[0].layer}: the optimized image beside the top {k} "
                 f"patches of {examples[0].num_images} images", fontsize=10)
    return fig


def show_diversity(optimized, diverse, examples, captions=None, size: float = 1.3,
                   title: str | None = None):
    """One unit, three views side by side: its optimized image, its diverse images (a square
    grid) and its dataset examples (a square grid, strongest first).

    Args:
        optimized: (h, w, 3) one optimized image of the unit.
        diverse: (n, h, w, 3) the unit's diverse images (``ascent.maximize_diverse``).
        examples: the unit's ``DatasetExamples``.
        captions: one caption per diverse image (e.g. its activation), or None.
        size: inches per panel of the grids.
        title: a title over the figure.

    Returns:
        the figure.
    """
    import matplotlib.pyplot as plt

    diverse = np.asarray(diverse)
    if captions is not None and len(captions) != len(diverse):
        raise ValueError(f"Got {len(captions)} captions for {len(diverse)} diverse images.")
    side_d = int(np.ceil(np.sqrt(len(diverse))))
    side_e = int(np.ceil(np.sqrt(max(len(examples), 1))))
    rows = max(side_d, side_e)
    # both grids square and as tall as the figure; the optimized image as large as one of
    # the diverse images
    widths = [rows / side_d, rows, rows]
    fig = plt.figure(figsize=(size * (sum(widths) + 0.4), size * rows + 0.9),
                     layout="constrained")
    parts = fig.subfigures(1, 3, width_ratios=widths, wspace=0.03)
    ax = parts[0].subplots()
    ax.imshow(optimized)
    _blank(ax)
    parts[0].suptitle("optimized\n(one image)", fontsize=9, fontweight="bold")
    for part, images, heading, side, texts in (
            (parts[1], diverse, f"{len(diverse)} diverse images", side_d, captions),
            (parts[2], examples.patches, f"top {len(examples)} dataset patches", side_e,
             None)):
        axes = part.subplots(side, side, squeeze=False)
        for i, ax in enumerate(axes.flat):
            _blank(ax)
            if i < len(images):
                ax.imshow(images[i], interpolation="nearest")
                if texts is not None:
                    ax.set_title(texts[i], fontsize=7, pad=2)
        part.suptitle(heading, fontsize=9, fontweight="bold")
    fig.suptitle(title or f"{examples.layer}, channel {examples.unit}", fontsize=10)
    return fig


def show_kernel_pairs(kernels, pairs, measure: str = "cos", size: float = 0.7,
                      title: str | None = None):
    """Pairs of first-layer kernels, each drawn as its three colour planes in a signed map.

    An RGB drawing of a 3x3x3 kernel mixes sign and colour into one patch that is hard to read;
    here every kernel w (k, k, 3) is one row of three k x k heat maps (its weights on R, G and B),
    divided by the kernel's own largest |weight|, so every panel shares one fixed scale, -1
    (blue: more of that colour there *lowers* the filter's output) to +1 (red: raises it).
    The cosine cos(w_m, w_n) = w_m . w_n / (|w_m| |w_n|) ignores each kernel's scale too, so
    equal colours here mean a cosine near +1 and swapped colours one near -1.

    Args:
        kernels: (filters, k, k, 3) RGB kernels (``filters.rgb_kernels``), raw weights.
        pairs: (m, n, similarity) triples, as from ``filters.most_similar_pairs``.
        measure: the similarity's name in each pair's title.
        size: inches per k x k panel.
        title: a title over the figure.

    Returns:
        the figure.
    """
    import matplotlib.pyplot as plt

    kernels = np.asarray(kernels, dtype=np.float64)
    pairs = list(pairs)
    if kernels.ndim != 4 or kernels.shape[-1] != 3:
        raise ValueError(f"Expected RGB kernels (filters, k, k, 3); got shape {kernels.shape}. "
                         "Get them with filters.rgb_kernels(model).")
    if not pairs:
        raise ValueError("No pairs to show; filters.most_similar_pairs(similarity, k=...) "
                         "gives some.")
    fig = plt.figure(figsize=(size * 3.6 * len(pairs) + 1.1, size * 2 + 1.1),
                     layout="constrained")
    parts = np.atleast_1d(fig.subfigures(1, len(pairs) + 1, wspace=0.04,
                                         width_ratios=[1.0] * len(pairs) + [0.3]))
    image = None
    for part, (m, n, value) in zip(parts, pairs):
        part.set_facecolor("#f2f2f2")
        axes = part.subplots(2, 3)
        for row, k in enumerate((m, n)):
            peak = np.abs(kernels[k]).max()
            scaled = kernels[k] / peak if peak > 0 else kernels[k]
            for col, colour in enumerate("RGB"):
                ax = axes[row, col]
                image = ax.imshow(scaled[..., col], cmap="RdBu_r", vmin=-1, vmax=1,
                                  interpolation="nearest")
                ax.set_xticks([]), ax.set_yticks([])
                if row == 0:
                    ax.set_title(colour, fontsize=8, pad=2)
            axes[row, 0].set_ylabel(f"{k}\n(max {peak:.2g})", fontsize=7)
        part.suptitle(f"{m} and {n}: {measure} {value:+.2f}", fontsize=9)
    bar = parts[-1].colorbar(image, ax=parts[-1].subplots(), fraction=1.0, ticks=[-1, 0, 1])
    parts[-1].axes[0].remove()
    bar.set_label("weight / the kernel's max |weight|", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    fig.suptitle(title or "kernel pairs: each row one kernel's weights on R, G and B "
                 "(red raises the output, blue lowers it)", fontsize=10)
    return fig
