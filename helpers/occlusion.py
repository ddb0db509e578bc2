"""Occlusion sensitivity: cover one part of the image, see how much the class score drops.

Zeiler & Fergus slid a grey square over the image and plotted the class score for every
position of the square. Here the map holds the *drop*

    D_c(i, j) = f_c(x) - f_c(x with the patch at grid position (i, j) set to the baseline),

of the class logit f_c (``objective='logit'``, the default) or of its probability p_c
(``objective='softmax'``). A large drop marks a region the score rests on; a negative one, a
region that argued against the class. The method needs no gradients and no layer, only
forward passes, so it applies to any model: one pass per patch position and image, all of
them in compiled batches.

What fills the patch matters, because an occluded image is one the model never saw. The
default is the image's own mean colour (``baseline='mean'``), as in ``deletion_curve``; on the
shapes world Zeiler & Fergus' grey square (``baseline='grey'``) is itself a shape, and it puts
the peak on the object's mask for 69% of objects in two-object scenes against the mean
colour's 82% (both 92-98% within 6 px).

The grid: a square patch of side p moves with stride s; the positions are the
h' = (H - p) // s + 1 rows by w' = (W - p) // s + 1 columns that fit, centred on the image
(what does not divide evenly is split between the two borders). ``to_image`` puts each value
back at its patch's centre at the image's resolution, so maps of different methods can be
overlaid and compared pixel for pixel.

The contract of every technique in ``helpers``: the model is a ``VisModel`` or a Keras model
(one ending in a softmax is explained through its logits); ``x`` is one *preprocessed* image
(H, W, C), giving one map (h', w'), or a batch (N, H, W, C), giving (N, h', w'); classes are
names or indices, one for all images or one per image.

Reference:
    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks" (ECCV 2014),
    section 4.2.
"""

from __future__ import annotations

import hashlib

import numpy as np
import tensorflow as tf

from helpers._core.compiled import compiled, quiet_tracing
from helpers._core.inputs import BATCH_SIZE, check_count, in_batches, prepare
from helpers._core.model import preprocess_fn
from helpers.cam import normalize_maps
from helpers.images import resize_maps

__all__ = ["BASELINES", "OBJECTIVES", "default_patch", "grid", "occlusion", "occlusion_heatmaps",
           "to_image"]

#: Named baselines: mid-grey (RGB 128) through the model's preprocessing, or the image's
#: own mean colour. A number or one value per channel (in the model's input space) also works.
BASELINES = ("grey", "mean")
#: What the drop is measured on: the class logit or its softmax probability.
OBJECTIVES = ("logit", "softmax")


def default_patch(size) -> tuple[int, int]:
    """(patch, stride) for an image of ``size`` (H, W): a sixth of the shorter side, moved by
    half a patch: 16 and 8 px (11 x 11 positions) at 96 px, 37 and 18 px at 224 px."""
    patch = max(1, min(size) // 6)
    return patch, max(1, patch // 2)


def _patch_and_stride(size, patch, stride) -> tuple[int, int]:
    default, _ = default_patch(size)
    patch = default if patch is None else check_count("patch", patch)
    stride = max(1, patch // 2) if stride is None else check_count("stride", stride)
    if patch > min(size):
        raise ValueError(f"patch is a side in pixels from 1 to {min(size)}; got {patch}.")
    return patch, stride


def grid(size, patch: int | None = None, stride: int | None = None):
    """The patch positions for an image of ``size`` (H, W): (row starts (h',), column
    starts (w',), patch, stride). Defaults from ``default_patch``.

    Raises:
        ValueError: a patch or stride that is not a whole number >= 1, or a patch larger
            than the image.
    """
    height, width = (int(v) for v in size[:2])
    patch, stride = _patch_and_stride((height, width), patch, stride)
    starts = []
    for side in (height, width):
        count = (side - patch) // stride + 1
        offset = (side - patch - (count - 1) * stride) // 2
        starts.append(offset + stride * np.arange(count))
    return starts[0], starts[1], patch, stride


def _baseline(model, x: np.ndarray, baseline) -> np.ndarray:
    """One fill value per image and channel, (N, C)."""
    channels = x.shape[-1]
    if isinstance(baseline, str):
        if baseline == "grey":
            grey = np.full((1, 1, 1, channels), 128.0, np.float32)
            value = np.asarray(preprocess_fn(model)(grey), np.float32).reshape(channels)
            return np.broadcast_to(value, (len(x), channels))
        if baseline == "mean":
            return x.mean(axis=(1, 2))
        raise ValueError(f"baseline is 'grey', 'mean', a number or one value per channel; "
                         f"got {baseline!r}.")
    value = np.asarray(baseline, np.float32)
    if value.size not in (1, channels) or not np.all(np.isfinite(value)):
        raise ValueError(f"baseline is 'grey', 'mean', a number or one value per channel "
                         f"({channels}); got {baseline!r}.")
    return np.broadcast_to(value.reshape(-1), (len(x), channels))


class _Scores:
    """``x -> net(x)`` (its softmax with ``softmax=True``), to be compiled; an object, not a
    closure, for the reason ``helpers._core.compiled`` gives."""

    def __init__(self, net, softmax: bool):
        self.net, self.softmax = net, softmax

    def __call__(self, x):
        out = self.net(x, training=False)
        return tf.nn.softmax(out, axis=-1) if self.softmax else out


def _unique_images(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the first copy of each distinct image, each image's distinct index)."""
    seen: dict[bytes, int] = {}
    which = np.array([seen.setdefault(hashlib.sha1(image.tobytes()).digest(), len(seen))
                      for image in x])
    first = np.array([int(np.flatnonzero(which == u)[0]) for u in range(len(seen))])
    return first, which


def occlusion(model, x, classes, patch: int | None = None, stride: int | None = None,
              baseline="mean", objective: str = "logit",
              batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Occlusion sensitivity (Zeiler & Fergus 2014): the drop D_c(i, j) of the class score
    when a patch at grid position (i, j) is set to the baseline (see the module docstring).

    All h' x w' occluded copies of every image go through the model in compiled batches of
    ``batch_size`` (with a progress bar when there are many); an image asked about for
    several classes (the same scene in a pointing game) is occluded and passed once.

    Args:
        model: a ``VisModel`` or a Keras model (a final softmax is explained via its logits).
        x: one preprocessed image (H, W, C) or a batch (N, H, W, C).
        classes: a class name or index for all images, or one per image.
        patch: side of the square patch in pixels; default ``default_patch``.
        stride: pixels between patch positions; default half the patch.
        baseline: 'mean' (the default: the image's mean colour, as ``deletion_curve``),
            'grey' (RGB 128 through the model's preprocessing, Zeiler & Fergus' grey square),
            a number or one value per channel in the model's input space.
        objective: 'logit' (the drop of f_c) or 'softmax' (the drop of p_c).
        batch_size: occluded images per compiled call.

    Returns:
        drops, float32, at the patch grid: (h', w') for one image, (N, h', w') for a batch.
        ``to_image`` brings them to the image's resolution.

    Raises:
        ValueError: bad images, classes, patch, stride, baseline or objective (the message
            names the valid values).
    """
    call = prepare(model, x, classes)
    batch_size = check_count("batch_size", batch_size)
    if objective not in OBJECTIVES:
        raise ValueError(f"objective is 'logit' or 'softmax'; got {objective!r}.")
    rows, cols, patch, stride = grid(call.x.shape[1:3], patch, stride)
    fill = _baseline(model, call.x, baseline)
    first, which = _unique_images(call.x)
    images, fills = call.x[first], fill[first]
    positions = [(r, c) for r in rows for c in cols]
    step = compiled(call.net, ("occlusion.scores", objective),
                    lambda: _Scores(call.net, objective == "softmax"))

    def scores(image_index, position_index):
        batch = images[image_index].copy()
        for j, (i, p) in enumerate(zip(image_index, position_index)):
            r, c = positions[p]
            batch[j, r:r + patch, c:c + patch] = fills[i]
        return step(tf.constant(batch)).numpy()

    image_index = np.repeat(np.arange(len(images)), len(positions))
    position_index = np.tile(np.arange(len(positions)), len(images))
    with quiet_tracing():
        occluded = in_batches(scores, batch_size, image_index, position_index)
        intact = in_batches(lambda xb: step(tf.constant(xb)).numpy(), batch_size, images)
    occluded = occluded.reshape(len(images), len(positions), -1)
    own = occluded[which, :, call.classes]  # (N, positions)
    drops = intact[which, call.classes][:, None] - own
    return call.output(drops.reshape(len(call.x), len(rows), len(cols)).astype(np.float32))


def to_image(maps, size, patch: int | None = None, stride: int | None = None) -> np.ndarray:
    """Occlusion maps at the patch grid, (h', w') or (N, h', w'), brought to the image's
    ``size`` (H, W): each value lands on its patch's centre and is interpolated bilinearly
    (``images.resize_maps``) in between; the borders beyond the first and last centres keep
    the nearest value. ``patch`` and ``stride`` as given to ``occlusion``.

    Raises:
        ValueError: the maps do not have the grid's shape for that size, patch and stride.
    """
    maps = np.asarray(maps, np.float32)
    rows, cols, patch, stride = grid(size, patch, stride)
    if maps.ndim not in (2, 3) or maps.shape[-2:] != (len(rows), len(cols)):
        raise ValueError(f"Expected occlusion maps of shape ({len(rows)}, {len(cols)}) for "
                         f"{tuple(size[:2])} px images with patch {patch} and stride {stride}; "
                         f"got {maps.shape}. Pass the patch and stride given to occlusion().")
    # Resized to s px per cell, cell i's centre falls on pixel s * (i + 1/2); its patch's
    # centre is at start_i + p/2: shift by start_0 + (p - s) / 2 and clamp at the borders.
    fine = resize_maps(maps, (len(rows) * stride, len(cols) * stride))
    out = fine
    for axis, (starts, side) in enumerate(((rows, size[0]), (cols, size[1]))):
        shift = int(starts[0]) + (patch - stride) // 2
        index = np.clip(np.arange(int(side)) - shift, 0, fine.shape[axis - 2] - 1)
        out = np.take(out, index, axis=axis - 2)
    return out


def occlusion_heatmaps(model, x, classes, patch: int | None = None,
                       stride: int | None = None, **options) -> np.ndarray:
    """Occlusion maps as heatmaps like the CAM family's: ReLU(D) / max, in [0, 1], at the
    image's resolution ((H, W) or (N, H, W)); all-zero, with an ``EmptyHeatmapWarning``,
    where no patch lowers the score. What ``faithfulness`` compares with the other methods.

    Args:
        options: ``baseline``, ``objective``, ``batch_size`` as in ``occlusion``.
    """
    call = prepare(model, x, classes)
    drops = occlusion(model, call.x, call.classes, patch, stride, **options)
    heat = normalize_maps(drops, "Occlusion", call.classes)
    return call.output(to_image(heat, call.x.shape[1:3], patch, stride))
