"""The regularization ladder: how each step of the ascent changes the image, rung by rung.

Each rung adds to the one before it what makes feature visualizations legible (Olah,
Mordvintsev & Schubert, "Feature Visualization", Distill 2017): normalised steps, L2 decay and
blur, transformation robustness, and a decorrelated Fourier parameterization.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from helpers._core.inputs import check_positive

NORMALIZE_MODES = ("every_step", "first_step", "adam")


@dataclass(frozen=True)
class Regularization:
    """One rung of the regularization ladder: how each step changes the image.

    Attributes:
        name: a label for figures.
        normalize: ``"every_step"`` divides every gradient by its root mean square (per image),
            so each step moves pixels by about ``lr``; ``"first_step"`` is plain gradient
            ascent, eta = lr / rms(first gradient) kept fixed; ``"adam"`` divides each
            parameter's gradient by its own running scale (Adam, as Lucid does; this keeps
            the Fourier rung's 1/f scaling from being applied twice).
        lr: default learning rate (eta) for this rung, in units of the [-1, 1] image.
        l2: L2 decay: the image is multiplied by (1 - l2) after each step.
        blur_every: blur the image every this many steps (0: never).
        blur_sigma: standard deviation of that Gaussian blur, in pixels.
        jitter: random shift of up to this many pixels each step.
        scale: random zoom factor in [1 - scale, 1 + scale] each step.
        rotate: random rotation in [-rotate, rotate] degrees each step.
        fourier: optimize 1/f-scaled Fourier coefficients instead of pixels.
        decorrelate: optimize decorrelated colour channels (RGB images only).
    """

    name: str = "custom"
    normalize: str = "every_step"
    lr: float = 0.05
    l2: float = 0.0
    blur_every: int = 0
    blur_sigma: float = 0.5
    jitter: int = 0
    scale: float = 0.0
    rotate: float = 0.0
    fourier: bool = False
    decorrelate: bool = False

    def __post_init__(self):
        if self.normalize not in NORMALIZE_MODES:
            raise ValueError(f"normalize must be one of {NORMALIZE_MODES}; got {self.normalize!r}.")
        check_positive("lr", self.lr)
        checks = {"l2": 0 <= self.l2 < 1, "blur_every": self.blur_every >= 0,
                  "blur_sigma": 0 < self.blur_sigma <= 1.5, "jitter": self.jitter >= 0,
                  "scale": 0 <= self.scale < 0.5, "rotate": 0 <= self.rotate <= 90}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                f"Regularization {bad[0]}={getattr(self, bad[0])!r} is out of range: l2 in [0, 1), "
                "blur_every >= 0, blur_sigma in (0, 1.5], jitter >= 0, scale in [0, 0.5), "
                "rotate in [0, 90] degrees."
            )

    @property
    def transforms(self) -> bool:
        return bool(self.jitter or self.scale or self.rotate)

    def with_(self, **changes) -> Regularization:
        """A copy with some fields changed, e.g. ``LADDER['robust'].with_(jitter=8)``."""
        return dataclasses.replace(self, **changes)


#: The ladder, rung by rung; each adds to the one before it.
LADDER = {
    "naive": Regularization("naive", normalize="first_step"),
    "normalized": Regularization("normalized"),
    "decay_blur": Regularization("decay_blur", l2=0.02, blur_every=4, blur_sigma=0.5),
    "robust": Regularization("robust", l2=0.02, blur_every=4, blur_sigma=0.5,
                             jitter=4, scale=0.1, rotate=10),
    "fourier": Regularization("fourier", normalize="adam", lr=0.05, jitter=4, scale=0.1,
                              rotate=10, fourier=True, decorrelate=True),
}


def get_regularization(reg: str | Regularization = "normalized", **changes) -> Regularization:
    """A rung of ``LADDER`` by name (or a ``Regularization`` as is), with optional changes.

    Raises:
        ValueError: unknown rung name; the message lists them.
    """
    if isinstance(reg, Regularization):
        return reg.with_(**changes) if changes else reg
    if reg not in LADDER:
        raise ValueError(f"Unknown regularization {reg!r}; choose one of {', '.join(LADDER)} "
                         "or pass a helpers.ascent.Regularization(...).")
    return LADDER[reg].with_(**changes) if changes else LADDER[reg]
