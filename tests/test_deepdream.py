"""DeepDream: the dreamed photo excites the layers more, keeps its size, and loses no detail."""

import numpy as np
import pytest

from helpers._core.activations import layer_outputs
from helpers.deepdream import dream, dream_objective, octave_sizes

LAYER = "block3_conv2"


@pytest.fixture(scope="module")
def photos(shapes_model):
    return shapes_model.preprocess([shapes_model.load(name) for name in ("circle", "star")])


def test_the_objective_is_the_mean_square_of_the_layers_maps(shapes_model, photos):
    maps = layer_outputs(shapes_model.model, [LAYER, "block2_conv1"], photos)
    expected = (np.mean(maps[LAYER] ** 2, axis=(1, 2, 3))
                + 0.5 * np.mean(maps["block2_conv1"] ** 2, axis=(1, 2, 3)))
    got = dream_objective(shapes_model, photos, {LAYER: 1.0, "block2_conv1": 0.5})
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(dream_objective(shapes_model, photos, LAYER, "mean"),
                               maps[LAYER].mean(axis=(1, 2, 3)), rtol=1e-5)


def test_dreaming_raises_the_layer_objective_many_times(shapes_model, photos):
    dreamed = dream(shapes_model, photos, LAYER)
    assert dreamed.shape == (2, 96, 96, 3) and dreamed.dtype == np.uint8
    before = dream_objective(shapes_model, photos, LAYER)
    after = dream_objective(shapes_model, shapes_model.preprocess(dreamed), LAYER)
    # measured: 0.21 -> 2.0 and 0.14 -> 2.1 (about 10 and 15 times)
    assert np.all(after > 4 * before), (before, after)


def test_dreaming_raises_the_objective_on_mobilenet(mobilenet):
    x = mobilenet.preprocess(mobilenet.load("cat"))
    dreamed = dream(mobilenet, x, "conv_pw_8_relu", octaves=2, steps=10)
    assert dreamed.shape == (224, 224, 3)
    before = dream_objective(mobilenet, x, "conv_pw_8_relu")
    after = dream_objective(mobilenet, mobilenet.preprocess(dreamed), "conv_pw_8_relu")
    assert after > 2 * before, (before, after)


def test_an_image_of_another_size_comes_back_at_its_size(shapes_model, photos):
    wide = np.concatenate([photos[0], photos[0][:, :40]], axis=1)  # 96 x 136
    dreamed = dream(shapes_model, wide, LAYER, steps=4)
    assert dreamed.shape == (96, 136, 3)


def test_with_a_vanishing_step_the_octaves_give_back_the_photo_exactly(shapes_model, photos):
    still = dream(shapes_model, photos[0], LAYER, steps=2, step_size=1e-9)
    np.testing.assert_array_equal(still, shapes_model.load("circle"))


def test_the_model_input_is_the_preprocessed_picture(shapes_model, photos):
    pixels = dream(shapes_model, photos, LAYER, steps=3)
    inputs = dream(shapes_model, photos, LAYER, steps=3, as_input=True)
    assert inputs.dtype == np.float32 and np.isfinite(inputs).all()
    np.testing.assert_allclose(shapes_model.preprocess(pixels), inputs, atol=1.01 / 127.5)


def test_octaves_shrink_by_the_scale_up_to_the_original():
    assert octave_sizes(224, 224, 3, 1.4) == [(114, 114), (160, 160), (224, 224)]
    assert octave_sizes(96, 136, 1, 1.4) == [(96, 136)]


def test_bad_settings_are_refused_naming_the_fix(shapes_model, photos):
    with pytest.raises(ValueError, match=r"octave_scale is the size ratio between octaves, > 1"):
        dream(shapes_model, photos, LAYER, octave_scale=0.7)
    with pytest.raises(ValueError, match=r"objective must be one of \('l2', 'mean'\)"):
        dream(shapes_model, photos, LAYER, objective="max")
    with pytest.raises(ValueError, match=r"Give at least one layer to dream on"):
        dream(shapes_model, photos, [])
    with pytest.raises(ValueError, match=r"has no layer 'block3_cnv2'"):
        dream(shapes_model, photos, "block3_cnv2")
    with pytest.raises(ValueError, match=r"^Got raw uint8 pixels"):
        dream(shapes_model, shapes_model.load("circle"), LAYER)
