"""The synthetic world and the embedded model trained on it."""

import numpy as np
import pytest

from helpers import shapes, shapes_cnn
from helpers.activations import get_activations

#: Seeds never used for training data (training uses TRAIN_SEED_BASE + 0..999).
FRESH_SEED = 987_654


def test_scenes_are_deterministic_and_seed_dependent():
    a, b, c = (shapes.make_scenes(20, seed=s) for s in (1, 1, 2))
    assert np.array_equal(a.images, b.images) and np.array_equal(a.masks, b.masks)
    assert not np.array_equal(a.images, c.images)


def test_scene_arrays_have_the_documented_shapes():
    scenes = shapes.make_scenes(5, seed=0, num_objects=2, size=128)
    assert scenes.images.shape == (5, 128, 128, 3) and scenes.images.dtype == np.uint8
    assert scenes.classes.shape == (5, 2) and scenes.masks.shape == (5, 2, 128, 128)
    assert (scenes.classes[:, 0] != scenes.classes[:, 1]).all()


def test_masks_cover_a_plausible_object_and_do_not_overlap():
    scenes = shapes.make_scenes(200, seed=3, num_objects=2)
    area = scenes.masks.sum(axis=(2, 3))
    assert area.min() > 60 and area.max() < 96 * 96 / 4
    assert not (scenes.masks[:, 0] & scenes.masks[:, 1]).any()


def test_mask_pixels_carry_the_object_colour():
    """Inside a mask the image is one (shaded, grainy) colour, clearly unlike the outside."""
    scenes = shapes.make_scenes(50, seed=4)
    for image, mask in zip(scenes.images.astype(float), scenes.masks[:, 0]):
        inside, outside = image[mask], image[~mask]
        assert inside.std(axis=0).mean() < outside.std(axis=0).mean() + 5
        assert np.abs(inside.mean() - outside.mean()) > 20


def test_ring_has_a_hole_and_cross_has_no_centre_gap():
    scenes = shapes.make_scenes(2, seed=5, classes=[[5], [4]])
    ring, cross = scenes.masks[0, 0], scenes.masks[1, 0]
    ys, xs = np.nonzero(ring)
    assert not ring[int(ys.mean()), int(xs.mean())]
    ys, xs = np.nonzero(cross)
    assert cross[int(round(ys.mean())), int(round(xs.mean()))]


@pytest.mark.parametrize("kwargs, words", [
    ({"n": 0}, "n must be at least 1"),
    ({"n": 2, "num_objects": 3}, "num_objects must be 1 or 2"),
    ({"n": 2, "size": 32}, "size must be between"),
    ({"n": 1, "classes": [[6]]}, "Class indices must be in 0..5"),
])
def test_bad_parameters(kwargs, words):
    with pytest.raises(ValueError, match=words):
        shapes.make_scenes(**kwargs)


def test_crops_hold_the_first_object_whole_at_its_full_scale():
    scenes = shapes.make_scenes(40, seed=6, num_objects=2)
    crops = shapes.crop_around_first(scenes, 64, seed=1)
    assert crops.images.shape == (40, 64, 64, 3) and crops.masks.shape == (40, 2, 64, 64)
    assert np.array_equal(crops.masks[:, 0].sum(axis=(1, 2)), scenes.masks[:, 0].sum(axis=(1, 2)))
    assert (crops.masks[:, 1].sum(axis=(1, 2)) < scenes.masks[:, 1].sum(axis=(1, 2))).any()
    for scene, crop in zip(scenes.images[:5], crops.images[:5]):  # a window of the scene
        hits = [(y, x) for y in range(33) for x in range(33)
                if np.array_equal(scene[y:y + 64, x:x + 64], crop)]
        assert hits
    again = shapes.crop_around_first(scenes, 64, seed=1)
    other = shapes.crop_around_first(scenes, 64, seed=2)
    assert np.array_equal(again.images, crops.images)
    assert not np.array_equal(other.images, crops.images)


@pytest.mark.parametrize("side, words", [
    (0, "side must be between 1 and the scene size 96"),
    (97, "side must be between 1 and the scene size 96"),
    (20, "more than the 20 px window; use a larger side"),
])
def test_bad_crop_sides(side, words):
    scenes = shapes.make_scenes(3, seed=7)
    with pytest.raises(ValueError, match=words):
        shapes.crop_around_first(scenes, side)


def test_training_targets_share_pairs_by_the_visible_part_of_each_object():
    x, y = shapes_cnn.training_data(50, seed=0, pair_share=0.4)
    assert x.shape == (50, 64, 64, 3) and -1 <= x.min() and x.max() <= 1
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    assert (y[:30].max(axis=1) == 1.0).all()  # single objects: one-hot
    pair_targets = np.sort(y[30:], axis=1)[:, -2:]
    assert (pair_targets[:, 1] >= 0.5).all()  # the first object is always whole
    assert (pair_targets[:, 0] == 0.5).any()  # both whole: half-half
    assert ((0 < pair_targets[:, 0]) & (pair_targets[:, 0] < 0.5)).any()  # second one cut


@pytest.fixture(scope="module")
def model():
    return shapes_cnn.load_trained()


def test_held_out_accuracy_at_least_97_percent(model):
    assert shapes_cnn.accuracy(model, n=3000, seed=FRESH_SEED) >= 0.97


def test_two_object_scenes_rank_both_classes_on_top(model):
    scenes = shapes.make_scenes(300, seed=FRESH_SEED + 1, num_objects=2)
    logits = model.predict(shapes_cnn.preprocess(scenes.images), verbose=0)
    top2 = np.sort(np.argsort(logits, axis=1)[:, -2:], axis=1)
    hits = np.mean((top2 == np.sort(scenes.classes, axis=1)).all(axis=1))
    assert hits >= 0.9, f"top-2 = both present classes in only {hits:.0%} of scenes"


def _edge(vertical: bool, size=96):
    image = np.full((size, size, 3), 40, dtype=np.uint8)
    if vertical:
        image[:, size // 2:] = 215
    else:
        image[size // 2:, :] = 215
    return image


def test_first_block_responds_to_edge_orientation(model):
    """Vertical and horizontal edges excite different first-block channels."""
    x = shapes_cnn.preprocess(np.stack([_edge(True), _edge(False)]))
    maps = get_activations(model, "block1_conv1", x)["block1_conv1"]
    centre = maps[:, 8:-8, 8:-8, :]  # away from the zero-padded border
    response = centre.max(axis=(1, 2))  # (2 images, channels)
    vertical_pref = response[0] - response[1]
    assert vertical_pref.max() > 0.5 and vertical_pref.min() < -0.5
    assert np.argmax(response[0]) != np.argmax(response[1])


def test_folding_batch_norm_keeps_the_function():
    import keras

    keras.utils.set_random_seed(1)
    trained = shapes_cnn.build_model(batch_norm=True)
    for layer in trained.layers:  # non-trivial batch-norm statistics
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            rng = np.random.default_rng(0)
            layer.set_weights([gamma * rng.uniform(0.5, 2, gamma.shape), beta + 0.1,
                               mean + 0.2, var * rng.uniform(0.5, 2, var.shape)])
    x = np.random.default_rng(2).uniform(-1, 1, (2, 96, 96, 3)).astype("float32")
    plain = shapes_cnn.fold_batch_norm(trained)
    np.testing.assert_allclose(plain(x), trained(x, training=False), rtol=1e-4, atol=1e-4)
