"""The explorer skeleton: pictures replace each other, from any thread, and errors are one line."""

import threading

import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers import widgets as skeleton


def _figure(value):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.imshow(np.full((4, 4), value), vmin=0, vmax=1, cmap="gray")
    return fig


def test_figure_png_renders_and_closes():
    fig = _figure(0.5)
    png = skeleton.figure_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and not plt.fignum_exists(fig.number)


def test_each_show_replaces_the_picture_even_from_other_threads():
    pytest.importorskip("ipywidgets")
    plt.close("all")  # figures other tests left open are not this test's
    panel = skeleton.Panel()
    pictures = []
    for value in (0.1, 0.9, 0.5):
        worker = threading.Thread(target=panel.show, args=(lambda v=value: _figure(v),))
        worker.start()
        worker.join()
        assert len(panel.out.outputs) == 1
        pictures.append(panel.out.outputs[0]["data"]["image/png"])
    assert len(set(pictures)) == 3, "every draw gives its own picture"
    assert panel.status.value.startswith("drawn in")
    assert not plt.get_fignums(), "no figure left for the inline backend to find"


def test_an_error_is_one_readable_line_in_the_output():
    pytest.importorskip("ipywidgets")
    panel = skeleton.Panel()
    panel.show(lambda: _figure(0.2))

    def broken():
        raise ValueError("Unknown class name 'flamngo'. Did you mean: flamingo?")

    panel.show(broken)
    (only,) = panel.out.outputs
    assert only["text"] == "ValueError: Unknown class name 'flamngo'. Did you mean: flamingo?\n"
    assert panel.status.value == "failed"


def test_figures_drawn_in_a_panel_never_reach_pyplot():
    pytest.importorskip("ipywidgets")
    from helpers.plotting import new_figure, show_images

    plt.close("all")
    panel = skeleton.Panel()
    seen = []

    def draw():
        fig = show_images([np.eye(4)] * 2)
        seen.append((type(fig).__name__, plt.get_fignums()))
        return fig

    worker = threading.Thread(target=panel.show, args=(draw,))
    worker.start()
    worker.join()
    assert seen == [("Figure", [])], "the figure was registered with pyplot"
    assert panel.out.outputs[0]["data"]["image/png"]
    outside = new_figure()
    assert plt.fignum_exists(outside.number), "outside a panel, figures are pyplot's (shown)"
    plt.close(outside)
