"""Dataset examples of circuit units, and how often they hold a shape of given classes.

A unit's optimized image (``feature_images``) shows what it *could* respond to; its dataset
examples (``helpers.dataset_examples``) show what drives it most in real inputs. Olah et al.
(2017) pair the two for every unit; Cammarata et al. (2020) show them for curve detectors.

- ``example_images``: the images to search, chosen by model: the lab's scenes, whose masks
  say where each shape is, or windows of the sample photos for an ImageNet network.
- ``dataset_examples(model, layer, units, x)`` (one scan for several units) finds the patches,
  and ``holds_shape`` and ``shape_base_rate`` (both in ``helpers.dataset_examples``) count how
  many hold a shape in the lab.
- ``show_unit_examples``: one row per unit, its feature visualization beside its top patches.

References:
    Olah, Mordvintsev & Schubert, "Feature Visualization", Distill (2017);
    Cammarata et al., "Curve Detectors", Distill (2020).
"""

from __future__ import annotations

from helpers import shapes
from helpers._core.inputs import check_count
from helpers._core.model import keras_model
from helpers.dataset_examples import DatasetExamples, photo_windows
from helpers.images import SAMPLE_IMAGES

#: One-shape scenes that ``example_images`` renders for the lab.
LAB_SCENES = 1500


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


def show_unit_examples(examples: list[DatasetExamples], pictures: dict | None = None,
                       count: int | None = None,
                       size: float = 1.3, title: str | None = None, labels: dict | None = None):
    """One row per unit: its feature visualization (``pictures[unit]``; a blank box if missing),
    then its top patches, strongest first, captioned with the activation. A small cross marks
    each patch's centre, where the unit sits (the patches are its full receptive field).

    Args:
        examples: one ``DatasetExamples`` per unit, all of one layer (``dataset_examples``
            with a list of units).
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
    most = max(len(e) for e in examples)
    count = most if count is None else check_count("count", count)
    rows, cols = len(examples), 1 + min(count, most)
    # margins in inches (the unit's name on the left, titles above): a constrained layout of
    # this many small axes takes seconds
    left, gap, above, top = 1.0, 0.1, 0.3, 0.45
    width, height = left + cols * (size + gap), top + rows * (size + above)
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=left / width, right=1 - gap / width, bottom=0.05 / height,
                        top=1 - top / height, wspace=gap / size, hspace=above / size)
    for row, found in enumerate(examples):
        unit = found.unit
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
    first = examples[0]
    fig.suptitle(title or f"{first.layer}: feature visualization and top patches in "
                          f"{first.num_images} images (+ = the unit)", fontsize=10)
    return fig
