"""Filters: kernels drawn as images, similarity of kernels and of activation patterns."""

import keras
import matplotlib
import numpy as np
import pytest

from helpers import filters

matplotlib.use("Agg")


def conv_model(kernel, bias=None, batch_norm=None, size=12):
    """A one-convolution model with the given kernel (k, k, in, out), optionally + batch norm."""
    inputs = keras.Input((size, size, kernel.shape[2]))
    conv = keras.layers.Conv2D(kernel.shape[-1], kernel.shape[0], padding="same",
                               activation=None if batch_norm else "relu", name="conv")
    x = conv(inputs)
    conv.set_weights([np.asarray(kernel, np.float32),
                     np.zeros(kernel.shape[-1], np.float32) if bias is None else bias])
    if batch_norm is not None:
        bn = keras.layers.BatchNormalization(name="bn")
        x = bn(x)
        bn.set_weights(batch_norm)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="logits")(x))


@pytest.fixture(scope="module")
def related():
    """Filters 1 and 2 are a scaled copy and the negative of filter 0; filter 3 is orthogonal."""
    kernel = np.zeros((3, 3, 3, 4), np.float32)
    kernel[:, 0, 0, 0] = 1.0                 # a vertical red bar on the left
    kernel[..., 1] = 2.5 * kernel[..., 0]
    kernel[..., 2] = -kernel[..., 0]
    kernel[1, :, 2, 3] = 1.0                 # a horizontal blue bar
    return conv_model(kernel)


def test_kernel_similarity_of_known_relations(related):
    sim = filters.kernel_similarity(related, "conv")
    assert sim.shape == (4, 4) and np.allclose(sim, sim.T)
    assert sim[0, 1] == pytest.approx(1.0) and sim[0, 2] == pytest.approx(-1.0)
    assert sim[0, 3] == pytest.approx(0.0) and np.allclose(np.diag(sim), 1.0)


def test_most_similar_and_most_opposite_pairs(related):
    sim = filters.kernel_similarity(related, "conv")
    assert filters.most_similar_pairs(sim, k=1)[0][:2] == (0, 1)
    opposite = filters.most_similar_pairs(sim, k=2, opposite=True)
    assert {pair[:2] for pair in opposite} == {(0, 2), (1, 2)}
    assert all(s == pytest.approx(-1.0) for *_, s in opposite)


def test_kernel_images_map_zero_to_grey_and_span_the_range(related):
    kernels = filters.rgb_kernels(related)
    shared = filters.kernel_images(kernels, "shared")
    assert shared.shape == (4, 3, 3, 3) and shared.min() >= 0 and shared.max() <= 1
    assert shared[1].max() == pytest.approx(1.0)        # the strongest weight reaches white
    assert shared[0].max() == pytest.approx(0.5 + 0.5 / 2.5)  # a weaker filter stays paler
    assert shared[0, 0, 2, 0] == pytest.approx(0.5)     # a zero weight is mid-grey
    each = filters.kernel_images(kernels, "each")
    assert np.allclose(np.abs(each - 0.5).max(axis=(1, 2, 3)), 0.5)


def test_zero_kernel_stays_grey_without_nan(rng):
    images = filters.kernel_images(np.zeros((2, 3, 3, 3)), "each")
    assert np.all(images == 0.5)
    kernels = rng.normal(size=(2, 3, 3, 3))
    kernels[1] *= 1e-13  # a dead filter: zero up to rounding, not a pattern to magnify
    images = filters.kernel_images(kernels, "each")
    assert np.all(images[1] == 0.5) and np.abs(images[0] - 0.5).max() == pytest.approx(0.5)


def test_rgb_kernels_undo_a_bgr_preprocessing():
    kernel = np.zeros((1, 1, 3, 1), np.float32)
    kernel[0, 0, 0, 0] = 1.0  # reads channel 0 of the model's input: blue, for VGG16
    model = conv_model(kernel)
    rgb = filters.rgb_kernels(model, preprocess=keras.applications.vgg16.preprocess_input)
    assert rgb[0, 0, 0, 2] == pytest.approx(1.0) and np.allclose(rgb[0, 0, 0, :2], 0.0)


def test_batch_norm_scale_is_folded_into_the_kernel():
    kernel = np.random.default_rng(0).normal(size=(3, 3, 3, 2)).astype(np.float32)
    gamma, beta, mean, var = [2.0, 0.5], [0.0, 0.0], [0.0, 0.0], [4.0, 1.0]
    model = conv_model(kernel, batch_norm=[np.array(v, np.float32) for v in (gamma, beta, mean, var)])
    eps = model.get_layer("bn").epsilon
    folded = filters.conv_kernel(model, "conv")
    np.testing.assert_allclose(folded[..., 0], kernel[..., 0] * 2.0 / np.sqrt(4.0 + eps), rtol=1e-5)
    np.testing.assert_allclose(folded[..., 1], kernel[..., 1] * 0.5 / np.sqrt(1.0 + eps), rtol=1e-5)
    np.testing.assert_allclose(filters.conv_kernel(model, "conv", fold_batch_norm=False), kernel)


def test_cosine_similarity_centred_is_correlation(rng):
    vectors = rng.normal(size=(5, 40))
    np.testing.assert_allclose(filters.cosine_similarity(vectors, center=True),
                               np.corrcoef(vectors), atol=1e-10)
    with_zero = filters.cosine_similarity(np.vstack([vectors, np.zeros(40), 1e-14 * vectors[0]]))
    assert np.isfinite(with_zero).all() and np.all(with_zero[-2:] == 0)


def test_duplicate_filters_respond_alike(rng):
    kernel = rng.normal(size=(3, 3, 3, 3)).astype(np.float32)
    kernel[..., 1] = 3.0 * kernel[..., 0]  # same response, scaled
    model = conv_model(kernel, bias=np.zeros(3, np.float32))
    images = rng.normal(size=(6, 12, 12, 3)).astype(np.float32)
    sim = filters.activation_similarity(model, "conv", images)
    assert sim.shape == (3, 3) and sim[0, 1] == pytest.approx(1.0, abs=1e-5)
    assert np.all(np.abs(sim) <= 1) and np.allclose(sim, sim.T)


def test_activation_similarity_on_the_embedded_model(shapes_model):
    from helpers import shapes

    scenes = shapes.make_scenes(8, seed=99)
    x = shapes_model.preprocess(scenes.images)
    sim = filters.activation_similarity(shapes_model, "block2_conv1", x)
    assert sim.shape == (24, 24) and np.isfinite(sim).all()
    np.testing.assert_allclose(filters.activation_similarity(shapes_model.model, "block2_conv1", x),
                               sim, atol=1e-6)  # a VisModel or its Keras model, the same


def test_one_image_gives_the_similarity_over_its_positions(rng):
    kernel = rng.normal(size=(3, 3, 3, 3)).astype(np.float32)
    model = conv_model(kernel, bias=np.zeros(3, np.float32))
    images = rng.normal(size=(2, 12, 12, 3)).astype(np.float32)
    one = filters.activation_similarity(model, "conv", images[0])
    np.testing.assert_allclose(one, filters.activation_similarity(model, "conv", images[:1]))
    assert one.shape == (3, 3)
    with pytest.raises(ValueError, match="raw uint8 pixels"):
        filters.activation_similarity(model, "conv", images.astype(np.uint8))


def test_kernels_of_a_vis_model_and_of_its_keras_model_agree(shapes_model):
    np.testing.assert_array_equal(filters.rgb_kernels(shapes_model),
                                  filters.rgb_kernels(shapes_model.model,
                                                      preprocess=shapes_model.preprocess_fn))
    np.testing.assert_array_equal(filters.kernel_similarity(shapes_model, "block2_conv1"),
                                  filters.kernel_similarity(shapes_model.model, "block2_conv1"))


def test_first_layer_of_mobilenet(mobilenet):
    kernels = filters.rgb_kernels(mobilenet)
    assert kernels.shape == (32, 3, 3, 3) and np.isfinite(kernels).all()
    sim = filters.kernel_similarity(mobilenet, "conv_pw_1")
    assert sim.shape == (64, 64)


def test_order_puts_blocks_together(rng):
    blocks = np.kron(np.eye(3), np.ones((4, 4))) * 1.6 - 0.8  # three groups of four
    np.fill_diagonal(blocks, 1.0)
    shuffle = rng.permutation(12)
    order = filters.similarity_order(blocks[np.ix_(shuffle, shuffle)])
    assert sorted(order) == list(range(12))
    groups = shuffle[order] // 4
    assert np.count_nonzero(np.diff(groups)) == 2  # each group is one contiguous run


def test_show_similarity_labels_follow_the_order(related):
    sim = filters.kernel_similarity(related, "conv")
    ax = filters.show_similarity(sim, order=[3, 2, 1, 0], tick_every=1)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3", "2", "1", "0"]
    matplotlib.pyplot.close(ax.figure)


@pytest.mark.parametrize("call, words", [
    (lambda m: filters.conv_kernel(m, "gap"), "not a convolution"),
    (lambda m: filters.conv_kernel(m, "nope"), "no layer 'nope'"),
    (lambda m: filters.kernel_similarity(m, "logits"), "not a convolution"),
    (lambda m: filters.activation_similarity(m, "logits", np.zeros((2, 12, 12, 3))), "not a spatial"),
    (lambda m: filters.activation_similarity(m, "conv", np.zeros((0, 12, 12, 3))), "empty batch"),
    (lambda m: filters.kernel_images(np.zeros((3, 3, 3))), "Expected kernels"),
    (lambda m: filters.kernel_images(np.zeros((1, 3, 3, 3)), "global"), "normalize must be"),
    (lambda m: filters.similarity_order(np.zeros((2, 3))), "square"),
    (lambda m: filters.most_similar_pairs(np.full((2, 2), np.nan)), "NaN"),
    (lambda m: filters.cosine_similarity(np.zeros(3)), "2-D"),
])
def test_bad_input_is_explained(related, call, words):
    with pytest.raises(ValueError, match=words):
        call(related)


def test_rgb_kernels_need_an_rgb_layer():
    model = conv_model(np.ones((3, 3, 4, 2), np.float32))
    with pytest.raises(ValueError, match="see 4 input channels"):
        filters.rgb_kernels(model, "conv", preprocess=lambda x: x)


def test_kernel_parts_of_planted_kernels(rng):
    kernels = np.zeros((5, 3, 3, 3))
    kernels[0] = 0.7                                  # overall light
    kernels[1, ..., 2], kernels[1, ..., :2] = 1.0, -0.5  # blue against yellow, everywhere
    kernels[2, :, 0], kernels[2, :, 2] = 1.0, -1.0    # a grey vertical edge
    kernels[3, :, 0, 0], kernels[3, :, 2, 0] = 1.0, -1.0  # an edge in red only
    kernels[3, :, 0, 1:], kernels[3, :, 2, 1:] = -0.5, 0.5
    shares = filters.kernel_parts(kernels)
    np.testing.assert_allclose(shares[:4], np.eye(4), atol=1e-12)
    assert np.all(shares[4] == 0)                     # a zero kernel has no parts
    mixed = filters.kernel_parts(rng.normal(size=(6, 3, 3, 3)))
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="RGB kernels"):
        filters.kernel_parts(np.zeros((2, 3, 3, 1)))


def test_show_kernels_draws_one_labelled_panel_per_filter(related):
    kernels = filters.rgb_kernels(related)
    fig = filters.show_kernels(kernels, ncols=3, title="four")
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 6 and [ax.get_xlabel() for ax in shown] == ["0", "1", "2", "3"]
    assert shown[0].images[0].get_interpolation() == "nearest"
    assert fig.get_size_inches()[0] == pytest.approx(3 * 0.9)
    matplotlib.pyplot.close(fig)
    padded = filters.show_kernels(kernels, ncols=4, nrows=3)  # blank rows keep panels' size
    assert len(padded.axes) == 12 and padded.get_size_inches()[1] == pytest.approx(3 * 0.9 + 0.1)
    matplotlib.pyplot.close(padded)
    with pytest.raises(ValueError, match="ncols"):
        filters.show_kernels(kernels, ncols=0)


@pytest.mark.parametrize("text, expected", [("0-3", [0, 1, 2, 3]), ("5, 1-2", [5, 1, 2]),
                                            (" 7 ", [7])])
def test_filters_are_read_from_numbers_and_ranges(text, expected):
    assert filters.parse_units(text, 8) == expected


@pytest.mark.parametrize("text, message", [("a-b", "numbers and ranges"), ("", "No filters"),
                                           ("2-9", "Filter 8 does not exist.*0 to 7")])
def test_unreadable_filters_say_how_to_write_them(text, message):
    with pytest.raises(ValueError, match=message):
        filters.parse_units(text, 8)


def test_filter_explorer_draws_the_default_and_replaces_it(shapes_model):
    pytest.importorskip("ipywidgets")
    box = filters.filter_explorer(shapes_model, "block2_conv2", steps=5, size=48,
                                  filters="0-1")
    (layer, text, _), (*_, button), status, out = [*map(lambda r: r.children, box.children[:2]),
                                                   *box.children[2:]]
    first = out.outputs[0]["data"]["image/png"]
    text.value = "2-3"
    button.click()
    assert len(out.outputs) == 1 and out.outputs[0]["data"]["image/png"] != first
    text.value = "99"
    button.click()
    assert "Filter 99 does not exist" in out.outputs[0]["text"] and status.value == "failed"
