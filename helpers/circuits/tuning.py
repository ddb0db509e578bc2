"""Orientation tuning: how every channel of a layer answers oriented edges, lines and arcs.

``orientation_tuning`` measures every channel's response at the centre of its map to the
oriented stimuli of ``helpers.stimuli``: its preferred orientation and tuning width;
``sharpest_curve_detectors`` picks the channels that prefer curves to straight lines and are
tuned the most sharply; ``edge_preference`` tells edge detectors from colour and brightness
detectors.

References:
    Cammarata et al., "Curve Detectors", Distill (2020).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from helpers import stimuli as stim
from helpers.probes import needs_edge
from helpers._core.activations import centre_responses
from helpers._core.inputs import as_batch
from helpers._core.model import keras_model, preprocess_fn


def central_responses(model, layer: str, x) -> np.ndarray:
    """Activation of every channel of ``layer`` at the centre of its map: (channels,) for one
    preprocessed image, (N, channels) for a batch.

    For an even-sized map the centre lies between units, so the 2x2 (or 1x2) units around it
    are averaged: the stimuli of ``helpers.stimuli`` are centred on the image's centre.

    Raises:
        ValueError: a bad image or batch, an unknown layer, or one without a spatial map.
    """
    net = keras_model(model)
    batch, single = as_batch(x, net.input_shape)
    responses = centre_responses(net, layer, batch)
    return responses[0] if single else responses


def tuning_width(curve, step: float) -> float:
    """Full width at half maximum of a circular tuning curve, in degrees.

    The half level lies halfway between the curve's minimum and maximum; the width runs from
    where the curve crosses it left of the peak to where it crosses it right of the peak
    (linearly interpolated). A flat curve has width 360 (no preference).

    Args:
        curve: responses at equally spaced orientations around the full circle.
        step: degrees between neighbouring orientations.
    """
    curve = np.asarray(curve, dtype=np.float64)
    low, high = curve.min(), curve.max()
    if not high - low > 1e-12 * max(abs(high), 1.0):
        return 360.0
    half = (low + high) / 2
    peak, n = int(np.argmax(curve)), len(curve)

    def reach(direction: int) -> float:
        for k in range(1, n):
            inner = curve[(peak + direction * (k - 1)) % n]
            outer = curve[(peak + direction * k) % n]
            if outer <= half:
                return k - 1 + (inner - half) / (inner - outer)
        return n / 2

    return float(min(step * (reach(1) + reach(-1)), 360.0))


@dataclass(frozen=True)
class Tuning:
    """Responses of every channel of a layer to oriented stimuli.

    Attributes:
        layer: the layer.
        responses: (radii, orientations, channels) activations at the centre of the map.
        radii: one per row (``inf`` = a straight line or an edge).
        orientations: degrees, one per column, equally spaced around the circle.
    """

    layer: str
    responses: np.ndarray
    radii: tuple[float, ...]
    orientations: np.ndarray

    @property
    def step(self) -> float:
        return 360.0 / len(self.orientations)

    @property
    def peak(self) -> np.ndarray:
        """(channels,) the highest response to any stimulus."""
        return self.responses.max(axis=(0, 1))

    @property
    def preferred_radius(self) -> np.ndarray:
        """(channels,) index into ``radii`` of the row holding each channel's peak."""
        return self.responses.max(axis=1).argmax(axis=0)

    def curve(self, channel: int, row: int | None = None) -> np.ndarray:
        """Tuning curve over orientations of ``channel`` at radius index ``row`` (default: its
        preferred radius)."""
        row = int(self.preferred_radius[channel]) if row is None else row
        return self.responses[row, :, channel]

    @property
    def preferred_orientation(self) -> np.ndarray:
        """(channels,) orientation in degrees of each channel's peak."""
        channels = range(self.responses.shape[-1])
        return np.array([self.orientations[np.argmax(self.curve(c))] for c in channels])

    @property
    def width(self) -> np.ndarray:
        """(channels,) full width at half maximum of each channel's curve, in degrees."""
        return np.array([tuning_width(self.curve(c), self.step)
                         for c in range(self.responses.shape[-1])])

    @property
    def modulation(self) -> np.ndarray:
        """(channels,) (max - min) / max of each channel's curve: 1 when some orientation
        silences it, near 0 when orientation hardly matters (0 for a silent channel)."""
        curves = np.stack([self.curve(c) for c in range(self.responses.shape[-1])], axis=-1)
        top = curves.max(axis=0)
        return np.where(top > 0, (top - curves.min(axis=0)) / np.where(top > 0, top, 1), 0.0)

    @property
    def curve_preference(self) -> np.ndarray:
        """(channels,) (best arc - best line) / (best arc + best line), in [-1, 1]:
        > 0 prefers curves, < 0 straight lines; 0 when there are not both kinds or no response."""
        curved = np.isfinite(np.asarray(self.radii, float))
        if curved.all() or not curved.any():
            return np.zeros(self.responses.shape[-1])
        arcs = self.responses[curved].max(axis=(0, 1))
        lines = self.responses[~curved].max(axis=(0, 1))
        total = arcs + lines
        return np.where(total > 0, (arcs - lines) / np.where(total > 0, total, 1), 0.0)


def _as_stimulus_grid(stimuli, orientations, radii):
    """(images (R, O, H, W), radii, orientations) of a StimulusSet or an array."""
    if isinstance(stimuli, stim.StimulusSet):
        return stimuli.images, stimuli.radii, stimuli.orientations
    images = np.asarray(stimuli, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4:
        raise ValueError(f"Stimuli must be a StimulusSet, (orientations, H, W) or (radii, "
                         f"orientations, H, W); got shape {images.shape}.")
    orientations = (stim.ORIENTATIONS if orientations is None else np.asarray(orientations))
    if len(orientations) != images.shape[1]:
        raise ValueError(f"{images.shape[1]} stimuli per row but {len(orientations)} "
                         "orientations.")
    radii = (np.inf,) * images.shape[0] if radii is None else tuple(radii)
    return images, radii, np.asarray(orientations, dtype=float)


def _preprocessor(model, preprocess):
    """uint8-range RGB -> model input: ``preprocess``, or the model's own
    (``helpers._core.model.preprocess_fn``: a bare Keras model is taken to read [-1, 1])."""
    keras_model(model)  # a model, or the contract's TypeError
    preprocess = preprocess or preprocess_fn(model)
    return lambda rgb: np.asarray(preprocess(rgb), np.float32)


def orientation_tuning(model, layer: str, stimuli, orientations=None, radii=None,
                       preprocess=None, foreground=(255, 255, 255),
                       background=(0, 0, 0)) -> Tuning:
    """Responses of every channel of ``layer`` (at the centre of its map) to oriented stimuli.

    Args:
        model: a VisModel, or a Keras model with ``preprocess``.
        layer: any layer with a spatial output.
        stimuli: a ``stimuli.StimulusSet`` (arcs), or an array in [0, 1] of shape
            (orientations, H, W) such as ``stimuli.edges(...)``, or (radii, orientations, H, W).
        orientations, radii: for an array: its orientations (default: every 15 degrees) and
            radii (default: ``inf``).
        preprocess: uint8 RGB -> model input (default: the VisModel's).
        foreground, background: RGB colours of the stimulus' 1s and 0s.

    Raises:
        ValueError: badly shaped stimuli, or orientations not equally spaced round the circle.
    """
    images, radii, orientations = _as_stimulus_grid(stimuli, orientations, radii)
    spacing = np.diff(np.append(orientations, orientations[0] + 360))
    if not np.allclose(spacing, spacing[0]):
        raise ValueError("Orientations must be equally spaced around the full circle "
                         "(e.g. stimuli.ORIENTATIONS, every 15 degrees).")
    preprocess = _preprocessor(model, preprocess)
    rgb = stim.to_rgb(images, foreground, background)
    rows, cols = rgb.shape[:2]
    x = preprocess(rgb.reshape(-1, *rgb.shape[2:]).astype(np.float32))
    responses = central_responses(model, layer, x).reshape(rows, cols, -1)
    return Tuning(layer, responses, tuple(float(r) for r in radii), orientations)


def sharpest_curve_detectors(tuning: Tuning, top: int = 3, min_peak: float = 0.2,
                             min_preference: float = 0.2,
                             min_modulation: float = 0.5) -> list[int]:
    """Channels that prefer curves to straight lines, narrowest tuning first.

    A channel qualifies if it responds to some stimulus (peak at least ``min_peak`` times the
    layer's highest peak), clearly prefers arcs to lines (``curve_preference`` at least
    ``min_preference``: 0.2 means the best arc drives it 1.5 times as much as the best line)
    and is modulated by orientation (its curve's minimum at most ``1 - min_modulation`` times
    its maximum). Fewer than ``top`` (even none) are returned if fewer qualify.
    """
    peak = tuning.peak
    if peak.max() <= 0:
        return []
    ok = ((peak >= min_peak * peak.max()) & (tuning.curve_preference >= min_preference)
          & (tuning.modulation >= min_modulation))
    candidates = np.flatnonzero(ok)
    width = tuning.width
    return [int(c) for c in candidates[np.argsort(width[candidates], kind="stable")][:top]]


def edge_preference(model, layer: str, preprocess=None) -> tuple[Tuning, np.ndarray]:
    """Edge tuning of every channel of ``layer``, and whether it needs an edge at all.

    A colour or brightness detector also answers a white half-plane, with a tuning curve
    much like an edge detector's; unlike it, it answers a flat white (or black) field as
    much. So next to the edge ``Tuning`` (``stimuli.edges`` at the model's input size) this
    returns (best edge - best flat field) / (best edge + best flat field) per channel, in
    [-1, 1]: at least 1/3 means an edge drives the channel twice as much as any flat field.
    """
    size = int(keras_model(model).inputs[0].shape[1])
    tuning = orientation_tuning(model, layer, stim.edges(size), preprocess=preprocess)
    return tuning, needs_edge(model, layer, preprocess)

