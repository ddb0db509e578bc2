"""A synthetic world of shapes where the right answer is known.

Each scene is an RGB image of one or two shapes (circle, square, triangle, star, cross, ring)
in random colours, sizes, positions and rotations, on a textured, noisy background with thin
distractor strokes. Every object comes with its class and its pixel mask, so a heatmap can
be checked against where the object really is. Scenes are rendered in whole batches with
NumPy and are identical for the same seed.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

CLASSES = ("circle", "square", "triangle", "star", "cross", "ring")
IMAGE_SIZE = 96
CHUNK = 128


@dataclass
class Scenes:
    """A batch of rendered scenes.

    Attributes:
        images: (N, S, S, 3) uint8 RGB images.
        classes: (N, K) int class index of each of the K objects in a scene.
        masks: (N, K, S, S) bool, True where object k is drawn (occluding strokes excluded).
    """

    images: np.ndarray
    classes: np.ndarray
    masks: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        """(N,) class of the first (for single-object scenes: the only) object."""
        return self.classes[:, 0]

    def __len__(self) -> int:
        return len(self.images)


def make_scenes(n: int, seed: int = 0, num_objects: int = 1, size: int = IMAGE_SIZE,
                classes=None) -> Scenes:
    """Render ``n`` scenes of ``num_objects`` shapes each, deterministically for ``seed``.

    Args:
        n: number of scenes.
        seed: random seed; the same seed gives the same scenes.
        num_objects: 1, or 2 for scenes with two objects of different classes.
        size: side of the square images in pixels (64 to 256).
        classes: optional (n, num_objects) class indices to draw instead of random ones.

    Raises:
        ValueError: a parameter is out of range.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}.")
    if num_objects not in (1, 2):
        raise ValueError(f"num_objects must be 1 or 2, got {num_objects}.")
    if not 64 <= size <= 256:
        raise ValueError(f"size must be between 64 and 256 pixels, got {size}.")
    if classes is not None:
        classes = np.asarray(classes, dtype=np.int64).reshape(n, num_objects)
        if classes.min() < 0 or classes.max() >= len(CLASSES):
            raise ValueError(f"Class indices must be in 0..{len(CLASSES) - 1}.")
    # Fixed-size chunks with their own seeds: the same scenes whatever the thread count.
    starts = range(0, n, CHUNK)
    seeds = np.random.SeedSequence(seed).spawn(len(starts))
    jobs = [(np.random.default_rng(s), min(CHUNK, n - a), num_objects, size,
             None if classes is None else classes[a:a + CHUNK]) for a, s in zip(starts, seeds)]
    with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
        parts = list(pool.map(lambda job: _render(*job), jobs))
    return Scenes(*(np.concatenate(arrays) for arrays in zip(*parts)))


def sample_scenes() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The lab model's sample scenes, by name: one scene per class (seed 7) and a star beside
    a ring (``star_and_ring``, seed 8); each as (image (H, W, 3) uint8, mask of its objects
    (H, W) bool)."""
    singles = make_scenes(len(CLASSES), seed=7, classes=np.arange(len(CLASSES))[:, None])
    pair = make_scenes(1, seed=8, num_objects=2, classes=[[3, 5]])
    names = [*CLASSES, "star_and_ring"]
    images = [*singles.images, *pair.images]
    masks = [m.any(axis=0) for m in (*singles.masks, *pair.masks)]
    return dict(zip(names, zip(images, masks)))


def crop_around_first(scenes: Scenes, side: int, seed: int = 0) -> Scenes:
    """Random ``side`` x ``side`` windows of ``scenes``, each holding its first object whole.

    Objects keep the size they have in the full scenes, so a model trained on the crops
    learns shapes at the scale it will meet, for a fraction of the pixels. Other objects
    may be cut by the window; their masks are cut with them.

    Raises:
        ValueError: ``side`` is not between 1 and the scene size, or a first object is
            larger than ``side`` in height or width.
    """
    n, size = scenes.images.shape[:2]
    if not 1 <= side <= size:
        raise ValueError(f"side must be between 1 and the scene size {size}, got {side}.")
    rng = np.random.default_rng(seed)
    first = scenes.masks[:, 0]
    y0 = _window_starts(rng, first.any(axis=2), side)
    x0 = _window_starts(rng, first.any(axis=1), side)
    rows = np.arange(n)[:, None, None]
    ys = y0[:, None, None] + np.arange(side)[None, :, None]
    xs = x0[:, None, None] + np.arange(side)[None, None, :]
    masks = scenes.masks.transpose(0, 2, 3, 1)[rows, ys, xs].transpose(0, 3, 1, 2)
    return Scenes(scenes.images[rows, ys, xs], scenes.classes, masks)


def _window_starts(rng, occupied, side):
    """Random window starts along one axis such that each row's occupied span fits inside."""
    size = occupied.shape[1]
    index = np.arange(size)
    first = np.where(occupied, index, size).min(axis=1)
    last = np.where(occupied, index, -1).max(axis=1)
    if np.any(last - first + 1 > side):
        raise ValueError(f"A first object spans {int((last - first + 1).max())} px, more "
                         f"than the {side} px window; use a larger side.")
    low = np.maximum(0, last - side + 1)
    high = np.minimum(first, size - side)
    return low + (rng.random(len(first)) * (high - low + 1)).astype(int)


def _render(rng, n, num_objects, size, classes):
    chosen = _pick_classes(rng, n, num_objects) if classes is None else classes
    image = _background(rng, n, size)
    _draw_strokes(rng, image)
    masks = np.zeros((n, num_objects, size, size), dtype=bool)
    centers, radii = _place(rng, n, num_objects, size)
    for k in range(num_objects):
        masks[:, k] = _draw_object(rng, image, chosen[:, k], centers[:, k], radii[:, k])
    for k in range(num_objects - 1):  # a later object may cover an earlier one's pixels
        masks[:, k] &= ~masks[:, k + 1:].any(axis=1)
    grain = rng.standard_normal((n, size, size, 1), dtype=np.float32)
    image += _uniform(rng, 0.015, 0.07, (n, 1, 1, 1)) * grain  # film grain, objects included
    np.clip(image, 0.0, 1.0, out=image)
    image *= 255.0
    image += 0.5
    return image.astype(np.uint8), chosen, masks


def _pick_classes(rng, n, num_objects):
    first = rng.integers(0, len(CLASSES), n)
    if num_objects == 1:
        return first[:, None]
    second = (first + rng.integers(1, len(CLASSES), n)) % len(CLASSES)  # always different
    return np.stack([first, second], axis=1)


def _grid(size):
    coords = np.arange(size, dtype=np.float32) + 0.5
    return coords[None, :, None], coords[None, None, :]  # rows (y), columns (x)


def _background(rng, n, size):
    """Base colour + smooth gradient + faint coloured stripes, in [0, 1]."""
    y, x = _grid(size)
    angle = _uniform(rng, 0, np.pi, (n, 1, 1))
    freq = 2 * np.pi * _uniform(rng, 0.04, 0.2, (n, 1, 1))
    phase = _uniform(rng, 0, 2 * np.pi, (n, 1, 1))
    # sin(a x + b y + p) split into products of 1-D waves: no sine over every pixel
    ax, by = freq * np.cos(angle) * x + phase, freq * np.sin(angle) * y
    stripes = np.sin(ax) * np.cos(by) + np.cos(ax) * np.sin(by)
    ramp = (x * np.cos(2 * angle) + y * np.sin(2 * angle)) / size - 0.5
    image = stripes[..., None] * _uniform(rng, -0.12, 0.12, (n, 1, 1, 3))
    image += _uniform(rng, 0.15, 0.85, (n, 1, 1, 3))  # base colour
    image += (_uniform(rng, -0.2, 0.2, (n, 1, 1)) * ramp)[..., None]  # brightness ramp
    return image


def _uniform(rng, low, high, shape):
    return rng.uniform(low, high, shape).astype(np.float32)


def _draw_strokes(rng, image, max_strokes=4, reach=9):
    """Thin straight distractor strokes: edges that belong to no object.

    Each stroke is drawn in a small window around its centre, not over the whole image.
    """
    n, size = image.shape[:2]
    offsets = np.arange(-reach, reach + 1)
    rows = np.arange(n)[:, None, None]
    for _ in range(max_strokes):
        cy, cx = rng.integers(0, size, (2, n))
        angle = _uniform(rng, 0, np.pi, n)[:, None, None]
        half = _uniform(rng, 3, reach - 1, n)[:, None, None]
        colour = _uniform(rng, 0, 1, (n, 3))
        keep = rng.random(n) < 0.6
        py, px = offsets[None, :, None], offsets[None, None, :]
        along = px * np.cos(angle) + py * np.sin(angle)
        across = np.abs(py * np.cos(angle) - px * np.sin(angle))
        hit = (np.abs(along) <= half) & (across <= 0.8) & keep[:, None, None]
        yy = np.clip(cy[:, None, None] + py, 0, size - 1)
        xx = np.clip(cx[:, None, None] + px, 0, size - 1)
        r, i, j = np.nonzero(hit)
        image[rows[r, 0, 0], yy[r, i, 0], xx[r, 0, j]] = colour[r]


def _place(rng, n, num_objects, size):
    """Centres and radii (in pixels) that keep objects inside the image and apart."""
    scale = size / IMAGE_SIZE
    low, high = (13, 24) if num_objects == 1 else (11, 18)
    radii = rng.uniform(low, high, (n, num_objects)) * scale
    centers = rng.uniform(0, 1, (n, num_objects, 2))
    margin = radii[..., None] + 2 * scale
    centers = margin + centers * (size - 2 * margin)
    if num_objects == 2:
        for _ in range(100):  # resample second objects that touch the first
            gap = np.linalg.norm(centers[:, 0] - centers[:, 1], axis=-1)
            bad = gap < radii.sum(axis=1) + 4 * scale
            if not bad.any():
                break
            fresh = rng.uniform(0, 1, (int(bad.sum()), 2, 2))
            centers[bad] = margin[bad] + fresh * (size - 2 * margin[bad])
        else:
            raise RuntimeError("Could not place two separate objects.")
    return centers.astype(np.float32), radii.astype(np.float32)


def _draw_object(rng, image, cls, centers, radii):
    """Paint one object per scene into ``image``; returns its (N, S, S) mask.

    Shapes are evaluated in a window around each object, not over the whole image.
    """
    n, size = image.shape[:2]
    side = min(size, int(np.ceil(2.5 * radii.max())) + 2)
    top = np.clip(np.round(centers - side / 2).astype(int), 0, size - side)  # (N, 2) x, y
    offsets = np.arange(side, dtype=np.float32) + 0.5
    angle = _uniform(rng, 0, 2 * np.pi, n)[:, None, None]
    r = radii[:, None, None]
    dx = (top[:, 0, None, None] + offsets[None, None, :] - centers[:, 0, None, None]) / r
    dy = (top[:, 1, None, None] + offsets[None, :, None] - centers[:, 1, None, None]) / r
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = dy * np.cos(angle) - dx * np.sin(angle)
    window = np.zeros((n, side, side), dtype=bool)
    for c, name in enumerate(CLASSES):
        rows = np.flatnonzero(cls == c)
        if rows.size:
            window[rows] = SHAPES[name](u[rows], v[rows])
    colour = _contrasting_colour(rng, image, centers)
    shade = 1.0 + 0.08 * np.clip(u, -1, 1)[..., None]  # a little light from one side
    k, i, j = np.nonzero(window)
    ys, xs = top[k, 1] + i, top[k, 0] + j
    image[k, ys, xs] = colour[k] * shade[k, i, j]
    mask = np.zeros((n, size, size), dtype=bool)
    mask[k, ys, xs] = True
    return mask


def _contrasting_colour(rng, image, centers):
    """A random colour whose brightness differs clearly from the background at the object."""
    n, size = image.shape[:2]
    colour = _uniform(rng, 0, 1, (n, 3))
    cy = np.clip(centers[:, 1].astype(int), 0, size - 1)
    cx = np.clip(centers[:, 0].astype(int), 0, size - 1)
    local = image[np.arange(n), cy, cx].mean(axis=-1)
    luma = colour.mean(axis=-1)
    dim = np.abs(luma - local) < 0.3
    push = np.where(local > 0.5, -0.45, 0.45)[:, None]
    colour[dim] = np.clip(colour[dim] + push[dim], 0.0, 1.0)
    return colour


def _polygon(outer, inner_ratio, points):
    """A regular polygon or star: vertices at radius ``outer``, valleys at ``outer * inner_ratio``.

    Along each ray the boundary is the straight edge from a vertex to the next valley.
    """
    half = np.pi / points

    def inside(u, v):
        rho = np.hypot(u, v)
        phi = np.abs(np.mod(np.arctan2(v, u), 2 * half) - half)
        phi = half - phi  # 0 at a vertex, half at a valley
        inner = outer * inner_ratio
        edge = outer * inner * np.sin(half) / (outer * np.sin(phi) + inner * np.sin(half - phi))
        return rho <= edge

    return inside


def _circle(u, v):
    return u * u + v * v <= 1.0


def _ring(u, v):
    r2 = u * u + v * v
    return (r2 <= 1.0) & (r2 >= 0.55**2)


def _cross(u, v, arm=0.32, reach=0.95):
    au, av = np.abs(u), np.abs(v)
    return ((au <= arm) & (av <= reach)) | ((av <= arm) & (au <= reach))


SHAPES = {
    "circle": _circle,
    "square": _polygon(1.1, np.cos(np.pi / 4), 4),
    "triangle": _polygon(1.2, np.cos(np.pi / 3), 3),
    "star": _polygon(1.15, 0.45, 5),
    "cross": _cross,
    "ring": _ring,
}
