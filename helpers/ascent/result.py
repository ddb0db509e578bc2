"""What an ascent returns, and the measure of how noisy its images are."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from helpers.ascent.objectives import Objective
from helpers.ascent.regularization import Regularization


@dataclass
class AscentResult:
    """What ``maximize`` returns.

    Attributes:
        images: displayable RGB ``uint8`` images, one per unit, (N, H, W, 3).
        inputs: the optimized images as the model sees them (after its preprocessing),
            float32 (N, H, W, C): ``model(inputs)`` reproduces the scores.
        history: the objective at every step (before that step's update), (steps, N).
        initial: the objective for the starting images, (N,).
        final: the objective for the final images, untransformed, (N,).
        units: the filter or class index of each image.
        objective: what was maximized.
        regularization: the rung used.
        minimize: whether the objective was minimized instead.
        dead: units whose gradient was zero at every step (their image never changed).
        seconds: wall-clock time of the optimization.
        out_of_range: share of each image's pixel values outside what a real image can hold
            (beyond black or white), (N,). Unconstrained ascent buys activation this way.
        high_frequency: share of each image's contrast energy at high spatial frequencies
            (``high_frequency_share``), (N,): about 0.8 for white noise, near 0 for smooth
            images. Plain ascent's pixel-level noise shows here.
        similarity: for ``maximize_diverse``, the cosine similarity of the final images' Gram
            matrices at the diversity layer, (N, N) (``gram_similarity``); None otherwise.
    """

    images: np.ndarray
    inputs: np.ndarray
    history: np.ndarray
    initial: np.ndarray
    final: np.ndarray
    units: tuple[int, ...]
    objective: Objective
    regularization: Regularization
    minimize: bool = False
    dead: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    seconds: float = 0.0
    out_of_range: np.ndarray = field(default_factory=lambda: np.zeros(0))
    high_frequency: np.ndarray = field(default_factory=lambda: np.zeros(0))
    similarity: np.ndarray | None = None

    def titles(self, fmt: str = "{unit}: {final:.2f}", names=None) -> list[str]:
        """One caption per image; ``fmt`` may use {unit}, {name}, {initial} and {final}."""
        return [fmt.format(unit=u, name=names[u] if names is not None else u,
                           initial=a, final=b)
                for u, a, b in zip(self.units, self.initial, self.final)]


def high_frequency_share(images, cutoff: float = 0.25) -> np.ndarray:
    """Share of each image's contrast energy at spatial frequencies above ``cutoff`` cycles per
    pixel (0.5 is the finest, a checkerboard), from its 2-D Fourier transform:

        sum_{|f| > cutoff} |F(f)|^2 / sum_{f != 0} |F(f)|^2,   F the FFT of each channel

    The mean of each channel is left out, so a flat image counts as nothing. White noise spreads
    its energy evenly, about 1 - pi cutoff^2 = 0.80 of it above the default cutoff; a photo's
    falls off as 1/f^2 and keeps only a few percent there. Pixel-level noise is what unregularized
    gradient ascent adds, and what this number catches even when a display stretch hides it.

    Args:
        images: (N, H, W, C) or (H, W, C) numbers, any range.
        cutoff: in cycles per pixel, in (0, 0.5).

    Returns:
        (N,) shares in [0, 1] (0 for a constant image); (1,) for one image.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4:
        raise ValueError(f"Expected images (N, H, W, C) or (H, W, C); got shape {images.shape}.")
    if not 0 < cutoff < 0.5:
        raise ValueError(f"cutoff is in cycles per pixel, in (0, 0.5); got {cutoff}.")
    images = images - images.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(images, axes=(1, 2))) ** 2
    fy = np.fft.fftfreq(images.shape[1])[:, None]
    fx = np.fft.fftfreq(images.shape[2])[None, :]
    high = (np.sqrt(fx ** 2 + fy ** 2) > cutoff)[None, :, :, None]
    total = power.sum(axis=(1, 2, 3))
    return np.divide((power * high).sum(axis=(1, 2, 3)), total, out=np.zeros_like(total),
                     where=total > 1e-20)  # a constant image: rounding only
