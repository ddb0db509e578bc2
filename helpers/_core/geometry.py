"""Receptive-field geometry: output size and receptive field of every convolution and pooling.

The receptive field of a unit is the patch of input pixels that can influence it. It is
computed from the architecture alone, layer by layer, with the recurrence of Araujo et al.:
a layer with (dilated) kernel size k and stride s, reading a map whose units are ``jump``
input pixels apart, grows the receptive field by ``(k - 1) * jump`` and multiplies the jump
by s. Padding shifts where the first unit's patch starts, so we track both of its edges
(they may lie outside the image, on the padding).

References:
    Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks",
    Distill (2019).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from helpers._core.graph import (CONV_TYPES, GLOBAL_POOL_TYPES, POOL_TYPES, all_layers,
                                 require_spatial)

_CONVS, _POOLS, _GLOBAL_POOLS = CONV_TYPES, POOL_TYPES, GLOBAL_POOL_TYPES
_UNSUPPORTED = (keras.layers.Conv2DTranspose, keras.layers.UpSampling2D, keras.layers.Resizing)


@dataclass(frozen=True)
class _Axis:
    """Geometry of a feature map along one spatial axis, in input-pixel coordinates.

    size: number of units; jump: input pixels between neighbouring units; lo, hi: the
    first and last input pixel (inclusive) that the first unit sees.
    """

    size: int
    jump: int
    lo: int
    hi: int

    def window(self, kernel: int, stride: int, dilation: int, padding: str) -> _Axis:
        span = dilation * (kernel - 1) + 1
        if padding == "same":
            out = -(-self.size // stride)
            before = max((out - 1) * stride + span - self.size, 0) // 2
        else:
            out = (self.size - span) // stride + 1
            before = 0
        if out < 1:
            raise ValueError(
                f"A {kernel}x{kernel} window with padding {padding!r} does not fit a map of "
                f"size {self.size}; use a larger input."
            )
        return _Axis(out, self.jump * stride, self.lo - before * self.jump,
                     self.hi + (span - 1 - before) * self.jump)

    def pad(self, before: int, after: int) -> _Axis:
        return _Axis(self.size + before + after, self.jump, self.lo - before * self.jump,
                     self.hi - before * self.jump)


@dataclass(frozen=True)
class LayerGeometry:
    """One row of the layer table.

    Attributes:
        name: the layer's name.
        kind: 'conv', 'depthwise', 'separable', 'max pool', 'avg pool', 'global pool', or
            the class name of another layer asked for by name ('ReLU').
        kernel: (height, width) of the kernel or pooling window (dilation included).
        stride: (vertical, horizontal) stride.
        output: (height, width, channels) of the layer's output.
        receptive_field: (height, width) in input pixels of the patch one unit sees.
        jump: (vertical, horizontal) distance in input pixels between neighbouring units.
        first: (top, left) input pixel of the first unit's patch (negative: on the padding).
    """

    name: str
    kind: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    output: tuple[int, int, int]
    receptive_field: tuple[int, int]
    jump: tuple[int, int]
    first: tuple[int, int]

    @property
    def num_values(self) -> int:
        """How many numbers this layer outputs per image: height x width x channels."""
        return int(np.prod(self.output))

    def patch(self, row: int, col: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) input pixels, inclusive, seen by unit (row, col).

        Raises:
            ValueError: the unit is outside the layer's output.
        """
        height, width, _ = self.output
        if not (0 <= row < height and 0 <= col < width):
            raise ValueError(f"Unit ({row}, {col}) is outside {self.name}'s {height}x{width} "
                             f"output; rows are 0 to {height - 1}, columns 0 to {width - 1}.")
        top = self.first[0] + row * self.jump[0]
        left = self.first[1] + col * self.jump[1]
        return top, left, top + self.receptive_field[0] - 1, left + self.receptive_field[1] - 1


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if np.isscalar(value) else (int(value[0]), int(value[1]))


def _check_channels_last(layer) -> None:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ValueError(f"Layer {layer.name!r} is channels_first; the layer table supports "
                         "channels_last models (the Keras default).")


def _kind(layer) -> str:
    if isinstance(layer, keras.layers.SeparableConv2D):
        return "separable"
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return "depthwise"
    if isinstance(layer, _CONVS):
        return "conv"
    if isinstance(layer, keras.layers.MaxPooling2D):
        return "max pool"
    if isinstance(layer, _POOLS):
        return "avg pool"
    if isinstance(layer, _GLOBAL_POOLS):
        return "global pool"
    return type(layer).__name__


def _merge(name: str, inputs: list[tuple[_Axis, _Axis]]) -> tuple[_Axis, _Axis]:
    """Several maps added or concatenated: a unit sees the union of what its inputs see."""
    merged = []
    for axis in zip(*inputs):
        if len({(a.size, a.jump) for a in axis}) > 1:
            raise ValueError(f"Layer {name!r} merges maps of different sizes or strides; "
                             "the receptive field is undefined there.")
        merged.append(_Axis(axis[0].size, axis[0].jump, min(a.lo for a in axis),
                            max(a.hi for a in axis)))
    return merged[0], merged[1]


def _input_axes(model: keras.Model, input_size) -> tuple[_Axis, _Axis]:
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4:
        raise ValueError(f"Model {model.name!r} takes inputs of shape {shape}, not images "
                         "(batch, height, width, channels).")
    height, width = _pair(input_size) if input_size is not None else shape[1:3]
    if height is None or width is None:
        raise ValueError(f"Model {model.name!r} accepts any image size; pass input_size="
                         "(height, width) to compute its layer table.")
    return _Axis(height, 1, 0, 0), _Axis(width, 1, 0, 0)


def layer_table(model: keras.Model, input_size=None, layers=None) -> list[LayerGeometry]:
    """Every convolution and pooling layer of ``model`` with its output size and receptive field.

    Other layers (batch norm, activations, additions) do not change the geometry and are
    passed through; zero padding and cropping shift it. Works for plain chains (VGG16, the
    shapes model), MobileNet (depthwise and pointwise convolutions, ZeroPadding2D, strided
    convolutions) and models with skip connections.

    Args:
        model: a Keras model taking (batch, height, width, channels) images.
        input_size: (height, width), needed only if the model accepts any size.
        layers: names of the layers to report instead (any layer with a spatial output,
            e.g. the ReLU after a convolution), in the order given.

    Raises:
        ValueError: a name in ``layers`` is unknown or not a spatial map; the model is not
            an image model, has a layer that enlarges maps (upsampling, transposed
            convolution), or declares output sizes that disagree with the computed ones.
    """
    wanted = None if layers is None else [require_spatial(model, name).name for name in layers]
    axes_of = {}  # id of a KerasTensor -> its geometry
    current = _input_axes(model, input_size)
    rows = []
    for layer in all_layers(model):
        inputs = layer.input if isinstance(layer.input, list | tuple) else [layer.input]
        known = [axes_of[id(t)] for t in inputs if id(t) in axes_of]
        # An input not seen yet (a nested model's own input) continues from the layer before.
        if known:
            current = known[0] if len(known) == 1 else _merge(layer.name, known)
        shape = _output_shape(layer)
        if shape is None:
            continue  # the head (dense, flatten): no spatial geometry left to track
        before, current = current, _apply(layer, current, shape)
        axes_of[id(layer.output)] = current
        if wanted is None:
            report = isinstance(layer, _CONVS + _POOLS + _GLOBAL_POOLS)
        else:
            report = layer.name in wanted
        if report:
            rows.append(_row(layer, before, current, int(shape[3])))
    if wanted is not None:
        rows.sort(key=lambda row: wanted.index(row.name))
    return rows


def _output_shape(layer) -> tuple | None:
    """(batch, height, width, channels) of the output; a global pool counts as 1x1."""
    shape = tuple(layer.output.shape)
    if isinstance(layer, _GLOBAL_POOLS) and len(shape) == 2:
        return shape[0], 1, 1, shape[1]
    return shape if len(shape) == 4 else None


def _apply(layer, axes: tuple[_Axis, _Axis], shape) -> tuple[_Axis, _Axis]:
    """The geometry after ``layer``, checked against the output shape Keras declares."""
    _check_channels_last(layer)
    if isinstance(layer, _UNSUPPORTED):
        raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}) enlarges the map; "
                         "receptive fields are only defined for downsampling networks.")
    if isinstance(layer, _CONVS):
        new = [axis.window(k, s, d, layer.padding) for axis, k, s, d in
               zip(axes, _pair(layer.kernel_size), _pair(layer.strides),
                   _pair(layer.dilation_rate))]
    elif isinstance(layer, _POOLS):
        new = [axis.window(k, s, 1, layer.padding) for axis, k, s in
               zip(axes, _pair(layer.pool_size), _pair(layer.strides))]
    elif isinstance(layer, _GLOBAL_POOLS):
        new = [axis.window(axis.size, 1, 1, "valid") for axis in axes]
    elif isinstance(layer, keras.layers.ZeroPadding2D):
        new = [axis.pad(*p) for axis, p in zip(axes, layer.padding)]
    elif isinstance(layer, keras.layers.Cropping2D):
        new = [axis.pad(-a, -b) for axis, (a, b) in zip(axes, layer.cropping)]
    else:
        new = list(axes)  # element-wise layers: batch norm, activations, dropout, ...
    declared = shape[1:3]
    if any(d is not None and d != a.size for d, a in zip(declared, new)):
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__name__}) outputs {declared[0]}x{declared[1]} "
            f"maps but the receptive-field arithmetic gives {new[0].size}x{new[1].size}; this "
            "layer type changes the geometry in a way the table does not support."
        )
    return new[0], new[1]


def _row(layer, before: tuple[_Axis, _Axis], after: tuple[_Axis, _Axis],
         channels: int) -> LayerGeometry:
    if isinstance(layer, _GLOBAL_POOLS):
        kernel, stride = (before[0].size, before[1].size), (1, 1)
    elif isinstance(layer, _POOLS):
        kernel, stride = _pair(layer.pool_size), _pair(layer.strides)
    elif not isinstance(layer, _CONVS):
        kernel, stride = (1, 1), (1, 1)  # element-wise: it sees what its input sees
    else:
        dilation = _pair(layer.dilation_rate)
        kernel = tuple(d * (k - 1) + 1 for k, d in zip(_pair(layer.kernel_size), dilation))
        stride = _pair(layer.strides)
    return LayerGeometry(
        name=layer.name, kind=_kind(layer), kernel=kernel, stride=stride,
        output=(after[0].size, after[1].size, channels),
        receptive_field=(after[0].hi - after[0].lo + 1, after[1].hi - after[1].lo + 1),
        jump=(after[0].jump, after[1].jump), first=(after[0].lo, after[1].lo))


def receptive_field(model: keras.Model, layer: str) -> tuple[int, int]:
    """(height, width) in input pixels of the patch one unit of ``layer`` sees."""
    return layer_table(model, layers=[layer])[0].receptive_field
