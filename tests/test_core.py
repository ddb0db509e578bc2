"""The private core: what every technique relies on, tested once here."""

import gc
import weakref

import keras
import numpy as np
import pytest

from helpers._core import compiled, graph, inputs, model as core_model
from helpers._core.gradients import feature_gradients, input_gradients


def _small(name="small"):
    x_in = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3, activation="relu", name="conv")(x_in)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(x_in, keras.layers.Dense(3, name="logits")(x), name=name)


def test_a_dropped_model_frees_its_compiled_steps():
    net = _small()
    x = np.zeros((2, 8, 8, 3), np.float32)
    input_gradients(net, x, np.zeros(2, np.int32))
    feature_gradients(net, x, np.zeros(2, np.int32), "conv")
    core_model.logits_model(net)
    gone = weakref.ref(net)
    del net
    gc.collect()
    assert gone() is None, "the compile cache kept the model alive"


def test_cached_builds_once_per_model_and_key():
    a, b, calls = _small("a"), _small("b"), []
    build = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert compiled.cached(a, ("test.k",), build) == compiled.cached(a, ("test.k",), build) == 1
    assert compiled.cached(b, ("test.k",), build) == 2


def test_a_layer_inside_a_nested_base_is_tapped_from_the_outer_input():
    base = _small("base")
    outer_in = keras.Input((8, 8, 3))
    outer = keras.Model(outer_in, keras.layers.Dense(2)(base(outer_in)), name="outer")
    tapped = graph.tap_model(outer, ["conv"])
    x = np.random.default_rng(0).normal(size=(1, 8, 8, 3)).astype(np.float32)
    conv, final = tapped(x)
    expected = keras.Model(base.inputs, base.get_layer("conv").output)(x)
    np.testing.assert_allclose(conv, expected, atol=1e-6)
    np.testing.assert_allclose(final, outer(x), atol=1e-6)


def test_at_size_runs_the_same_weights_on_another_size():
    net = _small()
    bigger = graph.at_size(net, (16, 16, 3))
    assert bigger.input_shape == (None, 16, 16, 3)
    assert bigger.get_layer("conv") is net.get_layer("conv")


def test_one_image_in_gives_one_result_out_and_a_batch_a_batch():
    net = _small()
    one = inputs.prepare(net, np.zeros((8, 8, 3), np.float32), 1)
    many = inputs.prepare(net, np.zeros((3, 8, 8, 3), np.float32), [0, 1, 2])
    assert one.single and one.output(np.arange(4)[None]).shape == (4,)
    assert not many.single and list(many.classes) == [0, 1, 2]


@pytest.mark.parametrize("value, message", [(0, "steps must be a whole number >= 1; got 0"),
                                            (2.5, "steps must be a whole number >= 1; got 2.5"),
                                            (True, "steps must be a whole number >= 1; got True")])
def test_counts_are_whole_positive_numbers(value, message):
    with pytest.raises(ValueError, match=message):
        inputs.check_count("steps", value)
