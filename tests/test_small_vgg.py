import keras
import numpy as np
import pytest

from helpers import small_vgg

BLOCKS = ((1, 4, 1), (2, 6, 2))


def test_layers_are_named_like_vgg_and_end_in_logits():
    model = small_vgg.build_vgg((16, 16, 3), BLOCKS, 5, name="tiny")
    names = [layer.name for layer in model.layers]
    assert names == ["image", "block1_conv1", "block1_pool", "block2_conv1", "block2_conv2",
                     "gap", "logits"]
    assert model.get_layer("block2_conv2").output.shape == (None, 8, 8, 6)
    assert model.output_shape == (None, 5)
    assert model.get_layer("logits").activation is keras.activations.linear


def test_batch_norm_goes_between_convolution_and_relu():
    model = small_vgg.build_vgg((None, None, 3), BLOCKS, 5, name="tiny", batch_norm=True,
                                bn_momentum=0.9)
    assert model.get_layer("block1_conv1").use_bias is False
    assert model.get_layer("block1_conv1_bn").momentum == 0.9
    assert model(np.zeros((1, 12, 20, 3), "float32")).shape == (1, 5)  # any input size


def test_folding_keeps_the_inference_function():
    keras.utils.set_random_seed(3)
    trained = small_vgg.build_vgg((16, 16, 3), BLOCKS, 5, name="tiny", batch_norm=True)
    rng = np.random.default_rng(0)
    for layer in trained.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            shape = layer.get_weights()[0].shape
            layer.set_weights([rng.uniform(0.5, 2, shape), rng.normal(0, 0.3, shape),
                               rng.normal(0, 0.3, shape), rng.uniform(0.2, 3, shape)])
    plain = small_vgg.fold_batch_norm(
        trained, small_vgg.build_vgg((16, 16, 3), BLOCKS, 5, name="tiny"))
    x = rng.uniform(-1, 1, (3, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(plain(x)),
                               keras.ops.convert_to_numpy(trained(x, training=False)),
                               rtol=1e-4, atol=1e-5)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in plain.layers)


def test_missing_weights_name_the_file_and_the_fix(tmp_path):
    model = small_vgg.build_vgg((16, 16, 3), BLOCKS, 5, name="tiny")
    with pytest.raises(FileNotFoundError, match=r"tiny.*nothing\.weights\.h5.*git checkout "
                                                r"data/.*python -m retrain"):
        small_vgg.load_weights(model, tmp_path / "nothing.weights.h5", "python -m retrain")


def test_saved_weights_load_back(tmp_path):
    model = small_vgg.build_vgg((16, 16, 3), BLOCKS, 5, name="tiny")
    model.save_weights(tmp_path / "w.weights.h5")
    other = small_vgg.build_vgg((16, 16, 3), BLOCKS, 5, name="tiny")
    small_vgg.load_weights(other, tmp_path / "w.weights.h5", "")
    x = np.ones((1, 16, 16, 3), "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(other(x)),
                               keras.ops.convert_to_numpy(model(x)))


def test_preprocess_maps_uint8_to_unit_range_and_deprocess_inverts_it():
    images = np.array([[[[0, 128, 255]]]], dtype=np.uint8)
    x = small_vgg.preprocess(images)
    assert x.dtype == np.float32 and x.min() == -1.0 and x.max() == 1.0
    np.testing.assert_array_equal(small_vgg.deprocess(x), images)
    assert small_vgg.deprocess(np.array([-3.0, 3.0])).tolist() == [0, 255]  # clipped
