from types import SimpleNamespace

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers import explorer, plotting


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 9, 16, 24, 48, 63, 64, 100, 256, 1000])
def test_grid_layout_for_any_channel_count(count):
    height, width = 3, 2
    maps = np.arange(height * width * count, dtype=np.float32).reshape(height, width, count)
    mosaic = explorer.tile(maps, ncols=8, gap=1)
    cols = min(count, 8)
    rows = -(-count // cols)
    assert mosaic.shape == (rows * (height + 1) - 1, cols * (width + 1) - 1)
    for channel in (0, count // 2, count - 1):  # every channel lands in its own slot
        r, c = divmod(channel, cols)
        top, left = r * (height + 1), c * (width + 1)
        np.testing.assert_array_equal(mosaic[top:top + height, left:left + width],
                                      maps[..., channel])
    assert np.isfinite(mosaic).sum() == height * width * count  # gaps and empty slots: NaN


@pytest.mark.parametrize("count", [1, 3, 16, 65])
def test_activation_grid_figure(count):
    maps = np.random.default_rng(0).random((6, 6, count)).astype(np.float32)
    maps[..., 0] = 0.0
    fig = explorer.show_activation_grid(maps, title="layer")
    title = fig.axes[0].get_title()
    shown = min(count, explorer.PER_PAGE)
    assert title.startswith(f"layer: {shown} of {count} channels") and "1 silent" in title
    assert ("page 1 of 2" in title) == (count > explorer.PER_PAGE)
    plt.close(fig)


def test_pages():
    assert explorer.page_of(range(100), 1, 64) == list(range(64, 100))
    with pytest.raises(ValueError, match=r"Page 2 does not exist: 100 channels make 2 page\(s\)"):
        explorer.page_of(range(100), 2, 64)


def test_scales():
    maps = np.zeros((2, 2, 3), np.float32)
    maps[..., 0] = [[1, 2], [3, 4]]
    maps[..., 1] = [[0, 0], [0, 8]]
    by_channel = explorer.scale_maps(maps, "channel")
    assert by_channel[..., 0].max() == 1 and by_channel[..., 1].max() == 1
    assert (by_channel[..., 2] == 0).all()  # an all-zero channel stays black, no NaN
    by_layer = explorer.scale_maps(maps, "layer")
    assert by_layer[1, 1, 0] == 0.5 and by_layer[1, 1, 1] == 1.0
    with pytest.raises(ValueError, match="scale must be one of"):
        explorer.scale_maps(maps, "image")


@pytest.mark.parametrize("call, message", [
    (lambda m: explorer.show_activation_grid(m, channels=[0, 16]),
     r"Channel\(s\) \[16\] out of range: this layer has 16 channels \(0 to 15\)"),
    (lambda m: explorer.show_activation_grid(m[None, None]), r"\(H, W, C\) or \(1, H, W, C\)"),
    (lambda m: explorer.show_activation_grid(m, page=1), "Page 1 does not exist"),
    (lambda m: explorer.show_early_vs_late({}), "at least one layer"),
])
def test_bad_grid_input(call, message):
    with pytest.raises(ValueError, match=message):
        call(np.ones((4, 4, 16), np.float32))


def test_early_vs_late_mosaics_have_the_same_size():
    fig = explorer.show_early_vs_late({"early": np.ones((32, 32, 4)), "late": np.ones((4, 4, 64))})
    first, second = (ax.get_position() for ax in fig.axes)
    assert first.width == pytest.approx(second.width, rel=0.05)
    assert "64 maps of 4x4" in fig.axes[1].get_title()
    plt.close(fig)


@pytest.fixture
def tiny_vm(tiny_cnn):
    return SimpleNamespace(model=tiny_cnn, feature_layers=lambda: ["conv1", "conv2"],
                           preprocess=lambda image: np.asarray(image, np.float32)[None] / 255.0)


@pytest.fixture
def images(rng):
    return {"a": rng.integers(0, 256, (16, 16, 3), dtype=np.uint8),
            "b": rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)}


def test_features_are_computed_once_per_image(tiny_vm, images):
    ex = explorer.ActivationExplorer(tiny_vm, images)
    calls = []
    forward = ex._extractor
    ex._extractor = lambda *args, **kwargs: calls.append(1) or forward(*args, **kwargs)
    first = ex.features("a", "conv2")
    assert first.shape == (8, 8, 6)
    assert ex.features("a", "conv1").shape == (16, 16, 4)
    ex.figure("a", "conv2", 3)
    plt.close("all")
    assert len(calls) == 1 and ex.features("a", "conv2") is first
    ex.features("b", "conv1")
    assert len(calls) == 2


def test_a_keras_model_is_explored_with_its_feature_layers(tiny_cnn, images):
    ex = explorer.ActivationExplorer(tiny_cnn, images)
    assert ex.layers == ["conv1", "conv2"]
    x = np.asarray(images["a"], np.float32)[None] / 127.5 - 1.0  # MobileNet's convention
    direct = tiny_cnn.get_layer("conv1").output
    np.testing.assert_allclose(ex.features("a", "conv1"), keras.ops.convert_to_numpy(
        keras.Model(tiny_cnn.input, direct)(x))[0], rtol=1e-5, atol=1e-6)


def test_spotlight_dims_where_the_map_is_zero():
    image = np.full((8, 8, 3), 200, np.uint8)
    heat = np.zeros((2, 2), np.float32)
    heat[0, 0] = 1.0
    lit = explorer.spotlight(image, heat, floor=0.1)
    assert lit.shape == (8, 8, 3)
    assert lit[0, 0, 0] == pytest.approx(200 / 255) and lit[7, 7, 0] == pytest.approx(20 / 255)
    with pytest.raises(ValueError, match=r"floor is a brightness in \[0, 1\]"):
        explorer.spotlight(image, heat, floor=2)


def test_top_channels_are_sorted(tiny_vm, images):
    ex = explorer.ActivationExplorer(tiny_vm, images, top_k=3)
    order, means = ex.top_channels("a", "conv2")
    assert len(order) == 3 and (np.diff(means) <= 0).all()
    assert means[0] == pytest.approx(ex.features("a", "conv2").mean(axis=(0, 1)).max())


def test_figure_shows_photo_map_and_top_channels(tiny_vm, images):
    ex = explorer.ActivationExplorer(tiny_vm, images, top_k=3)
    fig = ex.figure("a", "conv2", channel=5)
    assert fig.axes[1].get_title() == "conv2[5]: 8x8 map"
    assert fig.axes[1].images[0].get_array().shape == (8, 8)
    # the same colormap as every activation grid of the series
    assert fig.axes[1].images[0].get_cmap().name == "viridis" == plotting.ACTIVATION_CMAP
    bars = fig.axes[2].patches
    assert len(bars) == 3 + (5 not in ex.top_channels("a", "conv2")[0])
    plt.close(fig)


@pytest.mark.parametrize("call, message", [
    (lambda ex: ex.features("a", "conv9"), "no layer 'conv9'. Closest: conv2, conv1"),
    (lambda ex: ex.features("a", "logits"), "not a spatial.*Pick a convolutional layer"),
    (lambda ex: ex.features("a", "pool1"), "not offered by this explorer; choose one of conv1"),
    (lambda ex: ex.features("c", "conv1"), "No image called 'c'; choose one of a, b"),
    (lambda ex: ex.figure("a", "conv2", 6), r"out of range: this layer has 6 channels \(0 to 5\)"),
    (lambda ex: ex.figure("a", "conv2", -1), r"\[-1\] out of range"),
])
def test_bad_explorer_input(tiny_vm, images, call, message):
    ex = explorer.ActivationExplorer(tiny_vm, images)
    with pytest.raises(ValueError, match=message):
        call(ex)


@pytest.mark.parametrize("kwargs, message", [
    ({"layer": "logits"}, "not a spatial"),
    ({"image": "c"}, "No image called 'c'"),
    ({"layer": "conv1", "channel": 4}, r"\[4\] out of range: this layer has 4 channels"),
])
def test_bad_default_view(tiny_vm, images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        explorer.activation_explorer(tiny_vm, images, **kwargs)


def test_explorer_needs_images_and_spatial_layers(tiny_vm):
    with pytest.raises(ValueError, match="at least one image"):
        explorer.ActivationExplorer(tiny_vm, {})
    with pytest.raises(ValueError, match="not a spatial"):
        explorer.ActivationExplorer(tiny_vm, {"a": np.zeros((16, 16, 3))}, layers=["logits"])


def test_widget_draws_the_default_view_and_follows_the_layer(tiny_vm, images):
    box, ex = explorer.activation_explorer(tiny_vm, images)
    controls, status, out = box.children
    pick_image, pick_layer, pick_channel, _, show = controls.children
    assert pick_layer.value == "conv2" and pick_channel.max == 5
    assert status.value.startswith("drawn in")  # the default figure was drawn right away
    assert len(out.outputs) == 1 and "image/png" in out.outputs[0]["data"]
    assert "a" in ex._cache
    pick_layer.value = "conv1"
    assert pick_channel.max == 3 and pick_channel.value <= 3
    status.value = ""
    first = out.outputs[0]["data"]["image/png"]
    show.click()
    assert status.value.startswith("drawn in")
    assert len(out.outputs) == 1 and out.outputs[0]["data"]["image/png"] != first  # replaced


def test_part_channel_skips_channels_that_fire_everywhere():
    maps = np.zeros((4, 4, 4), np.float32)
    maps[..., 0] = 5.0              # fires everywhere, strongest mean: the background
    maps[:2, :2, 1] = 3.0           # a quarter of the map: the part, mean 0.75
    maps[:3, :3, 2] = 1.0           # more than half of the map active: not silent enough
    maps[0, 0, 3] = 2.0             # one position: silent enough but weaker than channel 1
    assert int(maps.mean(axis=(0, 1)).argmax()) == 0
    assert explorer.part_channel(maps) == 1
    assert explorer.part_channel(maps[None], min_silent=0.0) == 0


def test_part_channels_rank_the_half_silent_channels_by_activity_and_stop_at_those():
    maps = np.zeros((4, 4, 4))
    maps[...] = 1.0                 # channel 0 fires everywhere
    maps[:, :, 1:] = 0.0
    maps[:2, :2, 1] = 5.0           # three channels fire on a quarter of the map
    maps[:2, :2, 2] = 9.0
    maps[2:, 2:, 3] = 7.0
    assert explorer.part_channels(maps, count=2) == [2, 3]
    assert explorer.part_channels(maps, count=10) == [2, 3, 1]
    with pytest.raises(ValueError, match="count is how many channels"):
        explorer.part_channels(maps, count=0)


def test_part_channel_falls_back_to_the_most_silent_active_channel():
    maps = np.ones((4, 4, 3), np.float32)
    maps[0, :, 1] = 0.0             # a quarter silent: the most silent
    maps[..., 2] = 0.0              # 0 everywhere: shows nothing, never picked
    assert explorer.part_channel(maps) == 1
    with pytest.raises(ValueError, match="Every channel is 0 everywhere"):
        explorer.part_channel(np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match=r"min_silent is a share of the map in \[0, 1\)"):
        explorer.part_channel(maps, min_silent=1.0)
