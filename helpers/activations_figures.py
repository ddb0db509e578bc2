"""Notebook 01's choices and figures: channels that fire on the object, and sparsity by depth.

- ``object_mask``: where the object is: the lab's known mask, or in a photo the region the
  network uses for its top class (Grad-CAM at half its peak or more);
- ``object_correlation`` and ``object_channels``: how well a channel's map matches the object,
  so that a figure shows channels that respond to the object and not index 0, which may
  light up the background;
- ``show_maps_on_image``: the photo with the object's outline, then one activation map per
  panel with the same outline;
- ``sparsity_layers``, ``halvings`` and ``plot_sparsity``: the layers to measure sparsity at
  (rectified maps and the max-pools between them), where the maps halve, and the zeros of
  activations and of whole channels on one axis.

References:
    Chollet, "Deep Learning with Python", section 5.4.1 (2017); Selvaraju et al., "Grad-CAM:
    Visual Explanations from Deep Networks via Gradient-based Localization" (ICCV 2017).
"""

from __future__ import annotations

import functools

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import PercentFormatter

from helpers import cam, shapes
from helpers._core.graph import POOL_TYPES, all_layers, feature_layers, require_spatial
from helpers._core.model import keras_model
from helpers.images import resize_maps
from helpers.plotting import ACTIVATION_CMAP, one_image_maps

__all__ = ["halvings", "object_channels", "object_correlation", "object_mask", "plot_sparsity",
           "show_maps_on_image", "sparsity_layers"]


def object_mask(vm, image, threshold: float = 0.5) -> np.ndarray:
    """Where the object is in ``image``: its known mask for a sample scene of the lab model,
    else the region the model uses for its top class.

    For the lab (``vm.name == 'shapes'``) the sample scenes are drawn with their masks, so the
    answer is exact. Otherwise: the Grad-CAM map of the top class, S = ReLU(sum_k alpha_k A_k)
    / max (Selvaraju et al. 2017, at ``vm.last_conv_layer()``), upsampled to (H, W), where
    S >= ``threshold``; a class with no positive evidence makes every pixel the object.

    Args:
        vm: a ``VisModel``.
        image: one uint8 RGB image (H, W, 3), e.g. ``vm.load(name)``.
        threshold: share of the Grad-CAM peak, in (0, 1].

    Returns:
        bool (H, W).
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold is a share of the Grad-CAM peak in (0, 1]; got {threshold}.")
    image = np.asarray(image)
    if vm.name == "shapes":
        known = [mask for scene, mask in _lab_samples() if np.array_equal(scene, image)]
        if known:
            return known[0]
    top = vm.top_k(image, k=1)[0][0]
    heat = resize_maps(cam.grad_cam(vm, vm.preprocess(image), top), image.shape[:2])
    return heat >= threshold * heat.max()


@functools.cache
def _lab_samples() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """(image, object mask) of each sample of the lab model (``shapes.sample_scenes``)."""
    return tuple(shapes.sample_scenes().values())


def object_correlation(maps, mask) -> np.ndarray:
    """How well each channel's map matches the object: their correlation, in [-1, 1].

    r_k = sum_ij (A_kij - mean A_k)(M_ij - mean M) / sqrt(sum (A_k - mean A_k)^2 sum (M - mean M)^2),
    Pearson's correlation over the map's units between channel k and the object mask M,
    resized to the map (a unit counts by the share of its cell on the object). Near 1: the
    channel fires on the object and nowhere else; near 0: its map does not follow the object
    (a texture all over, a speckle); below 0: it fires around the object. 0 for a silent
    channel, or for a mask that covers all of the map or none of it.

    Args:
        maps: activations (h, w, C) or (1, h, w, C) of one image.
        mask: bool or [0, 1] (H, W), e.g. from ``object_mask``.

    Returns:
        float (C,).
    """
    maps = one_image_maps(maps)
    mask = np.asarray(mask, dtype=np.float32)
    if mask.ndim != 2:
        raise ValueError(f"mask must be one (H, W) map; got shape {mask.shape}.")
    on = np.clip(resize_maps(mask, maps.shape[:2]), 0.0, 1.0).ravel()
    units = maps.reshape(-1, maps.shape[-1]).astype(np.float64)
    units -= units.mean(axis=0)
    on = on - on.mean()
    norm = np.sqrt((units ** 2).sum(axis=0) * (on ** 2).sum())
    return np.where(norm > 1e-12, (units * on[:, None]).sum(axis=0) / np.maximum(norm, 1e-12),
                    0.0)


def object_channels(maps, mask, count: int = 1, among=None) -> list[int]:
    """The ``count`` channels whose maps match the object best (``object_correlation``),
    best first.

    Args:
        maps, mask: as for ``object_correlation``.
        count: how many channels.
        among: channel indices to choose from (default: all).
    """
    match = object_correlation(maps, mask)
    among = np.arange(len(match)) if among is None else np.asarray(among, dtype=int)
    if len(among) == 0:
        raise ValueError("No channels to choose from: `among` is empty.")
    return [int(c) for c in among[np.argsort(-match[among], kind="stable")][:count]]


def show_maps_on_image(image, maps: dict, mask=None, title: str | None = None,
                       size: float = 2.5):
    """The image, then one activation map per panel, each stretched to the image's size.

    Each map is drawn from 0 (dark, the ReLU silenced it) to its 99.5th percentile (yellow),
    so that a few strong units at the zero-padded border do not wash out the rest; the
    object's outline (``mask``) is drawn in white on the image and on every map, so one can
    see whether a channel fires on the object or around it.

    Args:
        image: uint8 RGB (H, W, 3).
        maps: {panel title: 2-D activation map}.
        mask: optional bool (H, W) object mask.
        title: the image panel's title.
        size: inches per panel.

    Returns:
        The figure.
    """
    image = np.asarray(image)
    if not maps:
        raise ValueError("Give at least one map to show.")
    height, width = image.shape[:2]
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)
    fig, axes = plt.subplots(1, len(maps) + 1, figsize=(size * (len(maps) + 1), size + 0.5))
    axes[0].imshow(image)
    axes[0].set_title(title or "image", fontsize=9)
    for ax, (name, heat) in zip(axes[1:], maps.items()):
        heat = np.asarray(heat, dtype=np.float32)
        if heat.ndim != 2:
            raise ValueError(f"Map {name!r} must be 2-D (h, w); got shape {heat.shape}.")
        top = max(float(np.percentile(heat, 99.5)), 1e-9)
        ax.imshow(heat, cmap=ACTIVATION_CMAP, vmin=0, vmax=top,
                  extent=extent, interpolation="nearest")
        ax.set_title(name, fontsize=9)
    for ax in axes:
        if mask is not None:
            ax.contour(np.asarray(mask, dtype=float), levels=[0.5], colors="white",
                       linewidths=1.2)
        ax.set_xlim(extent[:2])
        ax.set_ylim(extent[2:])
        ax.axis("off")
    fig.tight_layout()
    return fig


def sparsity_layers(model) -> list[str]:
    """The rectified feature maps (``feature_layers``) and the pooling layers between them,
    input to output: every map the ReLUs' zeros pass through."""
    net = keras_model(model)
    rectified = set(feature_layers(net))
    names = [layer.name for layer in all_layers(net)
             if layer.name in rectified or isinstance(layer, POOL_TYPES)]
    if not names:
        raise ValueError(f"Model {net.name!r} has no rectified convolutional layer to measure.")
    return names


def halvings(model, layers) -> list[str]:
    """The layers of ``layers`` (input to output) whose map is smaller than the one before:
    a pooling layer or a strided convolution. The first layer is compared with nothing."""
    net = keras_model(model)
    sizes = [tuple(require_spatial(net, name).output.shape[1:3]) for name in layers]
    return [name for name, before, after in zip(layers[1:], sizes, sizes[1:])
            if after[0] * after[1] < before[0] * before[1]]


def plot_sparsity(stats, marks=(), title: str | None = None):
    """Zeros by depth on one axis: of activations, and of whole channels.

    Three shares per layer, input to output: activations that are 0 (batch mean, with the
    10th-90th percentile of images shaded); channels that are 0 everywhere on an image
    ('blank', same); channels that are 0 on every image of the batch ('dead', dashed).
    On one axis, a layer whose units are mostly 0 but whose channels are almost never
    entirely 0 reads at once: sparse, but not blank.

    Args:
        stats: ``sparsity.distillation_stats`` over a batch.
        marks: layer names to mark with a grey vertical line (e.g. ``halvings``).
        title: the figure's title (default: says how many images).

    Returns:
        The figure.
    """
    depth = np.arange(len(stats.layers))
    fig, ax = plt.subplots(figsize=(max(6.5, 0.3 * len(depth) + 3), 4.3))
    for values, color, label in ((stats.zero_fraction, "#d1495b", "activations that are 0"),
                                 (stats.dead_channel_fraction, "#00798c",
                                  "channels 0 everywhere on an image (blank)")):
        low, high = np.percentile(values, [10, 90], axis=1)
        ax.fill_between(depth, low, high, color=color, alpha=0.22, lw=0)
        ax.plot(depth, values.mean(axis=1), "o-", color=color, ms=4, lw=2, label=label)
    ax.plot(depth, stats.never_active_fraction, "x--", color="0.2", lw=1.2, ms=5,
            label="channels 0 on every image (dead)")
    for name in marks:
        ax.axvline(stats.layers.index(name), color="0.75", lw=1, zorder=0)
    ax.set_ylim(-0.02, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    suffix = "_relu" if all(name.endswith("_relu") for name in stats.layers) else ""
    ax.set_xticks(depth, [name[:len(name) - len(suffix)] for name in stats.layers], rotation=90,
                  fontsize=7 if len(depth) > 12 else 8)
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, loc="upper left", frameon=False)
    note = f"; layer names without '{suffix}'" if suffix else ""
    ax.set_title(title or f"Zeros layer by layer, input → output, over {stats.num_images} images"
                          f"\n(shaded: 10th-90th percentile of images; grey lines: the maps "
                          f"halve{note})", fontsize=10)
    fig.tight_layout()
    return fig
