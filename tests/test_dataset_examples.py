"""Dataset examples: the top patches of a unit are where its pattern is, planted or learned."""

import keras
import numpy as np
import pytest

from helpers import shapes
from helpers._core.activations import layer_outputs
from helpers._core.geometry import layer_table
from helpers.dataset_examples import (crop, dataset_examples, holds_shape, photo_windows,
                                      preferred_units, shape_base_rate, show_dataset_examples,
                                      standout_units, unit_peaks)

SIZE = 32
PATTERN_AT = (12, 8)  # top-left pixel of the planted pattern in image PLANTED
PLANTED = 5


def _pattern() -> np.ndarray:
    """A 5 x 5 RGB pattern in [-1, 1]: a red cross on blue."""
    pattern = np.full((5, 5, 3), -1.0, np.float32)
    pattern[..., 2] = 1.0
    pattern[2, :, 0], pattern[:, 2, 0] = 1.0, 1.0
    return pattern


@pytest.fixture(scope="module")
def matched_filter():
    """A model whose ``match`` unit is the pattern's matched filter (kernel = the pattern,
    'valid', so unit (i, j) sees pixels [i, i + 4] x [j, j + 4]), then a 2 x 2 max pool."""
    inputs = keras.Input((SIZE, SIZE, 3))
    match = keras.layers.Conv2D(1, 5, padding="valid", activation="relu", name="match")
    x = match(inputs)
    x = keras.layers.MaxPooling2D(2, name="pooled")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(x), name="matched")
    match.set_weights([_pattern()[..., None], np.zeros(1, np.float32)])
    return model


@pytest.fixture(scope="module")
def planted():
    """Twelve noise images in [-0.3, 0.3]; image PLANTED holds the pattern at PATTERN_AT."""
    x = np.random.default_rng(0).uniform(-0.3, 0.3, (12, SIZE, SIZE, 3)).astype(np.float32)
    top, left = PATTERN_AT
    x[PLANTED, top:top + 5, left:left + 5] = _pattern()
    return x


def test_the_top_patch_is_exactly_the_planted_pattern(matched_filter, planted):
    found = dataset_examples(matched_filter, "match", 0, planted, k=3)
    assert found.image_index[0] == PLANTED
    assert tuple(found.positions[0]) == PATTERN_AT
    assert tuple(found.boxes[0]) == (12, 8, 16, 12)
    expected = np.round((_pattern() + 1) * 127.5).astype(np.uint8)
    np.testing.assert_array_equal(found.patches[0], expected)
    # one patch per image by default: the others come from other images
    assert len(set(found.image_index)) == 3


def test_after_a_pool_the_top_patch_still_holds_the_pattern(matched_filter, planted):
    found = dataset_examples(matched_filter, "pooled", 0, planted, k=1)
    # pooled unit (6, 4) reads match units (12..13, 8..9): pixels 12..17 x 8..13
    assert found.image_index[0] == PLANTED and tuple(found.positions[0]) == (6, 4)
    assert tuple(found.boxes[0]) == (12, 8, 17, 13)
    expected = np.round((_pattern() + 1) * 127.5).astype(np.uint8)
    np.testing.assert_array_equal(found.patches[0, :5, :5], expected)


def test_activations_are_the_layers_own_numbers_in_descending_order(matched_filter, planted):
    found = dataset_examples(matched_filter, "match", 0, planted, k=12, batch_size=5)
    maps = layer_outputs(matched_filter, "match", planted)["match"][..., 0]
    np.testing.assert_allclose(found.activations, maps.max(axis=(1, 2))[found.image_index],
                               rtol=1e-5)
    np.testing.assert_allclose(np.sort(found.activations)[::-1], found.activations)
    assert sorted(found.image_index) == list(range(12))  # every image once


def test_several_positions_per_image_when_asked(matched_filter, planted):
    found = dataset_examples(matched_filter, "match", 0, planted, k=4, per_image=4)
    maps = layer_outputs(matched_filter, "match", planted)["match"][..., 0]
    np.testing.assert_allclose(found.activations, np.sort(maps.ravel())[::-1][:4], rtol=1e-5)
    assert found.image_index[0] == PLANTED


def test_patches_falling_off_the_image_are_padded_with_grey(shapes_model):
    scenes = shapes.make_scenes(8, seed=5)
    x = shapes_model.preprocess(scenes.images)
    found = dataset_examples(shapes_model, "block4_conv2", 4, x, k=8, images=scenes.images)
    geometry = layer_table(shapes_model.model, layers=["block4_conv2"])[0]
    assert found.patches.shape == (8, *geometry.receptive_field, 3)
    for patch, box, n in zip(found.patches, found.boxes, found.image_index):
        np.testing.assert_array_equal(patch, crop(scenes.images[n], box))
        top, left = box[:2]
        if top < 0:
            assert np.all(patch[:-top] == 128)
        if left < 0:
            assert np.all(patch[:, :-left] == 128)


def test_patches_from_the_inverted_preprocessing_equal_the_raw_pixels(shapes_model):
    scenes = shapes.make_scenes(6, seed=6)
    x = shapes_model.preprocess(scenes.images)
    raw = dataset_examples(shapes_model, "block3_conv2", 7, x, k=4, images=scenes.images)
    inverted = dataset_examples(shapes_model.model, "block3_conv2", 7, x, k=4)
    np.testing.assert_array_equal(raw.patches, inverted.patches)


def test_a_list_of_units_gives_each_the_examples_it_gets_alone(shapes_model):
    scenes = shapes.make_scenes(40, seed=7)
    x = shapes_model.preprocess(scenes.images)
    both = dataset_examples(shapes_model, "block3_conv2", [7, 3], x, k=5, batch_size=16)
    assert [e.unit for e in both] == [7, 3]
    for unit, together in zip((7, 3), both):
        alone = dataset_examples(shapes_model, "block3_conv2", unit, x, k=5)
        np.testing.assert_array_equal(together.image_index, alone.image_index)
        np.testing.assert_array_equal(together.patches, alone.patches)
        np.testing.assert_allclose(together.activations, alone.activations, rtol=1e-6)
    with pytest.raises(ValueError, match=r"Give at least one unit of 'block3_conv2'"):
        dataset_examples(shapes_model, "block3_conv2", [], x)


def test_unit_peaks_are_each_images_largest_response(shapes_model):
    x = shapes_model.preprocess(shapes.make_scenes(20, seed=8).images)
    maps = layer_outputs(shapes_model.model, "block2_conv2", x)["block2_conv2"]
    np.testing.assert_allclose(unit_peaks(shapes_model, "block2_conv2", x, batch_size=6),
                               maps.max(axis=(1, 2)), rtol=1e-6)


def test_a_unit_strong_on_a_few_images_stands_out_before_one_strong_on_all():
    """Units = the three colour channels (a 1 x 1 identity convolution): red is 0.5 on every
    image, green 0 except one bright pixel in three images, blue faint noise everywhere."""
    inputs = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(3, 1, activation="relu", name="rgb")
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(conv(inputs)))
    conv.set_weights([np.eye(3, dtype=np.float32)[None, None], np.zeros(3, np.float32)])
    x = np.zeros((30, 8, 8, 3), np.float32)
    x[..., 0] = 0.5
    x[:3, 4, 4, 1] = 1.0
    x[..., 2] = np.random.default_rng(0).uniform(0, 0.05, (30, 8, 8))
    assert standout_units(model, "rgb", x, n=3, k=3).tolist() == [1, 0, 2]


def toy_scenes(classes, masks):
    """``shapes.Scenes`` with given (N, K) classes and (N, K, S, S) masks; black images."""
    masks = np.asarray(masks, bool)
    n, _, size = masks.shape[:3]
    return shapes.Scenes(np.zeros((n, size, size, 3), np.uint8), np.asarray(classes), masks)


def test_a_patch_holds_a_shape_when_half_of_the_smaller_of_the_two_overlaps():
    """Scene 0 (20 x 20): a 4 x 4 cross at (2, 2) and a 10 x 10 circle at (10, 10)."""
    cross, circle = np.zeros((2, 20, 20), bool)
    cross[2:6, 2:6], circle[10:20, 10:20] = True, True
    scenes = toy_scenes([[4, 0]], [[cross, circle]])
    boxes = [(2, 2, 3, 5),        # half of the cross (8 of 16 pixels)
             (0, 0, 3, 3),        # a quarter of the cross (4 pixels), 4 of the box's 16
             (-5, -5, 30, 30),    # everything
             (10, 10, 14, 19),    # no cross; a box of 50 pixels, all circle
             (5, 5, 14, 14)]      # 1 cross pixel; 25 of the circle's 100, 25 of the box's 100
    assert holds_shape(scenes, [0] * 5, boxes, "cross").tolist() == [True, False, True, False,
                                                                        False]
    assert holds_shape(scenes, [0] * 5, boxes, 0).tolist() == [False, False, True, True, False]
    assert holds_shape(scenes, [0] * 5, boxes, ["circle", 4], min_overlap=0.25).tolist() == [
        True, True, True, True, True]
    assert not holds_shape(scenes, [0], [(0, 0, 19, 19)], "triangle")[0]  # none in the scene
    # only the image pixels of a box count: 1 of them, circle; none at all
    assert holds_shape(scenes, [0, 0], [(19, 19, 40, 40), (25, 25, 40, 40)],
                       "circle").tolist() == [True, False]


def test_the_base_rate_is_the_share_of_random_receptive_fields_that_hold_the_shape(tiny_cnn):
    """Scenes 0-1 are all circle, scenes 2-3 all square: a random field holds a circle half
    the time, a ring never."""
    full = np.ones((16, 16), bool)
    scenes = toy_scenes([[0], [0], [1], [1]], [[full]] * 4)
    assert shape_base_rate(tiny_cnn, "conv1", scenes, "circle", samples=4000) == \
        pytest.approx(0.5, abs=0.03)
    assert shape_base_rate(tiny_cnn, "conv1", scenes, ("circle", "square")) == 1.0
    assert shape_base_rate(tiny_cnn, "conv2", scenes, "ring") == 0.0


def test_unknown_classes_and_thresholds_are_refused_naming_the_fix():
    scenes = toy_scenes([[0]], [[np.ones((8, 8), bool)]])
    with pytest.raises(ValueError, match="No shape class 'oval'; classes: circle, square"):
        holds_shape(scenes, [0], [(0, 0, 3, 3)], "oval")
    with pytest.raises(ValueError, match=r"min_overlap .* in \(0, 1\]"):
        holds_shape(scenes, [0], [(0, 0, 3, 3)], "circle", min_overlap=0)


def test_crop_pads_a_box_beyond_every_edge():
    image = np.arange(16, dtype=np.uint8).reshape(4, 4)
    out = crop(image, (-1, -1, 4, 4), fill=99)
    assert out.shape == (6, 6) and np.all(out[0] == 99) and np.all(out[:, -1] == 99)
    np.testing.assert_array_equal(out[1:5, 1:5], image)
    assert np.all(crop(image, (10, 10, 12, 12), fill=7) == 7)


def test_bad_units_and_pixels_are_refused_naming_the_fix(matched_filter, planted):
    with pytest.raises(ValueError, match=r"unit is a channel of 'match', 0 to 0; got 3"):
        dataset_examples(matched_filter, "match", 3, planted)
    with pytest.raises(ValueError, match=r"images are the uint8 RGB pictures x was made from"):
        dataset_examples(matched_filter, "match", 0, planted, images=planted)
    with pytest.raises(ValueError, match=r"k must be a whole number >= 1"):
        dataset_examples(matched_filter, "match", 0, planted, k=0)


def test_the_figure_has_one_panel_per_patch(matched_filter, planted):
    import matplotlib.pyplot as plt

    found = dataset_examples(matched_filter, "match", 0, planted, k=5)
    fig = show_dataset_examples(found)
    assert [ax.get_title() for ax in fig.axes] == found.titles()
    plt.close(fig)


# ---------------------------------------------------------------------------- the shapes world

LAYER = "block4_conv2"


@pytest.fixture(scope="module")
def world(shapes_model):
    """2,000 one-shape scenes (96 px), and the channel of the last conv layer each class
    drives most (chosen on 600 other scenes: mean of the map's maximum, relative to all
    classes)."""
    probe = shapes.make_scenes(600, seed=77_000)
    peaks = layer_outputs(shapes_model.model, LAYER,
                          shapes_model.preprocess(probe.images))[LAYER].max(axis=(1, 2))
    means = np.stack([peaks[probe.labels == c].mean(axis=0) for c in range(len(shapes.CLASSES))])
    preferred = np.argmax(means / means.mean(axis=0), axis=1)
    scenes = shapes.make_scenes(2000, seed=99_000)
    return scenes, shapes_model.preprocess(scenes.images), preferred


def _holds_shape(scenes, n, box, cls) -> bool:
    """Whether the box (clipped to the image) and an object of class ``cls`` overlap by at
    least half of the smaller of the two."""
    top, left, bottom, right = box
    inside = scenes.masks[n][:, max(top, 0):bottom + 1, max(left, 0):right + 1]
    area = inside.shape[1] * inside.shape[2]
    return any(0 < overlap.sum() >= 0.5 * min(area, mask.sum())
               for c, mask, overlap in zip(scenes.classes[n], scenes.masks[n], inside) if c == cls)


@pytest.mark.parametrize("cls", ["circle", "cross", "ring"])
def test_top_patches_of_a_shape_unit_hold_that_shape_far_above_its_base_rate(shapes_model,
                                                                            world, cls):
    scenes, x, preferred = world
    c = shapes.CLASSES.index(cls)
    found = dataset_examples(shapes_model, LAYER, int(preferred[c]), x, k=16,
                             images=scenes.images)
    assert len(set(found.image_index)) == 16
    share = np.mean([_holds_shape(scenes, n, box, c)
                     for n, box in zip(found.image_index, found.boxes)])
    geometry = layer_table(shapes_model.model, layers=[LAYER])[0]
    rng = np.random.default_rng(0)
    height, width = geometry.output[:2]
    base = np.mean([_holds_shape(scenes, rng.integers(len(scenes)),
                                 geometry.patch(rng.integers(height), rng.integers(width)), c)
                    for _ in range(1000)])
    # measured: 16 of 16 for every class, against base rates of 5-8 %
    assert share >= 0.8 and share >= base + 0.6, (share, base)


def test_the_lab_check_helpers_measure_what_the_test_above_measures(shapes_model, world):
    scenes, x, preferred = world
    probe = shapes.make_scenes(600, seed=77_000)
    np.testing.assert_array_equal(preferred_units(shapes_model, LAYER, probe), preferred)
    c = shapes.CLASSES.index("ring")
    found = dataset_examples(shapes_model, LAYER, int(preferred[c]), x, k=16,
                             images=scenes.images)
    np.testing.assert_array_equal(holds_shape(scenes, found.image_index, found.boxes, c),
                                  [_holds_shape(scenes, n, box, c)
                                   for n, box in zip(found.image_index, found.boxes)])
    base = shape_base_rate(shapes_model, LAYER, scenes, c)
    assert 0.01 < base < 0.15, base  # measured by the test above: 5-8 %
    with pytest.raises(ValueError, match=r"No scene of class .*shapes.make_scenes\(600\)"):
        preferred_units(shapes_model, LAYER, shapes.make_scenes(2, seed=0))


def test_photo_windows_cut_a_square_photo_into_1_4_9_and_25_windows_that_tile_it():
    """A 100 x 100 photo whose pixel (r, c) holds (r, c, 0): the whole photo first, then
    windows of 70, 50 and 35 px spread edge to edge; each window is its box of the photo."""
    r, c = np.mgrid[0:100, 0:100]
    photo = np.stack([r, c, np.zeros_like(r)], axis=-1).astype(np.uint8)
    windows = photo_windows([photo], size=35)
    assert windows.shape == (1 + 4 + 9 + 25, 35, 35, 3) and windows.dtype == np.uint8
    smallest = windows[-25:]  # 35 px windows need no resizing: exact crops
    corners = {(int(w[0, 0, 0]), int(w[0, 0, 1])) for w in smallest}
    assert {(0, 0), (0, 65), (65, 0), (65, 65)} <= corners
    np.testing.assert_array_equal(smallest[0], photo[:35, :35])


def test_photo_windows_read_every_photo_of_a_folder_and_refuse_an_empty_one(tmp_path):
    from PIL import Image

    for name, colour in (("a.png", 40), ("b.jpg", 200)):
        Image.fromarray(np.full((60, 90, 3), colour, np.uint8)).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a photo")
    windows = photo_windows(tmp_path, size=16, scales=(1.0,))
    assert windows.shape == (2 * 2, 16, 16, 3)  # a 60 x 90 photo: two 60 px windows
    assert abs(int(windows[0].mean()) - 40) <= 2 and abs(int(windows[-1].mean()) - 200) <= 2
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="No photos in .*put .jpg or .png files there"):
        photo_windows(empty, size=16)


@pytest.mark.parametrize("options, message", [
    (dict(scales=(0.0,)), r"scales are fractions .* in \(0, 1\]"),
    (dict(scales=(1.5,)), r"scales are fractions"),
    (dict(overlap=1.0), r"overlap is the share .* in \[0, 1\)"),
    (dict(size=0), r"size"),
])
def test_photo_windows_refuse_bad_scales_overlap_and_size(options, message):
    with pytest.raises(ValueError, match=message):
        photo_windows([np.zeros((40, 40, 3), np.uint8)], **{"size": 16, **options})
