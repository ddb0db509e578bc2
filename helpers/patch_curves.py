"""Deletion and insertion curves: does the score follow the patches a map calls important?

- ``deletion_curve``: remove the most salient patches first; the class probability should
  fall fast (low AUC);
- ``insertion_curve``: start from the image with its evidence removed (blurred) and put the
  most salient patches back first; the probability should come back fast (high AUC).

Both run one loop (``_ordered_patches``): at each step the top-ranked patches of one image
are replaced by those of another, and the variants go through the model in compiled batches.
Import them from ``helpers.faithfulness``, beside the pointing game and the sanity check.

References:
    Petsiuk et al., "RISE: Randomized Input Sampling for Explanation of Black-box Models"
    (BMVC 2018) for deletion and insertion; Samek et al., "Evaluating the Visualization of
    What a Deep Neural Network Has Learned" (IEEE TNNLS 2017) for removing patches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from helpers import cam
from helpers._core.inputs import BATCH_SIZE, check_count, check_positive, prepare
from helpers._core.progress import progress
from helpers.images import resize_maps

__all__ = ["DeletionCurve", "PatchCurve", "blur", "deletion_curve", "insertion_curve",
           "random_maps"]


@dataclass
class PatchCurve:
    """Class probability as the most salient patches are removed (deletion) or revealed
    (insertion) first.

    Attributes:
        method: what ordered the patches ("random order" for the baseline).
        fractions: (S + 1,) share of the image removed (inserted) at each step, from 0 up.
        scores: (N, S + 1) probability of each image's class at each step; (S + 1,) when
            one image was given.
        kind: "deletion" or "insertion".
    """

    method: str
    fractions: np.ndarray
    scores: np.ndarray
    kind: str = "deletion"

    @property
    def mean(self) -> np.ndarray:
        """The curve averaged over images (the curve itself for one image)."""
        return self.scores if self.scores.ndim == 1 else self.scores.mean(axis=0)

    @property
    def auc(self) -> float:
        """Area under the mean curve divided by the range covered: the mean probability
        along the way. Lower is better for deletion (the map found what the score rests
        on), higher for insertion (the map's first patches alone bring the score back)."""
        mean, steps = self.mean, np.diff(self.fractions)
        return float(np.sum(steps * (mean[1:] + mean[:-1]) / 2) / self.fractions[-1])

    def __str__(self) -> str:
        return f"{self.method:>16}: {self.kind} AUC {self.auc:.3f}"


#: The name deletion curves had before insertion joined them.
DeletionCurve = PatchCurve


def random_maps(n: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """(n, H, W) maps of independent uniform noise: a random pixel order, the baseline."""
    return np.random.default_rng(seed).random((n, *size), dtype=np.float32)


def blur(x, sigma: float) -> np.ndarray:
    """Gaussian blur of images (..., H, W, C) with standard deviation ``sigma`` pixels,
    separable, the borders reflected: insertion's starting image (Petsiuk et al. 2018)."""
    x = np.asarray(x, np.float32)
    for axis in (-3, -2):
        radius = min(int(np.ceil(3 * sigma)), x.shape[axis] - 1)
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        pad = [(0, 0)] * x.ndim
        pad[axis] = (radius, radius)
        padded, side = np.pad(x, pad, mode="reflect"), x.shape[axis]
        x = sum(w * np.take(padded, np.arange(t, t + side), axis=axis)
                for t, w in enumerate(taps / taps.sum()))
    return x.astype(np.float32)


def deletion_curve(model, x, classes, maps, method: str = "", steps: int = 16,
                   patch: int = 8, max_fraction: float = 1.0, seed: int = 0,
                   batch_size: int = BATCH_SIZE) -> PatchCurve:
    """Remove the image patch by patch in the order of ``maps`` (most salient first) and
    track the class probability.

    Patches, not single pixels: scattered single removed pixels act as noise that alone
    destroys a CNN's score, whatever their order, which would reward scattered maps. Every
    map (and the random baseline) is compared at the same patch size, scored by its mean
    over each patch (Samek et al.'s region perturbation). A removed patch takes the image's
    mean colour.

    Args:
        model: a ``VisModel`` or a Keras model (a final softmax is set aside: its logits'
            softmax is the same probability).
        x: one preprocessed image (H, W, C) or a batch (N, H, W, C).
        classes: a class name or index for all images, or one per image.
        maps: one heatmap per image, (h, w) or (N, h, w), at any resolution (upsampled to
            the image).
        method: label for the curve.
        steps: number of equal removal steps.
        patch: side of the square patches in pixels.
        max_fraction: share of the patches removed at the last step; below 1 when the
            objects are small and the interesting part of the curve is its start.
        seed: random tie-breaking between equal map values (e.g. all-zero regions).

    Raises:
        ValueError: maps and images do not match, or a parameter is out of range.
    """
    return _ordered_patches("deletion", model, x, classes, maps, method, steps, patch,
                            max_fraction, seed, batch_size)


def insertion_curve(model, x, classes, maps, method: str = "", steps: int = 16,
                    patch: int = 8, max_fraction: float = 1.0, start: str = "blur",
                    sigma: float | None = None, seed: int = 0,
                    batch_size: int = BATCH_SIZE) -> PatchCurve:
    """Deletion's mirror (Petsiuk et al. 2018): start from an image with the evidence
    removed and put the original patches back in the order of ``maps`` (most salient
    first), tracking the class probability. A map that found what the score rests on
    brings it back early: the AUC is *high*.

    The two can disagree: deletion asks what the score cannot do without, insertion what
    suffices for it, and each judges the map on images the model never saw in training
    (grey holes for deletion, blurred ones for insertion).

    Args:
        start: the image before any insertion: 'blur' (the image blurred with ``sigma``,
            RISE's choice: colours kept, shapes gone) or 'mean' (the image's mean colour,
            where deletion ends: then deletion's last score is insertion's first).
        sigma: the blur's standard deviation in pixels; default a twentieth of the image's
            shorter side (4.8 px at 96 px, 11.2 px at 224 px).
        Others as in ``deletion_curve``; ``fractions`` is the share of patches inserted.

    Raises:
        ValueError: maps and images do not match, or a parameter is out of range.
    """
    if start not in ("blur", "mean"):
        raise ValueError(f"start is 'blur' or 'mean'; got {start!r}.")
    return _ordered_patches("insertion", model, x, classes, maps, method, steps, patch,
                            max_fraction, seed, batch_size, start, sigma)


def _ordered_patches(kind, model, x, classes, maps, method, steps, patch, max_fraction, seed,
                     batch_size, start="mean", sigma=None) -> PatchCurve:
    """The one loop of deletion and insertion: at step s the ``removed[s]`` patches ranked
    most salient are taken from ``target``, the rest from ``source``; for deletion source is
    the image and target its mean colour, for insertion the other way round (or the blur)."""
    call = prepare(model, x, classes)
    x, classes = call.x, call.classes
    maps = np.asarray(maps, dtype=np.float32)
    if call.single and maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3 or len(maps) != len(x):
        raise ValueError(f"Give one 2-D map per image: got maps of shape {maps.shape} for "
                         f"{len(x)} images.")
    height, width = x.shape[1:3]
    steps, patch = check_count("steps", steps), check_count("patch", patch)
    if patch > min(height, width):
        raise ValueError(f"patch is a side in pixels from 1 to {min(height, width)}, got {patch}.")
    if not 0 < max_fraction <= 1:
        raise ValueError(f"max_fraction is a share of the image in (0, 1], got {max_fraction}.")
    flat = np.broadcast_to(x.mean(axis=(1, 2), keepdims=True), x.shape)
    if start == "blur":
        sigma = min(height, width) / 20 if sigma is None else check_positive("sigma", sigma)
        flat = blur(x, sigma)
    source, target = (x, flat) if kind == "deletion" else (flat, x)
    rows, cols = -(-height // patch), -(-width // patch)
    patch_of = (np.arange(height)[:, None] // patch) * cols + np.arange(width)[None] // patch
    fractions = np.linspace(0.0, max_fraction, steps + 1)
    removed = np.round(fractions * rows * cols).astype(int)
    pixels_per_patch = np.bincount(patch_of.ravel())
    tie_breaker = np.random.default_rng(seed).random((len(x), rows * cols)) * 1e-6
    upsampled = resize_maps(maps, (height, width))
    scores = np.zeros((len(x), steps + 1), dtype=np.float32)
    for i in progress(range(len(x)), desc=f"{kind} curves"):
        salience = np.bincount(patch_of.ravel(), upsampled[i].ravel()) / pixels_per_patch
        # rank 0 is the most salient patch; step s changes the patches ranked below removed[s]
        rank = np.empty(rows * cols, dtype=int)
        rank[np.argsort(-(salience + tie_breaker[i]))] = np.arange(rows * cols)
        changed = rank[patch_of][None] < removed[:, None, None]
        variants = np.where(changed[..., None], target[i], source[i]).astype(np.float32)
        scores[i] = cam.class_probabilities(call.net, variants, batch_size)[:, classes[i]]
    return PatchCurve(method, fractions, call.output(scores), kind)
