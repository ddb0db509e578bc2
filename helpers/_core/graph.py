"""Walking a Keras model's graph: layers by name and kind, neighbours, and sub-models.

One home for the layer predicates (what is a convolution, a pooling, a rectifier), for a
batch norm's per-channel scale, and for cutting a model at any layer, nested pretrained
bases included (``tap_model``).
"""

from __future__ import annotations

import difflib

import keras
import numpy as np

CONV_TYPES = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
POOL_TYPES = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
GLOBAL_POOL_TYPES = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)
#: Activation names that count as rectifiers (MobileNet uses ReLU6).
RELU_NAMES = ("relu", "relu6")


# ---------------------------------------------------------------------------- finding layers

def all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer of ``model`` (a Keras model or a ``VisModel``) in order, descending into
    nested models."""
    found = []
    for layer in getattr(model, "model", model).layers:
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
    model = getattr(model, "model", model)
    names = [layer.name for layer in all_layers(model)]
    close = difflib.get_close_matches(str(name), names, n=5, cutoff=0.4)
    hint = f"Closest: {', '.join(close)}." if close else f"Valid names: {', '.join(names[:12])}, ..."
    raise ValueError(
        f"Model {model.name!r} has no layer {name!r}. {hint} "
        "List them with helpers.conv_layers(model) or model.summary()."
    )


def input_layer_name(model: keras.Model) -> str:
    """Name of the model's (first) input layer."""
    return model.inputs[0]._keras_history.operation.name


def parents(layer) -> list:
    """The layers whose outputs ``layer`` reads (at its first call)."""
    nodes = getattr(layer, "_inbound_nodes", [])
    return [node.operation for node in nodes[0].parent_nodes] if nodes else []


def children(layer) -> list:
    """The layers that read ``layer``'s output, each once: calling a model's layers on new
    inputs (as feature visualization does for other image sizes) adds more outbound nodes to
    the same layers."""
    found = {}
    for node in getattr(layer, "_outbound_nodes", []):
        found.setdefault(id(node.operation), node.operation)
    return list(found.values())


# ---------------------------------------------------------------------------- predicates

def is_conv(layer) -> bool:
    """Whether ``layer`` is a 2-D convolution (plain, depthwise or separable)."""
    return isinstance(layer, CONV_TYPES)


def activation_name(layer) -> str:
    """The name of ``layer``'s built-in activation ('linear' when it has none)."""
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "linear") if activation is not None else "linear"


def ends_in_relu(layer) -> bool:
    """Whether ``layer``'s output is rectified: a ReLU layer, a ReLU ``Activation``, or a
    layer with a ReLU (or ReLU6) built in."""
    return isinstance(layer, keras.layers.ReLU) or activation_name(layer) in RELU_NAMES


def is_spatial(layer) -> bool:
    """Whether ``layer`` outputs a (batch, height, width, channels) map."""
    try:
        return len(layer.output.shape) == 4
    except (AttributeError, ValueError):
        return False


def conv_layers(model: keras.Model) -> list[str]:
    """Names of the 2-D convolution layers, input to output."""
    return [layer.name for layer in all_layers(model) if is_conv(layer)]


def feature_layers(model: keras.Model) -> list[str]:
    """Layers whose output is a rectified spatial feature map: what the lecture calls a
    convolutional layer's activations.

    For VGG-style models these are the conv layers themselves (ReLU built in); for
    MobileNet, whose convolutions are linear and followed by batch norm, they are the
    ``*_relu`` layers after each convolution.
    """
    return [layer.name for layer in all_layers(model)
            if is_spatial(layer) and ends_in_relu(layer)
            and (is_conv(layer) or not hasattr(layer, "kernel"))]


def last_conv_layer(model: keras.Model) -> str:
    """Name of the last rectified convolutional feature map: the default layer for Grad-CAM.

    Raises:
        ValueError: the model has no spatial convolutional output.
    """
    names = feature_layers(model) or [
        name for name in conv_layers(model) if is_spatial(get_layer(model, name))
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
    if not is_spatial(layer):
        spatial = feature_layers(model) or conv_layers(model)
        raise ValueError(
            f"Layer {name!r} ({type(layer).__name__}) outputs shape {tuple(layer.output.shape)}, "
            f"not a spatial (batch, height, width, channels) map. Pick a convolutional layer, "
            f"e.g. {', '.join(spatial[-3:])}."
        )
    return layer


def resolve_layer(model: keras.Model, layer: str | None) -> keras.layers.Layer:
    """``layer`` by name, checked to output spatial maps, or by default the last rectified
    convolutional layer."""
    return require_spatial(model, last_conv_layer(model) if layer is None else layer)


# ---------------------------------------------------------------------------- batch norm

def batch_norm_after(layer):
    """The batch norm that directly follows ``layer`` (MobileNet's convolutions), or None."""
    after = children(layer)
    if len(after) == 1 and isinstance(after[0], keras.layers.BatchNormalization):
        return after[0]
    return None


def batch_norm_scale(bn) -> np.ndarray:
    """Per-channel factor gamma / sqrt(var + eps) of a batch norm at inference."""
    variance = keras.ops.convert_to_numpy(bn.moving_variance)
    gamma = (keras.ops.convert_to_numpy(bn.gamma) if bn.gamma is not None
             else np.ones_like(variance))
    return (gamma / np.sqrt(variance + bn.epsilon)).astype(np.float32)


def unit_scale(model: keras.Model, layer: str) -> np.ndarray:
    """Per-channel factor of the batch norm right after ``layer`` (ones if there is none).

    A MobileNet unit is what its ReLU sees, batch norm included; its effective weights are
    the kernel times this factor (which can be negative, flipping excitation and inhibition).
    """
    found = get_layer(model, layer)
    bn = batch_norm_after(found)
    return batch_norm_scale(bn) if bn is not None else np.ones(int(found.output.shape[-1]),
                                                               np.float32)


# ---------------------------------------------------------------------------- sub-models

def rebuild(model: keras.Model, hook) -> keras.Model:
    """``model`` rebuilt on the same layers (same weights) with ``hook`` after each layer.

    ``hook(layer, output, taps)`` returns what the rest of the graph sees as the layer's
    output and may append tensors to ``taps``. The result outputs ``[output, *taps]``. A
    nested model is rebuilt the same way and passes its taps out as extra outputs: this is
    why an inner layer of a pretrained base is reachable here, where
    ``keras.Model(outer.inputs, inner_layer.output)`` fails with "graph disconnected".
    """
    taps = []

    def call(layer, *args, **kwargs):
        if isinstance(layer, keras.Model):
            output, *inner_taps = rebuild(layer, hook)(*args, **kwargs)
            taps.extend(inner_taps)
            return output
        return hook(layer, layer(*args, **kwargs), taps)

    if isinstance(model, keras.Sequential):
        inputs = keras.Input(batch_shape=model.input_shape)
        output = inputs
        for layer in model.layers:
            output = call(layer, output)
        return keras.Model(inputs, [output, *taps])
    try:
        clone = keras.models.clone_model(model, clone_function=lambda layer: layer,
                                         call_function=call)
    except ValueError as err:
        raise ValueError(
            f"Cannot trace the layers of {type(model).__name__} {model.name!r} ({err}). "
            "Give a Functional or Sequential model."
        ) from None
    if len(clone.outputs) != 1:
        raise ValueError(f"Model {model.name!r} has several outputs; give a model that ends "
                         "in one tensor of class scores.")
    return keras.Model(clone.input, [clone.outputs[0], *taps])


def tap_model(model: keras.Model, layer_names) -> keras.Model:
    """A model returning ``[*outputs of layer_names, final output]`` from the same input.

    The tutorials' ``keras.Model(model.inputs, [layer.output, ..., model.output])``, made to
    work for layers inside a nested pretrained base too.

    Raises:
        ValueError: an unknown layer, or a layer applied more than once.
    """
    names = [layer_names] if isinstance(layer_names, str) else list(layer_names)
    inputs = {n for n in names if isinstance(get_layer(model, n), keras.layers.InputLayer)}
    targets = {id(get_layer(model, name)): name for name in set(names) - inputs}
    tapped = []  # names in the order the rebuilt graph reaches them

    def tap(layer, output, taps):
        if id(layer) in targets:
            tapped.append(targets[id(layer)])
            taps.append(output)
        return output

    rebuilt = rebuild(model, tap)
    final, *taps = rebuilt.outputs
    if len(tapped) != len(targets):
        twice = sorted({n for n in tapped if tapped.count(n) > 1})
        raise ValueError(f"Layer {twice[0] if twice else names[0]!r} is used more than once "
                         f"in {model.name!r}; pick a layer that is applied once.")
    by_name = dict(zip(tapped, taps), **{n: rebuilt.input for n in inputs})
    return keras.Model(rebuilt.input, [*(by_name[n] for n in names), final],
                       name=f"{model.name}_taps")


def at_size(net: keras.Model, shape) -> keras.Model:
    """``net`` itself, or its layers (same weights) called on a ``keras.Input(shape)``;
    nested models are resized the same way.

    Raises:
        ValueError: a model whose layers only accept their own size (e.g. a Flatten head).
    """
    shape = tuple(shape)
    if tuple(net.inputs[0].shape[1:]) == shape:
        return net

    def call(layer, *args, **kwargs):
        if isinstance(layer, keras.Model):
            return at_size(layer, tuple(args[0].shape[1:]))(*args, **kwargs)
        return layer(*args, **kwargs)

    try:
        if isinstance(net, keras.Sequential):
            inputs = output = keras.Input(shape)
            for layer in net.layers:
                output = call(layer, output)
            return keras.Model(inputs, output, name=net.name)
        return keras.models.clone_model(net, input_tensors=keras.Input(shape),
                                        clone_function=lambda layer: layer, call_function=call)
    except Exception as err:  # noqa: BLE001 - any failure means: this model has a fixed size
        raise ValueError(f"Model {net.name!r} only accepts {tuple(net.inputs[0].shape[1:3])} "
                         f"images ({err}); pass size=None.") from None
