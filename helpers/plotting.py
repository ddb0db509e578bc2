"""Figures: grids of images or channels with titles, and heatmaps over photos."""

from __future__ import annotations

import contextlib
import math
import threading

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from helpers.images import resize_maps

#: Colormap of activation maps everywhere in the series (grids, explorer, notebooks), so a
#: channel looks the same wherever it is shown.
ACTIVATION_CMAP = "viridis"


def grid_shape(n: int, ncols: int | None = None) -> tuple[int, int]:
    """(rows, cols) of a grid holding ``n`` panels; near-square unless ``ncols`` is given."""
    if n <= 0:
        raise ValueError(f"A grid needs at least one panel, got {n}.")
    cols = min(n, ncols) if ncols else math.ceil(math.sqrt(n))
    if cols <= 0:
        raise ValueError(f"ncols must be positive, got {ncols}.")
    return math.ceil(n / cols), cols


_OFFSCREEN = threading.local()


@contextlib.contextmanager
def offscreen():
    """Inside this block, on this thread, ``new_figure`` makes figures outside pyplot.

    An explorer's callback runs on another kernel thread in JupyterLab; a figure registered
    with pyplot there can be picked up half drawn by the inline backend's end-of-cell hook.
    ``widgets.Panel`` draws inside this block, so the same figure functions serve a notebook
    cell (pyplot shows the figure) and an explorer (the panel renders it itself).
    """
    _OFFSCREEN.on = True
    try:
        yield
    finally:
        _OFFSCREEN.on = False


def new_figure(**kwargs):
    """``plt.figure(**kwargs)``, or a ``matplotlib.figure.Figure`` unknown to pyplot inside
    ``offscreen()``."""
    if getattr(_OFFSCREEN, "on", False):
        return Figure(**kwargs)
    return plt.figure(**kwargs)


def show_images(images, titles=None, ncols=None, size=2.2, cmap=None, suptitle=None,
                vmin=None, vmax=None, frame=False):
    """Show images in a grid with optional titles; returns the figure.

    Args:
        images: a sequence (or array) of images: (H, W), (H, W, 1) or (H, W, 3).
        titles: one string per image, or None.
        ncols: columns of the grid (default: near-square).
        size: inches per panel.
        cmap: colormap for single-channel images.
        suptitle: title over the whole figure.
        vmin, vmax: shared colour scale for single-channel images (default: per image).
        frame: a thin grey frame (no ticks) around each image, for images whose white parts
            would otherwise merge with the page (an edge's bright half, a white background).
    """
    images = list(images)
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"Got {len(titles)} titles for {len(images)} images.")
    rows, cols = grid_shape(len(images), ncols)
    # constrained layout keeps each title clear of the panel above it, even with a suptitle
    fig = new_figure(figsize=(size * cols, size * rows + (0.4 if suptitle else 0)),
                     layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(images):
            continue
        if frame:
            _frame(ax)
        image = np.asarray(images[i])
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        ax.imshow(image, cmap=cmap if image.ndim == 2 else None, vmin=vmin, vmax=vmax)
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def _frame(ax, color="0.55", linewidth=0.8):
    ax.axis("on")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color(color)
        spine.set_linewidth(linewidth)


def normalize_channels(maps: np.ndarray) -> np.ndarray:
    """Scale each channel of (H, W, C) maps to [0, 1] by its own maximum.

    Activations after ReLU are >= 0, so 0 stays "silent" (black) in every panel and the
    brightest pixel of each channel is 1; an all-zero channel stays black.
    """
    maps = np.asarray(maps, dtype=np.float32)
    peak = maps.max(axis=(0, 1), keepdims=True)
    return np.where(peak > 0, np.maximum(maps, 0) / np.where(peak > 0, peak, 1), 0.0)


def one_image_maps(maps) -> np.ndarray:
    """One image's activations (H, W, C), from (H, W, C) or a batch of one (1, H, W, C).

    Raises:
        ValueError: any other shape (a batch of several names the fix).
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(f"Expected one image's activations (H, W, C) or (1, H, W, C); got "
                         f"shape {maps.shape}. For a batch, pass one image: acts[layer][0].")
    return maps


def check_channels(channels, num_channels: int) -> list[int]:
    """The channel indices as a list, checked against the layer's channel count.

    Raises:
        ValueError: an index is out of range (the valid range is given) or the list is empty.
    """
    channels = [int(c) for c in np.atleast_1d(channels)]
    bad = [c for c in channels if not 0 <= c < num_channels]
    if bad:
        raise ValueError(f"Channel(s) {bad} out of range: this layer has {num_channels} "
                         f"channels (0 to {num_channels - 1}).")
    if not channels:
        raise ValueError("Give at least one channel.")
    return channels


def show_channels(maps, channels=None, ncols=8, size=1.3, cmap=ACTIVATION_CMAP, title=None):
    """Show the channels of one activation tensor (H, W, C) or (1, H, W, C) as a grid.

    Each channel is scaled by its own maximum (see ``normalize_channels``) so weak and
    strong channels are both visible; the title of each panel is its channel index.
    """
    maps = one_image_maps(maps)
    channels = check_channels(range(maps.shape[-1]) if channels is None else channels,
                              maps.shape[-1])
    scaled = normalize_channels(maps[..., channels])
    return show_images([scaled[..., i] for i in range(len(channels))],
                       titles=[str(c) for c in channels], ncols=ncols, size=size, cmap=cmap,
                       suptitle=title, vmin=0, vmax=1)


def overlay(image, heatmap, alpha=0.45, cmap="jet") -> np.ndarray:
    """Blend a heatmap (any 2-D size, values in [0, 1]) over an RGB uint8 image.

    Returns:
        float RGB image in [0, 1] with the image's height and width.
    """
    image, heatmap = np.asarray(image), np.asarray(heatmap)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha is an opacity in [0, 1]; got {alpha}.")
    if heatmap.ndim != 2:  # a batch of maps would resize fine but cannot be blended
        raise ValueError(f"A heatmap must be 2-D (H, W); got shape {heatmap.shape}.")
    heat = np.clip(resize_maps(heatmap, image.shape[:2]), 0.0, 1.0)
    colored = colormaps[cmap](heat)[..., :3]
    return (1 - alpha) * image[..., :3] / 255.0 + alpha * colored


def show_heatmap(image, heatmap, title=None, alpha=0.45, cmap="jet", ax=None):
    """Draw ``overlay(image, heatmap)`` on ``ax`` (or a new figure); returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(3.5, 3.5))
    ax.imshow(overlay(image, heatmap, alpha=alpha, cmap=cmap))
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return ax
