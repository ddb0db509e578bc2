"""Intermediate activations: the outputs of any set of layers in one forward pass."""

from __future__ import annotations

import keras
import numpy as np

from helpers._core.graph import get_layer


def feature_extractor(model: keras.Model, layer_names: list[str]) -> keras.Model:
    """A model with the same input as ``model`` that outputs the named layers.

    Raises:
        ValueError: a name is not a layer of ``model`` (closest names are suggested).
    """
    outputs = [get_layer(model, name).output for name in layer_names]
    # A single input passed as a tensor, not a list, keeps Keras from warning about structure.
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, outputs, name=f"{model.name}_features")


def get_activations(model: keras.Model, layer_names, x) -> dict[str, np.ndarray]:
    """Outputs of ``layer_names`` for the preprocessed batch ``x``, from one forward pass.

    Args:
        model: a Keras model (for a ``VisModel`` pass ``vm.model``).
        layer_names: a layer name or a list of them.
        x: preprocessed input batch, shape (N, H, W, C).

    Returns:
        A dict from layer name to a NumPy array of that layer's output.
    """
    names = [layer_names] if isinstance(layer_names, str) else list(layer_names)
    if not names:
        raise ValueError("Give at least one layer name.")
    outputs = feature_extractor(model, names)(np.asarray(x, dtype=np.float32), training=False)
    if len(names) == 1:
        outputs = [outputs]
    return {name: keras.ops.convert_to_numpy(out) for name, out in zip(names, outputs)}
