"""Dataset examples: the image patches that excite one unit the most, across many images.

For a unit (a channel k of a layer) and a set of images, every position (i, j) of the
layer's map is a candidate; its activation A_ijk(x_n) says how strongly image n's patch at
that place drives the unit. The top-k candidates, each shown as its receptive field (the
input pixels that can influence unit (i, j)), are the unit's *dataset examples*: what parts of
real inputs activate the filter. Olah et al. treat them as the required companion of an
optimized image, which shows what the unit *could* respond to but not what it meets in data.

By default each image contributes at most one patch (its strongest position), so that the top
patches are different images rather than neighbouring positions of the same one.

The receptive field comes from the architecture (``_core.geometry.layer_table``); where it
reaches past the image (the zero padding of 'same' convolutions) the patch is padded with
grey, so all patches have the same size and the unit's centre is always the patch's centre.

Which units to look at: ``standout_units`` picks those whose best images stand out from their
typical one (they respond to *something* in the images). The lab's check, where the answer
is known: ``preferred_units`` gives each shape class's unit, ``holds_shape`` says which top
patches hold that shape, and ``shape_base_rate`` how often a random patch does.

References:
    Olah, Mordvintsev & Schubert, "Feature Visualization", Distill (2017);
    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks" (2014).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers._core.activations import layer_outputs
from helpers._core.geometry import layer_table
from helpers._core.graph import require_spatial
from helpers._core.inputs import BATCH_SIZE, as_batch, check_count
from helpers._core.model import affine_preprocessing, keras_model, preprocess_fn
from helpers._core.progress import progress
from helpers.images import load_image, resize
from helpers.shapes import CLASSES

#: The grey that fills a patch where the receptive field falls off the image.
GREY = 128
#: Window sides for ``photo_windows``, as fractions of a photo's shorter side.
SCALES = (1.0, 0.7, 0.5, 0.35)
#: Photo files that ``photo_windows`` reads from a folder.
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclass
class DatasetExamples:
    """What ``dataset_examples`` returns, strongest first.

    Attributes:
        layer, unit: the unit (a channel of ``layer``).
        patches: (k, rh, rw, 3) uint8 RGB receptive fields, grey where they fall off the image.
        activations: (k,) the unit's activation at each patch's centre unit.
        image_index: (k,) index of the image each patch comes from.
        positions: (k, 2) (row, col) of each unit in the layer's map.
        boxes: (k, 4) (top, left, bottom, right), inclusive input pixels of each receptive
            field; they can lie outside the image.
        num_images: how many images were scanned.
    """

    layer: str
    unit: int
    patches: np.ndarray
    activations: np.ndarray
    image_index: np.ndarray
    positions: np.ndarray
    boxes: np.ndarray
    num_images: int

    def __len__(self) -> int:
        return len(self.activations)

    def titles(self, fmt: str = "{activation:.2f}") -> list[str]:
        """One caption per patch; ``fmt`` may use {activation}, {image}, {row} and {col}."""
        return [fmt.format(activation=a, image=int(n), row=int(r), col=int(c))
                for a, n, (r, c) in zip(self.activations, self.image_index, self.positions)]


def crop(image, box, fill=GREY) -> np.ndarray:
    """The pixels of ``image`` (H, W, ...) inside ``box`` (top, left, bottom, right,
    inclusive), with ``fill`` where the box reaches past the image; the result always has
    the box's size. Works for masks too (e.g. ``fill=False``).
    """
    image = np.asarray(image)
    top, left, bottom, right = (int(v) for v in box)
    out = np.full((bottom - top + 1, right - left + 1, *image.shape[2:]), fill, image.dtype)
    height, width = image.shape[:2]
    y0, y1 = max(top, 0), min(bottom + 1, height)
    x0, x1 = max(left, 0), min(right + 1, width)
    if y0 < y1 and x0 < x1:
        out[y0 - top:y1 - top, x0 - left:x1 - left] = image[y0:y1, x0:x1]
    return out


def photo_windows(photos, size: int, scales=SCALES, overlap: float = 0.5) -> np.ndarray:
    """Many model inputs from a few photos: square windows at several scales, each resized to
    ``size`` x ``size``; a dataset for ``dataset_examples`` where there is no dataset.

    At scale s a window's side is s * (the photo's shorter side); windows of one scale are
    spread evenly from edge to edge, neighbours sharing about ``overlap`` of their side. The
    default scales give 1 + 4 + 9 + 25 = 39 windows of a square photo (more of a wide one: the
    four sample photos give 238), and a unit's small receptive field meets the same object at
    several sizes. The windows are cut from the photo at its full resolution.

    Args:
        photos: a folder (every .jpg, .jpeg, .png, .webp and .bmp in it, by name), or a list
            of anything ``images.load_image`` takes (sample names, paths, URLs, arrays).
        size: the model's input side in pixels.
        scales: window sides as fractions of each photo's shorter side, each in (0, 1].
        overlap: the share of its side a window shares with its neighbour, in [0, 1).

    Returns:
        uint8 RGB windows (N, size, size, 3), photo by photo, large scales first.

    Raises:
        ValueError: a folder without photos, an empty list, or scales or overlap out of range.
    """
    scales = tuple(float(s) for s in np.atleast_1d(scales))
    if not scales or not all(0 < s <= 1 for s in scales):
        raise ValueError(f"scales are fractions of a photo's shorter side, each in (0, 1]; "
                         f"got {scales!r}.")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap is the share of a window its neighbour covers, in [0, 1); "
                         f"got {overlap!r}.")
    size = check_count("size", size)
    windows = [resize(crop(image, box), size)
               for image in _photos(photos) for box in _window_boxes(image.shape[:2], scales,
                                                                      overlap)]
    return np.stack(windows)


def _photos(photos) -> list[np.ndarray]:
    if isinstance(photos, str | Path) and Path(photos).is_dir():
        files = sorted(f for f in Path(photos).iterdir() if f.suffix.lower() in PHOTO_SUFFIXES)
        if not files:
            raise ValueError(f"No photos in {photos}: put .jpg or .png files there, or pass a "
                             f"list of images.")
        return [load_image(f) for f in files]
    if isinstance(photos, str | Path | np.ndarray):
        photos = [photos]
    loaded = [load_image(p) for p in photos]
    if not loaded:
        raise ValueError("No photos: pass a folder or a non-empty list of images.")
    return loaded


def _window_boxes(shape, scales, overlap) -> list[tuple[int, int, int, int]]:
    """(top, left, bottom, right) inclusive boxes of every window, large scales first."""
    height, width = shape
    boxes = []
    for scale in scales:
        side = max(1, round(scale * min(height, width)))
        stride = max(1.0, side * (1 - overlap))
        rows = np.linspace(0, height - side, int(np.ceil((height - side) / stride)) + 1)
        cols = np.linspace(0, width - side, int(np.ceil((width - side) / stride)) + 1)
        boxes += [(round(r), round(c), round(r) + side - 1, round(c) + side - 1)
                  for r in rows for c in cols]
    return boxes


def pixels_of(model, x, preprocess=None) -> np.ndarray:
    """Preprocessed inputs ``x`` (N, H, W, C) back to uint8 RGB (N, H, W, 3): the model's
    preprocessing (an affine map per pixel, ``_core.model.affine_preprocessing``) inverted
    exactly, then rounded and clipped; one channel is repeated into grey RGB."""
    matrix, bias = affine_preprocessing(preprocess or preprocess_fn(model), x.shape[-1])
    rgb = np.round((x - bias) @ np.linalg.inv(matrix).T).clip(0, 255).astype(np.uint8)
    return np.repeat(rgb, 3, axis=-1) if rgb.shape[-1] == 1 else rgb


def dataset_examples(model, layer: str, unit, x, k: int = 9, *, per_image: int = 1,
                     images=None, preprocess=None, batch_size: int = BATCH_SIZE):
    """The ``k`` (image, position) pairs where unit ``unit`` of ``layer`` is most active, and
    their receptive fields as image patches.

    For each image n and position (i, j) of the layer's map the score is A_ijk(x_n); the
    images are scanned in compiled batches of ``batch_size`` (a progress bar for many), so
    any number of images fits in memory, and each image keeps its ``per_image`` best
    positions. The top ``k`` of these, strongest first, are cropped from the images at the
    receptive field of their unit: ``layer_table(model).patch(i, j)``, clipped to the image
    and padded with grey.

    Args:
        model: a ``VisModel`` or a Keras model.
        layer: a layer with a spatial output (a convolution, its ReLU, a pooling).
        unit: the channel of ``layer``, or a list of channels: one scan of the images serves
            them all.
        x: one preprocessed image (H, W, C) or a batch (N, H, W, C) at the model's input size.
        k: how many patches.
        per_image: at most this many patches from one image (1: every patch from a
            different image, the diverse default).
        images: the uint8 RGB images (N, H, W, 3) that ``x`` was made from, to crop the
            patches from; default: ``x`` with the model's preprocessing inverted.
        preprocess: the preprocessing of a bare Keras model, for that inversion (default
            x / 127.5 - 1, as everywhere in ``helpers``).
        batch_size: images per compiled forward pass.

    Returns:
        A ``DatasetExamples`` with min(k, N * per_image) patches (a list of them, one per
        unit, for a list of units); one image in gives the same as a batch of that one image
        (a summary over all images either way).

    Raises:
        ValueError: the core's errors for bad images or an unknown layer; a unit out of range;
            ``images`` that do not match ``x``.
    """
    net = keras_model(model)
    target = require_spatial(net, layer)
    k, per_image = check_count("k", k), check_count("per_image", per_image)
    batch_size = check_count("batch_size", batch_size)
    x, _ = as_batch(x, net.input_shape)
    channels = int(target.output.shape[-1])
    many = not isinstance(unit, int | np.integer)
    units = list(unit) if many else [unit]
    if not units:
        raise ValueError(f"Give at least one unit of {layer!r}, e.g. unit=0 or unit=[0, 5].")
    for u in units:
        if isinstance(u, bool) or not isinstance(u, int | np.integer) or not 0 <= u < channels:
            raise ValueError(f"unit is a channel of {layer!r}, 0 to {channels - 1}; got {u!r}.")
    if images is not None:
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.shape[:3] != x.shape[:3]:
            raise ValueError(f"images are the uint8 RGB pictures x was made from, shape "
                             f"{x.shape[:3] + (3,)}; got {images.dtype} {images.shape}.")
    geometry = layer_table(net, input_size=x.shape[1:3], layers=[layer])[0]
    scans = _scan(net, layer, [int(u) for u in units], x, k, per_image, batch_size)
    if images is None:  # only the images that give a patch are turned back into pixels
        used = np.unique(np.concatenate([where[:, 0] for _, where in scans]))
        images = dict(zip(used, pixels_of(model, x[used], preprocess))) if len(used) else {}
    examples = [_examples(target.name, int(u), values, where, geometry, images, len(x))
                for u, (values, where) in zip(units, scans)]
    return examples if many else examples[0]


def _examples(layer, unit, values, where, geometry, images, num_images) -> DatasetExamples:
    """The ``DatasetExamples`` of one unit's scan: positions, boxes and cropped patches."""
    width = geometry.output[1]
    index = where[:, 0]
    positions = np.stack([where[:, 1] // width, where[:, 1] % width], axis=1)
    boxes = np.array([geometry.patch(r, c) for r, c in positions], dtype=np.int64).reshape(-1, 4)
    patches = [crop(images[n], box) for n, box in zip(index, boxes)]
    rh, rw = geometry.receptive_field
    patches = np.stack(patches) if patches else np.zeros((0, rh, rw, 3), np.uint8)
    return DatasetExamples(layer, unit, patches, values, index, positions, boxes, num_images)


def _scan(net, layer, units, x, k, per_image, batch_size):
    """For each of ``units``, (values (m,), [image, flat position] (m, 2)) of its top ``k``
    candidates, each image giving its ``per_image`` best; ties go to the earlier image and
    position."""
    best = [(np.zeros(0, np.float32), np.zeros((0, 2), np.int64)) for _ in units]
    starts = progress(range(0, len(x), batch_size), desc="dataset examples")
    for start in starts:
        maps = layer_outputs(net, layer, x[start:start + batch_size], batch_size)[layer]
        for u, unit in enumerate(units):
            flat = maps[..., unit].reshape(len(maps), -1)
            m = min(per_image, flat.shape[1])
            # each image's m best positions, best first (stable: the first position wins a tie)
            order = np.argsort(-flat, axis=1, kind="stable")[:, :m]
            rows = np.repeat(np.arange(len(flat)), m)
            values = np.concatenate([best[u][0], flat[rows, order.reshape(-1)]])
            where = np.concatenate([best[u][1], np.stack([rows + start, order.reshape(-1)], 1)])
            keep = np.lexsort((where[:, 1], where[:, 0], -values))[:k]
            best[u] = (values[keep], where[keep])
    return [(values.astype(np.float32), where) for values, where in best]


def show_dataset_examples(examples: DatasetExamples, size: float = 1.5, title: str | None = None,
                          fmt: str = "{activation:.2f}"):
    """Draw the patches in one row, strongest first, each captioned by ``fmt`` (see
    ``DatasetExamples.titles``); returns the figure."""
    import matplotlib.pyplot as plt

    count = max(len(examples), 1)
    fig, axes = plt.subplots(1, count, figsize=(size * count, size + 0.45), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax, patch, caption in zip(axes.flat, examples.patches, examples.titles(fmt)):
        ax.imshow(patch, interpolation="nearest")
        ax.set_title(caption, fontsize=9)
    fig.suptitle(title or f"{examples.layer}[{examples.unit}]: top {len(examples)} of "
                 f"{examples.num_images} images", fontsize=10)
    return fig


def unit_peaks(model, layer: str, x, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Each image's strongest response of each unit, p_nk = max_ij A_ijk(x_n): (N, channels),
    from compiled batches of ``batch_size``."""
    net = keras_model(model)
    require_spatial(net, layer)
    x, _ = as_batch(x, net.input_shape)
    batch_size = check_count("batch_size", batch_size)
    peaks = [layer_outputs(net, layer, x[start:start + batch_size], batch_size)[layer]
             .max(axis=(1, 2)) for start in range(0, len(x), batch_size)]
    return np.concatenate(peaks)


def standout_units(model, layer: str, x, n: int = 4, k: int = 9,
                   batch_size: int = BATCH_SIZE) -> np.ndarray:
    """The ``n`` units of ``layer`` whose ``k`` strongest images stand out most from their
    typical image, best first: units that respond to something in these images rather than to
    everything, whose dataset examples therefore share a theme.

    With p_nj the strongest response of unit j to image n (``unit_peaks``) and T_j the mean of
    its ``k`` largest p_nj over the images, the score is

        s_j = T_j / (median_n p_nj + 0.1 * mean_j' T_j')

    the floor in the denominator (a tenth of the layer's typical T) keeps a unit that is silent
    on most images (median 0) from scoring high on a few weak responses.

    Returns:
        (n,) int unit indices.
    """
    n, k = check_count("n", n), check_count("k", k)
    peaks = unit_peaks(model, layer, x, batch_size)
    top = np.sort(peaks, axis=0)[-k:].mean(axis=0)
    score = top / (np.median(peaks, axis=0) + 0.1 * top.mean())
    return np.argsort(-score, kind="stable")[:n]


# ------------------------------------------------------------ the lab's check: shapes scenes

def preferred_units(model, layer: str, scenes, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """For each class of the shapes world, the unit of ``layer`` it drives most, relative to
    the other classes: argmax_k of mean_{n in c} p_nk / mean_n p_nk, with p_nk the strongest
    response of unit k to scene n (``unit_peaks``) and c the scene's class (its first object).

    Args:
        model: the lab model (``helpers.lab_model()``) or a Keras model for shapes scenes.
        scenes: ``shapes.Scenes`` with every class present, e.g. ``shapes.make_scenes(600)``.

    Returns:
        (len(shapes.CLASSES),) int: the preferred unit of each class, in class order.

    Raises:
        ValueError: a class with no scene.
    """
    missing = [name for c, name in enumerate(CLASSES) if not np.any(scenes.labels == c)]
    if missing:
        raise ValueError(f"No scene of class {missing}: make more scenes, e.g. "
                         f"shapes.make_scenes(600).")
    x = np.asarray(preprocess_fn(model)(scenes.images.astype(np.float32)), np.float32)
    peaks = unit_peaks(model, layer, x, batch_size)
    means = np.stack([peaks[scenes.labels == c].mean(axis=0) for c in range(len(CLASSES))])
    return np.argmax(means / np.maximum(peaks.mean(axis=0), 1e-12), axis=1)


#: A patch holds an object when they overlap by at least this share of the smaller of the two.
MIN_OVERLAP = 0.5


def _class_indices(classes) -> set[int]:
    """Class indices of ``classes``: a name or index of ``CLASSES``, or a list of them."""
    names = [classes] if isinstance(classes, str | int | np.integer) else list(classes)
    indices = set()
    for name in names:
        if isinstance(name, str) and name not in CLASSES:
            raise ValueError(f"No shape class {name!r}; classes: {', '.join(CLASSES)}.")
        indices.add(CLASSES.index(name) if isinstance(name, str) else int(name))
    return indices


def holds_shape(scenes, image_index, boxes, classes,
                min_overlap: float = MIN_OVERLAP) -> np.ndarray:
    """Whether each patch holds an object of one of ``classes``.

    Patch p (scene n, box b) holds object o when |b ∩ o| >= min_overlap * min(|b|, |o|),
    with |b| counted over the image pixels only. For a field larger than the object this is
    "at least half (by default) of the object lies in the patch"; for a small field on a large
    object, "the object covers at least half of the patch". Notebook 05 lowers the share to a
    quarter for a layer whose 22-pixel fields sit on the outlines of 26-48 pixel shapes.

    Args:
        scenes: ``shapes.Scenes`` the patches were cut from.
        image_index: (P,) scene of each patch.
        boxes: (P, 4) (top, left, bottom, right) inclusive, as ``DatasetExamples.boxes``.
        classes: a class name or index of ``shapes.CLASSES``, or a list, e.g. ("circle", "ring").
        min_overlap: the threshold, in (0, 1].

    Returns:
        (P,) bool. With a ``DatasetExamples`` e, the share of its patches that hold the shape
        is ``holds_shape(scenes, e.image_index, e.boxes, classes).mean()``.
    """
    if not 0 < min_overlap <= 1:
        raise ValueError(f"min_overlap is a share of the patch or the object, in (0, 1]; "
                         f"got {min_overlap!r}.")
    wanted = _class_indices(classes)
    inside = np.ones(scenes.images.shape[1:3], bool)
    result = []
    for n, box in zip(np.asarray(image_index), np.asarray(boxes).reshape(-1, 4)):
        area = crop(inside, box, False).sum()
        result.append(any(
            crop(mask, box, False).sum() >= min_overlap * min(area, mask.sum()) > 0
            for c, mask in zip(scenes.classes[n], scenes.masks[n]) if c in wanted))
    return np.array(result, bool)


def shape_base_rate(model, layer: str, scenes, classes, min_overlap: float = MIN_OVERLAP, *,
                    samples: int = 2000, seed: int = 0) -> float:
    """The share of random patches that hold an object of one of ``classes`` (as
    ``holds_shape`` counts): the receptive fields of ``samples`` units of ``layer`` drawn
    uniformly (scene, row, column) over ``scenes``. What a unit that ignores the shapes would
    score. Geometry only, no forward pass."""
    net = keras_model(model)
    require_spatial(net, layer)
    samples = check_count("samples", samples)
    geometry = layer_table(net, input_size=scenes.images.shape[1:3], layers=[layer])[0]
    height, width = geometry.output[:2]
    rng = np.random.default_rng(seed)
    index = rng.integers(len(scenes), size=samples)
    boxes = [geometry.patch(r, c) for r, c in zip(rng.integers(height, size=samples),
                                                  rng.integers(width, size=samples))]
    return float(holds_shape(scenes, index, boxes, classes, min_overlap).mean())
