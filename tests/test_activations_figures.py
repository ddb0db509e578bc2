import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers import activations_figures as figures
from helpers import sparsity


def _planted_maps():
    """Four channels on an 8x8 map with the object in the left half."""
    mask = np.zeros((8, 8), bool)
    mask[:, :4] = True
    maps = np.zeros((8, 8, 4), np.float32)
    maps[:, :4, 0] = 2.0            # fires on the object only
    maps[:, 4:, 1] = 1.0            # fires on the background only
    maps[..., 2] = 3.0              # fires everywhere alike
    return maps, mask               # channel 3 is silent


def test_object_correlation_is_one_on_the_object_minus_one_around_it_and_zero_elsewhere():
    maps, mask = _planted_maps()
    np.testing.assert_allclose(figures.object_correlation(maps, mask), [1, -1, 0, 0], atol=1e-6)
    # a batch of one, and a mask at the image's resolution: resizing softens its border a little
    big = np.kron(mask, np.ones((4, 4), bool))
    np.testing.assert_allclose(figures.object_correlation(maps[None], big), [1, -1, 0, 0],
                               atol=0.01)


def test_object_correlation_is_zero_when_the_mask_covers_everything():
    maps, _ = _planted_maps()
    np.testing.assert_array_equal(figures.object_correlation(maps, np.ones((8, 8), bool)), 0)
    with pytest.raises(ValueError, match=r"one \(H, W\) map"):
        figures.object_correlation(maps, np.ones((1, 8, 8)))


def test_object_channels_rank_by_correlation_within_the_channels_asked_for():
    maps, mask = _planted_maps()
    assert figures.object_channels(maps, mask) == [0]
    assert figures.object_channels(maps, mask, count=4) == [0, 2, 3, 1]
    assert figures.object_channels(maps, mask, count=2, among=[1, 2]) == [2, 1]
    with pytest.raises(ValueError, match="empty"):
        figures.object_channels(maps, mask, among=[])


def test_the_lab_samples_come_with_their_true_masks(shapes_model):
    for name, image in shapes_model.samples.items():
        mask = figures.object_mask(shapes_model, image)
        assert mask.shape == image.shape[:2] and mask.dtype == bool
        known = [m for scene, m in figures._lab_samples() if np.array_equal(scene, image)]
        assert known, f"sample {name!r} is not drawn as the lab model draws it"
        assert 0.02 < mask.mean() < 0.5


def test_an_image_without_a_known_mask_gets_the_grad_cam_region(shapes_model):
    image = shapes_model.samples["circle"][:, ::-1].copy()   # mirrored: not a sample
    mask = figures.object_mask(shapes_model, image)
    assert mask.shape == (96, 96) and mask.any() and not mask.all()
    truth = figures.object_mask(shapes_model, shapes_model.samples["circle"])[:, ::-1]
    assert (mask & truth).sum() > 0.5 * truth.sum()   # it covers most of the circle
    with pytest.raises(ValueError, match=r"threshold"):
        figures.object_mask(shapes_model, image, threshold=0)


def test_show_maps_on_image_draws_the_image_then_each_map():
    maps, mask = _planted_maps()
    image = np.zeros((32, 32, 3), np.uint8)
    fig = figures.show_maps_on_image(image, {"a": maps[..., 0], "b": maps[..., 1]},
                                     np.kron(mask, np.ones((4, 4), bool)), title="scene")
    assert [ax.get_title() for ax in fig.axes] == ["scene", "a", "b"]
    plt.close(fig)
    with pytest.raises(ValueError, match="2-D"):
        figures.show_maps_on_image(image, {"a": maps})
    with pytest.raises(ValueError, match="at least one map"):
        figures.show_maps_on_image(image, {})


def test_sparsity_layers_are_the_rectified_maps_and_the_pools_between_them(tiny_cnn):
    layers = figures.sparsity_layers(tiny_cnn)
    assert layers == ["conv1", "pool1", "conv2"]
    assert figures.halvings(tiny_cnn, layers) == ["pool1"]


def test_the_lab_halves_its_maps_at_its_three_pools(shapes_model):
    layers = figures.sparsity_layers(shapes_model)
    assert figures.halvings(shapes_model, layers) == ["block1_pool", "block2_pool", "block3_pool"]


def test_plot_sparsity_draws_three_shares_on_one_axis(tiny_cnn, rng):
    x = rng.uniform(-1, 1, (5, 16, 16, 3)).astype(np.float32)
    layers = figures.sparsity_layers(tiny_cnn)
    stats = sparsity.distillation_stats(tiny_cnn, layers, x)
    fig = figures.plot_sparsity(stats, marks=figures.halvings(tiny_cnn, layers))
    (ax,) = fig.axes
    assert len(ax.get_lines()) == 3 + 1          # three shares and one halving
    assert ax.get_ylim() == pytest.approx((-0.02, 1.02))
    assert [t.get_text() for t in ax.get_xticklabels()] == layers
    plt.close(fig)
