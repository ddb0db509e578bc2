"""DeepDream: gradient ascent on a layer's activations, starting from a photo, over octaves.

Feature visualization starts from grey and asks what a unit wants; DeepDream starts from a
photo and asks the network to see *more* of whatever it already sees there. Each step raises

    L(I) = sum_l w_l * mean_{i, j, k} A^l_ijk(I)^2      (``objective="l2"``, the default)
    L(I) = sum_l w_l * mean_{i, j, k} A^l_ijk(I)        (``objective="mean"``)

over the chosen layers l with a normalised gradient step, I <- I + eta * g / mean|g|, the image
kept in the valid pixel range. Octaves make the patterns grow at several scales: the photo is
shrunk ``octaves - 1`` times by ``octave_scale``; the ascent runs on the smallest version,
the result is enlarged to the next size, the detail that shrinking had removed from the photo
is added back, and the ascent goes on, up to the original size. The network runs at each
octave's size (its convolutions accept any size; ``_core.graph.at_size``).

As in the rest of ``helpers``, the image is climbed as RGB in [-1, 1] and the model's own
preprocessing (an affine map per pixel) is applied inside the graph, so one step size suits
every model.

References:
    Mordvintsev, Olah & Tyka, "Inceptionism: Going Deeper into Neural Networks", Google
    Research blog (2015); Chollet, "Deep Learning with Python", ch. 8 (2017), and the keras.io
    example "Deep Dream".
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import tensorflow as tf

from helpers._core.compiled import cached, compiled, quiet_tracing
from helpers._core.graph import at_size, require_spatial, tap_model
from helpers._core.inputs import as_batch, check_count, check_positive
from helpers._core.model import affine_preprocessing, keras_model, preprocess_fn
from helpers._core.progress import progress

OBJECTIVES = ("l2", "mean")


def _layer_weights(net, layers) -> dict[str, float]:
    """``layers`` (a name, names, or {name: weight}) as {name: weight}, checked."""
    if isinstance(layers, str):
        layers = {layers: 1.0}
    elif not isinstance(layers, dict):
        layers = {name: 1.0 for name in layers}
    if not layers:
        raise ValueError("Give at least one layer to dream on, e.g. layers=['conv_pw_11_relu'].")
    for name, weight in layers.items():
        require_spatial(net, name)
        if isinstance(weight, bool) or not np.isfinite(weight):
            raise ValueError(f"The weight of layer {name!r} must be a finite number; got "
                             f"{weight!r}.")
    return {name: float(weight) for name, weight in layers.items()}


class _DreamStep:
    """``(z, weights, eta) -> (new z, loss per image)`` for images z in [-1, 1] of one size."""

    def __init__(self, maps_net, matrix, bias, objective):
        self.net, self.objective = maps_net, objective
        self.in_matrix = tf.constant(127.5 * matrix.T)  # z -> u = 127.5 (z + 1) -> u M^T + b
        self.in_bias = tf.constant(127.5 * matrix.sum(axis=1) + bias)

    def loss(self, z, weights):
        maps = self.net(z @ self.in_matrix + self.in_bias, training=False)
        maps = maps if isinstance(maps, list | tuple) else [maps]
        terms = [tf.reduce_mean(tf.square(a) if self.objective == "l2" else a, axis=[1, 2, 3])
                 for a in maps]
        return tf.tensordot(tf.stack(terms, axis=1), weights, axes=1)  # (N,)

    def __call__(self, z, weights, eta):
        with tf.GradientTape() as tape:
            tape.watch(z)
            loss = self.loss(z, weights)
            total = tf.reduce_sum(loss)  # images do not interact: each gets its own gradient
        grad = tape.gradient(total, z)
        scale = tf.reduce_mean(tf.abs(grad), axis=[1, 2, 3], keepdims=True)
        z = tf.clip_by_value(z + eta * grad / tf.maximum(scale, 1e-8), -1.0, 1.0)
        return z, loss


def _step_at(net, names, shape, affine, objective, what: str = "step"):
    """The compiled step (``what="step"``) or loss (``"loss"``) for images of ``shape``
    (H, W, C), built once per model."""
    def maps_net():
        tapped = cached(net, ("deepdream.taps", names), lambda: tap_model(net, list(names)))
        cut = keras.Model(tapped.inputs[0], tapped.outputs[:-1], name=f"{net.name}_dream")
        try:
            return at_size(cut, shape)
        except ValueError:
            raise ValueError(f"Model {net.name!r} only accepts its own image size, but "
                             f"DeepDream runs it at {shape[0]}x{shape[1]}: use octaves=1 and "
                             "an image of the model's input size.") from None

    key = ("deepdream.graph", names, tuple(shape), objective, affine[0].tobytes(),
           affine[1].tobytes())
    graph = cached(net, key, lambda: _DreamStep(maps_net(), *affine, objective))
    return compiled(net, (*key, what), lambda: graph if what == "step" else graph.loss)


def _resize(z, size):
    return tf.image.resize(z, size, method="bilinear")


def octave_sizes(height: int, width: int, octaves: int, octave_scale: float):
    """The (height, width) of each octave, smallest first, the last one the original."""
    return [(max(round(height / octave_scale ** i), 1), max(round(width / octave_scale ** i), 1))
            for i in reversed(range(octaves))]


def dream(model, x, layers, *, octaves: int = 3, octave_scale: float = 1.4, steps: int = 20,
          step_size: float = 0.01, objective: str = "l2", preprocess=None,
          as_input: bool = False) -> np.ndarray:
    """DeepDream ``x``: gradient ascent on the activations of ``layers`` over octaves (see
    the module docstring).

    Args:
        model: a ``VisModel`` or a Keras model.
        x: one preprocessed image (H, W, C) or a batch (N, H, W, C), any size the network's
            convolutions accept (larger photos dream finer patterns).
        layers: a layer name, several, or {name: weight}; early layers dream strokes and
            textures, deep ones eyes, fur and object parts.
        octaves: how many scales (1: no octaves, the image's own size only).
        octave_scale: the size ratio between octaves (> 1).
        steps: gradient steps per octave.
        step_size: eta, the mean change per pixel and step in the [-1, 1] image.
        objective: ``"l2"`` (mean square of the activations, as keras.io) or ``"mean"``.
        preprocess: the preprocessing of a bare Keras model (default x / 127.5 - 1).
        as_input: return the dreamed images as the model's input (float32, preprocessed)
            instead of uint8 RGB, e.g. to feed them to other techniques.

    Returns:
        uint8 RGB (H, W, 3) for one image, (N, H, W, 3) for a batch (the input's size).

    Raises:
        ValueError: the core's errors for bad images or unknown layers; a bad count, scale or
            objective; a model that only accepts its own size with ``octaves > 1``.
    """
    net = keras_model(model)
    channels = int(net.inputs[0].shape[-1])
    batch, single = as_batch(x, (None, None, None, channels))
    weights = _layer_weights(net, layers)
    octaves, steps = check_count("octaves", octaves), check_count("steps", steps)
    eta = check_positive("step_size", step_size)
    if check_positive("octave_scale", octave_scale) <= 1:
        raise ValueError(f"octave_scale is the size ratio between octaves, > 1; got "
                         f"{octave_scale}.")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}; got {objective!r}.")
    names = tuple(weights)
    w = tf.constant(list(weights.values()), tf.float32)
    matrix, bias = affine_preprocessing(preprocess or preprocess_fn(model), channels)
    original = tf.constant(((batch - bias) @ np.linalg.inv(matrix).T / 127.5 - 1.0)
                           .astype(np.float32))
    sizes = octave_sizes(*batch.shape[1:3], octaves, octave_scale)
    shrunk = z = _resize(original, sizes[0])
    with quiet_tracing():
        for octave, t in progress(list(itertools.product(range(octaves), range(steps))),
                                  desc="DeepDream"):
            size = sizes[octave]
            if t == 0:
                z = _resize(z, size)
                step = _step_at(net, names, (*size, channels), (matrix, bias), objective)
            z, _ = step(z, w, tf.constant(eta))
            if t == steps - 1:  # add back the detail the shrinking took from the photo
                z = z + _resize(original, size) - _resize(shrunk, size)
                shrunk = _resize(original, size)
    z = z.numpy()
    if not np.isfinite(z).all():
        raise ValueError(f"DeepDream diverged (NaN or infinity); lower step_size={step_size}.")
    rgb = 127.5 * (np.clip(z, -1.0, 1.0) + 1.0)
    result = (rgb @ matrix.T + bias).astype(np.float32) if as_input else \
        np.round(rgb).astype(np.uint8)
    if not as_input and result.shape[-1] == 1:
        result = np.repeat(result, 3, axis=-1)
    return result[0] if single else result


def dream_objective(model, x, layers, objective: str = "l2") -> np.ndarray:
    """The objective L of ``dream`` for preprocessed images ``x``, at their own size: (N,) for
    a batch, a number for one image; e.g. before and after dreaming."""
    net = keras_model(model)
    channels = int(net.inputs[0].shape[-1])
    batch, single = as_batch(x, (None, None, None, channels))
    weights = _layer_weights(net, layers)
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}; got {objective!r}.")
    # the step's graph maps z to 127.5 (z M^T + sum M) + b: with M = I / 127.5, b = -1, z itself
    identity = (np.eye(channels, dtype=np.float32) / 127.5, np.full(channels, -1.0, np.float32))
    loss_of = _step_at(net, tuple(weights), batch.shape[1:], identity, objective, "loss")
    with quiet_tracing():
        loss = loss_of(tf.constant(batch), tf.constant(list(weights.values()), tf.float32))
    loss = loss.numpy()
    return float(loss[0]) if single else loss
