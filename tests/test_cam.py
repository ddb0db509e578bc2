"""helpers.cam: every method against its formula computed here independently, CAM = Grad-CAM
on global-average-pooling heads, nested and Sequential models, empty evidence, bad input."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import cam, last_conv_layer
from helpers.images import resize_maps, side_by_side

#: Cat face in data/images/cat.jpg resized to 224 x 224: (top, left, bottom, right), set by
#: looking at the photo (the cat fills the left 4/5; background on the right and top-left).
CAT_BOX = (30, 25, 215, 180)
CAT_CLASSES = {"tabby", "tiger_cat", "Egyptian_cat", "Persian_cat", "Siamese_cat"}
COFFEE_CLASSES = {"espresso", "cup", "coffee_mug"}


@pytest.fixture(scope="module")
def x16(rng):
    return rng.normal(size=(4, 16, 16, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


def reference_features(model, layer, x, classes):
    """A, dS/dA and logits by the tutorials' recipe, for a layer of a flat model."""
    net = keras.Model(model.input, [model.get_layer(layer).output, model.output])
    with tf.GradientTape() as tape:
        features, logits = net(x)
        score = tf.reduce_sum(tf.gather(logits, classes, batch_dims=1))
    return features.numpy(), tape.gradient(score, features).numpy(), logits.numpy()


def lecture_normalization(raw):
    positive = np.maximum(raw, 0)
    return positive / positive.max(axis=(1, 2), keepdims=True)


def with_class_weights(model, column):
    """A copy of a GAP + dense model whose dense weights for class 0 are ``column``."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    kernel, bias = copy.get_layer("logits").get_weights()
    kernel[:, 0] = column
    copy.get_layer("logits").set_weights([kernel, bias])
    return copy


# --- formulas ---------------------------------------------------------------------------


def test_grad_cam_matches_the_lecture_formula(tiny_cnn, x16):
    classes = np.array([0, 1, 2, 0])
    features, grads, _ = reference_features(tiny_cnn, "conv2", x16, classes)
    alpha = grads.sum(axis=(1, 2), keepdims=True) / (grads.shape[1] * grads.shape[2])
    expected = lecture_normalization((alpha * features).sum(axis=-1))
    maps = cam.grad_cam(tiny_cnn, x16, classes, layer="conv2")
    np.testing.assert_allclose(maps, expected, atol=1e-5)


def test_default_layer_is_the_last_conv_layer(tiny_cnn, x16):
    np.testing.assert_array_equal(cam.grad_cam(tiny_cnn, x16, 1),
                                  cam.grad_cam(tiny_cnn, x16, 1, layer="conv2"))
    assert cam.grad_cam(tiny_cnn, x16, 1, layer="conv1").shape == (4, 16, 16)


def test_counterfactual_uses_negative_gradients(tiny_cnn, x16):
    features, grads, _ = reference_features(tiny_cnn, "conv2", x16, np.full(4, 2))
    raw = (grads.mean(axis=(1, 2), keepdims=True) * features).sum(axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cam.EmptyHeatmapWarning)
        maps = cam.grad_cam(tiny_cnn, x16, 2, counterfactual=True)
    has_negative = (raw < 0).any(axis=(1, 2))
    np.testing.assert_allclose(maps[has_negative], lecture_normalization(-raw)[has_negative],
                               atol=1e-5)


def test_grad_cam_plus_plus_matches_its_formula(tiny_cnn, x16):
    features, g, _ = reference_features(tiny_cnn, "conv2", x16, np.zeros(4, int))
    denominator = 2 * g**2 + features.sum(axis=(1, 2), keepdims=True) * g**3
    alpha = np.divide(g**2, denominator, out=np.zeros_like(g), where=denominator != 0)
    weights = (alpha * np.maximum(g, 0)).sum(axis=(1, 2), keepdims=True)
    expected = lecture_normalization((weights * features).sum(axis=-1))
    np.testing.assert_allclose(cam.grad_cam_plus_plus(tiny_cnn, x16, 0), expected, atol=1e-5)


def test_score_cam_matches_its_formula(tiny_cnn, x16):
    features, _, _ = reference_features(tiny_cnn, "conv2", x16, np.zeros(4, int))
    expected = []
    for image, maps in zip(x16, features):
        weights = []
        for k in range(maps.shape[-1]):
            channel = maps[..., k]
            span = channel.max() - channel.min()
            if span == 0:
                weights.append(0.0)
                continue
            mask = tf.image.resize(((channel - channel.min()) / span)[..., None], (16, 16))
            logits = tiny_cnn(image[None] * mask.numpy()[None])
            weights.append(float(tf.nn.softmax(logits)[0, 1]))
        expected.append((maps * np.array(weights)).sum(axis=-1))
    maps = cam.score_cam(tiny_cnn, x16, 1, batch_size=4)
    np.testing.assert_allclose(maps, lecture_normalization(np.array(expected)), atol=1e-5)


def test_score_cam_max_channels_keeps_the_most_active(tiny_cnn, x16):
    every = cam.score_cam(tiny_cnn, x16, 1)
    assert np.allclose(cam.score_cam(tiny_cnn, x16, 1, max_channels=100), every)
    assert not np.allclose(cam.score_cam(tiny_cnn, x16, 1, max_channels=2), every)


def test_batches_give_the_same_maps_as_one_call(tiny_cnn, x16):
    whole = cam.grad_cam(tiny_cnn, x16, [0, 1, 2, 0])
    one_by_one = np.stack([cam.grad_cam(tiny_cnn, image, c)
                           for image, c in zip(x16, [0, 1, 2, 0])])
    np.testing.assert_allclose(whole, one_by_one, atol=1e-6)
    np.testing.assert_allclose(whole, cam.grad_cam(tiny_cnn, x16, [0, 1, 2, 0], batch_size=3),
                               atol=1e-6)


# --- CAM = Grad-CAM on global-average-pooling heads -----------------------------------


def test_cam_is_grad_cam_up_to_a_positive_scale(tiny_cnn, x16):
    classes = np.array([0, 1, 2, 1])
    features, grads, logits = cam.feature_gradients(tiny_cnn, x16, classes)
    kernel, bias = cam.cam_head(tiny_cnn)
    cam_raw = np.einsum("nijk,kn->nij", features, kernel[:, classes])
    grad_raw = (grads.mean(axis=(1, 2), keepdims=True) * features).sum(axis=-1)
    # alpha_k^c = w_k^c / |I x J|: the same map, scaled by 1 / (number of positions)
    np.testing.assert_allclose(grad_raw * features.shape[1] * features.shape[2], cam_raw,
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(cam_raw.mean(axis=(1, 2)) + bias[classes],
                               logits[np.arange(4), classes], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(cam.cam(tiny_cnn, x16, classes),
                               cam.grad_cam(tiny_cnn, x16, classes), atol=1e-5)


def test_cam_equals_grad_cam_on_the_embedded_model(shapes_model):
    from helpers import shapes

    scenes = shapes.make_scenes(8, seed=4242, num_objects=2)
    x = shapes_model.preprocess(scenes.images)
    for k in range(2):
        np.testing.assert_allclose(cam.cam(shapes_model, x, scenes.classes[:, k]),
                                   cam.grad_cam(shapes_model, x, scenes.classes[:, k]),
                                   atol=1e-4)


# --- LayerCAM and HiResCAM: element-wise weights --------------------------------------


def safe_normalization(raw):
    """The lecture's normalization, with maps that have no positive value left at zero."""
    positive = np.maximum(raw, 0)
    peak = positive.max(axis=(1, 2), keepdims=True)
    return np.divide(positive, peak, out=np.zeros_like(positive), where=peak > 0)


@pytest.mark.filterwarnings("ignore::helpers.cam.EmptyHeatmapWarning")  # random weights
@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_layer_cam_and_hires_cam_match_their_formulas(tiny_cnn, x16, layer):
    classes = np.array([0, 1, 2, 0])
    features, grads, _ = reference_features(tiny_cnn, layer, x16, classes)
    np.testing.assert_allclose(cam.layer_cam(tiny_cnn, x16, classes, layer=layer),
                               safe_normalization((np.maximum(grads, 0) * features).sum(-1)),
                               atol=1e-5)
    np.testing.assert_allclose(cam.hires_cam(tiny_cnn, x16, classes, layer=layer),
                               safe_normalization((grads * features).sum(-1)), atol=1e-5)


def test_hires_cam_is_grad_cam_where_only_pooling_and_a_dense_layer_follow(shapes_model):
    """Theory: after global average pooling and a dense layer, d f_c / d A_ijk = w_k^c / (h w)
    at every position, so the element-wise product sums to Grad-CAM's map."""
    from helpers import shapes

    scenes = shapes.make_scenes(8, seed=4243, num_objects=2)
    x = shapes_model.preprocess(scenes.images)
    for k in range(2):
        maps = cam.all_heatmaps(shapes_model, x, scenes.classes[:, k], ["Grad-CAM", "HiResCAM"])
        np.testing.assert_allclose(maps["HiResCAM"], maps["Grad-CAM"], atol=1e-5)
    # one layer further down the gradient varies over the map and the two part ways
    inner = cam.all_heatmaps(shapes_model, x, scenes.classes[:, 0], ["Grad-CAM", "HiResCAM"],
                             layer="block4_conv1")
    assert np.abs(inner["HiResCAM"] - inner["Grad-CAM"]).max() > 0.1


def test_layer_cam_of_an_early_layer_is_finer_than_grad_cam_of_the_last(shapes_model):
    """LayerCAM at block2_conv2 has 4 x 4 times the resolution of Grad-CAM at the last
    layer: at the image's size its region above half the peak is a small fraction of
    Grad-CAM's, and its peak still lies on the object (within the pointing game's 6 px).
    Measured on 24 single-object scenes: 55 px against 1,475 px; peaks on 92% of objects."""
    from helpers import faithfulness, shapes

    scenes = shapes.make_scenes(24, seed=4244)
    x = shapes_model.preprocess(scenes.images)
    fine = cam.layer_cam(shapes_model, x, scenes.labels, layer="block2_conv2")
    coarse = cam.grad_cam(shapes_model, x, scenes.labels)
    assert fine.shape == (24, 48, 48) and coarse.shape == (24, 12, 12)
    fine, coarse = resize_maps(fine, (96, 96)), resize_maps(coarse, (96, 96))

    def half_max_area(maps):
        return float((maps >= 0.5 * maps.max(axis=(1, 2), keepdims=True)).sum(axis=(1, 2)).mean())

    assert half_max_area(fine) < 0.2 * half_max_area(coarse)
    peaks = cam.peaks(fine)
    reach = faithfulness.dilate(scenes.masks[:, 0], faithfulness.TOLERANCE)
    assert reach[np.arange(24), peaks[:, 0], peaks[:, 1]].mean() >= 0.8


# --- robustness ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", cam.METHODS)
@pytest.mark.parametrize("value", [0.0, -1.0, 0.7], ids=["black", "min", "constant"])
def test_flat_images_give_finite_maps_in_unit_range(tiny_cnn, method, value):
    x = np.full((2, 16, 16, 3), value, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cam.EmptyHeatmapWarning)
        maps = cam.heatmaps(tiny_cnn, x, [0, 2], method)
    assert np.all(np.isfinite(maps)) and maps.min() >= 0 and maps.max() <= 1


@pytest.fixture(scope="module")
def doubter(tiny_cnn):
    """tiny_cnn with negative dense weights for class 0: nothing can speak for it."""
    return with_class_weights(tiny_cnn, -np.linspace(0.1, 1.0, 6))


@pytest.mark.parametrize("method", ["CAM", "Grad-CAM", "Grad-CAM++"])
def test_all_negative_evidence_gives_a_zero_map_with_a_warning(doubter, x16, method):
    with pytest.warns(cam.EmptyHeatmapWarning, match="no positive evidence"):
        maps = cam.heatmaps(doubter, x16, 0, method)
    assert np.all(maps == 0)


def test_counterfactual_of_all_negative_evidence_is_not_empty(doubter, x16):
    maps = cam.grad_cam(doubter, x16, 0, counterfactual=True)
    assert np.all(maps.max(axis=(1, 2)) == 1)


@tf.custom_gradient
def guided_relu(z):
    """ReLU whose backward pass is guided backprop's, written from the definition."""
    def backward(dy):
        return dy * tf.cast(dy > 0, dy.dtype) * tf.cast(z > 0, dy.dtype)

    return tf.nn.relu(z), backward


def test_guided_backprop_matches_its_definition(tiny_cnn, x16):
    def conv(name, x):
        layer = tiny_cnn.get_layer(name)
        return tf.nn.conv2d(x, layer.kernel, 1, "SAME") + layer.bias

    x = tf.constant(x16)
    with tf.GradientTape() as tape:
        tape.watch(x)
        h = tf.nn.max_pool2d(guided_relu(conv("conv1", x)), 2, 2, "VALID")
        h = tf.reduce_mean(guided_relu(conv("conv2", h)), axis=(1, 2))
        logits = h @ tiny_cnn.get_layer("logits").kernel + tiny_cnn.get_layer("logits").bias
        score = tf.reduce_sum(logits[:, 1])
    expected = tape.gradient(score, x).numpy()
    guided = cam.guided_backprop(tiny_cnn, x16, 1)
    np.testing.assert_allclose(guided, expected, atol=1e-6)
    with tf.GradientTape() as tape:
        tape.watch(x)
        plain = tape.gradient(tf.reduce_sum(tiny_cnn(x)[:, 1]), x).numpy()
    assert not np.allclose(guided, plain, atol=1e-4)  # the guidance changed something


def test_guided_model_computes_the_same_scores_and_leaves_the_model_alone(tiny_cnn, x16):
    before = [w.copy() for w in tiny_cnn.get_weights()]
    guided = cam.guided_model(tiny_cnn)
    np.testing.assert_allclose(guided(x16).numpy(), tiny_cnn(x16).numpy(), atol=1e-6)
    assert all(np.array_equal(a, b) for a, b in zip(before, tiny_cnn.get_weights()))
    assert sum(isinstance(layer, cam.GuidedGate) for layer in guided.layers) == 2


def test_guided_grad_cam_is_guided_backprop_times_upsampled_grad_cam(tiny_cnn, x16):
    product = cam.guided_grad_cam(tiny_cnn, x16, 1)
    heat = resize_maps(cam.grad_cam(tiny_cnn, x16, 1), (16, 16))
    np.testing.assert_allclose(product, cam.guided_backprop(tiny_cnn, x16, 1) * heat[..., None],
                               atol=1e-7)


def test_pixel_map_scales_each_image_and_can_clip_outliers():
    grads = np.zeros((2, 4, 4, 3), np.float32)
    grads[0, :, :, 1] = np.arange(16).reshape(4, 4)
    grads[0, 0, 0, 2] = -100.0                           # one extreme pixel
    maps = cam.pixel_map(grads)
    assert maps[0, 0, 0] == 1 and maps[0, 3, 3] == pytest.approx(0.15)
    assert np.all(maps[1] == 0)                          # a zero gradient stays black
    clipped = cam.pixel_map(grads, percentile=90)
    assert clipped.max() == 1 and clipped[0, 3, 3] > 0.9
    with pytest.raises(ValueError, match="percentile"):
        cam.pixel_map(grads, percentile=0)


# --- models of every shape ------------------------------------------------------------


@pytest.fixture(scope="module")
def pretrained_base():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="base_conv1")(inputs)
    x = keras.layers.ReLU(name="base_relu1")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="base_conv2")(x)
    return keras.Model(inputs, x, name="base")


@pytest.fixture(scope="module")
def transfer_model(pretrained_base):
    """The transfer-learning recipe: a pretrained base called inside a new model."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)
    x = pretrained_base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.3)(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="new_head")(x), name="transfer")


def test_nested_base_works_where_the_tutorial_recipe_fails(transfer_model, pretrained_base,
                                                           x16):
    inner = pretrained_base.get_layer("base_conv2")
    # Keras 3.14+ refuses the model ("not connected"); earlier ones build it and fail on call
    with pytest.raises((ValueError, KeyError)):
        keras.Model(transfer_model.inputs, [inner.output, transfer_model.output])(x16)
    assert last_conv_layer(transfer_model) == "base_conv2"
    # independently: the base on rescaled input, then the head by hand
    scaled = tf.constant(x16 * 2.0 - 1.0)
    kernel, bias = transfer_model.get_layer("new_head").get_weights()
    with tf.GradientTape() as tape:
        features = pretrained_base(scaled)
        logits = tf.reduce_mean(features, axis=(1, 2)) @ kernel + bias
        score = tf.reduce_sum(logits[:, 2])
    grads = tape.gradient(score, features).numpy()
    raw = (grads.mean(axis=(1, 2), keepdims=True) * features.numpy()).sum(axis=-1)
    np.testing.assert_allclose(cam.grad_cam(transfer_model, x16, 2), lecture_normalization(raw),
                               atol=1e-5)
    np.testing.assert_allclose(cam.cam(transfer_model, x16, 2), lecture_normalization(raw),
                               atol=1e-5)


@pytest.fixture(scope="module")
def sequential_transfer(pretrained_base):
    return keras.Sequential([keras.Input((16, 16, 3)), pretrained_base,
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)],
                            name="seq")


@pytest.mark.filterwarnings("ignore::helpers.cam.EmptyHeatmapWarning")  # random weights
@pytest.mark.parametrize("method", cam.METHODS)
def test_every_method_runs_on_nested_and_sequential_models(transfer_model, sequential_transfer,
                                                           method, x16):
    sequential = sequential_transfer
    for model in (transfer_model, sequential):
        maps = cam.heatmaps(model, x16, 1, method)
        assert maps.shape[0] == 4 and np.all((maps >= 0) & (maps <= 1))
    inner = cam.grad_cam(sequential, x16, 1, layer="base_relu1")
    assert inner.shape == (4, 16, 16)


def test_feature_model_returns_features_and_logits(transfer_model, x16):
    features, logits = cam.feature_model(transfer_model, "base_relu1")(x16)
    assert features.shape == (4, 16, 16, 4)
    np.testing.assert_allclose(logits, transfer_model(x16), atol=1e-6)


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::helpers.cam.EmptyHeatmapWarning")
def test_cam_needs_a_gap_head():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3, activation="relu", name="c")(inputs)
    x = keras.layers.Flatten()(x)
    flat_head = keras.Model(inputs, keras.layers.Dense(3)(x))
    with pytest.raises(ValueError, match="CAM needs a head of global average pooling"):
        cam.cam(flat_head, np.zeros((1, 8, 8, 3), np.float32), 0)
    assert cam.grad_cam(flat_head, np.ones((1, 8, 8, 3), np.float32), 0).shape == (1, 6, 6)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(2, 3, activation="relu")
        self.head = keras.layers.Dense(3)

    def call(self, x):
        return self.head(keras.ops.mean(self.conv(x), axis=(1, 2)))


def test_untraceable_models_are_named():
    subclassed = Subclassed()
    subclassed(np.zeros((1, 8, 8, 3), np.float32))
    unbuilt = keras.Sequential([keras.layers.Conv2D(2, 3), keras.layers.GlobalAveragePooling2D(),
                                keras.layers.Dense(2)])
    for model in (subclassed, unbuilt):
        with pytest.raises(ValueError, match="Cannot trace the layers"):
            cam.grad_cam(model, np.zeros((1, 8, 8, 3), np.float32), 0)


@pytest.mark.parametrize("call, message", [
    (lambda m, x: cam.grad_cam(m, x, 0, layer="logits"), "not a spatial"),
    (lambda m, x: cam.grad_cam(m, x, 0, layer="gap"), "not a spatial"),
    (lambda m, x: cam.grad_cam(m, x, 0, layer="conv9"), "has no layer 'conv9'"),
    (lambda m, x: cam.grad_cam(m, x, 3), r"Class index 3 is out of range.*3 outputs"),
    (lambda m, x: cam.grad_cam(m, x, -1), "out of range"),
    (lambda m, x: cam.grad_cam(m, x, [0, 1]), "Got 2 classes for 4 images"),
    (lambda m, x: cam.grad_cam(m, x, 0.5), "a name or an integer index"),
    (lambda m, x: cam.grad_cam(m, x, "tabby"), "plain Keras model has no class names"),
    (lambda m, x: cam.grad_cam(m, x[:, :8], 0), r"batch \(N, 16, 16, 3\); got shape"),
    (lambda m, x: cam.grad_cam(m, x[..., :1], 0), "Expected a preprocessed image"),
    (lambda m, x: cam.grad_cam(m, x[0, 0], 0), "Expected a preprocessed image"),
    (lambda m, x: cam.grad_cam(m, (x * 0).astype(np.uint8), 0), "raw uint8"),
    (lambda m, x: cam.grad_cam(m, x * np.nan, 0), "NaN"),
    (lambda m, x: cam.grad_cam(m, x, 0, batch_size=0), "batch_size"),
    (lambda m, x: cam.score_cam(m, x, 0, max_channels=0), "max_channels"),
    (lambda m, x: cam.heatmaps(m, x, 0, "LIME"), "Unknown method 'LIME'"),
    (lambda m, x: cam.heatmaps(m, x, 0, "CAM", layer="conv1"), "CAM is defined on the last"),
])
def test_bad_input_is_named(tiny_cnn, x16, call, message):
    with pytest.raises(ValueError, match=message):
        call(tiny_cnn, x16)


def test_a_model_name_instead_of_a_model_is_a_type_error(x16):
    with pytest.raises(TypeError, match="Expected a VisModel or a Keras model"):
        cam.grad_cam("vgg16", x16, 0)


# --- the contract: one image, class names, VisModel or Keras model, softmax -------------


ONE_IMAGE = {
    "cam": lambda m, x, c: cam.cam(m, x, c),
    "grad_cam": lambda m, x, c: cam.grad_cam(m, x, c),
    "counterfactual": lambda m, x, c: cam.grad_cam(m, x, c, counterfactual=True),
    "grad_cam_plus_plus": lambda m, x, c: cam.grad_cam_plus_plus(m, x, c),
    "layer_cam": lambda m, x, c: cam.layer_cam(m, x, c, layer="conv1"),
    "hires_cam": lambda m, x, c: cam.hires_cam(m, x, c),
    "score_cam": lambda m, x, c: cam.score_cam(m, x, c, max_channels=4),
    "guided_backprop": lambda m, x, c: cam.guided_backprop(m, x, c),
    "guided_grad_cam": lambda m, x, c: cam.guided_grad_cam(m, x, c),
    "all_heatmaps": lambda m, x, c: cam.all_heatmaps(m, x, c),
    "feature_gradients": lambda m, x, c: cam.feature_gradients(m, x, c),
    "feature_maps": lambda m, x, c: cam.feature_maps(m, x),
    "class_probabilities": lambda m, x, c: cam.class_probabilities(m, x),
}


def first_image(result):
    if isinstance(result, dict):
        return {key: value[0] for key, value in result.items()}
    if isinstance(result, tuple):
        return tuple(value[0] for value in result)
    return result[0]


def assert_same(a, b, atol=1e-5):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        a, b = [a[k] for k in sorted(a)], [b[k] for k in sorted(b)]
    for u, v in zip(a, b) if isinstance(a, list | tuple) else [(a, b)]:
        assert np.shape(u) == np.shape(v)
        np.testing.assert_allclose(u, v, atol=atol)


@pytest.mark.filterwarnings("ignore::helpers.cam.EmptyHeatmapWarning")
@pytest.mark.parametrize("technique", sorted(ONE_IMAGE))
def test_one_image_in_gives_one_map_out(tiny_cnn, x16, technique):
    run = ONE_IMAGE[technique]
    assert_same(run(tiny_cnn, x16[1], 2), first_image(run(tiny_cnn, x16[1:], 2)))


def test_one_image_gives_one_map_of_the_layers_size(tiny_cnn, x16):
    assert cam.grad_cam(tiny_cnn, x16[0], 0).shape == (8, 8)
    assert cam.guided_backprop(tiny_cnn, x16[0], 0).shape == (16, 16, 3)
    assert cam.pixel_map(cam.guided_backprop(tiny_cnn, x16[0], 0)).shape == (16, 16)
    maps = cam.all_heatmaps(tiny_cnn, x16[0], 0, ["Grad-CAM", "Guided backprop"])
    assert maps["Grad-CAM"].shape == (8, 8) and maps["Guided backprop"].shape == (16, 16)
    assert tuple(cam.peaks(maps["Grad-CAM"])) == tuple(cam.peaks(maps["Grad-CAM"][None])[0])


def test_classes_by_name_equal_classes_by_index(shapes_model):
    x = shapes_model.preprocess("star_and_ring")
    star, ring = shapes_model.class_index("star"), shapes_model.class_index("ring")
    np.testing.assert_array_equal(cam.grad_cam(shapes_model, x, "star"),
                                  cam.grad_cam(shapes_model, x, star))
    both = cam.grad_cam(shapes_model, np.stack([x, x]), ["star", ring])
    np.testing.assert_allclose(both[1], cam.grad_cam(shapes_model, x, "ring"), atol=1e-6)
    np.testing.assert_allclose(both[0], cam.grad_cam(shapes_model, x, star), atol=1e-6)


def test_a_vis_model_and_its_keras_model_give_the_same_maps(shapes_model):
    x = shapes_model.preprocess("star_and_ring")
    for method in cam.METHODS:
        options = {"max_channels": 8} if method == "Score-CAM" else {}
        np.testing.assert_allclose(cam.heatmaps(shapes_model, x, 1, method, **options),
                                   cam.heatmaps(shapes_model.model, x, 1, method, **options),
                                   atol=1e-6)


def test_grad_cam_of_a_softmax_model_is_grad_cam_of_its_logits(tiny_cnn, x16, capsys):
    """A final Dense(softmax) is explained through its logits, with a one-line notice."""
    features = keras.Model(tiny_cnn.input, tiny_cnn.get_layer("gap").output)
    dense = tiny_cnn.get_layer("logits")
    softmax_head = keras.layers.Dense(3, activation="softmax", name="probabilities")
    softmax_model = keras.Model(tiny_cnn.input, softmax_head(features.output), name="soft")
    softmax_head.set_weights(dense.get_weights())
    maps = cam.grad_cam(softmax_model, x16, [0, 1, 2, 0])
    assert "'soft' ends in a softmax; explaining its logits" in capsys.readouterr().out
    np.testing.assert_allclose(maps, cam.grad_cam(tiny_cnn, x16, [0, 1, 2, 0]), atol=1e-6)
    np.testing.assert_allclose(cam.class_probabilities(softmax_model, x16),
                               softmax_model(x16).numpy(), atol=1e-6)


def test_feature_maps_are_the_passes_maps_and_logits(tiny_cnn, x16):
    features, logits = cam.feature_maps(tiny_cnn, x16, "conv1")
    same, _, same_logits = cam.feature_gradients(tiny_cnn, x16, 0, "conv1")
    np.testing.assert_allclose(features, same, atol=1e-6)
    np.testing.assert_allclose(logits, tiny_cnn(x16).numpy(), atol=1e-5)
    np.testing.assert_allclose(same_logits, logits, atol=1e-6)


# --- a real photo ----------------------------------------------------------------------


def test_cat_photo_grad_cam_peaks_on_the_cat(mobilenet):
    image = mobilenet.load("cat")
    top_cat = next(i for i, name, _ in mobilenet.top_k(image, k=5) if name in CAT_CLASSES)
    x = mobilenet.preprocess(image)
    heat = cam.grad_cam(mobilenet, x, top_cat)
    row, col = cam.peaks(resize_maps(heat, (224, 224)))
    top, left, bottom, right = CAT_BOX
    assert top <= row <= bottom and left <= col <= right, (row, col)
    # MobileNet's head is global average pooling + a 1x1 convolution: CAM is exact there too
    np.testing.assert_allclose(cam.cam(mobilenet, x, top_cat), heat, atol=1e-4)


def test_grad_cam_for_the_cat_peaks_on_the_cats_half(mobilenet):
    """The cat photo beside the coffee photo: each class's map peaks on its own half."""
    pair = side_by_side("cat", "coffee", 224)
    top = [(i, name) for i, name, _ in mobilenet.top_k(pair, k=10)]
    cat = next(i for i, name in top if name in CAT_CLASSES)
    coffee = next(i for i, name in top if name in COFFEE_CLASSES)
    x = mobilenet.preprocess(pair)
    heat = cam.grad_cam(mobilenet, np.stack([x, x]), [cat, coffee])
    (_, cat_col), (_, coffee_col) = cam.peaks(resize_maps(heat, (224, 224)))
    assert cat_col < 112 <= coffee_col, (cat_col, coffee_col)
