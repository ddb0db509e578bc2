"""Dataset examples of circuit units, and how often they hold a shape of given classes.

A unit's optimized image (``feature_images``) shows what it *could* respond to; its dataset
examples (``helpers.dataset_examples``) show what drives it most in real inputs. Olah et al.
(2017) pair the two for every unit; Cammarata et al. (2020) show them for curve detectors.

- ``example_images``: the images to search, chosen by model: the lab's scenes, whose masks
  say where each shape is, or windows of the sample photos for an ImageNet network.
- ``top_examples``: ``dataset_examples`` for several units of a layer with one forward pass.
- ``holds_shape``, ``shape_share`` and ``shape_base_rate``: in the lab, the share of a unit's
  top patches that hold a shape of some classes, and the share of random patches that do, to
  compare it with.
- ``show_unit_examples``: one row per unit, its feature visualization beside its top patches.

References:
    Olah, Mordvintsev & Schubert, "Feature Visualization", Distill (2017);
    Cammarata et al., "Curve Detectors", Distill (2020).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from helpers import shapes
from helpers._core.activations import layer_outputs
from helpers._core.geometry import layer_table
from helpers._core.graph import require_spatial
from helpers._core.inputs import as_batch, check_count
from helpers._core.model import keras_model
from helpers.dataset_examples import DatasetExamples, crop, dataset_examples, photo_windows
from helpers.images import SAMPLE_IMAGES

#: One-shape scenes that ``example_images`` renders for the lab.
LAB_SCENES = 1500
#: A patch holds an object when they overlap by at least this share of the smaller of the two:
#: a field centred on the outline of a large shape is about half covered, on a ring less.
MIN_OVERLAP = 0.25
#: Images per forward pass in ``top_examples``'s scan.
SCAN_BATCH = 256


def example_images(model, scenes: int = LAB_SCENES, seed: int = 0, photos=None):
    """The images to search for dataset examples, chosen by model.

    For the lab (``model.name == 'shapes'``): ``scenes`` one-shape scenes
    (``shapes.make_scenes(scenes, seed)``), whose masks say where each shape is. For an
    ImageNet network: ``photo_windows`` of ``photos`` (default: the four sample photos, 238
    windows) at the model's input size; windows of a 96-pixel lab scene would only be blurred
    copies of it.

    Returns:
        (uint8 RGB images (N, H, W, 3), a few words saying what they are).
    """
    if getattr(model, "name", None) == "shapes":
        images = shapes.make_scenes(check_count("scenes", scenes), seed=seed).images
        return images, f"{len(images)} lab scenes"
    photos = list(SAMPLE_IMAGES) if photos is None else photos
    size = keras_model(model).input_shape[1]
    images = photo_windows(photos, size)
    return images, f"{len(images)} windows of {len(photos)} photos"


def top_examples(model, layer: str, units, x, k: int = 9, images=None) -> dict:
    """``dataset_examples(model, layer, unit, x, k, images=images)`` for every unit of
    ``units``, from one forward pass over ``x`` instead of one per unit.

    The scan keeps each image's maximum A_k(x_n) = max_ij A_ijk(x_n) for every unit (N x
    units numbers, in batches of ``SCAN_BATCH`` images); the top ``k`` images of each unit
    (ties to the earlier image, as in ``dataset_examples``) are then passed to
    ``dataset_examples`` alone, which finds the same positions and patches (two images whose
    maxima differ only by float rounding may swap places at the k-th rank). ``image_index``
    and ``num_images`` refer to all of ``x``.

    Args:
        model, layer, x, k, images: as for ``dataset_examples`` (one patch per image).
        units: channels of ``layer``.

    Returns:
        {unit: DatasetExamples}, in the order of ``units``.

    Raises:
        ValueError: as ``dataset_examples``; no units.
    """
    net = keras_model(model)
    found = require_spatial(net, layer)
    units = [int(u) for u in units]
    if not units:
        raise ValueError(f"Give at least one unit of {layer!r}.")
    channels = int(found.output.shape[-1])
    if not all(0 <= u < channels for u in units):
        raise ValueError(f"units are channels of {layer!r}, 0 to {channels - 1}; got {units}.")
    k = check_count("k", k)
    x, _ = as_batch(x, net.input_shape)
    peaks = np.concatenate([
        layer_outputs(net, layer, x[start:start + SCAN_BATCH])[layer][..., units].max(axis=(1, 2))
        for start in range(0, len(x), SCAN_BATCH)])
    out = {}
    for column, unit in enumerate(units):
        chosen = np.sort(np.lexsort((np.arange(len(x)), -peaks[:, column]))[:k])
        best = dataset_examples(model, layer, unit, x[chosen], k=k,
                                images=None if images is None else np.asarray(images)[chosen])
        out[unit] = replace(best, image_index=chosen[best.image_index], num_images=len(x))
    return out


def _class_indices(classes) -> set[int]:
    names = [classes] if isinstance(classes, str | int) else list(classes)
    indices = set()
    for name in names:
        if isinstance(name, str):
            if name not in shapes.CLASSES:
                raise ValueError(f"No shape class {name!r}; classes: {', '.join(shapes.CLASSES)}.")
            indices.add(shapes.CLASSES.index(name))
        else:
            indices.add(int(name))
    return indices


def holds_shape(scenes, image_index, boxes, classes,
                min_overlap: float = MIN_OVERLAP) -> np.ndarray:
    """Whether each patch holds an object of one of ``classes``.

    Patch p (scene n, box b) holds object o when |b ∩ o| >= min_overlap * min(|b|, |o|),
    with |b| counted over the image pixels only: a quarter (by default) of the object lies in
    the patch, or the object covers a quarter of the patch. The first is a large field
    around a small shape, the second a small field on a large one (a curve unit's field on
    the outline of a circle, say, is about half covered).

    Args:
        scenes: ``shapes.Scenes`` the patches were cut from.
        image_index: (P,) scene of each patch.
        boxes: (P, 4) (top, left, bottom, right) inclusive, as ``DatasetExamples.boxes``.
        classes: class names (or indices) of ``shapes.CLASSES``, e.g. ("circle", "ring").
        min_overlap: the threshold, in (0, 1].

    Returns:
        (P,) bool.
    """
    if not 0 < min_overlap <= 1:
        raise ValueError(f"min_overlap is a share of the patch or the object, in (0, 1]; "
                         f"got {min_overlap!r}.")
    wanted = _class_indices(classes)
    size = scenes.images.shape[1:3]
    inside = np.ones(size, bool)
    result = []
    for n, box in zip(np.asarray(image_index), np.asarray(boxes).reshape(-1, 4)):
        area = crop(inside, box, False).sum()
        result.append(any(
            crop(mask, box, False).sum() >= min_overlap * min(area, mask.sum()) > 0
            for c, mask in zip(scenes.classes[n], scenes.masks[n]) if c in wanted))
    return np.array(result, bool)


def shape_share(scenes, examples: DatasetExamples, classes,
                min_overlap: float = MIN_OVERLAP) -> float:
    """The share of ``examples``' patches (found in ``scenes``) that hold an object of one of
    ``classes`` (see ``holds_shape``)."""
    if not len(examples):
        raise ValueError("No patches to judge: examples is empty.")
    return float(holds_shape(scenes, examples.image_index, examples.boxes, classes,
                             min_overlap).mean())


def shape_base_rate(model, layer: str, scenes, classes, samples: int = 2000, seed: int = 0,
                    min_overlap: float = MIN_OVERLAP) -> float:
    """The share of random patches that hold an object of one of ``classes``: the receptive
    fields of ``samples`` units of ``layer`` drawn uniformly (scene, row, column) over
    ``scenes``. What ``shape_share`` gives a unit that ignores the shapes."""
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


def show_unit_examples(examples: dict, pictures: dict | None = None, count: int | None = None,
                       size: float = 1.3, title: str | None = None, labels: dict | None = None):
    """One row per unit: its feature visualization (``pictures[unit]``; a blank box if missing),
    then its top patches, strongest first, captioned with the activation. A small cross marks
    each patch's centre, where the unit sits (the patches are its full receptive field).

    Args:
        examples: {unit: DatasetExamples} (``top_examples``), all of one layer.
        pictures: {unit: RGB image}, e.g. ``feature_images``.
        count: show at most this many patches per unit (default: all).
        size: inches per panel.
        title: the figure's title (default: the layer and the number of images).
        labels: {unit: extra text} under the unit's name (e.g. "40% round").

    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt

    from helpers.circuits.figures import TITLE_FONTSIZE, _blank

    if not examples:
        raise ValueError("No units to show: examples is empty.")
    pictures, labels = pictures or {}, labels or {}
    count = max(len(e) for e in examples.values()) if count is None else check_count("count", count)
    rows, cols = len(examples), 1 + min(count, max(len(e) for e in examples.values()))
    # margins in inches (the unit's name on the left, titles above): a constrained layout of
    # this many small axes takes seconds
    left, gap, above, top = 1.0, 0.1, 0.3, 0.45
    width, height = left + cols * (size + gap), top + rows * (size + above)
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=left / width, right=1 - gap / width, bottom=0.05 / height,
                        top=1 - top / height, wspace=gap / size, hspace=above / size)
    for row, (unit, found) in enumerate(examples.items()):
        for ax in axes[row]:
            _blank(ax)
        picture = pictures.get(unit)
        if picture is None:
            _blank(axes[row, 0], "no picture")
        else:
            axes[row, 0].imshow(picture, interpolation="bilinear")
        axes[row, 0].set_title("feature vis.", fontsize=TITLE_FONTSIZE + 1)
        axes[row, 0].set_ylabel(f"unit {unit}" + (f"\n{labels[unit]}" if unit in labels else ""),
                                fontsize=9, rotation=0, ha="right", va="center")
        for ax, patch, caption in zip(axes[row, 1:], found.patches[:count], found.titles()):
            ax.imshow(patch, interpolation="nearest")
            h, w = patch.shape[:2]
            ax.plot([w / 2 - 0.5], [h / 2 - 0.5], marker="+", ms=9, mew=1.5, color="white")
            ax.plot([w / 2 - 0.5], [h / 2 - 0.5], marker="+", ms=7, mew=0.8, color="black")
            ax.set_title(caption, fontsize=TITLE_FONTSIZE)
    first = next(iter(examples.values()))
    fig.suptitle(title or f"{first.layer}: feature visualization and top patches in "
                          f"{first.num_images} images (+ = the unit)", fontsize=10)
    return fig
