"""Measures and figures for saliency maps: scale a map for display, measure how much of it
falls on an object, and draw maps beside the photo.

- ``normalize_map``: a map scaled to [0, 1], clipped at a percentile;
- ``mask_share``: sum of the map inside an object's mask / sum of the whole map;
- ``grow_mask``: the mask dilated by a disk, so that an outline counts as on the object;
- ``show_maps``, ``show_mask_shares``, ``show_share_bars``: the figures of notebook 03
  (``in_grey``: the photo under a map, in grey so that its colours do not compete with the
  colour map).

Importable from ``helpers.saliency`` too.
"""

from __future__ import annotations

import numpy as np


def normalize_map(saliency: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """Scale a map to [0, 1] for display, clipping at its ``percentile``.

    Gradient maps are spiky: a few pixels would take the whole colour range, so the top 1 %
    are clipped to the brightest colour. An all-zero map stays zero.
    """
    saliency = np.asarray(saliency, dtype=np.float32)
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}.")
    top = np.percentile(saliency, percentile)
    if not top > 0:
        top = saliency.max()
    return np.clip(saliency / top, 0.0, 1.0) if top > 0 else np.zeros_like(saliency)


def mask_share(saliency, mask) -> np.ndarray | float:
    """Share of a map's mass that falls inside an object's mask.

    A map that knows where the object is scores near 1; a map spread evenly over the image
    scores the mask's area share (``mask.mean()``), which is the number to compare with.

    Args:
        saliency: non-negative (H, W) map or (N, H, W) maps.
        mask: bool (H, W) or (N, H, W), the object's pixels.

    Returns:
        a float in [0, 1], or (N,) for a batch; NaN for an all-zero map (no mass to share).

    Raises:
        ValueError: shapes differ or the map has negative values.
    """
    saliency = np.asarray(saliency, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if saliency.shape != mask.shape:
        raise ValueError(f"The map {saliency.shape} and the mask {mask.shape} must have the same "
                         "shape; upsample the map to the image size first.")
    if saliency.min(initial=0.0) < 0:
        raise ValueError("mask_share needs a non-negative map (mass); take np.abs(map) first.")
    mass = saliency.sum(axis=(-2, -1))
    inside = (saliency * mask).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(mass > 0, inside / np.where(mass > 0, mass, 1.0), np.nan)
    return float(share) if share.ndim == 0 else share


def grow_mask(mask, pixels: int) -> np.ndarray:
    """The mask grown by ``pixels`` in every direction (a disk-shaped dilation).

    Gradient maps often light up an object's outline, half of which lies just outside its
    mask; ``mask_share(map, grow_mask(mask, 3))`` counts the outline as on the object.

    Args:
        mask: bool (H, W) or (N, H, W).
        pixels: how far to grow, >= 0.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim < 2 or int(pixels) != pixels or pixels < 0:
        raise ValueError(f"grow_mask needs a (H, W) or (N, H, W) mask and pixels >= 0; got "
                         f"shape {mask.shape} and pixels={pixels}.")
    r = int(pixels)
    height, width = mask.shape[-2:]
    padded = np.pad(mask, [(0, 0)] * (mask.ndim - 2) + [(r, r), (r, r)])
    grown = np.zeros_like(mask)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dy * dy + dx * dx <= r * r:
                grown |= padded[..., r + dy:r + dy + height, r + dx:r + dx + width]
    return grown


# ---------------------------------------------------------------------------- figures


def in_grey(image) -> np.ndarray:
    """A uint8 RGB image turned grey, still with three channels."""
    grey = np.asarray(image, dtype=np.float32).mean(axis=-1, keepdims=True)
    return np.repeat(grey, 3, axis=-1).round().astype(np.uint8)


def show_mask_shares(images, masks, maps: dict, labels=None, size: float = 1.8,
                     cmap: str = "inferno"):
    """One row per scene: the image, then each method's map with the object's outline (white)
    and the share of the map inside it.

    Args:
        images: uint8 RGB scenes (N, H, W, 3).
        masks: bool object masks (N, H, W).
        maps: method name -> (N, H, W) maps of those scenes.
        labels: a title for each scene (e.g. its class).

    Returns:
        the figure.
    """
    import matplotlib.pyplot as plt

    rows, cols = len(images), len(maps) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, (size + 0.3) * rows),
                             squeeze=False)
    for i in range(rows):
        axes[i, 0].imshow(images[i])
        axes[i, 0].contour(masks[i], levels=[0.5], colors="white", linewidths=0.8)
        if labels is not None:
            axes[i, 0].set_title(labels[i], fontsize=8)
        for col, (name, saliency) in enumerate(maps.items(), start=1):
            axes[i, col].imshow(normalize_map(saliency[i]), cmap=cmap, vmin=0, vmax=1)
            axes[i, col].contour(masks[i], levels=[0.5], colors="white", linewidths=0.6)
            share = mask_share(saliency[i], masks[i])
            axes[i, col].set_title(f"{name}\n{share:.0%} inside" if i == 0 else
                                   f"{share:.0%} inside", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def show_maps(image, maps: dict, title: str | None = None, size: float = 2.4,
              cmap: str = "inferno"):
    """The photo and each named map side by side: the maps alone above, over the photo below.

    Each map is scaled by ``normalize_map`` (its 99th percentile is the brightest colour).

    Args:
        image: the uint8 RGB photo (H, W, 3).
        maps: label -> (H, W) non-negative map, drawn in order.
        title: a title over the figure.
        size: inches per panel.
        cmap: the colour map (dark: no influence, bright: strong influence).

    Returns:
        the figure.
    """
    import matplotlib.pyplot as plt

    from helpers.plotting import show_heatmap

    if not maps:
        raise ValueError("Give at least one map: {'vanilla': map, ...}.")
    cols = len(maps) + 1
    height = 2 * size + 0.3 + (0.35 if title else 0)
    fig, axes = plt.subplots(2, cols, figsize=(size * cols, height))
    grey = in_grey(image)  # colour would compete with the colour map
    axes[0, 0].imshow(image)
    axes[0, 0].set_title("photo", fontsize=9)
    axes[1, 0].imshow(grey)
    axes[1, 0].set_title("in grey", fontsize=9)
    for col, (label, saliency) in enumerate(maps.items(), start=1):
        shown = normalize_map(saliency)
        axes[0, col].imshow(shown, cmap=cmap, vmin=0, vmax=1)
        axes[0, col].set_title(label, fontsize=9)
        show_heatmap(grey, shown, alpha=0.6, cmap=cmap, ax=axes[1, col])
    for ax in axes.flat:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_share_bars(panels: dict, references=(), title: str | None = None):
    """How much of each method's map falls on the object: one panel per measure, one bar per
    method (its mean over scenes), a dot per scene, and the share a uniform map would get
    (dashed: the region's mean area).

    Args:
        panels: x-axis label -> (method -> (N,) shares, (N,) the region's area share per
            scene), e.g. {"share of the map inside the object's mask": (shares, area)}.
        references: names of methods that are references (no model, or an untrained one),
            drawn grey.
        title: a title over the figure.

    Returns:
        the figure.
    """
    import matplotlib.pyplot as plt

    if not panels:
        raise ValueError("Give at least one panel: {label: (shares, area)}.")
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.2), sharey=True,
                             squeeze=False)
    for ax, (label, (shares, area)) in zip(axes[0], panels.items()):
        names = list(shares)[::-1]  # the first method on top
        ax.barh(names, [np.nanmean(shares[n]) for n in names],
                color=["#8a8f98" if n in references else "#00798c" for n in names])
        for i, n in enumerate(names):
            jitter = np.random.default_rng(i).uniform(-0.25, 0.25, len(shares[n]))
            ax.plot(shares[n], i + jitter, ".", color="black", alpha=0.25, ms=3)
        ax.axvline(np.mean(area), color="#d1495b", ls="--", label="a uniform map")
        ax.set_xlim(0, 1)
        ax.set_xlabel(label)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0, -1].legend(frameon=False, loc="lower right", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
