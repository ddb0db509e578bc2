"""The weight functions of the CAM family: each turns the shared pass (feature maps A,
gradients g = d f_c / d A, logits) into weights alpha^c, and the heatmap is
ReLU(sum_k alpha^c_k A_k) / S_max (``cam.normalize_maps``). The weights are per channel,
(N, 1, 1, K), or, for LayerCAM and HiResCAM, per unit, (N, h, w, K): the same product and
sum over k then weighs every position of a channel on its own.

- CAM: alpha = w_k^c, the dense weights of a global-average-pooling head (Zhou et al. 2016);
- Grad-CAM: alpha = 1/|I x J| sum_ij g_ijk (Selvaraju et al. 2017); its counterfactual
  uses -g;
- Grad-CAM++: alpha = sum_ij a_ijk ReLU(g_ijk) (Chattopadhay et al. 2018);
- Score-CAM: alpha = the class probability of the image masked by the upsampled A_k
  (Wang et al. 2020);
- LayerCAM: alpha_ijk = ReLU(g_ijk), element-wise (Jiang et al. 2021);
- HiResCAM: alpha_ijk = g_ijk, element-wise: sum_k g A is the gradient-times-activation of
  the layer, and its sum over the map is what the score's first-order expansion credits to
  the layer (Draelos & Carin 2020).

Import them from ``helpers.cam``.
"""

from __future__ import annotations

import hashlib

import keras
import numpy as np

from helpers._core.graph import activation_name, all_layers
from helpers._core.inputs import BATCH_SIZE
from helpers._core.model import logits_model
from helpers._core.progress import progress
from helpers.cam_pass import class_probabilities
from helpers.images import resize_maps


_IDENTITY_LAYERS = (keras.layers.Dropout, keras.layers.Reshape, keras.layers.Flatten,
                    keras.layers.InputLayer)


def _is_identity(layer) -> bool:
    """Whether a layer passes its input through unchanged at inference."""
    return isinstance(layer, _IDENTITY_LAYERS) or (
        isinstance(layer, keras.layers.Activation) and activation_name(layer) == "linear")


def _linear_classifier_weights(layer) -> tuple[np.ndarray, np.ndarray] | None:
    """(K, classes) weights and (classes,) bias of a linear Dense or 1x1 convolution."""
    if activation_name(layer) != "linear":
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
    """The dense weights w_k^c (K, classes) and biases b_c of a global-average-pooling head
    (of the logits: a final softmax is set aside).

    Raises:
        ValueError: the model does not end in global average pooling followed by one linear
            layer (Dense, or a 1x1 convolution as in MobileNet); layers that do nothing at
            inference (dropout, reshape) may sit in between.
    """
    net = logits_model(model)
    tail = [layer for layer in all_layers(net) if not _is_identity(layer)]
    head = _linear_classifier_weights(tail[-1]) if len(tail) >= 2 else None
    if head is None or not isinstance(tail[-2], keras.layers.GlobalAveragePooling2D):
        names = " -> ".join(f"{layer.name} ({type(layer).__name__})" for layer in tail[-3:])
        raise ValueError(
            f"CAM needs a head of global average pooling followed by one linear layer; "
            f"{net.name!r} ends with {names}. Use grad_cam, which generalizes CAM to any head."
        )
    return head


def cam_weights(model, features: np.ndarray, logits: np.ndarray, classes) -> np.ndarray:
    """CAM's alpha_k^c = w_k^c, the head's dense weights, checked to be exact: the logit is
    the map's mean plus the bias, f_c = sum_k w_k^c mean_ij(A_ijk) + b_c.

    Raises:
        ValueError: not a GAP + linear head, or the check fails (use Grad-CAM).
    """
    kernel, bias = cam_head(model)
    if features.shape[-1] != kernel.shape[0]:
        raise ValueError(f"CAM: the last feature maps have {features.shape[-1]} channels but "
                         f"the dense layer takes {kernel.shape[0]}.")
    weights = kernel[:, classes].T[:, None, None, :]
    predicted = (weights[:, 0, 0] * features.mean(axis=(1, 2))).sum(axis=-1) + bias[classes]
    if not np.allclose(predicted, logits[np.arange(len(logits)), classes], rtol=1e-3,
                       atol=1e-3):
        raise ValueError("CAM: the map's mean plus bias does not give the logit, so the head is "
                         "not a plain GAP + linear layer; use grad_cam.")
    return weights


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


def layer_cam_weights(grads: np.ndarray) -> np.ndarray:
    """LayerCAM's element-wise weights ReLU(g_ijk), shape (N, h, w, K): each position keeps
    its own positive gradient, so the map ReLU(sum_k ReLU(g_k) A_k) keeps the layer's
    resolution instead of one weight per channel (Jiang et al., "LayerCAM: Exploring
    Hierarchical Class Activation Maps for Localization", IEEE TIP 2021)."""
    return np.maximum(grads, 0.0)


def hires_cam_weights(grads: np.ndarray) -> np.ndarray:
    """HiResCAM's element-wise weights g_ijk, shape (N, h, w, K): the map sum_k g_k A_k
    (before the ReLU) is the element-wise gradient times activation (Draelos & Carin,
    "Use HiResCAM instead of Grad-CAM for faithful explanations of convolutional neural
    networks", arXiv:2011.08891, 2020). Where the layer is followed only by global average
    pooling and a dense head, g is constant over the map and HiResCAM is Grad-CAM."""
    return grads


def score_cam_weights(model, x: np.ndarray, features: np.ndarray, classes,
                      max_channels: int | None = None,
                      batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Score-CAM's alpha_k^c: the class probability of the image x * norm(up(A_k)), where
    up() upsamples to the image and norm() scales to [0, 1]; shape (N, 1, 1, K).

    The ``max_channels`` channels of largest mean activation are scored (the others get 0);
    a constant channel marks no place in the image and gets 0. The same image asked for
    several classes is passed through once.
    """
    net = logits_model(model)
    weights = np.zeros((len(x), 1, 1, features.shape[-1]), np.float32)
    for rows in _identical_images(x):
        channels, probabilities = _channel_scores(net, x[rows[0]], features[rows[0]],
                                                  max_channels, batch_size)
        for i in rows:
            weights[i, 0, 0, channels] = probabilities[:, classes[i]]
    return weights


def _identical_images(x) -> list[list[int]]:
    groups: dict[bytes, list[int]] = {}
    for i, image in enumerate(x):
        groups.setdefault(hashlib.sha1(image.tobytes()).digest(), []).append(i)
    return list(groups.values())


def _channel_scores(net, image, features, max_channels, batch_size):
    """Channels used and the class probabilities (channels, classes) of the masked image."""
    channels = np.argsort(features.mean(axis=(0, 1)))[::-1][:max_channels]
    maps = np.moveaxis(features[..., channels], -1, 0)
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    maps = (maps - low) / np.where(span > 0, span, 1.0)
    probabilities = np.concatenate([
        class_probabilities(net, image * resize_maps(maps[i:i + batch_size],
                                                     image.shape[:2])[..., None], batch_size)
        for i in progress(range(0, len(maps), batch_size), desc="Score-CAM channels")])
    probabilities[span[:, 0, 0] <= 0] = 0.0  # a constant map marks no place in the image
    return channels, probabilities
