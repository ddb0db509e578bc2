"""Small VGG-style CNNs with a CAM-ready head: the architecture of the series' own models.

The embedded shapes CNN (``helpers.shapes_cnn``) and the Paper Gestalt reviewer
(``helpers.gestalt``) are both blocks of 3x3 ReLU convolutions named ``block{b}_conv{i}``,
2x2 max-pooling between blocks, global average pooling ``gap`` and one dense layer
``logits`` (no softmax). They train faster with batch normalization after each
convolution; :func:`fold_batch_norm` then folds it away, so that the shipped models are
plain convolutions whose filters and circuits can be read directly.

References:
    Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
    Recognition" (2014); Ioffe & Szegedy, "Batch Normalization" (2015); Zhou et al.,
    "Learning Deep Features for Discriminative Localization" (2016).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np


def preprocess(images) -> np.ndarray:
    """uint8 RGB in [0, 255] to these models' input range [-1, 1]."""
    return np.asarray(images, dtype=np.float32) / 127.5 - 1.0


def deprocess(x) -> np.ndarray:
    """The inverse of ``preprocess``: model inputs back to uint8 RGB (clipped to [0, 255]),
    e.g. the ``inputs`` of a gradient ascent, to see them as the model saw them."""
    return np.clip((np.asarray(x, dtype=np.float32) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def build_vgg(input_shape: tuple, blocks, num_classes: int, *, name: str,
              input_name: str = "image", batch_norm: bool = False,
              bn_momentum: float = 0.99) -> keras.Model:
    """A VGG-style CNN ending in global average pooling and dense logits.

    Args:
        input_shape: (height, width, channels); height and width may be None.
        blocks: (block number, filters, convolutions) per block, numbered from 1; a 2x2
            max-pool follows every block but the last.
        num_classes: width of the ``logits`` layer.
        name: the model's name.
        input_name: the input layer's name.
        batch_norm: put batch normalization between each convolution and its ReLU (for
            training only; ``fold_batch_norm`` turns such a model into the plain one).
        bn_momentum: the batch norms' momentum; lower keeps up with short trainings.
    """
    inputs = keras.Input(input_shape, name=input_name)
    x = inputs
    for block, filters, convs in blocks:
        for i in range(1, convs + 1):
            layer = f"block{block}_conv{i}"
            if batch_norm:
                x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=layer)(x)
                x = keras.layers.BatchNormalization(momentum=bn_momentum, name=f"{layer}_bn")(x)
                x = keras.layers.ReLU(name=f"{layer}_relu")(x)
            else:
                x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                        name=layer)(x)
        if block < len(blocks):
            x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def fold_batch_norm(trained: keras.Model, plain: keras.Model) -> keras.Model:
    """Give ``plain`` the function ``trained`` computes at inference, and return it.

    ``trained`` was built by ``build_vgg(..., batch_norm=True)``, ``plain`` by the same
    call without batch norm. Batch norm after a convolution is an affine map per channel,
    gamma * (z - mean) / sqrt(var + eps) + beta, so it folds into the convolution: the
    kernel is scaled by gamma / sqrt(var + eps) and the shift becomes the bias. Every other
    layer's weights are copied.
    """
    for layer in plain.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel = trained.get_layer(layer.name).get_weights()[0]
            bn = trained.get_layer(f"{layer.name}_bn")
            gamma, beta, mean, var = bn.get_weights()
            scale = gamma / np.sqrt(var + bn.epsilon)
            layer.set_weights([kernel * scale, beta - mean * scale])
        elif layer.weights:
            layer.set_weights(trained.get_layer(layer.name).get_weights())
    return plain


def load_weights(model: keras.Model, path: str | Path, retrain: str) -> keras.Model:
    """``model`` with the trained weights at ``path``.

    Raises:
        FileNotFoundError: no file at ``path``; the message says how to restore it or
            retrain it (the ``retrain`` command).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"The weights of {model.name} are missing ({path}). Restore them with "
            f"`git checkout data/` or retrain: {retrain}"
        )
    model.load_weights(path)
    return model
