"""A circuit: a unit with its strongest excitatory and inhibitory inputs and their weights.

For a 3x3 convolution the weights from input channel i into unit j are the 3x3 slice
``kernel[:, :, i, j]``: where, around the unit's position, input feature i excites (positive,
red) or inhibits (negative, blue) it. ``matching_chance`` says how many "matching" inputs
chance alone would give, to judge a circuit against.

References:
    Olah et al., "Zoom In: An Introduction to Circuits", Distill (2020); Cammarata et al.,
    "Curve Circuits", Distill (2021).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

from helpers._core.activations import layer_outputs
from helpers._core.inputs import as_batch, check_count
from helpers._core.model import keras_model
from helpers.circuits.graph import feature_map_of, feature_source
from helpers.circuits.weights import unit_weights

#: How input channels are ranked: net weight (sum of the slice) or its largest entry.
RANKINGS = ("sum", "peak")


@dataclass(frozen=True)
class Connection:
    """One input channel of a circuit.

    Attributes:
        channel: the input channel's index.
        weights: its (kh, kw) weight slice into the unit.
        strength: the signed ranking score (``Circuit.rank``): > 0 excites, < 0 inhibits.
    """

    channel: int
    weights: np.ndarray
    strength: float


@dataclass(frozen=True)
class Circuit:
    """A unit and its strongest inputs.

    Attributes:
        layer: the unit's layer; unit: its channel.
        input_layer: the layer whose channels are the inputs.
        excitatory: strongest positive inputs, strongest first.
        inhibitory: strongest negative inputs, strongest first.
        expanded: whether the weights are expanded across several layers.
        rank: how inputs were ranked (``RANKINGS``).
        kernel_size: (height, width) of each weight slice.
    """

    layer: str
    unit: int
    input_layer: str
    excitatory: tuple[Connection, ...]
    inhibitory: tuple[Connection, ...]
    expanded: bool
    rank: str
    kernel_size: tuple[int, int]

    @property
    def connections(self) -> tuple[Connection, ...]:
        return self.excitatory + self.inhibitory


def _scores(weights: np.ndarray, rank: str) -> np.ndarray:
    """Signed score of each input channel of (kh, kw, in_channels) weights."""
    if rank == "sum":
        return weights.sum(axis=(0, 1))
    flat = weights.reshape(-1, weights.shape[-1])
    return np.where(flat.max(axis=0) >= -flat.min(axis=0), flat.max(axis=0), flat.min(axis=0))


def _only(scores: np.ndarray, channels) -> np.ndarray:
    """``scores`` with every channel not in ``channels`` set to 0."""
    chosen = np.asarray(list(channels), dtype=int)
    if chosen.size == 0 or chosen.min() < 0 or chosen.max() >= len(scores):
        raise ValueError(f"channels must be a non-empty list of input channels in "
                         f"0..{len(scores) - 1}; got {list(channels)}.")
    keep = np.zeros(len(scores), bool)
    keep[chosen] = True
    return np.where(keep, scores, 0.0)


def circuit(model, layer: str, unit: int, from_layer: str | None = None, top: int = 3,
            rank: str | None = None, min_share: float = 0.05, channels=None) -> Circuit:
    """The ``top`` strongest excitatory and inhibitory input channels of ``unit`` of ``layer``.

    Args:
        model: a VisModel or a Keras model.
        layer: a convolution (plain, pointwise or separable; not depthwise).
        unit: the unit's channel index.
        from_layer: None to read the layer's own kernel (its input channels, followed back over
            pooling, are the inputs), or an earlier layer to read expanded weights from it.
        top: how many inputs of each sign.
        rank: ``"sum"`` ranks inputs by the sum of their weight slice (how much the unit moves
            when that input fires evenly everywhere), ``"peak"`` by their largest weight.
            Default: ``"sum"`` for a layer's own kernel, ``"peak"`` for expanded weights, whose
            larger kernels often excite in one place and inhibit in another, which a sum
            would cancel.
        min_share: leave out inputs whose score is below this share of the strongest one's
            (in absolute value): they hardly matter.
        channels: only consider these input channels (e.g. the edge detectors among them).

    Raises:
        ValueError: unit out of range, ``top`` < 1, unknown ``rank``, a layer that is not a
            convolution, or layers that are not connected.
    """
    if rank is None:
        rank = "sum" if from_layer is None else "peak"
    if rank not in RANKINGS:
        raise ValueError(f"rank must be one of {RANKINGS}; got {rank!r}.")
    top = check_count("top", top)
    weights = unit_weights(model, layer, unit, from_layer)
    scores = _scores(weights, rank)
    if channels is not None:
        scores = _only(scores, channels)
    floor = max(min_share * np.abs(scores).max(), 0)
    order = np.argsort(scores)
    positive = [int(i) for i in order[::-1][:top] if scores[i] > floor]
    negative = [int(i) for i in order[:top] if scores[i] < -floor]

    def connect(chosen):
        return tuple(Connection(c, weights[..., c], float(scores[c])) for c in chosen)

    source = feature_source(model, layer) if from_layer is None else from_layer
    return Circuit(layer, int(unit), source, connect(positive), connect(negative),
                   from_layer is not None, rank, tuple(weights.shape[:2]))


def most_active_unit(model, layer: str, x) -> int:
    """The unit of convolution ``layer`` with the largest mean rectified activation on ``x``
    (one preprocessed image or a batch; the mean runs over every image and position): a unit
    worth looking at for this input."""
    net = keras_model(model)
    batch, _ = as_batch(x, net.input_shape)
    name = feature_map_of(net, layer)
    return int(layer_outputs(net, name, batch)[name].mean(axis=(0, 1, 2)).argmax())


def matching_chance(matches, picks) -> np.ndarray:
    """How many matches chance alone gives when each unit's inputs are drawn at random.

    Unit u has candidate inputs, some of which would "match" it (e.g. an edge detector at the
    curve's orientation); ``picks[u]`` of them are drawn without replacement. The number of
    matches of one unit is hypergeometric, P(k) = C(K, k) C(N - K, n - k) / C(N, n) with N
    candidates, K matching and n drawn; the units' counts add up (a convolution).

    Args:
        matches: per unit, a boolean sequence over its candidate inputs (True = would match).
        picks: per unit, how many inputs were drawn (at most the number of candidates).

    Returns:
        float64 (sum(picks) + 1,): the probability of 0, 1, ... matches in all. The chance of
        doing at least as well as ``m`` observed matches is ``dist[m:].sum()``.

    Raises:
        ValueError: lengths that differ, or more picks than candidates.
    """
    matches, picks = [np.asarray(m, bool) for m in matches], [int(n) for n in picks]
    if len(matches) != len(picks):
        raise ValueError(f"One pick count per unit: {len(matches)} units, {len(picks)} counts.")
    dist = np.ones(1)
    for m, n in zip(matches, picks):
        total, good = len(m), int(m.sum())
        if not 0 <= n <= total:
            raise ValueError(f"Cannot draw {n} inputs from {total} candidates.")
        one = np.array([comb(good, k) * comb(total - good, n - k) for k in range(n + 1)],
                       np.float64) / comb(total, n)
        dist = np.convolve(dist, one)
    return dist
