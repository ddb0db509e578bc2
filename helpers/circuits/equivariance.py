"""Equivariance: pairs of units whose kernels are rotated copies of each other, and kernels
shown as pictures over the RGB pixels.

References:
    Olah et al., "Naturally Occurring Equivariance in Neural Networks", Distill (2020).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from helpers._core.model import affine_preprocessing, preprocess_fn


def rotate_kernel(kernel, angle: float) -> np.ndarray:
    """``kernel`` (kh, kw, ...) rotated counter-clockwise on screen by ``angle`` degrees about
    its centre: exact for multiples of 90, bilinear otherwise (zero outside the kernel)."""
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim < 2:
        raise ValueError(f"A kernel has at least two (spatial) axes; got shape {kernel.shape}.")
    quarter = angle / 90.0
    if np.isclose(quarter, round(quarter)) and kernel.shape[0] == kernel.shape[1]:
        return np.rot90(kernel, int(round(quarter)) % 4, axes=(0, 1)).copy()
    return _rotate_bilinear(kernel, angle)


def _rotate_bilinear(kernel: np.ndarray, angle: float) -> np.ndarray:
    h, w = kernel.shape[:2]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    theta = np.deg2rad(angle)
    # each output pixel samples the input where the inverse rotation takes it (y points down)
    sx = cx + np.cos(theta) * (x - cx) - np.sin(theta) * (y - cy)
    sy = cy + np.sin(theta) * (x - cx) + np.cos(theta) * (y - cy)
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    out = np.zeros_like(kernel)
    for dy in (0, 1):
        for dx in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            weight = (1 - np.abs(sx - xi)) * (1 - np.abs(sy - yi))
            inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            weight = np.where(inside, weight, 0.0)
            values = kernel[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
            out += (weight.reshape(h, w, *([1] * (kernel.ndim - 2))) * values).astype(np.float32)
    return out


@dataclass(frozen=True)
class RotatedPair:
    """Unit ``b`` looks like unit ``a`` turned by ``angle`` degrees.

    Attributes:
        a, b: the two units.
        angle: counter-clockwise rotation taking a's kernel to b's.
        similarity: cosine similarity of rotated a with b.
        plain_similarity: cosine similarity of a with b, unrotated.
    """

    a: int
    b: int
    angle: float
    similarity: float
    plain_similarity: float


def _cosine(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Cosine similarity of every column of u (d, n) with every column of v (d, m)."""
    un = u / np.maximum(np.linalg.norm(u, axis=0, keepdims=True), 1e-12)
    vn = v / np.maximum(np.linalg.norm(v, axis=0, keepdims=True), 1e-12)
    return un.T @ vn


def rotated_pairs(kernels, angles=(90, 180, 270), top: int = 6, margin: float = 0.2,
                  min_similarity: float = 0.5) -> list[RotatedPair]:
    """Pairs of units whose kernels are approximately rotated copies of each other.

    For every pair (a, b) and angle, the cosine similarity of a's kernel rotated by the angle
    with b's kernel. A pair counts if that similarity is at least ``min_similarity`` and beats
    the unrotated one by ``margin``: two copies of the same round blob are similar at every
    angle, which is not equivariance.
    Only spatial positions rotate, so the inputs must keep their meaning under rotation:
    use it on kernels that read the image (the first layer, or expanded from the input).

    Args:
        kernels: (kh, kw, in_channels, units).
        angles: rotations to try, in degrees.
        top: how many pairs to return, most similar first.
        margin: how much rotation must improve the similarity.
        min_similarity: the least similarity of a rotated copy.

    Returns:
        Up to ``top`` ``RotatedPair`` s, each unordered pair once, best angle only.
    """
    kernels = np.asarray(kernels, dtype=np.float32)
    if kernels.ndim != 4:
        raise ValueError(f"kernels must be (kh, kw, in_channels, units); got {kernels.shape}.")
    units = kernels.shape[-1]
    flat = kernels.reshape(-1, units)
    plain = _cosine(flat, flat)
    best: dict[tuple[int, int], RotatedPair] = {}
    for angle in angles:
        turned = rotate_kernel(kernels, angle).reshape(-1, units)
        sim = _cosine(turned, flat)  # sim[a, b] = cos(rot(a), b)
        for a in range(units):
            for b in range(units):
                if a == b or sim[a, b] < min_similarity or sim[a, b] - plain[a, b] < margin:
                    continue
                key = (min(a, b), max(a, b))
                if key not in best or sim[a, b] > best[key].similarity:
                    best[key] = RotatedPair(a, b, float(angle), float(sim[a, b]),
                                            float(plain[a, b]))
    return sorted(best.values(), key=lambda p: -p.similarity)[:top]


def kernel_image(kernel) -> np.ndarray:
    """An RGB kernel (kh, kw, 3) as a picture: 0 is mid-grey, the largest |weight| saturates."""
    kernel = np.asarray(kernel, dtype=np.float32)
    scale = max(np.abs(kernel).max(), 1e-12)
    return np.clip(0.5 + 0.5 * kernel / scale, 0, 1)


def pixel_kernels(model, kernels) -> np.ndarray:
    """Kernels (kh, kw, 3, units) that read the model's preprocessed input, rewritten over RGB
    pixels u: with the preprocessing x = M u + b per pixel, w . x = (M^T w) . u + const. For
    VGG16 this swaps BGR back to RGB; for [-1, 1] models it only rescales (a bare Keras model
    is taken to read [-1, 1] input, ``helpers._core.model.preprocess_fn``)."""
    kernels = np.asarray(kernels, np.float32)
    if kernels.ndim != 4 or kernels.shape[2] != 3:
        raise ValueError(f"Expected kernels (kh, kw, 3, units) on the RGB input; got "
                         f"{kernels.shape}.")
    matrix, _ = affine_preprocessing(preprocess_fn(model), 3)
    return np.einsum("hwcf,cd->hwdf", kernels, matrix)
