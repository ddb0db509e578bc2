"""Notebook 04's explorer: any photo, any class, layer and method of the CAM family.

A photo (uploaded or a sample), a class (from its top 5 or typed by name), a layer, a method
and the heatmap's opacity; **Explain** replaces the picture (the skeleton of
``helpers.widgets``). The default view is drawn when the explorer is made.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure

from helpers import cam
from helpers.plotting import overlay
from helpers.widgets import Panel

#: The methods offered: the CAM family, and the counterfactual map of Grad-CAM.
METHODS = (*cam.METHODS, "Counterfactual")
#: Methods that draw gradients on pixels, not a heatmap from a layer.
PIXEL_METHODS = ("Guided backprop", "Guided Grad-CAM")


def explanation(vm, photo, cls, layer: str, method: str, score_channels=None):
    """One class's map for ``photo`` (uint8): a heatmap (h, w) in [0, 1] at the layer's
    resolution, or a pixel map (H, W) for the guided methods; ``cls`` a name or an index.

    Raises:
        ValueError: unknown method (the message lists them).
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    x = vm.preprocess(photo)  # one image: one map back
    if method in PIXEL_METHODS:
        grads = (cam.guided_backprop(vm, x, cls) if method == "Guided backprop"
                 else cam.guided_grad_cam(vm, x, cls, layer))
        return cam.pixel_map(grads, percentile=99.5)
    options = {"max_channels": score_channels} if method == "Score-CAM" else {}
    return cam.heatmaps(vm, x, cls, method, None if method == "CAM" else layer, **options)


def explanation_figure(vm, photo, cls, layer: str, method: str, opacity: float = 0.45,
                       score_channels=None) -> Figure:
    """The photo and the chosen map side by side; ``cls`` a name or an index.

    A ``matplotlib.figure.Figure`` outside pyplot's global state, so that a widget callback
    on another thread can draw it safely (see ``helpers.widgets``).
    """
    cls = vm.class_index(cls)
    heat = explanation(vm, photo, cls, layer, method, score_channels)
    probability = cam.class_probabilities(vm, vm.preprocess(photo))[cls]
    fig = Figure(figsize=(8, 4), layout="tight")
    axes = fig.subplots(1, 2)
    axes[0].imshow(photo)
    axes[0].set_title("input", fontsize=9)
    if method in PIXEL_METHODS:  # a pixel map, coloured as in notebook 03
        axes[1].imshow(heat, cmap="inferno", vmin=0, vmax=1)
    else:
        axes[1].imshow(overlay(photo, heat, alpha=opacity))
    where = "" if method in ("CAM", "Guided backprop") else layer
    axes[1].set_title(f"{method}: {vm.class_names[cls]} ({probability:.1%})\n{where}",
                      fontsize=9)
    for ax in axes:
        ax.axis("off")
    return fig


def cam_explorer(vm, image: str | None = None, layer: str | None = None, score_channels=None):
    """The widget: upload or pick a photo, pick a class, layer, method, opacity; "Explain".

    Args:
        vm: a ``VisModel``.
        image: the sample shown first (default: the model's first sample).
        layer: the default layer (default: the last convolutional one).
        score_channels: Score-CAM's ``max_channels`` (None: all channels).

    Returns:
        the widget box to display.
    """
    import ipywidgets as widgets
    from PIL import Image

    image = image if image in vm.samples else next(iter(vm.samples))
    layer = layer or vm.last_conv_layer()
    state = {"photo": vm.load(image)}
    upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload")
    sample = widgets.Dropdown(options=list(vm.samples), value=image, description="Sample")
    top_class = widgets.Dropdown(description="Top 5")
    typed = widgets.Text(placeholder="or any class name", description="Class")
    layer_pick = widgets.Dropdown(options=vm.feature_layers(), value=layer, description="Layer")
    method = widgets.Dropdown(options=METHODS, value="Grad-CAM", description="Method")
    opacity = widgets.FloatSlider(value=0.45, min=0.0, max=1.0, step=0.05,
                                  description="Opacity")
    button = widgets.Button(description="Explain", button_style="primary")
    panel = Panel()

    def use_photo(photo):
        state["photo"] = photo
        choices = [(f"{name} ({p:.0%})", i) for i, name, p in vm.top_k(photo, k=5)]
        top_class.options, top_class.value = choices, choices[0][1]

    def on_upload(_):
        if upload.value:
            content = bytes(upload.value[0]["content"])
            use_photo(vm.load(np.asarray(Image.open(io.BytesIO(content)).convert("RGB"))))

    def figure():
        cls = typed.value.strip() or top_class.value
        return explanation_figure(vm, state["photo"], cls, layer_pick.value, method.value,
                                  opacity.value, score_channels)

    sample.observe(lambda change: use_photo(vm.load(change["new"])), names="value")
    upload.observe(on_upload, names="value")
    button.on_click(lambda _: panel.show(figure, "explained"))
    use_photo(state["photo"])
    panel.show(figure, "explained")
    return panel.box([upload, sample], [top_class, typed], [layer_pick, method],
                     [opacity, button])
