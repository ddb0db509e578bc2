"""Circuits: how a unit is built from the units of earlier layers, read from the weights.

A *feature* here is one channel of a convolutional layer; a *circuit* is a unit together with
the input channels that feed it and the weights between them. For a 3x3 convolution the
weights from input channel i into unit j are the 3x3 slice ``kernel[:, :, i, j]``: where, around
the unit's position, input feature i excites (positive, red) or inhibits (negative, blue) it.

- ``circuit``: the strongest excitatory and inhibitory input channels of a unit, with their
  weight slices (exact kernel slices; a batch norm after the convolution scales them).
- ``expanded_weights``: the weights between non-adjacent layers, through pooling layers,
  depthwise convolutions or whole blocks, by linearizing the path between them: ReLU becomes
  the identity, max-pooling becomes average pooling, biases and batch-norm shifts drop out
  (they only add constants), batch-norm scales stay. What is left is linear and
  translation-equivariant, so it *is* a convolution; its kernel is read off with one gradient.
  ``linearization_quality`` measures how far that linear picture holds on real inputs.
- ``default_from_layer``: where to read a unit's inputs: its own kernel, or, for MobileNet's
  pointwise convolutions, expanded through the depthwise convolution before them.
- ``orientation_tuning``: every channel's response to oriented stimuli (``helpers.stimuli``),
  its preferred orientation and tuning width; ``sharpest_curve_detectors`` picks the channels
  that prefer curves to straight lines and are tuned the most sharply; ``edge_preference``
  tells edge detectors from colour and brightness detectors.
- ``rotated_pairs``: equivariance, pairs of channels whose kernels are rotated copies.
- ``feature_images`` (feature visualizations of units, by ``helpers.ascent``),
  ``plot_circuit``, ``show_circuit`` and ``circuit_picker``: Distill-style figures and the
  interactive picker.

References:
    Olah et al., "Zoom In: An Introduction to Circuits", Distill (2020); Cammarata et al.,
    "Curve Detectors" and "Curve Circuits", Distill (2020, 2021); Olah et al., "Naturally
    Occurring Equivariance in Neural Networks", Distill (2020); Voss et al., "Visualizing
    Weights", Distill (2021).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from matplotlib.patches import ConnectionPatch

from helpers import stimuli as stim
from helpers.activations import feature_extractor
from helpers._core.graph import all_layers, get_layer

# --- walking the graph ---------------------------------------------------------------------------

_CONVS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
_POOLS = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
#: Layers that a linearized path passes through unchanged (ReLU counts as the identity).
_IDENTITY = (keras.layers.ReLU, keras.layers.Dropout, keras.layers.SpatialDropout2D,
             keras.layers.Identity)
#: Every layer a path may be linearized through (plus ReLU-like ``Activation`` layers).
_LINEARIZABLE = _CONVS + _POOLS + _IDENTITY + (keras.layers.BatchNormalization,
                                               keras.layers.ZeroPadding2D)
#: Activations that linearizing replaces by the identity.
_IDENTITY_ACTIVATIONS = ("relu", "relu6", "linear")
#: Layers that move or pool positions but keep the meaning of each channel.
_CHANNEL_KEEPING = _POOLS + (keras.layers.ZeroPadding2D, keras.layers.Dropout,
                             keras.layers.SpatialDropout2D, keras.layers.Identity)


def _keras_model(model) -> keras.Model:
    """The Keras model of a VisModel, or the model itself."""
    return model.model if hasattr(model, "preprocess_fn") else model


def _parents(layer) -> list:
    """The layers whose outputs ``layer`` reads."""
    nodes = getattr(layer, "_inbound_nodes", [])
    return [node.operation for node in nodes[0].parent_nodes] if nodes else []


def _children(layer) -> list:
    """The layers that read ``layer``'s output, each once: calling a model's layers on new
    inputs (as feature visualization does, for other image sizes) adds more outbound nodes
    to the same layers."""
    found = {}
    for node in getattr(layer, "_outbound_nodes", []):
        found.setdefault(id(node.operation), node.operation)
    return list(found.values())


def _activation_name(layer) -> str:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "linear") if activation is not None else "linear"


def is_unit_layer(layer) -> bool:
    """Whether ``layer`` mixes channels, so that its units have circuits: a plain or separable
    2-D convolution (a depthwise one reads one input channel per output channel)."""
    return isinstance(layer, keras.layers.Conv2D | keras.layers.SeparableConv2D)


def circuit_layers(model) -> list[str]:
    """Names of the layers whose units have circuits (see ``is_unit_layer``), input to output."""
    return [layer.name for layer in all_layers(_keras_model(model)) if is_unit_layer(layer)]


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
    whose inputs (read as ``default_from_layer`` says) lie on a single chain of layers from the
    image, so that feature visualizations know their receptive field (MobileNetV2's residual
    blocks do not)."""
    found = []
    for name in circuit_layers(model):
        source = default_from_layer(model, name) or feature_source(model, name)
        try:
            _chain(model, input_layer_name(model), name)
            if not _is_input(model, source):
                receptive_field(model, source)
        except ValueError:
            continue
        found.append(name)
        if len(found) == limit:
            break
    return found


def _unit_layer(model, name: str):
    """The layer ``name``, checked to be a channel-mixing convolution."""
    layer = get_layer(model, name)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        after = [c.name for c in _children(layer)]
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
            f"{', '.join(circuit_layers(model)[:8])}, ..."
        )
    return layer


def _batch_norm_after(layer):
    """The batch norm that directly follows ``layer`` (MobileNet's convolutions), or None."""
    children = _children(layer)
    if len(children) == 1 and isinstance(children[0], keras.layers.BatchNormalization):
        return children[0]
    return None


def _bn_scale(bn) -> np.ndarray:
    """Per-channel factor gamma / sqrt(var + eps) of a batch norm at inference."""
    variance = bn.moving_variance.numpy()
    gamma = (bn.gamma.numpy() if bn.gamma is not None
             else np.ones_like(variance))
    return (gamma / np.sqrt(variance + bn.epsilon)).astype(np.float32)


def unit_scale(model, layer: str) -> np.ndarray:
    """Per-unit factor of the batch norm right after convolution ``layer`` (ones if none).

    A MobileNet unit is what its ReLU sees, batch norm included; its effective weights are
    the kernel times this factor (which can be negative, flipping excitation and inhibition).
    """
    found = get_layer(_keras_model(model), layer)
    bn = _batch_norm_after(found)
    channels = int(found.output.shape[-1])
    return _bn_scale(bn) if bn is not None else np.ones(channels, np.float32)


def input_layer_name(model) -> str:
    """Name of the model's input layer (use it as ``from_layer`` to expand weights down to
    the pixels)."""
    return _keras_model(model).inputs[0]._keras_history.operation.name


def feature_source(model, layer: str) -> str:
    """The layer whose channels ``layer``'s input channels are: its input, followed back over
    pooling, padding and dropout (which keep each channel's meaning)."""
    current = get_layer(_keras_model(model), layer)
    parents = _parents(current)
    if len(parents) != 1:
        raise ValueError(f"{layer!r} reads {len(parents)} layers; circuits need a single input.")
    source = parents[0]
    while isinstance(source, _CHANNEL_KEEPING) and len(_parents(source)) == 1:
        source = _parents(source)[0]
    return source.name


def _is_feature_map(layer) -> bool:
    """Whether ``layer`` outputs rectified features: a ReLU, or a convolution with one built in."""
    return isinstance(layer, keras.layers.ReLU) or (
        isinstance(layer, _CONVS + (keras.layers.Activation,))
        and _activation_name(layer) in ("relu", "relu6"))


def default_from_layer(model, layer: str) -> str | None:
    """Where to read the inputs of ``layer``'s units from, for circuits between features.

    None (the layer's own kernel) unless a depthwise convolution lies between ``layer`` and
    the channel-mixing layer before it, as in MobileNet, where a pointwise convolution reads
    the depthwise one's outputs, each a filtered copy of one earlier channel. Then: the
    feature map of that earlier layer, so the depthwise filter is expanded into the weights
    (3x3 kernels instead of 1x1 numbers).
    """
    current = _parents(get_layer(_keras_model(model), layer))
    through_depthwise, source = False, None
    while len(current) == 1 and not (is_unit_layer(current[0])
                                     or isinstance(current[0], keras.layers.InputLayer)):
        found = current[0]
        if isinstance(found, keras.layers.DepthwiseConv2D):
            through_depthwise, source = True, None
        elif through_depthwise and source is None and _is_feature_map(found):
            source = found.name
        current = _parents(found)
    if through_depthwise and len(current) == 1 and source is None:
        source = current[0].name  # the depthwise reads the image (or a linear layer) directly
    return source if through_depthwise else None


def feature_map_of(model, layer: str) -> str:
    """The rectified output of convolution ``layer``: the layer itself if its ReLU is built in,
    else the ReLU after it (after its batch norm, in MobileNet)."""
    found = get_layer(_keras_model(model), layer)
    current = found
    while not _is_feature_map(current):
        children = _children(current)
        if len(children) != 1 or not isinstance(
                children[0], keras.layers.BatchNormalization | keras.layers.ReLU
                | keras.layers.Activation):
            return layer  # a linear convolution without ReLU: its output is the feature
        current = children[0]
    return current.name


def most_active_unit(model, layer: str, x) -> int:
    """The unit of convolution ``layer`` with the largest mean rectified activation on the
    preprocessed batch ``x``: a unit worth looking at for this input."""
    maps = _activations(model, feature_map_of(model, layer), x)
    return int(maps.mean(axis=(0, 1, 2)).argmax())


def _chain(model, from_layer: str, to_layer: str) -> list:
    """The layers after ``from_layer`` up to and including ``to_layer``, in order.

    Raises:
        ValueError: ``from_layer`` does not feed into ``to_layer``, or the path branches.
    """
    keras_model = _keras_model(model)
    start, current = get_layer(keras_model, from_layer), get_layer(keras_model, to_layer)
    if start is current:
        raise ValueError(f"from_layer and to_layer are both {to_layer!r}: pick an earlier "
                         "from_layer, or from_layer=None for the layer's own kernel.")
    path = []
    while current is not start:
        path.append(current)
        parents = _parents(current)
        if not parents:
            raise ValueError(
                f"Layer {from_layer!r} does not feed into {to_layer!r}: they are not connected "
                f"by a path forwards. Pick a layer before {to_layer!r} as from_layer."
            )
        if len(parents) > 1:
            raise ValueError(
                f"The path into {current.name!r} branches ({', '.join(p.name for p in parents)}):"
                " expanded weights here follow a single chain of layers."
            )
        current = parents[0]
    return path[::-1]


def path_between(model, from_layer: str, to_layer: str) -> list:
    """The layers from (excluding) ``from_layer`` up to (including) ``to_layer``, plus the batch
    norm right after ``to_layer`` if there is one.

    Raises:
        ValueError: ``to_layer`` is not a channel-mixing convolution, ``from_layer`` does not
            feed into it, or the path branches (a residual connection, a concatenation).
    """
    target = _unit_layer(_keras_model(model), to_layer)
    bn = _batch_norm_after(target)
    return _chain(model, from_layer, to_layer) + ([bn] if bn is not None else [])


def receptive_field(model, layer: str) -> int:
    """Side in pixels of the input patch that one unit of ``layer`` sees."""
    return _geometry(_chain(model, input_layer_name(model), layer))[0]


# --- weights and expanded weights ----------------------------------------------------------------

def effective_kernel(model, layer: str) -> np.ndarray:
    """Kernel (kh, kw, in_channels, units) of convolution ``layer``, times the scale of the
    batch norm right after it (see ``unit_scale``). For a model without batch norm this is
    the kernel itself."""
    found = _unit_layer(_keras_model(model), layer)
    if isinstance(found, keras.layers.SeparableConv2D):  # depthwise x pointwise, exactly
        return expanded_weights(model, _parents(found)[0].name, layer)
    kernel = found.kernel.numpy()
    bn = _batch_norm_after(found)
    return kernel * _bn_scale(bn) if bn is not None else kernel


def _linear_step(layer, x, ones: bool):
    """``layer`` applied to ``x`` with ReLU as identity, max-pool as average pool, biases and
    batch-norm shifts left out. With ``ones``, every weight is 1: its output shows which input
    positions reach which output (the receptive field), whatever the weights' signs."""
    def weight(w):
        w = w.numpy()
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
        return x if ones else x * _bn_scale(layer)
    if isinstance(layer, _POOLS):
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


def _geometry(path) -> tuple[int, int]:
    """(receptive field, jump) of the path's output in units of its input's pixels."""
    field, jump = 1, 1
    for layer in path:
        if isinstance(layer, _POOLS):
            kernel, stride, dilation = layer.pool_size[0], layer.strides[0], 1
        elif isinstance(layer, _CONVS):
            kernel, stride = layer.kernel_size[0], layer.strides[0]
            dilation = layer.dilation_rate[0]
        else:
            continue
        field += dilation * (kernel - 1) * jump
        jump *= stride
    return field, jump


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
    return LinearPath(from_layer, to_layer, layers, *_geometry(layers))


def _linearizable(layer) -> bool:
    return isinstance(layer, _LINEARIZABLE) or (
        isinstance(layer, keras.layers.Activation)
        and _activation_name(layer) in _IDENTITY_ACTIVATIONS)


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
    keras_model = _keras_model(model)
    in_channels = int(get_layer(keras_model, from_layer).output.shape[-1])
    units = int(get_layer(keras_model, to_layer).output.shape[-1])
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

    For the preprocessed batch ``x``, the real pre-activation of every unit of ``to_layer``
    (batch norm included, ReLU not yet applied) is compared with the linear path's output
    on the same ``from_layer`` activations, over all positions and images.

    Returns:
        (units,) Pearson correlations: 1 means the linear picture is exact up to a constant
        (the dropped biases); NaN for a unit that is constant here.
    """
    path = linear_path(model, from_layer, to_layer)
    start = _activations(model, from_layer, x)
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
    units = int(get_layer(_keras_model(model), layer).output.shape[-1])
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


# --- circuits ----------------------------------------------------------------------------------

#: How input channels are ranked: net weight (sum of the slice) or its largest entry.
RANKINGS = ("sum", "peak")


@dataclass(frozen=True)
class Connection:
    """One input channel of a circuit.

    Attributes:
        channel: the input channel's index.
        weights: its (kh, kw) weight slice into the unit.
        strength: the signed ranking score (``Circuit.rank``): > 0 excites, < 0 inhibits.
    """

    channel: int
    weights: np.ndarray
    strength: float


@dataclass(frozen=True)
class Circuit:
    """A unit and its strongest inputs.

    Attributes:
        layer: the unit's layer; unit: its channel.
        input_layer: the layer whose channels are the inputs.
        excitatory: strongest positive inputs, strongest first.
        inhibitory: strongest negative inputs, strongest first.
        expanded: whether the weights are expanded across several layers.
        rank: how inputs were ranked (``RANKINGS``).
        kernel_size: (height, width) of each weight slice.
    """

    layer: str
    unit: int
    input_layer: str
    excitatory: tuple[Connection, ...]
    inhibitory: tuple[Connection, ...]
    expanded: bool
    rank: str
    kernel_size: tuple[int, int]

    @property
    def connections(self) -> tuple[Connection, ...]:
        return self.excitatory + self.inhibitory


def _scores(weights: np.ndarray, rank: str) -> np.ndarray:
    """Signed score of each input channel of (kh, kw, in_channels) weights."""
    if rank == "sum":
        return weights.sum(axis=(0, 1))
    flat = weights.reshape(-1, weights.shape[-1])
    return np.where(flat.max(axis=0) >= -flat.min(axis=0), flat.max(axis=0), flat.min(axis=0))


def circuit(model, layer: str, unit: int, from_layer: str | None = None, top: int = 3,
            rank: str | None = None, min_share: float = 0.05, channels=None) -> Circuit:
    """The ``top`` strongest excitatory and inhibitory input channels of ``unit`` of ``layer``.

    Args:
        model: a VisModel or a Keras model.
        layer: a convolution (plain, pointwise or separable; not depthwise).
        unit: the unit's channel index.
        from_layer: None to read the layer's own kernel (its input channels, followed back over
            pooling, are the inputs), or an earlier layer to read expanded weights from it.
        top: how many inputs of each sign.
        rank: ``"sum"`` ranks inputs by the sum of their weight slice (how much the unit moves
            when that input fires evenly everywhere), ``"peak"`` by their largest weight.
            Default: ``"sum"`` for a layer's own kernel, ``"peak"`` for expanded weights, whose
            larger kernels often excite in one place and inhibit in another, which a sum
            would cancel.
        min_share: leave out inputs whose score is below this share of the strongest one's
            (in absolute value): they hardly matter.
        channels: only consider these input channels (e.g. the edge detectors among them).

    Raises:
        ValueError: unit out of range, ``top`` < 1, unknown ``rank``, a layer that is not a
            convolution, or layers that are not connected.
    """
    if rank is None:
        rank = "sum" if from_layer is None else "peak"
    if rank not in RANKINGS:
        raise ValueError(f"rank must be one of {RANKINGS}; got {rank!r}.")
    if int(top) < 1:
        raise ValueError(f"top must be at least 1; got {top}.")
    weights = unit_weights(model, layer, unit, from_layer)
    scores = _scores(weights, rank)
    if channels is not None:
        keep = np.zeros(len(scores), bool)
        chosen = np.asarray(list(channels), dtype=int)
        if chosen.size == 0 or chosen.min() < 0 or chosen.max() >= len(scores):
            raise ValueError(f"channels must be a non-empty list of input channels in "
                             f"0..{len(scores) - 1}; got {list(channels)}.")
        keep[chosen] = True
        scores = np.where(keep, scores, 0.0)
    floor = min_share * np.abs(scores).max()
    order = np.argsort(scores)
    positive = [int(i) for i in order[::-1][:top] if scores[i] > max(floor, 0)]
    negative = [int(i) for i in order[:top] if scores[i] < -max(floor, 0)]

    def connect(channels):
        return tuple(Connection(c, weights[..., c], float(scores[c])) for c in channels)

    source = feature_source(model, layer) if from_layer is None else from_layer
    return Circuit(layer, int(unit), source, connect(positive), connect(negative),
                   from_layer is not None, rank, tuple(weights.shape[:2]))


# --- orientation tuning --------------------------------------------------------------------------

def _activations(model, layer: str, x, batch_size: int = 128) -> np.ndarray:
    """Output of ``layer`` for the preprocessed batch ``x``, in batches."""
    extractor = feature_extractor(_keras_model(model), [layer])
    x = np.asarray(x, np.float32)
    return np.concatenate([keras.ops.convert_to_numpy(
        extractor(x[i:i + batch_size], training=False)) for i in range(0, len(x), batch_size)])


def central_responses(model, layer: str, x) -> np.ndarray:
    """Activation of every channel of ``layer`` at the centre of its map, (N, channels).

    For an even-sized map the centre lies between units, so the 2x2 (or 1x2) units around it
    are averaged: the stimuli of ``helpers.stimuli`` are centred on the image's centre.
    """
    maps = _activations(model, layer, x)
    if maps.ndim != 4:
        raise ValueError(f"Layer {layer!r} outputs shape {maps.shape}; tuning curves need a "
                         "spatial (batch, height, width, channels) map.")
    h, w = maps.shape[1:3]
    return maps[:, (h - 1) // 2:h // 2 + 1, (w - 1) // 2:w // 2 + 1, :].mean(axis=(1, 2))


def tuning_width(curve, step: float) -> float:
    """Full width at half maximum of a circular tuning curve, in degrees.

    The half level lies halfway between the curve's minimum and maximum; the width runs from
    where the curve crosses it left of the peak to where it crosses it right of the peak
    (linearly interpolated). A flat curve has width 360 (no preference).

    Args:
        curve: responses at equally spaced orientations around the full circle.
        step: degrees between neighbouring orientations.
    """
    curve = np.asarray(curve, dtype=np.float64)
    low, high = curve.min(), curve.max()
    if not high - low > 1e-12 * max(abs(high), 1.0):
        return 360.0
    half = (low + high) / 2
    peak, n = int(np.argmax(curve)), len(curve)

    def reach(direction: int) -> float:
        for k in range(1, n):
            inner = curve[(peak + direction * (k - 1)) % n]
            outer = curve[(peak + direction * k) % n]
            if outer <= half:
                return k - 1 + (inner - half) / (inner - outer)
        return n / 2

    return float(min(step * (reach(1) + reach(-1)), 360.0))


@dataclass(frozen=True)
class Tuning:
    """Responses of every channel of a layer to oriented stimuli.

    Attributes:
        layer: the layer.
        responses: (radii, orientations, channels) activations at the centre of the map.
        radii: one per row (``inf`` = a straight line or an edge).
        orientations: degrees, one per column, equally spaced around the circle.
    """

    layer: str
    responses: np.ndarray
    radii: tuple[float, ...]
    orientations: np.ndarray

    @property
    def step(self) -> float:
        return 360.0 / len(self.orientations)

    @property
    def peak(self) -> np.ndarray:
        """(channels,) the highest response to any stimulus."""
        return self.responses.max(axis=(0, 1))

    @property
    def preferred_radius(self) -> np.ndarray:
        """(channels,) index into ``radii`` of the row holding each channel's peak."""
        return self.responses.max(axis=1).argmax(axis=0)

    def curve(self, channel: int, row: int | None = None) -> np.ndarray:
        """Tuning curve over orientations of ``channel`` at radius index ``row`` (default: its
        preferred radius)."""
        row = int(self.preferred_radius[channel]) if row is None else row
        return self.responses[row, :, channel]

    @property
    def preferred_orientation(self) -> np.ndarray:
        """(channels,) orientation in degrees of each channel's peak."""
        channels = range(self.responses.shape[-1])
        return np.array([self.orientations[np.argmax(self.curve(c))] for c in channels])

    @property
    def width(self) -> np.ndarray:
        """(channels,) full width at half maximum of each channel's curve, in degrees."""
        return np.array([tuning_width(self.curve(c), self.step)
                         for c in range(self.responses.shape[-1])])

    @property
    def modulation(self) -> np.ndarray:
        """(channels,) (max - min) / max of each channel's curve: 1 when some orientation
        silences it, near 0 when orientation hardly matters (0 for a silent channel)."""
        curves = np.stack([self.curve(c) for c in range(self.responses.shape[-1])], axis=-1)
        top = curves.max(axis=0)
        return np.where(top > 0, (top - curves.min(axis=0)) / np.where(top > 0, top, 1), 0.0)

    @property
    def curve_preference(self) -> np.ndarray:
        """(channels,) (best arc - best line) / (best arc + best line), in [-1, 1]:
        > 0 prefers curves, < 0 straight lines; 0 when there are not both kinds or no response."""
        curved = np.isfinite(np.asarray(self.radii, float))
        if curved.all() or not curved.any():
            return np.zeros(self.responses.shape[-1])
        arcs = self.responses[curved].max(axis=(0, 1))
        lines = self.responses[~curved].max(axis=(0, 1))
        total = arcs + lines
        return np.where(total > 0, (arcs - lines) / np.where(total > 0, total, 1), 0.0)


def _as_stimulus_grid(stimuli, orientations, radii):
    """(images (R, O, H, W), radii, orientations) of a StimulusSet or an array."""
    if isinstance(stimuli, stim.StimulusSet):
        return stimuli.images, stimuli.radii, stimuli.orientations
    images = np.asarray(stimuli, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4:
        raise ValueError(f"Stimuli must be a StimulusSet, (orientations, H, W) or (radii, "
                         f"orientations, H, W); got shape {images.shape}.")
    orientations = (stim.ORIENTATIONS if orientations is None else np.asarray(orientations))
    if len(orientations) != images.shape[1]:
        raise ValueError(f"{images.shape[1]} stimuli per row but {len(orientations)} "
                         "orientations.")
    radii = (np.inf,) * images.shape[0] if radii is None else tuple(radii)
    return images, radii, np.asarray(orientations, dtype=float)


def _preprocessor(model, preprocess):
    """uint8-range RGB -> model input: ``preprocess``, or the VisModel's own."""
    if preprocess is None:
        if not hasattr(model, "preprocess_fn"):
            raise ValueError("A bare Keras model needs preprocess= (uint8 RGB -> model input).")
        preprocess = model.preprocess_fn
    return lambda rgb: np.asarray(preprocess(rgb), np.float32)


def orientation_tuning(model, layer: str, stimuli, orientations=None, radii=None,
                       preprocess=None, foreground=(255, 255, 255),
                       background=(0, 0, 0)) -> Tuning:
    """Responses of every channel of ``layer`` (at the centre of its map) to oriented stimuli.

    Args:
        model: a VisModel, or a Keras model with ``preprocess``.
        layer: any layer with a spatial output.
        stimuli: a ``stimuli.StimulusSet`` (arcs), or an array in [0, 1] of shape
            (orientations, H, W) such as ``stimuli.edges(...)``, or (radii, orientations, H, W).
        orientations, radii: for an array: its orientations (default: every 15 degrees) and
            radii (default: ``inf``).
        preprocess: uint8 RGB -> model input (default: the VisModel's).
        foreground, background: RGB colours of the stimulus' 1s and 0s.

    Raises:
        ValueError: badly shaped stimuli, or orientations not equally spaced round the circle.
    """
    images, radii, orientations = _as_stimulus_grid(stimuli, orientations, radii)
    spacing = np.diff(np.append(orientations, orientations[0] + 360))
    if not np.allclose(spacing, spacing[0]):
        raise ValueError("Orientations must be equally spaced around the full circle "
                         "(e.g. stimuli.ORIENTATIONS, every 15 degrees).")
    preprocess = _preprocessor(model, preprocess)
    rgb = stim.to_rgb(images, foreground, background)
    rows, cols = rgb.shape[:2]
    x = preprocess(rgb.reshape(-1, *rgb.shape[2:]).astype(np.float32))
    responses = central_responses(model, layer, x).reshape(rows, cols, -1)
    return Tuning(layer, responses, tuple(float(r) for r in radii), orientations)


def sharpest_curve_detectors(tuning: Tuning, top: int = 3, min_peak: float = 0.2,
                             min_preference: float = 0.2,
                             min_modulation: float = 0.5) -> list[int]:
    """Channels that prefer curves to straight lines, narrowest tuning first.

    A channel qualifies if it responds to some stimulus (peak at least ``min_peak`` times the
    layer's highest peak), clearly prefers arcs to lines (``curve_preference`` at least
    ``min_preference``: 0.2 means the best arc drives it 1.5 times as much as the best line)
    and is modulated by orientation (its curve's minimum at most ``1 - min_modulation`` times
    its maximum). Fewer than ``top`` (even none) are returned if fewer qualify.
    """
    peak = tuning.peak
    if peak.max() <= 0:
        return []
    ok = ((peak >= min_peak * peak.max()) & (tuning.curve_preference >= min_preference)
          & (tuning.modulation >= min_modulation))
    candidates = np.flatnonzero(ok)
    width = tuning.width
    return [int(c) for c in candidates[np.argsort(width[candidates], kind="stable")][:top]]


def edge_preference(model, layer: str, preprocess=None) -> tuple[Tuning, np.ndarray]:
    """Edge tuning of every channel of ``layer``, and whether it needs an edge at all.

    A colour or brightness detector also answers a white half-plane, with a tuning curve
    much like an edge detector's; unlike it, it answers a flat white (or black) field as
    much. So next to the edge ``Tuning`` (``stimuli.edges`` at the model's input size) this
    returns (best edge - best flat field) / (best edge + best flat field) per channel, in
    [-1, 1]: at least 1/3 means an edge drives the channel twice as much as any flat field.
    """
    size = int(_keras_model(model).inputs[0].shape[1])
    tuning = orientation_tuning(model, layer, stim.edges(size), preprocess=preprocess)
    flat = stim.to_rgb(np.stack([np.zeros((size, size)), np.ones((size, size))]))
    x = _preprocessor(model, preprocess)(flat.astype(np.float32))
    edge = tuning.peak
    plain = np.maximum(central_responses(model, layer, x).max(axis=0), 0)
    total = edge + plain
    return tuning, np.where(total > 0, (edge - plain) / np.where(total > 0, total, 1), 0.0)


def matching_chance(matches, picks) -> np.ndarray:
    """How many matches chance alone gives when each unit's inputs are drawn at random.

    Unit u has candidate inputs, some of which would "match" it (e.g. an edge detector at the
    curve's orientation); ``picks[u]`` of them are drawn without replacement. The number of
    matches of one unit is hypergeometric, P(k) = C(K, k) C(N - K, n - k) / C(N, n) with N
    candidates, K matching and n drawn; the units' counts add up (a convolution).

    Args:
        matches: per unit, a boolean sequence over its candidate inputs (True = would match).
        picks: per unit, how many inputs were drawn (at most the number of candidates).

    Returns:
        float64 (sum(picks) + 1,): the probability of 0, 1, ... matches in all. The chance of
        doing at least as well as ``m`` observed matches is ``dist[m:].sum()``.

    Raises:
        ValueError: lengths that differ, or more picks than candidates.
    """
    from math import comb

    matches, picks = [np.asarray(m, bool) for m in matches], [int(n) for n in picks]
    if len(matches) != len(picks):
        raise ValueError(f"One pick count per unit: {len(matches)} units, {len(picks)} counts.")
    dist = np.ones(1)
    for m, n in zip(matches, picks):
        total, good = len(m), int(m.sum())
        if not 0 <= n <= total:
            raise ValueError(f"Cannot draw {n} inputs from {total} candidates.")
        one = np.array([comb(good, k) * comb(total - good, n - k) for k in range(n + 1)],
                       np.float64) / comb(total, n)
        dist = np.convolve(dist, one)
    return dist


# --- equivariance ------------------------------------------------------------------------------

def rotate_kernel(kernel, angle: float) -> np.ndarray:
    """``kernel`` (kh, kw, ...) rotated counter-clockwise on screen by ``angle`` degrees about
    its centre: exact for multiples of 90, bilinear otherwise (zero outside the kernel)."""
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim < 2:
        raise ValueError(f"A kernel has at least two (spatial) axes; got shape {kernel.shape}.")
    quarter = angle / 90.0
    if np.isclose(quarter, round(quarter)) and kernel.shape[0] == kernel.shape[1]:
        return np.rot90(kernel, int(round(quarter)) % 4, axes=(0, 1)).copy()
    return _rotate_bilinear(kernel, angle)


def _rotate_bilinear(kernel: np.ndarray, angle: float) -> np.ndarray:
    h, w = kernel.shape[:2]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    theta = np.deg2rad(angle)
    # each output pixel samples the input where the inverse rotation takes it (y points down)
    sx = cx + np.cos(theta) * (x - cx) - np.sin(theta) * (y - cy)
    sy = cy + np.sin(theta) * (x - cx) + np.cos(theta) * (y - cy)
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    out = np.zeros_like(kernel)
    for dy in (0, 1):
        for dx in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            weight = (1 - np.abs(sx - xi)) * (1 - np.abs(sy - yi))
            inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            weight = np.where(inside, weight, 0.0)
            values = kernel[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
            out += (weight.reshape(h, w, *([1] * (kernel.ndim - 2))) * values).astype(np.float32)
    return out


@dataclass(frozen=True)
class RotatedPair:
    """Unit ``b`` looks like unit ``a`` turned by ``angle`` degrees.

    Attributes:
        a, b: the two units.
        angle: counter-clockwise rotation taking a's kernel to b's.
        similarity: cosine similarity of rotated a with b.
        plain_similarity: cosine similarity of a with b, unrotated.
    """

    a: int
    b: int
    angle: float
    similarity: float
    plain_similarity: float


def _cosine(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Cosine similarity of every column of u (d, n) with every column of v (d, m)."""
    un = u / np.maximum(np.linalg.norm(u, axis=0, keepdims=True), 1e-12)
    vn = v / np.maximum(np.linalg.norm(v, axis=0, keepdims=True), 1e-12)
    return un.T @ vn


def rotated_pairs(kernels, angles=(90, 180, 270), top: int = 6, margin: float = 0.2,
                  min_similarity: float = 0.5) -> list[RotatedPair]:
    """Pairs of units whose kernels are approximately rotated copies of each other.

    For every pair (a, b) and angle, the cosine similarity of a's kernel rotated by the angle
    with b's kernel. A pair counts if that similarity is at least ``min_similarity`` and beats
    the unrotated one by ``margin``: two copies of the same round blob are similar at every
    angle, which is not equivariance.
    Only spatial positions rotate, so the inputs must keep their meaning under rotation:
    use it on kernels that read the image (the first layer, or expanded from the input).

    Args:
        kernels: (kh, kw, in_channels, units).
        angles: rotations to try, in degrees.
        top: how many pairs to return, most similar first.
        margin: how much rotation must improve the similarity.
        min_similarity: the least similarity of a rotated copy.

    Returns:
        Up to ``top`` ``RotatedPair`` s, each unordered pair once, best angle only.
    """
    kernels = np.asarray(kernels, dtype=np.float32)
    if kernels.ndim != 4:
        raise ValueError(f"kernels must be (kh, kw, in_channels, units); got {kernels.shape}.")
    units = kernels.shape[-1]
    flat = kernels.reshape(-1, units)
    plain = _cosine(flat, flat)
    best: dict[tuple[int, int], RotatedPair] = {}
    for angle in angles:
        turned = rotate_kernel(kernels, angle).reshape(-1, units)
        sim = _cosine(turned, flat)  # sim[a, b] = cos(rot(a), b)
        for a in range(units):
            for b in range(units):
                if a == b or sim[a, b] < min_similarity or sim[a, b] - plain[a, b] < margin:
                    continue
                key = (min(a, b), max(a, b))
                if key not in best or sim[a, b] > best[key].similarity:
                    best[key] = RotatedPair(a, b, float(angle), float(sim[a, b]),
                                            float(plain[a, b]))
    return sorted(best.values(), key=lambda p: -p.similarity)[:top]


# --- figures -----------------------------------------------------------------------------------

WEIGHT_CMAP = "RdBu_r"  # red excites, blue inhibits
#: Smallest font size of panel titles, in points: smaller ones are unreadable in the lectures.
TITLE_FONTSIZE = 8


def kernel_image(kernel) -> np.ndarray:
    """An RGB kernel (kh, kw, 3) as a picture: 0 is mid-grey, the largest |weight| saturates."""
    kernel = np.asarray(kernel, dtype=np.float32)
    scale = max(np.abs(kernel).max(), 1e-12)
    return np.clip(0.5 + 0.5 * kernel / scale, 0, 1)


def pixel_kernels(model, kernels) -> np.ndarray:
    """Kernels (kh, kw, 3, units) that read the model's preprocessed input, rewritten over RGB
    pixels u: with the preprocessing x = M u + b per pixel, w . x = (M^T w) . u + const. For
    VGG16 this swaps BGR back to RGB; for [-1, 1] models it only rescales."""
    from helpers.ascent import affine_preprocessing

    kernels = np.asarray(kernels, np.float32)
    if kernels.ndim != 4 or kernels.shape[2] != 3:
        raise ValueError(f"Expected kernels (kh, kw, 3, units) on the RGB input; got "
                         f"{kernels.shape}.")
    matrix, _ = affine_preprocessing(model.preprocess_fn, 3)
    return np.einsum("hwcf,cd->hwdf", kernels, matrix)


def first_layer_conv(model, layer: str) -> str | None:
    """The convolution that computes ``layer`` straight from the pixels (``layer`` being it,
    or its batch norm, ReLU or padding), or None when more than one convolution (or a pool)
    lies between ``layer`` and the image."""
    try:
        chain = _chain(model, input_layer_name(model), layer)
    except ValueError:
        return None
    convs = [found for found in chain if isinstance(found, _CONVS)]
    plain = all(isinstance(found, _CONVS + (keras.layers.BatchNormalization, keras.layers.ReLU,
                                            keras.layers.ZeroPadding2D, keras.layers.Activation))
                for found in chain)
    if len(convs) != 1 or not plain or not is_unit_layer(convs[0]):
        return None
    return convs[0].name


def _kernel_pictures(model, conv: str, channels, pixels: int = 8) -> dict:
    """{channel: uint8 RGB picture of its kernel over pixels, each weight a pixels x pixels
    square; None for a kernel that is all zero}."""
    kernels = pixel_kernels(model, effective_kernel(model, conv))
    largest = np.abs(kernels).max()
    out = {}
    for c in channels:
        k = kernels[..., int(c)]
        if np.abs(k).max() <= 1e-6 * largest:
            out[int(c)] = None
            continue
        image = (255 * kernel_image(k)).round().astype(np.uint8)
        out[int(c)] = np.repeat(np.repeat(image, pixels, axis=0), pixels, axis=1)
    return out


def _blank(ax, text: str = ""):
    ax.set_facecolor("#f2f2f2")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if text:
        ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, color="0.4",
                transform=ax.transAxes)


def _image_ax(ax, image):
    if image is None:
        _blank(ax, "dead unit")
    else:
        ax.imshow(image, interpolation="bilinear")  # small pictures, shown large
        ax.set_xticks([])
        ax.set_yticks([])


def plot_circuit(circ: Circuit, input_images=None, unit_image=None, input_labels=None,
                 title=None, vmax=None, input_caption=None):
    """Distill-style circuit: input features on the left, their weights into the unit in the
    middle (red excites, blue inhibits, one colour scale), the unit on the right.

    Args:
        circ: from ``circuit``.
        input_images: {channel: RGB image} of the input features (e.g. feature
            visualizations); None or missing channels are drawn as blank "dead unit" boxes.
        unit_image: the unit's RGB image.
        input_labels: {channel: extra text} under an input's name (e.g. its orientation).
        title: figure title (default: names the unit and its input layer).
        vmax: colour scale of the weights (default: the largest |weight| shown).
        input_caption: title of the inputs' column (default: the input layer's name).

    Returns:
        The figure.
    """
    connections = circ.connections
    if not connections:
        raise ValueError(f"Unit {circ.unit} of {circ.layer!r} has no non-zero input weights.")
    input_images = input_images or {}
    input_labels = input_labels or {}
    n = len(connections)
    vmax = vmax or max(float(np.abs(c.weights).max()) for c in connections) or 1.0
    height = 0.95 * max(n, 2) + 0.8
    fig = plt.figure(figsize=(6.2, height))
    grid = fig.add_gridspec(max(n, 2), 4, width_ratios=[1, 1, 1.3, 2.0], wspace=0.12,
                            hspace=0.45, left=0.11, right=0.97, top=1 - 0.62 / height,
                            bottom=0.1 / height)
    middle = max(n, 2) // 2
    unit_ax = fig.add_subplot(grid[middle - 1:middle + 1, 3])
    _image_ax(unit_ax, unit_image)
    unit_ax.set_title(f"{circ.layer}\nunit {circ.unit}", fontsize=9, fontweight="bold")
    strongest = max(abs(c.strength) for c in connections) or 1.0
    for row, conn in enumerate(connections):
        image_ax, weight_ax = fig.add_subplot(grid[row, 0]), fig.add_subplot(grid[row, 1])
        _image_ax(image_ax, input_images.get(conn.channel))
        extra = input_labels.get(conn.channel)
        image_ax.set_ylabel(f"ch {conn.channel}" + (f"\n{extra}" if extra else ""), fontsize=8,
                            rotation=0, ha="right", va="center", labelpad=4)
        heat = weight_ax.imshow(conn.weights, cmap=WEIGHT_CMAP, vmin=-vmax, vmax=vmax)
        weight_ax.set_xticks([])
        weight_ax.set_yticks([])
        weight_ax.set_xlabel(f"{conn.strength:+.2f}", fontsize=7, labelpad=1)
        color = plt.get_cmap(WEIGHT_CMAP)(0.85 if conn.strength > 0 else 0.15)
        fig.add_artist(ConnectionPatch(
            xyA=(1.0, 0.5), coordsA=weight_ax.transAxes, xyB=(0.0, 0.5), coordsB=unit_ax.transAxes,
            color=color, lw=0.8 + 3.2 * abs(conn.strength) / strongest, alpha=0.8))
        if row == 0:
            image_ax.set_title(input_caption or circ.input_layer, fontsize=8)
            size = "x".join(str(s) for s in circ.kernel_size)
            weight_ax.set_title(f"weights {size}", fontsize=8)
    cbar = fig.colorbar(heat, ax=unit_ax, orientation="horizontal", fraction=0.08, pad=0.08,
                        aspect=18)
    cbar.ax.tick_params(labelsize=7)
    cbar.set_label("weight (red excites, blue inhibits)", fontsize=7)
    how = "expanded weights" if circ.expanded else "weights"
    fig.suptitle(title or f"Circuit of {circ.layer} unit {circ.unit}: strongest {how} "
                          f"from {circ.input_layer} (ranked by {circ.rank})", fontsize=9)
    return fig


def plot_tuning_grid(tuning: Tuning, highlight=(), ncols: int = 8, size: float = 1.4):
    """Every channel's tuning curve (at its preferred radius) as small multiples, each scaled to
    its own peak and titled with that radius and its tuning width; highlighted channels in red.
    Returns the figure."""
    channels = tuning.responses.shape[-1]
    rows = -(-channels // ncols)
    fig, axes = plt.subplots(rows, ncols, figsize=(size * ncols, 0.8 * size * rows + 0.5),
                             sharex=True, squeeze=False)
    radius_names = [_radius_name(r) for r in tuning.radii]
    width = tuning.width
    for c, ax in enumerate(axes.flat):
        if c >= channels:
            ax.axis("off")
            continue
        curve = tuning.curve(c)
        peak = curve.max()
        color = "tab:red" if c in highlight else "0.25"
        ax.plot(tuning.orientations, curve / peak if peak > 0 else curve, color=color, lw=1.2)
        ax.set_ylim(-0.05, 1.1)
        ax.set_xticks([])
        ax.set_yticks([])
        label = (f"{c}: {radius_names[tuning.preferred_radius[c]]}, {width[c]:.0f}°" if peak > 0
                 else f"{c}: silent")
        ax.set_title(label, fontsize=TITLE_FONTSIZE, color=color, pad=2)
        for spine in ax.spines.values():
            spine.set_color(color if c in highlight else "0.8")
    fig.suptitle(f"{tuning.layer}: response vs orientation (0-345°) at each channel's "
                 f"preferred radius; title: channel, radius, tuning width", fontsize=9)
    height = fig.get_figheight()  # fixed margins: tight_layout is slow on many small axes
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.1 / height, top=1 - 0.45 / height,
                        wspace=0.08, hspace=0.28 / (0.8 * size - 0.28))  # 0.28 in per title
    return fig


def _radius_name(radius: float) -> str:
    return "line" if np.isinf(radius) else f"r={radius:g}"


def plot_tuning_curves(tuning: Tuning, channels, stimuli=None, pictures=None,
                       size: float = 3.3):
    """Polar tuning curves of ``channels``, one line per radius (dashed: straight lines).

    Args:
        tuning: from ``orientation_tuning``.
        channels: the channels to draw, one column each.
        stimuli: the ``StimulusSet`` measured: each column then shows its preferred stimulus.
        pictures: {channel: RGB image} (feature visualizations) shown under the curves.
        size: inches per column.

    Returns:
        The figure.
    """
    channels = list(channels)
    if not channels:
        raise ValueError("Give at least one channel.")
    extra = [name for name, given in (("stimulus", stimuli is not None),
                                      ("picture", pictures is not None)) if given]
    fig = plt.figure(figsize=(size * len(channels), size * (1.15 + 0.5 * bool(extra))))
    grid = fig.add_gridspec(2 if extra else 1, 2 * len(channels),
                            height_ratios=[1.75, 1.25] if extra else [1], hspace=0.2,
                            wspace=0.15)
    theta = np.deg2rad(np.append(tuning.orientations, tuning.orientations[0]))
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.85, len(tuning.radii)))
    width = tuning.width
    for i, c in enumerate(channels):
        ax = fig.add_subplot(grid[0, 2 * i:2 * i + 2], projection="polar")
        for row, radius in enumerate(tuning.radii):
            curve = tuning.responses[row, :, c]
            ax.plot(theta, np.append(curve, curve[0]), color=colors[row], lw=1.4,
                    ls="--" if np.isinf(radius) else "-", label=_radius_name(radius))
        ax.set_xticks(np.deg2rad(np.arange(0, 360, 45)))
        ax.tick_params(labelsize=8, pad=1)
        ax.set_yticks(np.linspace(0, max(tuning.peak[c], 1e-9), 4)[1:])
        ax.set_yticklabels([])
        ax.set_title(f"unit {c}: {tuning.preferred_orientation[c]:.0f}°, "
                     f"{_radius_name(tuning.radii[tuning.preferred_radius[c]])}, "
                     f"width {width[c]:.0f}°", fontsize=9, pad=14)
        panels = []
        if stimuli is not None:
            best = int(np.argmax(tuning.curve(c)))
            panels.append((stimuli.images[tuning.preferred_radius[c], best], "best stimulus"))
        if pictures is not None:
            panels.append((pictures.get(c), "feature vis."))
        for k, (image, text) in enumerate(panels):
            sub = fig.add_subplot(grid[1, 2 * i + k] if len(panels) == 2
                                  else grid[1, 2 * i:2 * i + 2])
            if image is None:
                _blank(sub, "dead unit")
                sub.set_box_aspect(1)
            else:
                sub.imshow(image, cmap="gray" if image.ndim == 2 else None,
                           interpolation="bilinear")  # small pictures, shown large
                sub.set_xticks([])
                sub.set_yticks([])
            sub.set_xlabel(text, fontsize=TITLE_FONTSIZE + 1, labelpad=2)
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=len(tuning.radii),
               fontsize=9, frameon=False)
    height = fig.get_figheight()  # margins in inches: the title above, the legend below
    fig.subplots_adjust(left=0.03, right=0.97, top=1 - 0.5 / height, bottom=0.45 / height)
    return fig


def plot_rotated_pairs(kernels, pairs, size: float = 1.8, colour: bool | None = None):
    """Each pair as [unit a | a rotated | unit b] with their similarity. Returns the figure.

    Args:
        kernels: (kh, kw, in_channels, units).
        pairs: from ``rotated_pairs``.
        size: inches per panel.
        colour: show RGB kernels as colours (``kernel_image``). Default False: each kernel is
            shown as its sum over input channels (for RGB kernels, its response to grey-level
            light) in red (+) and blue (-), the pattern that turns; a 3x3 kernel's nine mixed
            colours read as a patchwork, and larger (expanded) ones average out to pale greys.

    Every panel is scaled to its own symmetric range (0 is grey or white, its own largest
    |weight| saturates), so a weak kernel is as visible as a strong one.
    """
    if not pairs:
        raise ValueError("No rotated pairs to show; lower the margin or try more angles.")
    kernels = np.asarray(kernels, dtype=np.float32)
    colour = bool(colour)
    if colour and kernels.shape[2] != 3:
        raise ValueError(f"colour=True needs RGB kernels; these have {kernels.shape[2]} inputs.")
    # constrained layout leaves room for every title, however few rows there are
    height = (size + 0.25) * len(pairs) + 0.4
    fig, axes = plt.subplots(len(pairs), 3, figsize=(3 * size + 0.3, height), squeeze=False,
                             layout="constrained")

    def show(ax, kernel, text):
        if colour:
            ax.imshow(kernel_image(kernel), interpolation="nearest")
        else:
            summed = kernel.sum(axis=-1)
            limit = max(np.abs(summed).max(), 1e-12)
            ax.imshow(summed, cmap=WEIGHT_CMAP, vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(text, fontsize=9, pad=3)

    for row, pair in enumerate(pairs):
        a, b = kernels[..., pair.a], kernels[..., pair.b]
        show(axes[row, 0], a, f"unit {pair.a}")
        show(axes[row, 1], rotate_kernel(a, pair.angle), f"{pair.a} turned {pair.angle:.0f}°")
        show(axes[row, 2], b, f"unit {pair.b}: cos {pair.similarity:.2f}")
    kh, kw = kernels.shape[:2]
    how = ("colours, grey = 0" if colour else
           "summed over inputs, red +, blue -" if kernels.shape[2] > 1 else "red +, blue -")
    fig.suptitle(f"{kh}x{kw} kernels ({how}), each on its own scale", fontsize=9)
    return fig


# --- feature visualizations and the picker -------------------------------------------------------

#: Feature visualizations already computed: {Keras model: {(layer, settings, unit): image}}.
_FEATURES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def visualized_layer(model, layer: str) -> str:
    """The layer to maximize for ``layer``'s units: before a ReLU that follows a batch norm
    (MobileNet), the batch norm, since ReLU6 stops the gradient once a unit reaches 6."""
    found = get_layer(_keras_model(model), layer)
    parents = _parents(found)
    if isinstance(found, keras.layers.ReLU) and len(parents) == 1 and \
            isinstance(parents[0], keras.layers.BatchNormalization):
        return parents[0].name
    bn = _batch_norm_after(found) if is_unit_layer(found) else None
    return bn.name if bn is not None else layer


def feature_images(model, layer: str, channels, size=None, steps: int = 48,
                   regularization: str = "robust", seed: int = 0) -> dict[int, np.ndarray | None]:
    """Feature visualizations of units of ``layer``: for each channel, the image that most
    excites the unit at the centre of the map (``helpers.ascent``, objective cropped to the
    centre), optimized on an image about three receptive fields wide and shown cropped to
    about two (at least 16 pixels), where the unit looks.

    Args:
        model: a VisModel (or a Keras model taking [-1, 1] images).
        layer: a layer with a spatial output, e.g. ``circuit.input_layer``.
        channels: channel indices.
        size: image side in pixels (default: 3 receptive fields, 32 to 96 pixels, at most the
            model's input size).
        steps, regularization, seed: as for ``ascent.maximize``.

    A feature computed by a single convolution straight from the pixels (``first_layer_conv``)
    is linear until its ReLU, so the patch of a given contrast that drives it most is its
    kernel itself: it gets that picture (``pixel_kernels``, mid-grey = 0, each weight a square),
    since gradient ascent's jitter and blur smear a 3-pixel pattern into a colour blob.

    Returns:
        {channel: RGB uint8 image, or None for a dead unit, one whose gradient stays zero, so
        it gets no picture}. Results are remembered: asking again costs nothing.
    """
    from helpers import ascent

    if _is_input(model, layer):
        raise ValueError(f"{layer!r} is the model's input: its channels are the colours, with "
                         "nothing to visualize. Show the kernels with kernel_image instead.")
    conv = first_layer_conv(model, layer)
    if conv is not None and hasattr(model, "preprocess_fn"):
        return _kernel_pictures(model, conv, channels)
    try:
        field = receptive_field(model, layer)
    except ValueError:  # a residual block: no single chain to measure; use the whole image
        field = None
    native = _keras_model(model).inputs[0].shape[1] or 96
    if size is None:
        size = int(min(native, 96 if field is None else max(32, min(96, 3 * field))))
    crop = 0 if field is None else (size - min(size, max(16, 2 * field))) // 2
    target = visualized_layer(model, layer)
    settings = (target, size, steps, regularization, seed)
    known = _FEATURES.setdefault(_keras_model(model), {})
    missing = sorted({int(c) for c in channels if settings + (int(c),) not in known})
    if missing:
        # crop=0.49 leaves only the centre of the map: the objective is one unit, not a channel
        result = ascent.maximize_filters(model, target, missing, steps=steps, size=size,
                                         crop=0.49, regularization=regularization, seed=seed,
                                         warn_dead=False)
        for unit, image, dead in zip(result.units, result.images, result.dead):
            known[settings + (unit,)] = None if dead else image
    pictures = {int(c): known[settings + (int(c),)] for c in channels}
    return {c: None if image is None else image[crop:size - crop, crop:size - crop]
            for c, image in pictures.items()}


def _is_input(model, layer: str) -> bool:
    return isinstance(get_layer(_keras_model(model), layer), keras.layers.InputLayer)


def show_circuit(model, layer: str, unit: int, from_layer: str | None = None, top: int = 3,
                 rank: str | None = None, channels=None, size=None, steps: int = 48,
                 input_labels=None, title=None):
    """Read a circuit and draw it with feature visualizations of its inputs and its unit.

    Inputs that are the image's colour channels are drawn as their colour; inputs computed
    by one convolution from the pixels, as their kernels (see ``feature_images``). Arguments as for
    ``circuit``, ``feature_images`` (``size``, ``steps``) and ``plot_circuit``
    (``input_labels``, ``title``). Returns (circuit, figure).
    """
    circ = circuit(model, layer, unit, from_layer=from_layer, top=top, rank=rank,
                   channels=channels)
    kernels = (not _is_input(model, circ.input_layer)
               and first_layer_conv(model, circ.input_layer) is not None)
    inputs = (None if _is_input(model, circ.input_layer) else
              feature_images(model, circ.input_layer, [c.channel for c in circ.connections],
                             size=size, steps=steps))
    if inputs is None:  # the inputs are the colour channels: draw each as its colour
        inputs = {c: np.full((4, 4, 3), np.eye(3)[c] * 0.85) for c in range(3)}
    unit_image = feature_images(model, layer, [unit], size=size, steps=steps)[unit]
    caption = f"{circ.input_layer}\n(their kernels)" if kernels else None
    return circ, plot_circuit(circ, inputs, unit_image, input_labels=input_labels, title=title,
                              input_caption=caption)


def circuit_picker(model, layers, default_layer: str | None = None, default_unit: int = 0,
                   from_layers: dict | None = None, top: int = 3, size=None, steps: int = 48):
    """A widget: pick a layer and a unit, press the button, see the unit's circuit.

    The default choice is drawn when the widget is made; each press replaces the picture
    (the skeleton of ``helpers.widgets``), and a unit without a circuit (all its weights
    zero, say) gets one line saying so.

    Args:
        model: a VisModel.
        layers: layer names to offer (convolutions whose units have circuits).
        default_layer, default_unit: the initial choice.
        from_layers: {layer: earlier layer} to read some layers' weights from; the others
            read from ``default_from_layer`` (their own kernel, or for MobileNet's pointwise
            convolutions, expanded from the block before).
        top, size, steps: as for ``show_circuit``.

    Returns:
        An ``ipywidgets.VBox``.
    """
    import ipywidgets as widgets

    from helpers.widgets import Panel

    keras_model = _keras_model(model)
    layers = list(layers)
    for name in layers:
        _unit_layer(keras_model, name)
    sources = {name: default_from_layer(model, name) for name in layers}
    sources.update(from_layers or {})

    def units(name):
        return int(get_layer(keras_model, name).output.shape[-1])

    layer_box = widgets.Dropdown(options=layers, value=default_layer or layers[0],
                                 description="layer")
    unit_box = widgets.BoundedIntText(value=default_unit, min=0, max=units(layer_box.value) - 1,
                                      description="unit")
    button = widgets.Button(description="Show circuit", button_style="primary")
    panel = Panel()

    def on_layer(change):
        unit_box.max = units(change["new"]) - 1

    def figure():
        return show_circuit(model, layer_box.value, unit_box.value,
                            from_layer=sources[layer_box.value], top=top, size=size,
                            steps=steps)[1]

    def draw(_=None):
        panel.show(figure, "drawn", busy=f"reading the circuit of {layer_box.value} unit "
                                         f"{unit_box.value}, visualizing its inputs...")

    layer_box.observe(on_layer, names="value")
    button.on_click(draw)
    draw()
    return panel.box([layer_box, unit_box, button])
