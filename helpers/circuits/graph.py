"""Where circuits live in a model: the layers whose units have circuits, where their inputs
come from, and the chains of layers between two of them.

A *feature* is one channel of a convolutional layer. Its circuit is read from the channels of
the layer it reads (``feature_source``), or, for MobileNet's pointwise convolutions, from the
feature map before the depthwise convolution (``default_from_layer``). ``CHOICES`` says where
notebook 05 looks in each supported model.
"""

from __future__ import annotations

import keras

from helpers._core import graph as core_graph
from helpers._core.graph import (CONV_TYPES, POOL_TYPES, all_layers, batch_norm_after, children,
                                 ends_in_relu, get_layer, parents)
from helpers._core.model import keras_model

#: Layers that move or pool positions but keep the meaning of each channel.
_CHANNEL_KEEPING = POOL_TYPES + (keras.layers.ZeroPadding2D, keras.layers.Dropout,
                                 keras.layers.SpatialDropout2D, keras.layers.Identity)


def is_unit_layer(layer) -> bool:
    """Whether ``layer`` mixes channels, so that its units have circuits: a plain or separable
    2-D convolution (a depthwise one reads one input channel per output channel)."""
    return isinstance(layer, keras.layers.Conv2D | keras.layers.SeparableConv2D)


def circuit_layers(model) -> list[str]:
    """Names of the layers whose units have circuits (see ``is_unit_layer``), input to output."""
    return [layer.name for layer in all_layers(keras_model(model)) if is_unit_layer(layer)]


#: Where notebook 05 looks in each model: ``circuit``, a layer whose circuit section 2 reads;
#: ``expanded``, a (from, to) pair of non-adjacent layers; ``tuning``, a middle layer to probe
#: with curves; ``equivariance``, the layer whose kernels expanded to the pixels are compared;
#: ``picker``, the explorer's default layer. MobileNet's are pointwise layers (their circuits
#: are expanded through the depthwise convolution before them); MobileNetV2's stop before its
#: first residual addition (block 2), since expanded weights follow a single chain of layers.
CHOICES = {
    "shapes": dict(circuit="block2_conv1", expanded=("block1_conv1", "block2_conv2"),
                   tuning="block3_conv1", equivariance="block2_conv1", picker="block3_conv1"),
    "mobilenet": dict(circuit="conv_pw_2", expanded=("conv1_relu", "conv_pw_2"),
                      tuning="conv_pw_9_relu", equivariance="conv_pw_2", picker="conv_pw_3"),
    "vgg16": dict(circuit="block1_conv2", expanded=("block1_conv1", "block2_conv1"),
                  tuning="block3_conv3", equivariance="block1_conv2", picker="block2_conv2"),
    "mobilenet_v2": dict(circuit="block_1_project", expanded=("Conv1_relu", "block_1_project"),
                         tuning="block_6_expand_relu", equivariance="block_1_project",
                         picker="block_2_project"),
}
CHOICES["mobilenet_small"] = CHOICES["mobilenet"]  # the same layers, a quarter of the channels


def choices(model) -> dict:
    """Where to look in ``model`` (a VisModel): ``CHOICES[model.name]`` plus ``layers``, the
    channel-mixing layers whose circuits can be drawn (see ``drawable_layers``), for the picker.

    Raises:
        ValueError: a model name without choices; the message lists the known ones.
    """
    name = getattr(model, "name", None)
    if name not in CHOICES:
        raise ValueError(f"No layer choices for model {name!r}; known: {', '.join(CHOICES)}. "
                         "Pick the layers by hand (circuits.circuit_layers lists them).")
    return dict(CHOICES[name], layers=drawable_layers(model))


def drawable_layers(model, limit: int = 8) -> list[str]:
    """The first ``limit`` channel-mixing layers whose circuits ``show_circuit`` can draw: those
    that lie, with the layer their inputs are read from (as ``default_from_layer`` says), on a
    single chain of layers from the image (MobileNetV2's residual blocks do not)."""
    found = []
    pixels = input_layer_name(model)
    for name in circuit_layers(model):
        source = default_from_layer(model, name) or feature_source(model, name)
        try:
            chain_between(model, pixels, name)
            if not is_input(model, source):
                chain_between(model, pixels, source)
        except ValueError:
            continue
        found.append(name)
        if len(found) == limit:
            break
    return found


def unit_layer(model, name: str):
    """The layer ``name``, checked to be a channel-mixing convolution.

    Raises:
        ValueError: an unknown layer, a depthwise convolution (the message points to the
            pointwise one after it), or a layer that is not a convolution.
    """
    net = keras_model(model)
    layer = get_layer(net, name)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        after = [c.name for c in children(layer)]
        raise ValueError(
            f"{name!r} is a depthwise convolution: its channel c reads only input channel c, so "
            f"a unit has a single input and no circuit to read. Read the pointwise (1x1) "
            f"convolution after it instead, e.g. circuit(model, 'conv_pw_N', unit, "
            f"from_layer=...) to expand through both (layers after it: {after})."
        )
    if not is_unit_layer(layer):
        raise ValueError(
            f"{name!r} is a {type(layer).__name__}, not a convolution: circuits here connect "
            f"the channels of convolutional layers. Pick one of: "
            f"{', '.join(circuit_layers(net)[:8])}, ..."
        )
    return layer


def unit_scale(model, layer: str):
    """Per-unit factor of the batch norm right after convolution ``layer`` (ones if none):
    ``helpers._core.graph.unit_scale`` for a VisModel or a Keras model."""
    return core_graph.unit_scale(keras_model(model), layer)


def input_layer_name(model) -> str:
    """Name of the model's input layer (use it as ``from_layer`` to expand weights down to
    the pixels)."""
    return core_graph.input_layer_name(keras_model(model))


def is_input(model, layer: str) -> bool:
    """Whether ``layer`` is the model's input (its channels are the colours)."""
    return isinstance(get_layer(keras_model(model), layer), keras.layers.InputLayer)


def feature_source(model, layer: str) -> str:
    """The layer whose channels ``layer``'s input channels are: its input, followed back over
    pooling, padding and dropout (which keep each channel's meaning)."""
    reads = parents(get_layer(keras_model(model), layer))
    if len(reads) != 1:
        raise ValueError(f"{layer!r} reads {len(reads)} layers; circuits need a single input.")
    source = reads[0]
    while isinstance(source, _CHANNEL_KEEPING) and len(parents(source)) == 1:
        source = parents(source)[0]
    return source.name


def default_from_layer(model, layer: str) -> str | None:
    """Where to read the inputs of ``layer``'s units from, for circuits between features.

    None (the layer's own kernel) unless a depthwise convolution lies between ``layer`` and
    the channel-mixing layer before it, as in MobileNet, where a pointwise convolution reads
    the depthwise one's outputs, each a filtered copy of one earlier channel. Then: the
    feature map of that earlier layer, so the depthwise filter is expanded into the weights
    (3x3 kernels instead of 1x1 numbers).
    """
    current = parents(get_layer(keras_model(model), layer))
    through_depthwise, source = False, None
    while len(current) == 1 and not (is_unit_layer(current[0])
                                     or isinstance(current[0], keras.layers.InputLayer)):
        found = current[0]
        if isinstance(found, keras.layers.DepthwiseConv2D):
            through_depthwise, source = True, None
        elif through_depthwise and source is None and ends_in_relu(found):
            source = found.name
        current = parents(found)
    if through_depthwise and len(current) == 1 and source is None:
        source = current[0].name  # the depthwise reads the image (or a linear layer) directly
    return source if through_depthwise else None


def feature_map_of(model, layer: str) -> str:
    """The rectified output of convolution ``layer``: the layer itself if its ReLU is built in,
    else the ReLU after it (after its batch norm, in MobileNet)."""
    current = get_layer(keras_model(model), layer)
    while not ends_in_relu(current):
        after = children(current)
        if len(after) != 1 or not isinstance(
                after[0], keras.layers.BatchNormalization | keras.layers.ReLU
                | keras.layers.Activation):
            return layer  # a linear convolution without ReLU: its output is the feature
        current = after[0]
    return current.name


def visualized_layer(model, layer: str) -> str:
    """The layer to maximize for ``layer``'s units: before a ReLU that follows a batch norm
    (MobileNet), the batch norm, since ReLU6 stops the gradient once a unit reaches 6."""
    found = get_layer(keras_model(model), layer)
    reads = parents(found)
    if isinstance(found, keras.layers.ReLU) and len(reads) == 1 and \
            isinstance(reads[0], keras.layers.BatchNormalization):
        return reads[0].name
    bn = batch_norm_after(found) if is_unit_layer(found) else None
    return bn.name if bn is not None else layer


def chain_between(model, from_layer: str, to_layer: str) -> list:
    """The layers after ``from_layer`` up to and including ``to_layer``, in order.

    Raises:
        ValueError: ``from_layer`` does not feed into ``to_layer``, or the path branches.
    """
    net = keras_model(model)
    start, current = get_layer(net, from_layer), get_layer(net, to_layer)
    if start is current:
        raise ValueError(f"from_layer and to_layer are both {to_layer!r}: pick an earlier "
                         "from_layer, or from_layer=None for the layer's own kernel.")
    path = []
    while current is not start:
        path.append(current)
        reads = parents(current)
        if not reads:
            raise ValueError(
                f"Layer {from_layer!r} does not feed into {to_layer!r}: they are not connected "
                f"by a path forwards. Pick a layer before {to_layer!r} as from_layer."
            )
        if len(reads) > 1:
            raise ValueError(
                f"The path into {current.name!r} branches ({', '.join(p.name for p in reads)}):"
                " expanded weights here follow a single chain of layers."
            )
        current = reads[0]
    return path[::-1]


def path_between(model, from_layer: str, to_layer: str) -> list:
    """The layers from (excluding) ``from_layer`` up to (including) ``to_layer``, plus the batch
    norm right after ``to_layer`` if there is one.

    Raises:
        ValueError: ``to_layer`` is not a channel-mixing convolution, ``from_layer`` does not
            feed into it, or the path branches (a residual connection, a concatenation).
    """
    bn = batch_norm_after(unit_layer(model, to_layer))
    return chain_between(model, from_layer, to_layer) + ([bn] if bn is not None else [])


def first_layer_conv(model, layer: str) -> str | None:
    """The convolution that computes ``layer`` straight from the pixels (``layer`` being it,
    or its batch norm, ReLU or padding), or None when more than one convolution (or a pool)
    lies between ``layer`` and the image."""
    try:
        chain = chain_between(model, input_layer_name(model), layer)
    except ValueError:
        return None
    convs = [found for found in chain if isinstance(found, CONV_TYPES)]
    plain = all(isinstance(found, CONV_TYPES + (keras.layers.BatchNormalization,
                                                keras.layers.ReLU, keras.layers.ZeroPadding2D,
                                                keras.layers.Activation))
                for found in chain)
    if len(convs) != 1 or not plain or not is_unit_layer(convs[0]):
        return None
    return convs[0].name
