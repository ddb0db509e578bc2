import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import plotting  # noqa: E402


@pytest.mark.parametrize("n, ncols, expected", [
    (1, None, (1, 1)), (16, None, (4, 4)), (17, None, (4, 5)), (64, 8, (8, 8)),
    (3, 8, (1, 3)), (1000, None, (32, 32)),
])
def test_grid_shape_holds_every_panel(n, ncols, expected):
    rows, cols = plotting.grid_shape(n, ncols)
    assert (rows, cols) == expected and rows * cols >= n > (rows - 1) * cols


def test_grid_needs_a_panel():
    with pytest.raises(ValueError, match="at least one panel"):
        plotting.grid_shape(0)


def test_normalize_channels_scales_each_to_its_max_and_keeps_dead_black():
    maps = np.zeros((2, 2, 3), dtype=np.float32)
    maps[..., 0] = [[0, 2], [4, 8]]
    maps[..., 1] = [[-1, 0.5], [0, 0]]
    out = plotting.normalize_channels(maps)
    assert out[..., 0].max() == 1 and out[0, 1, 0] == 0.25
    assert out[0, 0, 1] == 0 and out[0, 1, 1] == 1
    assert (out[..., 2] == 0).all()


def test_show_channels_draws_one_titled_panel_per_channel():
    fig = plotting.show_channels(np.random.default_rng(0).random((5, 5, 10)), ncols=4)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == [str(i) for i in range(10)]
    assert len(fig.axes) == 12  # 3 rows x 4 columns, two left blank
    plt.close(fig)


def test_show_channels_rejects_bad_channel():
    with pytest.raises(ValueError, match=r"Channel\(s\) \[10\] out of range.*0 to 9"):
        plotting.show_channels(np.zeros((5, 5, 10)), channels=[1, 10])


def test_show_images_checks_titles():
    with pytest.raises(ValueError, match="2 titles for 3 images"):
        plotting.show_images([np.zeros((2, 2))] * 3, titles=["a", "b"])


def test_overlay_upsamples_heatmap_to_image():
    image = np.zeros((40, 60, 3), dtype=np.uint8)
    heat = np.zeros((4, 6))
    heat[0, 0] = 1.0
    out = plotting.overlay(image, heat, alpha=1.0, cmap="gray")
    assert out.shape == (40, 60, 3)
    assert out[0, 0].mean() > 0.9 and out[-1, -1].mean() < 0.05


def test_overlay_rejects_bad_alpha_and_3d_heatmap():
    with pytest.raises(ValueError, match="opacity"):
        plotting.overlay(np.zeros((4, 4, 3)), np.zeros((2, 2)), alpha=2)
    with pytest.raises(ValueError, match="must be 2-D"):
        plotting.overlay(np.zeros((4, 4, 3)), np.zeros((2, 2, 2)))


def test_frame_draws_thin_spines_without_ticks_around_images_only():
    # an edge's white half would vanish into the white page without a frame
    images = [np.tile(np.arange(16) >= 8, (16, 1)).astype(float)] * 3
    fig = plotting.show_images(images, ncols=2, cmap="gray", frame=True)
    framed, empty = fig.axes[:3], fig.axes[3]
    for ax in framed:
        assert ax.axison and not ax.get_xticks().size and not ax.get_yticks().size
        assert all(s.get_visible() and s.get_edgecolor()[:3] == (0.55, 0.55, 0.55)
                   for s in ax.spines.values())
    assert not empty.axison  # the unused panel stays blank
    assert not plotting.show_images(images[:1]).axes[0].axison  # no frame by default
    plt.close("all")


def test_channels_of_one_image_only():
    with pytest.raises(ValueError, match=r"one image's activations.*got shape \(2, 5, 5, 3\)"):
        plotting.show_channels(np.zeros((2, 5, 5, 3)))
    np.testing.assert_array_equal(plotting.one_image_maps(np.ones((1, 2, 2, 3))), np.ones((2, 2, 3)))
