"""Image gradients: vanilla, gradient x input, SmoothGrad, Integrated Gradients, mask share."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import saliency
from helpers.shapes import make_scenes

TEST_SEED = 424_242  # far from the embedded model's training seeds


@pytest.fixture(scope="module")
def x(rng):
    return rng.uniform(-1, 1, (3, 16, 16, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def linear_model():
    """f(x) = sum(w * x) + b per class: its gradient is w and Integrated Gradients is exact."""
    inputs = keras.Input((8, 8, 3))
    flat = keras.layers.Flatten()(inputs)
    dense = keras.layers.Dense(2, name="logits")
    model = keras.Model(inputs, dense(flat))
    weights = np.random.default_rng(1).normal(size=(8 * 8 * 3, 2)).astype(np.float32)
    dense.set_weights([weights, np.array([0.5, -0.25], np.float32)])
    return model, weights.reshape(8, 8, 3, 2)


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(8, seed=TEST_SEED)


# ---------------------------------------------------------------------------- gradients


def test_gradient_is_the_linear_models_weights(linear_model):
    model, weights = linear_model
    x = np.random.default_rng(2).normal(size=(2, 8, 8, 3)).astype(np.float32)
    scores, grads = saliency.scores_and_gradients(model, x, [0, 1])
    np.testing.assert_allclose(grads[0], weights[..., 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads[1], weights[..., 1], rtol=1e-5, atol=1e-6)
    expected = [np.sum(weights[..., 0] * x[0]) + 0.5, np.sum(weights[..., 1] * x[1]) - 0.25]
    np.testing.assert_allclose(scores, expected, rtol=1e-4)


def test_gradient_matches_finite_differences(tiny_cnn, x):
    _, grads = saliency.scores_and_gradients(tiny_cnn, x[:1], 2)
    direction = np.random.default_rng(3).normal(size=x[:1].shape).astype(np.float32)
    eps = 1e-3  # small enough to stay inside one linear piece of the ReLUs
    plus = tiny_cnn(x[:1] + eps * direction)[0, 2]
    minus = tiny_cnn(x[:1] - eps * direction)[0, 2]
    numeric = float(plus - minus) / (2 * eps)
    assert np.sum(grads * direction) == pytest.approx(numeric, rel=0.02)


def test_one_class_per_image_and_batch_splitting_agree(tiny_cnn, x):
    together, grads = saliency.scores_and_gradients(tiny_cnn, x, [0, 1, 2])
    for i, cls in enumerate([0, 1, 2]):
        alone, grad = saliency.scores_and_gradients(tiny_cnn, x[i:i + 1], cls)
        np.testing.assert_allclose(together[i], alone[0], rtol=1e-5)
        np.testing.assert_allclose(grads[i], grad[0], rtol=1e-4, atol=1e-7)
    _, split = saliency.scores_and_gradients(tiny_cnn, x, [0, 1, 2], batch_size=2)
    np.testing.assert_allclose(split, grads, rtol=1e-4, atol=1e-7)


def test_vanilla_is_max_abs_over_channels(tiny_cnn, x):
    _, grads = saliency.scores_and_gradients(tiny_cnn, x, 1)
    maps = saliency.vanilla_gradient(tiny_cnn, x, 1)
    assert maps.shape == (3, 16, 16)
    np.testing.assert_allclose(maps, np.abs(grads).max(axis=-1))
    assert saliency.vanilla_gradient(tiny_cnn, x[0], 1).shape == (16, 16)


def test_gradient_x_input(tiny_cnn, x):
    _, grads = saliency.scores_and_gradients(tiny_cnn, x, 0)
    np.testing.assert_allclose(saliency.gradient_x_input(tiny_cnn, x, 0),
                               np.abs((grads * x).sum(axis=-1)), rtol=1e-5)


def test_smoothgrad_without_noise_is_the_vanilla_gradient(tiny_cnn, x):
    vanilla = saliency.vanilla_gradient(tiny_cnn, x, 2)
    smooth = saliency.smoothgrad(tiny_cnn, x, 2, noise=0.0, samples=5)
    np.testing.assert_allclose(smooth, vanilla, rtol=1e-5, atol=1e-8)


def test_smoothgrad_with_noise_differs_and_repeats_with_its_seed(tiny_cnn, x):
    vanilla = saliency.vanilla_gradient(tiny_cnn, x[0], 0)
    a = saliency.smoothgrad(tiny_cnn, x[0], 0, noise=0.2, samples=8, seed=1)
    b = saliency.smoothgrad(tiny_cnn, x[0], 0, noise=0.2, samples=8, seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, vanilla)


def test_integrated_gradients_is_exact_for_a_linear_model(linear_model):
    model, weights = linear_model
    image = np.random.default_rng(4).normal(size=(8, 8, 3)).astype(np.float32)
    ig = saliency.integrated_gradients(model, image, 1, baseline=0.5, steps=4)
    np.testing.assert_allclose(ig.attributions, (image - 0.5) * weights[..., 1], rtol=1e-4,
                               atol=1e-6)
    assert ig.completeness_error < 1e-4
    assert ig.map.shape == (8, 8)


def test_integrated_gradients_baseline_as_an_image_or_batch_of_one(tiny_cnn, x):
    base = np.full((16, 16, 3), -1.0, np.float32)
    a = saliency.integrated_gradients(tiny_cnn, x[0], 1, baseline=base, steps=8)
    (b,) = saliency.integrated_gradients(tiny_cnn, x[:1], 1, baseline=base[None], steps=8)
    c = saliency.integrated_gradients(tiny_cnn, x[0], 1, baseline=-1.0, steps=8)
    np.testing.assert_allclose(a.attributions, b.attributions)
    np.testing.assert_allclose(a.attributions, c.attributions)
    assert "relative error" in str(a)


def test_saliency_map_dispatches_with_parameters(tiny_cnn, x):
    for method in saliency.METHODS:
        assert saliency.saliency_map(tiny_cnn, x[0], 0, method).shape == (16, 16)
    np.testing.assert_allclose(
        saliency.saliency_map(tiny_cnn, x[0], 0, "smoothgrad", noise=0.0, samples=2),
        saliency.vanilla_gradient(tiny_cnn, x[0], 0), rtol=1e-5)


# ---------------------------------------------------------------------------- real models


@pytest.mark.parametrize("name", ["circle", "triangle", "ring"])
def test_integrated_gradients_completeness_on_the_shapes_model(shapes_model, name):
    x = shapes_model.preprocess(shapes_model.samples[name])
    black = shapes_model.preprocess(np.zeros((96, 96, 3), np.uint8))
    for baseline in (None, black):  # default steps, mid-grey and black baselines
        ig = saliency.integrated_gradients(shapes_model, x, name, baseline=baseline)
        assert ig.completeness_error < 0.05, str(ig)


@pytest.mark.parametrize("method", saliency.METHODS)
def test_maps_of_a_black_image_have_its_size_and_no_nan(shapes_model, method):
    x = shapes_model.preprocess(np.zeros((96, 96, 3), np.uint8))
    saliency_map = saliency.saliency_map(shapes_model, x, "star", method)
    assert saliency_map.shape == (96, 96)
    assert np.isfinite(saliency_map).all() and (saliency_map >= 0).all()


def test_maps_find_the_object_better_than_chance(shapes_model, scenes):
    x = shapes_model.preprocess(scenes.images)
    area = scenes.masks[:, 0].mean()
    for method in ("vanilla", "smoothgrad"):
        maps = saliency.saliency_map(shapes_model, x, scenes.labels, method)
        share = np.nanmean(saliency.mask_share(maps, scenes.masks[:, 0]))
        assert share > 1.5 * area, (method, share, area)


def test_flamingo_by_name_on_mobilenet(mobilenet):
    x = mobilenet.preprocess("coffee")
    saliency_map = saliency.vanilla_gradient(mobilenet, x, "flamingo")
    assert mobilenet.class_index("flamingo") == 130
    assert saliency_map.shape == (224, 224) and np.isfinite(saliency_map).all()


def test_one_image_gives_one_result_and_a_batch_a_batch(tiny_cnn, x):
    scores, grads = saliency.scores_and_gradients(tiny_cnn, x, 1)
    score, grad = saliency.scores_and_gradients(tiny_cnn, x[0], 1)
    assert np.ndim(score) == 0 and grad.shape == (16, 16, 3)
    np.testing.assert_allclose(score, scores[0], rtol=1e-5)
    np.testing.assert_allclose(grad, grads[0], rtol=1e-4, atol=1e-7)
    for method in saliency.METHODS[:3]:
        one = saliency.saliency_map(tiny_cnn, x[0], 1, method)
        batch = saliency.saliency_map(tiny_cnn, x, 1, method)
        assert one.shape == (16, 16) and batch.shape == (3, 16, 16), method


def test_a_vis_model_by_class_name_and_its_keras_model_by_index_agree(shapes_model):
    x = shapes_model.preprocess(shapes_model.samples["star"])
    by_name = saliency.smoothgrad(shapes_model, x, "star", samples=4)
    by_index = saliency.smoothgrad(shapes_model.model, x, shapes_model.class_index("star"),
                                   samples=4)
    np.testing.assert_allclose(by_name, by_index, rtol=1e-5)


# ---------------------------------------------------------------------------- display, trust


def test_normalize_map():
    saliency_map = np.arange(100, dtype=np.float32).reshape(10, 10)
    shown = saliency.normalize_map(saliency_map, percentile=50)
    assert shown.min() == 0 and shown.max() == 1 and (shown == 1).sum() == 50
    assert not saliency.normalize_map(np.zeros((4, 4))).any()
    sparse = np.zeros((10, 10))
    sparse[0, 0] = 3.0  # the 99th percentile is 0: fall back to the maximum
    assert saliency.normalize_map(sparse)[0, 0] == 1.0


def test_mask_share():
    mask = np.zeros((2, 4, 4), bool)
    mask[:, :2] = True
    uniform = np.ones((2, 4, 4))
    np.testing.assert_allclose(saliency.mask_share(uniform, mask), [0.5, 0.5])
    inside = np.where(mask, 1.0, 0.0)
    assert saliency.mask_share(inside[0], mask[0]) == 1.0
    assert np.isnan(saliency.mask_share(np.zeros((4, 4)), mask[0]))


# ---------------------------------------------------------------------------- bad inputs


def _softmax_models():
    """Models ending in a softmax, each with its logits model (same layers and weights)."""
    inputs = keras.Input((16, 16, 3))
    features = keras.layers.GlobalAveragePooling2D()(inputs)
    logits = keras.layers.Dense(3)(features)
    dense = keras.layers.Dense(3, activation="softmax")
    probabilities = dense(features)
    linear = keras.layers.Dense(3)
    linear_logits = linear(features)
    linear.set_weights(dense.get_weights())
    return {
        "softmax layer": (keras.Model(inputs, keras.layers.Softmax()(logits)),
                          keras.Model(inputs, logits)),
        "dense softmax": (keras.Model(inputs, probabilities), keras.Model(inputs, linear_logits)),
        "activation layer": (keras.Model(inputs, keras.layers.Activation("softmax")(logits)),
                             keras.Model(inputs, logits)),
    }


def _eager_gradient(model, x, cls):
    """d f_cls / d x by a fresh GradientTape, as a reference."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(model(x, training=False)[:, cls])
    return tape.gradient(total, x).numpy()


@pytest.mark.parametrize("kind", list(_softmax_models()))
def test_a_final_softmax_is_removed_and_the_logits_explained_with_a_notice(kind, x, capsys):
    model, logits = _softmax_models()[kind]
    saliency_map = saliency.vanilla_gradient(model, x, 0)
    assert "ends in a softmax; explaining its logits" in capsys.readouterr().out
    np.testing.assert_allclose(saliency_map, np.abs(_eager_gradient(logits, x, 0)).max(axis=-1),
                               rtol=1e-4, atol=1e-7)


def test_outputs_that_only_look_like_probabilities_are_refused_with_the_fix(x):
    inputs = keras.Input((16, 16, 3))
    logits = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(inputs))
    hidden = keras.Model(  # a softmax inside a Lambda: no softmax layer to remove
        inputs, keras.layers.Lambda(lambda t: keras.ops.softmax(t, axis=-1))(logits))
    with pytest.raises(ValueError,
                       match="outputs probabilities, not logits.*classifier_activation=None"):
        saliency.vanilla_gradient(hidden, x, 0)


BAD_CALLS = [
    ("unknown class name", lambda m, x: saliency.vanilla_gradient(m, x, "circel"),
     "Unknown class name 'circel'. Did you mean: circle"),
    ("class index too large", lambda m, x: saliency.vanilla_gradient(m, x, 6),
     "Class index 6 is out of range.*6 classes"),
    ("negative class index", lambda m, x: saliency.smoothgrad(m, x, -1), "out of range"),
    ("wrong number of classes", lambda m, x: saliency.vanilla_gradient(m, x, [0, 1]),
     "Got 2 classes for 1 images"),
    ("not an image", lambda m, x: saliency.vanilla_gradient(m, x[0, 0], 0),
     r"Expected a preprocessed image .* vm.preprocess"),
    ("NaN input", lambda m, x: saliency.vanilla_gradient(m, x * np.nan, 0), "NaN"),
    ("negative noise", lambda m, x: saliency.smoothgrad(m, x, 0, noise=-0.1), "noise .* >= 0"),
    ("no samples", lambda m, x: saliency.smoothgrad(m, x, 0, samples=0), "samples must be"),
    ("no steps", lambda m, x: saliency.integrated_gradients(m, x, 0, steps=0), "steps must be"),
    ("no batch", lambda m, x: saliency.scores_and_gradients(m, x, 0, batch_size=0),
     "batch_size must be a whole number"),
    ("baseline shape",
     lambda m, x: saliency.integrated_gradients(m, x, 0, baseline=np.zeros((5, 5))),
     "baseline must be a number or shaped like the image"),
    ("unknown method", lambda m, x: saliency.saliency_map(m, x, 0, "gradcam"),
     "Unknown saliency method 'gradcam'"),
    ("parameter of another method",
     lambda m, x: saliency.saliency_map(m, x, 0, "smoothgrad", steps=5),
     "smoothgrad does not take steps"),
]


@pytest.mark.parametrize("case", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_inputs_name_the_problem(shapes_model, case):
    _, call, message = case
    x = shapes_model.preprocess(shapes_model.samples["circle"])
    with pytest.raises(ValueError, match=message):
        call(shapes_model, x)


def test_integrated_gradients_of_a_batch_are_each_images_own(shapes_model):
    names = ["circle", "ring"]
    x = shapes_model.preprocess([shapes_model.samples[n] for n in names])
    batch = saliency.integrated_gradients(shapes_model, x, names, steps=16)
    assert isinstance(batch, list) and len(batch) == 2
    for image, name, result in zip(x, names, batch):
        alone = saliency.integrated_gradients(shapes_model, image, name, steps=16)
        np.testing.assert_allclose(result.attributions, alone.attributions, atol=1e-5)
        assert result.completeness_error < 0.05, str(result)


def test_a_class_name_needs_a_vis_model(tiny_cnn, x):
    with pytest.raises(ValueError, match="plain Keras model has no class names"):
        saliency.vanilla_gradient(tiny_cnn, x, "circle")


@pytest.mark.parametrize("saliency_map, mask, message", [
    (np.ones((4, 4)), np.ones((5, 5), bool), "same shape"),
    (-np.ones((4, 4)), np.ones((4, 4), bool), "non-negative"),
])
def test_mask_share_bad_inputs(saliency_map, mask, message):
    with pytest.raises(ValueError, match=message):
        saliency.mask_share(saliency_map, mask)


def test_figures_draw(shapes_model):
    import matplotlib.pyplot as plt

    image = shapes_model.samples["star"]
    x = shapes_model.preprocess(image)
    maps = {method: saliency.saliency_map(shapes_model, x, "star", method)
            for method in ("vanilla", "gradient_x_input")}
    assert len(saliency.show_maps(image, maps).axes) == 6
    explorer = saliency.SaliencyExplorer(shapes_model, {"star": image})
    drawn = plt.get_fignums()
    fig = explorer.figure("star", None, "integrated_gradients", steps=8, baseline="black")
    assert "completeness error" in fig.axes[2].get_title()
    assert plt.get_fignums() == drawn  # outside pyplot: safe from a widget's thread
    with pytest.raises(ValueError, match="Unknown image 'moon'"):
        explorer.figure("moon")
    plt.close("all")


def test_share_bars_draw_one_bar_per_method_and_grey_references():
    import matplotlib.pyplot as plt

    shares = {"method": np.array([0.5, 0.7]), "edges": np.array([0.2, 0.4])}
    area = np.array([0.1, 0.1])
    fig = saliency.show_share_bars({"inside": (shares, area), "near": (shares, 2 * area)},
                                   references=["edges"], title="t")
    assert len(fig.axes) == 2
    bars = fig.axes[0].patches
    np.testing.assert_allclose([b.get_width() for b in bars], [0.3, 0.6])  # edges first: bottom
    assert bars[0].get_facecolor() != bars[1].get_facecolor()
    assert fig.axes[1].lines[-1].get_xdata()[0] == pytest.approx(0.2)  # a uniform map's share
    with pytest.raises(ValueError, match="at least one panel"):
        saliency.show_share_bars({})
    plt.close("all")

def test_smoothgrad_without_noise_on_mobilenet_is_the_gradient_up_to_rounding(mobilenet):
    # A batch of copies is summed in another order than one image; with oneDNN a ReLU whose
    # input is within rounding of 0 can flip, so compare relative to the map's scale.
    x = mobilenet.preprocess("cat")
    vanilla = saliency.vanilla_gradient(mobilenet, x, "Egyptian_cat")
    smooth = saliency.smoothgrad(mobilenet, x, "Egyptian_cat", noise=0.0, samples=2)
    assert np.abs(smooth - vanilla).max() < 0.01 * vanilla.max()
