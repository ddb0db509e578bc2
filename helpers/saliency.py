"""Image gradients: which input pixels change a class score f_c the most.

The gradient of a class's logit with respect to the input image, taken at a real photo, is
the *image-gradient* or *saliency* map. This module computes it and three refinements, on
one preprocessed image (H, W, C) or a batch (N, H, W, C) (what ``vm.preprocess`` returns),
for the logit f_c; one image gives one map, a batch gives a batch:

- ``vanilla_gradient``: max over colour channels of |d f_c / d x| (Simonyan et al.).
- ``gradient_x_input``: the gradient times the input, a first-order attribution.
- ``smoothgrad``: the gradient averaged over noisy copies of the input (Smilkov et al.).
- ``integrated_gradients``: the gradient averaged along a straight path from a baseline to
  the input, times (input - baseline); the attributions add up to f_c(x) - f_c(baseline)
  (Sundararajan et al.).

SmoothGrad and Integrated Gradients evaluate the model on many inputs; they are stacked into
one batch and differentiated by one compiled call (``helpers._core.gradients``), not in a
Python loop. A model ending in a softmax is explained through its logits (the core's rule).
Measures and figures (``normalize_map``, ``mask_share``, ``grow_mask``, ``show_maps``,
``show_mask_shares``, ``show_share_bars``) live in ``saliency_figures``, the interactive viewer
(``saliency_explorer``, ``class_picker``) in ``saliency_explorer``; both are importable from
here.

References:
    Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks: Visualising Image
    Classification Models and Saliency Maps" (2013); Smilkov et al., "SmoothGrad: removing
    noise by adding noise" (2017); Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep
    Networks" (2017).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from helpers._core.gradients import input_gradients
from helpers._core.inputs import BATCH_SIZE, check_count, prepare
from helpers.saliency_explorer import SaliencyExplorer, class_picker, saliency_explorer
from helpers.saliency_figures import (grow_mask, mask_share, normalize_map, show_mask_shares,
                                      show_maps, show_share_bars)

__all__ = ["BATCH_SIZE", "METHODS", "IntegratedGradients", "SaliencyExplorer",
           "abs_sum_over_channels", "class_picker", "gradient_x_input", "grow_mask",
           "integrated_gradients", "mask_share", "max_abs_over_channels", "normalize_map",
           "path_points", "saliency_explorer", "saliency_map", "scores_and_gradients",
           "show_mask_shares", "show_maps", "show_share_bars", "smoothgrad", "vanilla_gradient"]

#: Method names accepted by ``saliency_map``, in the order the notebook shows them.
METHODS = ("vanilla", "gradient_x_input", "smoothgrad", "integrated_gradients")


# ---------------------------------------------------------------------------- gradients


def scores_and_gradients(model, x, cls, batch_size: int = BATCH_SIZE,
                         objective: str = "logit"):
    """Logits f_c and their input gradients d f_c / d x, in compiled calls.

    Args:
        model: a ``VisModel`` or a Keras model (a final softmax is removed, see
            ``helpers._core.model``).
        x: one preprocessed image (H, W, C) or a batch (N, H, W, C).
        cls: one class (name or index) for all images, or one per image.
        batch_size: inputs per compiled call; one call when N <= batch_size.
        objective: ``"logit"`` (f_c) or ``"softmax"`` (the probability p_c and its gradient).

    Returns:
        (scores (N,), gradients (N, H, W, C)) as NumPy arrays; (a float, (H, W, C)) for one
        image.

    Raises:
        ValueError: bad input, class, batch size or objective, or a model whose outputs are
            probabilities.
    """
    call = prepare(model, x, cls)
    batch_size = check_count("batch_size", batch_size)
    return call.output(input_gradients(call.net, call.x, call.classes, objective, batch_size))


def max_abs_over_channels(grads: np.ndarray) -> np.ndarray:
    """Simonyan et al.'s map: per pixel, the largest |value| over the colour channels."""
    return np.abs(grads).max(axis=-1)


def abs_sum_over_channels(attributions: np.ndarray) -> np.ndarray:
    """Per pixel, |sum of its channels' attributions|: attributions add, so a pixel's is the sum."""
    return np.abs(attributions.sum(axis=-1))


def vanilla_gradient(model, x, cls) -> np.ndarray:
    """Image-gradient map: max over colour channels of |d f_c / d x|.

    Args:
        model: a ``VisModel`` or a Keras model.
        x: preprocessed image (H, W, C) or batch (N, H, W, C).
        cls: class name or index (or one per image).

    Returns:
        (H, W) map, or (N, H, W) for a batch; >= 0.

    References:
        Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks" (2013).
    """
    call = prepare(model, x, cls)
    _, grads = input_gradients(call.net, call.x, call.classes)
    return call.output(max_abs_over_channels(grads))


def gradient_x_input(model, x, cls) -> np.ndarray:
    """Gradient times input, summed over channels, in absolute value: (H, W) or (N, H, W).

    |sum_k x_k d f_c / d x_k| per pixel, in the model's preprocessed space (for ``shapes``
    and MobileNet, 0 is mid-grey), so it is the first-order estimate of how f_c changes when
    a pixel is set to that zero.

    References:
        Shrikumar et al., "Not Just a Black Box: Learning Important Features Through
        Propagating Activation Differences" (2016).
    """
    call = prepare(model, x, cls)
    _, grads = input_gradients(call.net, call.x, call.classes)
    return call.output(abs_sum_over_channels(grads * call.x))


def smoothgrad(model, x, cls, noise: float = 0.15, samples: int = 32, seed: int = 0,
               batch_size: int = BATCH_SIZE) -> np.ndarray:
    """SmoothGrad: max over channels of |(1/n) sum_k d f_c / d x (x + e_k)|, e_k ~ N(0, s^2).

    All noisy copies of all images are differentiated together, in one compiled call when
    N * samples <= batch_size.

    Args:
        model: a ``VisModel`` or a Keras model.
        x: preprocessed image (H, W, C) or batch (N, H, W, C).
        cls: class name or index (or one per image).
        noise: s, the standard deviation of the Gaussian noise as a fraction of each image's
            value range (max - min); the paper finds 0.1 to 0.2 best. 0 gives the vanilla
            gradient up to float32 rounding: a batch of copies is summed in another order
            than one image (oneDNN picks kernels by batch size), and where a ReLU's input is
            within rounding of 0 its gate can flip, which moves the gradient of the pixels
            behind it. On MobileNet and the cat photo, one of the 50,176 units of the last
            ReLU (input about 1e-5) flips and the maps differ by 0.4 % of their maximum;
            compare them relative to the map's scale.
        samples: n, noisy copies per image.
        seed: seed of the noise, for repeatable maps.
        batch_size: inputs per compiled call.

    Returns:
        (H, W) or (N, H, W): max over channels of |mean gradient|.

    References:
        Smilkov et al., "SmoothGrad: removing noise by adding noise" (2017).
    """
    if not noise >= 0:
        raise ValueError(f"noise is a standard deviation (a fraction of the value range); "
                         f"it must be >= 0, got {noise}.")
    samples = check_count("samples", samples)
    batch_size = check_count("batch_size", batch_size)
    call = prepare(model, x, cls)
    batch = call.x
    spread = noise * (batch.max(axis=(1, 2, 3)) - batch.min(axis=(1, 2, 3)))
    # The same noise for every image: an image's map does not depend on its batch-mates.
    draws = np.random.default_rng(seed).standard_normal((samples,) + batch.shape[1:],
                                                        dtype=np.float32)
    noisy = batch[:, None] + spread[:, None, None, None, None] * draws[None]
    _, grads = input_gradients(call.net, noisy.reshape((-1,) + batch.shape[1:]),
                               np.repeat(call.classes, samples), batch_size=batch_size)
    mean_grads = grads.reshape(noisy.shape).mean(axis=1)
    return call.output(max_abs_over_channels(mean_grads))


@dataclass
class IntegratedGradients:
    """Integrated Gradients of one image and its completeness check.

    Attributes:
        attributions: (H, W, C) per-input attributions; they sum to about
            ``score - baseline_score``.
        score: f_c(x).
        baseline_score: f_c(baseline).
        steps: points on the path from the baseline to the image.
    """

    attributions: np.ndarray
    score: float
    baseline_score: float
    steps: int

    @property
    def map(self) -> np.ndarray:
        """(H, W) map: |sum over channels| of the attributions."""
        return abs_sum_over_channels(self.attributions)

    @property
    def total(self) -> float:
        """Sum of all attributions."""
        return float(self.attributions.sum())

    @property
    def completeness_error(self) -> float:
        """|total - (f_c(x) - f_c(baseline))| relative to |f_c(x) - f_c(baseline)|."""
        gap = self.score - self.baseline_score
        return abs(self.total - gap) / max(abs(gap), 1e-6)

    def __str__(self) -> str:
        return (f"attributions sum to {self.total:.3f}; f_c(x) - f_c(baseline) = "
                f"{self.score:.3f} - {self.baseline_score:.3f} = "
                f"{self.score - self.baseline_score:.3f}; relative error "
                f"{self.completeness_error:.2%} with {self.steps} steps")


def path_points(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points alpha_k in (0, 1) on the path and their weights, which sum to 1.

    The integral over alpha is taken with the change of variables alpha = t^2 and the
    midpoint rule in t: points crowd near the baseline, where the gradients of real networks
    change fastest (on MobileNet, 32 or 64 equal steps can miss the sum by 10 to 40 %; these
    points stay within a few percent). The limit is the same integral as with equal steps.
    """
    t = (np.arange(steps, dtype=np.float64) + 0.5) / steps
    return (t ** 2).astype(np.float32), (2 * t / steps).astype(np.float32)


def _baseline(baseline, image: np.ndarray) -> np.ndarray:
    base = np.zeros_like(image) if baseline is None else np.asarray(baseline, np.float32)
    if base.ndim == 4 and base.shape[0] == 1:
        base = base[0]
    if base.ndim not in (0, 3) or (base.ndim == 3 and base.shape != image.shape):
        raise ValueError(f"The baseline must be a number or shaped like the image "
                         f"{image.shape}; got shape {base.shape}.")
    if not np.all(np.isfinite(base)):
        raise ValueError("The baseline contains NaN or infinity.")
    return np.broadcast_to(base, image.shape)


def integrated_gradients(model, x, cls, baseline=None, steps: int = 64,
                         batch_size: int = BATCH_SIZE) -> IntegratedGradients:
    """Integrated Gradients along the straight path from ``baseline`` to ``x``.

    attributions = (x - baseline) * integral over alpha in [0, 1] of
    d f_c / d x at baseline + alpha (x - baseline). The integral is a weighted sum over
    ``steps`` points of the path (see ``path_points``), all differentiated in one compiled
    call when steps + 2 <= batch_size. Completeness: the attributions sum to
    f_c(x) - f_c(baseline) up to the error of that sum, which shrinks as ``steps`` grows.

    Args:
        model: a ``VisModel`` or a Keras model.
        x: one preprocessed image (H, W, C), or a batch (N, H, W, C).
        cls: class name or index, one for all images or one per image.
        baseline: an input of the same shape meaning "nothing", or a number filling one
            (default 0: mid-grey for inputs scaled to [-1, 1]; pass the preprocessed black
            image for a black baseline).
        steps: segments of the path.
        batch_size: inputs per compiled call.

    Returns:
        an ``IntegratedGradients`` with the attributions and the numbers of the check; for
        a batch, a list of them, one per image.

    References:
        Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks" (2017).
    """
    steps = check_count("steps", steps)
    batch_size = check_count("batch_size", batch_size)
    call = prepare(model, x, cls)
    results = [_integrated(call.net, image, cls_, baseline, steps, batch_size)
               for image, cls_ in zip(call.x, call.classes)]
    return results[0] if call.single else results


def _integrated(net, image, cls: int, baseline, steps: int, batch_size: int):
    base = _baseline(baseline, image)
    alphas, weights = path_points(steps)
    path = base + alphas[:, None, None, None] * (image - base)
    # The path's points and both ends in one batch: one call gives gradients and f_c(ends).
    inputs = np.concatenate([path, image[None], base[None]])
    scores, grads = input_gradients(net, inputs, np.full(len(inputs), cls, np.int32),
                                    batch_size=batch_size)
    attributions = (image - base) * np.tensordot(weights, grads[:steps], axes=1)
    return IntegratedGradients(attributions, float(scores[-2]), float(scores[-1]), steps)


def saliency_map(model, x, cls, method: str = "vanilla", **params) -> np.ndarray:
    """The map of ``x`` by ``method`` (one of ``METHODS``), with its parameters: (H, W) for
    one image, (N, H, W) for a batch.

    ``params`` go to the method: ``noise``, ``samples``, ``seed`` for SmoothGrad; ``baseline``,
    ``steps`` for Integrated Gradients.

    Raises:
        ValueError: unknown method, or a parameter that method does not take.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown saliency method {method!r}; choose one of {', '.join(METHODS)}.")
    unknown = set(params) - set(_PARAMETERS[method])
    if unknown:
        takes = ", ".join(_PARAMETERS[method]) or "no parameters"
        raise ValueError(f"{method} does not take {', '.join(sorted(unknown))}; it takes {takes}.")
    if method == "vanilla":
        return vanilla_gradient(model, x, cls)
    if method == "gradient_x_input":
        return gradient_x_input(model, x, cls)
    if method == "smoothgrad":
        return smoothgrad(model, x, cls, **params)
    result = integrated_gradients(model, x, cls, **params)
    return result.map if isinstance(result, IntegratedGradients) else np.stack(
        [r.map for r in result])


_PARAMETERS = {"vanilla": (), "gradient_x_input": (),
               "smoothgrad": ("noise", "samples", "seed", "batch_size"),
               "integrated_gradients": ("baseline", "steps", "batch_size")}
