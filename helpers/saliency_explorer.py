"""The interactive gradient-map viewer of notebook 03, and a searchable class picker.

``saliency_explorer`` shows one image's map for any class and method of
``helpers.saliency``; ``class_picker`` is the search box and dropdown of classes it shares
with ``class_neurons.class_explorer``. Importable from ``helpers.saliency`` too.
"""

from __future__ import annotations

import numpy as np

from helpers._core.model import class_index
from helpers.saliency_figures import in_grey, normalize_map
from helpers.widgets import Panel


def class_picker(vm, value=None, description: str = "class"):
    """A search box and a dropdown of the model's classes whose names contain the search.

    Typing only filters the list (nothing is computed), so it also works for ImageNet's
    1,000 classes. Returns (widget, function returning the chosen class index).
    """
    import ipywidgets as widgets

    style = {"description_width": "initial"}
    everything = [(f"{name} ({i})", i) for i, name in enumerate(vm.class_names)]
    value = 0 if value is None else class_index(vm, value)
    search = widgets.Text(placeholder="search, e.g. flamingo", description=description,
                          style=style, layout=widgets.Layout(width="230px"))
    pick = widgets.Dropdown(options=everything, value=value, layout=widgets.Layout(width="230px"))

    def on_search(change):
        found = [(f"{name} ({i})", i) for i, name in vm.find_classes(change["new"])]
        if found:
            pick.options = found  # the first match becomes the value
            search.description = description
        else:
            search.description = f"{description}: no match"

    search.observe(on_search, names="value")
    return widgets.HBox([search, pick]), lambda: pick.value


class SaliencyExplorer:
    """Draws one image's map for any class and method; used by ``saliency_explorer``."""

    def __init__(self, vm, images: dict):
        if not images:
            raise ValueError("Give at least one image: {'name': uint8 RGB image}.")
        self.vm = vm
        self.images = {name: vm.load(image) for name, image in images.items()}

    def figure(self, image: str, cls=None, method: str = "vanilla", **params):
        """Photo, map and overlay for class ``cls`` (default: the top prediction).

        Built as a ``matplotlib.figure.Figure``, outside pyplot's global list, so that it is
        safe to draw from a widget's callback thread.
        """
        from matplotlib.figure import Figure

        from helpers.plotting import show_heatmap

        # Imported here: helpers.saliency imports this module to re-export the viewer.
        from helpers.saliency import integrated_gradients, saliency_map

        if image not in self.images:
            raise ValueError(f"Unknown image {image!r}; choose one of {', '.join(self.images)}.")
        photo = self.images[image]
        x = self.vm.preprocess(photo)
        probabilities = self.vm.predict(photo)
        index = int(probabilities.argmax()) if cls is None else class_index(self.vm, cls)
        name = self.vm.class_names[index]
        if method == "integrated_gradients":
            baseline = params.pop("baseline", None)
            if isinstance(baseline, str):  # "black" or "grey", in the model's input space
                baseline = self._named_baseline(baseline, photo)
            result = integrated_gradients(self.vm, x, index, baseline=baseline, **params)
            shown, note = result.map, f"completeness error {result.completeness_error:.1%}"
        else:
            shown, note = saliency_map(self.vm, x, index, method, **params), ""
        fig = Figure(figsize=(9, 3.3))
        axes = fig.subplots(1, 3)
        axes[0].imshow(photo)
        axes[0].set_title(f"{image}: p({name}) = {probabilities[index]:.1%}", fontsize=9)
        axes[1].imshow(normalize_map(shown), cmap="inferno", vmin=0, vmax=1)
        axes[1].set_title(f"{method} for {name}", fontsize=9)
        show_heatmap(in_grey(photo), normalize_map(shown), alpha=0.6, cmap="inferno",
                     ax=axes[2], title=note or "over the photo")
        for ax in axes:
            ax.axis("off")
        fig.tight_layout()
        return fig

    def _named_baseline(self, name: str, photo: np.ndarray) -> np.ndarray:
        if name == "black":
            return self.vm.preprocess(np.zeros_like(photo))
        if name == "grey":
            return self.vm.preprocess(np.full_like(photo, 128))
        raise ValueError(f"Unknown baseline {name!r}; use 'black', 'grey' or an array.")


def saliency_explorer(vm, images: dict, image=None, cls=None):
    """The interactive gradient-map viewer: image, class (searchable), method and its
    parameters; press "Compute". The default view is drawn right away, so the figure also
    appears (and the code runs) when the notebook runs headless.

    Returns:
        (the widget box to display, the ``SaliencyExplorer`` behind it).
    """
    import ipywidgets as widgets

    from helpers.saliency import METHODS  # here: helpers.saliency imports this module

    explorer = SaliencyExplorer(vm, images)
    image = image or next(iter(explorer.images))
    if cls is None:
        cls = int(vm.logits(explorer.images[image]).argmax())
    style = {"description_width": "initial"}
    pick_image = widgets.Dropdown(options=list(explorer.images), value=image,
                                  description="image", style=style)
    classes, chosen_class = class_picker(vm, cls)
    method = widgets.Dropdown(options=METHODS, value="vanilla", description="method",
                              style=style)
    noise = widgets.FloatSlider(value=0.15, min=0.0, max=0.5, step=0.05,
                                description="SmoothGrad noise", style=style)
    samples = widgets.IntSlider(value=32, min=1, max=64, description="samples", style=style)
    steps = widgets.IntSlider(value=64, min=4, max=128, step=4, description="IG steps",
                              style=style)
    baseline = widgets.Dropdown(options=["black", "grey"], value="black",
                                description="IG baseline", style=style)
    button = widgets.Button(description="Compute", button_style="primary")
    panel = Panel()

    def params():
        if method.value == "smoothgrad":
            return {"noise": noise.value, "samples": samples.value}
        if method.value == "integrated_gradients":
            return {"steps": steps.value, "baseline": baseline.value}
        return {}

    def draw(_=None):
        panel.show(lambda: explorer.figure(pick_image.value, chosen_class(), method.value,
                                           **params()), "computed")

    button.on_click(draw)
    draw()
    return panel.box([pick_image, classes], [method, button], [noise, samples],
                     [steps, baseline]), explorer
