"""Fixtures: tiny models built in place, and MobileNet with real ImageNet weights."""

import keras
import numpy as np
import pytest

from helpers.models import unavailable_reason


@pytest.fixture(scope="session")
def tiny_cnn():
    """A 2-block ReLU CNN with a GAP + dense head: 16x16 RGB in, 3 logits out."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, outputs, name="tiny")


@pytest.fixture(scope="session")
def mobilenet():
    """MobileNet (alpha 1.0, the lecture's network) with real ImageNet weights, or a skip."""
    reason = unavailable_reason("mobilenet")
    if reason:
        pytest.skip(f"MobileNet ImageNet weights unavailable: {reason}")
    from helpers.models import load_model

    return load_model("mobilenet")


@pytest.fixture(scope="session")
def shapes_model():
    from helpers.models import load_model

    return load_model("shapes")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
