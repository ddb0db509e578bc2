"""Weights between features: kernel slices, and expanded weights across several layers.

``expanded_weights`` reads the weights between non-adjacent layers, through pooling layers,
depthwise convolutions or whole blocks, by linearizing the path between them: ReLU becomes
the identity, max-pooling becomes average pooling, biases and batch-norm shifts drop out
(they only add constants), batch-norm scales stay. What is left is linear and
translation-equivariant, so it *is* a convolution; its kernel is read off with one gradient.
``linearization_quality`` measures how far that linear picture holds on real inputs.

References:
    Voss et al., "Visualizing Weights", Distill (2021).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from helpers._core.activations import layer_outputs
from helpers._core.geometry import layer_table
from helpers._core.graph import (CONV_TYPES, POOL_TYPES, RELU_NAMES, activation_name,
                                 batch_norm_after, batch_norm_scale, get_layer, parents)
from helpers._core.inputs import as_batch
from helpers._core.model import keras_model
from helpers.circuits.graph import path_between, unit_layer

#: Layers that a linearized path passes through unchanged (ReLU counts as the identity).
_IDENTITY = (keras.layers.ReLU, keras.layers.Dropout, keras.layers.SpatialDropout2D,
             keras.layers.Identity)
#: Every layer a path may be linearized through (plus ReLU-like ``Activation`` layers).
_LINEARIZABLE = CONV_TYPES + POOL_TYPES + _IDENTITY + (keras.layers.BatchNormalization,
                                                       keras.layers.ZeroPadding2D)
#: Activations that linearizing replaces by the identity.
_IDENTITY_ACTIVATIONS = (*RELU_NAMES, "linear")
#: Image side used to measure the geometry of a model that accepts any size: large enough
#: for every window of the supported models to fit.
_FREE_SIZE = 1024


def effective_kernel(model, layer: str) -> np.ndarray:
    """Kernel (kh, kw, in_channels, units) of convolution ``layer``, times the scale of the
    batch norm right after it (see ``unit_scale``). For a model without batch norm this is
    the kernel itself."""
    found = unit_layer(model, layer)
    if isinstance(found, keras.layers.SeparableConv2D):  # depthwise x pointwise, exactly
        return expanded_weights(model, parents(found)[0].name, layer)
    kernel = keras.ops.convert_to_numpy(found.kernel)
    bn = batch_norm_after(found)
    return kernel * batch_norm_scale(bn) if bn is not None else kernel


def _linear_step(layer, x, ones: bool):
    """``layer`` applied to ``x`` with ReLU as identity, max-pool as average pool, biases and
    batch-norm shifts left out. With ``ones``, every weight is 1: its output shows which input
    positions reach which output (the receptive field), whatever the weights' signs."""
    def weight(w):
        w = keras.ops.convert_to_numpy(w)
        return np.ones_like(w) if ones else w

    if isinstance(layer, keras.layers.SeparableConv2D):
        return keras.ops.separable_conv(x, weight(layer.depthwise_kernel),
                                        weight(layer.pointwise_kernel), layer.strides,
                                        layer.padding, dilation_rate=layer.dilation_rate)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return keras.ops.depthwise_conv(x, weight(layer.kernel), layer.strides, layer.padding,
                                        dilation_rate=layer.dilation_rate)
    if isinstance(layer, keras.layers.Conv2D):
        if layer.groups != 1:
            raise ValueError(f"{layer.name!r} is a grouped convolution, not supported here.")
        return keras.ops.conv(x, weight(layer.kernel), layer.strides, layer.padding,
                              dilation_rate=layer.dilation_rate)
    if isinstance(layer, keras.layers.BatchNormalization):
        return x if ones else x * batch_norm_scale(layer)
    if isinstance(layer, POOL_TYPES):
        return keras.ops.average_pool(x, layer.pool_size, layer.strides, layer.padding)
    if isinstance(layer, keras.layers.ZeroPadding2D):
        return layer(x)
    if _linearizable(layer):  # ReLU, dropout and the like: the identity
        return x
    raise _cannot_linearize(layer)


def _cannot_linearize(layer) -> ValueError:
    return ValueError(
        f"Cannot linearize {layer.name!r} ({type(layer).__name__}): expanded weights pass through "
        "convolutions, pooling, batch norm, padding, dropout and ReLU only."
    )


def _linearizable(layer) -> bool:
    return isinstance(layer, _LINEARIZABLE) or (
        isinstance(layer, keras.layers.Activation)
        and activation_name(layer) in _IDENTITY_ACTIVATIONS)


def _path_geometry(model, from_layer: str, to_layer: str) -> tuple[int, int]:
    """(receptive field, jump) of a ``to_layer`` unit in ``from_layer`` positions, from the
    receptive-field table of the model (``helpers._core.geometry``): along a chain, the field
    grows by (field - 1) * jump of ``from_layer``, and the jumps multiply."""
    net = keras_model(model)
    free = None in tuple(net.inputs[0].shape)[1:3]
    start, end = layer_table(net, (_FREE_SIZE, _FREE_SIZE) if free else None,
                             layers=[from_layer, to_layer])
    jump = start.jump[0]
    return (end.receptive_field[0] - start.receptive_field[0]) // jump + 1, end.jump[0] // jump


@dataclass
class LinearPath:
    """The linearized path between two layers: a function from ``from_layer``'s output to
    ``to_layer``'s pre-activation (batch norm included), biases left out.

    Attributes:
        from_layer, to_layer: the ends of the path.
        layers: the layers in between, in order.
        field: receptive field of a unit of ``to_layer`` in ``from_layer``'s positions.
        jump: ``from_layer`` positions between neighbouring units of ``to_layer``.
    """

    from_layer: str
    to_layer: str
    layers: list
    field: int
    jump: int

    def __call__(self, x, ones: bool = False):
        x = keras.ops.convert_to_tensor(x, dtype="float32")
        for layer in self.layers:
            x = _linear_step(layer, x, ones)
        return x


def linear_path(model, from_layer: str, to_layer: str) -> LinearPath:
    """The linearized path from ``from_layer``'s output to ``to_layer``'s units (see module
    docstring). Raises ValueError as ``path_between``, or for a layer it cannot linearize."""
    layers = path_between(model, from_layer, to_layer)
    unsupported = [layer for layer in layers if not _linearizable(layer)]
    if unsupported:
        raise _cannot_linearize(unsupported[0])
    return LinearPath(from_layer, to_layer, layers,
                      *_path_geometry(model, from_layer, to_layer))


def expanded_weights(model, from_layer: str, to_layer: str) -> np.ndarray:
    """The weights from every channel of ``from_layer`` into every unit of ``to_layer``.

    The path between them is linearized (``linear_path``), so it is a convolution; its kernel,
    read off as the gradient of the centre unit with respect to its input, is returned. For
    adjacent layers it is the convolution's kernel (times a following batch norm's scale); for
    two 3x3 convolutions it is their 5x5 composition; across a 2x2 pool the kernel is spread
    over each pooled window with a quarter of the weight.

    Args:
        model: a VisModel or a Keras model.
        from_layer: the layer whose output channels are the inputs (any layer before).
        to_layer: the convolution whose units are the outputs.

    Returns:
        float32 (field, field, from_channels, to_units), ``field`` being the receptive field of
        a ``to_layer`` unit in ``from_layer`` positions.

    Raises:
        ValueError: ``to_layer`` is not a convolution, the layers are not connected, or the
            path holds a layer that cannot be linearized (dense, residual addition, ...).
    """
    path = linear_path(model, from_layer, to_layer)
    net = keras_model(model)
    in_channels = int(get_layer(net, from_layer).output.shape[-1])
    units = int(get_layer(net, to_layer).output.shape[-1])
    # room for the receptive field twice over around the centre, so no padding reaches it
    size = path.field + 2 * (path.field + path.jump)
    size += -size % path.jump
    box = _support_box(path, size, in_channels)
    if box[0][1] - box[0][0] != path.field or box[1][1] - box[1][0] != path.field:
        raise RuntimeError(f"Internal error: the expanded kernel covers rows and columns {box}, "
                           f"not the {path.field} x {path.field} receptive field; please report.")
    grad = _centre_gradient(path, size, in_channels, units)
    (top, bottom), (left, right) = box
    kernel = grad[:, top:bottom, left:right, :]  # (units, field, field, in_channels)
    return np.ascontiguousarray(np.transpose(kernel, (1, 2, 3, 0)))


def _centre(shape) -> tuple[int, int]:
    return shape[1] // 2, shape[2] // 2


def _support_box(path: LinearPath, size: int, in_channels: int):
    """Rows and columns (start, stop) of the input positions that reach the centre unit."""
    x = tf.zeros((1, size, size, in_channels))
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = path(x, ones=True)
        cy, cx = _centre(out.shape)
        score = tf.reduce_sum(out[:, cy, cx, :])
    reach = np.abs(tape.gradient(score, x).numpy()[0]).sum(axis=-1) > 0
    rows, cols = np.flatnonzero(reach.any(axis=1)), np.flatnonzero(reach.any(axis=0))
    return (rows[0], rows[-1] + 1), (cols[0], cols[-1] + 1)


def _centre_gradient(path: LinearPath, size: int, in_channels: int, units: int) -> np.ndarray:
    """d unit_j(centre) / d input for every unit j at once: batch element j scores unit j
    (the path is linear, so the elements do not interact)."""
    x = tf.zeros((units, size, size, in_channels))
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = path(x)
        cy, cx = _centre(out.shape)
        score = tf.reduce_sum(tf.linalg.diag_part(out[:, cy, cx, :]))
    return tape.gradient(score, x).numpy()


def _pre_activation(layer, x):
    """Convolution ``layer`` on ``x`` with its bias but without its activation."""
    if isinstance(layer, keras.layers.SeparableConv2D):
        out = keras.ops.separable_conv(x, layer.depthwise_kernel, layer.pointwise_kernel,
                                       layer.strides, layer.padding,
                                       dilation_rate=layer.dilation_rate)
    else:
        out = keras.ops.conv(x, layer.kernel, layer.strides, layer.padding,
                             dilation_rate=layer.dilation_rate)
    return out + layer.bias if layer.use_bias else out


def linearization_quality(model, from_layer: str, to_layer: str, x) -> np.ndarray:
    """How well the linearized path predicts the real one, unit by unit.

    For the preprocessed image or batch ``x``, the real pre-activation of every unit of
    ``to_layer`` (batch norm included, ReLU not yet applied) is compared with the linear
    path's output on the same ``from_layer`` activations, over all positions and images.

    Returns:
        (units,) Pearson correlations, one set for all the images given (one image or many):
        1 means the linear picture is exact up to a constant (the dropped biases); NaN for a
        unit that is constant here.
    """
    path = linear_path(model, from_layer, to_layer)
    net = keras_model(model)
    batch, _ = as_batch(x, net.input_shape)
    start = layer_outputs(net, from_layer, batch)[from_layer]
    real = keras.ops.convert_to_tensor(start)
    for layer in path.layers:
        real = (_pre_activation(layer, real) if layer.name == to_layer
                else layer(real, training=False))
    real = keras.ops.convert_to_numpy(real)
    real = real.reshape(-1, real.shape[-1])  # (images x positions, units)
    linear = keras.ops.convert_to_numpy(path(start)).reshape(real.shape)
    real, linear = real - real.mean(axis=0), linear - linear.mean(axis=0)
    norms = np.linalg.norm(real, axis=0) * np.linalg.norm(linear, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, (real * linear).sum(axis=0) / norms, np.nan)


def _check_unit(model, layer: str, unit) -> int:
    units = int(get_layer(keras_model(model), layer).output.shape[-1])
    if isinstance(unit, bool) or not float(unit).is_integer() or not 0 <= int(unit) < units:
        raise ValueError(f"Unit {unit!r} is out of range: layer {layer!r} has {units} units "
                         f"(channels 0 to {units - 1}).")
    return int(unit)


def unit_weights(model, layer: str, unit: int, from_layer: str | None = None) -> np.ndarray:
    """The weights (kh, kw, in_channels) into one unit of ``layer``: the kernel slice
    (``from_layer=None``) or the expanded weights from ``from_layer``.

    Raises:
        ValueError: bad unit index, or as ``expanded_weights``.
    """
    unit = _check_unit(model, layer, unit)
    if from_layer is None:
        return effective_kernel(model, layer)[..., unit]
    return expanded_weights(model, from_layer, layer)[..., unit]
