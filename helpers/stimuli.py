"""Synthetic stimuli: curves (arcs), straight lines, edges, gratings and flat fields.

The one renderer of the series' probe images (``probes`` draws its edges, gratings and colour
patches with it). Every stimulus is centred on the image: an arc's midpoint, a line's
midpoint, an edge's boundary and a grating's bright stripe all pass through the centre pixel,
so the unit at the centre of a feature map sees the same part of each stimulus. Orientations
are angles in degrees, counter-clockwise on screen from "pointing right":

- an **arc** of radius r at orientation theta bulges towards theta: its circle's centre lies
  r pixels from the image centre in the opposite direction;
- a **line** is the limit r -> infinity, drawn across theta (at 0 degrees it is vertical);
- an **edge** is bright on the side theta points to and dark on the other;
- a **grating**'s brightness varies along theta (its stripes run across it).

Arcs and edges differ at theta and theta + 180 degrees, so orientations cover the full
circle, in steps of 15 degrees by default. Images are float32 in [0, 1] (1 = stroke or the
bright side); ``to_rgb`` makes them RGB images, in any two colours.

References:
    Cammarata et al., "Curve Detectors", Distill (2020).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Orientations in degrees, every 15 degrees around the circle.
ORIENTATIONS = np.arange(0, 360, 15)
#: Largest angle an arc may span, so that it never closes into a ring (which has no orientation).
MAX_SPAN_DEG = 270.0


@dataclass(frozen=True)
class StimulusSet:
    """Arcs at every (radius, orientation).

    Attributes:
        images: float32 (radii, orientations, size, size), values in [0, 1].
        radii: radius of each row in pixels; ``inf`` is a straight line.
        orientations: orientation of each column in degrees.
    """

    images: np.ndarray
    radii: tuple[float, ...]
    orientations: np.ndarray

    @property
    def curved(self) -> np.ndarray:
        """Boolean mask over ``radii``: True for arcs, False for straight lines."""
        return np.isfinite(np.asarray(self.radii, dtype=float))


def direction(orientation: float) -> np.ndarray:
    """Unit vector (dx, dy) in pixel coordinates (y points down) for an orientation in degrees."""
    theta = np.deg2rad(orientation)
    return np.array([np.cos(theta), -np.sin(theta)])


def _check_size(size) -> int:
    if int(size) != size or size < 8:
        raise ValueError(f"Stimulus size must be an integer of at least 8 pixels, got {size}.")
    return int(size)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates relative to the image centre."""
    centre = (size - 1) / 2
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    return x - centre, y - centre


def _stroke(distance: np.ndarray, width: float) -> np.ndarray:
    """Anti-aliased stroke: 1 within width/2 of the curve, fading to 0 over one pixel."""
    return np.clip(width / 2 + 0.5 - distance, 0.0, 1.0).astype(np.float32)


def arc(size: int, orientation: float, radius: float, length: float | None = None,
        width: float = 2.0) -> np.ndarray:
    """An arc (or, for ``radius=inf``, a straight line) through the image centre.

    Args:
        size: side of the square image in pixels.
        orientation: direction the arc bulges towards, in degrees (see the module docstring).
        radius: radius of curvature in pixels; ``np.inf`` gives a straight line.
        length: arc length in pixels (default: 40% of ``size``); very tight arcs are cut at
            270 degrees so they stay open.
        width: stroke width in pixels.

    Returns:
        float32 (size, size) in [0, 1], 1 on the stroke.

    Raises:
        ValueError: a size, radius, length or width that is not positive.
    """
    size = _check_size(size)
    length = 0.4 * size if length is None else float(length)
    if not radius > 0 or not length > 0 or not width > 0:
        raise ValueError(
            f"radius, length and width must be positive; got radius={radius}, "
            f"length={length}, width={width}."
        )
    x, y = _grid(size)
    u = direction(orientation)
    if np.isinf(radius):
        return _segment(x, y, u, length, width)
    half_span = min(length / radius, np.deg2rad(MAX_SPAN_DEG)) / 2
    cx, cy = -radius * u  # the circle's centre, behind the bulge
    dx, dy = x - cx, y - cy
    # angle of each pixel around the circle's centre, measured from the bulge direction
    angle = np.arctan2(dx * -u[1] + dy * u[0], dx * u[0] + dy * u[1])
    on_arc = np.abs(np.hypot(dx, dy) - radius)
    ends = [np.array([cx, cy]) + radius * _turn(u, s) for s in (-half_span, half_span)]
    to_end = np.minimum(*(np.hypot(x - ex, y - ey) for ex, ey in ends))
    distance = np.where(np.abs(angle) <= half_span, on_arc, to_end)
    return _stroke(distance, width)


def _turn(u: np.ndarray, angle: float) -> np.ndarray:
    """``u`` turned by ``angle`` radians towards its perpendicular (-u_y, u_x): the point at
    ``angle`` on the unit circle in the frame where ``arc`` measures its angles."""
    return np.cos(angle) * u + np.sin(angle) * np.array([-u[1], u[0]])


def _segment(x, y, u, length, width) -> np.ndarray:
    along = np.array([-u[1], u[0]])  # the line runs across the orientation
    t = np.clip(x * along[0] + y * along[1], -length / 2, length / 2)
    return _stroke(np.hypot(x - t * along[0], y - t * along[1]), width)


def line(size: int, orientation: float, length: float | None = None,
         width: float = 2.0) -> np.ndarray:
    """A straight line segment through the centre, across ``orientation`` (an arc of infinite
    radius); see ``arc``."""
    return arc(size, orientation, np.inf, length=length, width=width)


def edge(size: int, orientation: float, softness: float = 1.0) -> np.ndarray:
    """A straight edge through the centre: bright on the side ``orientation`` points to.

    Args:
        size: side of the square image in pixels.
        orientation: direction from dark to bright, in degrees.
        softness: width in pixels of the ramp from dark to bright.

    Returns:
        float32 (size, size) in [0, 1].
    """
    size = _check_size(size)
    if not softness > 0:
        raise ValueError(f"softness must be positive, got {softness}.")
    x, y = _grid(size)
    u = direction(orientation)
    return np.clip(0.5 + (x * u[0] + y * u[1]) / softness, 0.0, 1.0).astype(np.float32)


def grating(size: int, orientation: float, period: float = 8.0,
            phase: float = 0.0) -> np.ndarray:
    """A sinusoidal grating 0.5 + 0.5 cos(2 pi d / period + phase), d the distance from the
    centre along ``orientation``.

    Args:
        size: side of the square image in pixels.
        orientation: direction across the stripes, in degrees.
        period: pixels from one bright stripe to the next (at least 2, the Nyquist limit).
        phase: shift in radians; 0 puts a bright stripe through the centre.

    Returns:
        float32 (size, size) in [0, 1].
    """
    size = _check_size(size)
    if not period >= 2:
        raise ValueError(f"A grating's period must be at least 2 pixels, got {period}.")
    x, y = _grid(size)
    u = direction(orientation)
    wave = np.cos(2 * np.pi * (x * u[0] + y * u[1]) / period + phase)
    return (0.5 + 0.5 * wave).astype(np.float32)


def flat(size: int, level: float = 1.0) -> np.ndarray:
    """A uniform field: float32 (size, size) filled with ``level`` in [0, 1] (with ``to_rgb``,
    a patch of one colour)."""
    size = _check_size(size)
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"level must lie in [0, 1], got {level}.")
    return np.full((size, size), level, dtype=np.float32)


def default_radii(size: int) -> tuple[float, ...]:
    """Radii of 1/16, 1/8 and 1/4 of the image, then a straight line (``inf``)."""
    return (size / 16, size / 8, size / 4, np.inf)


def curves(size: int, radii=None, orientations=ORIENTATIONS, length: float | None = None,
           width: float = 2.0) -> StimulusSet:
    """Arcs at every radius and orientation (a straight line where the radius is ``inf``).

    Args:
        size: side of the square images in pixels.
        radii: radii in pixels (default ``default_radii(size)``).
        orientations: orientations in degrees (default: every 15 degrees).
        length, width: as for ``arc``.
    """
    radii = tuple(float(r) for r in (default_radii(size) if radii is None else radii))
    orientations = np.asarray(orientations, dtype=float)
    if not radii or orientations.size == 0:
        raise ValueError("Give at least one radius and one orientation.")
    images = np.stack([np.stack([arc(size, o, r, length=length, width=width)
                                 for o in orientations]) for r in radii])
    return StimulusSet(images, radii, orientations)


def edges(size: int, orientations=ORIENTATIONS, softness: float = 1.0) -> np.ndarray:
    """Edges at every orientation: float32 (orientations, size, size)."""
    return np.stack([edge(size, o, softness) for o in np.asarray(orientations, dtype=float)])


def to_rgb(stimuli, foreground=(255, 255, 255), background=(0, 0, 0)) -> np.ndarray:
    """Stimuli in [0, 1] of any leading shape (..., H, W) as uint8 RGB (..., H, W, 3).

    0 becomes ``background`` and 1 ``foreground``, blended in between.
    """
    stimuli = np.asarray(stimuli, dtype=np.float32)
    if stimuli.ndim < 2:
        raise ValueError(f"Stimuli must have shape (..., H, W); got {stimuli.shape}.")
    if stimuli.min() < 0 or stimuli.max() > 1:
        raise ValueError("Stimulus values must lie in [0, 1].")
    fg = np.asarray(foreground, dtype=np.float32)
    bg = np.asarray(background, dtype=np.float32)
    rgb = bg + stimuli[..., None] * (fg - bg)
    return rgb.round().clip(0, 255).astype(np.uint8)
