"""The gestalt CNN itself: architecture, committed weights, batch-norm folding, training."""

import keras
import numpy as np
import pytest

from helpers import gestalt, gestalt_cnn, pages


@pytest.fixture(scope="module")
def vm():
    return gestalt_cnn.load_model()


def test_architecture_ends_in_centred_logits(vm):
    model = vm.model
    assert model.input_shape == (None,) + pages.PAGE_SIZE + (3,)
    assert model.output_shape == (None, 2) and vm.class_names == ("bad", "good")
    assert vm.last_conv_layer() == "block5_conv1"
    assert vm.feature_layers() == [f"block{b}_conv1" for b in range(1, 6)]
    kernel, bias = model.get_layer("logits").get_weights()
    np.testing.assert_allclose(kernel.sum(axis=1), 0, atol=1e-6)  # f_good = -f_bad
    np.testing.assert_allclose(bias.sum(), 0, atol=1e-6)


def test_committed_weights_are_small():
    assert gestalt_cnn.WEIGHTS_PATH.is_file()
    assert gestalt_cnn.WEIGHTS_PATH.stat().st_size < 2_000_000


def test_fold_batch_norm_keeps_the_posterior():
    keras.utils.set_random_seed(3)
    trained = gestalt_cnn.build_model(batch_norm=True)
    rng = np.random.default_rng(3)
    for layer in trained.layers:  # batch norms with statistics that are not the identity
        if isinstance(layer, keras.layers.BatchNormalization):
            k = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, k), rng.normal(0, 0.3, k),
                               rng.normal(0, 0.3, k), rng.uniform(0.5, 2, k)])
    x = gestalt_cnn.preprocess(pages.make_pages(3, seed=1).images)
    before = keras.ops.softmax(trained(x, training=False)).numpy()
    after = keras.ops.softmax(gestalt_cnn.fold_batch_norm(trained)(x)).numpy()
    np.testing.assert_allclose(after, before, atol=1e-4)


def test_training_runs_and_saves_loadable_weights(tmp_path):
    report = gestalt_cnn.train(seed=1, num_pages=64, epochs=1, eval_pages=32,
                           out=tmp_path / "w.weights.h5", verbose=0)
    assert 0.0 <= report["accuracy"] <= 1.0
    model = gestalt_cnn.load_trained(tmp_path / "w.weights.h5")
    x = gestalt_cnn.preprocess(pages.make_pages(2, seed=3).images)
    np.testing.assert_allclose(model(x).numpy(), report["model"](x).numpy(), atol=1e-5)


def test_missing_weights_say_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m helpers.gestalt_cnn --seed 0"):
        gestalt_cnn.load_trained(tmp_path / "nothing.weights.h5")


def test_accuracy_counts_the_verdicts_the_model_gives(vm):
    batch = pages.make_pages(40, seed=gestalt_cnn.FRESH_SEED + 5)
    said_good = gestalt.good_probability(vm, batch.images) >= 0.5  # the analysis' posterior
    assert gestalt_cnn.accuracy(vm, batch) == pytest.approx(np.mean(said_good == batch.labels))


def test_a_keras_gestalt_cnn_becomes_a_vis_model_with_named_classes(vm):
    wrapped = gestalt_cnn.as_vis_model(vm.model)
    assert wrapped.model is vm.model and wrapped.class_index("good") == 1
    assert gestalt_cnn.as_vis_model(vm) is vm
    with pytest.raises(TypeError, match="VisModel or a Keras model"):
        gestalt_cnn.as_vis_model("gestalt")


def test_gestalt_re_exports_the_model_api():
    for name in ("build_model", "fold_batch_norm", "load_model", "load_trained", "vis_model",
                 "train", "preprocess", "deprocess", "WEIGHTS_PATH", "TRAIN_SEED", "FRESH_SEED"):
        assert getattr(gestalt, name) is getattr(gestalt_cnn, name)
