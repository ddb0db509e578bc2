"""Class activation maps: where in the image the evidence for a class comes from.

All methods weigh the K feature maps A_k of a convolutional layer (by default the last one)
and sum them into one heatmap per image and class, with the lecture's normalization
S = ReLU(sum_k alpha_k^c A_k) / S_max:

- ``cam``: alpha = the dense weights of a global-average-pooling head (exact, no gradients);
- ``grad_cam``: alpha_k^c = 1/|I x J| sum_ij d f_c / d A_ijk, compiled and batched;
  ``counterfactual=True`` uses the negative gradients (what argues against the class);
- ``grad_cam_plus_plus``: pixel-weighted gradients, better for several instances;
- ``score_cam``: alpha = the class probability of the image masked by each upsampled map
  (one forward pass per channel, batched);
- ``guided_backprop`` and ``guided_grad_cam``: pixel-level gradients through ReLUs that
  pass only positive gradients, optionally masked by Grad-CAM.

Every function takes a Keras model ending in logits (or a ``VisModel``) and a
*preprocessed* batch ``x`` (``vm.preprocess(images)``). Models that nest a pretrained base
inside another model (transfer learning) work too: their graph is rebuilt flat, on the same
layers and weights, so an inner layer's output is reachable from the outer input.

References:
    Zhou et al., "Learning Deep Features for Discriminative Localization" (CVPR 2016);
    Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
    Localization" (ICCV 2017); Chattopadhay et al., "Grad-CAM++: Generalized Gradient-based
    Visual Explanations for Deep Convolutional Networks" (WACV 2018); Wang et al.,
    "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks"
    (CVPR Workshops 2020); Springenberg et al., "Striving for Simplicity: The All
    Convolutional Net" (ICLR Workshops 2015).
"""

from __future__ import annotations

import hashlib
import warnings
import weakref

import keras
import numpy as np
import tensorflow as tf

from helpers._core import graph as layer_tools

#: Images per compiled call; bounds memory on large models.
BATCH_SIZE = 32
#: A map whose positive peak is below this fraction of its largest magnitude counts as empty.
EMPTY_TOLERANCE = 1e-6

#: Method names accepted by ``heatmaps``, in the order the notebook shows them.
METHODS = ("CAM", "Grad-CAM", "Grad-CAM++", "Score-CAM", "Guided backprop", "Guided Grad-CAM")


class EmptyHeatmapWarning(UserWarning):
    """A class has no positive evidence in an image: its heatmap is all zeros."""


# ---------------------------------------------------------------------------------------
# Inputs


def keras_model(model) -> keras.Model:
    """The Keras model inside a ``VisModel``, or ``model`` itself, checked to be traceable.

    Raises:
        ValueError: not a Keras model, or one whose layers cannot be traced (a subclassed
            model, or a Sequential model that was never built).
    """
    inner = getattr(model, "model", model)
    if not isinstance(inner, keras.Model):
        raise ValueError(
            f"Expected a Keras model or a VisModel; got {type(model).__name__}. "
            "Load one with helpers.load_model(name)."
        )
    try:
        inner.input_shape
    except (AttributeError, ValueError):
        raise ValueError(
            f"Cannot trace the layers of {type(inner).__name__} {inner.name!r}: heatmaps need "
            "a Functional or Sequential model with a known input. Build it with keras.Input "
            "and keras.Model(inputs, outputs) or keras.Sequential([keras.Input(shape), ...])."
        ) from None
    return inner


def check_images(model: keras.Model, x) -> np.ndarray:
    """``x`` as a float32 batch the model accepts; one image (H, W, C) becomes a batch of 1.

    Raises:
        ValueError: wrong shape, raw uint8 pixels, or NaN / infinity.
    """
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[None]
    expected = tuple(model.input_shape[1:])
    fits = x.ndim == 4 and all(e is None or e == s for e, s in zip(expected, x.shape[1:]))
    if not fits:
        want = "x".join("any" if e is None else str(e) for e in expected)
        raise ValueError(
            f"Model {model.name!r} expects preprocessed images of shape (N, {want}); got an "
            f"array of shape {x.shape}. Load and preprocess photos with "
            "vm.preprocess(vm.load(source))."
        )
    if x.dtype == np.uint8:
        raise ValueError(
            "Got raw uint8 pixels; the heatmap functions take preprocessed input. "
            "Pass vm.preprocess(images)."
        )
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError("The input contains NaN or infinity; check its preprocessing.")
    return x


def check_classes(model: keras.Model, classes, n: int) -> np.ndarray:
    """One class index per image as int32 (a single index is used for all ``n`` images).

    Raises:
        ValueError: an index is out of range, or there is not one per image.
    """
    num_classes = model.output_shape[-1]
    array = np.asarray(classes)
    if array.dtype.kind not in "iu":
        raise ValueError(
            f"Classes must be integer indices, got {classes!r}. For a class name use "
            "vm.class_index('name')."
        )
    array = np.broadcast_to(array, (n,)) if array.ndim == 0 else array.reshape(-1)
    if len(array) != n:
        raise ValueError(f"Got {len(array)} classes for {n} images; give one per image or one "
                         "for all.")
    bad = array[(array < 0) | (array >= num_classes)]
    if bad.size:
        raise ValueError(
            f"Class index {int(bad[0])} is out of range: the model has {num_classes} classes "
            f"(0 to {num_classes - 1})."
        )
    return array.astype(np.int32)


def resolve_layer(model: keras.Model, layer: str | None) -> keras.layers.Layer:
    """The layer to explain: ``layer`` by name, checked to output spatial maps, or by default
    the last rectified convolutional layer (found automatically).

    Raises:
        ValueError: unknown layer, or one without a (batch, height, width, channels) output.
    """
    name = layer_tools.last_conv_layer(model) if layer is None else layer
    return layer_tools.require_spatial(model, name)


def _prepare(model, x, classes, batch_size=BATCH_SIZE):
    model = keras_model(model)
    x = check_images(model, x)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    return model, x, check_classes(model, classes, len(x))


def _in_batches(fn, x, classes, batch_size):
    """Concatenate ``fn(x_chunk, classes_chunk)`` over chunks of ``batch_size`` images."""
    parts = [fn(x[i:i + batch_size], classes[i:i + batch_size])
             for i in range(0, len(x), batch_size)]
    return np.concatenate(parts)


# ---------------------------------------------------------------------------------------
# One flat graph on the model's own layers


def _rebuild(model: keras.Model, hook) -> keras.Model:
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
            output, *inner_taps = _rebuild(layer, hook)(*args, **kwargs)
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
            "Heatmaps need a Functional or Sequential model."
        ) from None
    if len(clone.outputs) != 1:
        raise ValueError(f"Model {model.name!r} has several outputs; give a model that ends "
                         "in one tensor of class scores.")
    return keras.Model(clone.input, [clone.outputs[0], *taps])


def feature_model(model, layer: str | None = None) -> keras.Model:
    """A model returning ``[A, logits]``: the feature maps of ``layer`` and the class scores.

    The tutorials' ``keras.Model(model.inputs, [layer.output, model.output])``, made to work
    for layers inside a nested pretrained base too.

    Args:
        model: a Keras model ending in logits, or a ``VisModel``.
        layer: a layer with spatial output; default: the last convolutional layer.
    """
    model = keras_model(model)
    target = resolve_layer(model, layer)

    def tap(layer_, output, taps):
        if layer_ is target:
            taps.append(output)
        return output

    rebuilt = _rebuild(model, tap)
    if len(rebuilt.outputs) != 2:
        raise ValueError(f"Layer {target.name!r} is used {len(rebuilt.outputs) - 1} times in "
                         f"{model.name!r}; pick a layer that is applied once.")
    logits, features = rebuilt.outputs
    return keras.Model(rebuilt.input, [features, logits], name=f"{model.name}_{target.name}")


# ---------------------------------------------------------------------------------------
# Compiled machinery, built once per model and layer


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cached(model: keras.Model, key, build):
    per_model = _COMPILED.setdefault(model, {})
    if key not in per_model:
        per_model[key] = build()
    return per_model[key]


def _signature(model: keras.Model):
    return (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32),
            tf.TensorSpec((None,), tf.int32))


class _FeatureGradients:
    """``(x, classes) -> (A, dS/dA, logits)``, to be compiled.

    The compiled steps are callable objects rather than closures: TensorFlow counts traces
    per Python function, and one closure per model and layer would look to it like a single
    function retraced over and over (and warn about it).
    """

    def __init__(self, net: keras.Model):
        self.net = net

    def __call__(self, x, classes):
        with tf.GradientTape() as tape:
            features, logits = self.net(x, training=False)
            scores = tf.gather(logits, classes, batch_dims=1)
        return features, tape.gradient(scores, features), logits


def feature_gradients(model, x, classes, layer: str | None = None,
                      batch_size: int = BATCH_SIZE):
    """Feature maps A, gradients d f_c / d A and logits in one compiled, batched call.

    The backward pass stops at the layer, so it costs a small part of the forward pass.
    Every CAM-style method here starts from these three arrays.

    Returns:
        (A, dA, logits): (N, h, w, K), (N, h, w, K) and (N, classes) arrays.
    """
    model, x, classes = _prepare(model, x, classes, batch_size)
    name = resolve_layer(model, layer).name
    gradients = _cached(model, ("gradients", name), lambda: tf.function(
        _FeatureGradients(feature_model(model, name)), input_signature=_signature(model)))
    parts = [[t.numpy() for t in gradients(x[i:i + batch_size], classes[i:i + batch_size])]
             for i in range(0, len(x), batch_size)]
    return tuple(np.concatenate(arrays) for arrays in zip(*parts))


class _Probabilities:
    """``x -> softmax(logits)``, to be compiled (see ``_FeatureGradients``)."""

    def __init__(self, net: keras.Model):
        self.net = net

    def __call__(self, x):
        return tf.nn.softmax(self.net(x, training=False), axis=-1)


def class_probabilities(model, x, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Softmax probabilities (N, classes) of a preprocessed batch, compiled and batched."""
    model = keras_model(model)
    x = check_images(model, x)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    probabilities = _cached(model, ("probabilities",), lambda: tf.function(
        _Probabilities(model), input_signature=_signature(model)[:1]))
    return np.concatenate([probabilities(x[i:i + batch_size]).numpy()
                           for i in range(0, len(x), batch_size)])


def normalize_maps(raw, method: str = "heatmap", classes=None) -> np.ndarray:
    """The lecture's S = ReLU(raw) / S_max, per image, with empty maps made explicit.

    A map with no positive value (all evidence against the class) has S_max = 0: it becomes
    an all-zero map and an ``EmptyHeatmapWarning`` names the images, instead of 0 / 0 = NaN.

    Args:
        raw: (N, h, w) weighted sums before the ReLU.
        method: name used in the warning.
        classes: class per image, for the warning.

    Raises:
        ValueError: ``raw`` holds NaN or infinity (the model's output is broken).
    """
    raw = np.asarray(raw, dtype=np.float32)
    if not np.all(np.isfinite(raw)):
        raise ValueError(f"{method}: the model produced NaN or infinite values; check the "
                         "input and the model's weights.")
    positive = np.maximum(raw, 0.0)
    peak = positive.max(axis=(1, 2))
    scale = np.abs(raw).max(axis=(1, 2))
    empty = ~(peak > EMPTY_TOLERANCE * scale)  # also when the whole map is 0
    if empty.any():
        images = np.flatnonzero(empty).tolist()
        which = "" if classes is None else f" (class {np.asarray(classes)[empty].tolist()})"
        warnings.warn(
            f"{method}: no positive evidence for the class in image(s) {images}{which}; "
            "their heatmaps are all zeros. The counterfactual map shows what argues against "
            "the class.", EmptyHeatmapWarning, stacklevel=3)
    safe_peak = np.where(empty, 1.0, peak)[:, None, None]
    return np.where(empty[:, None, None], 0.0, positive / safe_peak).astype(np.float32)


# ---------------------------------------------------------------------------------------
# CAM


_IDENTITY_LAYERS = (keras.layers.Dropout, keras.layers.Reshape, keras.layers.Flatten,
                    keras.layers.InputLayer)


def _is_identity(layer) -> bool:
    """Whether a layer passes its input through unchanged at inference."""
    if isinstance(layer, _IDENTITY_LAYERS):
        return True
    return isinstance(layer, keras.layers.Activation) and \
        getattr(layer.activation, "__name__", "") == "linear"


def _linear_classifier_weights(layer) -> np.ndarray | None:
    """(K, classes) weights and (classes,) bias of a linear Dense or 1x1 convolution."""
    if getattr(getattr(layer, "activation", None), "__name__", "") != "linear":
        return None
    if isinstance(layer, keras.layers.Dense):
        kernel = layer.get_weights()[0]
    elif isinstance(layer, keras.layers.Conv2D) and tuple(layer.kernel_size) == (1, 1):
        kernel = layer.get_weights()[0][0, 0]
    else:
        return None
    bias = layer.get_weights()[1] if layer.use_bias else np.zeros(kernel.shape[1], np.float32)
    return kernel, bias


def cam_head(model) -> tuple[np.ndarray, np.ndarray]:
    """The dense weights w_k^c (K, classes) and biases b_c of a global-average-pooling head.

    Raises:
        ValueError: the model does not end in global average pooling followed by one linear
            layer (Dense, or a 1x1 convolution as in MobileNet); layers that do nothing at
            inference (dropout, reshape) may sit in between.
    """
    model = keras_model(model)
    tail = [layer for layer in layer_tools.all_layers(model) if not _is_identity(layer)]
    head = _linear_classifier_weights(tail[-1]) if len(tail) >= 2 else None
    if head is None or not isinstance(tail[-2], keras.layers.GlobalAveragePooling2D):
        names = " -> ".join(f"{layer.name} ({type(layer).__name__})" for layer in tail[-3:])
        raise ValueError(
            f"CAM needs a head of global average pooling followed by one linear layer; "
            f"{model.name!r} ends with {names}. Use grad_cam, which generalizes CAM to any "
            "head."
        )
    return head


def cam(model, x, classes, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Class Activation Mapping: S = ReLU(sum_k w_k^c A_k) / S_max on the last conv layer.

    Exact for a global-average-pooling head: the logit is the map's mean plus the bias,
    f_c = mean_ij(sum_k w_k^c A_ijk) + b_c, which is checked on every call.

    Returns:
        (N, h, w) heatmaps in [0, 1] at the feature maps' resolution.

    Raises:
        ValueError: not a GAP + linear head (see ``cam_head``), or bad input.
    """
    return heatmaps(model, x, classes, "CAM", batch_size=batch_size)


def _cam_raw(model, features, logits, classes) -> np.ndarray:
    kernel, bias = cam_head(model)
    if features.shape[-1] != kernel.shape[0]:
        raise ValueError(f"CAM: the last feature maps have {features.shape[-1]} channels but "
                         f"the dense layer takes {kernel.shape[0]}.")
    raw = np.einsum("nijk,kn->nij", features, kernel[:, classes])
    predicted = raw.mean(axis=(1, 2)) + bias[classes]
    if not np.allclose(predicted, logits[np.arange(len(raw)), classes], rtol=1e-3, atol=1e-3):
        raise ValueError("CAM: the map's mean plus bias does not give the logit, so the head is "
                         "not a plain GAP + linear layer; use grad_cam.")
    return raw


# ---------------------------------------------------------------------------------------
# Grad-CAM and Grad-CAM++


def grad_cam_weights(grads: np.ndarray) -> np.ndarray:
    """Grad-CAM's alpha_k^c: the spatial mean of the gradients, shape (N, 1, 1, K)."""
    return grads.mean(axis=(1, 2), keepdims=True)


def grad_cam_plus_plus_weights(features: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """Grad-CAM++'s channel weights sum_ij alpha_ijk ReLU(g_ijk), shape (N, 1, 1, K).

    With an exponential of the score, the higher derivatives are powers of the gradient g
    (Chattopadhay et al., eq. 19): alpha = g^2 / (2 g^2 + sum_ab A_ab g^3).
    """
    g2, g3 = grads**2, grads**3
    denominator = 2.0 * g2 + features.sum(axis=(1, 2), keepdims=True) * g3
    alpha = g2 / np.where(denominator != 0.0, denominator, 1.0)
    return (alpha * np.maximum(grads, 0.0)).sum(axis=(1, 2), keepdims=True)


def grad_cam(model, x, classes, layer: str | None = None, counterfactual: bool = False,
             batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Grad-CAM, compiled and batched: S = ReLU(sum_k alpha_k^c A_k) / S_max with
    alpha_k^c = 1/|I x J| sum_ij d f_c / d A_ijk.

    Args:
        model: a Keras model ending in logits, or a ``VisModel``.
        x: preprocessed images (N, H, W, C) or one image.
        classes: one class index for all images, or one per image.
        layer: a layer with spatial output; default: the last convolutional layer.
        counterfactual: weigh with the negative gradients: regions whose removal would
            raise the class score (what argues against the class).
        batch_size: images per compiled call.

    Returns:
        (N, h, w) heatmaps in [0, 1] at the layer's resolution; an all-zero map (with an
        ``EmptyHeatmapWarning``) where nothing speaks for the class.
    """
    method = "Counterfactual" if counterfactual else "Grad-CAM"
    return heatmaps(model, x, classes, method, layer, batch_size=batch_size)


def grad_cam_plus_plus(model, x, classes, layer: str | None = None,
                       batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Grad-CAM++: channel weights sum_ij alpha_ijk ReLU(d S / d A_ijk), where alpha gives
    small, spread-out regions as much say as one large one.

    Same arguments and result as ``grad_cam``.
    """
    return heatmaps(model, x, classes, "Grad-CAM++", layer, batch_size=batch_size)


# ---------------------------------------------------------------------------------------
# Score-CAM


def score_cam(model, x, classes, layer: str | None = None, max_channels: int | None = None,
              batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Score-CAM: each channel's weight is the class probability of the image masked by
    that channel's upsampled, min-max normalized map; no gradients.

    It needs one forward pass per channel and image, run ``batch_size`` at a time; the same
    image asked for several classes is passed through once.

    Args:
        max_channels: use only this many channels with the largest mean activation (the
            others get weight 0) to trade accuracy for speed on wide layers; default: all.
        Others as in ``grad_cam``.

    Returns:
        (N, h, w) heatmaps in [0, 1].
    """
    return heatmaps(model, x, classes, "Score-CAM", layer, max_channels=max_channels,
                    batch_size=batch_size)


def _score_cam_raw(model, x, features, classes, max_channels, batch_size) -> np.ndarray:
    if max_channels is not None and int(max_channels) < 1:
        raise ValueError(f"max_channels must be at least 1 (or None for all), got "
                         f"{max_channels}.")
    raw = np.zeros(features.shape[:3], np.float32)
    for rows in _identical_images(x):
        channels, probabilities = _channel_scores(model, x[rows[0]], features[rows[0]],
                                                  max_channels, batch_size)
        for i in rows:
            raw[i] = features[i][..., channels] @ probabilities[:, classes[i]]
    return raw


def _identical_images(x) -> list[list[int]]:
    groups: dict[bytes, list[int]] = {}
    for i, image in enumerate(x):
        groups.setdefault(hashlib.sha1(image.tobytes()).digest(), []).append(i)
    return list(groups.values())


def _channel_scores(model, image, features, max_channels, batch_size):
    """Channels used and the class probabilities (channels, classes) of the masked image."""
    channels = np.argsort(features.mean(axis=(0, 1)))[::-1][:max_channels]
    maps = np.moveaxis(features[..., channels], -1, 0)
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    maps = (maps - low) / np.where(span > 0, span, 1.0)
    probabilities = np.concatenate([
        class_probabilities(model, image * upsample_maps(maps[i:i + batch_size],
                                                         image.shape[:2])[..., None], batch_size)
        for i in range(0, len(maps), batch_size)])
    # a constant channel marks no place in the image: it gets no say
    probabilities[span[:, 0, 0] <= 0] = 0.0
    return channels, probabilities


# ---------------------------------------------------------------------------------------
# Guided backpropagation


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


def _rectifies(layer) -> bool:
    if isinstance(layer, keras.layers.ReLU):
        return True
    return getattr(getattr(layer, "activation", None), "__name__", "") in ("relu", "relu6")


def guided_model(model) -> keras.Model:
    """``model`` on the same layers and weights, with a ``GuidedGate`` after every ReLU."""
    model = keras_model(model)

    def gate(layer, output, taps):
        return GuidedGate(name=f"{layer.name}_guided")(output) if _rectifies(layer) else output

    rebuilt = _rebuild(model, gate)
    return keras.Model(rebuilt.input, rebuilt.outputs[0], name=f"{model.name}_guided")


class _InputGradients:
    """``(x, classes) -> dS/dx``, to be compiled (see ``_FeatureGradients``)."""

    def __init__(self, net: keras.Model):
        self.net = net

    def __call__(self, x, classes):
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = tf.gather(self.net(x, training=False), classes, batch_dims=1)
        return tape.gradient(scores, x)


def guided_backprop(model, x, classes, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Guided backpropagation: d f_c / d x with only positive gradients through each ReLU.

    Returns:
        (N, H, W, C) input-shaped gradients; show them with ``helpers.deprocess_image``
        or reduce them with ``pixel_map``.
    """
    model, x, classes = _prepare(model, x, classes, batch_size)
    gradients = _cached(model, ("guided",), lambda: tf.function(
        _InputGradients(guided_model(model)), input_signature=_signature(model)))
    grads = _in_batches(lambda xb, cb: gradients(xb, cb).numpy(), x, classes, batch_size)
    if not np.all(np.isfinite(grads)):
        raise ValueError("Guided backprop: the gradients hold NaN or infinity; check the "
                         "input and the model's weights.")
    return grads


def guided_grad_cam(model, x, classes, layer: str | None = None,
                    batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Guided Grad-CAM: guided backpropagation times the upsampled Grad-CAM heatmap.

    Returns:
        (N, H, W, C) input-shaped maps: fine detail, but only where Grad-CAM points.
    """
    guided = guided_backprop(model, x, classes, batch_size)
    heat = grad_cam(model, x, classes, layer, batch_size=batch_size)
    return guided * upsample_maps(heat, guided.shape[1:3])[..., None]


def upsample_maps(maps, size: tuple[int, int]) -> np.ndarray:
    """Bilinearly resize a batch of maps (N, h, w) to (N, height, width)."""
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"Expected a batch of maps (N, h, w); got shape {maps.shape}.")
    if maps.shape[1:] == tuple(size):
        return maps
    return tf.image.resize(maps[..., None], size, method="bilinear").numpy()[..., 0]


def pixel_map(gradients, percentile: float = 100.0) -> np.ndarray:
    """Input-shaped maps (N, H, W, C) to one value per pixel in [0, 1]: the largest
    magnitude over the colour channels, divided by each image's maximum.

    Args:
        percentile: divide by this percentile instead of the maximum and clip at 1, for
            display: a few extreme pixels would otherwise leave the rest black.
    """
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}.")
    magnitude = np.abs(np.asarray(gradients, dtype=np.float32)).max(axis=-1)
    top = np.percentile(magnitude, percentile, axis=(1, 2), keepdims=True)
    top = np.where(top > 0, top, magnitude.max(axis=(1, 2), keepdims=True))
    scaled = np.where(top > 0, magnitude / np.where(top > 0, top, 1.0), 0.0)
    return np.minimum(scaled, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------
# Several methods at once


def all_heatmaps(model, x, classes, methods=METHODS, layer: str | None = None,
                 max_channels: int | None = None,
                 batch_size: int = BATCH_SIZE) -> dict[str, np.ndarray]:
    """Heatmaps in [0, 1] of several methods, sharing their work: one compiled pass gives
    A and dS/dA for every CAM-style method, one guided pass serves both guided methods.

    Args:
        methods: names from ``METHODS``, plus "Counterfactual" (Grad-CAM of the negative
            gradients).
        layer: the layer for the CAM-style methods; CAM always uses the last feature maps.
        max_channels: Score-CAM's channel limit (see ``score_cam``).
        Others as in ``grad_cam``.

    Returns:
        method name -> maps. CAM-style methods give (N, h, w) at the layer's resolution;
        the guided ones give (N, H, W) pixel maps (``pixel_map`` of their gradients).

    Raises:
        ValueError: unknown method (the valid names are listed), or bad input.
    """
    model, x, classes = _prepare(model, x, classes, batch_size)
    methods = [methods] if isinstance(methods, str) else list(methods)
    unknown = [m for m in methods if m not in (*METHODS, "Counterfactual")]
    if unknown:
        raise ValueError(f"Unknown method {unknown[0]!r}. Choose one of: "
                         f"{', '.join(METHODS)}, Counterfactual.")
    name = resolve_layer(model, layer).name
    if "CAM" in methods and name != resolve_layer(model, None).name:
        raise ValueError("CAM is defined on the last feature maps only; drop `layer` or use "
                         "Grad-CAM for other layers.")
    features = grads = logits = None
    if set(methods) - {"Guided backprop"}:
        features, grads, logits = feature_gradients(model, x, classes, name, batch_size)
    raws = {
        "CAM": lambda: _cam_raw(model, features, logits, classes),
        "Grad-CAM": lambda: (grad_cam_weights(grads) * features).sum(axis=-1),
        "Counterfactual": lambda: (grad_cam_weights(-grads) * features).sum(axis=-1),
        "Grad-CAM++": lambda: (grad_cam_plus_plus_weights(features, grads)
                               * features).sum(axis=-1),
        "Score-CAM": lambda: _score_cam_raw(model, x, features, classes, max_channels,
                                            batch_size),
    }
    maps = {m: normalize_maps(raws[m](), m, classes) for m in methods if m in raws}
    if "Guided backprop" in methods or "Guided Grad-CAM" in methods:
        guided = guided_backprop(model, x, classes, batch_size)
        maps["Guided backprop"] = pixel_map(guided)
        if "Guided Grad-CAM" in methods:
            heat = maps.get("Grad-CAM")
            if heat is None:
                heat = normalize_maps(raws["Grad-CAM"](), "Grad-CAM", classes)
            mask = upsample_maps(heat, x.shape[1:3])[..., None]
            maps["Guided Grad-CAM"] = pixel_map(guided * mask)
    return {m: maps[m] for m in methods}


def heatmaps(model, x, classes, method: str = "Grad-CAM", layer: str | None = None,
             **options) -> np.ndarray:
    """Heatmaps in [0, 1] of one method by name (see ``all_heatmaps``)."""
    return all_heatmaps(model, x, classes, [method], layer, **options)[method]


def peaks(maps) -> np.ndarray:
    """(N, 2) row and column of each map's maximum (the first one on ties)."""
    maps = np.asarray(maps)
    flat = maps.reshape(len(maps), -1).argmax(axis=1)
    return np.stack(np.unravel_index(flat, maps.shape[1:]), axis=1)
