"""Diversity: images of one unit grown together come apart in style and still excite it."""

import numpy as np
import pytest

from helpers import ascent
from helpers._core.activations import layer_outputs

LAYER = "block4_conv2"
OFF_DIAGONAL = ~np.eye(4, dtype=bool)


def _reference_similarity(maps) -> np.ndarray:
    """Gram cosine similarities, written out image pair by image pair."""
    grams = []
    for m in np.asarray(maps, np.float64):
        a = m.reshape(-1, m.shape[-1])
        grams.append(a.T @ a / len(a))
    return np.array([[np.sum(g * h) / (np.linalg.norm(g) * np.linalg.norm(h)) for h in grams]
                     for g in grams])


def test_gram_similarity_matches_the_pairwise_definition(rng):
    maps = np.maximum(rng.normal(size=(3, 5, 4, 6)), 0)
    np.testing.assert_allclose(ascent.gram_similarity(maps), _reference_similarity(maps),
                               rtol=1e-10)
    # the Gram matrix forgets where things are: shuffled positions look the same
    shuffled = maps[:, rng.permutation(5)][:, :, rng.permutation(4)]
    np.testing.assert_allclose(ascent.gram_similarity(np.concatenate([maps[:1], shuffled[:1]])),
                               1.0, rtol=1e-10)


@pytest.fixture(scope="module", params=[10, 20])
def pair(request, shapes_model):
    """(unit, the no-diversity result, the default-diversity result), 4 images each."""
    unit = request.param
    kwargs = {"n": 4, "steps": 128, "seed": 0}
    return (unit, ascent.maximize_diverse(shapes_model, LAYER, unit, weight=0.0, **kwargs),
            ascent.maximize_diverse(shapes_model, LAYER, unit, **kwargs))


def test_without_the_penalty_images_from_different_seeds_are_alike(pair, shapes_model):
    unit, plain, _ = pair
    assert plain.images.shape == (4, 96, 96, 3) and plain.units == (unit,) * 4
    # different starts, different pixels ...
    assert np.abs(plain.inputs[0] - plain.inputs[1]).mean() > 0.05
    # ... but the same style at the unit's layer (measured: 0.99 for both units)
    assert plain.similarity[OFF_DIAGONAL].mean() > 0.9


def test_the_penalty_lowers_the_gram_similarity_and_the_unit_stays_active(pair):
    _, plain, diverse = pair
    before, after = plain.similarity[OFF_DIAGONAL].mean(), diverse.similarity[OFF_DIAGONAL].mean()
    # measured: unit 10 0.99 -> 0.58, unit 20 0.99 -> 0.51 (unit 4: 1.00 -> 0.67)
    assert after < before - 0.2, (before, after)
    # measured: every image keeps >= 76 % of the no-diversity mean activation
    assert np.all(diverse.final > 0.5 * plain.final.mean()), (plain.final, diverse.final)


def test_the_reported_similarity_is_that_of_the_returned_images(pair, shapes_model):
    _, _, diverse = pair
    maps = layer_outputs(shapes_model.model, LAYER, diverse.inputs)[LAYER]
    np.testing.assert_allclose(diverse.similarity, _reference_similarity(maps), atol=1e-4)


def test_an_earlier_style_layer_is_compared_there(shapes_model):
    result = ascent.maximize_diverse(shapes_model, LAYER, 20, n=2, steps=4,
                                     style_layer="block2_conv2")
    maps = layer_outputs(shapes_model.model, "block2_conv2", result.inputs)["block2_conv2"]
    np.testing.assert_allclose(result.similarity, _reference_similarity(maps), atol=1e-4)


def test_bad_counts_and_weights_are_refused(shapes_model):
    with pytest.raises(ValueError, match=r"n must be a whole number >= 2"):
        ascent.maximize_diverse(shapes_model, LAYER, 0, n=1)
    with pytest.raises(ValueError, match=r"weight must be a finite number >= 0"):
        ascent.maximize_diverse(shapes_model, LAYER, 0, weight=-1)
    with pytest.raises(ValueError, match=r"Filter index 99 is out of range"):
        ascent.maximize_diverse(shapes_model, LAYER, 99)
    with pytest.raises(ValueError, match=r"has no layer 'block2_cnv2'"):
        ascent.maximize_diverse(shapes_model, LAYER, 0, style_layer="block2_cnv2")
