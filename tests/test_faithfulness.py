"""helpers.faithfulness: the pointing-game bound on the embedded model, deletion and
insertion curves, rank correlation and the model-randomization sanity check."""

import keras
import numpy as np
import pytest

from helpers import cam, faithfulness, shapes

#: Fresh two-object scenes: far from the training seeds (shapes_cnn.TRAIN_SEED_BASE + ...).
POINTING_SEED = 95_000


@pytest.fixture(scope="module")
def x16():
    return np.random.default_rng(3).normal(size=(3, 16, 16, 3)).astype(np.float32)


# --- the pointing game ------------------------------------------------------------------


def test_grad_cam_wins_the_pointing_game_for_both_classes(shapes_model):
    scenes = shapes.make_scenes(200, seed=POINTING_SEED, num_objects=2)
    games = faithfulness.pointing_game(shapes_model, scenes, ["Grad-CAM", "CAM"])
    grad = games["Grad-CAM"]
    assert grad.hits.shape == (200, 2)
    assert grad.per_object.min() >= 0.9, str(grad)
    np.testing.assert_array_equal(games["CAM"].hits, grad.hits)  # CAM = Grad-CAM here
    assert grad.chance.mean() < 0.25


def test_dilate_grows_masks_by_a_disk():
    mask = np.zeros((1, 15, 15), bool)
    mask[0, 7, 7] = True
    grown = faithfulness.dilate(mask, 3)[0]
    rows, cols = np.indices(grown.shape)
    np.testing.assert_array_equal(grown, (rows - 7) ** 2 + (cols - 7) ** 2 <= 9)
    edge = np.zeros((1, 6, 6), bool)
    edge[0, 0, 0] = True
    assert faithfulness.dilate(edge, 1)[0].sum() == 3  # clipped at the border
    np.testing.assert_array_equal(faithfulness.dilate(mask, 0), mask)


def test_pointing_game_takes_a_vis_model_or_its_keras_model(shapes_model):
    scenes = shapes.make_scenes(6, seed=POINTING_SEED + 3, num_objects=2)
    by_vm = faithfulness.pointing_game(shapes_model, scenes)["Grad-CAM"]
    by_keras = faithfulness.pointing_game(shapes_model.model, scenes)["Grad-CAM"]
    np.testing.assert_array_equal(by_vm.hits, by_keras.hits)


def test_pointing_game_summary():
    hits = np.array([[True, True], [True, False], [False, False], [True, True]])
    game = faithfulness.PointingGame("m", hits, np.full((4, 2), 0.1), np.zeros((4, 2), bool), 6)
    np.testing.assert_allclose(game.per_object, [0.75, 0.5])
    assert game.rate == 0.625 and game.both == 0.5
    assert "62.5%" in str(game)


def test_pointing_game_rejects_scenes_of_another_size(shapes_model):
    scenes = shapes.make_scenes(2, seed=1, num_objects=2, size=64)
    with pytest.raises(ValueError, match="make_scenes"):
        faithfulness.pointing_game(shapes_model, scenes)
    with pytest.raises(ValueError, match="at least 0"):
        faithfulness.dilate(scenes.masks, -1)


# --- deletion -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def single_scenes(shapes_model):
    scenes = shapes.make_scenes(8, seed=POINTING_SEED + 1)
    return shapes_model.preprocess(scenes.images), scenes


def test_deleting_the_object_first_beats_a_random_order(shapes_model, single_scenes):
    x, scenes = single_scenes
    oracle = faithfulness.deletion_curve(shapes_model, x, scenes.labels,
                                         scenes.masks[:, 0].astype(np.float32), steps=6,
                                         max_fraction=0.3)
    chance = faithfulness.deletion_curve(shapes_model, x, scenes.labels,
                                         faithfulness.random_maps(8, (96, 96)), steps=6,
                                         max_fraction=0.3)
    assert oracle.auc < chance.auc
    np.testing.assert_allclose(oracle.fractions, np.linspace(0, 0.3, 7))
    intact = cam.class_probabilities(shapes_model, x)[np.arange(8), scenes.labels]
    np.testing.assert_allclose(oracle.scores[:, 0], intact, rtol=1e-5)


def test_deleting_everything_leaves_the_mean_colour(tiny_cnn, x16):
    curve = faithfulness.deletion_curve(tiny_cnn, x16, [0, 1, 2], np.ones((3, 4, 4)), steps=2,
                                        patch=5)
    flat = np.broadcast_to(x16.mean(axis=(1, 2), keepdims=True), x16.shape)
    expected = cam.class_probabilities(tiny_cnn, flat)[np.arange(3), [0, 1, 2]]
    np.testing.assert_allclose(curve.scores[:, -1], expected, rtol=1e-5)
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # NumPy 2 renamed trapz
    assert curve.auc == pytest.approx(trapezoid(curve.mean, curve.fractions))


def test_deletion_removes_whole_patches_in_map_order(tiny_cnn, x16):
    """With 8x8 patches and a map that prefers the top-left patch, step 1 of 4 removes
    exactly that patch."""
    ranking = np.array([[[4.0, 3.0], [2.0, 1.0]]] * 3)
    curve = faithfulness.deletion_curve(tiny_cnn, x16, 0, ranking, steps=4, patch=8)
    first = x16.copy()
    first[:, :8, :8] = x16.mean(axis=(1, 2))[:, None, None]
    np.testing.assert_allclose(curve.scores[:, 1], cam.class_probabilities(tiny_cnn, first)[:, 0],
                               rtol=1e-5)


def test_one_image_gives_one_deletion_curve(tiny_cnn, x16):
    ranking = np.array([[4.0, 3.0], [2.0, 1.0]])
    one = faithfulness.deletion_curve(tiny_cnn, x16[0], 1, ranking, steps=4)
    batch = faithfulness.deletion_curve(tiny_cnn, x16[:1], 1, ranking[None], steps=4)
    assert one.scores.shape == (5,)
    np.testing.assert_allclose(one.scores, batch.scores[0], rtol=1e-6)
    assert one.auc == pytest.approx(batch.auc)


def test_deletion_takes_a_vis_model_and_a_class_name(shapes_model, single_scenes):
    x, scenes = single_scenes
    name = shapes.CLASSES[scenes.labels[0]]
    by_name = faithfulness.deletion_curve(shapes_model, x[0], name, scenes.masks[0, 0], steps=3)
    by_index = faithfulness.deletion_curve(shapes_model.model, x[0], int(scenes.labels[0]),
                                           scenes.masks[0, 0], steps=3)
    np.testing.assert_allclose(by_name.scores, by_index.scores, rtol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(maps=np.ones((2, 4, 4))), "one 2-D map per image"),
    (dict(maps=np.ones((3, 4))), "one 2-D map per image"),
    (dict(steps=0), "steps"),
    (dict(patch=0), "patch"),
    (dict(patch=17), "patch"),
    (dict(max_fraction=0.0), "max_fraction"),
    (dict(max_fraction=1.5), "max_fraction"),
    (dict(classes=7), "out of range"),
])
def test_deletion_bad_input(tiny_cnn, x16, kwargs, message):
    args = dict(maps=np.ones((3, 4, 4)), classes=0) | kwargs
    maps, classes = args.pop("maps"), args.pop("classes")
    with pytest.raises(ValueError, match=message):
        faithfulness.deletion_curve(tiny_cnn, x16, classes, maps, **args)


# --- insertion ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corner_model():
    """Logit 0 is 4 x the mean of the top-left 8 x 8 corner of a 16 x 16 image, logit 1 is 0:
    the class probability is sigmoid(4 * corner mean), whatever the rest shows."""
    inputs = keras.Input((16, 16, 3))
    corner = keras.layers.Cropping2D(((0, 8), (0, 8)))(inputs)
    head = keras.layers.Dense(2)
    model = keras.Model(inputs, head(keras.layers.GlobalAveragePooling2D()(corner)))
    head.set_weights([np.stack([np.full(3, 4 / 3), np.zeros(3)], 1).astype(np.float32),
                      np.zeros(2, np.float32)])
    return model


def test_inserting_the_planted_region_first_beats_a_random_order(corner_model):
    """The corner is +2, the rest -2/3: the image's mean colour is 0, so insertion starts
    at probability 1/2, and each of the corner's four 4-px patches adds 2 to the logit."""
    x = np.full((16, 16, 3), -2 / 3, np.float32)
    x[:8, :8] = 2.0
    corner_first = np.zeros((16, 16), np.float32)
    corner_first[:8, :8] = 1.0
    right = faithfulness.insertion_curve(corner_model, x, 0, corner_first, steps=16, patch=4,
                                         start="mean")
    logits = np.minimum(2.0 * np.arange(17), 8.0)
    np.testing.assert_allclose(right.scores, 1 / (1 + np.exp(-logits)), rtol=1e-5)
    chance = [faithfulness.insertion_curve(
        corner_model, x, 0, faithfulness.random_maps(1, (16, 16), seed)[0], steps=16, patch=4,
        start="mean").auc for seed in range(8)]
    assert right.auc > max(chance)
    assert right.kind == "insertion" and "insertion AUC" in str(right)


def test_inserting_the_object_first_beats_a_random_order(shapes_model, single_scenes):
    x, scenes = single_scenes
    oracle = faithfulness.insertion_curve(shapes_model, x, scenes.labels,
                                          scenes.masks[:, 0].astype(np.float32), steps=6,
                                          max_fraction=0.3)
    chance = faithfulness.insertion_curve(shapes_model, x, scenes.labels,
                                          faithfulness.random_maps(8, (96, 96)), steps=6,
                                          max_fraction=0.3)
    assert oracle.auc > chance.auc
    blurred = faithfulness.blur(x, 96 / 20)
    start = cam.class_probabilities(shapes_model, blurred)[np.arange(8), scenes.labels]
    np.testing.assert_allclose(oracle.scores[:, 0], start, rtol=1e-5)
    np.testing.assert_allclose(chance.scores[:, 0], start, rtol=1e-5)


def test_deletion_and_insertion_of_the_same_maps_meet_at_their_ends(tiny_cnn, x16):
    """Both run one loop: deletion starts where insertion ends (the image) and, with
    start='mean', ends where insertion starts; and deleting in a map's order, read step by
    step from the end, is inserting in the reverse order."""
    maps = np.random.default_rng(5).permutation(16).reshape(1, 4, 4).repeat(3, axis=0)
    maps = maps.astype(np.float32)
    deletion = faithfulness.deletion_curve(tiny_cnn, x16, [0, 1, 2], maps, steps=4, patch=4)
    insertion = faithfulness.insertion_curve(tiny_cnn, x16, [0, 1, 2], maps, steps=4, patch=4,
                                             start="mean")
    intact = cam.class_probabilities(tiny_cnn, x16)[np.arange(3), [0, 1, 2]]
    np.testing.assert_allclose(deletion.scores[:, 0], intact, rtol=1e-5)
    np.testing.assert_allclose(insertion.scores[:, -1], intact, rtol=1e-5)
    np.testing.assert_allclose(deletion.scores[:, -1], insertion.scores[:, 0], rtol=1e-5)
    reverse = faithfulness.insertion_curve(tiny_cnn, x16, [0, 1, 2], -maps, steps=4, patch=4,
                                           start="mean")
    np.testing.assert_allclose(reverse.scores, deletion.scores[:, ::-1], rtol=1e-5)


def test_blur_is_a_normalized_gaussian():
    impulse = np.zeros((1, 41, 41, 1), np.float32)
    impulse[0, 20, 20] = 1.0
    sigma = 2.5
    taps = np.exp(-0.5 * (np.arange(-8, 9) / sigma) ** 2)
    taps /= taps.sum()
    out = faithfulness.blur(impulse, sigma)[0, ..., 0]
    np.testing.assert_allclose(out[12:29, 12:29], np.outer(taps, taps), atol=1e-7)
    assert out.sum() == pytest.approx(1.0)
    flat = np.full((2, 10, 12, 3), 0.3, np.float32)
    np.testing.assert_allclose(faithfulness.blur(flat, 4.0), flat, atol=1e-6)  # border too


@pytest.mark.parametrize("kwargs, message", [
    (dict(start="noise"), r"start is 'blur' or 'mean'"),
    (dict(sigma=0), r"sigma must be a finite number > 0"),
    (dict(maps=np.ones((2, 4, 4))), "one 2-D map per image"),
    (dict(steps=0), "steps"),
])
def test_insertion_bad_input(tiny_cnn, x16, kwargs, message):
    args = dict(maps=np.ones((3, 4, 4)), classes=0) | kwargs
    maps, classes = args.pop("maps"), args.pop("classes")
    with pytest.raises(ValueError, match=message):
        faithfulness.insertion_curve(tiny_cnn, x16, classes, maps, **args)


# --- rank correlation and the randomization check -------------------------------------


def test_rank_correlation():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    assert faithfulness.rank_correlation(a, a * 10) == pytest.approx(1.0)
    assert faithfulness.rank_correlation(a, -a) == pytest.approx(-1.0)
    # ties get their average rank: [1, 2.5, 2.5, 4] against [1, 2, 3, 4]
    tied = np.array([0.0, 5.0, 5.0, 9.0])
    assert faithfulness.rank_correlation(tied, a) == pytest.approx(4.5 / np.sqrt(4.5 * 5))
    assert faithfulness.rank_correlation(np.zeros(4), a) == 0.0


def test_cascading_randomization_leaves_the_model_alone(tiny_cnn, x16):
    before = [w.copy() for w in tiny_cnn.get_weights()]
    result = faithfulness.cascading_randomization(tiny_cnn, x16, [0, 1, 2],
                                                  ["Grad-CAM", "Guided backprop"])
    assert all(np.array_equal(a, b) for a, b in zip(before, tiny_cnn.get_weights()))
    assert result.layers == ["logits", "conv2", "conv1"]
    assert result.maps["Grad-CAM"].shape == (4, 3, 8, 8)
    assert result.maps["Guided backprop"].shape == (4, 3, 16, 16)
    np.testing.assert_allclose(result.maps["Grad-CAM"][0], cam.grad_cam(tiny_cnn, x16, [0, 1, 2]),
                               atol=1e-6)
    assert result.similarity["Grad-CAM"].shape == (3,)
    assert np.all(np.abs(result.similarity["Grad-CAM"]) <= 1)
    assert "logits" in result.table()


def test_cascading_randomization_of_one_image_gives_its_maps(tiny_cnn, x16):
    one = faithfulness.cascading_randomization(tiny_cnn, x16[0], 1, ["Grad-CAM"])
    batch = faithfulness.cascading_randomization(tiny_cnn, x16[:1], 1, ["Grad-CAM"])
    assert one.maps["Grad-CAM"].shape == (4, 8, 8)
    np.testing.assert_allclose(one.maps["Grad-CAM"], batch.maps["Grad-CAM"][:, 0], atol=1e-6)
    np.testing.assert_allclose(one.similarity["Grad-CAM"], batch.similarity["Grad-CAM"])


def test_grad_cam_passes_the_sanity_check_guided_backprop_fails(shapes_model):
    """Adebayo et al.: after the top layer alone is re-initialized, Grad-CAM's map changes
    and guided backpropagation's hardly does.

    One random head is one draw of 64 weights per class, and Grad-CAM's similarity varies
    from about -0.6 to 0.75 between draws; the claim is about the average over draws.
    """
    scenes = shapes.make_scenes(4, seed=POINTING_SEED + 2)
    x = shapes_model.preprocess(scenes.images)
    draws = [faithfulness.cascading_randomization(
        shapes_model, x, scenes.labels, ["Grad-CAM", "Guided backprop"], layers=["logits"],
        seed=seed).similarity for seed in range(6)]
    grad_cam = np.mean([draw["Grad-CAM"][0] for draw in draws])
    guided = [draw["Guided backprop"][0] for draw in draws]
    assert grad_cam < 0.5, f"Grad-CAM keeps its map after the head is randomized ({grad_cam:.2f})"
    assert min(guided) > 0.8, f"guided backprop changed with the head ({min(guided):.2f})"


@pytest.mark.parametrize("kwargs, message", [
    (dict(layers=["conv7"]), r"not layers with weights"),
    (dict(layers=["pool1"]), r"not layers with weights"),
    (dict(layers=["conv1", "logits"]), "from the output down"),
    (dict(methods=["LIME"]), "Unknown method"),
])
def test_cascading_randomization_bad_input(tiny_cnn, x16, kwargs, message):
    with pytest.raises(ValueError, match=message):
        faithfulness.cascading_randomization(tiny_cnn, x16, 0, **kwargs)


def test_weighted_layers_top_down(tiny_cnn):
    assert faithfulness.weighted_layers(tiny_cnn) == ["logits", "conv2", "conv1"]
