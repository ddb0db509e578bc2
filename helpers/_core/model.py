"""The model half of the contract: a ``VisModel`` or a Keras model, classes by name or index,
and one rule for models that end in a softmax.

The rule: a technique explains the class *logits* f_c, never probabilities, because the
gradient of a saturated softmax vanishes and a class can gain by pushing the others down.
A Keras model whose last layer is a softmax (a ``Softmax`` layer, or a ``Dense`` with
``activation='softmax'`` as in ``keras.applications``) is explained through the same layers
with the softmax replaced by the identity; this prints one line, once per model. A model
whose outputs merely *look* like probabilities (non-negative, summing to one) with no
softmax layer to remove is refused with a message that names the fix.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np

from helpers._core.compiled import cached
from helpers._core.graph import activation_name, all_layers

_CHECKED: weakref.WeakSet = weakref.WeakSet()

_SOFTMAX_FIX = (
    "Use the pre-softmax scores: helpers.load_model(name) already returns logits; for "
    "keras.applications pass classifier_activation=None; for your own model build the last "
    "layer without activation='softmax'."
)


def keras_model(model) -> keras.Model:
    """The Keras model of a ``VisModel``, or ``model`` itself, checked to be traceable.

    Raises:
        TypeError: neither a ``VisModel`` nor a Keras model.
        ValueError: a Keras model whose layers cannot be traced (subclassed, or never built).
    """
    inner = getattr(model, "model", model)
    if not isinstance(inner, keras.Model):
        raise TypeError(f"Expected a VisModel or a Keras model; got {type(model).__name__}. "
                        "Load one with helpers.load_model(name) or helpers.lecture_model().")
    try:
        inner.input_shape
    except (AttributeError, ValueError):
        raise ValueError(
            f"Cannot trace the layers of {type(inner).__name__} {inner.name!r}: build it with "
            "keras.Input and keras.Model(inputs, outputs), or keras.Sequential([keras.Input("
            "shape), ...])."
        ) from None
    return inner


def preprocess_fn(model):
    """The function from uint8 RGB pixels to ``model``'s input: a ``VisModel``'s own, and
    x / 127.5 - 1 (MobileNet's convention) for a bare Keras model."""
    if hasattr(model, "preprocess_fn"):
        return model.preprocess_fn
    return lambda x: np.asarray(x, np.float32) / 127.5 - 1.0


def affine_preprocessing(preprocess, channels: int = 3):
    """(matrix, bias) with preprocess(u) = u @ matrix.T + bias per pixel, u in [0, 255].

    Raises:
        ValueError: the preprocessing is not affine per pixel.
    """
    def apply(u):
        return np.asarray(preprocess(np.asarray(u, np.float32)), np.float64).reshape(-1, channels)

    bias = apply(np.zeros((1, 1, 1, channels)))[0]
    matrix = np.stack([apply(255.0 * np.eye(channels)[c].reshape(1, 1, 1, channels))[0] - bias
                       for c in range(channels)], axis=1) / 255.0
    probe = np.random.default_rng(0).uniform(0, 255, (1, 2, 2, channels))
    if not np.allclose(apply(probe), probe.reshape(-1, channels) @ matrix.T + bias,
                       rtol=1e-4, atol=1e-3 * (1 + np.abs(bias).max())):
        raise ValueError("The model's preprocessing is not an affine map per pixel; pass "
                         "preprocess= a function that is (scaling, shifting, channel swaps).")
    return matrix.astype(np.float32), bias.astype(np.float32)


def num_classes(model) -> int:
    """The number of outputs of the model's last layer."""
    return int(keras_model(model).output_shape[-1])


def class_index(model, cls) -> int:
    """Index of class ``cls``, a name ('flamingo', for a ``VisModel``) or an index.

    Raises:
        ValueError: unknown name (close names suggested), index out of range, a name given
            for a plain Keras model (it has no class names), or neither a name nor an integer.
    """
    if isinstance(cls, bool) or not isinstance(cls, str | int | np.integer):
        raise ValueError(f"A class is a name or an integer index; got {cls!r}.")
    if hasattr(model, "class_index"):
        return model.class_index(cls)
    if isinstance(cls, str):
        raise ValueError(f"Class {cls!r} is a name, but a plain Keras model has no class "
                         "names. Pass a VisModel (helpers.load_model(...)) or a class index.")
    count = num_classes(model)
    if not 0 <= int(cls) < count:
        raise ValueError(f"Class index {int(cls)} is out of range: the model has {count} "
                         f"outputs (0 to {count - 1}).")
    return int(cls)


def class_indices(model, classes, n: int) -> np.ndarray:
    """One int32 class index per image: ``classes`` is one name or index for all ``n``
    images, or a sequence of one per image.

    Raises:
        ValueError: a bad class (see ``class_index``), or not one class per image.
    """
    if isinstance(classes, str | int | np.integer) or np.ndim(classes) == 0:
        return np.full(n, class_index(model, _scalar(classes)), dtype=np.int32)
    classes = list(np.asarray(classes, dtype=object).reshape(-1))
    if len(classes) != n:
        raise ValueError(f"Got {len(classes)} classes for {n} images; give one class for "
                         "all or one per image.")
    return np.array([class_index(model, _scalar(c)) for c in classes], dtype=np.int32)


def _scalar(value):
    return value.item() if isinstance(value, np.ndarray | np.generic) else value


# ---------------------------------------------------------------------------- the softmax rule

def _softmax_layer(net: keras.Model):
    last = all_layers(net)[-1]
    if isinstance(last, keras.layers.Softmax) or activation_name(last) == "softmax":
        return last
    return None


def _without_softmax(net: keras.Model, last) -> keras.Model:
    """``net`` on the same layers and weights, ending in the softmax's input."""
    if isinstance(last, keras.layers.Softmax) or isinstance(last, keras.layers.Activation):
        logits = last.input
    elif isinstance(last, keras.layers.Dense):
        linear = keras.layers.Dense(last.units, use_bias=last.use_bias,
                                    name=f"{last.name}_logits")
        logits = linear(last.input)
        linear.set_weights(last.get_weights())
    else:
        raise ValueError(f"Model {net.name!r} ends in a {type(last).__name__} with a softmax "
                         f"built in, which cannot be removed here. {_SOFTMAX_FIX}")
    try:
        return keras.Model(net.inputs[0], logits, name=f"{net.name}_logits")
    except ValueError:
        raise ValueError(f"Cannot remove the softmax at the end of {net.name!r}. "
                         f"{_SOFTMAX_FIX}") from None


def logits_model(model) -> keras.Model:
    """The Keras model to explain: ``model``'s own, or a twin without its final softmax (one
    line says so, once per model). See the module docstring for the rule."""
    net = keras_model(model)
    return cached(net, ("core.logits_model",), lambda: _logits_twin(net))


def _logits_twin(net: keras.Model) -> keras.Model:
    last = _softmax_layer(net)
    if last is None:
        return net
    twin = _without_softmax(net, last)
    print(f"Note: {net.name!r} ends in a softmax; explaining its logits (the softmax "
          "replaced by the identity).")
    return twin


def refuse_probabilities(net: keras.Model, x: np.ndarray) -> None:
    """Refuse a model whose outputs on ``x`` look like probabilities (checked once a model).

    Raises:
        ValueError: the outputs are non-negative and sum to one; the message names the fix.
    """
    if net in _CHECKED:
        return
    out = keras.ops.convert_to_numpy(net(x[:2], training=False))
    if out.ndim == 2 and out.shape[-1] > 1 and np.all(out >= 0) and np.allclose(
            out.sum(axis=-1), 1.0, atol=1e-4):
        raise ValueError(
            f"Model {net.name!r} outputs probabilities, not logits: their gradients vanish "
            f"once the model is confident. {_SOFTMAX_FIX}")
    _CHECKED.add(net)
