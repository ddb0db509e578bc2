"""Class neurons: ascent raises the class's logit until the model sees the class."""

import keras
import numpy as np
import pytest

from helpers import ascent, class_neurons


def test_ascent_makes_every_shape_the_top_prediction(shapes_model):
    result = class_neurons.class_images(shapes_model, list(shapes_model.class_names), steps=64)
    start = class_neurons.predict(shapes_model, np.zeros((6, 96, 96, 3)), range(6)).logits
    assert np.all(result.prediction.logits > start + 1.0), (start, result.prediction.logits)
    assert result.prediction.hits.all(), str(result.prediction)
    assert result.images.shape == (6, 96, 96, 3) and result.images.dtype == np.uint8


def test_prediction_agrees_with_the_model(shapes_model):
    result = class_neurons.class_images(shapes_model, ["star", 0], steps=5)
    logits = shapes_model.model(result.inputs).numpy()
    pred = result.prediction
    np.testing.assert_array_equal(pred.classes, [3, 0])
    np.testing.assert_allclose(pred.logits, logits[[0, 1], [3, 0]], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(pred.top, logits.argmax(axis=1))
    assert np.all((0 <= pred.probabilities) & (pred.probabilities <= pred.top_probabilities))
    np.testing.assert_allclose(pred.others, [(logits[0].sum() - logits[0, 3]) / 5,
                                             (logits[1].sum() - logits[1, 0]) / 5], rtol=1e-4)
    assert "star" in str(result) and "top prediction" in str(result)


def test_softmax_objective_reaches_a_probability_not_a_logit(shapes_model):
    result = class_neurons.class_images(shapes_model, "ring", objective="softmax", steps=10)
    history = result.history
    assert history.shape == (10, 1) and np.all((history >= 0) & (history <= 1))
    assert history[-1, 0] > history[0, 0]


def test_a_plain_keras_model_takes_indices(tiny_cnn):
    result = class_neurons.class_images(tiny_cnn, 2, steps=5, init="noise")
    assert result.prediction.classes.tolist() == [2]
    assert result.prediction.class_names == ("0", "1", "2")


def test_flamingo_is_looked_up_by_name(mobilenet):
    result = class_neurons.class_images(mobilenet, "flamingo", steps=3)
    assert result.prediction.classes.tolist() == [130]
    assert result.prediction.logits[0] > result.history[0, 0]


def _looks_like_probabilities():
    """A softmax inside a Lambda: outputs that sum to one, with no softmax layer to remove."""
    inputs = keras.Input((16, 16, 3))
    logits = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(inputs))
    return keras.Model(
        inputs, keras.layers.Lambda(lambda t: keras.ops.softmax(t, axis=-1))(logits))


@pytest.mark.parametrize("model, cls, message", [
    ("shapes", "circel", "Unknown class name 'circel'. Did you mean: circle"),
    ("shapes", 6, "Class index 6 is out of range.*0 to 5"),
    ("shapes", -1, "out of range"),
    ("tiny", "circle", "plain Keras model has no class names"),
    ("probabilities", 0, "outputs probabilities, not logits.*classifier_activation=None"),
])
def test_bad_classes_and_models_are_explained(shapes_model, tiny_cnn, model, cls, message):
    model = {"shapes": shapes_model, "tiny": tiny_cnn,
             "probabilities": _looks_like_probabilities()}[model]
    with pytest.raises(ValueError, match=message):
        class_neurons.class_images(model, cls, steps=2)


def test_a_dense_softmax_is_removed_and_its_logit_maximized_with_a_notice(capsys):
    inputs = keras.Input((16, 16, 3))
    features = keras.layers.GlobalAveragePooling2D()(
        keras.layers.Conv2D(4, 3, activation="relu")(inputs))
    dense, linear = keras.layers.Dense(3, activation="softmax"), keras.layers.Dense(3)
    with_softmax = keras.Model(inputs, dense(features))
    logits = keras.Model(inputs, linear(features))  # the same layers, without the softmax
    linear.set_weights(dense.get_weights())
    result = class_neurons.class_images(with_softmax, 1, steps=4, init="noise")
    assert "ends in a softmax; explaining its logits" in capsys.readouterr().out
    reference = class_neurons.class_images(logits, 1, steps=4, init="noise")
    np.testing.assert_allclose(result.history, reference.history, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.prediction.logits, logits(result.inputs).numpy()[:, 1],
                               rtol=1e-4, atol=1e-5)


def test_one_image_gives_one_result_by_name_for_a_vis_model_or_index_for_keras(shapes_model):
    batch = shapes_model.preprocess(np.stack([shapes_model.samples[n] for n in ("star", "ring")]))
    logits = shapes_model.model(batch).numpy()
    one = class_neurons.predict(shapes_model, batch[0], "star")
    assert np.ndim(one.logits) == 0 and one.classes == 3 and "star" in str(one)
    assert one.logits == pytest.approx(logits[0, 3], rel=1e-4)
    both = class_neurons.predict(shapes_model.model, batch, 3)  # one class for all images
    np.testing.assert_allclose(both.logits, logits[:, 3], rtol=1e-4)
    np.testing.assert_array_equal(class_neurons.top_classes(shapes_model, batch[1], k=2),
                                  np.argsort(-logits[1])[:2])
    rms = class_neurons.objective_gradient_rms(shapes_model, batch, ["star", "ring"])
    assert rms.shape == (2,) and np.ndim(
        class_neurons.objective_gradient_rms(shapes_model.model, batch[1], 5)) == 0
    assert class_neurons.objective_gradient_rms(shapes_model, batch[1], "ring") == \
        pytest.approx(rms[1], rel=1e-4)


def test_an_unknown_objective_is_explained(shapes_model):
    with pytest.raises(ValueError, match="'logit' or 'softmax'"):
        class_neurons.class_images(shapes_model, "star", objective="probability", steps=2)


def test_softmax_gradient_is_p0_p1_times_the_weight_difference():
    inputs = keras.Input((2, 2, 1))
    dense = keras.layers.Dense(2)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    w = np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32)
    dense.set_weights([w, np.zeros(2, np.float32)])
    x = np.random.default_rng(1).normal(size=(1, 2, 2, 1)).astype(np.float32)
    logits = x.reshape(1, 4) @ w
    p = np.exp(logits) / np.exp(logits).sum()
    expected = p[0, 0] * p[0, 1] * (w[:, 0] - w[:, 1])  # d p_0 / d x
    rms = class_neurons.objective_gradient_rms(model, x, [0], "softmax")
    assert rms[0] == pytest.approx(np.sqrt(np.mean(expected ** 2)), rel=1e-4)
    logit_rms = class_neurons.objective_gradient_rms(model, x, [0], "logit")
    assert logit_rms[0] == pytest.approx(np.sqrt(np.mean(w[:, 0] ** 2)), rel=1e-4)


def test_results_from_a_hand_written_loop_and_subsets(shapes_model):
    inputs = np.random.default_rng(0).uniform(-1, 1, (3, 96, 96, 3)).astype(np.float32)
    result = class_neurons.from_inputs(shapes_model, inputs, ["circle", "ring", 2],
                                       history=np.ones((4, 3)))
    assert result.images.shape == (3, 96, 96, 3) and result.images.dtype == np.uint8
    part = result[1:]
    assert part.prediction.classes.tolist() == [5, 2] and part.history.shape == (4, 2)
    np.testing.assert_array_equal(part.inputs, inputs[1:])


def test_figures_and_explorer_draw(shapes_model):
    import matplotlib.pyplot as plt

    result = class_neurons.class_images(shapes_model, ["star", "ring"], steps=3)
    fig = class_neurons.show_class_images({"a": result, "b": result},
                                          examples=shapes_model.samples)
    assert len(fig.axes) == 6
    assert len(class_neurons.show_class_images({"a": result[:1], "b": result[:1]}).axes) == 2
    explorer = class_neurons.ClassExplorer(shapes_model)
    explorer.remember(result, steps=3)
    image, x = explorer.generate("ring", "logit", result.regularization, 3)
    np.testing.assert_array_equal(image, result.images[1])  # remembered, not recomputed
    drawn = plt.get_fignums()
    assert len(explorer.figure("ring", "logit", result.regularization, 3).axes) == 2
    assert plt.get_fignums() == drawn  # outside pyplot: safe from a widget's thread
    plt.close("all")


def test_the_regularized_flamingo_grown_on_mobilenet_is_classified_as_a_flamingo(mobilenet):
    result = class_neurons.class_images(mobilenet, "flamingo", regularization="fourier",
                                        steps=64, size=160)
    flamingo = mobilenet.class_index("flamingo")
    assert flamingo in class_neurons.top_classes(mobilenet, result.inputs, k=5)[0]
    as_photo = mobilenet.predict(result.images)[0]  # resized to 224, as any photo would be
    assert flamingo in np.argsort(as_photo)[::-1][:5], str(result)


def test_images_grown_at_another_size_are_judged_at_that_size(tiny_cnn):
    result = class_neurons.class_images(tiny_cnn, [0, 2], steps=4, size=24, init="noise")
    assert result.inputs.shape == (2, 24, 24, 3)
    # an independent reference: the same layers called on a 24 x 24 input by hand
    h = inputs = keras.Input((24, 24, 3))
    for layer in tiny_cnn.layers[1:]:
        h = layer(h)
    logits = keras.Model(inputs, h)(result.inputs).numpy()
    np.testing.assert_allclose(result.prediction.logits, logits[[0, 1], [0, 2]], rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_array_equal(class_neurons.top_classes(tiny_cnn, result.inputs, k=3),
                                  np.argsort(-logits, axis=1))


def _checkerboard(size=32):
    return np.indices((size, size)).sum(axis=0)[..., None] % 2 * np.ones(3)


def _slow_wave(size=32, period=16):
    wave = np.sin(2 * np.pi * np.arange(size) / period)
    return np.repeat(np.repeat(wave[None, :, None], size, axis=0), 3, axis=2)


@pytest.mark.parametrize("image, low, high", [
    (np.random.default_rng(0).uniform(0, 255, (64, 64, 3)), 0.77, 0.83),  # 1 - pi / 16
    (_checkerboard(), 0.99, 1.0),       # period 2: all fine detail
    (_slow_wave(), 0.0, 0.01),          # period 16: none
    (np.full((16, 16, 3), 7.0), 0.0, 0.0),  # flat: no variation at all
])
def test_fine_detail_share_of_planted_patterns(image, low, high):
    # notebook 03 measures the naive images' "noise" with ascent's high-frequency share
    (share,) = ascent.high_frequency_share(image)
    assert low <= share <= high
    batch = ascent.high_frequency_share(np.stack([image, image]))
    assert batch.shape == (2,) and np.allclose(batch, batch[0])


def test_fine_detail_share_explains_bad_inputs():
    with pytest.raises(ValueError, match="cutoff is in cycles per pixel"):
        ascent.high_frequency_share(np.zeros((8, 8, 3)), cutoff=0.5)
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        ascent.high_frequency_share(np.zeros((8, 8)))


def test_the_explorer_grows_at_its_size_and_estimates_the_next_click(shapes_model):
    import matplotlib.pyplot as plt

    explorer = class_neurons.ClassExplorer(shapes_model, size=64)
    assert explorer.estimate(10) is None and not explorer.is_ready("ring", "logit", "naive", 4)
    image, x = explorer.generate("ring", "logit", "naive", 4)
    assert image.shape == (64, 64, 3) and x.shape == (64, 64, 3)
    assert explorer.is_ready("ring", "logit", "naive", 4)
    assert explorer.estimate(8) == pytest.approx(2 * explorer.estimate(4))
    assert len(explorer.figure("ring", "logit", "naive", 4).axes) == 2
    plt.close("all")


def test_notebook_settings_name_every_shape_for_the_lab_and_fewer_steps_for_vgg16(shapes_model):
    lab = class_neurons.notebook_settings(shapes_model)
    assert lab.classes == list(shapes_model.class_names) and lab.size is None
    classes, steps, *_ = lab  # unpacks as the notebook's setup cell does
    assert classes == lab.classes and steps == lab.steps

    class Named:
        def __init__(self, name):
            self.name = name

    mobilenet, vgg16 = (class_neurons.notebook_settings(Named(n)) for n in ("mobilenet", "vgg16"))
    assert mobilenet.classes[0] == "flamingo" and mobilenet.size == 160
    assert vgg16.steps < mobilenet.steps and vgg16.samples < mobilenet.samples


def test_step_sizes_are_drawn_relative_to_the_first_step_on_a_log_scale():
    import matplotlib.pyplot as plt

    moves = np.array([[0.5, 2.0], [5.0, 1.0], [0.05, 0.5]])
    fig = class_neurons.show_step_sizes(moves, ["a", "b"])
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [1, 10, 0.1])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [1, 0.5, 0.25])
    with pytest.raises(ValueError, match="one name per class"):
        class_neurons.show_step_sizes(moves, ["a"])
    plt.close("all")
