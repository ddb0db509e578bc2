"""Diversity: several images of one unit, optimized together and pushed apart in style.

One optimized image can mislead: a unit may respond to several different things (a
polysemantic unit), and one ascent finds only one of them. Lucid's ``diversity`` objective
grows N images of the same unit in one batch, each from its own random start, and subtracts
a penalty on how alike they are in *style*, measured by the Gram matrices of a layer's
activations (as in style transfer, Gatys et al. 2015), which ignore where things are:

    G_n = 1 / (h w) * sum_{i, j} a_ij(I_n) a_ij(I_n)^T        (C x C; a_ij the channel vector)
    s_nm = <G_n, G_m>_F / (||G_n||_F ||G_m||_F)               (cosine similarity; in [0, 1]
                                                               after a ReLU)
    L = sum_n [ f(I_n) - weight * fbar * 1 / (N - 1) * sum_{m != n} s_nm ]

with fbar the batch's mean activation at this step, held constant (no gradient through it):
``weight`` is a share of the activation, so one number suits every model and unit, and the
penalty grows only as the images start to excite the unit. Each image trades up to
``weight * fbar`` of its activation against being wholly alike to the others. With
``weight=0`` the images differ only by their random starts and usually converge to similar
pictures; with ``weight=0.5`` they must find different ways to excite the unit. Too large a
weight buys dissimilarity by silencing the layer (an all-zero map is like nothing).

References:
    Olah, Mordvintsev & Schubert, "Feature Visualization", Distill (2017), section
    "Diversity"; Lucid's ``objectives.diversity``; Gatys, Ecker & Bethge, "A Neural Algorithm
    of Artistic Style" (2015).
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from helpers._core.compiled import cached, compiled, quiet_tracing
from helpers._core.inputs import check_count, check_positive
from helpers._core.model import affine_preprocessing, keras_model, preprocess_fn
from helpers.ascent import param as _param
from helpers.ascent.network import image_size, layer_model, num_channels
from helpers.ascent.objectives import Objective, check_units, score
from helpers.ascent.regularization import Regularization, get_regularization
from helpers.ascent.render import _BATCH_FIELDS, _ascend_batch, _AscentGraph, _warn_dead
from helpers.ascent.result import AscentResult

#: Default weight of the diversity penalty, a share of the batch's mean activation: on the lab's
#: last layer it halves the images' Gram similarity (0.99 -> 0.5-0.7) for 10-40 % activation.
DIVERSITY_WEIGHT = 0.5


def gram_similarity(maps) -> np.ndarray:
    """The cosine similarity of the Gram matrices of ``maps`` (N, h, w, C), (N, N): entry
    (n, m) is <G_n, G_m>_F / (||G_n|| ||G_m||), G_n = sum_ij a_ij a_ij^T / (h w). A map that
    is zero everywhere has similarity 0 to every other (and 0 to itself)."""
    maps = np.asarray(maps, np.float64)
    if maps.ndim != 4:
        raise ValueError(f"Expected feature maps (N, h, w, C); got shape {maps.shape}.")
    flat = maps.reshape(len(maps), -1, maps.shape[-1])
    grams = np.einsum("nsc,nsd->ncd", flat, flat).reshape(len(maps), -1) / flat.shape[1]
    norms = np.linalg.norm(grams, axis=1, keepdims=True)
    grams = np.divide(grams, norms, out=np.zeros_like(grams), where=norms > 1e-30)
    return grams @ grams.T


def _gram_similarity(maps):
    """``gram_similarity`` in TensorFlow, differentiable: (N, N)."""
    shape = tf.shape(maps)
    flat = tf.reshape(maps, [shape[0], -1, shape[3]])
    grams = tf.matmul(flat, flat, transpose_a=True) / tf.cast(shape[1] * shape[2], maps.dtype)
    grams = tf.reshape(grams, [shape[0], -1])
    grams = grams / (tf.norm(grams, axis=1, keepdims=True) + 1e-12)
    return tf.matmul(grams, grams, transpose_b=True)


class _DiverseGraph(_AscentGraph):
    """The ascent's compiled pieces plus the diversity penalty at ``style_layer`` (None: the
    objective's own layer, read from the same forward pass)."""

    def __init__(self, model, objective, reg, shape, affine, key, style_layer):
        super().__init__(model, objective, reg, shape, affine, key)
        self.style_net = (None if style_layer is None
                          else layer_model(model, style_layer, shape[:2]))
        self.similarity = compiled(keras_model(model), (*key, "similarity"),
                                   lambda: self._similarity)

    def _maps(self, image):
        """(the objective model's output, the style layer's maps) for images in [-1, 1]."""
        x = image @ self.in_matrix + self.in_bias
        out = self.net(x, training=False)
        if self.style_net is not None:
            return out, self.style_net(x, training=False)
        return out, out if self.activation is None else self.activation(out)

    def _terms(self, image, units, hyper):
        out, maps = self._maps(image)
        value, drive = score(out, units, self.objective, self.activation)
        similar = _gram_similarity(maps)
        n = tf.cast(tf.shape(similar)[0], similar.dtype)
        others = (tf.reduce_sum(similar) - tf.linalg.trace(similar)) / tf.maximum(n - 1.0, 1.0)
        scale = tf.stop_gradient(tf.reduce_mean(tf.abs(value)))  # the activations' own scale
        return value, drive, hyper["diversity"] * scale * others

    def _similarity(self, image):
        """(N, N) Gram similarity of [-1, 1] images (not parameters) at the style layer."""
        return _gram_similarity(self._maps(image)[1])


def maximize_diverse(model, layer: str, unit: int, n: int = 4, *,
                     weight: float = DIVERSITY_WEIGHT, style_layer: str | None = None,
                     steps: int = 128, lr: float | None = None,
                     regularization: str | Regularization = "fourier", size=None,
                     seed: int = 0, crop: float = 0.1, wake: bool = True,
                     preprocess=None) -> AscentResult:
    """``n`` images of filter ``unit`` of ``layer``, grown together by gradient ascent on
    f(I_n) minus ``weight`` times the mean activation times each image's mean Gram similarity
    to the others (see the module docstring).

    Args:
        model: a ``VisModel`` or a Keras model.
        layer, unit: the filter (channel objective, ``crop`` and ``wake`` as in ``Objective``).
        n: how many images (at least 2).
        weight: the penalty's weight, a share of the batch's mean activation (see the
            module docstring); 0 turns it off (the images then differ by their random starts
            alone); above about 1 some images fall silent.
        style_layer: the layer whose Gram matrices are compared (default: ``layer`` itself,
            all its channels); an earlier layer pushes apart lower-level style (colour,
            texture).
        steps, lr, regularization, size, preprocess: as in ``maximize`` (default: the
            Fourier rung, as in Lucid).
        seed: image i starts from the noise ``maximize`` uses for seed ``seed + i``.

    Returns:
        An ``AscentResult`` with ``n`` images of ``unit``, ``similarity`` the (n, n) Gram
        similarity of the final images at the style layer.

    Raises:
        ValueError: as ``maximize``; ``n`` below 2 or a negative weight.
    """
    net = keras_model(model)
    objective = Objective("channel", layer, crop, wake)
    unit = int(check_units(model, objective, [unit])[0])
    n = check_count("n", n, minimum=2)
    if isinstance(weight, bool) or not np.isfinite(weight) or weight < 0:
        raise ValueError(f"weight must be a finite number >= 0; got {weight!r}.")
    if style_layer is not None:
        num_channels(net, style_layer)  # checked: known and spatial
    reg = get_regularization(regularization)
    lr = check_positive("lr", reg.lr if lr is None else lr)
    steps = check_count("steps", steps)
    channels = int(net.inputs[0].shape[-1])
    shape = (*image_size(net, size), channels)
    if reg.decorrelate and channels != 3:
        reg = reg.with_(decorrelate=False)
    affine = affine_preprocessing(preprocess or preprocess_fn(model), channels)
    key = ("ascent.diverse", objective, style_layer, reg.fourier, reg.decorrelate, shape,
           affine[0].tobytes(), affine[1].tobytes())
    graph = cached(net, key, lambda: _DiverseGraph(model, objective, reg, shape, affine, key,
                                                   style_layer))
    units = np.full(n, unit, np.int32)
    start = np.concatenate([_param.initial_param(shape, reg.fourier, [unit], "noise", None,
                                                 seed + i) for i in range(n)])
    began = time.perf_counter()
    with quiet_tracing():
        part = _ascend_batch(graph, units, reg, steps, lr, "noise", None, seed, 1.0,
                             param=start, extra_hyper={"diversity": tf.constant(float(weight))})
        fields = dict(zip(_BATCH_FIELDS, part))
        inputs = fields["inputs"]
        similar = graph.similarity(tf.constant(_pixels(graph, inputs))).numpy()
    seconds = time.perf_counter() - began
    if fields["dead"].any():
        _warn_dead(objective, [unit])
    return AscentResult(**fields, units=tuple([unit] * n), objective=objective,
                        regularization=reg, minimize=False, seconds=seconds,
                        similarity=similar.astype(np.float32))


def _pixels(graph: _DiverseGraph, inputs: np.ndarray) -> np.ndarray:
    """The [-1, 1] images of model inputs (the preprocessing undone)."""
    matrix = graph.in_matrix.numpy()
    return ((inputs - graph.in_bias.numpy()) @ np.linalg.inv(matrix)).astype(np.float32)
