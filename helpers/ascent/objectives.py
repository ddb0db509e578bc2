"""What a unit's image should excite, and the sub-model that scores it.

A ``"channel"`` objective is the mean activation of one filter over the centre of its map,

    f_n(I) = 1 / |C| * sum_{(i, j) in C} A_ijn(I),

with C the map minus a border of ``crop`` on each side; a class objective is the logit f_c
(or the softmax probability p_c), read from the model without its softmax (the core's one
softmax rule, ``_core.model.logits_model``).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from helpers._core.graph import ends_in_relu, get_layer, is_conv, parents
from helpers._core.model import class_index, keras_model, logits_model
from helpers._core.graph import at_size
from helpers.ascent.network import cut_at, num_channels

OBJECTIVES = ("channel", "logit", "softmax")


@dataclass(frozen=True)
class Objective:
    """What a unit's image should excite.

    Attributes:
        kind: ``"channel"`` (mean activation of one channel of ``layer`` over the centre of
            the map), ``"logit"`` (a class's pre-softmax score f_c) or ``"softmax"`` (its
            probability).
        layer: the layer of a ``"channel"`` objective; None for the classes.
        crop: share of the feature map's height and width left out on each side of a
            ``"channel"`` objective: border units see padding, and maximizing them draws the
            picture into the corners.
        wake: for a channel after a ReLU: while the ReLU outputs 0 over the whole centre (so
            its gradient is 0), follow the gradient of the value before the ReLU instead. This
            wakes filters that are silent on the starting image and, when minimizing, keeps
            pushing below zero. The objective itself (and ``history``) stays the activation.
            With ``wake=False`` such filters keep a zero gradient and are reported as dead.
    """

    kind: str = "channel"
    layer: str | None = None
    crop: float = 0.1
    wake: bool = True

    def __post_init__(self):
        if self.kind not in OBJECTIVES:
            raise ValueError(f"Unknown objective {self.kind!r}; choose one of {OBJECTIVES}.")
        if self.kind == "channel" and not self.layer:
            raise ValueError("A 'channel' objective needs a layer: "
                             "Objective('channel', 'block3_conv1').")
        if not 0.0 <= self.crop < 0.5:
            raise ValueError(f"crop is the share cut from each side, in [0, 0.5); got {self.crop}.")

    def describe(self) -> str:
        return {"channel": f"mean of {self.layer}[:, :, k]", "logit": "logit f_c",
                "softmax": "softmax probability p_c"}[self.kind]


def check_units(model, objective: Objective, units) -> np.ndarray:
    """``units`` (filter indices, or classes by name or index) as int32 indices, checked.

    Raises:
        ValueError: no units, or one that is not a filter or class of the model.
    """
    units = [units] if isinstance(units, int | np.integer | str) else list(units)
    if not units:
        raise ValueError("Give at least one unit (a filter or class index).")
    if objective.kind != "channel":
        return np.asarray([class_index(model, u) for u in units], dtype=np.int32)
    count = num_channels(keras_model(model), objective.layer)
    for unit in units:
        if isinstance(unit, str | bool) or not float(unit).is_integer():
            raise ValueError(f"Filter {unit!r} is not an index; filters are numbered 0 to "
                             f"{count - 1}.")
        if not 0 <= int(unit) < count:
            raise ValueError(f"Filter index {unit} is out of range: layer {objective.layer!r} "
                             f"has {count} filters (0 to {count - 1}).")
    return np.asarray(units, dtype=np.int32)


def objective_model(model, objective: Objective, shape) -> tuple[keras.Model, object]:
    """(the sub-model scored, the ReLU to apply to its output or None) for images of
    ``shape``: for a channel after a ReLU, the model outputs the value *before* the ReLU, so
    that ``wake`` can follow it; for a class, the logits."""
    if objective.kind != "channel":
        return at_size(logits_model(model), shape), None
    net = keras_model(model)
    name, activation, twin = _pre_activation(net, objective.layer)
    try:
        cut = cut_at(net, name, twin)
    except ValueError:  # the layer before the ReLU is applied twice: score the layer itself
        cut, activation, twin = cut_at(net, objective.layer), None, None
    if twin is not None:
        twin.set_weights(get_layer(net, objective.layer).get_weights())
    # cut first, then resize: the layers after the cut (a Flatten head) may accept one size only
    return at_size(cut, shape), activation


def _pre_activation(net: keras.Model, name: str):
    """(layer to tap, the ReLU to apply after it, a linear twin of a convolution to apply
    first, or None): the value before ``name``'s ReLU; (``name``, None, None) for a layer
    that does not end in a ReLU."""
    layer = get_layer(net, name)
    up = parents(layer)
    if len(up) != 1 or isinstance(up[0], keras.Model) or not ends_in_relu(layer):
        return name, None, None
    if isinstance(layer, keras.layers.ReLU | keras.layers.Activation):
        return up[0].name, layer, None
    if is_conv(layer):  # the same convolution without its activation, on the same input
        config = dict(layer.get_config(), activation="linear", name=f"{name}_pre_relu")
        return up[0].name, layer.activation, type(layer).from_config(config)
    return name, None, None


def centre_mean(maps, crop: float):
    """Mean of ``maps`` (N, h, w, 1) over the centre, a share ``crop`` cut from each side
    (at least the middle row and column kept), (N,)."""
    h, w = maps.shape[1], maps.shape[2]
    ch = min(int(round(crop * h)), (h - 1) // 2)
    cw = min(int(round(crop * w)), (w - 1) // 2)
    return tf.reduce_mean(maps[:, ch:h - ch, cw:w - cw], axis=[1, 2, 3])


def score(out, units, objective: Objective, activation):
    """(the objective of each image for its own unit, what its gradient follows): they differ
    only for a silent unit that ``wake`` drives by its pre-activation.

    Args:
        out: the output of ``objective_model``'s sub-model for the batch.
        units: (N,) int32, one unit per image.
    """
    if objective.kind != "channel":
        if objective.kind == "softmax":
            out = tf.nn.softmax(out, axis=-1)
        value = tf.gather(out, units, axis=-1, batch_dims=1)
        return value, value
    maps = tf.gather(out, units, axis=-1, batch_dims=1)[..., None]
    if activation is None:
        value = centre_mean(maps, objective.crop)
        return value, value
    value = centre_mean(activation(maps), objective.crop)
    if not objective.wake:
        return value, value
    return value, tf.where(value > 0, value, centre_mean(maps, objective.crop))
