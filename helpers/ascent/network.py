"""The network the ascent climbs: cut at a layer, at the size of the images grown.

The core's ``tap_model`` cuts a model at any layer, inside a nested pretrained base too, and
its ``at_size`` calls the same layers (same weights) on an input of another size, which a fully
convolutional part accepts, so feature visualizations can be grown smaller (faster) or larger
than the model's own input.
"""

from __future__ import annotations

import keras
import numpy as np

from helpers._core.compiled import cached
from helpers._core.graph import at_size, require_spatial, tap_model
from helpers._core.inputs import check_count
from helpers._core.model import keras_model


def image_size(net: keras.Model, size) -> tuple[int, int]:
    """(height, width) of the images to grow: ``size`` (an int or a pair), or by default the
    model's own input size.

    Raises:
        ValueError: no size for a model that accepts any, or a side under 8 pixels.
    """
    native = tuple(net.inputs[0].shape[1:3])
    if size is None:
        if None in native:
            raise ValueError(f"Model {net.name!r} accepts any image size; pass size=(H, W).")
        return native
    sides = (size, size) if np.ndim(size) == 0 else tuple(size)
    return tuple(check_count("size", side, minimum=8) for side in sides)


def layer_model(model, layer: str | None, size=None) -> keras.Model:
    """The Keras model cut at ``layer``'s output (the whole model for None), taking images of
    ``size`` (an int or (height, width); default: the model's own input size). Works for
    layers inside a nested pretrained base; built once per model, layer and size.

    Args:
        model: a ``VisModel`` or a Keras model.

    Raises:
        ValueError: unknown layer, or a model whose layers only accept their own size.
    """
    net = keras_model(model)
    shape = (*image_size(net, size), int(net.inputs[0].shape[-1]))
    if layer is None:
        return cached(net, ("ascent.at_size", shape), lambda: at_size(net, shape))
    # cut first: the layers after the cut (a Flatten head) may accept one size only
    return cached(net, ("ascent.layer_model", layer, shape),
                  lambda: at_size(cut_at(net, layer), shape))


def cut_at(net: keras.Model, layer: str, then=None) -> keras.Model:
    """``net`` from its input to ``layer``'s output (through ``then``, a layer applied to that
    output, if given), one input and one output tensor, at the model's own size."""
    tapped = tap_model(net, [layer])
    tensor = tapped.outputs[0] if then is None else then(tapped.outputs[0])
    return keras.Model(tapped.inputs[0], tensor, name=f"{net.name}_to_{layer}")


def num_channels(net: keras.Model, layer: str) -> int:
    """How many channels the spatial layer ``layer`` of ``net`` outputs.

    Raises:
        ValueError: unknown layer, no spatial output, or the input layer.
    """
    found = require_spatial(net, layer)
    if isinstance(found, keras.layers.InputLayer):
        raise ValueError(f"{layer!r} is the input layer; pick a convolutional layer after it.")
    return int(found.output.shape[-1])


def num_filters(model, layer: str) -> int:
    """How many filters (output channels) the spatial layer ``layer`` has.

    Args:
        model: a ``VisModel`` or a Keras model.
    """
    return num_channels(keras_model(model), layer)
