"""Every explorer, clicked the way JupyterLab clicks it: from another thread, controls changed
between clicks. Each click must leave exactly one new, non-blank picture in the explorer's
output area (a blank or stacked figure is what a real browser showed before the skeleton)."""

import base64
import io
import threading

import numpy as np
import pytest
from PIL import Image

widgets = pytest.importorskip("ipywidgets")

from helpers import (cam_explorer, circuits, class_neurons, explorer, filters,  # noqa: E402
                     saliency)

CLICKS_PER_EXPLORER = 4


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def _box(made):
    return made[0] if isinstance(made, tuple) else made


def _picture(box) -> np.ndarray | None:
    """The explorer's one picture as a grey array, or None when its output holds no picture."""
    (out,) = [w for w in _walk(box) if isinstance(w, widgets.Output)]
    pictures = [o["data"]["image/png"] for o in out.outputs
                if o.get("output_type") == "display_data" and "image/png" in o.get("data", {})]
    assert len(out.outputs) <= 1, "a click stacked a second output above the first"
    if not pictures:
        return None
    png = base64.b64decode(pictures[0])
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32)


def _change_controls(box) -> None:
    """Move every dropdown to its next option and every whole-number control one step, so
    that each click asks for something new."""
    for w in _walk(box):
        if isinstance(w, widgets.Dropdown) and len(w.options) > 1:
            options = [o[1] if isinstance(o, tuple) else o for o in w.options]
            w.value = options[(options.index(w.value) + 1) % len(options)]
        elif isinstance(w, widgets.IntSlider | widgets.BoundedIntText):
            w.value = w.min + (w.value - w.min + 1) % (w.max - w.min + 1)


def _click_from_thread(button) -> None:
    worker = threading.Thread(target=button.click)
    worker.start()
    worker.join(timeout=300)
    assert not worker.is_alive(), f"the {button.description!r} click did not finish in 300 s"


def _explorers(lab):
    gallery = {name: lab.load(name) for name in list(lab.samples)[:3]}
    layer = lab.stage_layers()[1][1]
    choices = circuits.choices(lab)
    return {
        "activations": lambda: explorer.activation_explorer(lab, gallery),
        "filters": lambda: filters.filter_explorer(lab, layer, steps=8, size=48),
        "class images": lambda: class_neurons.class_explorer(lab, 0, steps=8),
        "image gradients": lambda: saliency.saliency_explorer(lab, gallery),
        "CAM": lambda: cam_explorer.cam_explorer(lab, list(lab.samples)[0]),
        "circuits": lambda: circuits.circuit_picker(lab, choices["layers"][:2], steps=8),
    }


def test_every_explorer_draws_a_new_non_blank_picture_on_every_threaded_click(shapes_model):
    lab = shapes_model
    blank, clicks, report = [], 0, []
    for name, make in _explorers(lab).items():
        box = _box(make())
        buttons = [w for w in _walk(box) if isinstance(w, widgets.Button)
                   and not isinstance(w, widgets.FileUpload)]
        assert buttons, f"{name}: no button to press"
        previous = _picture(box)
        for click in range(CLICKS_PER_EXPLORER):
            _change_controls(box)
            _click_from_thread(buttons[0])
            clicks += 1
            picture = _picture(box)
            if picture is None or picture.std() < 1.0:
                blank.append(f"{name} click {click + 1}")
                continue
            changed = previous is None or picture.shape != previous.shape or not np.array_equal(
                picture, previous)
            report.append((name, click, changed))
            previous = picture
    assert clicks >= 20
    assert not blank, f"blank or missing pictures after: {blank}"
    unchanged = sorted({name for name, _, changed in report if not changed})
    assert not unchanged, f"clicks with changed controls left the same picture in: {unchanged}"
