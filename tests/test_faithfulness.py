"""helpers.faithfulness: the pointing-game bound on the embedded model, deletion curves,
rank correlation and the model-randomization sanity check."""

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
