import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers import probes, stimuli
from helpers._core.activations import centre_units


@pytest.mark.parametrize("size", [8, 33, 96, 224])
def test_probes_at_any_size(size):
    bank = probes.probe_set(size)
    assert bank.images.shape == (18, size, size, 3) and bank.images.dtype == np.uint8
    assert len(bank) == len(bank.names) == len(bank.kinds) == len(bank.angles) == 18
    assert list(bank.of_kind("colour")) == list(range(12, 18))


def _probe(bank, name):
    return bank.images[bank.names.index(name)]


def test_edge_is_bright_on_the_side_its_angle_points_to():
    bank = probes.probe_set(32)
    right = _probe(bank, "edge 0°").astype(int)
    up = _probe(bank, "edge 90°").astype(int)
    assert right[:, -4:].min() > 200 and right[:, :4].max() < 60
    assert up[:4].min() > 200 and up[-4:].max() < 60  # row 0 is the top of the screen
    # theta and theta + 180 are the same edge with opposite polarity
    assert np.abs(_probe(bank, "edge 45°").astype(int) + _probe(bank, "edge 225°") - 255).max() <= 1


def test_edge_is_grey_only_and_centred():
    image = probes.on_grey(stimuli.edge(31, 30))
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()
    assert image[15, 15, 0] == pytest.approx(128, abs=1)  # the boundary crosses the centre


def test_probes_are_the_stimuli_at_their_contrast_around_grey():
    """One renderer: a probe is stimuli's drawing, 0 -> 128 - 127.5 c and 1 -> 128 + 127.5 c."""
    bank = probes.probe_set(24, period=6, contrast=0.5)
    level = stimuli.edge(24, 135)
    np.testing.assert_allclose(_probe(bank, "edge 135°")[..., 0],
                               np.round(255 * (0.25 + 0.5 * level)), atol=1)
    wave = stimuli.grating(24, 45, period=6)
    np.testing.assert_allclose(_probe(bank, "grating 45°")[..., 1],
                               np.round(255 * (0.25 + 0.5 * wave)), atol=1)


def test_grating_period_and_orientation():
    bank = probes.probe_set(33, period=8)
    across = _probe(bank, "grating 0°")[..., 0].astype(int)
    assert np.abs(across[:, :25] - across[:, 8:33]).max() <= 1  # repeats every 8 pixels
    assert (across == across[0]).all()  # at 0 degrees the stripes are vertical
    assert across[0, 16] == across.max()  # a bright stripe through the centre
    stripes = _probe(bank, "grating 90°")[..., 0]
    assert (stripes == stripes[:, :1]).all()  # at 90 degrees they are horizontal


def test_color_patch_by_name_and_triple():
    assert (probes.color_patch(10, "red") == probes.COLORS["red"]).all()
    assert (probes.color_patch(10, (1, 2, 3)) == (1, 2, 3)).all()


@pytest.mark.parametrize("make, message", [
    (lambda: probes.probe_set(4), "at least 8 pixels"),
    (lambda: probes.probe_set(32, contrast=0), r"contrast must be in \(0, 1\]"),
    (lambda: probes.probe_set(32, period=1.5), "period must be at least 2"),
    (lambda: probes.color_patch(4, "red"), "at least 8 pixels"),
    (lambda: probes.color_patch(32, "purple"), "Unknown colour 'purple'; use one of red"),
    (lambda: probes.color_patch(32, (300, 0, 0)), r"\(R, G, B\) triple of values in 0-255"),
    (lambda: probes.probe_set(32).of_kind("line"), "'edge', 'grating' and 'colour'"),
    (lambda: probes.orientation_selectivity(np.zeros((6, 2)), probes.Probes(
        np.zeros((6, 8, 8, 3)), ("red",) * 6, ("colour",) * 6, np.full(6, np.nan))),
     "no edges"),
])
def test_bad_probe_parameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_central_units():
    assert centre_units(5, 5).sum() == 1 and centre_units(5, 5)[2, 2]
    even = centre_units(6, 4)
    assert even.sum() == 4 and even[2:4, 1:3].all()


@pytest.fixture(scope="module")
def edge_model():
    """Two hand-set ReLU channels: 0 fires on edges bright to the right, 1 bright above."""
    inputs = keras.Input((32, 32, 3))
    conv = keras.layers.Conv2D(2, 3, padding="same", activation="relu", use_bias=False,
                               name="edges")
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="gap")(conv(inputs)))
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
    kernel = np.zeros((3, 3, 3, 2), np.float32)
    kernel[..., 0] = sobel[..., None] / 3
    kernel[..., 1] = -sobel.T[..., None] / 3  # row 0 is the top: bright above is negative y
    conv.set_weights([kernel])
    return model


def test_hand_made_edge_detectors_are_found(edge_model):
    bank = probes.probe_set(32)
    responses = probes.probe_responses(edge_model, "edges", bank, lambda x: x / 255.0 - 0.5)
    assert responses.shape == (18, 2)
    assert list(probes.favourite_probes(responses)) == [0, 2]  # edge 0°, edge 90°
    assert bank.names[responses[:, 0].argmax()] == "edge 0°"
    assert bank.names[responses[:, 1].argmax()] == "edge 90°"
    colours = bank.of_kind("colour")
    assert np.allclose(responses[colours], 0, atol=1e-5)  # a uniform field has no edge
    preferred, index = probes.orientation_selectivity(responses, bank)
    assert list(preferred) == [0, 90]
    assert (index > 0.9).all()


def test_baseline_removes_a_channels_bias(edge_model):
    """A bias shifts every raw response, but not the response evoked by a probe."""
    kernel = edge_model.get_layer("edges").get_weights()[0]
    inputs = keras.Input((32, 32, 3))
    conv = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="edges")
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([kernel, np.array([1.0, 1.0], np.float32)])
    bank = probes.probe_set(32)
    preprocess = lambda x: x / 255.0 - 0.5  # noqa: E731
    raw = probes.probe_responses(model, "edges", bank, preprocess, baseline=False)
    evoked = probes.probe_responses(model, "edges", bank, preprocess)
    assert raw[bank.of_kind("colour")].min() == pytest.approx(1.0, abs=1e-4)  # the bias
    assert np.abs(evoked[bank.of_kind("colour")]).max() < 1e-4
    assert (probes.orientation_selectivity(evoked, bank)[1] > 0.9).all()
    assert (probes.orientation_selectivity(raw, bank)[1] < 0.9).all()  # diluted by the bias


def test_silent_channel_has_zero_selectivity():
    bank = probes.probe_set(16)
    preferred, index = probes.orientation_selectivity(np.zeros((18, 3)), bank)
    assert (index == 0).all() and not np.isnan(index).any()


@pytest.mark.parametrize("layer, message", [
    ("edgez", "no layer 'edgez'.*Closest: edges"),
    ("gap", "not a spatial"),
])
def test_probe_responses_need_a_spatial_layer(edge_model, layer, message):
    with pytest.raises(ValueError, match=message):
        probes.probe_responses(edge_model, layer, probes.probe_set(32), lambda x: x / 255.0)


def test_figures(edge_model):
    bank = probes.probe_set(32)
    responses = probes.probe_responses(edge_model, "edges", bank, lambda x: x / 255.0 - 0.5)
    fig = probes.show_probe_responses(bank, responses, title="edges")
    heat = fig.axes[0].images[0].get_array()
    assert heat.shape == (2, 18) and np.nanmax(heat) == pytest.approx(1.0)
    fig = probes.show_edge_tuning(bank, responses, [1, 0])
    assert fig.axes[0].get_title().startswith("channel 1: likes edge 90°\nselectivity 1.00")
    plt.close("all")
    with pytest.raises(ValueError, match="at least one channel"):
        probes.show_edge_tuning(bank, responses, [])


def test_an_edge_detector_is_a_channel_an_edge_drives_twice_as_much_as_a_flat_field():
    bank = probes.probe_set(16)
    responses = np.zeros((18, 6), np.float32)
    edge_0, edge_90, edge_270, red = 0, 2, 6, 12
    responses[edge_0, 0] = 1.0                          # an edge is its favourite and it needs it
    responses[edge_0, 1] = 1.0                          # the same favourite, but ...
    responses[[edge_0, edge_90, edge_270], 2] = 1.0, 0.8, 0.8   # unselective: still an edge
    responses[red, 3] = 1.0                             # a colour patch is its favourite
    responses[:, 4] = -1.0                              # every probe suppresses it
    responses[red, 5] = 1.0                             # a colour favourite, but it needs edges
    needs_edge = np.array([0.5, 0.0, 0.5, 0.0, 0.0, 1 / 3])  # ... 1: a flat field does as much
    kinds = probes.channel_kinds(responses, bank, needs_edge)
    assert list(kinds) == ["edge", "edge side", "edge", "colour", "none", "edge"]
    assert set(kinds) <= set(probes.KINDS)
    assert probes.EDGE_THRESHOLD == pytest.approx(1 / 3)
    strict = probes.channel_kinds(responses, bank, needs_edge, threshold=0.4)
    assert strict[5] == "colour"


def test_channel_kinds_check_their_input():
    bank = probes.probe_set(16)
    with pytest.raises(ValueError, match=r"responses must be \(num_probes=18, channels\)"):
        probes.channel_kinds(np.zeros((17, 2)), bank, np.zeros(2))
    with pytest.raises(ValueError, match=r"needs_edge must have one value per channel \(2\)"):
        probes.channel_kinds(np.zeros((18, 2)), bank, np.zeros(3))


def test_needs_edge_tells_edge_detectors_from_brightness_channels():
    """Sobel channels answer an edge and never a flat field (1); a channel summing its
    window answers a white field at least as much as any edge (<= 0)."""
    inputs = keras.Input((33, 33, 3))
    conv = keras.layers.Conv2D(3, 3, padding="same", activation="relu", use_bias=False,
                               name="conv")
    model = keras.Model(inputs, conv(inputs))
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
    kernel = np.zeros((3, 3, 3, 3), np.float32)
    kernel[..., 0] = sobel[..., None]
    kernel[..., 1] = -sobel.T[..., None]
    kernel[..., 2] = 1.0 / 27  # brightness
    conv.set_weights([kernel])
    score = probes.needs_edge(model, "conv", preprocess=lambda x: x / 255.0)
    assert score.shape == (3,)
    np.testing.assert_allclose(score[:2], 1.0)
    assert score[2] <= 0


def test_a_vis_model_brings_its_own_preprocessing(shapes_model):
    bank = probes.probe_set(96)
    own = probes.probe_responses(shapes_model, "block1_conv1", bank)
    keras_model = probes.probe_responses(shapes_model.model, "block1_conv1", bank,
                                         preprocess=shapes_model.preprocess_fn)
    np.testing.assert_allclose(own, keras_model, rtol=1e-5, atol=1e-5)
    assert probes.needs_edge(shapes_model, "block1_conv1").shape == (own.shape[1],)
