"""Gradient ascent in input space: the images that excite a filter, or a class, the most.

The lecture's update, with the weights of the CNN fixed and the image as the variable::

    I <- I + eta * grad f(I)

where f is the mean activation of one filter (channel) of a layer over the centre of its map,
a class's logit f_c, or its softmax probability. ``maximize`` runs it for many units at once:
one image per unit in a single batch, each image following the gradient of its own unit,
compiled with ``tf.function`` on a sub-model that stops at the layer. Convenience wrappers:
``maximize_filters`` (channels of a layer) and ``maximize_classes`` (class logits).

Plain gradient ascent gives high-frequency noise. The regularization ladder (``LADDER``) adds,
one rung at a time, what makes the pictures legible:

- ``"naive"``: the raw gradient with a fixed step eta (set once from the first gradient so the
  first step is as large as a normalised one);
- ``"normalized"``: "the trick", each step divides the gradient by its root mean square;
- ``"decay_blur"``: plus L2 decay (pull towards grey) and a Gaussian blur every few steps;
- ``"robust"``: plus transformation robustness (random jitter, scale, rotation each step);
- ``"fourier"``: plus an image parameterized in a decorrelated space: 1/f-scaled Fourier
  coefficients and decorrelated colours, squashed to valid RGB by a sigmoid.

Images are optimized as RGB in [-1, 1] (0 is mid-grey) whatever the model; the model's own
preprocessing (an affine map per pixel, e.g. VGG16's BGR mean subtraction) is applied inside
the graph, so one learning rate suits every model.

A filter after a ReLU that is silent on the whole starting image has a zero gradient. Such a
unit is woken (``Objective.wake``, on by default) by following its value before the ReLU until
it fires; a unit whose gradient stays zero anyway is reported with a warning, never as NaN.

References:
    Erhan, Bengio, Courville & Vincent, "Visualizing Higher-Layer Features of a Deep Network"
    (2009); Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks" (2013);
    Olah, Mordvintsev & Schubert, "Feature Visualization", Distill (2017); Mordvintsev et al.,
    "Differentiable Image Parameterizations", Distill (2018).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import warnings
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from helpers.images import deprocess_image
from helpers._core.graph import get_layer, is_conv, require_spatial

#: Square root of the colour covariance of ImageNet pixels (from Lucid): RGB = M @ decorrelated.
COLOR_CORRELATION_SQRT = np.array([[0.26, 0.09, 0.02],
                                   [0.27, 0.00, -0.05],
                                   [0.27, -0.09, 0.03]], dtype=np.float32)
_COLOR_MIX = COLOR_CORRELATION_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SQRT, axis=0))

OBJECTIVES = ("channel", "logit", "softmax")
NORMALIZE_MODES = ("every_step", "first_step", "adam")
_EPS = 1e-8
#: A gradient whose root mean square is below this is zero up to rounding (a typical one is
#: 1e-6 to 1e-2): the unit is reported as dead.
ZERO_GRADIENT = 1e-10
_BATCH_FIELDS = ("images", "inputs", "history", "initial", "final", "dead", "out_of_range",
                 "high_frequency")
_BLUR_RADIUS = 3  # taps on each side of the blur kernel: enough for sigma <= 1.5


def _check_positive_finite(name: str, value) -> None:
    try:
        ok = math.isfinite(float(value)) and float(value) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a finite positive number; got {value!r}. "
                         "Try 0.05 with normalised gradients.")


@dataclass(frozen=True)
class Objective:
    """What a unit's image should excite.

    Attributes:
        kind: ``"channel"`` (mean activation of one channel of ``layer`` over the centre of
            the map), ``"logit"`` (a class's pre-softmax score f_c) or ``"softmax"`` (its
            probability).
        layer: the layer of a ``"channel"`` objective; None for the classes.
        crop: share of the feature map's height and width left out on each side of a
            ``"channel"`` objective: border units see padding, and maximizing them draws the
            picture into the corners.
        wake: for a channel after a ReLU: while the ReLU outputs 0 over the whole centre (so
            its gradient is 0), follow the gradient of the value before the ReLU instead. This
            wakes filters that are silent on the starting image and, when minimizing, keeps
            pushing below zero. The objective itself (and ``history``) stays the activation.
            With ``wake=False`` such filters keep a zero gradient and are reported as dead.
    """

    kind: str = "channel"
    layer: str | None = None
    crop: float = 0.1
    wake: bool = True

    def __post_init__(self):
        if self.kind not in OBJECTIVES:
            raise ValueError(f"Unknown objective {self.kind!r}; choose one of {OBJECTIVES}.")
        if self.kind == "channel" and not self.layer:
            raise ValueError("A 'channel' objective needs a layer: "
                             "Objective('channel', 'block3_conv1').")
        if not 0.0 <= self.crop < 0.5:
            raise ValueError(f"crop is the share cut from each side, in [0, 0.5); got {self.crop}.")

    def describe(self) -> str:
        return {"channel": f"mean of {self.layer}[:, :, k]", "logit": "logit f_c",
                "softmax": "softmax probability p_c"}[self.kind]


@dataclass(frozen=True)
class Regularization:
    """One rung of the regularization ladder: how each step changes the image.

    Attributes:
        name: a label for figures.
        normalize: ``"every_step"`` divides every gradient by its root mean square (per image),
            so each step moves pixels by about ``lr``; ``"first_step"`` is plain gradient
            ascent, eta = lr / rms(first gradient) kept fixed; ``"adam"`` divides each
            parameter's gradient by its own running scale (Adam, as Lucid does; this keeps
            the Fourier rung's 1/f scaling from being applied twice).
        lr: default learning rate (eta) for this rung, in units of the [-1, 1] image.
        l2: L2 decay: the image is multiplied by (1 - l2) after each step.
        blur_every: blur the image every this many steps (0: never).
        blur_sigma: standard deviation of that Gaussian blur, in pixels.
        jitter: random shift of up to this many pixels each step.
        scale: random zoom factor in [1 - scale, 1 + scale] each step.
        rotate: random rotation in [-rotate, rotate] degrees each step.
        fourier: optimize 1/f-scaled Fourier coefficients instead of pixels.
        decorrelate: optimize decorrelated colour channels (RGB images only).
    """

    name: str = "custom"
    normalize: str = "every_step"
    lr: float = 0.05
    l2: float = 0.0
    blur_every: int = 0
    blur_sigma: float = 0.5
    jitter: int = 0
    scale: float = 0.0
    rotate: float = 0.0
    fourier: bool = False
    decorrelate: bool = False

    def __post_init__(self):
        if self.normalize not in NORMALIZE_MODES:
            raise ValueError(f"normalize must be one of {NORMALIZE_MODES}; got {self.normalize!r}.")
        _check_positive_finite("lr", self.lr)
        checks = {"l2": 0 <= self.l2 < 1, "blur_every": self.blur_every >= 0,
                  "blur_sigma": 0 < self.blur_sigma <= 1.5, "jitter": self.jitter >= 0,
                  "scale": 0 <= self.scale < 0.5, "rotate": 0 <= self.rotate <= 90}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                f"Regularization {bad[0]}={getattr(self, bad[0])!r} is out of range: l2 in [0, 1), "
                "blur_every >= 0, blur_sigma in (0, 1.5], jitter >= 0, scale in [0, 0.5), "
                "rotate in [0, 90] degrees."
            )

    @property
    def transforms(self) -> bool:
        return bool(self.jitter or self.scale or self.rotate)

    def with_(self, **changes) -> Regularization:
        """A copy with some fields changed, e.g. ``LADDER['robust'].with_(jitter=8)``."""
        return dataclasses.replace(self, **changes)


#: The ladder, rung by rung; each adds to the one before it.
LADDER = {
    "naive": Regularization("naive", normalize="first_step"),
    "normalized": Regularization("normalized"),
    "decay_blur": Regularization("decay_blur", l2=0.02, blur_every=4, blur_sigma=0.5),
    "robust": Regularization("robust", l2=0.02, blur_every=4, blur_sigma=0.5,
                             jitter=4, scale=0.1, rotate=10),
    "fourier": Regularization("fourier", normalize="adam", lr=0.05, jitter=4, scale=0.1,
                              rotate=10, fourier=True, decorrelate=True),
}


def get_regularization(reg: str | Regularization = "normalized", **changes) -> Regularization:
    """A rung of ``LADDER`` by name (or a ``Regularization`` as is), with optional changes.

    Raises:
        ValueError: unknown rung name; the message lists them.
    """
    if isinstance(reg, Regularization):
        return reg.with_(**changes) if changes else reg
    if reg not in LADDER:
        raise ValueError(f"Unknown regularization {reg!r}; choose one of {', '.join(LADDER)} "
                         "or pass a helpers.ascent.Regularization(...).")
    return LADDER[reg].with_(**changes) if changes else LADDER[reg]


@dataclass
class AscentResult:
    """What ``maximize`` returns.

    Attributes:
        images: displayable RGB ``uint8`` images, one per unit, (N, H, W, 3).
        inputs: the optimized images as the model sees them (after its preprocessing),
            float32 (N, H, W, C): ``model(inputs)`` reproduces the scores.
        history: the objective at every step (before that step's update), (steps, N).
        initial: the objective for the starting images, (N,).
        final: the objective for the final images, untransformed, (N,).
        units: the filter or class index of each image.
        objective: what was maximized.
        regularization: the rung used.
        minimize: whether the objective was minimized instead.
        dead: units whose gradient was zero at every step (their image never changed).
        seconds: wall-clock time of the optimization.
        out_of_range: share of each image's pixel values outside what a real image can hold
            (beyond black or white), (N,). Unconstrained ascent buys activation this way.
        high_frequency: share of each image's contrast energy at high spatial frequencies
            (``high_frequency_share``), (N,): about 0.8 for white noise, near 0 for smooth
            images. Plain ascent's pixel-level noise shows here.
    """

    images: np.ndarray
    inputs: np.ndarray
    history: np.ndarray
    initial: np.ndarray
    final: np.ndarray
    units: tuple[int, ...]
    objective: Objective
    regularization: Regularization
    minimize: bool = False
    dead: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    seconds: float = 0.0
    out_of_range: np.ndarray = field(default_factory=lambda: np.zeros(0))
    high_frequency: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def titles(self, fmt: str = "{unit}: {final:.2f}", names=None) -> list[str]:
        """One caption per image; ``fmt`` may use {unit}, {name}, {initial} and {final}."""
        return [fmt.format(unit=u, name=names[u] if names is not None else u,
                           initial=a, final=b)
                for u, a, b in zip(self.units, self.initial, self.final)]


def maximize(model, objective: Objective, units, *, steps: int = 30, lr: float | None = None,
             regularization: str | Regularization = "normalized", size=None, init="noise",
             seed: int = 0, minimize: bool = False, batch_size: int = 64,
             preprocess=None, warn_dead: bool = True) -> AscentResult:
    """Grow one image per unit by gradient ascent on ``objective``, all units in one batch.

    Args:
        model: a ``VisModel`` or a Keras model (its output must be logits for class objectives).
        objective: what to maximize (see ``Objective``).
        units: filter indices of the layer, or class indices (class names too for a VisModel).
        steps: number of gradient steps.
        lr: learning rate eta (default: the rung's ``lr``); with normalised gradients, about
            how far each pixel moves per step in the [-1, 1] image.
        regularization: a rung name of ``LADDER`` or a ``Regularization``.
        size: image (height, width) or an int; default: the model's input size.
        init: ``"noise"`` (grey plus small noise), ``"zeros"`` (flat grey), or uint8 RGB
            image(s) (H, W, 3) or (N, H, W, 3) to start from (pixel parameterization only).
        seed: random seed; each unit's starting noise depends only on (seed, unit) and each
            step's transformation only on (seed, step), so batching does not change results.
        minimize: minimize instead (the image that silences the unit the most).
        batch_size: units optimized together; more are done in several batches.
        preprocess: maps uint8-range RGB to the model's input (must be affine per pixel);
            default: the VisModel's own, or x / 127.5 - 1 for a bare Keras model.
        warn_dead: warn about units whose gradient stays zero.

    Returns:
        An ``AscentResult``.

    Raises:
        ValueError: an out-of-range unit, a non-spatial layer, steps <= 0, a learning rate
            that is not a finite positive number, or an ascent that diverged (lower ``lr``).
    """
    keras_model, preprocess, class_index = model_parts(model, preprocess)
    reg = get_regularization(regularization)
    lr = reg.lr if lr is None else lr
    _check_positive_finite("lr", lr)
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps <= 0:
        raise ValueError(f"steps must be a positive integer; got {steps!r}.")
    if not isinstance(batch_size, int | np.integer) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
    channels = int(keras_model.inputs[0].shape[-1])
    height, width = _image_size(keras_model, size)
    units = _check_units(keras_model, objective, units, class_index)
    if reg.fourier and not isinstance(init, str):
        raise ValueError("Starting from an image needs the pixel parameterization; use a rung "
                         "without fourier=True, or init='noise'.")
    if reg.decorrelate and channels != 3:
        reg = reg.with_(decorrelate=False)  # colour decorrelation only means something for RGB
    start_images = _init_images(init, len(units), height, width, channels)

    graph = _compiled_ascent(keras_model, objective, reg, (height, width, channels),
                             affine_preprocessing(preprocess, channels))
    start = time.perf_counter()
    with _quiet_tracing():
        parts = [_ascend_batch(graph, units[i:i + batch_size], reg, steps, lr, init,
                               None if start_images is None else start_images[i:i + batch_size],
                               seed, -1.0 if minimize else 1.0)
                 for i in range(0, len(units), batch_size)]
    seconds = time.perf_counter() - start
    images, inputs, history, initial, final, dead, out_of_range, high_frequency = (
        np.concatenate(pieces, axis=1 if name == "history" else 0)
        for name, pieces in zip(_BATCH_FIELDS, zip(*parts)))
    if warn_dead and dead.any():
        _warn_dead(objective, [int(u) for u, d in zip(units, dead) if d])
    return AscentResult(images, inputs, history, initial, final, tuple(int(u) for u in units),
                        objective, reg, minimize, dead, seconds, out_of_range, high_frequency)


def maximize_filters(model, layer: str, filters=None, *, crop: float = 0.1, wake: bool = True,
                     **kwargs) -> AscentResult:
    """Images that maximize filters (channels) of ``layer``: ``maximize`` with a channel
    objective (``crop`` and ``wake`` as in ``Objective``). ``filters`` defaults to all of
    them; other keywords go to ``maximize``."""
    objective = Objective("channel", layer, crop, wake)
    if filters is None:
        keras_model = model_parts(model, kwargs.get("preprocess"))[0]
        filters = range(_num_channels(keras_model, layer))
    return maximize(model, objective, filters, **kwargs)


def maximize_classes(model, classes, *, objective: str = "logit", init="zeros",
                     **kwargs) -> AscentResult:
    """Images that maximize class scores: ``objective`` is ``"logit"`` (f_c, the default)
    or ``"softmax"`` (p_c). ``classes`` are indices, or names for a VisModel. Starts from a
    flat grey image by default, as in the lecture; other keywords go to ``maximize``."""
    if objective not in ("logit", "softmax"):
        raise ValueError(f"A class objective is 'logit' or 'softmax'; got {objective!r}.")
    return maximize(model, Objective(objective), classes, init=init, **kwargs)


def num_filters(model, layer: str) -> int:
    """How many filters (output channels) the spatial layer ``layer`` has."""
    return _num_channels(model_parts(model, None)[0], layer)


def high_frequency_share(images, cutoff: float = 0.25) -> np.ndarray:
    """Share of each image's contrast energy at spatial frequencies above ``cutoff`` cycles per
    pixel (0.5 is the finest, a checkerboard), from its 2-D Fourier transform:

        sum_{|f| > cutoff} |F(f)|^2 / sum_{f != 0} |F(f)|^2,   F the FFT of each channel

    The mean of each channel is left out, so a flat image counts as nothing. White noise spreads
    its energy evenly, about 1 - pi cutoff^2 = 0.80 of it above the default cutoff; a photo's
    falls off as 1/f^2 and keeps only a few percent there. Pixel-level noise is what unregularized
    gradient ascent adds, and what this number catches even when a display stretch hides it.

    Args:
        images: (N, H, W, C) or (H, W, C) numbers, any range.
        cutoff: in cycles per pixel, in (0, 0.5).

    Returns:
        (N,) shares in [0, 1] (0 for a constant image).
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4:
        raise ValueError(f"Expected images (N, H, W, C) or (H, W, C); got shape {images.shape}.")
    if not 0 < cutoff < 0.5:
        raise ValueError(f"cutoff is in cycles per pixel, in (0, 0.5); got {cutoff}.")
    images = images - images.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(images, axes=(1, 2))) ** 2
    fy = np.fft.fftfreq(images.shape[1])[:, None]
    fx = np.fft.fftfreq(images.shape[2])[None, :]
    high = (np.sqrt(fx ** 2 + fy ** 2) > cutoff)[None, :, :, None]
    total = power.sum(axis=(1, 2, 3))
    return np.divide((power * high).sum(axis=(1, 2, 3)), total, out=np.zeros_like(total),
                     where=total > 1e-20)  # a constant image: rounding only


def image_from_input(model, x, preprocess=None) -> np.ndarray:
    """Deprocess a model input (H, W, C) or (1, H, W, C) for display: undo the model's
    preprocessing (so VGG16's BGR becomes RGB) and call ``images.deprocess_image``."""
    keras_model, preprocess, _ = model_parts(model, preprocess)
    x = np.asarray(x, dtype=np.float32)
    matrix, bias = affine_preprocessing(preprocess, x.shape[-1])
    rgb = (x - bias) @ np.linalg.inv(matrix).T
    return deprocess_image(rgb)


def layer_model(model, layer: str | None, size=None) -> keras.Model:
    """The Keras model cut at ``layer``'s output (the whole model for None), taking images of
    ``size`` (an int or (height, width); default: the model's own input size).

    Other sizes reuse the same layers (and weights) on a new input; fully convolutional
    parts accept any size. The result has one input and one output tensor.

    Raises:
        ValueError: unknown layer, or a model whose layers only accept their own size.
    """
    keras_model = model_parts(model)[0]
    shape = (*_image_size(keras_model, size), int(keras_model.inputs[0].shape[-1]))
    tensor = get_layer(keras_model, layer).output if layer else keras_model.outputs[0]
    return _truncated_model(keras_model, tensor, shape, layer or "output")


# --- models, their preprocessing, and checks on the inputs -----------------------------------

def model_parts(model, preprocess=None):
    """(Keras model, preprocessing function, class-index function or None) of a VisModel or
    a bare Keras model, whose preprocessing defaults to x / 127.5 - 1.

    Raises:
        TypeError: ``model`` is neither.
    """
    if isinstance(model, keras.Model):
        default = lambda x: np.asarray(x, np.float32) / 127.5 - 1.0  # noqa: E731
        return model, preprocess or default, None
    if hasattr(model, "model") and hasattr(model, "preprocess_fn"):
        return model.model, preprocess or model.preprocess_fn, model.class_index
    raise TypeError(f"Expected a VisModel or a keras.Model; got a {type(model).__name__}.")


def _image_size(model: keras.Model, size) -> tuple[int, int]:
    native = tuple(model.inputs[0].shape[1:3])
    if size is None:
        if None in native:
            raise ValueError(f"Model {model.name!r} accepts any image size; pass size=(H, W).")
        return native
    height, width = (size, size) if isinstance(size, int | np.integer) else tuple(size)
    if height < 8 or width < 8:
        raise ValueError(f"Image size must be at least 8 x 8 pixels; got {size}.")
    return int(height), int(width)


def _num_channels(model: keras.Model, layer: str) -> int:
    found = require_spatial(model, layer)
    if isinstance(found, keras.layers.InputLayer):
        raise ValueError(f"{layer!r} is the input layer; pick a convolutional layer after it.")
    return int(found.output.shape[-1])


def _check_units(model, objective: Objective, units, class_index) -> np.ndarray:
    units = [units] if isinstance(units, int | np.integer | str) else list(units)
    if not units:
        raise ValueError("Give at least one unit (a filter or class index).")
    if objective.kind == "channel":
        count, what = _num_channels(model, objective.layer), f"layer {objective.layer!r}"
        noun, nouns = "filter", "filters"
    else:
        count, what = int(model.outputs[0].shape[-1]), f"model {model.name!r}"
        noun, nouns = "class", "classes"
        if class_index is not None:
            units = [class_index(u) for u in units]
    for unit in units:
        if isinstance(unit, str) or isinstance(unit, bool) or not float(unit).is_integer():
            raise ValueError(f"{noun.capitalize()} {unit!r} is not an index; class names need "
                             "a VisModel (helpers.load_model(...)).")
        if not 0 <= int(unit) < count:
            raise ValueError(f"{noun.capitalize()} index {unit} is out of range: {what} has "
                             f"{count} {nouns} (0 to {count - 1}).")
    return np.asarray(units, dtype=np.int32)


def _init_images(init, n, height, width, channels):
    """Starting images in [-1, 1], or None for the seeded noise / grey starts."""
    if isinstance(init, str):
        if init not in ("noise", "zeros"):
            raise ValueError(f"init must be 'noise', 'zeros' or uint8 image(s); got {init!r}.")
        return None
    images = np.asarray(init)
    if images.ndim == 3:
        images = np.broadcast_to(images, (n, *images.shape))
    if images.shape != (n, height, width, channels):
        raise ValueError(f"init images must be ({height}, {width}, {channels}) or "
                         f"({n}, {height}, {width}, {channels}); got {images.shape}.")
    return images.astype(np.float32) / 127.5 - 1.0


def affine_preprocessing(preprocess, channels: int = 3):
    """(matrix, bias) with preprocess(u) = u @ matrix.T + bias per pixel, u in [0, 255].

    Raises:
        ValueError: the preprocessing is not affine per pixel.
    """
    def apply(u):
        return np.asarray(preprocess(np.asarray(u, np.float32)), np.float64).reshape(-1, channels)

    bias = apply(np.zeros((1, 1, 1, channels)))[0]
    matrix = np.stack([apply(255.0 * np.eye(channels)[c].reshape(1, 1, 1, channels))[0] - bias
                       for c in range(channels)], axis=1) / 255.0
    probe = np.random.default_rng(0).uniform(0, 255, (1, 2, 2, channels))
    if not np.allclose(apply(probe), probe.reshape(-1, channels) @ matrix.T + bias,
                       rtol=1e-4, atol=1e-3 * (1 + np.abs(bias).max())):
        raise ValueError("The model's preprocessing is not an affine map per pixel; pass "
                         "preprocess= a function that is (scaling, shifting, channel swaps).")
    return matrix.astype(np.float32), bias.astype(np.float32)


def _warn_dead(objective: Objective, dead_units) -> None:
    if objective.kind != "channel":
        what, why = f"Class(es) {dead_units}", "the score does not depend on the input here."
    elif objective.wake:
        what = f"Filter(s) {dead_units} of {objective.layer!r}"
        why = ("the value does not depend on the input (before the ReLU too, e.g. a filter "
               "that only reads all-zero weights): dead for every input.")
    else:
        what = f"Filter(s) {dead_units} of {objective.layer!r}"
        why = ("the ReLU outputs 0 on the whole centre of this start. wake=True (the default) "
               "follows the value before the ReLU until the filter fires.")
    warnings.warn(f"{what} got a zero gradient at every step, so the image never changed "
                  f"(no NaN: nothing was divided by it): {why}", RuntimeWarning, stacklevel=3)


# --- the compiled ascent -----------------------------------------------------------------------

class _AscentGraph:
    """The compiled pieces for one (model, objective, parameterization, image shape)."""

    def __init__(self, model, objective, reg, shape, affine):
        self.shape = shape
        self.objective = objective
        self.fourier, self.decorrelate = reg.fourier, reg.decorrelate
        if objective.kind == "channel":
            tensor, self.activation = _pre_activation(model, objective.layer)
        else:
            tensor, self.activation = model.outputs[0], None
        self.net = _truncated_model(model, tensor, shape, objective.layer or "output")
        matrix, bias = affine
        # image z in [-1, 1] -> u = 127.5 (z + 1) in [0, 255] -> model input u @ M.T + b
        self.in_matrix = tf.constant(127.5 * matrix.T)
        self.in_bias = tf.constant(127.5 * matrix.sum(axis=1) + bias)
        height, width, _ = shape
        self.spectrum_scale = tf.constant(_spectrum_scale(height, width))
        self.step = tf.function(self._step, reduce_retracing=True)
        self.evaluate = tf.function(self._evaluate, reduce_retracing=True)
        self.to_image = tf.function(self._to_image, reduce_retracing=True)

    def _to_image(self, param):
        """The [-1, 1] image of a parameter tensor (identity for pixels)."""
        if not self.fourier:
            return param
        height, width, channels = self.shape
        spectrum = tf.complex(param[..., 0], param[..., 1]) * tf.cast(self.spectrum_scale,
                                                                      tf.complex64)
        image = tf.signal.irfft2d(spectrum, fft_length=[height, width]) / 4.0  # (N, C, H, W)
        image = tf.transpose(image, [0, 2, 3, 1])
        if self.decorrelate:
            image = image @ tf.constant(_COLOR_MIX.T)
        return 2.0 * tf.sigmoid(image) - 1.0

    def _score(self, image, units):
        """The objective of each image for its own unit, and what its gradient follows
        (they differ only for a silent unit that ``wake`` drives by its pre-activation)."""
        out = self.net(image @ self.in_matrix + self.in_bias, training=False)
        if self.objective.kind != "channel":
            if self.objective.kind == "softmax":
                out = tf.nn.softmax(out, axis=-1)
            score = tf.gather(out, units, axis=-1, batch_dims=1)
            return score, score
        maps = tf.gather(out, units, axis=-1, batch_dims=1)[..., None]
        if self.activation is None:
            score = self._centre_mean(maps)
            return score, score
        score = self._centre_mean(self.activation(maps))
        if not self.objective.wake:
            return score, score
        return score, tf.where(score > 0, score, self._centre_mean(maps))

    def _centre_mean(self, maps):
        h, w = maps.shape[1], maps.shape[2]
        ch = min(int(round(self.objective.crop * h)), (h - 1) // 2)
        cw = min(int(round(self.objective.crop * w)), (w - 1) // 2)
        return tf.reduce_mean(maps[:, ch:h - ch, cw:w - cw], axis=[1, 2, 3])

    def _evaluate(self, param, units):
        return self._score(self._to_image(param), units)[0]

    def _step(self, param, moments, units, t, seed, sign, lr, mode, fixed_scale, hyper):
        """One update of every image: returns (new param, new Adam moments, objective,
        gradient rms). ``mode``: 0 normalised gradient, 1 fixed per-image eta, 2 Adam."""
        with tf.GradientTape() as tape:
            tape.watch(param)
            image = self._to_image(param)
            image = tf.cond(hyper["transform"], lambda: _random_transform(image, seed, t, hyper),
                            lambda: image)
            score, drive = self._score(image, units)
            loss = sign * tf.reduce_sum(drive)
        grad = tape.gradient(loss, param)
        rms = tf.sqrt(tf.reduce_mean(tf.square(grad), axis=list(range(1, grad.shape.rank))))
        per_image = tf.where(tf.equal(mode, 0), 1.0 / (rms + _EPS), fixed_scale)
        per_image = tf.reshape(per_image, [-1] + [1] * (grad.shape.rank - 1))
        update, moments = tf.cond(tf.equal(mode, 2), lambda: _adam(grad, moments, t),
                                  lambda: (per_image * grad, moments))
        param = param + lr * update
        if not self.fourier:
            param = param * (1.0 - hyper["l2"])
            every = tf.maximum(hyper["blur_every"], 1)
            blur_now = (hyper["blur_every"] > 0) & (t % every == every - 1)
            param = tf.cond(blur_now, lambda: _gaussian_blur(param, hyper["blur_sigma"]),
                            lambda: param)
        return param, moments, score, rms


def _adam(grad, moments, t, beta1=0.9, beta2=0.999):
    """Adam's step direction: each parameter's gradient divided by its own running scale."""
    mean, square = moments
    mean = beta1 * mean + (1 - beta1) * grad
    square = beta2 * square + (1 - beta2) * tf.square(grad)
    count = tf.cast(t + 1, tf.float32)
    update = (mean / (1 - beta1 ** count)) / (tf.sqrt(square / (1 - beta2 ** count)) + _EPS)
    return update, (mean, square)


@contextlib.contextmanager
def _quiet_tracing():
    """Each new layer, rung or image size traces a graph anew, on purpose; TensorFlow's
    warning about frequent retracing is meant for accidents and would only alarm students."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


_GRAPHS: list[tuple[tuple, keras.Model, _AscentGraph]] = []  # small cache: retracing costs seconds
_MAX_GRAPHS = 8


def _compiled_ascent(model, objective, reg, shape, affine) -> _AscentGraph:
    key = (objective, reg.fourier, reg.decorrelate, shape, affine[0].tobytes(),
           affine[1].tobytes())
    for cached_key, cached_model, graph in _GRAPHS:
        if cached_model is model and cached_key == key:
            return graph
    graph = _AscentGraph(model, objective, reg, shape, affine)
    _GRAPHS.insert(0, (key, model, graph))
    del _GRAPHS[_MAX_GRAPHS:]
    return graph


def _pre_activation(model: keras.Model, name: str):
    """(the tensor that ``name``'s ReLU is applied to, that ReLU as a function), or
    (``name``'s output, None) for a layer that does not end in a ReLU."""
    layer = get_layer(model, name)
    try:
        if isinstance(layer, keras.layers.ReLU) or (
                isinstance(layer, keras.layers.Activation) and _ends_in_relu(layer)):
            return layer.input, layer
        if is_conv(layer) and _ends_in_relu(layer):
            # the same convolution without its activation, on the same input tensor
            config = dict(layer.get_config(), activation="linear", name=f"{name}_pre_relu")
            linear = type(layer).from_config(config)
            tensor = linear(layer.input)
            linear.set_weights(layer.get_weights())
            return tensor, layer.activation
    except (AttributeError, ValueError):  # a layer called more than once has no single input
        pass
    return layer.output, None


def _ends_in_relu(layer) -> bool:
    return getattr(getattr(layer, "activation", None), "__name__", "") in ("relu", "relu6")


def _truncated_model(model: keras.Model, tensor, shape, name: str) -> keras.Model:
    """The model from its input to ``tensor``, accepting images of ``shape``, with one input
    and one output tensor (so that ``net(x)`` returns a tensor, with no structure warning)."""
    try:
        net = keras.Model(model.inputs[0], tensor, name=f"{model.name}_to_{name}")
    except ValueError as err:
        raise ValueError(f"Cannot cut model {model.name!r} at {name!r} ({err}). Layers inside "
                         "a nested model: pass the nested model itself.") from None
    if tuple(net.inputs[0].shape[1:]) != tuple(shape):
        try:  # the same layers (same weights) called on an input of the new size
            net = keras.models.clone_model(net, input_tensors=keras.Input(shape),
                                           clone_function=lambda layer: layer)
        except Exception as err:  # noqa: BLE001 - any failure means: this model has a fixed size
            raise ValueError(f"Model {model.name!r} only accepts "
                             f"{tuple(net.inputs[0].shape[1:3])} images ({err}); "
                             "pass size=None.") from None
    return net


def _ascend_batch(graph: _AscentGraph, units, reg, steps, lr, init, start, seed, sign):
    n = len(units)
    height, width, channels = graph.shape
    units_t = tf.constant(units)
    param = tf.constant(_initial_param(graph, units, init, start, seed))
    hyper = {"l2": tf.constant(reg.l2, tf.float32),
             "blur_every": tf.constant(reg.blur_every, tf.int32),
             "transform": tf.constant(reg.transforms),
             "blur_sigma": tf.constant(reg.blur_sigma, tf.float32),
             "jitter": tf.constant(reg.jitter, tf.float32),
             "scale": tf.constant(reg.scale, tf.float32),
             "rotate": tf.constant(math.radians(reg.rotate), tf.float32)}
    args = dict(units=units_t, seed=tf.constant(seed, tf.int32), sign=tf.constant(sign),
                lr=tf.constant(float(lr)), hyper=hyper)
    initial = graph.evaluate(param, units_t).numpy()
    history, rms_seen = np.zeros((steps, n), np.float32), np.zeros(n, np.float32)
    fixed_scale = tf.zeros(n)
    moments = (tf.zeros_like(param), tf.zeros_like(param))
    for t in range(steps):
        mode = {"every_step": 0, "first_step": 0 if t == 0 else 1, "adam": 2}[reg.normalize]
        param, moments, score, rms = graph.step(param, moments, t=tf.constant(t),
                                                mode=tf.constant(mode),
                                                fixed_scale=fixed_scale, **args)
        history[t], rms = score.numpy(), rms.numpy()
        rms_seen = np.maximum(rms_seen, rms)
        if t == 0:  # plain ascent keeps the first step's eta for good; a dead unit stays put
            fixed_scale = tf.constant(np.where(rms >= ZERO_GRADIENT, 1.0 / (rms + _EPS), 0.0),
                                      tf.float32)
    final = graph.evaluate(param, units_t).numpy()
    image = graph.to_image(param).numpy()
    if not (np.isfinite(image).all() and np.isfinite(final).all()):
        raise ValueError(f"Gradient ascent diverged (NaN or infinity) with lr={lr}; lower the "
                         "learning rate or use normalised gradients (regularization='normalized').")
    inputs = image @ graph.in_matrix.numpy() + graph.in_bias.numpy()
    shown = (np.stack([np.round((im + 1) * 127.5).clip(0, 255).astype(np.uint8)
                       for im in image]) if reg.fourier else
             np.stack([deprocess_image(im) for im in image]))
    if channels == 1 and shown.shape[-1] != 3:
        shown = np.repeat(shown, 3, axis=-1)
    out_of_range = np.mean(np.abs(image) > 1.0 + 1e-6, axis=(1, 2, 3))
    return (shown, inputs.astype(np.float32), history, initial, final, rms_seen < ZERO_GRADIENT,
            out_of_range, high_frequency_share(image))


def _initial_param(graph: _AscentGraph, units, init, start, seed) -> np.ndarray:
    """Starting parameters; the noise of each unit depends on (seed, unit) only."""
    height, width, channels = graph.shape
    if graph.fourier:
        shape = (channels, height, width // 2 + 1, 2)
        scale = 0.0 if init == "zeros" else 0.01
        return np.stack([scale * np.random.default_rng([seed, int(u)]).standard_normal(shape)
                         for u in units]).astype(np.float32)
    if start is not None:
        return np.asarray(start, np.float32)
    scale = 0.0 if init == "zeros" else 0.2
    return np.stack([scale * np.random.default_rng([seed, int(u)]).uniform(-1, 1, graph.shape)
                     for u in units]).astype(np.float32)


def _spectrum_scale(height: int, width: int) -> np.ndarray:
    """1 / frequency for each coefficient of a real 2-D FFT: natural images' spectrum falls
    as 1/f, so equal steps on these coefficients give image changes of natural statistics."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    freq = np.sqrt(fx ** 2 + fy ** 2)
    scale = np.sqrt(height * width) / np.maximum(freq, 1.0 / max(height, width))
    return scale.astype(np.float32)


def _random_transform(image, seed, t, hyper):
    """One random jitter + zoom + rotation, the same for the whole batch at step ``t``,
    with reflected borders so no blank edge appears."""
    height, width = image.shape[1], image.shape[2]
    u = tf.random.stateless_uniform([4], seed=tf.stack([seed, t]), minval=-1.0, maxval=1.0)
    scale = 1.0 + hyper["scale"] * u[0]
    angle = hyper["rotate"] * u[1]
    dx, dy = tf.round(hyper["jitter"] * u[2]), tf.round(hyper["jitter"] * u[3])
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    # output pixel (x, y) samples the input at R(angle) / scale (x - c, y - c) + c + (dx, dy)
    transform = tf.stack([cos, -sin, cx - cos * cx + sin * cy + dx,
                          sin, cos, cy - sin * cx - cos * cy + dy, 0.0, 0.0])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=image, transforms=transform[None], output_shape=[height, width],
        interpolation="BILINEAR", fill_mode="REFLECT", fill_value=0.0)


def _gaussian_blur(image, sigma):
    taps = tf.range(-_BLUR_RADIUS, _BLUR_RADIUS + 1, dtype=tf.float32)
    kernel = tf.exp(-0.5 * tf.square(taps / sigma))
    kernel = kernel / tf.reduce_sum(kernel)
    channels = image.shape[-1]
    padded = tf.pad(image, [[0, 0], [_BLUR_RADIUS] * 2, [_BLUR_RADIUS] * 2, [0, 0]], "REFLECT")
    rows = tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), [1, 1, channels, 1])
    cols = tf.tile(tf.reshape(kernel, [1, -1, 1, 1]), [1, 1, channels, 1])
    blurred = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(blurred, cols, [1, 1, 1, 1], "VALID")
