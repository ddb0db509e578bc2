"""Notebook 04's explorer: its maps are the cam module's, and it answers bad input in words."""

import numpy as np
import pytest

from helpers import cam, cam_explorer


def test_each_heatmap_is_the_cam_modules_own(shapes_model):
    photo = shapes_model.load("star_and_ring")
    x = shapes_model.preprocess(photo)
    layer = shapes_model.last_conv_layer()
    for method in ("Grad-CAM", "Grad-CAM++", "Counterfactual"):
        shown = cam_explorer.explanation(shapes_model, photo, 3, layer, method)
        np.testing.assert_allclose(shown, cam.heatmaps(shapes_model, x, 3, method, layer),
                                   atol=1e-6)


def test_a_class_by_name_gives_the_class_by_index(shapes_model):
    photo = shapes_model.load("star_and_ring")
    layer = shapes_model.last_conv_layer()
    np.testing.assert_array_equal(
        cam_explorer.explanation(shapes_model, photo, "ring", layer, "Guided Grad-CAM"),
        cam_explorer.explanation(shapes_model, photo, shapes_model.class_index("ring"), layer,
                                 "Guided Grad-CAM"))


def test_unknown_method_lists_the_methods(shapes_model):
    with pytest.raises(ValueError, match="Unknown method 'GradCAM'.*Grad-CAM, Grad-CAM\\+\\+"):
        cam_explorer.explanation(shapes_model, shapes_model.load("star"), 0, "block4_conv2",
                                 "GradCAM")


def test_explorer_draws_the_default_and_replaces_it_on_explain(shapes_model):
    pytest.importorskip("ipywidgets")
    box = cam_explorer.cam_explorer(shapes_model, "star_and_ring")
    *rows, status, out = box.children
    button = rows[-1].children[-1]
    top_class = rows[1].children[0]
    first = out.outputs[0]["data"]["image/png"]
    top_class.value = top_class.options[1][1]   # the second class of the top 5
    button.click()
    assert len(out.outputs) == 1 and out.outputs[0]["data"]["image/png"] != first
    rows[1].children[1].value = "flamngo"        # a typo: one readable line, no traceback
    button.click()
    assert "Unknown class name 'flamngo'" in out.outputs[0]["text"]
    assert status.value == "failed"


def test_the_figure_stays_out_of_pyplots_global_state(shapes_model):
    """A widget callback runs on another thread: its figure must not join pyplot's list,
    where the inline backend's end-of-cell hook would find it."""
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = cam_explorer.explanation_figure(shapes_model, shapes_model.load("star"), "star",
                                          shapes_model.last_conv_layer(), "Grad-CAM")
    assert plt.get_fignums() == before and len(fig.axes) == 2
    assert fig.axes[1].get_title().startswith("Grad-CAM: star (")
