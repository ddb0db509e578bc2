import keras
import numpy as np
import pytest

from helpers import activations, imagenet
from helpers._core import graph as layers
from helpers.cache import OfflineError, fetch
from helpers.models import MODEL_NAMES, canonical_name, lecture_model, load_model


def test_conv_and_feature_layers(tiny_cnn):
    assert layers.conv_layers(tiny_cnn) == ["conv1", "conv2"]
    assert layers.feature_layers(tiny_cnn) == ["conv1", "conv2"]
    assert layers.last_conv_layer(tiny_cnn) == "conv2"


def test_nested_model_layers_are_found(tiny_cnn):
    inputs = keras.Input((16, 16, 3))
    outer = keras.Model(inputs, keras.layers.Dense(2, name="head")(tiny_cnn(inputs)))
    assert layers.last_conv_layer(outer) == "conv2"
    assert layers.get_layer(outer, "conv1").name == "conv1"


def test_unknown_layer_suggests_close_names(tiny_cnn):
    with pytest.raises(ValueError, match="no layer 'conv3'. Closest: conv2, conv1"):
        layers.get_layer(tiny_cnn, "conv3")


def test_dense_layer_is_not_spatial(tiny_cnn):
    with pytest.raises(ValueError, match="not a spatial.*Pick a convolutional layer"):
        layers.require_spatial(tiny_cnn, "logits")


def test_model_without_convolutions_has_no_last_conv():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs), name="mlp")
    with pytest.raises(ValueError, match="no convolutional layer"):
        layers.last_conv_layer(model)


def test_activations_match_a_direct_submodel(tiny_cnn, rng):
    x = rng.normal(size=(2, 16, 16, 3)).astype("float32")
    acts = activations.get_activations(tiny_cnn, ["conv1", "conv2"], x)
    assert acts["conv1"].shape == (2, 16, 16, 4) and acts["conv2"].shape == (2, 8, 8, 6)
    direct = keras.Model(tiny_cnn.input, tiny_cnn.get_layer("conv2").output)(x)
    np.testing.assert_allclose(acts["conv2"], keras.ops.convert_to_numpy(direct), rtol=1e-5)
    assert (acts["conv1"] >= 0).all()  # after ReLU


def test_one_image_gives_maps_without_a_batch_axis(tiny_cnn, rng):
    x = rng.normal(size=(16, 16, 3)).astype("float32")
    one = activations.get_activations(tiny_cnn, "conv2", x)
    assert one["conv2"].shape == (8, 8, 6)
    np.testing.assert_allclose(one["conv2"], activations.get_activations(
        tiny_cnn, "conv2", x[None])["conv2"][0], rtol=1e-5)


def test_activations_of_a_vis_model_and_inside_a_nested_base(shapes_model, tiny_cnn, rng):
    x = shapes_model.preprocess("circle")
    by_vm = activations.get_activations(shapes_model, "block1_conv1", x)["block1_conv1"]
    by_keras = activations.get_activations(shapes_model.model, "block1_conv1", x)["block1_conv1"]
    np.testing.assert_array_equal(by_vm, by_keras)
    inputs = keras.Input((16, 16, 3))
    outer = keras.Model(inputs, keras.layers.Dense(2, name="head")(tiny_cnn(inputs)))
    images = rng.normal(size=(3, 16, 16, 3)).astype("float32")
    nested = activations.get_activations(outer, "conv2", images)["conv2"]
    np.testing.assert_allclose(nested, activations.get_activations(tiny_cnn, "conv2", images)
                               ["conv2"], rtol=1e-5)


def test_feature_extractor_outputs_the_named_layers(tiny_cnn, rng):
    x = rng.normal(size=(2, 16, 16, 3)).astype("float32")
    conv1, conv2 = activations.feature_extractor(tiny_cnn, ["conv1", "conv2"])(x)
    acts = activations.get_activations(tiny_cnn, ["conv1", "conv2"], x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(conv2), acts["conv2"], rtol=1e-5)
    assert conv1.shape == (2, 16, 16, 4)


def test_activations_need_a_layer(tiny_cnn):
    with pytest.raises(ValueError, match="at least one layer"):
        activations.get_activations(tiny_cnn, [], np.zeros((1, 16, 16, 3)))


@pytest.mark.parametrize("alias, name", [("VGG16", "vgg16"), ("embedded", "shapes"),
                                         (" MobileNet ", "mobilenet")])
def test_model_names_forgive_case_and_aliases(alias, name):
    assert canonical_name(alias) == name


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown model 'resnet'.*" + ", ".join(MODEL_NAMES)):
        load_model("resnet")


def test_class_names_both_ways():
    names = ("circle", "square", "Egyptian_cat")
    assert imagenet.index_of("egyptian cat", names) == 2
    with pytest.raises(ValueError, match="Unknown class name 'sqare'.*Did you mean: square"):
        imagenet.index_of("sqare", names)
    assert imagenet.find("cat", names) == [(2, "Egyptian_cat")]


def test_offline_download_fails_fast(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    import time

    start = time.perf_counter()
    with pytest.raises(OfflineError, match="not in the Keras cache.*offline.*Do this"):
        fetch("nothing.h5", "http://127.0.0.1:9/nothing.h5", what="Test weights", fix="Do this.")
    assert time.perf_counter() - start < 5


def test_imagenet_model_offline_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # empty cache
    monkeypatch.setattr("helpers.cache.is_reachable", lambda url, timeout=3.0: False)
    with pytest.raises(OfflineError, match="vgg16.*helpers.download vgg16.*load_model\\('shapes'\\)"):
        load_model("vgg16")


def test_downloads_off_means_offline_even_with_a_network(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("CNNVIS_OFFLINE", "1")
    monkeypatch.setattr("helpers.cache.is_reachable", lambda url, timeout=3.0: True)
    with pytest.raises(OfflineError, match="downloads are off \\(CNNVIS_OFFLINE=1\\)"):
        load_model("mobilenet")


def test_lecture_model_falls_back_to_the_lab_with_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("CNNVIS_OFFLINE", "1")
    vm = lecture_model("mobilenet")
    assert vm.name == "shapes"
    said = capsys.readouterr().out.strip().splitlines()
    assert len(said) == 1 and "mobilenet" in said[0] and "helpers.download mobilenet" in said[0]


def test_lecture_model_is_mobilenet_by_default(monkeypatch, mobilenet, capsys):
    monkeypatch.delenv("CNNVIS_MODEL", raising=False)
    vm = lecture_model()
    assert vm.name == "mobilenet" and capsys.readouterr().out == ""
    assert vm.model.count_params() > 4_000_000  # width 1.0, not the 0.5 M of width 0.25


def test_random_weights_need_no_download(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("CNNVIS_OFFLINE", "1")
    imagenet.class_names.cache_clear()  # as in a fresh process, with nothing cached
    vm = load_model("mobilenet_small", weights=None)
    assert vm.class_names[0] == "class_0" and vm.logits("cat").shape == (1000,)
    with pytest.raises(ValueError, match="weights must be 'imagenet' or None"):
        load_model("mobilenet", weights="random")


def test_shapes_model_interface(shapes_model):
    vm = shapes_model
    assert vm.model.output.shape[-1] == len(vm.class_names) == 6
    assert vm.last_conv_layer() == "block4_conv2"
    assert vm.class_index("Star") == 3
    with pytest.raises(ValueError, match="out of range.*0 to 5"):
        vm.class_index(6)
    for name in vm.class_names:  # each sample scene is named correctly
        assert vm.top_k(name, 1)[0][1] == name


def test_logits_are_not_probabilities(shapes_model):
    logits = shapes_model.logits("circle")
    assert not np.allclose(logits.sum(), 1.0)
    np.testing.assert_allclose(shapes_model.predict("circle").sum(), 1.0, rtol=1e-5)


def test_preprocess_rejects_non_rgb(shapes_model):
    with pytest.raises(ValueError, match="Expected an RGB image"):
        shapes_model.preprocess(np.zeros((96, 96)))


def test_mobilenet_real_weights_see_the_cat(mobilenet):
    top5 = {name for _, name, _ in mobilenet.top_k("cat", 5)}
    assert top5 & {"tabby", "tiger_cat", "Egyptian_cat", "Persian_cat", "Siamese_cat"}
    assert mobilenet.top_k("coffee", 1)[0][1] == "espresso"
    assert mobilenet.class_index("flamingo") == 130
    assert mobilenet.model.layers[-1].activation.__name__ == "linear"  # logits out


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n != "shapes"])
def test_stage_layers_exist_in_the_real_architecture(name, monkeypatch, tmp_path):
    monkeypatch.setenv("CNNVIS_OFFLINE", "1")  # random weights: the architecture is the point
    vm = load_model(name, weights=None)
    stages = vm.stage_layers()
    assert len(stages) >= 4
    for conv, output in stages:
        assert vm.model.get_layer(conv) and vm.model.get_layer(output)
    sizes = [vm.model.get_layer(output).output.shape[1] for _, output in stages]
    assert sizes == sorted(sizes, reverse=True), "early to deep: maps shrink"
