"""Class activation maps: where in the image the evidence for a class comes from.

Every method here is one weight function over one shared pass. The pass (``feature_gradients``,
compiled and batched) gives the K feature maps A_k of a convolutional layer (by default the
last one), the gradients d f_c / d A and the logits; a method's weights alpha_k^c (N, 1, 1, K)
turn them into one heatmap per image and class, with the lecture's normalization
S = ReLU(sum_k alpha_k^c A_k) / S_max:

- ``cam``: alpha = the dense weights w_k^c of a global-average-pooling head (exact);
- ``grad_cam``: alpha_k^c = 1/|I x J| sum_ij d f_c / d A_ijk; ``counterfactual=True`` uses
  the negative gradients (what argues against the class);
- ``grad_cam_plus_plus``: pixel-weighted positive gradients, better for several instances;
- ``score_cam``: alpha = the class probability of the image masked by each upsampled map
  (one forward pass per channel, batched; no gradients);
- ``layer_cam``: element-wise weights ReLU(d f_c / d A_ijk): fine maps from early layers;
- ``hires_cam``: element-wise weights d f_c / d A_ijk, i.e. the map sum_k dA * A before the
  ReLU: what the layer's units add to the score to first order, with no averaging;
- ``guided_backprop`` (from ``helpers.guided``) and ``guided_grad_cam``: pixel-level
  gradients through ReLUs that pass only positive gradients, optionally masked by Grad-CAM.

The contract of every technique in ``helpers``: the model is a ``VisModel`` or a Keras model
(one ending in a softmax is explained through its logits, with a one-line notice); ``x`` is
one *preprocessed* image (H, W, C), giving one map (h, w), or a batch (N, H, W, C), giving a
batch; classes are names ('flamingo') or indices, one for all images or one per image. Models
that nest a pretrained base (transfer learning) work too: the layer is tapped inside it.

References:
    Zhou et al., "Learning Deep Features for Discriminative Localization" (CVPR 2016);
    Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
    Localization" (ICCV 2017); Chattopadhay et al., "Grad-CAM++: Generalized Gradient-based
    Visual Explanations for Deep Convolutional Networks" (WACV 2018); Wang et al.,
    "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks"
    (CVPR Workshops 2020); Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation
    Maps for Localization" (IEEE TIP 2021); Draelos & Carin, "Use HiResCAM instead of
    Grad-CAM for faithful explanations of convolutional neural networks" (arXiv 2020).
"""

from __future__ import annotations

import warnings

import numpy as np

from helpers._core import gradients as core_gradients
from helpers._core.graph import resolve_layer
from helpers._core.inputs import BATCH_SIZE, check_count, prepare
from helpers.cam_pass import class_probabilities, feature_gradients, feature_maps, feature_model
from helpers.cam_weights import (cam_head, cam_weights, grad_cam_plus_plus_weights,
                                 grad_cam_weights, hires_cam_weights, layer_cam_weights,
                                 score_cam_weights)
from helpers.guided import GuidedGate, guided_backprop, guided_model, pixel_map
from helpers.images import resize_maps

__all__ = [
    "BATCH_SIZE", "EMPTY_TOLERANCE", "METHODS", "EmptyHeatmapWarning", "GuidedGate",
    "all_heatmaps", "cam", "cam_head", "cam_weights", "class_probabilities",
    "feature_gradients", "feature_maps", "feature_model", "grad_cam", "grad_cam_plus_plus",
    "grad_cam_plus_plus_weights", "grad_cam_weights", "guided_backprop", "guided_grad_cam",
    "guided_model", "heatmaps", "hires_cam", "hires_cam_weights", "layer_cam",
    "layer_cam_weights", "normalize_maps", "peaks", "pixel_map", "score_cam",
    "score_cam_weights",
]

#: A map whose positive peak is below this fraction of its largest magnitude counts as empty.
EMPTY_TOLERANCE = 1e-6

#: Method names accepted by ``heatmaps``, in the order the notebook shows them.
METHODS = ("CAM", "Grad-CAM", "Grad-CAM++", "Score-CAM", "LayerCAM", "HiResCAM",
           "Guided backprop", "Guided Grad-CAM")


class EmptyHeatmapWarning(UserWarning):
    """A class has no positive evidence in an image: its heatmap is all zeros."""


def normalize_maps(raw, method: str = "heatmap", classes=None) -> np.ndarray:
    """The lecture's S = ReLU(raw) / S_max, per map, with empty maps made explicit.

    A map with no positive value (all evidence against the class) has S_max = 0: it becomes
    an all-zero map and an ``EmptyHeatmapWarning`` names the images, instead of 0 / 0 = NaN.

    Args:
        raw: weighted sums before the ReLU, one (h, w) or a batch (N, h, w).
        method: name used in the warning.
        classes: class per image, for the warning.

    Raises:
        ValueError: ``raw`` holds NaN or infinity (the model's output is broken).
    """
    raw = np.asarray(raw, dtype=np.float32)
    if raw.ndim == 2:
        return normalize_maps(raw[None], method, None if classes is None else [classes])[0]
    if not np.all(np.isfinite(raw)):
        raise ValueError(f"{method}: the model produced NaN or infinite values; check the "
                         "input and the model's weights.")
    positive = np.maximum(raw, 0.0)
    peak = positive.max(axis=(1, 2))
    scale = np.abs(raw).max(axis=(1, 2))
    empty = ~(peak > EMPTY_TOLERANCE * scale)  # also when the whole map is 0
    if empty.any():
        images = np.flatnonzero(empty).tolist()
        which = "" if classes is None else f" (class {np.asarray(classes)[empty].tolist()})"
        warnings.warn(
            f"{method}: no positive evidence for the class in image(s) {images}{which}; "
            "their heatmaps are all zeros. The counterfactual map shows what argues against "
            "the class.", EmptyHeatmapWarning, stacklevel=3)
    safe_peak = np.where(empty, 1.0, peak)[:, None, None]
    return np.where(empty[:, None, None], 0.0, positive / safe_peak).astype(np.float32)


# ---------------------------------------------------------------------------------------
# The methods


def cam(model, x, classes, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Class Activation Mapping: S = ReLU(sum_k w_k^c A_k) / S_max on the last feature maps.

    Exact for a global-average-pooling head: f_c = mean_ij(sum_k w_k^c A_ijk) + b_c, which
    is checked on every call.

    Returns:
        heatmaps in [0, 1] at the feature maps' resolution: (h, w) for one image, (N, h, w).

    Raises:
        ValueError: not a GAP + linear head (see ``cam_head``), or bad input.
    """
    return heatmaps(model, x, classes, "CAM", batch_size=batch_size)


def grad_cam(model, x, classes, layer: str | None = None, counterfactual: bool = False,
             batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Grad-CAM, compiled and batched: S = ReLU(sum_k alpha_k^c A_k) / S_max with
    alpha_k^c = 1/|I x J| sum_ij d f_c / d A_ijk.

    Args:
        model: a ``VisModel`` or a Keras model (a final softmax is explained via its logits).
        x: one preprocessed image (H, W, C) or a batch (N, H, W, C).
        classes: a class name or index for all images, or one per image.
        layer: a layer with spatial output; default: the last convolutional layer.
        counterfactual: weigh with the negative gradients: regions whose removal would
            raise the class score (what argues against the class).
        batch_size: images per compiled call.

    Returns:
        heatmaps in [0, 1] at the layer's resolution, (h, w) for one image or (N, h, w); an
        all-zero map (with an ``EmptyHeatmapWarning``) where nothing speaks for the class.
    """
    method = "Counterfactual" if counterfactual else "Grad-CAM"
    return heatmaps(model, x, classes, method, layer, batch_size=batch_size)


def grad_cam_plus_plus(model, x, classes, layer: str | None = None,
                       batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Grad-CAM++: channel weights sum_ij alpha_ijk ReLU(d f_c / d A_ijk), where alpha gives
    small, spread-out regions as much say as one large one. As ``grad_cam`` otherwise."""
    return heatmaps(model, x, classes, "Grad-CAM++", layer, batch_size=batch_size)


def score_cam(model, x, classes, layer: str | None = None, max_channels: int | None = None,
              batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Score-CAM: each channel's weight is the class probability of the image masked by
    that channel's upsampled, min-max normalized map (``score_cam_weights``); no gradients.
    One forward pass per channel and image, ``batch_size`` at a time.

    Args:
        max_channels: use only this many channels with the largest mean activation (the
            others get weight 0) to trade accuracy for speed on wide layers; default: all.
        Others as in ``grad_cam``.
    """
    return heatmaps(model, x, classes, "Score-CAM", layer, max_channels=max_channels,
                    batch_size=batch_size)


def layer_cam(model, x, classes, layer: str | None = None,
              batch_size: int = BATCH_SIZE) -> np.ndarray:
    """LayerCAM (Jiang et al. 2021): S = ReLU(sum_k ReLU(d f_c / d A_k) * A_k) / S_max, the
    product taken position by position. Each unit is weighed by its own positive gradient
    rather than by its channel's mean, so an early layer (``layer='block2_conv2'``) gives a
    fine map that still follows the class. As ``grad_cam`` otherwise; the map has the
    layer's resolution."""
    return heatmaps(model, x, classes, "LayerCAM", layer, batch_size=batch_size)


def hires_cam(model, x, classes, layer: str | None = None,
              batch_size: int = BATCH_SIZE) -> np.ndarray:
    """HiResCAM (Draelos & Carin 2020): S = ReLU(sum_k d f_c / d A_k * A_k) / S_max, the
    product taken position by position, before any ReLU. Unlike Grad-CAM's channel means,
    it never moves evidence from one position to another: summed over the map, it is the
    layer's first-order share of the score. Where the layer is followed only by global
    average pooling and a dense layer the gradient is the same at every position and
    HiResCAM equals Grad-CAM. As ``grad_cam`` otherwise."""
    return heatmaps(model, x, classes, "HiResCAM", layer, batch_size=batch_size)


def guided_grad_cam(model, x, classes, layer: str | None = None,
                    batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Guided Grad-CAM: guided backpropagation times the upsampled Grad-CAM heatmap.

    Returns:
        input-shaped maps, (H, W, C) for one image or (N, H, W, C): fine detail, but only
        where Grad-CAM points.
    """
    guided = guided_backprop(model, x, classes, batch_size)
    heat = grad_cam(model, x, classes, layer, batch_size=batch_size)
    return guided * resize_maps(heat, guided.shape[-3:-1])[..., None]


def all_heatmaps(model, x, classes, methods=METHODS, layer: str | None = None,
                 max_channels: int | None = None,
                 batch_size: int = BATCH_SIZE) -> dict[str, np.ndarray]:
    """Heatmaps in [0, 1] of several methods, sharing their work: one compiled pass gives
    A and d f_c / d A for every CAM-style method, one guided pass serves both guided ones.

    Args:
        methods: names from ``METHODS``, plus "Counterfactual" (Grad-CAM of the negative
            gradients).
        layer: the layer for the CAM-style methods; CAM always uses the last feature maps.
        max_channels: Score-CAM's channel limit (see ``score_cam``).
        Others as in ``grad_cam``.

    Returns:
        method name -> maps, one map per image: (h, w) at the layer's resolution for the
        CAM-style methods, (H, W) pixel maps (``pixel_map``) for the guided ones; with a
        leading batch axis for a batch.

    Raises:
        ValueError: unknown method (the valid names are listed), or bad input.
    """
    call = prepare(model, x, classes)
    batch_size = check_count("batch_size", batch_size)
    if max_channels is not None:
        max_channels = check_count("max_channels", max_channels)
    methods = [methods] if isinstance(methods, str) else list(methods)
    unknown = [m for m in methods if m not in (*METHODS, "Counterfactual")]
    if unknown:
        raise ValueError(f"Unknown method {unknown[0]!r}. Choose one of: "
                         f"{', '.join(METHODS)}, Counterfactual.")
    name = resolve_layer(call.net, layer).name
    if "CAM" in methods and name != resolve_layer(call.net, None).name:
        raise ValueError("CAM is defined on the last feature maps only; drop `layer` or use "
                         "Grad-CAM for other layers.")
    maps = {}
    if set(methods) - {"Guided backprop"}:
        maps = _cam_maps(call, name, methods, max_channels, batch_size)
    if {"Guided backprop", "Guided Grad-CAM"} & set(methods):
        guided = guided_backprop(call.net, call.x, call.classes, batch_size)
        maps["Guided backprop"] = pixel_map(guided)
        if "Guided Grad-CAM" in methods:
            mask = resize_maps(maps["Grad-CAM"], call.x.shape[1:3])[..., None]
            maps["Guided Grad-CAM"] = pixel_map(guided * mask)
    return call.output({m: maps[m] for m in methods})


def _cam_maps(call, layer, methods, max_channels, batch_size) -> dict[str, np.ndarray]:
    """The CAM-style maps among ``methods`` (and Grad-CAM, Guided Grad-CAM's mask), each a
    weight function over one shared pass: per-channel weights (N, 1, 1, K) or per-unit
    weights (N, h, w, K) times A, summed over the channels."""
    net, x, classes = call.net, call.x, call.classes
    features, grads, logits = core_gradients.feature_gradients(net, x, classes, layer,
                                                               batch_size)
    weights = {
        "CAM": lambda: cam_weights(net, features, logits, classes),
        "Grad-CAM": lambda: grad_cam_weights(grads),
        "Counterfactual": lambda: grad_cam_weights(-grads),
        "Grad-CAM++": lambda: grad_cam_plus_plus_weights(features, grads),
        "Score-CAM": lambda: score_cam_weights(net, x, features, classes, max_channels,
                                               batch_size),
        "LayerCAM": lambda: layer_cam_weights(grads),
        "HiResCAM": lambda: hires_cam_weights(grads),
    }
    wanted = set(methods) | ({"Grad-CAM"} if "Guided Grad-CAM" in methods else set())
    return {m: normalize_maps((weights[m]() * features).sum(axis=-1), m, classes)
            for m in weights if m in wanted}


def heatmaps(model, x, classes, method: str = "Grad-CAM", layer: str | None = None,
             **options) -> np.ndarray:
    """Heatmaps in [0, 1] of one method by name (see ``all_heatmaps``)."""
    return all_heatmaps(model, x, classes, [method], layer, **options)[method]


def peaks(maps) -> np.ndarray:
    """Row and column of a map's maximum (the first one on ties): (2,) for one map (h, w),
    (N, 2) for a batch (N, h, w)."""
    maps = np.asarray(maps)
    flat = maps.reshape(*maps.shape[:-2], -1).argmax(axis=-1)
    return np.stack(np.unravel_index(flat, maps.shape[-2:]), axis=-1)
