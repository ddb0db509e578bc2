"""One contract for every public technique, checked over one table (see ``helpers._core``).

Each row is a technique called as a student calls it. The same checks run on every row:
a ``VisModel`` and its Keras model give the same answer; one image in gives one result out
(the batch's first result); classes by name equal classes by index; a Keras model ending in
a softmax is explained through its logits; and each bad input raises the same error, with the
same message, whichever technique receives it.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers import (ascent, cam, circuits, class_neurons, faithfulness, filters,
                     get_activations, probes, receptive_field, saliency, sparsity)
from helpers import dataset_examples, deepdream  # issue 17: dataset examples, DeepDream
from helpers import occlusion  # issue 17: occlusion sensitivity

LAYER = "block2_conv2"
CLASS = 2  # a class index of the shapes model; its name is looked up in the fixtures


@pytest.fixture(scope="module")
def lab(shapes_model):
    return shapes_model


@pytest.fixture(scope="module")
def x(lab):
    return lab.preprocess([lab.load(name) for name in list(lab.samples)[:2]])


def _attributions(result):
    """Integrated Gradients' attributions: one image's, or a batch's stacked."""
    if isinstance(result, list):
        return np.stack([r.attributions for r in result])
    return result.attributions


def _strengths(circ):
    """A circuit as (input channel, strength) rows."""
    return np.array([(c.channel, c.strength) for c in circ.connections])


def _nth(result, i: int):
    """Image ``i``'s part of a batched result (arrays, tuples or dicts of arrays)."""
    if isinstance(result, dict):
        return {key: _nth(value, i) for key, value in result.items()}
    if isinstance(result, tuple):
        return tuple(_nth(value, i) for value in result)
    return np.asarray(result)[i]


def _first(result):
    return _nth(result, 0)


def _close(a, b, tol=1e-4):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _close(a[key], b[key], tol)
        return
    if isinstance(a, tuple):
        for u, v in zip(a, b):
            _close(u, v, tol)
        return
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    scale = max(np.abs(b).max(), 1e-6)
    assert np.abs(a - b).max() <= tol * scale + 1e-6


# Techniques that explain a class: (model, x, cls) -> per-image result.
CLASS_TECHNIQUES = {
    "cam.cam": lambda m, x, c: cam.cam(m, x, c),
    "cam.grad_cam": lambda m, x, c: cam.grad_cam(m, x, c),
    "cam.grad_cam_plus_plus": lambda m, x, c: cam.grad_cam_plus_plus(m, x, c),
    "cam.score_cam": lambda m, x, c: cam.score_cam(m, x, c, max_channels=8),
    "cam.guided_backprop": lambda m, x, c: cam.guided_backprop(m, x, c),
    "cam.guided_grad_cam": lambda m, x, c: cam.guided_grad_cam(m, x, c),
    "cam.all_heatmaps": lambda m, x, c: cam.all_heatmaps(m, x, c, ("Grad-CAM", "CAM")),
    "saliency.vanilla_gradient": lambda m, x, c: saliency.vanilla_gradient(m, x, c),
    "saliency.gradient_x_input": lambda m, x, c: saliency.gradient_x_input(m, x, c),
    "saliency.smoothgrad": lambda m, x, c: saliency.smoothgrad(m, x, c, samples=4),
    "saliency.integrated_gradients":
        lambda m, x, c: _attributions(saliency.integrated_gradients(m, x, c, steps=8)),
    "saliency.scores_and_gradients": lambda m, x, c: saliency.scores_and_gradients(m, x, c),
    "saliency.saliency_map": lambda m, x, c: saliency.saliency_map(m, x, c, "vanilla"),
    "class_neurons.objective_gradient_rms":
        lambda m, x, c: class_neurons.objective_gradient_rms(m, x, c),
    "class_neurons.predict": lambda m, x, c: class_neurons.predict(m, x, c).probabilities,
    "cam.feature_gradients": lambda m, x, c: cam.feature_gradients(m, x, c),
    "faithfulness.deletion_curve": lambda m, x, c: faithfulness.deletion_curve(
        m, x, c, np.asarray(x).mean(axis=-1), steps=4, patch=16).scores,
}

# Techniques that read the network on images without a class: (model, x) -> per-image result.
IMAGE_TECHNIQUES = {
    "get_activations": lambda m, x: get_activations(m, [LAYER], x),
    "cam.class_probabilities": lambda m, x: cam.class_probabilities(m, x),
    "class_neurons.top_classes": lambda m, x: class_neurons.top_classes(m, x, k=3),
    "circuits.central_responses": lambda m, x: circuits.central_responses(m, LAYER, x),
    # --- DeepDream (issue 17)
    "deepdream.dream": lambda m, x: deepdream.dream(m, x, LAYER, octaves=2, steps=3,
                                                    as_input=True),
    "deepdream.dream_objective": lambda m, x: deepdream.dream_objective(m, x, LAYER),
}

# Techniques that sum up all the images they are given into one answer: (model, x) -> result.
SUMMARY_TECHNIQUES = {
    "sparsity.distillation_stats":
        lambda m, x: sparsity.distillation_stats(m, [LAYER], x).never_active_fraction,
    "filters.activation_similarity": lambda m, x: filters.activation_similarity(m, LAYER, x),
    "circuits.most_active_unit": lambda m, x: circuits.most_active_unit(m, LAYER, x),
    "circuits.linearization_quality":
        lambda m, x: circuits.linearization_quality(m, "block2_conv1", LAYER, x),
    # --- dataset examples (issue 17)
    "dataset_examples.dataset_examples":
        lambda m, x: dataset_examples.dataset_examples(m, LAYER, 0, x, k=3).activations,
}

# Techniques of a layer alone: (model) -> result.
LAYER_TECHNIQUES = {
    "receptive_field.layer_table": lambda m, layer: receptive_field.layer_table(m, layers=[layer]),
    "filters.conv_kernel": lambda m, layer: filters.conv_kernel(m, layer),
    "filters.kernel_similarity": lambda m, layer: filters.kernel_similarity(m, layer),
    "ascent.num_filters": lambda m, layer: ascent.num_filters(m, layer),
    "circuits.effective_kernel": lambda m, layer: circuits.effective_kernel(m, layer),
    "circuits.unit_scale": lambda m, layer: circuits.unit_scale(m, layer),
    "circuits.expanded_weights":
        lambda m, layer: circuits.expanded_weights(m, "block1_conv1", layer),
    "circuits.circuit": lambda m, layer: _strengths(circuits.circuit(m, layer, 0)),
    "probes.needs_edge": lambda m, layer: probes.needs_edge(m, layer),
    "ascent.maximize_filters": lambda m, layer: ascent.maximize_filters(
        m, layer, [0], steps=2, size=32).images,
    # --- diversity (issue 17)
    "ascent.maximize_diverse": lambda m, layer: ascent.maximize_diverse(
        m, layer, 0, n=2, steps=2, size=32).images,
}

# Issue 17: occlusion sensitivity, LayerCAM, HiResCAM and insertion curves.
CLASS_TECHNIQUES.update({
    "occlusion.occlusion": lambda m, x, c: occlusion.occlusion(m, x, c, patch=32, stride=32),
    "occlusion.occlusion_heatmaps":
        lambda m, x, c: occlusion.occlusion_heatmaps(m, x, c, patch=32, stride=32),
    "cam.layer_cam": lambda m, x, c: cam.layer_cam(m, x, c, layer=LAYER),
    "cam.hires_cam": lambda m, x, c: cam.hires_cam(m, x, c),
    "faithfulness.insertion_curve": lambda m, x, c: faithfulness.insertion_curve(
        m, x, c, np.asarray(x).mean(axis=-1), steps=4, patch=16).scores,
})


def _name(lab, index: int) -> str:
    return lab.class_names[index]


# ---------------------------------------------------------------------------- the model


@pytest.mark.parametrize("technique", sorted(CLASS_TECHNIQUES))
def test_a_vis_model_and_its_keras_model_give_the_same_answer(technique, lab, x):
    run = CLASS_TECHNIQUES[technique]
    _close(run(lab, x, CLASS), run(lab.model, x, CLASS))


@pytest.mark.parametrize("technique", sorted(IMAGE_TECHNIQUES))
def test_image_techniques_accept_a_vis_model_or_its_keras_model(technique, lab, x):
    run = IMAGE_TECHNIQUES[technique]
    _close(run(lab, x), run(lab.model, x))


@pytest.mark.parametrize("technique", sorted(SUMMARY_TECHNIQUES))
def test_summaries_accept_a_vis_model_or_its_keras_model_and_one_image(technique, lab, x):
    run = SUMMARY_TECHNIQUES[technique]
    _close(run(lab, x), run(lab.model, x))
    _close(run(lab, x[0]), run(lab, x[:1]))


@pytest.mark.parametrize("technique", sorted(LAYER_TECHNIQUES))
def test_layer_techniques_accept_a_vis_model_or_its_keras_model(technique, lab):
    run = LAYER_TECHNIQUES[technique]
    a, b = run(lab, LAYER), run(lab.model, LAYER)
    if isinstance(a, list):
        assert a == b
    else:
        _close(a, b)


@pytest.mark.parametrize("technique", sorted({**CLASS_TECHNIQUES, **IMAGE_TECHNIQUES,
                                              **SUMMARY_TECHNIQUES}))
def test_anything_but_a_model_is_refused_with_a_type_error_naming_the_fix(technique, x):
    run = {**CLASS_TECHNIQUES, **IMAGE_TECHNIQUES, **SUMMARY_TECHNIQUES}[technique]
    args = (x, CLASS) if technique in CLASS_TECHNIQUES else (x,)
    with pytest.raises(TypeError, match=r"Expected a VisModel or a Keras model; got str\. "
                                        r"Load one with helpers\.load_model"):
        run("mobilenet", *args)


@pytest.mark.parametrize("technique", sorted(LAYER_TECHNIQUES))
def test_layer_techniques_refuse_anything_but_a_model_the_same_way(technique):
    with pytest.raises(TypeError, match=r"^Expected a VisModel or a Keras model; got str\."):
        LAYER_TECHNIQUES[technique]("mobilenet", LAYER)


# ---------------------------------------------------------------------------- images


@pytest.mark.parametrize("technique", sorted(CLASS_TECHNIQUES))
def test_one_image_in_gives_one_result_out(technique, lab, x):
    run = CLASS_TECHNIQUES[technique]
    _close(run(lab, x[0], CLASS), _first(run(lab, x, CLASS)), tol=1e-3)


@pytest.mark.parametrize("technique", sorted(IMAGE_TECHNIQUES))
def test_one_image_in_gives_one_result_out_without_a_class(technique, lab, x):
    run = IMAGE_TECHNIQUES[technique]
    _close(run(lab, x[0]), _first(run(lab, x)), tol=1e-3)


BAD_IMAGES = {
    "raw pixels": (lambda x: (x * 50 + 128).clip(0, 255).astype(np.uint8),
                   r"^Got raw uint8 pixels; techniques take preprocessed input\. "
                   r"Use x = vm\.preprocess\(images\)\.$"),
    "NaN": (lambda x: np.where(np.arange(x.size).reshape(x.shape) == 5, np.nan, x),
            r"^The input contains NaN or infinity; check its preprocessing\.$"),
    "wrong shape": (lambda x: x[..., :1],
                    r"^Expected a preprocessed image \((\d+|any), (\d+|any), 3\) or a batch "
                    r"\(N, (\d+|any), (\d+|any), 3\); got shape \(2, \d+, \d+, 1\)\. "
                    r"Use x = vm\.preprocess\(vm\.load\(source\)\)\.$"),
    "empty batch": (lambda x: x[:0], r"^Got an empty batch; give at least one image\.$"),
}


ALL_IMAGE_TECHNIQUES = {**CLASS_TECHNIQUES, **IMAGE_TECHNIQUES, **SUMMARY_TECHNIQUES}


@pytest.mark.parametrize("bad", sorted(BAD_IMAGES))
@pytest.mark.parametrize("technique", sorted(ALL_IMAGE_TECHNIQUES))
def test_a_bad_image_gets_the_same_error_everywhere(technique, bad, lab, x):
    run = ALL_IMAGE_TECHNIQUES[technique]
    spoil, message = BAD_IMAGES[bad]
    args = (CLASS,) if technique in CLASS_TECHNIQUES else ()
    with pytest.raises(ValueError, match=message):
        run(lab, spoil(x), *args)


# ---------------------------------------------------------------------------- classes


@pytest.mark.parametrize("technique", sorted(CLASS_TECHNIQUES))
def test_a_class_by_name_is_the_class_by_index(technique, lab, x):
    run = CLASS_TECHNIQUES[technique]
    _close(run(lab, x, _name(lab, CLASS)), run(lab, x, CLASS))


@pytest.mark.parametrize("technique", sorted(CLASS_TECHNIQUES))
def test_one_class_per_image_is_each_images_own_class(technique, lab, x):
    run = CLASS_TECHNIQUES[technique]
    both = run(lab, x, [CLASS, _name(lab, 0)])
    _close(_first(both), run(lab, x[0], CLASS), tol=1e-3)
    _close(_first(run(lab, x[1:], 0)), _nth(both, 1), tol=1e-3)


BAD_CLASSES = {
    "misspelt name": ("circel", r"^Unknown class name 'circel'\. Did you mean"),
    "index out of range": (99, r"^Class index 99 is out of range: shapes has \d+ classes"),
    "one too many": ([0, 1, 2], r"^Got 3 classes for 2 images; give one class for all or one "
                                r"per image\.$"),
    "not a class": (1.5, r"^A class is a name or an integer index; got 1\.5\.$"),
}


@pytest.mark.parametrize("bad", sorted(BAD_CLASSES))
@pytest.mark.parametrize("technique", sorted(CLASS_TECHNIQUES))
def test_a_bad_class_gets_the_same_error_everywhere(technique, bad, lab, x):
    cls, message = BAD_CLASSES[bad]
    with pytest.raises(ValueError, match=message):
        CLASS_TECHNIQUES[technique](lab, x, cls)


@pytest.mark.parametrize("technique", sorted(CLASS_TECHNIQUES))
def test_a_class_name_for_a_bare_keras_model_is_refused_naming_the_fix(technique, lab, x):
    with pytest.raises(ValueError, match=r"plain Keras model has no class names\. Pass a "
                                         r"VisModel"):
        CLASS_TECHNIQUES[technique](lab.model, x, _name(lab, CLASS))


# ---------------------------------------------------------------------------- the softmax rule


@pytest.fixture(scope="module")
def with_softmax(lab):
    """The lab's model with a softmax layer after its logits, as keras.applications builds."""
    probabilities = keras.layers.Softmax(name="probabilities")(lab.model.outputs[0])
    return keras.Model(lab.model.inputs[0], probabilities, name="lab_softmax")


@pytest.mark.parametrize("technique", sorted(CLASS_TECHNIQUES))
def test_a_model_ending_in_a_softmax_is_explained_through_its_logits(technique, lab, x,
                                                                      with_softmax):
    run = CLASS_TECHNIQUES[technique]
    _close(run(with_softmax, x, CLASS), run(lab.model, x, CLASS), tol=1e-3)


def test_the_softmax_notice_is_one_line_once_per_model(lab, x, capsys):
    probabilities = keras.layers.Softmax(name="p")(lab.model.outputs[0])
    fresh = keras.Model(lab.model.inputs[0], probabilities, name="fresh_softmax")
    cam.grad_cam(fresh, x, CLASS)
    saliency.vanilla_gradient(fresh, x, CLASS)
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed == ["Note: 'fresh_softmax' ends in a softmax; explaining its logits (the "
                       "softmax replaced by the identity)."]


def test_outputs_that_only_look_like_probabilities_are_refused_everywhere(lab, x):
    squashed = keras.layers.Lambda(lambda t: keras.ops.softmax(t), name="hidden")(
        lab.model.outputs[0])
    hidden = keras.Model(lab.model.inputs[0], squashed, name="hidden_softmax")
    for technique, run in CLASS_TECHNIQUES.items():
        with pytest.raises(ValueError, match=r"outputs probabilities, not logits"):
            run(hidden, x, CLASS)


# ---------------------------------------------------------------------------- layers


@pytest.mark.parametrize("technique", sorted(LAYER_TECHNIQUES))
def test_an_unknown_layer_gets_the_same_error_everywhere(technique, lab):
    with pytest.raises(ValueError, match=r"^Model 'shapes_cnn' has no layer 'block2_cnv2'\. "
                                         r"Closest: block2_conv2"):
        LAYER_TECHNIQUES[technique](lab, "block2_cnv2")
