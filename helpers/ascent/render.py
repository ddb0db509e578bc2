"""The loop: grow one image per unit by gradient ascent, all units in one compiled batch.

The lecture's update, with the weights of the CNN fixed and the image as the variable::

    I <- I + eta * grad f(I)

``maximize`` runs it for many units at once: one image per unit in a single batch, each image
following the gradient of its own unit, compiled once per (model, objective, parameterization,
image shape) through the core's compile cache.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import tensorflow as tf

from helpers._core.compiled import cached, compiled, quiet_tracing
from helpers._core.inputs import check_count, check_positive
from helpers._core.model import (affine_preprocessing, keras_model, preprocess_fn,
                                 refuse_probabilities)
from helpers._core.progress import progress
from helpers.ascent import param as _param
from helpers.ascent.network import image_size, num_channels
from helpers.ascent.objectives import Objective, check_units, objective_model, score
from helpers.ascent.regularization import Regularization, get_regularization
from helpers.ascent.result import AscentResult, high_frequency_share
from helpers.ascent.transforms import gaussian_blur, random_transform
from helpers.images import deprocess_image

EPS = 1e-8
#: A gradient whose root mean square is below this is zero up to rounding (a typical one is
#: 1e-6 to 1e-2): the unit is reported as dead.
ZERO_GRADIENT = 1e-10
_BATCH_FIELDS = ("images", "inputs", "history", "initial", "final", "dead", "out_of_range",
                 "high_frequency")


def maximize(model, objective: Objective, units, *, steps: int = 30, lr: float | None = None,
             regularization: str | Regularization = "normalized", size=None, init="noise",
             seed: int = 0, minimize: bool = False, batch_size: int = 64,
             preprocess=None, warn_dead: bool = True) -> AscentResult:
    """Grow one image per unit by gradient ascent on ``objective``, all units in one batch.

    Args:
        model: a ``VisModel`` or a Keras model; for class objectives a final softmax is
            removed (its logits are climbed), as everywhere in ``helpers``.
        objective: what to maximize (see ``Objective``).
        units: filter indices of the layer, or classes (names for a VisModel, or indices).
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
        ValueError: an out-of-range unit, a non-spatial layer, a bad count or learning rate,
            a model whose outputs are probabilities (class objectives), or an ascent that
            diverged (lower ``lr``).
    """
    net = keras_model(model)
    reg = get_regularization(regularization)
    lr = check_positive("lr", reg.lr if lr is None else lr)
    steps, batch_size = check_count("steps", steps), check_count("batch_size", batch_size)
    channels = int(net.inputs[0].shape[-1])
    shape = (*image_size(net, size), channels)
    units = check_units(model, objective, units)
    if reg.fourier and not isinstance(init, str):
        raise ValueError("Starting from an image needs the pixel parameterization; use a rung "
                         "without fourier=True, or init='noise'.")
    if reg.decorrelate and channels != 3:
        reg = reg.with_(decorrelate=False)  # colour decorrelation only means something for RGB
    starts = _param.start_images(init, len(units), *shape)
    affine = affine_preprocessing(preprocess or preprocess_fn(model), channels)
    key = ("ascent", objective, reg.fourier, reg.decorrelate, shape, affine[0].tobytes(),
           affine[1].tobytes())
    graph = cached(net, key, lambda: _AscentGraph(model, objective, reg, shape, affine, key))
    if objective.kind != "channel":
        refuse_probabilities(graph.net, graph.grey())
    sign = -1.0 if minimize else 1.0
    began = time.perf_counter()
    with quiet_tracing():
        parts = [_ascend_batch(graph, units[i:i + batch_size], reg, steps, lr, init,
                               None if starts is None else starts[i:i + batch_size], seed, sign)
                 for i in range(0, len(units), batch_size)]
    seconds = time.perf_counter() - began
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
        filters = range(num_channels(keras_model(model), layer))
    return maximize(model, objective, filters, **kwargs)


def maximize_classes(model, classes, *, objective: str = "logit", init="zeros",
                     **kwargs) -> AscentResult:
    """Images that maximize class scores: ``objective`` is ``"logit"`` (f_c, the default)
    or ``"softmax"`` (p_c). ``classes`` are names ('flamingo', for a VisModel) or indices.
    Starts from a flat grey image by default, as in the lecture; other keywords go to
    ``maximize``."""
    if objective not in ("logit", "softmax"):
        raise ValueError(f"A class objective is 'logit' or 'softmax'; got {objective!r}.")
    return maximize(model, Objective(objective), classes, init=init, **kwargs)


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


class _AscentGraph:
    """The compiled pieces for one (model, objective, parameterization, image shape)."""

    def __init__(self, model, objective, reg, shape, affine, key):
        self.shape, self.objective = shape, objective
        self.fourier, self.decorrelate = reg.fourier, reg.decorrelate
        self.net, self.activation = objective_model(model, objective, shape)
        matrix, bias = affine
        # image z in [-1, 1] -> u = 127.5 (z + 1) in [0, 255] -> model input u @ M.T + b
        self.in_matrix = tf.constant(127.5 * matrix.T)
        self.in_bias = tf.constant(127.5 * matrix.sum(axis=1) + bias)
        self.spectrum_scale = tf.constant(_param.spectrum_scale(*shape[:2]))
        owner = keras_model(model)
        self.step = compiled(owner, (*key, "step"), lambda: self._step)
        self.evaluate = compiled(owner, (*key, "evaluate"), lambda: self._evaluate)
        self.to_image = compiled(owner, (*key, "to_image"), lambda: self._to_image)

    def grey(self) -> np.ndarray:
        """One mid-grey image as the model sees it, (1, H, W, C)."""
        return np.broadcast_to(self.in_bias.numpy(), (1, *self.shape)).astype(np.float32)

    def _to_image(self, param):
        """The [-1, 1] image of a parameter tensor (identity for pixels)."""
        if not self.fourier:
            return param
        return _param.fourier_image(param, self.shape, self.spectrum_scale, self.decorrelate)

    def _score(self, image, units):
        out = self.net(image @ self.in_matrix + self.in_bias, training=False)
        return score(out, units, self.objective, self.activation)

    def _terms(self, image, units, hyper):
        """(objective, what its gradient follows, a penalty subtracted from the loss): no
        penalty here; ``diversity`` adds one."""
        value, drive = self._score(image, units)
        return value, drive, 0.0

    def _evaluate(self, param, units):
        return self._score(self._to_image(param), units)[0]

    def _step(self, param, moments, units, t, seed, sign, lr, mode, fixed_scale, hyper):
        """One update of every image: returns (new param, new Adam moments, objective,
        gradient rms). ``mode``: 0 normalised gradient, 1 fixed per-image eta, 2 Adam."""
        with tf.GradientTape() as tape:
            tape.watch(param)
            image = self._to_image(param)
            image = tf.cond(hyper["transform"], lambda: random_transform(image, seed, t, hyper),
                            lambda: image)
            value, drive, penalty = self._terms(image, units, hyper)
            loss = sign * tf.reduce_sum(drive) - penalty
        grad = tape.gradient(loss, param)
        rms = tf.sqrt(tf.reduce_mean(tf.square(grad), axis=list(range(1, grad.shape.rank))))
        per_image = tf.where(tf.equal(mode, 0), 1.0 / (rms + EPS), fixed_scale)
        per_image = tf.reshape(per_image, [-1] + [1] * (grad.shape.rank - 1))
        update, moments = tf.cond(tf.equal(mode, 2), lambda: _adam(grad, moments, t),
                                  lambda: (per_image * grad, moments))
        param = param + lr * update
        if not self.fourier:
            param = param * (1.0 - hyper["l2"])
            every = tf.maximum(hyper["blur_every"], 1)
            blur_now = (hyper["blur_every"] > 0) & (t % every == every - 1)
            param = tf.cond(blur_now, lambda: gaussian_blur(param, hyper["blur_sigma"]),
                            lambda: param)
        return param, moments, value, rms


def _adam(grad, moments, t, beta1=0.9, beta2=0.999):
    """Adam's step direction: each parameter's gradient divided by its own running scale."""
    mean, square = moments
    mean = beta1 * mean + (1 - beta1) * grad
    square = beta2 * square + (1 - beta2) * tf.square(grad)
    count = tf.cast(t + 1, tf.float32)
    update = (mean / (1 - beta1 ** count)) / (tf.sqrt(square / (1 - beta2 ** count)) + EPS)
    return update, (mean, square)


def _hyper(reg: Regularization) -> dict:
    """The rung's numbers as tensors: changing them does not retrace the step."""
    return {"l2": tf.constant(reg.l2, tf.float32),
            "blur_every": tf.constant(reg.blur_every, tf.int32),
            "transform": tf.constant(reg.transforms),
            "blur_sigma": tf.constant(reg.blur_sigma, tf.float32),
            "jitter": tf.constant(reg.jitter, tf.float32),
            "scale": tf.constant(reg.scale, tf.float32),
            "rotate": tf.constant(math.radians(reg.rotate), tf.float32)}


def _ascend_batch(graph: _AscentGraph, units, reg, steps, lr, init, start, seed, sign,
                  param=None, extra_hyper=None):
    """One batch of images, one per entry of ``units``, from ``param`` (default: the
    start ``init``/``start``/``seed`` give); ``extra_hyper`` tensors reach ``_terms``."""
    n = len(units)
    units_t = tf.constant(units)
    if param is None:
        param = _param.initial_param(graph.shape, graph.fourier, units, init, start, seed)
    param = tf.constant(param)
    args = dict(units=units_t, seed=tf.constant(seed, tf.int32), sign=tf.constant(sign),
                lr=tf.constant(float(lr)), hyper={**_hyper(reg), **(extra_hyper or {})})
    initial = graph.evaluate(param, units_t).numpy()
    history, rms_seen = np.zeros((steps, n), np.float32), np.zeros(n, np.float32)
    fixed_scale = tf.zeros(n)
    moments = (tf.zeros_like(param), tf.zeros_like(param))
    for t in progress(range(steps), desc=f"ascent, {n} image{'s' * (n > 1)}"):
        mode = {"every_step": 0, "first_step": 0 if t == 0 else 1, "adam": 2}[reg.normalize]
        param, moments, value, rms = graph.step(param, moments, t=tf.constant(t),
                                                mode=tf.constant(mode),
                                                fixed_scale=fixed_scale, **args)
        history[t], rms = value.numpy(), rms.numpy()
        rms_seen = np.maximum(rms_seen, rms)
        if t == 0:  # plain ascent keeps the first step's eta for good; a dead unit stays put
            fixed_scale = tf.constant(np.where(rms >= ZERO_GRADIENT, 1.0 / (rms + EPS), 0.0),
                                      tf.float32)
    final = graph.evaluate(param, units_t).numpy()
    image = graph.to_image(param).numpy()
    if not (np.isfinite(image).all() and np.isfinite(final).all()):
        raise ValueError(f"Gradient ascent diverged (NaN or infinity) with lr={lr}; lower the "
                         "learning rate or use normalised gradients (regularization='normalized').")
    inputs = image @ graph.in_matrix.numpy() + graph.in_bias.numpy()
    return (_shown(image, reg.fourier), inputs.astype(np.float32), history, initial, final,
            rms_seen < ZERO_GRADIENT, np.mean(np.abs(image) > 1.0 + 1e-6, axis=(1, 2, 3)),
            high_frequency_share(image))


def _shown(image, fourier: bool) -> np.ndarray:
    """Displayable uint8 RGB of [-1, 1] images: the Fourier rung's are valid as they are;
    pixel ones get ``deprocess_image``'s contrast stretch."""
    shown = (np.round((image + 1) * 127.5).clip(0, 255).astype(np.uint8) if fourier else
             np.stack([deprocess_image(im) for im in image]))
    return np.repeat(shown, 3, axis=-1) if shown.shape[-1] == 1 else shown
