"""Gradient ascent in input space: it raises what it should, batching changes nothing, and
every image it returns can be shown."""

import warnings

import keras
import numpy as np
import pytest

from helpers import ascent
from helpers.ascent import LADDER, Objective, Regularization


@pytest.fixture(scope="module")
def live_cnn():
    """A small random CNN whose positive biases keep every filter alive at the start."""
    keras.utils.set_random_seed(2)
    bias = keras.initializers.Constant(0.05)
    inputs = keras.Input((24, 24, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", bias_initializer=bias,
                            name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", bias_initializer=bias,
                            name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x), name="live")


@pytest.fixture(scope="module")
def dead_cnn():
    """A small CNN whose conv filter 0 can never fire (zero kernel, negative bias) and whose
    filter 3 is asleep: silent on any grey-ish start, but it can be woken."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(x))
    kernel, bias = model.get_layer("conv1").get_weights()
    kernel[..., 0], bias[0] = 0.0, -1.0
    kernel[..., 3] = 0.05  # at most 27 * 0.05 * 0.2 - 1 < 0 on the start
    bias[1:3], bias[3] = 0.1, -1.0
    model.get_layer("conv1").set_weights([kernel, bias])
    return model


@pytest.mark.parametrize("rung", list(LADDER))
def test_activation_rises_for_every_filter_of_the_grid(live_cnn, rung):
    result = ascent.maximize_filters(live_cnn, "conv2", steps=15, regularization=rung)
    assert result.units == tuple(range(8))
    assert not result.dead.any()
    assert np.all(result.final > 1.5 * result.initial + 0.05), (result.initial, result.final)
    assert result.history.shape == (15, 8) and np.isfinite(result.history).all()


def test_activation_rises_on_the_embedded_model(shapes_model):
    result = ascent.maximize_filters(shapes_model, "block3_conv1", range(8), steps=10)
    alive = ~result.dead
    assert alive.sum() >= 4
    assert np.all(result.final[alive] > 1.5 * result.initial[alive] + 0.05)


def test_activation_rises_on_mobilenet(mobilenet):
    result = ascent.maximize_filters(mobilenet, "conv_pw_3_relu", range(4), steps=15, size=64)
    alive = ~result.dead
    assert result.images.shape == (4, 64, 64, 3)
    capped = result.final > 5.9  # MobileNet's ReLU6 cannot exceed 6
    assert np.all((result.final > 1.1 * result.initial + 0.05)[alive & ~capped])


def test_loss_curve_mostly_rises(live_cnn):
    history = ascent.maximize_filters(live_cnn, "conv2", [0, 1], steps=20).history
    assert np.all(history[-1] > history[0]) and np.mean(np.diff(history, axis=0) > 0) > 0.8


@pytest.mark.parametrize("rung", ["normalized", "robust", "fourier"])
def test_batched_equals_one_at_a_time(live_cnn, rung):
    kwargs = dict(steps=12, regularization=rung, seed=3)
    batched = ascent.maximize_filters(live_cnn, "conv2", range(6), **kwargs)
    single = [ascent.maximize_filters(live_cnn, "conv2", [k], **kwargs).final[0] for k in range(6)]
    np.testing.assert_allclose(batched.final, single, rtol=0.03)
    split = ascent.maximize_filters(live_cnn, "conv2", range(6), batch_size=4, **kwargs)
    np.testing.assert_allclose(split.final, batched.final, rtol=0.03)


def test_seed_changes_the_start(live_cnn):
    a = ascent.maximize_filters(live_cnn, "conv2", [0], steps=3, seed=0)
    b = ascent.maximize_filters(live_cnn, "conv2", [0], steps=3, seed=1)
    assert not np.allclose(a.inputs, b.inputs)


def test_minimizing_lowers_the_activation(live_cnn):
    result = ascent.maximize_filters(live_cnn, "conv2", range(6), steps=15, minimize=True)
    assert result.minimize and np.all(result.final <= result.initial)
    assert np.any(result.final < result.initial - 1e-3)


def test_class_logit_rises_and_softmax_stays_a_probability(live_cnn):
    logit = ascent.maximize_classes(live_cnn, [0, 1, 2], steps=15)
    assert np.all(logit.final > logit.initial + 0.1)
    scores = np.asarray(live_cnn(logit.inputs))  # the returned inputs reproduce the objective
    np.testing.assert_allclose(scores[[0, 1, 2], [0, 1, 2]], logit.final, rtol=1e-4, atol=1e-5)
    prob = ascent.maximize_classes(live_cnn, [0, 1, 2], steps=15, objective="softmax")
    assert np.all((prob.final >= 0) & (prob.final <= 1)) and np.all(prob.final > prob.initial)


def test_class_ascent_makes_the_class_top_on_the_embedded_model(shapes_model, tiny_cnn):
    result = ascent.maximize_classes(shapes_model, ["star", 0], steps=20)
    assert result.units == (shapes_model.class_names.index("star"), 0)
    assert list(np.argmax(shapes_model.model(result.inputs), axis=1)) == list(result.units)
    with pytest.raises(ValueError, match="plain Keras model has no class names"):  # the core's
        ascent.maximize_classes(tiny_cnn, ["star"], steps=2)


def test_start_from_an_image_and_other_sizes(live_cnn, rng):
    photo = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    result = ascent.maximize_filters(live_cnn, "conv2", [0, 1], steps=1, init=photo)
    assert result.images.shape == (2, 24, 24, 3)
    assert np.abs(result.inputs - (photo / 127.5 - 1)).mean() < 0.06  # one step from the photo
    bigger = ascent.maximize_filters(live_cnn, "conv2", [0], steps=3, size=32)
    assert bigger.images.shape == (1, 32, 32, 3) and bigger.inputs.shape == (1, 32, 32, 3)


def test_dead_filter_warns_and_gives_no_nan(dead_cnn):
    for rung in ("naive", "normalized", "fourier"):
        with pytest.warns(RuntimeWarning, match=r"Filter\(s\) \[0\] of 'conv1' got a zero "
                                                "gradient.*dead for every input"):
            result = ascent.maximize_filters(dead_cnn, "conv1", [0, 1], steps=5,
                                             regularization=rung)
        assert list(result.dead) == [True, False]
        assert np.isfinite(result.inputs).all() and np.isfinite(result.history).all()
        assert result.images.dtype == np.uint8 and result.final[0] == 0


def test_live_filters_do_not_warn(dead_cnn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ascent.maximize_filters(dead_cnn, "conv1", [1, 2], steps=3)


def test_a_silent_filter_is_woken_through_its_pre_activation(dead_cnn):
    with pytest.warns(RuntimeWarning, match=r"Filter\(s\) \[3\].*wake=True \(the default\)"):
        asleep = ascent.maximize_filters(dead_cnn, "conv1", [3], steps=20, wake=False)
    assert asleep.final[0] == 0 and asleep.dead[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        woken = ascent.maximize_filters(dead_cnn, "conv1", [3], steps=20)
    assert woken.initial[0] == 0 and woken.final[0] > 0.05 and not woken.dead[0]
    assert np.all(woken.history >= 0)  # the history is the activation, not the pre-activation


def test_pre_activation_of_a_separate_relu_layer():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(3, 3, padding="same", name="conv")(inputs)
    x = keras.layers.ReLU(6.0, name="conv_relu")(x)  # MobileNet style
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    kernel, bias = model.get_layer("conv").get_weights()
    model.get_layer("conv").set_weights([np.full_like(kernel, 0.05), np.full(3, -1.0, np.float32)])
    woken = ascent.maximize_filters(model, "conv_relu", range(3), steps=25)
    assert np.all(woken.initial == 0) and np.all(woken.final > 0.05)


@pytest.mark.parametrize("x", [
    np.zeros((8, 8, 3)), np.full((1, 8, 8, 3), 7.5), np.full((8, 8, 1), -3.0),
    np.random.default_rng(0).normal(0, 1e6, (8, 8, 3)), np.linspace(-1e-9, 1e-9, 192).reshape(8, 8, 3),
])
def test_deprocessing_any_tensor_gives_valid_uint8(tiny_cnn, x):
    image = ascent.image_from_input(tiny_cnn, x)
    assert image.dtype == np.uint8 and image.shape == x.shape[:-1] + (3,)  # a batch stays one
    if np.ptp(x) == 0:
        assert np.all(image == 128)  # constant: mid-grey, not a division by zero


def test_one_input_deprocesses_to_one_image_and_a_batch_to_a_batch(tiny_cnn, rng):
    batch = rng.normal(size=(3, 8, 8, 3)).astype(np.float32)
    shown = ascent.image_from_input(tiny_cnn, batch)
    assert shown.shape == (3, 8, 8, 3)
    np.testing.assert_array_equal(ascent.image_from_input(tiny_cnn, batch[1]), shown[1])


def test_vgg_style_preprocessing_is_undone_before_display():
    preprocess = keras.applications.vgg16.preprocess_input  # RGB -> BGR minus the mean
    red = np.zeros((8, 8, 3), np.float32)
    red[..., 0] = 255.0
    red[:4] = 0.0  # top half black, bottom half red
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3, name="c")])
    shown = ascent.image_from_input(model, preprocess(red.copy()), preprocess=preprocess)
    assert shown[6, 0, 0] > shown[6, 0, 2] + 50  # the bottom is red, not blue


def test_preprocessing_that_is_not_affine_is_refused(tiny_cnn):
    with pytest.raises(ValueError, match="not an affine map"):
        ascent.maximize_filters(tiny_cnn, "conv1", [0], steps=1, preprocess=lambda x: x ** 2)


def test_regularization_by_name_or_object():
    assert ascent.get_regularization("robust") is LADDER["robust"]
    custom = ascent.get_regularization("robust", jitter=8)
    assert custom.jitter == 8 and LADDER["robust"].jitter != 8
    assert LADDER["fourier"].fourier and not LADDER["decay_blur"].transforms


@pytest.mark.parametrize("call, words", [
    (lambda m: ascent.maximize_filters(m, "conv2", [6]), "Filter index 6 is out of range: layer 'conv2' has 6 filters"),
    (lambda m: ascent.maximize_filters(m, "conv2", [-1]), "out of range"),
    (lambda m: ascent.maximize_filters(m, "conv2", []), "at least one unit"),
    (lambda m: ascent.maximize_filters(m, "gap", [0]), "not a spatial"),
    (lambda m: ascent.maximize_filters(m, "logits", [0]), "not a spatial"),
    (lambda m: ascent.maximize_filters(m, "conv9", [0]), "no layer 'conv9'"),
    (lambda m: ascent.maximize_filters(m, "conv2", [0], steps=0), "steps must be a whole number >= 1"),
    (lambda m: ascent.maximize_filters(m, "conv2", [0], steps=-3), "steps must be a whole number"),
    (lambda m: ascent.maximize_filters(m, "conv2", [0], steps=2.5), "steps must be a whole number"),
    (lambda m: ascent.maximize_filters(m, "conv2", [0], lr=float("nan")), "lr must be a finite"),
    (lambda m: ascent.maximize_filters(m, "conv2", [0], lr=float("inf")), "lr must be a finite"),
    (lambda m: ascent.maximize_filters(m, "conv2", [0], lr=0.0), "lr must be a finite"),
    (lambda m: ascent.maximize_filters(m, "conv2", [0], lr="fast"), "lr must be a finite"),
    (lambda m: ascent.maximize_filters(m, "conv2", [0], regularization="magic"), "Unknown regularization"),
    (lambda m: ascent.maximize_filters(m, "conv2", [0], batch_size=0), "batch_size"),
    (lambda m: ascent.maximize_filters(m, "conv2", [0], crop=0.5), "crop"),
    (lambda m: ascent.maximize_filters(m, "conv2", [0], size=4), "size must be a whole number >= 8"),
    (lambda m: ascent.maximize_filters(m, "conv2", [0], init="ones"), "init must be"),
    (lambda m: ascent.maximize_filters(m, "conv2", [0], init=np.zeros((8, 8, 3))), "init images"),
    (lambda m: ascent.maximize_filters(m, "conv2", [0], init=np.zeros((16, 16, 3)),
                                       regularization="fourier"), "pixel parameterization"),
    (lambda m: ascent.maximize_classes(m, [3]), "Class index 3 is out of range: the model has 3 outputs"),
    (lambda m: ascent.maximize_classes(m, [0], objective="prob"), "'logit' or 'softmax'"),
    (lambda m: ascent.maximize(m, Objective("channel"), [0]), "needs a layer"),
    (lambda m: ascent.maximize(m, Objective("neuron", "conv2"), [0]), "Unknown objective"),
    (lambda m: Regularization(blur_sigma=3.0), "blur_sigma"),
    (lambda m: Regularization(normalize="sometimes"), "normalize must be"),
])
def test_bad_input_is_explained(tiny_cnn, call, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        call(tiny_cnn)


def test_input_layer_is_not_a_filter_layer(tiny_cnn):
    name = tiny_cnn.layers[0].name
    with pytest.raises(ValueError, match="input layer"):
        ascent.maximize_filters(tiny_cnn, name, [0])


def test_diverging_ascent_is_reported_not_returned(live_cnn):
    with pytest.raises(ValueError, match="diverged"):
        ascent.maximize_filters(live_cnn, "conv2", [0], steps=3, lr=1e38,
                                regularization="normalized")


def test_not_a_model_is_a_type_error():
    with pytest.raises(TypeError, match="Expected a VisModel or a Keras model; got str"):
        ascent.maximize_filters("vgg16", "block1_conv1", [0])


def test_high_frequency_share_of_planted_images(rng):
    noise = rng.normal(size=(2, 64, 64, 3))
    y, x = np.mgrid[:64, :64]
    smooth = np.repeat(np.sin(2 * np.pi * x / 64)[None, :, :, None], 3, axis=-1)
    checker = np.repeat(((x + y) % 2 * 2.0 - 1)[None, :, :, None], 3, axis=-1)
    flat = np.full((1, 64, 64, 3), 0.3)
    shares = ascent.high_frequency_share(np.concatenate([noise, smooth, checker, flat]))
    np.testing.assert_allclose(shares[:2], 1 - np.pi * 0.25 ** 2, atol=0.03)  # white noise
    assert shares[2] < 1e-6 and shares[3] == pytest.approx(1.0) and shares[4] == 0
    assert ascent.high_frequency_share(noise[0]).shape == (1,)
    with pytest.raises(ValueError, match="cutoff"):
        ascent.high_frequency_share(noise, cutoff=0.5)


def test_ascent_reports_the_high_frequency_share_of_its_images(live_cnn):
    plain = ascent.maximize_filters(live_cnn, "conv2", range(3), steps=20, regularization="normalized")
    smooth = ascent.maximize_filters(live_cnn, "conv2", range(3), steps=20, regularization="fourier")
    assert plain.high_frequency.shape == (3,)
    image = (plain.inputs + 1) / 2  # the bare model's preprocessing is x / 127.5 - 1
    np.testing.assert_allclose(plain.high_frequency, ascent.high_frequency_share(image), atol=1e-6)
    assert smooth.high_frequency.mean() < plain.high_frequency.mean()


# ---------------------------------------------------------------------------- the contract


@pytest.fixture(scope="module")
def nested_cnn():
    """A pretrained-style base nested in an outer model: layers inside it cannot be reached
    by ``keras.Model(outer.inputs, inner_layer.output)``."""
    keras.utils.set_random_seed(4)
    bias = keras.initializers.Constant(0.05)
    base_in = keras.Input((24, 24, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", bias_initializer=bias,
                            name="b_conv1")(base_in)
    x = keras.layers.Conv2D(5, 3, padding="same", bias_initializer=bias, name="b_conv2")(x)
    base = keras.Model(base_in, keras.layers.ReLU(6.0, name="b_conv2_relu")(x), name="base")
    inputs = keras.Input((24, 24, 3))
    x = keras.layers.GlobalAveragePooling2D(name="gap")(base(inputs))
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x), name="outer")


def test_a_vis_model_and_its_keras_model_give_the_same_images(shapes_model):
    kwargs = dict(steps=3, size=48, seed=5)
    ours = ascent.maximize_filters(shapes_model, "block2_conv2", [0, 3], **kwargs)
    bare = ascent.maximize_filters(shapes_model.model, "block2_conv2", [0, 3],
                                   preprocess=shapes_model.preprocess_fn, **kwargs)
    np.testing.assert_allclose(ours.final, bare.final, rtol=1e-5, atol=1e-6)
    assert ascent.num_filters(shapes_model, "block2_conv2") == ascent.num_filters(
        shapes_model.model, "block2_conv2")


def test_a_class_by_name_is_the_class_by_index(shapes_model):
    star = shapes_model.class_names.index("star")
    by_name = ascent.maximize_classes(shapes_model, "star", steps=3, size=48)
    by_index = ascent.maximize_classes(shapes_model, [star], steps=3, size=48)
    assert by_name.units == by_index.units == (star,)
    np.testing.assert_allclose(by_name.final, by_index.final, rtol=1e-6)


def test_layers_inside_a_nested_base_are_cut_and_climbed(nested_cnn):
    net = ascent.layer_model(nested_cnn, "b_conv2", size=32)
    assert net.outputs[0].shape[1:] == (32, 32, 5)
    x = np.random.default_rng(0).normal(size=(2, 24, 24, 3)).astype(np.float32)
    base = nested_cnn.get_layer("base")
    inner = keras.Model(base.inputs[0], base.get_layer("b_conv2").output)
    np.testing.assert_allclose(ascent.layer_model(nested_cnn, "b_conv2")(x), inner(x),
                               rtol=1e-5, atol=1e-6)
    result = ascent.maximize_filters(nested_cnn, "b_conv2_relu", range(5), steps=10, size=32)
    assert result.images.shape == (5, 32, 32, 3)
    assert np.all(result.final[~result.dead] > result.initial[~result.dead])


def test_a_model_ending_in_a_softmax_climbs_its_logits(live_cnn, capsys):
    probabilities = keras.layers.Softmax(name="p")(live_cnn.outputs[0])
    with_softmax = keras.Model(live_cnn.inputs[0], probabilities, name="live_softmax")
    ours = ascent.maximize_classes(with_softmax, [0, 2], steps=5)
    plain = ascent.maximize_classes(live_cnn, [0, 2], steps=5)
    np.testing.assert_allclose(ours.final, plain.final, rtol=1e-5)
    assert "ends in a softmax; explaining its logits" in capsys.readouterr().out


def test_outputs_that_only_look_like_probabilities_are_refused(live_cnn):
    squashed = keras.layers.Lambda(lambda t: keras.ops.softmax(t), name="hidden")(
        live_cnn.outputs[0])
    hidden = keras.Model(live_cnn.inputs[0], squashed, name="live_hidden")
    with pytest.raises(ValueError, match="outputs probabilities, not logits"):
        ascent.maximize_classes(hidden, [0], steps=2)
