"""helpers.occlusion: a model whose answer is known (its logit is the mean of one image
quadrant), a brute-force reference loop, the grid and its way back to the image, and the
two-object shapes scenes, where each class's map must peak on its own object."""

import keras
import numpy as np
import pytest

from helpers import faithfulness, occlusion, shapes
from helpers.occlusion import BASELINES

#: Fresh two-object scenes, far from the training seeds (as in test_faithfulness).
POINTING_SEED = 95_000
SIDE, QUADRANT = 32, 16


@pytest.fixture(scope="module")
def quadrant_model():
    """Logit 0 is the mean over the top-right 16 x 16 quadrant and the channels of a
    32 x 32 image; logit 1 is 0. Occluding anything else changes nothing."""
    inputs = keras.Input((SIDE, SIDE, 3))
    crop = keras.layers.Cropping2D(((0, SIDE - QUADRANT), (SIDE - QUADRANT, 0)))(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(crop)
    head = keras.layers.Dense(2, name="logits")
    model = keras.Model(inputs, head(pooled), name="quadrant")
    head.set_weights([np.stack([np.full(3, 1 / 3), np.zeros(3)], axis=1).astype(np.float32),
                      np.zeros(2, np.float32)])
    return model


@pytest.fixture(scope="module")
def x32():
    return np.random.default_rng(7).normal(size=(3, SIDE, SIDE, 3)).astype(np.float32)


def brute_force(model, x, cls, patch, stride, fill):
    """The drops by one model call per position, each position written out by hand."""
    starts = range(0, SIDE - patch + 1, stride)
    intact = model(x[None]).numpy()[0, cls]
    drops = np.zeros((len(starts), len(starts)))
    for i, r in enumerate(starts):
        for j, c in enumerate(starts):
            covered = x.copy()
            covered[r:r + patch, c:c + patch] = fill
            drops[i, j] = intact - model(covered[None]).numpy()[0, cls]
    return drops


def test_occlusion_peaks_exactly_on_the_quadrant_the_model_reads(quadrant_model):
    x = np.full((SIDE, SIDE, 3), 2.0, np.float32)  # logits (2, 0): not probabilities
    drops = occlusion.occlusion(quadrant_model, x, 0, patch=8, stride=4, baseline=0.0)
    starts = np.arange(0, SIDE - 8 + 1, 4)
    inside = (starts[:, None] + 8 <= QUADRANT) & (starts[None, :] >= SIDE - QUADRANT)
    np.testing.assert_array_equal(drops == drops.max(), inside)
    assert drops.max() == pytest.approx(2 * 8 * 8 / QUADRANT**2)  # a quarter of the quadrant
    outside = (starts[:, None] >= QUADRANT) | (starts[None, :] + 8 <= SIDE - QUADRANT)
    np.testing.assert_allclose(drops[outside], 0.0, atol=1e-6)


def test_occlusion_is_the_brute_force_drop_for_every_position(quadrant_model, x32):
    grey = 128 / 127.5 - 1  # a bare Keras model takes x / 127.5 - 1
    drops = occlusion.occlusion(quadrant_model, x32, 0, patch=8, stride=4, baseline="grey")
    for image, got in zip(x32, drops):
        np.testing.assert_allclose(got, brute_force(quadrant_model, image, 0, 8, 4, grey),
                                   atol=1e-5)
    mean = occlusion.occlusion(quadrant_model, x32[0], 0, patch=8, stride=4)  # default: mean
    np.testing.assert_allclose(mean, brute_force(quadrant_model, x32[0], 0, 8, 4,
                                                 x32[0].mean(axis=(0, 1))), atol=1e-5)


def test_the_softmax_objective_measures_the_drop_in_probability(quadrant_model, x32):
    drops = occlusion.occlusion(quadrant_model, x32[1], 1, patch=16, stride=8, baseline=0.5,
                                objective="softmax")

    def p1(image):
        logit = image[:QUADRANT, SIDE - QUADRANT:].mean()
        return 1 / (1 + np.exp(logit))  # softmax of (logit, 0), class 1

    expected = np.zeros((3, 3))
    for i, r in enumerate((0, 8, 16)):
        for j, c in enumerate((0, 8, 16)):
            covered = x32[1].copy()
            covered[r:r + 16, c:c + 16] = 0.5
            expected[i, j] = p1(x32[1]) - p1(covered)
    np.testing.assert_allclose(drops, expected, atol=1e-5)


def test_the_grid_is_centred_and_counts_the_positions_that_fit():
    rows, cols, patch, stride = occlusion.grid((30, 32), 8, 4)
    np.testing.assert_array_equal(rows, [1, 5, 9, 13, 17, 21])  # 2 px left over: 1 each side
    np.testing.assert_array_equal(cols, [0, 4, 8, 12, 16, 20, 24])
    assert occlusion.grid((96, 96))[2:] == (16, 8) == occlusion.default_patch((96, 96))
    assert len(occlusion.grid((96, 96))[0]) == 11
    assert occlusion.default_patch((224, 224)) == (37, 18)


@pytest.mark.parametrize("size, patch, stride", [((32, 32), 8, 4), ((30, 41), 8, 4),
                                                 ((96, 96), 16, 8), ((40, 40), 10, 2)])
def test_to_image_puts_each_value_on_its_patchs_centre(size, patch, stride):
    """A map whose values are the centres' row (column) numbers comes back as the pixel's own
    row (column) between the first and last centres: bilinear interpolation of a linear
    function is exact only if every value lands on its centre."""
    rows, cols, patch, stride = occlusion.grid(size, patch, stride)
    centre_rows, centre_cols = rows + (patch - 1) / 2, cols + (patch - 1) / 2
    by_row = np.repeat(centre_rows[:, None], len(cols), axis=1)
    by_col = np.repeat(centre_cols[None], len(rows), axis=0)
    up = occlusion.to_image(np.stack([by_row, by_col]), size, patch, stride)
    assert up.shape == (2, *size)
    inner_rows = np.arange(int(np.ceil(centre_rows[0])), int(centre_rows[-1]) + 1)
    inner_cols = np.arange(int(np.ceil(centre_cols[0])), int(centre_cols[-1]) + 1)
    np.testing.assert_allclose(up[0][np.ix_(inner_rows, inner_cols)],
                               np.broadcast_to(inner_rows[:, None], (len(inner_rows),
                                                                     len(inner_cols))),
                               atol=0.51)  # half a pixel when p - s is odd
    np.testing.assert_allclose(up[1][np.ix_(inner_rows, inner_cols)],
                               np.broadcast_to(inner_cols[None], (len(inner_rows),
                                                                  len(inner_cols))),
                               atol=0.51)
    assert up[0, 0, 0] == pytest.approx(centre_rows[0])  # the borders keep the nearest value


def test_one_image_gives_one_map_and_repeated_images_are_each_their_own_class(
        quadrant_model, x32):
    batch = occlusion.occlusion(quadrant_model, x32, [0, 1, 0], patch=8, stride=8)
    assert batch.shape == (3, 4, 4)
    np.testing.assert_allclose(occlusion.occlusion(quadrant_model, x32[2], 0, patch=8,
                                                   stride=8), batch[2], atol=1e-6)
    twice = occlusion.occlusion(quadrant_model, np.stack([x32[0], x32[0]]), [0, 1], patch=8,
                                stride=8)
    np.testing.assert_allclose(twice[0], batch[0], atol=1e-6)
    np.testing.assert_allclose(twice[1], 0.0, atol=1e-6)  # logit 1 never changes
    heat = occlusion.occlusion_heatmaps(quadrant_model, x32[0], 0, patch=8, stride=8)
    peak = np.maximum(batch[0], 0) / batch[0].max()
    np.testing.assert_allclose(heat, occlusion.to_image(peak, (SIDE, SIDE), 8, 8), atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(patch=33), r"patch is a side in pixels from 1 to 32"),
    (dict(patch=0), r"patch must be a whole number >= 1"),
    (dict(stride=1.5), r"stride must be a whole number >= 1"),
    (dict(baseline="white"), r"baseline is 'grey', 'mean', a number or one value per channel"),
    (dict(baseline=[0.0, 1.0]), r"one value per channel \(3\)"),
    (dict(objective="probability"), r"objective is 'logit' or 'softmax'"),
    (dict(batch_size=0), r"batch_size must be a whole number"),
])
def test_bad_options_are_named(quadrant_model, x32, kwargs, message):
    with pytest.raises(ValueError, match=message):
        occlusion.occlusion(quadrant_model, x32, 0, **kwargs)


def test_to_image_names_the_grid_it_expected():
    with pytest.raises(ValueError, match=r"shape \(7, 7\) for \(32, 32\) px images with patch 8 "
                                         r"and stride 4.*Pass the patch and stride"):
        occlusion.to_image(np.zeros((4, 4)), (32, 32), 8, 4)


def test_each_classs_occlusion_map_peaks_on_its_own_object(shapes_model):
    """Two-object scenes: the peak of each class's map (brought to the image with
    ``to_image``) lies on that object within the pointing game's 6 px for most objects.
    Exactly on the mask, the grey square does worse than the image's mean colour (the
    default): on this world a grey square is itself a shape. Measured on these 40 scenes:
    grey 92.5% within 6 px and 59% on the mask; mean colour 76% on the mask (82% and 69% over
    100 scenes)."""
    scenes = shapes.make_scenes(40, seed=POINTING_SEED, num_objects=2)
    grey = faithfulness.pointing_game(shapes_model, scenes, ["Occlusion"],
                                      occlusion_options=dict(baseline="grey"))["Occlusion"]
    assert grey.hits.shape == (40, 2)
    assert grey.rate >= 0.85 and grey.per_object.min() >= 0.8, str(grey)
    assert grey.rate > 5 * grey.chance.mean()
    on_mask = {baseline: faithfulness.pointing_game(
        shapes_model, scenes, ["Occlusion"], tolerance=0,
        occlusion_options=dict(baseline=baseline))["Occlusion"] for baseline in BASELINES}
    assert on_mask["mean"].rate >= 0.65, str(on_mask["mean"])
    assert on_mask["mean"].rate > on_mask["grey"].rate + 0.05
