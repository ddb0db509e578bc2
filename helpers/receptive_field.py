"""The receptive-field table of a CNN, and pictures of the patches its units see.

The geometry itself (the recurrence of Araujo et al., Distill 2019) lives in
``helpers._core.geometry``; this module takes a ``VisModel`` or a Keras model and formats
the geometry for people.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colormaps
from matplotlib.patches import Rectangle

from helpers._core import geometry
from helpers._core.geometry import LayerGeometry
from helpers._core.graph import feature_layers, require_spatial
from helpers._core.model import keras_model

__all__ = ["LayerGeometry", "format_table", "image_share", "last_layer_per_scale",
           "layer_table", "receptive_field", "show_receptive_fields"]


def layer_table(model, input_size=None, layers=None) -> list[LayerGeometry]:
    """Every convolution and pooling layer of ``model`` (a ``VisModel`` or a Keras model)
    with its output size and receptive field; see ``helpers._core.geometry.layer_table``
    for ``input_size``, ``layers`` and the errors."""
    return geometry.layer_table(keras_model(model), input_size, layers)


def receptive_field(model, layer: str) -> tuple[int, int]:
    """(height, width) in input pixels of the patch one unit of ``layer`` sees."""
    return geometry.receptive_field(keras_model(model), layer)


def _square(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def image_share(row: LayerGeometry, input_size) -> float:
    """Fraction of the image's area inside the patch seen by the unit at the map's centre."""
    height, width = (int(v) for v in np.broadcast_to(input_size, (2,)))
    top, left, bottom, right = row.patch(row.output[0] // 2, row.output[1] // 2)
    rows = min(bottom, height - 1) - max(top, 0) + 1
    cols = min(right, width - 1) - max(left, 0) + 1
    return max(rows, 0) * max(cols, 0) / (height * width)


def _percent(share: float) -> str:
    return f"{share:.1%}" if share < 0.1 else f"{share:.0%}"


def format_table(rows: list[LayerGeometry], input_size) -> str:
    """The layer table as fixed-width text, one line per layer.

    Args:
        rows: from ``layer_table``.
        input_size: (height, width) of the input (an int for a square), for the last
            column: the share of the image that the centre unit sees.
    """
    cells = [("layer", "type", "kernel/stride", "output HxWxC", "values", "receptive field",
              "sees")]
    for row in rows:
        cells.append((row.name, row.kind, f"{_square(row.kernel)} / {_square(row.stride)}",
                      "x".join(str(v) for v in row.output), f"{row.num_values:,}",
                      f"{_square(row.receptive_field)} px", _percent(image_share(row, input_size))))
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(text.ljust(w) if i < 2 else text.rjust(w)
                       for i, (text, w) in enumerate(zip(line, widths))) for line in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def last_layer_per_scale(model) -> list[str]:
    """The last rectified feature map at each spatial resolution, input to output.

    One layer per scale is a natural set to look at: the end of each block of a VGG-style
    network, and the layer before each strided convolution in MobileNet.
    """
    net = keras_model(model)
    last = {}
    for name in feature_layers(net):
        shape = tuple(require_spatial(net, name).output.shape[1:3])
        last.pop(shape, None)  # re-insert so the dict keeps the order of the last layers
        last[shape] = name
    return list(last.values())


def show_receptive_fields(image, rows: list[LayerGeometry], unit: str = "center",
                          ax=None, cmap: str = "plasma"):
    """Draw the input patch seen by one unit of each layer as a square over the image.

    Args:
        image: the (H, W, 3) input image the geometry refers to.
        rows: from ``layer_table``; one square per row.
        unit: 'center' (the unit nearest the middle of each map) or 'corner' (unit (0, 0),
            whose patch hangs over the padding).
        ax: axes to draw on (default: a new figure).
        cmap: colormap giving each layer its colour, early to late.

    Returns:
        The axes.
    """
    if unit not in ("center", "corner"):
        raise ValueError(f"unit must be 'center' or 'corner', got {unit!r}.")
    image = np.asarray(image)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.imshow(image, extent=(-0.5, image.shape[1] - 0.5, image.shape[0] - 0.5, -0.5))
    colors = colormaps[cmap](np.linspace(0.05, 0.85, len(rows)))
    lo, hi = 0.0, float(max(image.shape[:2]))
    for row, color in zip(rows, colors):
        r, c = (row.output[0] // 2, row.output[1] // 2) if unit == "center" else (0, 0)
        top, left, bottom, right = row.patch(r, c)
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1,
                               fill=False, lw=2.2, ec=color,
                               label=f"{row.name}: {_square(row.receptive_field)} px"))
        lo, hi = min(lo, top, left), max(hi, bottom + 1, right + 1)
    margin = 0.03 * (hi - lo)
    ax.set_xlim(lo - margin - 0.5, hi + margin - 0.5)
    ax.set_ylim(hi + margin - 0.5, lo - margin - 0.5)
    ax.set_facecolor("0.85")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False,
              title="the centre unit of" if unit == "center" else "the corner unit of",
              title_fontsize=9)
    return ax
