"""Notebook 02's side-by-side figures: every picture lands in its own panel, in order."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers.dataset_examples import DatasetExamples  # noqa: E402
from helpers.filters_figures import show_beside, show_diversity, show_kernel_pairs  # noqa: E402


def fake_examples(unit: int, k: int, side: int = 11) -> DatasetExamples:
    """``k`` flat patches whose grey level is their rank (0, 1, ...), activations k .. 1."""
    patches = np.repeat(np.arange(k, dtype=np.uint8), side * side * 3).reshape(k, side, side, 3)
    return DatasetExamples("deep", unit, patches, np.arange(k, 0, -1, dtype=np.float32),
                           np.arange(k), np.zeros((k, 2), int), np.zeros((k, 4), int), 50)


def shown(ax) -> np.ndarray:
    return np.asarray(ax.get_images()[0].get_array())


def test_beside_puts_each_units_optimized_image_first_then_its_patches_in_order():
    optimized = np.stack([np.full((8, 8, 3), 200 + u, np.uint8) for u in range(3)])
    examples = [fake_examples(unit, 4) for unit in (5, 9, 2)]
    fig = show_beside(optimized, examples, labels=["a", "b", "c"])
    rows = np.reshape(fig.axes, (3, 5))
    for row, found, label in zip(rows, examples, "abc"):
        assert row[0].get_ylabel() == label
        assert shown(row[0])[0, 0, 0] == 200 + "abc".index(label)
        assert [shown(ax)[0, 0, 0] for ax in row[1:]] == [0, 1, 2, 3]
        assert [ax.get_title() for ax in row[1:]] == found.titles("{activation:.1f}")
    assert "top 4 patches of 50 images" in fig._suptitle.get_text()
    plt.close(fig)


def test_beside_labels_rows_by_unit_and_refuses_a_missing_image():
    fig = show_beside(np.zeros((1, 8, 8, 3), np.uint8), [fake_examples(7, 2)], fmt=None)
    assert fig.axes[0].get_ylabel() == "channel 7" and fig.axes[1].get_title() == ""
    plt.close(fig)
    with pytest.raises(ValueError, match="one optimized image per unit: got 1 images for 2"):
        show_beside(np.zeros((1, 8, 8, 3), np.uint8), [fake_examples(1, 2), fake_examples(2, 2)])


def test_diversity_shows_the_optimized_image_the_diverse_grid_and_the_patch_grid():
    diverse = np.stack([np.full((8, 8, 3), 100 + i, np.uint8) for i in range(4)])
    found = fake_examples(3, 9)
    fig = show_diversity(np.full((8, 8, 3), 50, np.uint8), diverse, found,
                         captions=["a", "b", "c", "d"])
    assert len(fig.axes) == 1 + 4 + 9
    assert shown(fig.axes[0])[0, 0, 0] == 50
    assert [shown(ax)[0, 0, 0] for ax in fig.axes[1:5]] == [100, 101, 102, 103]
    assert [ax.get_title() for ax in fig.axes[1:5]] == ["a", "b", "c", "d"]
    assert [shown(ax)[0, 0, 0] for ax in fig.axes[5:]] == list(range(9))
    plt.close(fig)
    with pytest.raises(ValueError, match="Got 2 captions for 4 diverse images"):
        show_diversity(diverse[0], diverse, found, captions=["a", "b"])


def test_kernel_pairs_draw_each_kernels_colour_planes_on_one_signed_scale():
    kernels = np.zeros((3, 3, 3, 3))
    kernels[0, 0, 0, 0], kernels[0, 1, 1, 2] = 0.02, -0.01     # red +max, blue -half
    kernels[1] = -2 * kernels[0]                                # opposite, twice as strong
    fig = show_kernel_pairs(kernels, [(0, 1, -1.0)])
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 2 * 3                                  # two kernels x R, G, B
    red0, blue0, red1 = shown(panels[0]), shown(panels[2]), shown(panels[3])
    assert red0[0, 0] == 1.0 and blue0[1, 1] == -0.5 and red1[0, 0] == -1.0
    assert all(ax.get_images()[0].get_clim() == (-1, 1) for ax in panels)
    assert [ax.get_title() for ax in panels[:3]] == ["R", "G", "B"]
    assert "0 and 1: cos -1.00" in fig.subfigs[0]._suptitle.get_text()
    plt.close(fig)


def test_kernel_pairs_refuse_no_pairs_and_kernels_that_are_not_rgb():
    with pytest.raises(ValueError, match="No pairs to show"):
        show_kernel_pairs(np.ones((2, 3, 3, 3)), [])
    with pytest.raises(ValueError, match="rgb_kernels"):
        show_kernel_pairs(np.ones((2, 3, 3, 4)), [(0, 1, 0.5)])
