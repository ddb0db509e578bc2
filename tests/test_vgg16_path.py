"""The lecture's VGG16, end to end through every technique, on its real architecture.

No VGG16 weights are available offline, so this builds it with random weights
(``weights=None``): the pictures mean nothing, but a layer name, a shape or a head that a
technique does not handle fails here instead of in a lecture hall. Sizes are kept small
(few units, few steps, small ascent images) to stay within a minute on two cores.
"""

import numpy as np
import pytest

from helpers import (ascent, cam, circuits, class_neurons, faithfulness, filters,
                     receptive_field, saliency, sparsity)
from helpers.models import load_model


@pytest.fixture(scope="module")
def vgg16():
    return load_model("vgg16", weights=None)


@pytest.fixture(scope="module")
def cat(vgg16):
    return vgg16.preprocess("cat")[None]  # a batch of one


def test_vgg16_is_the_lecture_architecture(vgg16):
    assert vgg16.model.count_params() > 138_000_000
    assert vgg16.last_conv_layer() == "block5_conv3"
    assert vgg16.feature_layers()[0] == "block1_conv1"
    assert vgg16.model.layers[-1].activation.__name__ == "linear"  # logits out
    table = receptive_field.layer_table(vgg16.model)
    assert {row.name: row.receptive_field[0] for row in table}["block5_conv3"] == 196


def test_vgg16_stage_activations_and_distillation(vgg16, cat):
    layers = [output for _, output in vgg16.stage_layers()]
    stats = sparsity.distillation_stats(vgg16.model, layers, cat)
    zeros = stats.mean("zero_fraction")
    assert len(zeros) == 5 and np.all((zeros >= 0) & (zeros <= 1))


def test_vgg16_first_layer_kernels_are_rgb(vgg16):
    kernels = filters.rgb_kernels(vgg16)
    assert kernels.shape == (64, 3, 3, 3)
    # VGG16 reads BGR: the RGB kernels are its own with the colour axis reversed
    own = filters.conv_kernel(vgg16, "block1_conv1")  # (3, 3, BGR, 64)
    np.testing.assert_allclose(kernels, np.moveaxis(own, -1, 0)[..., ::-1], rtol=1e-5)


def test_vgg16_filter_ascent_on_each_stage(vgg16):
    for conv, output in vgg16.stage_layers()[::2]:
        result = ascent.maximize_filters(vgg16, output, range(2), steps=2, size=64)
        assert result.images.shape == (2, 64, 64, 3) and np.isfinite(result.images).all()


def test_vgg16_class_images_and_saliency(vgg16, cat):
    images = class_neurons.class_images(vgg16, [130], steps=2, regularization="fourier")
    assert np.isfinite(images.inputs).all()
    x = cat[0]
    for method in ("vanilla", "gradient_x_input"):
        m = saliency.saliency_map(vgg16, x, 130, method=method)
        assert m.shape == (224, 224) and np.isfinite(m).all()
    ig = saliency.integrated_gradients(vgg16, x, 130, steps=4)
    assert np.isfinite(ig.map).all()


def test_vgg16_cam_family(vgg16, cat):
    with pytest.raises(ValueError):
        cam.cam_head(vgg16)  # flatten + dense head: no CAM, Grad-CAM instead
    for method in ("Grad-CAM", "Grad-CAM++"):
        heat = cam.heatmaps(vgg16, cat, [130], method=method)
        assert heat.shape[0] == 1 and np.isfinite(heat).all()
    scored = cam.score_cam(vgg16, cat, [130], max_channels=8)
    assert np.isfinite(scored).all()
    curve = faithfulness.deletion_curve(vgg16, cat, [130], cam.grad_cam(vgg16, cat, [130]),
                                        steps=4, patch=32)
    assert curve.scores.shape == (1, 5) and np.isfinite(curve.scores).all()


def test_vgg16_circuits_read_from_weights(vgg16):
    expanded = circuits.expanded_weights(vgg16, "block1_conv1", "block2_conv1")
    assert expanded.shape[2:] == (64, 128)
    circ = circuits.circuit(vgg16, "block1_conv2", 0)
    assert circ.connections and {c.channel for c in circ.connections} <= set(range(64))
