"""Circuits: kernel slices, expanded weights, tuning curves, equivariance, figures."""

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers import circuits, stimuli
from helpers.shapes_cnn import build_model


def sequential(input_shape, layers, name="toy"):
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x, name=name)


@pytest.fixture(scope="module")
def linear_net():
    """Two linear, bias-free 3x3 convolutions: their composition is a 5x5 convolution."""
    keras.utils.set_random_seed(1)
    return sequential((16, 16, 3), [
        keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="a"),
        keras.layers.Conv2D(5, 3, padding="same", use_bias=False, name="b"),
    ])


@pytest.fixture(scope="module")
def separable_block():
    """A MobileNet block: depthwise 3x3 (stride 2), batch norm, ReLU6, pointwise 1x1, batch
    norm, ReLU6, with non-trivial batch-norm statistics (one negative gamma)."""
    keras.utils.set_random_seed(2)
    model = sequential((16, 16, 3), [
        keras.layers.Conv2D(4, 3, padding="same", name="stem"),
        keras.layers.ReLU(6.0, name="stem_relu"),
        keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name="pad"),
        keras.layers.DepthwiseConv2D(3, strides=2, use_bias=False, name="dw"),
        keras.layers.BatchNormalization(name="dw_bn"),
        keras.layers.ReLU(6.0, name="dw_relu"),
        keras.layers.Conv2D(6, 1, use_bias=False, name="pw"),
        keras.layers.BatchNormalization(name="pw_bn"),
        keras.layers.ReLU(6.0, name="pw_relu"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
    ])
    rng = np.random.default_rng(0)
    for name, channels in (("dw_bn", 4), ("pw_bn", 6)):
        gamma = rng.uniform(0.5, 2.0, channels)
        gamma[0] = -gamma[0]
        model.get_layer(name).set_weights([gamma, rng.normal(size=channels),
                                           rng.normal(size=channels),
                                           rng.uniform(0.5, 3.0, channels)])
    return model


def kernel(model, name):
    return model.get_layer(name).kernel.numpy()


def bn_scale(model, name):
    gamma, _, _, variance = model.get_layer(name).get_weights()
    return gamma / np.sqrt(variance + model.get_layer(name).epsilon)


def full_convolution(a, b):
    """Full 2-D convolution of two small kernels (what two stacked cross-correlations make)."""
    out = np.zeros((a.shape[0] + b.shape[0] - 1, a.shape[1] + b.shape[1] - 1))
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[i:i + b.shape[0], j:j + b.shape[1]] += a[i, j] * b
    return out


# --- circuits read from the kernel -------------------------------------------------------------

@pytest.mark.parametrize("unit", [0, 3, 5])
def test_circuit_returns_exact_kernel_slices(tiny_cnn, unit):
    weights = kernel(tiny_cnn, "conv2")
    circ = circuits.circuit(tiny_cnn, "conv2", unit, top=2, min_share=0)
    assert circ.input_layer == "conv1"  # followed back over pool1
    assert circ.connections and circ.kernel_size == (3, 3) and not circ.expanded
    for conn in circ.connections:
        np.testing.assert_array_equal(conn.weights, weights[:, :, conn.channel, unit])
        assert conn.strength == pytest.approx(weights[:, :, conn.channel, unit].sum(), rel=1e-5)
    sums = weights[..., unit].sum(axis=(0, 1))
    assert [c.channel for c in circ.excitatory] == [
        c for c in np.argsort(sums)[::-1][:2] if sums[c] > 0]
    assert [c.channel for c in circ.inhibitory] == [c for c in np.argsort(sums)[:2] if sums[c] < 0]


def test_peak_ranking_puts_each_channel_on_the_side_of_its_largest_weight(tiny_cnn):
    weights = kernel(tiny_cnn, "conv2")[..., 1]
    circ = circuits.circuit(tiny_cnn, "conv2", 1, top=4, rank="peak", min_share=0)
    for conn in circ.excitatory:
        assert conn.strength == pytest.approx(weights[..., conn.channel].max())
    for conn in circ.inhibitory:
        assert conn.strength == pytest.approx(weights[..., conn.channel].min())
    assert len(circ.connections) == 4  # four input channels, each listed once


def test_weak_inputs_are_left_out(tiny_cnn):
    sums = np.abs(kernel(tiny_cnn, "conv2")[..., 2].sum(axis=(0, 1)))
    share = np.sort(sums)[-2] / sums.max() + 1e-3  # just above the second strongest
    circ = circuits.circuit(tiny_cnn, "conv2", 2, top=4, min_share=share)
    assert [c.channel for c in circ.connections] == [int(np.argmax(sums))]


def test_inputs_can_be_restricted_to_some_channels(tiny_cnn):
    circ = circuits.circuit(tiny_cnn, "conv2", 0, top=4, min_share=0, channels=[1, 2])
    assert {c.channel for c in circ.connections} <= {1, 2}
    with pytest.raises(ValueError, match="channels must be"):
        circuits.circuit(tiny_cnn, "conv2", 0, channels=[7])


def test_batch_norm_after_the_convolution_scales_the_weights(separable_block):
    scale = bn_scale(separable_block, "pw_bn")
    unit = 0  # its gamma is negative: excitation and inhibition swap
    circ = circuits.circuit(separable_block, "pw", unit, top=4, min_share=0)
    expected = kernel(separable_block, "pw")[0, 0, :, unit] * scale[unit]
    for conn in circ.connections:
        assert conn.weights.shape == (1, 1)
        assert conn.weights[0, 0] == pytest.approx(expected[conn.channel], rel=1e-6)
    assert {c.channel for c in circ.excitatory} == set(np.flatnonzero(expected > 0))


# --- expanded weights --------------------------------------------------------------------------

def test_expanded_weights_of_adjacent_layers_are_the_kernel(tiny_cnn):
    np.testing.assert_allclose(circuits.expanded_weights(tiny_cnn, "pool1", "conv2"),
                               kernel(tiny_cnn, "conv2"), atol=1e-6)


def test_expanded_weights_of_1x1_convolutions_are_the_matrix_product():
    keras.utils.set_random_seed(3)
    model = sequential((8, 8, 3), [keras.layers.Conv2D(4, 1, use_bias=False, name="a"),
                                   keras.layers.ReLU(name="relu"),
                                   keras.layers.Conv2D(2, 1, use_bias=False, name="b")])
    expanded = circuits.expanded_weights(model, "image", "b")
    assert expanded.shape == (1, 1, 3, 2)
    np.testing.assert_allclose(expanded[0, 0], kernel(model, "a")[0, 0] @ kernel(model, "b")[0, 0],
                               rtol=1e-5, atol=1e-6)


def test_expanded_weights_of_two_3x3_convolutions_are_their_composition(linear_net):
    a, b = kernel(linear_net, "a"), kernel(linear_net, "b")
    expanded = circuits.expanded_weights(linear_net, "image", "b")
    assert expanded.shape == (5, 5, 3, 5)
    for i in range(3):
        for j in range(5):
            expected = sum(full_convolution(a[:, :, i, m], b[:, :, m, j]) for m in range(4))
            np.testing.assert_allclose(expanded[:, :, i, j], expected, rtol=1e-4, atol=1e-5)


def test_expanded_weights_predict_the_linear_network(linear_net):
    """Convolving the input with the expanded kernel gives the network's output."""
    x = np.random.default_rng(0).normal(size=(1, 16, 16, 3)).astype(np.float32)
    expanded = circuits.expanded_weights(linear_net, "image", "b")
    centre = (x[0, 6:11, 6:11, :, None] * expanded).sum(axis=(0, 1, 2))
    np.testing.assert_allclose(centre, linear_net(x).numpy()[0, 8, 8], rtol=1e-4, atol=1e-4)


def test_max_pool_is_read_as_an_average_pool(tiny_cnn):
    expanded = circuits.expanded_weights(tiny_cnn, "conv1", "conv2")
    weights = kernel(tiny_cnn, "conv2")
    assert expanded.shape == (6, 6, 4, 6)
    np.testing.assert_allclose(expanded, np.repeat(np.repeat(weights, 2, 0), 2, 1) / 4,
                               atol=1e-6)


def test_depthwise_times_pointwise_is_a_rank_one_kernel(separable_block):
    expanded = circuits.expanded_weights(separable_block, "stem_relu", "pw")
    dw = kernel(separable_block, "dw")[..., 0] * bn_scale(separable_block, "dw_bn")
    pw = kernel(separable_block, "pw")[0, 0] * bn_scale(separable_block, "pw_bn")
    assert expanded.shape == (3, 3, 4, 6)
    np.testing.assert_allclose(expanded, dw[:, :, :, None] * pw, rtol=1e-5, atol=1e-6)
    assert circuits.circuit(separable_block, "pw", 2, from_layer="stem_relu").input_layer == \
        "stem_relu"


def test_mobilenet_pointwise_circuit_through_its_depthwise_convolution(mobilenet):
    model = mobilenet.model
    expanded = circuits.expanded_weights(mobilenet, "conv_pw_1_relu", "conv_pw_2")
    dw = kernel(model, "conv_dw_2")[..., 0] * bn_scale(model, "conv_dw_2_bn")
    pw = kernel(model, "conv_pw_2")[0, 0] * bn_scale(model, "conv_pw_2_bn")
    np.testing.assert_allclose(expanded, dw[:, :, :, None] * pw, rtol=1e-4, atol=1e-5)
    assert circuits.feature_source(mobilenet, "conv_pw_1") == "conv_dw_1_relu"
    pixels = circuits.input_layer_name(mobilenet)
    assert circuits.expanded_weights(mobilenet, pixels, "conv_pw_2").shape == (11, 11, 3, 128)


def test_where_circuits_read_from(tiny_cnn, separable_block):
    assert circuits.default_from_layer(tiny_cnn, "conv2") is None
    assert circuits.default_from_layer(separable_block, "pw") == "stem_relu"
    assert circuits.feature_map_of(separable_block, "pw") == "pw_relu"
    assert circuits.feature_map_of(tiny_cnn, "conv2") == "conv2"
    assert circuits.visualized_layer(separable_block, "pw_relu") == "pw_bn"
    assert circuits.visualized_layer(tiny_cnn, "conv1") == "conv1"
    pixels = circuits.input_layer_name(tiny_cnn)
    assert circuits.linear_path(tiny_cnn, pixels, "conv2").field == 8  # 3, +1 (pool), +2 x 2
    assert circuits.input_layer_name(tiny_cnn) == tiny_cnn.layers[0].name


def test_most_active_unit_is_the_largest_mean_activation(tiny_cnn):
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype(np.float32)
    maps = keras.Model(tiny_cnn.inputs[0], tiny_cnn.get_layer("conv2").output)(x).numpy()
    assert circuits.most_active_unit(tiny_cnn, "conv2", x) == maps.mean(axis=(0, 1, 2)).argmax()


def test_linearization_is_exact_for_a_linear_network(linear_net, tiny_cnn):
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(circuits.linearization_quality(linear_net, "a", "b", x), 1,
                               atol=1e-5)
    quality = circuits.linearization_quality(tiny_cnn, "conv1", "conv2", x)
    assert quality.shape == (6,) and np.all(np.abs(quality[np.isfinite(quality)]) <= 1 + 1e-6)


def test_linear_path_matches_the_network_where_it_is_linear():
    """On the shapes architecture with every unit active, the linear path is exact up to
    biases (a constant) and max-pool (replaced by average): compare without the pool."""
    model = build_model(32)
    path = circuits.linear_path(model, "block2_conv1", "block2_conv2")
    assert (path.field, path.jump) == (3, 1)
    far = circuits.linear_path(model, "block1_conv1", "block3_conv1")
    assert (far.field, far.jump) == (20, 4)
    assert [layer.name for layer in far.layers] == [
        "block1_pool", "block2_conv1", "block2_conv2", "block2_pool", "block3_conv1"]


def chain_geometry(layers):
    """(field, jump) along a chain of layers by the receptive-field recurrence, written out:
    a k x k window with dilation d and stride s adds (k - 1) d jump and multiplies jump by s."""
    field, jump = 1, 1
    for layer in layers:
        if isinstance(layer, keras.layers.MaxPooling2D | keras.layers.AveragePooling2D):
            size, stride, dilation = layer.pool_size[0], layer.strides[0], 1
        elif hasattr(layer, "kernel_size"):
            size, stride, dilation = layer.kernel_size[0], layer.strides[0], layer.dilation_rate[0]
        else:
            continue
        field += dilation * (size - 1) * jump
        jump *= stride
    return field, jump


@pytest.mark.parametrize("name", ["shapes", "mobilenet", "vgg16"])
def test_path_geometry_from_the_receptive_field_table_is_the_chain_recurrence(name):
    """Every (from, to) pair of a chain: the field and jump read off the model's receptive-field
    table agree with the recurrence along the path, and with the positions that reach the
    centre unit (which ``expanded_weights`` measures)."""
    from helpers.models import load_model

    vm = load_model(name, weights=None)
    pixels = circuits.input_layer_name(vm)
    targets = circuits.circuit_layers(vm)[:6]
    for to_layer in targets:
        chain = circuits.graph.chain_between(vm, pixels, to_layer)
        for start, from_layer in enumerate([pixels] + [layer.name for layer in chain[:-1]]):
            path = circuits.linear_path(vm, from_layer, to_layer)
            assert (path.field, path.jump) == chain_geometry(chain[start:]), (from_layer,
                                                                              to_layer)
    shape = circuits.expanded_weights(vm, pixels, targets[2]).shape
    assert shape[:2] == (circuits.linear_path(vm, pixels, targets[2]).field,) * 2


# --- one image or a batch; a VisModel or a Keras model -----------------------------------------

def test_one_image_gives_one_centre_response_and_a_batch_a_batch(shapes_model):
    x = shapes_model.preprocess([shapes_model.load(name) for name in ("circle", "square")])
    batch = circuits.central_responses(shapes_model, "block2_conv2", x)
    one = circuits.central_responses(shapes_model, "block2_conv2", x[0])
    assert batch.shape == (2, 24) and one.shape == (24,)
    np.testing.assert_allclose(one, batch[0], rtol=1e-5, atol=1e-6)
    maps = keras.Model(shapes_model.model.inputs[0],
                       shapes_model.model.get_layer("block2_conv2").output)(x).numpy()
    # a 48 x 48 map: its centre lies between units 23 and 24 on both axes
    np.testing.assert_allclose(batch, maps[:, 23:25, 23:25].mean(axis=(1, 2)), rtol=1e-5,
                               atol=1e-6)


def test_image_readers_take_one_image_like_a_batch_of_one(tiny_cnn):
    x = np.random.default_rng(0).normal(size=(16, 16, 3)).astype(np.float32)
    assert circuits.most_active_unit(tiny_cnn, "conv2", x) == circuits.most_active_unit(
        tiny_cnn, "conv2", x[None])
    np.testing.assert_allclose(circuits.linearization_quality(tiny_cnn, "conv1", "conv2", x),
                               circuits.linearization_quality(tiny_cnn, "conv1", "conv2", x[None]),
                               rtol=1e-5)


@pytest.mark.parametrize("call", [
    lambda m, x: circuits.central_responses(m, "conv2", x),
    lambda m, x: circuits.most_active_unit(m, "conv2", x),
    lambda m, x: circuits.linearization_quality(m, "conv1", "conv2", x),
])
def test_bad_images_get_the_cores_errors(tiny_cnn, call):
    x = np.zeros((2, 16, 16, 3), np.float32)
    with pytest.raises(ValueError, match="^Got raw uint8 pixels"):
        call(tiny_cnn, x.astype(np.uint8))
    with pytest.raises(ValueError, match=r"^Expected a preprocessed image \(16, 16, 3\)"):
        call(tiny_cnn, x[:, :8])
    with pytest.raises(TypeError, match="Expected a VisModel or a Keras model"):
        call("tiny", x)


def test_a_vis_model_and_its_keras_model_read_the_same_circuits(shapes_model):
    net = shapes_model.model
    np.testing.assert_array_equal(circuits.effective_kernel(shapes_model, "block2_conv1"),
                                  circuits.effective_kernel(net, "block2_conv1"))
    np.testing.assert_array_equal(circuits.unit_scale(shapes_model, "block2_conv1"),
                                  circuits.unit_scale(net, "block2_conv1"))
    a, b = (circuits.circuit(m, "block2_conv1", 3) for m in (shapes_model, net))
    assert [c.channel for c in a.connections] == [c.channel for c in b.connections]
    assert circuits.input_layer_name(shapes_model) == circuits.input_layer_name(net)


# --- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("layer, unit, from_layer, match", [
    ("conv2", 6, None, "out of range.*6 units"),
    ("conv2", -1, None, "out of range"),
    ("conv2", 1.5, None, "out of range"),
    ("conv1", 0, "conv2", "does not feed into"),
    ("conv2", 0, "logits", "does not feed into"),
    ("conv2", 0, "conv2", "both 'conv2'"),
    ("pool1", 0, None, "not a convolution"),
    ("logits", 0, None, "not a convolution"),
    ("gap", 0, "conv1", "not a convolution"),
    ("conv9", 0, None, "has no layer"),
])
def test_bad_circuit_requests(tiny_cnn, layer, unit, from_layer, match):
    with pytest.raises(ValueError, match=match):
        circuits.circuit(tiny_cnn, layer, unit, from_layer=from_layer)


def test_depthwise_layers_point_to_the_pointwise_convolution(separable_block):
    with pytest.raises(ValueError, match="depthwise.*pointwise"):
        circuits.circuit(separable_block, "dw", 0)


def test_branching_paths_are_refused():
    inputs = keras.Input((8, 8, 3), name="image")
    a = keras.layers.Conv2D(3, 3, padding="same", name="a")(inputs)
    added = keras.layers.Add(name="add")([inputs, a])
    out = keras.layers.Conv2D(2, 3, padding="same", name="b")(added)
    model = keras.Model(inputs, out)
    with pytest.raises(ValueError, match="branches"):
        circuits.expanded_weights(model, "image", "b")


@pytest.mark.parametrize("kwargs, match", [({"top": 0}, "top"), ({"rank": "max"}, "rank")])
def test_bad_options(tiny_cnn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        circuits.circuit(tiny_cnn, "conv2", 0, **kwargs)


# --- tuning ------------------------------------------------------------------------------------

def test_tuning_width_of_known_curves():
    box = np.zeros(24)
    box[[5, 6, 7]] = 1.0  # half level 0.5 is crossed halfway to each neighbour
    assert circuits.tuning_width(box, 15) == pytest.approx(45.0)
    assert circuits.tuning_width(np.roll(box, 20), 15) == pytest.approx(45.0)  # wraps around
    cosine = np.maximum(np.cos(np.deg2rad(np.arange(0, 360, 15) - 90)), 0)
    assert circuits.tuning_width(cosine, 15) == pytest.approx(120.0, abs=5)
    assert circuits.tuning_width(np.ones(24), 15) == 360.0


def edge_filter(orientation, size=7, sigma=1.5):
    """A hand-made oriented edge detector: a derivative of a Gaussian along ``orientation``."""
    y, x = np.mgrid[0:size, 0:size] - (size - 1) / 2
    u = stimuli.direction(orientation)
    return (x * u[0] + y * u[1]) * np.exp(-(x ** 2 + y ** 2) / (2 * sigma ** 2))


def single_filter_model(filters, size):
    """One ReLU convolution whose channels are the given 2-D filters (same on R, G and B)."""
    k = filters[0].shape[0]
    model = sequential((size, size, 3), [keras.layers.Conv2D(
        len(filters), k, padding="same", activation="relu", use_bias=False, name="conv")])
    weights = np.stack(filters, axis=-1)[:, :, None, :].repeat(3, axis=2) / 3
    model.get_layer("conv").set_weights([weights.astype(np.float32)])
    return model


@pytest.mark.parametrize("orientation", [0, 45, 100, 210, 300])
def test_tuning_finds_the_orientation_of_a_hand_made_edge_filter(orientation):
    model = single_filter_model([edge_filter(orientation)], 33)
    tuning = circuits.orientation_tuning(model, "conv", stimuli.edges(33),
                                         preprocess=lambda x: x / 255.0)
    found = tuning.preferred_orientation[0]
    assert abs((found - orientation + 180) % 360 - 180) <= 15
    assert 60 < tuning.width[0] < 240


def test_edge_preference_tells_edge_from_brightness_detectors():
    blob = np.ones((7, 7)) / 49
    model = single_filter_model([edge_filter(30), blob], 33)
    tuning, preference = circuits.edge_preference(model, "conv", preprocess=lambda x: x / 255.0)
    assert tuning.responses.shape == (1, 24, 2)
    assert preference[0] > 1 / 3 > preference[1]


def test_curve_detector_found_among_line_and_curve_templates():
    """A filter shaped like an arc prefers curves; one shaped like a line prefers lines."""
    size = 15
    arc = stimuli.arc(size, 60, 4.0, length=12)
    line = stimuli.line(size, 60, length=12)
    model = single_filter_model([arc - arc.mean(), line - line.mean()], 31)
    grid = stimuli.curves(31, radii=(4.0, 8.0, np.inf), length=12)
    tuning = circuits.orientation_tuning(model, "conv", grid, preprocess=lambda x: x / 255.0)
    assert tuning.responses.shape == (3, 24, 2)
    assert tuning.curve_preference[0] > 0 > tuning.curve_preference[1]
    assert tuning.preferred_orientation[0] == 60 and tuning.radii[
        tuning.preferred_radius[0]] == 4.0
    assert circuits.sharpest_curve_detectors(tuning) == [0]


@pytest.mark.parametrize("kwargs, match", [
    ({"stimuli": np.zeros((5, 8)), "preprocess": float}, "shape"),
    ({"stimuli": np.zeros((5, 8, 8)), "preprocess": float}, "5 stimuli per row but 24"),
    ({"stimuli": np.zeros((3, 8, 8)), "orientations": [0, 90, 100], "preprocess": float},
     "equally spaced"),
    ({"stimuli": np.zeros((24, 8, 8))}, "preprocess"),
])
def test_bad_tuning_input(tiny_cnn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        circuits.orientation_tuning(tiny_cnn, "conv1", **kwargs)


# --- equivariance ------------------------------------------------------------------------------

def test_rotation_by_quarter_turns_is_exact_and_bilinear_agrees():
    k = np.random.default_rng(0).normal(size=(5, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(circuits.rotate_kernel(k, 90), np.rot90(k))
    np.testing.assert_allclose(circuits.equivariance._rotate_bilinear(k, 90), np.rot90(k),
                               atol=1e-5)
    np.testing.assert_allclose(circuits.rotate_kernel(k, 360), k)
    turned = circuits.rotate_kernel(stimuli.line(9, 0)[..., None], 45)[..., 0]
    assert turned[2, 2] > 0.4 and turned[2, 6] < 0.1  # | turned counter-clockwise is \
    assert np.corrcoef(turned.ravel(), stimuli.line(9, 45).ravel())[0, 1] > 0.8


def test_rotated_pairs_finds_a_planted_rotated_copy():
    rng = np.random.default_rng(1)
    kernels = rng.normal(size=(5, 5, 3, 5)).astype(np.float32)
    kernels[..., 3] = np.rot90(kernels[..., 1])
    blob = np.exp(-((np.mgrid[0:5, 0:5] - 2) ** 2).sum(0))[..., None].repeat(3, -1)
    kernels[..., 0], kernels[..., 4] = blob, blob  # the same round blob twice: no rotation
    pairs = circuits.rotated_pairs(kernels, angles=(90, 180, 270))
    assert (pairs[0].a, pairs[0].b, pairs[0].angle) in {(1, 3, 90.0), (3, 1, 270.0)}
    assert pairs[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert all({p.a, p.b} != {0, 4} for p in pairs)


# --- figures -----------------------------------------------------------------------------------

def test_circuit_figure_and_helpers_draw(tiny_cnn):
    circ = circuits.circuit(tiny_cnn, "conv2", 0, top=2)
    images = {c.channel: np.zeros((8, 8, 3)) for c in circ.connections}
    fig = circuits.plot_circuit(circ, images, np.zeros((8, 8, 3)))
    assert len(fig.axes) == 2 * len(circ.connections) + 2  # inputs, weights, unit, colour bar
    plt.close(fig)
    tuning = circuits.Tuning("conv", np.random.default_rng(0).random((2, 24, 5)),
                             (4.0, np.inf), stimuli.ORIENTATIONS.astype(float))
    for fig in (circuits.plot_tuning_grid(tuning, highlight=[1]),
                circuits.plot_tuning_curves(tuning, [0, 2]),
                circuits.plot_rotated_pairs(np.ones((3, 3, 3, 2)),
                                            [circuits.RotatedPair(0, 1, 90, 1.0, 0.5)])):
        plt.close(fig)


def test_figure_titles_are_readable():
    tuning = circuits.Tuning("conv", np.random.default_rng(0).random((2, 24, 5)),
                             (4.0, np.inf), stimuli.ORIENTATIONS.astype(float))
    grid = stimuli.curves(16, radii=(4.0, np.inf))
    pictures = {0: np.zeros((8, 8, 3)), 2: None}
    for fig in (circuits.plot_tuning_grid(tuning, highlight=[1]),
                circuits.plot_tuning_curves(tuning, [0, 2], stimuli=grid, pictures=pictures),
                circuits.plot_rotated_pairs(np.ones((3, 3, 3, 2)),
                                            [circuits.RotatedPair(0, 1, 90, 1.0, 0.5)])):
        texts = [ax.title for ax in fig.axes] + [ax.xaxis.label for ax in fig.axes]
        sizes = [t.get_fontsize() for t in texts if t.get_text()]
        assert sizes and min(sizes) >= 8
        plt.close(fig)
    fig = circuits.plot_tuning_curves(tuning, [0, 2], stimuli=grid, pictures=pictures)
    assert fig.get_figwidth() >= 6 and fig.get_figheight() >= 5  # thumbnails big enough to read
    polar = [ax for ax in fig.axes if ax.name == "polar"]
    assert min(label.get_fontsize() for label in polar[0].get_xticklabels()) >= 8
    plt.close(fig)


def test_rotated_pairs_scale_each_kernel_to_its_own_symmetric_range():
    rng = np.random.default_rng(0)
    kernels = rng.normal(size=(8, 8, 3, 2)).astype(np.float32)
    kernels[..., 1] *= 0.01  # a weak kernel must still use the whole colour scale
    pair = circuits.RotatedPair(0, 1, 90, 0.9, 0.1)
    fig = circuits.plot_rotated_pairs(kernels, [pair])
    assert fig.get_figwidth() >= 5  # panels of about 1.8 in
    for ax, kernel in zip(fig.axes, (kernels[..., 0], circuits.rotate_kernel(kernels[..., 0], 90),
                                     kernels[..., 1])):
        image = ax.get_images()[0]  # 8x8 RGB: the sum over inputs, red/blue
        summed = kernel.sum(axis=-1)
        np.testing.assert_allclose(image.get_array(), summed, rtol=1e-5)
        low, high = image.get_clim()
        assert low == pytest.approx(-high) and high == pytest.approx(np.abs(summed).max(), rel=1e-5)
    plt.close(fig)
    fig = circuits.plot_rotated_pairs(kernels[:3, :3], [pair])  # 3x3 RGB: summed, no patchwork
    assert fig.axes[2].get_images()[0].get_array().shape == (3, 3)
    plt.close(fig)
    fig = circuits.plot_rotated_pairs(kernels[:3, :3], [pair], colour=True)
    assert fig.axes[2].get_images()[0].get_array().shape == (3, 3, 3)
    assert np.abs(fig.axes[2].get_images()[0].get_array() - 0.5).max() == pytest.approx(0.5)
    plt.close(fig)
    with pytest.raises(ValueError, match="RGB"):
        circuits.plot_rotated_pairs(kernels[:, :, :2], [pair], colour=True)


def test_rotated_pairs_name_channels_and_rotation_and_explain_the_colours():
    kernels = np.random.default_rng(0).normal(size=(3, 3, 3, 2)).astype(np.float32)
    fig = circuits.plot_rotated_pairs(kernels, [circuits.RotatedPair(0, 1, 90, 0.9, 0.1)])
    titles = [ax.title.get_text() for ax in fig.axes[:3]]
    assert titles == ["channel 0", "channel 0 turned 90°", "channel 1: cos 0.90"]
    assert all(image.get_interpolation() == "nearest" for ax in fig.axes[:3]
               for image in ax.get_images())
    bar = fig.axes[3]  # the colour bar: what red and blue mean
    labels = " ".join(t.get_text() for t in bar.get_xticklabels())
    assert "excites" in labels and "inhibits" in labels
    plt.close(fig)


def test_first_layer_kernels_are_drawn_in_colour_and_in_grey_level():
    kernels = np.zeros((3, 3, 3, 3), np.float32)
    kernels[:, 0, :, 0], kernels[:, 2, :, 0] = 1.0, -1.0   # a vertical edge: bright left
    kernels[..., 1] = np.random.default_rng(0).normal(size=(3, 3, 3))   # and 2 stays all zero
    fig = circuits.figures.plot_first_layer_kernels(kernels, {0: "edge 180°"}, ncols=3)
    colour, grey = fig.axes[0], fig.axes[3]
    assert colour.get_title() == "0: edge 180°"
    np.testing.assert_allclose(colour.get_images()[0].get_array(), circuits.kernel_image(kernels[..., 0]))
    image = grey.get_images()[0]
    np.testing.assert_allclose(image.get_array(), kernels[..., 0].sum(-1))
    assert image.get_clim() == pytest.approx((-3, 3)) and image.get_interpolation() == "nearest"
    assert not fig.axes[2].get_images() and "zero kernel" in fig.axes[2].texts[0].get_text()
    plt.close(fig)
    with pytest.raises(ValueError, match="RGB kernels"):
        circuits.figures.plot_first_layer_kernels(kernels[:, :, :2])


def test_circuit_draws_first_layer_inputs_as_colour_and_grey_level_kernels(tiny_cnn):
    circ = circuits.circuit(tiny_cnn, "conv2", 0, top=1)
    kernels = np.random.default_rng(0).normal(
        size=(3, 3, 3, int(tiny_cnn.get_layer("conv1").output.shape[-1]))).astype(np.float32)
    fig = circuits.plot_circuit(circ, input_kernels=kernels)
    insets = [inset for ax in fig.axes for inset in ax.child_axes
              if inset.get_images() and inset.get_images()[0].get_cmap().name == "gray"]
    assert len(insets) == len(circ.connections)
    first = circ.connections[0].channel
    np.testing.assert_allclose(insets[0].get_images()[0].get_array(), kernels[..., first].sum(-1))
    assert "grey level" in " ".join(ax.get_title() for ax in fig.axes)
    plt.close(fig)


def test_show_circuit_draws_first_layer_inputs_as_their_pixel_kernels_in_grey_level_too(
        separable_block):
    """Inputs computed by one convolution from the pixels (here ``stem_relu``) are drawn as
    their kernels over the pixels, each beside its sum over the colours; inputs further up
    (``dw_relu``, read by ``pw``) get feature visualizations, with no grey-level kernel."""
    circ, fig = circuits.show_circuit(separable_block, "pw", 0, from_layer="stem_relu", top=1,
                                      steps=2)
    assert circ.input_layer == "stem_relu"
    pixel = circuits.pixel_kernels(separable_block,
                                   circuits.effective_kernel(separable_block, "stem"))
    greys = [inset.get_images()[0].get_array() for ax in fig.axes for inset in ax.child_axes
             if inset.get_images() and inset.get_images()[0].get_cmap().name == "gray"]
    assert len(greys) == len(circ.connections)
    for grey, conn in zip(greys, circ.connections):
        np.testing.assert_allclose(grey, pixel[..., conn.channel].sum(-1), rtol=1e-5)
    assert any("grey level" in ax.get_title() for ax in fig.axes)
    plt.close(fig)
    circ, fig = circuits.show_circuit(separable_block, "pw", 0, from_layer="dw_relu", top=1,
                                      steps=2)
    assert not any(ax.child_axes for ax in fig.axes)
    plt.close(fig)


@pytest.mark.parametrize("rows", [1, 2, 4])
def test_rotated_pairs_titles_clear_the_row_above(rows):
    kernels = np.random.default_rng(0).normal(size=(3, 3, 3, 8)).astype(np.float32)
    pairs = [circuits.RotatedPair(2 * r, 2 * r + 1, 90, 0.9, 0.1) for r in range(rows)]
    fig = circuits.plot_rotated_pairs(kernels, pairs)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = np.array(fig.axes[:3 * rows]).reshape(rows, 3)  # then the colour bar
    for r in range(1, rows):
        for above, ax in zip(axes[r - 1], axes[r]):
            title = ax.title.get_window_extent(renderer)
            assert title.y1 <= above.get_window_extent(renderer).y0, f"row {r} title overlaps"
    title = fig._suptitle.get_window_extent(renderer)
    assert all(title.y0 >= ax.title.get_window_extent(renderer).y1 for ax in axes[0])
    plt.close(fig)


def test_show_circuit_and_picker_compute_feature_visualizations(tiny_cnn):
    circ, fig = circuits.show_circuit(tiny_cnn, "conv2", 1, top=1, steps=2)
    assert circ.unit == 1
    plt.close(fig)
    picker = circuits.circuit_picker(tiny_cnn, ["conv1", "conv2"], "conv2", 1, steps=2)
    controls = picker.children[0].children
    assert controls[1].max == 5  # conv2 has 6 units
    controls[0].value = "conv1"
    assert controls[1].max == 3
    with pytest.raises(ValueError, match="not a convolution"):
        circuits.circuit_picker(tiny_cnn, ["pool1"])


def test_expanded_circuits_rank_by_peak_by_default(tiny_cnn):
    assert circuits.circuit(tiny_cnn, "conv2", 0).rank == "sum"
    assert circuits.circuit(tiny_cnn, "conv2", 0, from_layer="conv1").rank == "peak"


def test_weakly_similar_rotations_are_not_pairs():
    rng = np.random.default_rng(3)
    kernels = rng.normal(size=(5, 5, 3, 2)).astype(np.float32)
    kernels[..., 1] = -kernels[..., 0] + np.rot90(kernels[..., 0]) * 0.3  # anti-correlated
    assert circuits.rotated_pairs(kernels, angles=(90,), margin=0.2, min_similarity=0.9) == []
    assert circuits.rotated_pairs(kernels, angles=(90,), margin=0.2, min_similarity=0.0)


def test_circuits_from_the_pixels_draw_colours_and_refuse_feature_pictures(tiny_cnn):
    circ, fig = circuits.show_circuit(tiny_cnn, "conv1", 0, steps=2)
    assert circ.input_layer == circuits.input_layer_name(tiny_cnn)
    assert {c.channel for c in circ.connections} <= {0, 1, 2}
    plt.close(fig)
    with pytest.raises(ValueError, match="input"):
        circuits.feature_images(tiny_cnn, circuits.input_layer_name(tiny_cnn), [0])


def test_picker_button_draws_the_chosen_circuit(separable_block, monkeypatch):
    calls = []

    def fake_show_circuit(model, layer, unit, from_layer=None, **kwargs):
        calls.append((layer, unit, from_layer))
        return None, plt.figure()

    monkeypatch.setattr(circuits.pictures, "show_circuit", fake_show_circuit)
    picker = circuits.circuit_picker(separable_block, ["stem", "pw"], "pw", 4)
    (layer_box, unit_box, button), status, out = picker.children[0].children, \
        *picker.children[1:]
    assert calls == [("pw", 4, "stem_relu")]  # the default circuit, drawn at once
    button.click()
    layer_box.value, unit_box.value = "stem", 3
    button.click()
    # the pointwise layer reads through the depthwise one, the first layer its own kernel
    assert calls == [("pw", 4, "stem_relu")] * 2 + [("stem", 3, None)]
    assert len(out.outputs) == 1 and status.value.startswith("drawn in")  # replaced, not stacked
    assert not plt.get_fignums()


def test_feature_visualization_leaves_the_weights_reading_alone(separable_block):
    """Ascent calls the layers again on other image sizes; the graph walk must not see the
    extra calls as new branches (the batch norm after a convolution would be lost)."""
    before = circuits.expanded_weights(separable_block, "image", "pw")
    circuits.feature_images(separable_block, "pw_relu", [0, 1], steps=2, size=24)
    np.testing.assert_array_equal(circuits.expanded_weights(separable_block, "image", "pw"),
                                  before)
    assert circuits.feature_map_of(separable_block, "pw") == "pw_relu"


# --- where notebook 05 looks, chance levels, first-layer pictures --------------------------------

@pytest.mark.parametrize("name", ["shapes", "mobilenet", "mobilenet_small", "mobilenet_v2",
                                  "vgg16"])
def test_every_supported_model_has_layer_choices_that_work(name):
    from helpers.models import MODEL_NAMES, load_model

    assert set(MODEL_NAMES) <= set(circuits.CHOICES)
    vm = load_model(name, weights=None)  # the real architecture; the weights do not matter
    found = circuits.choices(vm)
    assert found["circuit"] in found["layers"] and found["picker"] in found["layers"]
    circuits.circuit(vm, found["circuit"], 0,
                     from_layer=circuits.default_from_layer(vm, found["circuit"]))
    assert circuits.linear_path(vm, *found["expanded"]).field > 3
    assert circuits.linear_path(vm, circuits.input_layer_name(vm), found["equivariance"]).field > 3
    assert len(vm.model.get_layer(found["tuning"]).output.shape) == 4
    for layer in found["layers"]:  # each offered layer's circuit reads from a chain of layers
        source = circuits.default_from_layer(vm, layer) or circuits.feature_source(vm, layer)
        pixels = circuits.input_layer_name(vm)
        assert source == pixels or circuits.graph.chain_between(vm, pixels, source)


def test_choices_for_an_unknown_model_name_the_fix(tiny_cnn):
    with pytest.raises(ValueError, match="known: shapes"):
        circuits.choices(tiny_cnn)


def test_matching_chance_is_the_hypergeometric_law_and_adds_up_over_units():
    np.testing.assert_allclose(circuits.matching_chance([[1, 1, 0, 0]], [2]),
                               [1 / 6, 4 / 6, 1 / 6])
    import itertools

    units = [([1, 0, 0, 1, 0], 2), ([0, 1, 1], 2), ([1, 0, 0, 0], 1)]
    counts = np.zeros(6)
    for draws in itertools.product(*[itertools.combinations(range(len(m)), n) for m, n in units]):
        counts[sum(units[u][0][i] for u, d in enumerate(draws) for i in d)] += 1
    np.testing.assert_allclose(circuits.matching_chance(*zip(*units)), counts / counts.sum())
    with pytest.raises(ValueError, match="Cannot draw 3"):
        circuits.matching_chance([[1, 0]], [3])


def test_first_layer_features_are_pictured_by_their_kernels_over_rgb_pixels():
    """A BGR model (as VGG16's caffe preprocessing) whose unit 0 reads only the blue channel at
    the kernel's centre: its picture is blue there and grey elsewhere; a unit two convolutions
    up gets a gradient-ascent picture."""
    from helpers.models import VisModel

    keras.utils.set_random_seed(4)
    model = sequential((16, 16, 3), [
        keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="c1"),
        keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="c2")])
    kernel = np.zeros((3, 3, 3, 2), np.float32)
    kernel[1, 1, 0, 0] = 1.0  # BGR index 0 = blue
    kernel[:, :, :, 1] = 0.5
    model.get_layer("c1").set_weights([kernel, np.zeros(2, np.float32)])
    vm = VisModel("bgr", model, ("a",), (16, 16), lambda u: np.asarray(u)[..., ::-1] - 100.0)
    assert circuits.first_layer_conv(vm, "c1") == "c1"
    assert circuits.first_layer_conv(vm, "c2") is None
    picture = circuits.feature_images(vm, "c1", [0])[0]
    assert picture.shape == (24, 24, 3)
    centre, corner = picture[12, 12].astype(int), picture[0, 0].astype(int)
    assert centre[2] == 255 and abs(centre[0] - 128) <= 1 and abs(centre[1] - 128) <= 1
    assert np.abs(corner - 128).max() <= 1
    assert circuits.feature_images(vm, "c2", [0], steps=2)[0].shape[-1] == 3
    circ, fig = circuits.show_circuit(vm, "c2", 0, top=1, steps=2)
    assert any("kernels" in ax.get_title() for ax in fig.axes)
    plt.close(fig)


def test_a_bare_keras_model_gets_first_layer_kernel_pictures_as_a_minus_one_to_one_model(
        tiny_cnn):
    """A Keras model without a VisModel reads [-1, 1] input (``preprocess_fn``'s convention),
    so its first-layer features get the kernel pictures a VisModel with that preprocessing gets."""
    from helpers.models import VisModel

    vm = VisModel("tiny", tiny_cnn, ("a", "b", "c"), (16, 16), lambda u: u / 127.5 - 1.0)
    bare, wrapped = (circuits.feature_images(m, "conv1", [0, 1]) for m in (tiny_cnn, vm))
    for c in (0, 1):
        np.testing.assert_array_equal(bare[c], wrapped[c])
        assert bare[c].shape == (24, 24, 3)  # a 3x3 kernel, each weight an 8-pixel square


def test_feature_visualizations_are_computed_once(tiny_cnn, monkeypatch):
    from helpers import ascent

    calls = []
    real = ascent.maximize_filters

    def counting(model, layer, units, **kwargs):
        calls.append(list(units))
        return real(model, layer, units, **kwargs)

    monkeypatch.setattr(ascent, "maximize_filters", counting)
    first = circuits.feature_images(tiny_cnn, "conv2", [4, 5], steps=2, seed=7)
    again = circuits.feature_images(tiny_cnn, "conv2", [5, 4], steps=2, seed=7)
    assert calls == [[4, 5]]
    for c in (4, 5):
        assert again[c] is None and first[c] is None or np.array_equal(again[c], first[c])


def test_a_bare_keras_model_is_tuned_as_a_minus_one_to_one_model(shapes_model):
    size = shapes_model.input_size[0]
    grid = stimuli.edges(size)
    bare = circuits.orientation_tuning(shapes_model.model, "block1_conv1", grid,
                                       preprocess=lambda x: x / 127.5 - 1.0)
    default = circuits.orientation_tuning(shapes_model.model, "block1_conv1", grid)
    np.testing.assert_allclose(default.responses, bare.responses, rtol=1e-5, atol=1e-5)
