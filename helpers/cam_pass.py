"""The one pass every CAM method starts from, as pytorch-grad-cam's activations-and-gradients
layer: the feature maps A of a layer, the gradients d f_c / d A and the logits, compiled and
batched (``feature_gradients``); A and the logits alone (``feature_maps``); and the class
probabilities that Score-CAM and the deletion curves read (``class_probabilities``).

Every function keeps the contract of ``helpers``: a ``VisModel`` or a Keras model (a final
softmax is explained via its logits), one preprocessed image (H, W, C) in gives one result
out, a batch gives a batch, classes by name or index. Import them from ``helpers.cam``.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from helpers._core import gradients as core_gradients
from helpers._core.compiled import compiled, quiet_tracing
from helpers._core.graph import resolve_layer
from helpers._core.inputs import BATCH_SIZE, check_count, in_batches, prepare
from helpers._core.model import logits_model


class _Forward:
    """``x -> net(x)`` (softmax of it with ``softmax=True``), to be compiled; an object, not
    a closure, for the reason ``helpers._core.compiled`` gives."""

    def __init__(self, net: keras.Model, softmax: bool = False):
        self.net, self.softmax = net, softmax

    def __call__(self, x):
        out = self.net(x, training=False)
        return tf.nn.softmax(out, axis=-1) if self.softmax else out


def _run(step, x, batch_size):
    def chunk(xb):
        out = step(tf.constant(xb))
        return tuple(t.numpy() for t in out) if isinstance(out, list | tuple) else out.numpy()

    with quiet_tracing():
        return in_batches(chunk, batch_size, x)


def feature_model(model, layer: str | None = None) -> keras.Model:
    """A Keras model returning ``[A, logits]``: the feature maps of ``layer`` (default: the
    last rectified convolution) and the class scores, for batches.

    The tutorials' ``keras.Model(model.inputs, [layer.output, model.output])``, made to work
    for layers inside a nested pretrained base too.
    """
    return core_gradients.feature_model(logits_model(model), layer)


def feature_maps(model, x, layer: str | None = None,
                 batch_size: int = BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(A, logits) in one compiled forward pass: (h, w, K) and (classes,) for one image,
    (N, h, w, K) and (N, classes) for a batch. CAM needs nothing else."""
    call = prepare(model, x)
    batch_size = check_count("batch_size", batch_size)
    name = resolve_layer(call.net, layer).name
    step = compiled(call.net, ("cam.feature_maps", name),
                    lambda: _Forward(core_gradients.feature_model(call.net, name)))
    return call.output(_run(step, call.x, batch_size))


def feature_gradients(model, x, classes, layer: str | None = None,
                      batch_size: int = BATCH_SIZE):
    """The pass every CAM method starts from: feature maps A, gradients d f_c / d A and the
    logits, compiled and batched; the backward pass stops at the layer.

    Returns:
        (A, dA, logits): (h, w, K), (h, w, K), (classes,) for one image; with a leading
        batch axis for a batch.
    """
    call = prepare(model, x, classes)
    batch_size = check_count("batch_size", batch_size)
    return call.output(core_gradients.feature_gradients(call.net, call.x, call.classes, layer,
                                                        batch_size))


def class_probabilities(model, x, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Softmax probabilities of the logits, (classes,) for one image or (N, classes)."""
    call = prepare(model, x)
    step = compiled(call.net, ("cam.probabilities",), lambda: _Forward(call.net, softmax=True))
    return call.output(_run(step, call.x, check_count("batch_size", batch_size)))
