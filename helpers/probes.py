"""Probe images for early detectors: oriented edges, gratings and colour patches.

Feeding a network simple images whose content we control tells us what its first channels
detect: an edge detector fires on edges of one orientation and not the orthogonal one, a
colour detector on one hue. Every probe is drawn by ``helpers.stimuli`` (the one renderer)
at any size, centred on the image, so the units at the centre of a feature map all see the
same part of each probe; here they are grey around mid-grey, at a chosen contrast.

Angles are degrees, counter-clockwise on screen from "pointing right" (the convention of
``stimuli``). An **edge** at angle theta is bright on the side theta points to (so theta and
theta + 180 are the same edge with opposite polarity); a **grating**'s brightness varies
along theta (its stripes run across it).

References:
    Hubel & Wiesel, "Receptive fields, binocular interaction and functional architecture in
    the cat's visual cortex" (1962); Zeiler & Fergus, "Visualizing and Understanding
    Convolutional Networks" (2014).
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

from helpers import stimuli
from helpers._core.activations import centre_responses
from helpers._core.inputs import as_batch
from helpers._core.model import keras_model, preprocess_fn

#: Edge directions: four orientations, each with both polarities.
EDGE_ANGLES = (0, 45, 90, 135, 180, 225, 270, 315)
#: Grating orientations (a grating at theta + 180 is the same grating).
GRATING_ANGLES = (0, 45, 90, 135)
#: Full-field colour patches, RGB.
COLORS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 70, 230),
          "yellow": (235, 215, 40), "cyan": (40, 210, 220), "magenta": (215, 50, 200)}
GREY = 128


def on_grey(stimulus: np.ndarray, contrast: float = 0.8) -> np.ndarray:
    """A ``stimuli`` image in [0, 1] as grey RGB uint8 around mid-grey: 0.5 + contrast (s - 0.5).

    Raises:
        ValueError: ``contrast`` outside (0, 1].
    """
    if not 0.0 < contrast <= 1.0:
        raise ValueError(f"contrast must be in (0, 1], got {contrast}.")
    low, high = 255 * (0.5 - contrast / 2), 255 * (0.5 + contrast / 2)
    return stimuli.to_rgb(stimulus, foreground=(high,) * 3, background=(low,) * 3)


def color_patch(size: int, color) -> np.ndarray:
    """A uniform field of one colour: a colour name from ``COLORS`` or an (R, G, B) triple."""
    if isinstance(color, str):
        if color not in COLORS:
            raise ValueError(f"Unknown colour {color!r}; use one of {', '.join(COLORS)} "
                             "or an (R, G, B) triple of 0-255 values.")
        color = COLORS[color]
    rgb = np.asarray(color)
    if rgb.shape != (3,) or rgb.min() < 0 or rgb.max() > 255:
        raise ValueError(f"A colour is an (R, G, B) triple of values in 0-255, got {color!r}.")
    return stimuli.to_rgb(stimuli.flat(size), foreground=rgb)


@dataclass(frozen=True)
class Probes:
    """A bank of probe images.

    Attributes:
        images: uint8 (N, size, size, 3).
        names: a short label per probe ('edge 45°', 'grating 90°', 'red').
        kinds: 'edge', 'grating' or 'colour' per probe.
        angles: the angle in degrees of edges and gratings, NaN for colours.
    """

    images: np.ndarray
    names: tuple[str, ...]
    kinds: tuple[str, ...]
    angles: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def of_kind(self, kind: str) -> np.ndarray:
        """Indices of the probes of one kind, in order."""
        if kind not in ("edge", "grating", "colour"):
            raise ValueError(f"Probe kinds are 'edge', 'grating' and 'colour', got {kind!r}.")
        return np.flatnonzero(np.asarray(self.kinds) == kind)


def probe_set(size: int, period: float = 8.0, contrast: float = 0.8) -> Probes:
    """Edges in eight directions, gratings in four orientations (``stimuli.edge`` and
    ``stimuli.grating`` at ``contrast`` around mid-grey) and six colour patches.

    Raises:
        ValueError: a size under 8 pixels, a period under 2 or a contrast outside (0, 1].
    """
    edges = [on_grey(stimuli.edge(size, angle), contrast) for angle in EDGE_ANGLES]
    gratings = [on_grey(stimuli.grating(size, angle, period), contrast)
                for angle in GRATING_ANGLES]
    colours = [color_patch(size, name) for name in COLORS]
    names = ([f"edge {a}°" for a in EDGE_ANGLES] + [f"grating {a}°" for a in GRATING_ANGLES]
             + list(COLORS))
    kinds = ("edge",) * len(edges) + ("grating",) * len(gratings) + ("colour",) * len(colours)
    angles = list(EDGE_ANGLES) + list(GRATING_ANGLES) + [np.nan] * len(colours)
    return Probes(np.stack(edges + gratings + colours), tuple(names), kinds,
                  np.asarray(angles, float))


def _model_input(model, preprocess, images: np.ndarray) -> np.ndarray:
    """uint8 RGB images -> model input: ``preprocess``, or the model's own (``preprocess_fn``)."""
    preprocess = preprocess_fn(model) if preprocess is None else preprocess
    return as_batch(np.asarray(preprocess(np.asarray(images, np.float32)), np.float32))[0]


def probe_responses(model, layer: str, probes: Probes, preprocess=None,
                    baseline: bool = True) -> np.ndarray:
    """What each probe does to every channel of ``layer``, read at the centre of its map.

    The centre, not the mean over the map: an edge detector fires only along the edge, a
    thin line that a mean would dilute with the flat regions on either side. By default
    the channel's activation on a blank mid-grey image is subtracted: what is left is the
    response *evoked* by the probe (positive: it excites the channel, negative: it
    suppresses it), free of the channel's bias, which can be large after batch norm.

    Args:
        model: a ``VisModel`` or a Keras model.
        layer: name of a layer with a spatial output.
        probes: from ``probe_set``, drawn at the model's input size.
        preprocess: uint8 images -> model input (default: the ``VisModel``'s own; for a Keras
            model, MobileNet's x / 127.5 - 1).
        baseline: subtract the response to a blank grey image.

    Returns:
        float array (num_probes, channels).

    Raises:
        ValueError: unknown layer (valid names listed) or a layer without a spatial map.
    """
    blank = np.full_like(probes.images[:1], GREY)
    x = _model_input(model, preprocess, np.concatenate([probes.images, blank]))
    centre = centre_responses(keras_model(model), layer, x)
    return centre[:-1] - centre[-1:] if baseline else centre[:-1]


def needs_edge(model, layer: str, preprocess=None) -> np.ndarray:
    """How much more an edge drives each channel of ``layer`` than a flat field, in [-1, 1].

    (E - F) / (E + F), with E the channel's strongest response (at the centre of its map) to
    a black-and-white edge in any of 24 directions (``stimuli.edges``) and F its strongest
    response to a flat black or white field (at least 0); 0 when neither excites it. A colour
    or brightness channel answers the bright half of an edge and a white field alike (near 0);
    a score of 1/3 or more means an edge drives the channel twice as much as any flat field.

    Args:
        model: a ``VisModel`` or a Keras model; the stimuli are drawn at its input size.
        layer, preprocess: as for ``probe_responses``.

    Returns:
        float array (channels,).
    """
    size = int(keras_model(model).input_shape[1])
    fields = np.stack([stimuli.flat(size, 0.0), stimuli.flat(size, 1.0)])
    rgb = stimuli.to_rgb(np.concatenate([stimuli.edges(size), fields]))
    centre = centre_responses(keras_model(model), layer, _model_input(model, preprocess, rgb))
    edge, field = centre[:-2].max(axis=0), np.maximum(centre[-2:].max(axis=0), 0)
    total = edge + field
    return np.where(total > 0, (edge - field) / np.where(total > 0, total, 1.0), 0.0)


def orientation_selectivity(responses: np.ndarray, probes: Probes):
    """Preferred edge direction of each channel and how selective it is for it.

    Only excitation counts (negative responses are set to 0). The selectivity index is
    (R_pref - R_orth) / (R_pref + R_orth), with R_orth the mean response to the two edges
    at right angles to the preferred one: 1 for a channel that is silent on orthogonal
    edges, 0 for one that does not care. Channels no edge excites get 0.

    Returns:
        (preferred angle in degrees (C,), selectivity index (C,)).
    """
    idx = probes.of_kind("edge")
    if len(idx) == 0:
        raise ValueError("The probe set has no edges; build it with probe_set(size).")
    edges = np.maximum(np.asarray(responses)[idx], 0)
    angles = probes.angles[idx]
    preferred = angles[edges.argmax(axis=0)]
    orth = np.stack([edges[np.isclose((angles - p) % 180, 90), c].mean()
                     for c, p in enumerate(preferred)])
    peak = edges.max(axis=0)
    total = peak + orth
    index = np.where(total > 0, (peak - orth) / np.where(total > 0, total, 1.0), 0.0)
    return preferred, index


def favourite_probes(responses: np.ndarray) -> np.ndarray:
    """Index of the probe that excites each channel most; -1 for a channel none excites."""
    responses = np.asarray(responses)
    return np.where(responses.max(axis=0) > 0, responses.argmax(axis=0), -1)


#: The series' edge detector: its best edge drives it at least twice as much as any flat field,
#: i.e. ``needs_edge`` (E - F) / (E + F) >= 1/3 (notebook 05's ``circuits.edge_preference`` too).
EDGE_THRESHOLD = 1 / 3

#: What an early channel detects, by ``channel_kinds``, in the order counts are printed.
KINDS = ("edge", "edge side", "colour", "none")


def channel_kinds(responses: np.ndarray, probes: Probes, needs_edge,
                  threshold: float = EDGE_THRESHOLD) -> np.ndarray:
    """What each channel detects, one of ``KINDS``, from its probe responses.

    - 'edge': an edge detector, the series' one definition: ``needs_edge`` of at least
      ``threshold`` (1/3: its best edge drives it at least twice as much as any flat field);
    - 'edge side': not an edge detector, but an edge or a grating is its favourite probe: a
      colour or brightness channel that likes the side of an edge with its colour at the
      centre, and answers a flat field of that colour about as much;
    - 'colour': not an edge detector, and a colour patch is its favourite probe;
    - 'none': not an edge detector, and no probe excites it.

    Args:
        responses: (num_probes, C) from ``probe_responses``.
        probes: the probe set the responses were measured with.
        needs_edge: (C,) (best edge - best flat field) / (best edge + best flat field), from
            ``needs_edge(model, layer)``.
        threshold: the edge detector's least ``needs_edge``.

    Returns:
        str array (C,).
    """
    responses = np.asarray(responses)
    needs_edge = np.asarray(needs_edge, dtype=float)
    if responses.ndim != 2 or responses.shape[0] != len(probes):
        raise ValueError(f"responses must be (num_probes={len(probes)}, channels); got shape "
                         f"{responses.shape}. Measure them with probe_responses(...).")
    if needs_edge.shape != responses.shape[1:]:
        raise ValueError(f"needs_edge must have one value per channel ({responses.shape[1]}); "
                         f"got shape {needs_edge.shape}.")
    favourite = favourite_probes(responses)
    kind = np.array([probes.kinds[f] if f >= 0 else "none" for f in favourite], dtype=object)
    out = np.where(kind == "colour", "colour", "none").astype(object)
    out[np.isin(kind, ["edge", "grating"])] = "edge side"
    out[needs_edge >= threshold] = "edge"
    return out.astype(str)


def show_probe_responses(probes: Probes, responses: np.ndarray, title: str | None = None,
                         channels=None):
    """Heatmap of channels (rows) by probes (columns), each row scaled to its own extreme.

    Red: the probe excites the channel, blue: it suppresses it (responses measured against
    a blank grey image, see ``probe_responses``). Each row is divided by its largest
    absolute response, a dot marks its favourite probe, and each column is labelled with a
    thumbnail of its probe. Rows of channels no probe moves are grey.

    Returns:
        The figure.
    """
    responses = np.asarray(responses, dtype=np.float32)
    channels = np.arange(responses.shape[1]) if channels is None else np.asarray(channels)
    rows = responses[:, channels].T
    peak = np.abs(rows).max(axis=1, keepdims=True)
    scaled = np.where(peak > 0, rows / np.where(peak > 0, peak, 1.0), np.nan)
    n_probes, n_channels = len(probes), len(channels)
    fig, ax = plt.subplots(figsize=(0.42 * n_probes + 1.8, 0.3 * n_channels + 1.9))
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="0.8")
    image = ax.imshow(scaled, cmap=cmap, vmin=-1, vmax=1, aspect="auto")
    best = favourite_probes(responses[:, channels])
    live = best >= 0
    ax.scatter(best[live], np.flatnonzero(live), s=16, c="black", edgecolors="white",
               linewidths=0.7, zorder=3)
    ax.set_yticks(range(n_channels), [f"ch {c}" for c in channels], fontsize=7)
    ax.set_xticks(range(n_probes), probes.names, rotation=90, fontsize=7)
    ax.tick_params(length=0)
    zoom = 18 / probes.images.shape[1]
    for i, probe in enumerate(probes.images):
        box = AnnotationBbox(OffsetImage(probe, zoom=zoom), (i, -0.5), xybox=(0, 12),
                             xycoords="data", boxcoords="offset points", frameon=False,
                             annotation_clip=False)
        ax.add_artist(box)
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("response / channel's largest |response|", fontsize=8)
    bar.set_ticks([-1, 0, 1], labels=["-1 suppressed", "0", "1 excited"], fontsize=7)
    if title:
        ax.set_title(title, fontsize=10, pad=30)
    fig.tight_layout()
    return fig


def show_edge_tuning(probes: Probes, responses: np.ndarray, channels, ncols: int = 4):
    """Polar tuning curves: how much an edge in every direction excites each channel.

    The curve points towards the edge directions the channel likes (the bright side); an
    edge detector draws a lobe in one direction, a detector of orientation regardless of
    polarity two opposite lobes. The radius of each plot is the channel's strongest
    excitation by *any* probe, so a colour detector's edge curve stays small. Each title
    gives the channel's favourite probe and its selectivity index (see
    ``orientation_selectivity``).

    Returns:
        The figure.
    """
    idx = probes.of_kind("edge")
    angles = np.deg2rad(np.append(probes.angles[idx], probes.angles[idx][0]))
    channels = list(channels)
    if not channels:
        raise ValueError("Give at least one channel to plot.")
    rows = -(-len(channels) // ncols)
    cols = min(ncols, len(channels))
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.4 * rows),
                             subplot_kw={"projection": "polar"}, squeeze=False)
    for ax in axes.flat[len(channels):]:
        ax.set_visible(False)
    excitation = np.maximum(np.asarray(responses), 0)
    _, selectivity = orientation_selectivity(responses, probes)
    favourite = favourite_probes(responses)
    for ax, channel in zip(axes.flat, channels):
        curve = np.append(excitation[idx, channel], excitation[idx[0], channel])
        ax.plot(angles, curve, color="#d1495b", lw=2)
        ax.fill(angles, curve, color="#d1495b", alpha=0.25)
        ax.set_ylim(0, max(excitation[:, channel].max() * 1.05, 1e-6))
        ax.set_xticks(np.deg2rad([0, 90, 180, 270]), ["0°", "90°", "180°", "270°"], fontsize=7)
        ax.set_yticklabels([])
        best = probes.names[favourite[channel]] if favourite[channel] >= 0 else "none"
        ax.set_title(f"channel {channel}: likes {best}\nselectivity {selectivity[channel]:.2f}",
                     fontsize=9)
    fig.tight_layout()
    return fig
