"""Guided backpropagation: pixel-level gradients through ReLUs that pass only positive
gradients back, and the per-pixel map that shows them.

Guided backpropagation (Springenberg et al.) computes d f_c / d x with each ReLU's backward
pass replaced by gradient * (input > 0) * (gradient > 0): the model is rebuilt on its own
layers and weights with a ``GuidedGate`` after every rectifier, and the input gradient of
that model is the core's ``input_gradients``. ``cam.guided_grad_cam`` multiplies it by the
upsampled Grad-CAM map; ``pixel_map`` reduces either to one value per pixel for display.

Reference:
    Springenberg et al., "Striving for Simplicity: The All Convolutional Net" (ICLR
    Workshops 2015).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from helpers._core.compiled import cached
from helpers._core.gradients import input_gradients
from helpers._core.graph import ends_in_relu, rebuild
from helpers._core.inputs import BATCH_SIZE, check_count, prepare
from helpers._core.model import keras_model


@tf.custom_gradient
def _positive_gradients_only(x):
    def backward(upstream):
        return tf.nn.relu(upstream)

    return tf.identity(x), backward


class GuidedGate(keras.layers.Layer):
    """Identity on the way forward; lets only positive gradients through on the way back.

    Placed after every ReLU, it turns the ReLU's backward pass into guided
    backpropagation's: gradient * (input > 0) * (gradient > 0).
    """

    def call(self, inputs):
        return _positive_gradients_only(inputs)


def _guided(net: keras.Model) -> keras.Model:
    def gate(layer, output, taps):
        return GuidedGate(name=f"{layer.name}_guided")(output) if ends_in_relu(layer) else output

    rebuilt = rebuild(net, gate)
    return keras.Model(rebuilt.input, rebuilt.outputs[0], name=f"{net.name}_guided")


def guided_model(model) -> keras.Model:
    """``model`` (a ``VisModel`` or a Keras model) on the same layers and weights, with a
    ``GuidedGate`` after every ReLU; the model itself is left alone."""
    return _guided(keras_model(model))


def guided_backprop(model, x, classes, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Guided backpropagation: d f_c / d x with only positive gradients through each ReLU.

    Args:
        model: a ``VisModel`` or a Keras model (a final softmax is explained via its logits).
        x: one preprocessed image (H, W, C) or a batch (N, H, W, C).
        classes: a class name or index for all images, or one per image.
        batch_size: images per compiled call.

    Returns:
        input-shaped gradients, (H, W, C) for one image or (N, H, W, C); show them with
        ``pixel_map`` or ``helpers.deprocess_image``.
    """
    call = prepare(model, x, classes)
    batch_size = check_count("batch_size", batch_size)
    net = cached(call.net, ("cam.guided",), lambda: _guided(call.net))
    _, grads = input_gradients(net, call.x, call.classes, batch_size=batch_size)
    if not np.all(np.isfinite(grads)):
        raise ValueError("Guided backprop: the gradients hold NaN or infinity; check the "
                         "input and the model's weights.")
    return call.output(grads)


def pixel_map(gradients, percentile: float = 100.0) -> np.ndarray:
    """Input-shaped maps, one (H, W, C) or a batch (N, H, W, C), to one value per pixel in
    [0, 1], (H, W) or (N, H, W): the largest magnitude over the colour channels, divided by
    each image's maximum.

    Args:
        percentile: divide by this percentile instead of the maximum and clip at 1, for
            display: a few extreme pixels would otherwise leave the rest black.
    """
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}.")
    magnitude = np.abs(np.asarray(gradients, dtype=np.float32)).max(axis=-1)
    top = np.percentile(magnitude, percentile, axis=(-2, -1), keepdims=True)
    top = np.where(top > 0, top, magnitude.max(axis=(-2, -1), keepdims=True))
    scaled = np.where(top > 0, magnitude / np.where(top > 0, top, 1.0), 0.0)
    return np.minimum(scaled, 1.0).astype(np.float32)
