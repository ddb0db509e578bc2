"""Layer outputs in one compiled forward pass, and the centre-unit response read from them."""

from __future__ import annotations

import keras
import numpy as np

from helpers._core.compiled import cached, compiled, quiet_tracing
from helpers._core.graph import get_layer, require_spatial, tap_model
from helpers._core.inputs import BATCH_SIZE, in_batches


class _Outputs:
    """``x -> [outputs of the tapped layers]`` (the final output dropped)."""

    def __init__(self, tapped: keras.Model):
        self.tapped = tapped

    def __call__(self, x):
        return self.tapped(x, training=False)[:-1]


def layer_outputs(net: keras.Model, names, x: np.ndarray,
                  batch_size: int = BATCH_SIZE) -> dict[str, np.ndarray]:
    """Outputs of the layers ``names`` for the batch ``x`` (N, H, W, C), from one compiled
    forward pass per chunk of ``batch_size`` images; works inside nested bases.

    Raises:
        ValueError: no names, or an unknown layer (closest names suggested).
    """
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise ValueError("Give at least one layer name.")
    for name in names:
        get_layer(net, name)
    key = tuple(names)
    tapped = cached(net, ("core.taps", key), lambda: tap_model(net, names))
    step = compiled(net, ("core.outputs", key), lambda: _Outputs(tapped))
    with quiet_tracing():
        outputs = in_batches(lambda xb: tuple(keras.ops.convert_to_numpy(t) for t in step(xb)),
                             batch_size, x)
    return dict(zip(names, outputs))


def centre_units(height: int, width: int) -> np.ndarray:
    """Boolean mask of the units nearest a map's centre: one for odd sizes, 2 x 2 for even.

    Stimuli centred on the image centre (an edge's boundary, a curve's middle) reach these
    units the same way whatever their orientation, far from the zero-padded border.
    """
    mask = np.zeros((height, width), dtype=bool)
    mask[(height - 1) // 2:height // 2 + 1, (width - 1) // 2:width // 2 + 1] = True
    return mask


def centre_responses(net: keras.Model, layer: str, x: np.ndarray,
                     batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Activation of every channel of ``layer`` at the centre of its map, (N, channels)
    (the mean of the ``centre_units``).

    Raises:
        ValueError: unknown layer, or one without a spatial map.
    """
    require_spatial(net, layer)
    maps = layer_outputs(net, layer, x, batch_size)[layer]
    return maps[:, centre_units(*maps.shape[1:3]), :].mean(axis=1)
