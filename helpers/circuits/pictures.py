"""Feature visualizations of units, circuits drawn with them, and the circuit picker.

``feature_images`` pictures a unit by gradient ascent (``helpers.ascent``), or, for a feature
computed by one convolution from the pixels, by its kernel over the RGB pixels;
``show_circuit`` reads a circuit and draws it with those pictures; ``circuit_picker`` is the
interactive explorer of notebook 05.
"""

from __future__ import annotations

import numpy as np

from helpers._core.compiled import cached
from helpers._core.geometry import receptive_field
from helpers._core.graph import get_layer
from helpers._core.model import keras_model
from helpers.circuits.equivariance import kernel_image, pixel_kernels
from helpers.circuits.figures import plot_circuit
from helpers.circuits.graph import (default_from_layer, first_layer_conv, is_input, unit_layer,
                                    visualized_layer)
from helpers.circuits.weights import effective_kernel
from helpers.circuits.wiring import circuit


def _kernel_pictures(model, conv: str, channels, pixels: int = 8) -> dict:
    """{channel: uint8 RGB picture of its kernel over pixels, each weight a pixels x pixels
    square; None for a kernel that is all zero}."""
    kernels = pixel_kernels(model, effective_kernel(model, conv))
    largest = np.abs(kernels).max()
    out = {}
    for c in channels:
        k = kernels[..., int(c)]
        if np.abs(k).max() <= 1e-6 * largest:
            out[int(c)] = None
            continue
        image = (255 * kernel_image(k)).round().astype(np.uint8)
        out[int(c)] = np.repeat(np.repeat(image, pixels, axis=0), pixels, axis=1)
    return out


def feature_images(model, layer: str, channels, size=None, steps: int = 48,
                   regularization: str = "robust", seed: int = 0) -> dict[int, np.ndarray | None]:
    """Feature visualizations of units of ``layer``: for each channel, the image that most
    excites the unit at the centre of the map (``helpers.ascent``, objective cropped to the
    centre), optimized on an image about three receptive fields wide and shown cropped to
    about two (at least 16 pixels), where the unit looks.

    Args:
        model: a VisModel, or a Keras model taking [-1, 1] images.
        layer: a layer with a spatial output, e.g. ``circuit.input_layer``.
        channels: channel indices.
        size: image side in pixels (default: 3 receptive fields, 32 to 96 pixels, at most the
            model's input size).
        steps, regularization, seed: as for ``ascent.maximize``.

    A feature computed by a single convolution straight from the pixels (``first_layer_conv``)
    is linear until its ReLU, so the patch of a given contrast that drives it most is its
    kernel itself: it gets that picture (``pixel_kernels``, mid-grey = 0, each weight a square),
    since gradient ascent's jitter and blur smear a 3-pixel pattern into a colour blob.

    Returns:
        {channel: RGB uint8 image, or None for a dead unit, one whose gradient stays zero, so
        it gets no picture}. Results are remembered: asking again costs nothing.
    """
    from helpers import ascent

    if is_input(model, layer):
        raise ValueError(f"{layer!r} is the model's input: its channels are the colours, with "
                         "nothing to visualize. Show the kernels with kernel_image instead.")
    conv = first_layer_conv(model, layer)
    if conv is not None:
        return _kernel_pictures(model, conv, channels)
    net = keras_model(model)
    try:
        field = max(receptive_field(net, layer))
    except ValueError:  # a model of any input size, or a layer the table cannot follow
        field = None
    native = net.inputs[0].shape[1] or 96
    if size is None:
        size = int(min(native, 96 if field is None else max(32, min(96, 3 * field))))
    crop = 0 if field is None else (size - min(size, max(16, 2 * field))) // 2
    target = visualized_layer(model, layer)
    settings = (target, size, steps, regularization, seed)
    # {(layer, settings, unit): image}, kept with the model
    known = cached(net, ("circuits.feature_images",), dict)
    missing = sorted({int(c) for c in channels if settings + (int(c),) not in known})
    if missing:
        # crop=0.49 leaves only the centre of the map: the objective is one unit, not a channel
        result = ascent.maximize_filters(model, target, missing, steps=steps, size=size,
                                         crop=0.49, regularization=regularization, seed=seed,
                                         warn_dead=False)
        for unit, image, dead in zip(result.units, result.images, result.dead):
            known[settings + (unit,)] = None if dead else image
    pictures = {int(c): known[settings + (int(c),)] for c in channels}
    return {c: None if image is None else image[crop:size - crop, crop:size - crop]
            for c, image in pictures.items()}


def show_circuit(model, layer: str, unit: int, from_layer: str | None = None, top: int = 3,
                 rank: str | None = None, channels=None, size=None, steps: int = 48,
                 input_labels=None, title=None):
    """Read a circuit and draw it with feature visualizations of its inputs and its unit.

    Inputs that are the image's colour channels are drawn as their colour; inputs computed
    by one convolution from the pixels, as their kernels over the RGB pixels, in colour and
    summed over the colours (``plot_circuit``'s ``input_kernels``), where an edge detector's
    edge shows; other inputs, by feature visualizations (``feature_images``). Arguments as for
    ``circuit``, ``feature_images`` (``size``, ``steps``) and ``plot_circuit``
    (``input_labels``, ``title``). Returns (circuit, figure).
    """
    circ = circuit(model, layer, unit, from_layer=from_layer, top=top, rank=rank,
                   channels=channels)
    pixels = is_input(model, circ.input_layer)
    conv = None if pixels else first_layer_conv(model, circ.input_layer)
    inputs, kernels = None, None
    if pixels:  # the colour channels: draw each as its colour
        inputs = {c: np.full((4, 4, 3), np.eye(3)[c] * 0.85) for c in range(3)}
    elif conv is not None:  # computed from the pixels: colour and grey-level kernels
        kernels = pixel_kernels(model, effective_kernel(model, conv))
    else:
        inputs = feature_images(model, circ.input_layer, [c.channel for c in circ.connections],
                                size=size, steps=steps)
    unit_image = feature_images(model, layer, [unit], size=size, steps=steps)[unit]
    caption = f"{circ.input_layer} kernels\ncolour | grey level" if conv else None
    return circ, plot_circuit(circ, inputs, unit_image, input_labels=input_labels, title=title,
                              input_caption=caption, input_kernels=kernels)


def circuit_picker(model, layers, default_layer: str | None = None, default_unit: int = 0,
                   from_layers: dict | None = None, top: int = 3, size=None, steps: int = 48):
    """A widget: pick a layer and a unit, press the button, see the unit's circuit.

    The default choice is drawn when the widget is made; each press replaces the picture
    (the skeleton of ``helpers.widgets``), and a unit without a circuit (all its weights
    zero, say) gets one line saying so.

    Args:
        model: a VisModel or a Keras model.
        layers: layer names to offer (convolutions whose units have circuits).
        default_layer, default_unit: the initial choice.
        from_layers: {layer: earlier layer} to read some layers' weights from; the others
            read from ``default_from_layer`` (their own kernel, or for MobileNet's pointwise
            convolutions, expanded from the block before).
        top, size, steps: as for ``show_circuit``.

    Returns:
        An ``ipywidgets.VBox``.
    """
    import ipywidgets as widgets

    from helpers.widgets import Panel

    net = keras_model(model)
    layers = list(layers)
    for name in layers:
        unit_layer(net, name)
    sources = {name: default_from_layer(model, name) for name in layers}
    sources.update(from_layers or {})

    def units(name):
        return int(get_layer(net, name).output.shape[-1])

    layer_box = widgets.Dropdown(options=layers, value=default_layer or layers[0],
                                 description="layer")
    unit_box = widgets.BoundedIntText(value=default_unit, min=0, max=units(layer_box.value) - 1,
                                      description="unit")
    button = widgets.Button(description="Show circuit", button_style="primary")
    panel = Panel()

    def on_layer(change):
        unit_box.max = units(change["new"]) - 1

    def figure():
        return show_circuit(model, layer_box.value, unit_box.value,
                            from_layer=sources[layer_box.value], top=top, size=size,
                            steps=steps)[1]

    def draw(_=None):
        panel.show(figure, "drawn", busy=f"reading the circuit of {layer_box.value} unit "
                                         f"{unit_box.value}, visualizing its inputs...")

    layer_box.observe(on_layer, names="value")
    button.on_click(draw)
    draw()
    return panel.box([layer_box, unit_box, button])
