"""helpers.cam_figures: notebook 04's figures draw what they say, and report what they check."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import cam_figures, occlusion  # noqa: E402
from helpers.patch_curves import PatchCurve  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def image():
    return np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)


def test_occlusion_figure_fills_the_patch_of_the_largest_drop_with_the_mean_colour(image):
    rows, cols, patch, _ = occlusion.grid(image.shape[:2])
    drops = np.zeros((len(rows), len(cols)), np.float32)
    drops[2, 5], drops[7, 1] = 3.0, -1.0
    fig = cam_figures.occlusion_figure(image, drops, "star")
    shown = fig.axes[0].images[0].get_array()
    block = shown[rows[2]:rows[2] + patch, cols[5]:cols[5] + patch]
    assert np.all(block == image.mean(axis=(0, 1)).astype(np.uint8))
    outside = np.ones(image.shape[:2], bool)
    outside[rows[2]:rows[2] + patch, cols[5]:cols[5] + patch] = False
    np.testing.assert_array_equal(shown[outside], image[outside])
    # the drops themselves, on a scale symmetric about 0
    assert fig.axes[1].images[0].get_clim() == (-3.0, 3.0)
    assert "by 3.00" in fig.axes[0].get_title() and "star" in fig.axes[1].get_title()


def test_occlusion_figure_rejects_drops_of_another_grid(image):
    with pytest.raises(ValueError, match="patch and stride"):
        cam_figures.occlusion_figure(image, np.zeros((5, 5)), "star")


def test_grad_cam_steps_figure_shows_the_channel_of_the_largest_alpha_and_the_signed_sum(image):
    rng = np.random.default_rng(1)
    A = rng.uniform(0, 6, (12, 12, 8)).astype(np.float32)
    alpha = np.array([0.1, -0.2, 0.5, 0.0, -0.1, 0.3, -0.4, 0.2], np.float32)
    heat = np.maximum(A @ alpha, 0) / (A @ alpha).max()
    fig = cam_figures.grad_cam_steps_figure(image, A, alpha, heat, "star")
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), A[..., 2])
    assert "channel 2" in fig.axes[0].get_title()
    heights = [bar.get_height() for bar in fig.axes[1].patches]
    np.testing.assert_allclose(heights, np.sort(alpha)[::-1])
    signed = [ax for ax in fig.axes if ax.images and ax.images[0].get_cmap().name == "RdBu_r"]
    np.testing.assert_allclose(signed[0].images[0].get_array(), A @ alpha, rtol=1e-5)
    low, high = signed[0].images[0].get_clim()
    assert low == -high                     # symmetric about 0: white means 0
    assert "Grad-CAM: star" in [ax.get_title() for ax in fig.axes]


def test_grad_cam_steps_figure_needs_one_alpha_per_channel(image):
    with pytest.raises(ValueError, match="one alpha per channel"):
        cam_figures.grad_cam_steps_figure(image, np.zeros((7, 7, 4)), np.zeros(3),
                                          np.zeros((7, 7)), "star")


def test_maps_on_objects_counts_a_peak_on_or_near_its_mask_as_a_hit(image):
    masks = np.zeros((2, 96, 96), bool)
    masks[0, 10:30, 10:30] = masks[1, 60:80, 60:80] = True
    maps = np.zeros((2, 12, 12), np.float32)
    maps[0, 2, 2] = 1.0     # cell centre (20, 20): inside the first mask
    maps[1, 1, 10] = 1.0    # cell centre (12, 84): far from the second
    fig, hits = cam_figures.maps_on_objects(image, maps, masks, ["a", "b"])
    np.testing.assert_array_equal(hits, [True, False])
    assert len(fig.axes) == 3 and [ax.get_title() for ax in fig.axes[1:]] == ["a", "b"]


def test_maps_on_objects_needs_one_mask_and_title_per_map(image):
    with pytest.raises(ValueError, match="one mask and one title per map"):
        cam_figures.maps_on_objects(image, np.zeros((2, 12, 12)), np.zeros((1, 96, 96)),
                                    ["a", "b"])


def test_patch_curves_figure_draws_each_curve_with_its_two_aucs_in_one_legend():
    fractions = np.linspace(0, 1, 5)
    deletion = {m: PatchCurve(m, fractions, np.linspace(0.9, s, 5), "deletion")
                for m, s in (("Grad-CAM", 0.0), ("random order", 0.5))}
    insertion = {m: PatchCurve(m, fractions, np.linspace(0.1, s, 5), "insertion")
                 for m, s in (("Grad-CAM", 0.9), ("random order", 0.5))}
    fig = cam_figures.patch_curves_figure(deletion, insertion, "title")
    labels = [text.get_text() for text in fig.axes[1].get_legend().get_texts()]
    assert labels == [f"{m} ({deletion[m].auc:.3f} / {insertion[m].auc:.3f})" for m in deletion]
    for ax, curves in zip(fig.axes, (deletion, insertion)):
        np.testing.assert_allclose(ax.lines[0].get_ydata(), curves["Grad-CAM"].mean)
        assert ax.lines[-1].get_linestyle() == "--"   # random order, dashed
    assert fig.axes[0].lines[0].get_color() == fig.axes[1].lines[0].get_color()
    assert "deletion" in fig.axes[0].get_title() and "insertion" in fig.axes[1].get_title()


def test_patch_curves_figure_shows_a_method_equal_to_an_earlier_one_dotted_and_says_so():
    fractions = np.linspace(0, 1, 5)
    same = np.linspace(0.9, 0.1, 5)
    curves = {m: PatchCurve(m, fractions, same, "deletion") for m in ("Grad-CAM", "HiResCAM")}
    fig = cam_figures.patch_curves_figure(curves, curves)
    labels = [text.get_text() for text in fig.axes[1].get_legend().get_texts()]
    assert labels[1] == "HiResCAM (0.500 / 0.500), = Grad-CAM"
    assert fig.axes[0].lines[1].get_linestyle() == ":"


def test_patch_curves_figure_needs_the_same_methods_on_both_sides():
    curve = PatchCurve("Grad-CAM", np.linspace(0, 1, 3), np.ones(3))
    with pytest.raises(ValueError, match="same methods"):
        cam_figures.patch_curves_figure({"Grad-CAM": curve}, {"LayerCAM": curve})
