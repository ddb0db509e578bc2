"""The two gradient passes every attribution starts from, compiled once per model.

- ``input_gradients``: f_c (or p_c) and d f_c / d x, for the image-gradient family;
- ``feature_gradients``: the maps A of a layer, d f_c / d A and the logits, for the CAM family.

Both take a checked call (``inputs.prepare``) and run in compiled batches.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from helpers._core.compiled import cached, compiled, quiet_tracing
from helpers._core.graph import resolve_layer, tap_model
from helpers._core.inputs import BATCH_SIZE, in_batches

OBJECTIVES = ("logit", "softmax")


class _InputGradients:
    """``(x, classes) -> (f_c, d f_c / d x)``; ``softmax=True`` uses p_c instead of f_c."""

    def __init__(self, net, softmax: bool):
        self.net, self.softmax = net, softmax

    def __call__(self, x, classes):
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = self.net(x, training=False)
            if self.softmax:
                scores = tf.nn.softmax(scores, axis=-1)
            scores = tf.gather(scores, classes, batch_dims=1)
            # Images of a batch do not interact: the gradient of the sum is each one's own.
            total = tf.reduce_sum(scores)
        return scores, tape.gradient(total, x)


def input_gradients(net, x, classes, objective: str = "logit",
                    batch_size: int = BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(scores (N,), gradients (N, H, W, C)) of the class scores with respect to the input.

    Raises:
        ValueError: an unknown objective.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective is 'logit' or 'softmax'; got {objective!r}.")
    step = compiled(net, ("core.input_gradients", objective),
                    lambda: _InputGradients(net, objective == "softmax"))
    with quiet_tracing():
        return in_batches(lambda xb, cb: tuple(t.numpy() for t in step(tf.constant(xb),
                                                                       tf.constant(cb))),
                          batch_size, x, classes)


class _FeatureGradients:
    """``(x, classes) -> (A, d f_c / d A, logits)`` for a model returning [A, logits]."""

    def __init__(self, tapped):
        self.tapped = tapped

    def __call__(self, x, classes):
        with tf.GradientTape() as tape:
            features, logits = self.tapped(x, training=False)
            scores = tf.gather(logits, classes, batch_dims=1)
        return features, tape.gradient(scores, features), logits


def feature_model(net, layer: str | None = None):
    """``net`` returning [A, logits]: the maps of ``layer`` (default: the last rectified
    convolution) and the class scores, built once per model and layer."""
    name = resolve_layer(net, layer).name
    return cached(net, ("core.features", name), lambda: tap_model(net, [name]))


def feature_gradients(net, x, classes, layer: str | None = None,
                      batch_size: int = BATCH_SIZE):
    """(A, d f_c / d A, logits): (N, h, w, K), (N, h, w, K), (N, classes).

    The backward pass stops at the layer, so it costs a small part of the forward pass.
    """
    name = resolve_layer(net, layer).name
    step = compiled(net, ("core.feature_gradients", name),
                    lambda: _FeatureGradients(feature_model(net, name)))
    with quiet_tracing():
        return in_batches(lambda xb, cb: tuple(t.numpy() for t in step(tf.constant(xb),
                                                                       tf.constant(cb))),
                          batch_size, x, classes)
