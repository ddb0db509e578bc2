"""Intermediate activations: the outputs of any set of layers in one forward pass."""

from __future__ import annotations

import keras
import numpy as np

from helpers._core.activations import layer_outputs
from helpers._core.graph import tap_model
from helpers._core.inputs import BATCH_SIZE, prepare
from helpers._core.model import keras_model


def get_activations(model, layer_names, x, batch_size: int = BATCH_SIZE) -> dict[str, np.ndarray]:
    """Outputs of ``layer_names`` for preprocessed input ``x``, from one compiled forward pass
    per ``batch_size`` images (layers inside a nested pretrained base included).

    Args:
        model: a ``VisModel`` or a Keras model.
        layer_names: a layer name or a list of them.
        x: one preprocessed image (H, W, C) or a batch (N, H, W, C).

    Returns:
        Layer name -> that layer's output: (h, w, channels) for one image, (N, h, w, channels)
        for a batch.

    Raises:
        ValueError: no layer names, an unknown layer (closest names suggested), or input
            that is not a preprocessed image or batch.
    """
    call = prepare(model, x, logits=False)
    return call.output(layer_outputs(call.net, layer_names, call.x, batch_size))


def feature_extractor(model, layer_names) -> keras.Model:
    """A Keras model with ``model``'s input that outputs the named layers (a list of them).

    Kept for code that wants the model itself; ``get_activations`` runs it compiled.

    Raises:
        ValueError: a name is not a layer of ``model`` (closest names are suggested).
    """
    net = keras_model(model)
    names = [layer_names] if isinstance(layer_names, str) else list(layer_names)
    tapped = tap_model(net, names)
    return keras.Model(tapped.inputs[0], tapped.outputs[:-1], name=f"{net.name}_features")
