from types import SimpleNamespace

import keras
import numpy as np
import pytest

from helpers import activations, sparsity
from helpers.images import resize


def test_statistics_of_a_constructed_input():
    maps = np.zeros((2, 2, 2, 4), np.float32)  # 2 images, 2x2 maps, 4 channels
    maps[0, :, :, 1] = 2.0                     # image 0: channel 1 fully on
    maps[0, 0, 0, 2] = 4.0                     #          channel 2 on at one pixel
    maps[1] = 1.0                              # image 1: everything on ...
    maps[1, :, :, 3] = 0.0                     #          ... except channel 3
    stats = sparsity.activation_statistics(maps)
    # image 0: 16 values, 4 + 1 non-zero; channels 0 and 3 all zero; sum 8 + 4 = 12
    # image 1: 16 values, 12 non-zero; channel 3 all zero; sum 12
    np.testing.assert_allclose(stats["zero_fraction"], [11 / 16, 4 / 16])
    np.testing.assert_allclose(stats["dead_channel_fraction"], [2 / 4, 1 / 4])
    np.testing.assert_allclose(stats["mean_activation"], [12 / 16, 12 / 16])


@pytest.mark.parametrize("maps, message", [
    (np.zeros((2, 3, 3)), r"\(N, H, W, C\), got shape \(2, 3, 3\)"),
    (np.full((1, 2, 2, 1), np.nan), "contain NaN"),
])
def test_bad_activations(maps, message):
    with pytest.raises(ValueError, match=message):
        sparsity.activation_statistics(maps)


@pytest.fixture(scope="module")
def relu_model():
    """ReLU straight on the input: the statistics of relu(x) are known for any x."""
    inputs = keras.Input((4, 4, 2))
    relu = keras.layers.ReLU(name="relu")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(relu)
    return keras.Model(inputs, keras.layers.Dense(1, name="head")(pooled))


def test_model_statistics_match_the_constructed_input(relu_model):
    x = np.ones((3, 4, 4, 2), np.float32)
    x[0] = -1.0                 # image 0: all negative -> all zero, both channels dead
    x[1, :2, :, 0] = -5.0       # image 1: half of channel 0 negative
    x[2, :, :, 1] = -1.0        # image 2: channel 1 dead
    stats = sparsity.distillation_stats(relu_model, ["relu"], x, batch_size=2)
    np.testing.assert_allclose(stats.zero_fraction[0], [1.0, 8 / 32, 16 / 32])
    np.testing.assert_allclose(stats.dead_channel_fraction[0], [1.0, 0.0, 0.5])
    np.testing.assert_allclose(stats.mean_activation[0], [0.0, 24 / 32, 16 / 32])
    assert stats.layers == ("relu",) and stats.num_images == 3
    np.testing.assert_allclose(stats.mean("zero_fraction"), [(1 + 0.25 + 0.5) / 3])
    np.testing.assert_allclose(stats.never_active_fraction, [0.0])  # each channel fires once
    x[1, :, :, 1] = -1.0  # now channel 1 is zero on every image
    stats = sparsity.distillation_stats(relu_model, "relu", x, batch_size=2)
    np.testing.assert_allclose(stats.never_active_fraction, [0.5])


def test_batches_give_the_same_numbers_as_one_pass(tiny_cnn, rng):
    x = rng.normal(size=(5, 16, 16, 3)).astype("float32")
    in_pieces = sparsity.distillation_stats(tiny_cnn, ["conv1", "conv2"], x, batch_size=2)
    acts = activations.get_activations(tiny_cnn, ["conv1", "conv2"], x)
    for i, name in enumerate(["conv1", "conv2"]):
        direct = sparsity.activation_statistics(acts[name])
        for key in sparsity.STATISTICS:
            np.testing.assert_allclose(getattr(in_pieces, key)[i], direct[key], rtol=1e-5)


def test_one_image_and_a_vis_model_are_accepted(tiny_cnn, rng):
    x = rng.normal(size=(16, 16, 3)).astype("float32")
    one = sparsity.distillation_stats(SimpleNamespace(model=tiny_cnn), ["conv1", "conv2"], x)
    batch = sparsity.distillation_stats(tiny_cnn, ["conv1", "conv2"], x[None])
    assert one.num_images == 1  # statistics over images keep their image axis
    np.testing.assert_allclose(one.zero_fraction, batch.zero_fraction)


def test_table_lists_every_layer(tiny_cnn, rng):
    stats = sparsity.distillation_stats(tiny_cnn, ["conv1", "conv2"],
                                        rng.normal(size=(2, 16, 16, 3)))
    lines = stats.table().splitlines()
    assert len(lines) == 3 and lines[1].startswith("conv1") and lines[2].startswith("conv2")
    assert f"{stats.zero_fraction[1].mean():.1%}" in lines[2]


@pytest.mark.parametrize("layers, x, kwargs, message", [
    ([], np.zeros((1, 16, 16, 3)), {}, "at least one layer"),
    (["conv3"], np.zeros((1, 16, 16, 3)), {}, "no layer 'conv3'. Closest: conv2, conv1"),
    (["logits"], np.zeros((1, 16, 16, 3)), {}, "not a spatial"),
    (["conv1"], np.zeros((0, 16, 16, 3)), {}, "empty batch"),
    (["conv1"], np.zeros((16, 16)), {}, r"Expected a preprocessed image \(16, 16, 3\)"),
    (["conv1"], np.zeros((1, 16, 16, 3)), {"batch_size": 0}, "batch_size must be a whole number"),
])
def test_bad_input_is_explained(tiny_cnn, layers, x, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sparsity.distillation_stats(tiny_cnn, layers, x, **kwargs)


def test_unknown_statistic(tiny_cnn):
    stats = sparsity.distillation_stats(tiny_cnn, "conv1", np.zeros((1, 16, 16, 3)))
    with pytest.raises(ValueError, match="Unknown statistic 'zeros'; choose one of zero_fraction"):
        stats.mean("zeros")


def test_measurement_batch_of_scenes_and_of_photo_views():
    scenes = sparsity.measurement_batch(SimpleNamespace(name="shapes"), n=3, seed=5)
    assert scenes.shape == (3, 96, 96, 3) and scenes.dtype == np.uint8
    photo = np.arange(40 * 60 * 3, dtype=np.uint8).reshape(40, 60, 3)
    vm = SimpleNamespace(name="mobilenet", samples={"a": photo, "b": photo[::-1]},
                         load=lambda image: resize(image, 32))
    views = sparsity.measurement_batch(vm, n=14)
    assert views.shape == (14, 32, 32, 3)
    np.testing.assert_array_equal(views[1], resize(photo[:, ::-1], 32))  # the mirror image
    with pytest.raises(ValueError, match="2 sample photos, which make 14 views; ask for n <= 14"):
        sparsity.measurement_batch(vm, n=15)
