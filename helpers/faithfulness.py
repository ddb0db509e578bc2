"""How far a heatmap can be trusted, measured rather than asserted.

- ``pointing_game``: does the map's peak lie on the object of the asked class? Checked on
  the synthetic two-object scenes, whose object masks are known.
- ``deletion_curve``: how fast the class probability falls when the patches a map calls most
  important are removed first, against removing them in random order; ``insertion_curve``:
  how fast it comes back when they are put back first into a blurred image (both from
  ``helpers.patch_curves``).
- ``cascading_randomization``: the model-randomization sanity check. Layers are re-initialized
  from the top down; a map that explains *this* model must change with it.

References:
    Zhang et al., "Top-down Neural Attention by Excitation Backprop" (ECCV 2016) for the
    pointing game; Petsiuk et al., "RISE: Randomized Input Sampling for Explanation of
    Black-box Models" (BMVC 2018) for the deletion and insertion metrics, and Samek et al.,
    "Evaluating the Visualization of What a Deep Neural Network Has Learned" (IEEE TNNLS
    2017) for removing patches; Adebayo et al., "Sanity Checks for Saliency Maps" (NeurIPS
    2018).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import keras
import numpy as np

from helpers import cam, occlusion
from helpers._core.graph import all_layers, is_conv
from helpers._core.inputs import prepare
from helpers._core.model import keras_model, logits_model, preprocess_fn
from helpers.images import resize_maps
from helpers.patch_curves import (DeletionCurve, PatchCurve, blur, deletion_curve,
                                  insertion_curve, random_maps)

__all__ = ["OCCLUSION", "TOLERANCE", "DeletionCurve", "PatchCurve", "PointingGame",
           "Randomization", "blur", "cascading_randomization", "deletion_curve", "dilate",
           "insertion_curve", "pointing_game", "quiet_heatmaps", "random_maps",
           "rank_correlation", "weighted_layers"]

#: Pointing-game tolerance in pixels: Zhang et al.'s 15 px at 224 px, scaled to the 96-px
#: scenes (6.4 px). It is also half the diagonal of one 8-px cell of the embedded model's
#: last feature map: a peak cell that touches the object counts.
TOLERANCE = 6

#: The method name of occlusion sensitivity (``helpers.occlusion``) beside ``cam.METHODS``.
OCCLUSION = "Occlusion"


# ---------------------------------------------------------------------------------------
# Pointing game


@dataclass
class PointingGame:
    """Pointing-game outcome for one method.

    Attributes:
        method: the heatmap method.
        hits: (N, K) True where the peak of object k's class map lies on object k.
        chance: (N, K) share of the image that counts as a hit for object k: the hit rate
            of a peak placed at random.
        empty: (N, K) True where the map was all zeros (no peak: a miss).
        tolerance: pixels a peak may lie off the mask and still count.
    """

    method: str
    hits: np.ndarray
    chance: np.ndarray
    empty: np.ndarray
    tolerance: int

    @property
    def per_object(self) -> np.ndarray:
        """Hit rate for the first, second, ... object of the scenes."""
        return self.hits.mean(axis=0)

    @property
    def rate(self) -> float:
        """Hit rate over all objects."""
        return float(self.hits.mean())

    @property
    def both(self) -> float:
        """Share of scenes where every object's map points at that object."""
        return float(self.hits.all(axis=1).mean())

    def __str__(self) -> str:
        objects = ", ".join(f"{rate:.1%}" for rate in self.per_object)
        return (f"{self.method:>16}: hits {self.rate:6.1%} (per object: {objects}); both objects "
                f"in {self.both:6.1%} of scenes; empty maps {int(self.empty.sum())}; "
                f"chance {float(self.chance.mean()):.1%}")


def dilate(masks: np.ndarray, radius: int) -> np.ndarray:
    """Grow boolean masks (..., H, W) by ``radius`` pixels (a disk)."""
    masks = np.asarray(masks, dtype=bool)
    if radius < 0:
        raise ValueError(f"The tolerance is a distance in pixels, at least 0; got {radius}.")
    grown = masks.copy()
    height, width = masks.shape[-2:]
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if (dy or dx) and dy * dy + dx * dx <= radius * radius:
                src = masks[..., max(0, -dy):height - max(0, dy), max(0, -dx):width - max(0, dx)]
                grown[..., max(0, dy):height - max(0, -dy), max(0, dx):width - max(0, -dx)] |= src
    return grown


def quiet_heatmaps(model, x, classes, methods, layer=None, occlusion_options=None,
                   **options) -> dict[str, np.ndarray]:
    """``cam.all_heatmaps`` without ``EmptyHeatmapWarning``s: in a measurement an empty map
    is a result (counted by the caller), not a surprise. ``methods`` may include
    ``OCCLUSION`` ("Occlusion"): ``occlusion.occlusion_heatmaps`` at the image's resolution,
    with ``occlusion_options`` (patch, stride, baseline, ...)."""
    methods = [methods] if isinstance(methods, str) else list(methods)
    others = [m for m in methods if m != OCCLUSION]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cam.EmptyHeatmapWarning)
        maps = cam.all_heatmaps(model, x, classes, others, layer, **options) if others else {}
        if OCCLUSION in methods:
            maps[OCCLUSION] = occlusion.occlusion_heatmaps(model, x, classes,
                                                           **(occlusion_options or {}))
    return {m: maps[m] for m in methods}


def pointing_game(model, scenes, methods=("Grad-CAM",), layer: str | None = None,
                  tolerance: int = TOLERANCE, **options) -> dict[str, PointingGame]:
    """Play the pointing game: for every object of every scene, the map of its class must
    peak on it (within ``tolerance`` pixels).

    Args:
        model: a ``VisModel`` (whose preprocessing the scenes get) or a Keras model (taking
            x / 127.5 - 1, as the embedded model does).
        scenes: ``shapes.Scenes`` with masks, e.g. ``make_scenes(200, seed, num_objects=2)``.
        methods: names from ``cam.METHODS`` (computed together, sharing their work) and
            ``OCCLUSION``.
        layer: the layer for CAM-style methods (default: the last convolutional layer).
        tolerance: pixels a peak may lie outside the mask.
        options: passed to ``quiet_heatmaps`` (e.g. ``max_channels`` for Score-CAM,
            ``occlusion_options=dict(patch=12)``).

    Returns:
        method name -> ``PointingGame``.

    Raises:
        ValueError: the scenes do not fit the model, or bad options.
    """
    size = tuple(keras_model(model).input_shape[1:3])
    if scenes.images.shape[1:3] != size:
        raise ValueError(f"The scenes are {scenes.images.shape[1]} px, the model takes "
                         f"{size[0]} px; render them with make_scenes(size=...).")
    n, objects = scenes.classes.shape
    x = np.asarray(preprocess_fn(model)(scenes.images.astype(np.float32)), np.float32)
    # every object's query in one batch (object-major), so each scene is seen once per method
    queries = np.concatenate([x] * objects)
    maps = quiet_heatmaps(model, queries, scenes.classes.T.reshape(-1), methods, layer,
                          **options)
    reach = dilate(scenes.masks, tolerance)
    scene, obj = np.tile(np.arange(n), objects), np.repeat(np.arange(objects), n)
    results = {}
    for method, method_maps in maps.items():
        empty = method_maps.reshape(len(method_maps), -1).max(axis=1) <= 0
        peak = cam.peaks(resize_maps(method_maps, scenes.images.shape[1:3]))
        hits = reach[scene, obj, peak[:, 0], peak[:, 1]] & ~empty
        results[method] = PointingGame(method, hits.reshape(objects, n).T,
                                       reach.mean(axis=(2, 3)), empty.reshape(objects, n).T,
                                       tolerance)
    return results


# ---------------------------------------------------------------------------------------
# Model randomization


def rank_correlation(a, b) -> float:
    """Spearman rank correlation of two maps (ties get their average rank).

    A constant map (e.g. an empty heatmap) keeps nothing of the other's structure: 0.
    """
    ra, rb = _ranks(np.ravel(a)), _ranks(np.ravel(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    norm = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / norm) if norm > 0 else 0.0


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(first + (counts - 1) / 2.0, counts)
    return ranks


@dataclass
class Randomization:
    """Outcome of the cascading model-randomization check.

    Attributes:
        layers: the checkpoints, top down; at step j every layer from the output down to
            ``layers[j]`` (included) has fresh random weights.
        maps: method -> (len(layers) + 1, N, ...) maps, (len(layers) + 1, ...) for one
            image; index 0 is the trained model.
        similarity: method -> (len(layers),) mean rank correlation with the trained model's
            maps, one per checkpoint; near 1 means the map ignores the randomization.
    """

    layers: list[str]
    maps: dict[str, np.ndarray]
    similarity: dict[str, np.ndarray]

    def table(self) -> str:
        """The similarities as a text table, one row per checkpoint."""
        methods = list(self.similarity)
        lines = [f"{'randomized down to':>22} " + " ".join(f"{m:>16}" for m in methods)]
        for j, layer in enumerate(self.layers):
            lines.append(f"{layer:>22} " + " ".join(
                f"{self.similarity[m][j]:16.2f}" for m in methods))
        return "\n".join(lines)


def weighted_layers(model) -> list[str]:
    """Names of the layers with weights of the model that is explained (a final softmax
    set aside), from the output down to the input."""
    return [layer.name for layer in reversed(all_layers(logits_model(model))) if layer.weights]


def _default_checkpoints(net: keras.Model) -> list[str]:
    return [layer.name for layer in reversed(all_layers(net))
            if layer.weights and (is_conv(layer) or isinstance(layer, keras.layers.Dense))]


def cascading_randomization(model, x, classes, methods=("Grad-CAM", "Guided backprop"),
                            layers=None, seed: int = 0, **options) -> Randomization:
    """Re-initialize the model from the top down and compare each method's maps with the
    trained model's (Adebayo et al. 2018, cascading randomization).

    The trained model is not touched: a copy is randomized, with each layer's own
    initializer. The class explained stays the same at every step.

    Args:
        model: a ``VisModel`` or a Keras model (a final softmax is explained via its logits).
        x: one preprocessed image (H, W, C) or a batch (N, H, W, C).
        classes: the class to explain: a name or index for all images, or one per image.
        methods: names from ``cam.METHODS``.
        layers: checkpoints, top down (see ``Randomization``); default: every convolution
            and dense layer.
        seed: seed of the random weights (sets Keras' global seed).
        options: passed to the methods.

    Raises:
        ValueError: an unknown method or checkpoint layer.
    """
    call = prepare(model, x, classes)
    model, x, classes = call.net, call.x, call.classes
    methods = [methods] if isinstance(methods, str) else list(methods)
    order = weighted_layers(model)
    checkpoints = _default_checkpoints(model) if layers is None else list(layers)
    missing = [name for name in checkpoints if name not in order]
    if missing:
        raise ValueError(f"{missing} are not layers with weights of {model.name!r}; choose "
                         f"from {', '.join(order[:8])}, ...")
    depths = [order.index(name) for name in checkpoints]
    if depths != sorted(depths):
        raise ValueError("List the checkpoint layers from the output down to the input.")

    steps = [quiet_heatmaps(model, x, classes, methods, **options)]
    keras.utils.set_random_seed(seed)
    work, fresh = keras.models.clone_model(model), keras.models.clone_model(model)
    work.set_weights(model.get_weights())
    work_layers = {layer.name: layer for layer in all_layers(work)}
    fresh_layers = {layer.name: layer for layer in all_layers(fresh)}

    done = 0
    for depth in depths:
        for name in order[done:depth + 1]:
            work_layers[name].set_weights(fresh_layers[name].get_weights())
        done = depth + 1
        steps.append(quiet_heatmaps(work, x, classes, methods, **options))
    maps = {m: np.stack([step[m] for step in steps]) for m in methods}
    similarity = {m: np.array([np.mean([rank_correlation(a, b) for a, b in zip(maps[m][0], s)])
                               for s in maps[m][1:]]) for m in methods}
    if call.single:
        maps = {m: stack[:, 0] for m, stack in maps.items()}
    return Randomization(checkpoints, maps, similarity)
