"""Finding layers by name and kind: convolutions, their post-ReLU feature maps, the last one."""

from __future__ import annotations

import difflib

import keras

CONV_TYPES = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)


def all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer of ``model`` in order, descending into nested models."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(all_layers(layer))
        else:
            found.append(layer)
    return found


def get_layer(model: keras.Model, name: str) -> keras.layers.Layer:
    """The layer called ``name``, searched in nested models too.

    Raises:
        ValueError: no such layer; the message lists the closest valid names.
    """
    for layer in all_layers(model):
        if layer.name == name:
            return layer
    names = [layer.name for layer in all_layers(model)]
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.4)
    hint = f"Closest: {', '.join(close)}." if close else f"Valid names: {', '.join(names[:12])}, ..."
    raise ValueError(
        f"Model {model.name!r} has no layer {name!r}. {hint} "
        "List them with helpers.conv_layers(model) or model.summary()."
    )


def is_conv(layer: keras.layers.Layer) -> bool:
    """Whether ``layer`` is a 2-D convolution (plain, depthwise or separable)."""
    return isinstance(layer, CONV_TYPES)


def conv_layers(model: keras.Model) -> list[str]:
    """Names of the 2-D convolution layers, input to output."""
    return [layer.name for layer in all_layers(model) if is_conv(layer)]


def _is_spatial(layer: keras.layers.Layer) -> bool:
    try:
        return len(layer.output.shape) == 4
    except (AttributeError, ValueError):
        return False


def _has_relu(layer: keras.layers.Layer) -> bool:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") in ("relu", "relu6")


def feature_layers(model: keras.Model) -> list[str]:
    """Layers whose output is a rectified spatial feature map: what the lecture calls a
    convolutional layer's activations.

    For VGG-style models these are the conv layers themselves (ReLU built in); for
    MobileNet, whose convolutions are linear and followed by batch norm, they are the
    ``*_relu`` layers after each convolution.
    """
    names = []
    for layer in all_layers(model):
        relu_layer = isinstance(layer, keras.layers.ReLU) or (
            isinstance(layer, keras.layers.Activation) and _has_relu(layer)
        )
        if _is_spatial(layer) and (relu_layer or (is_conv(layer) and _has_relu(layer))):
            names.append(layer.name)
    return names


def last_conv_layer(model: keras.Model) -> str:
    """Name of the last rectified convolutional feature map: the default layer for Grad-CAM.

    Raises:
        ValueError: the model has no spatial convolutional output.
    """
    names = feature_layers(model) or [
        name for name in conv_layers(model) if _is_spatial(get_layer(model, name))
    ]
    if not names:
        raise ValueError(
            f"Model {model.name!r} has no convolutional layer with a spatial output; "
            "heatmaps need a CNN."
        )
    return names[-1]


def require_spatial(model: keras.Model, name: str) -> keras.layers.Layer:
    """The layer ``name``, checked to output a (batch, height, width, channels) map.

    Raises:
        ValueError: the layer is unknown, or its output is not a spatial map.
    """
    layer = get_layer(model, name)
    if not _is_spatial(layer):
        spatial = feature_layers(model) or conv_layers(model)
        raise ValueError(
            f"Layer {name!r} ({type(layer).__name__}) outputs shape {tuple(layer.output.shape)}, "
            f"not a spatial (batch, height, width, channels) map. Pick a convolutional layer, "
            f"e.g. {', '.join(spatial[-3:])}."
        )
    return layer
