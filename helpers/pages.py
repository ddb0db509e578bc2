"""Synthetic paper pages, and a hidden reviewer who judges them by their looks.

Each page is the first page of an imaginary computer-vision paper, drawn at thumbnail size
(176 x 136 pixels, the shape of a US-letter page): a title block with authors, one or two
columns of text drawn as lines of words (some words are coloured links), section headings,
and floats: figures (plots, or photo-like textures in panels, in colour or in grey), tables
with rules, and display equations with their numbers. About two pages in five open with a
teaser figure across the full width, right below the title. Every element comes with its
pixel mask, so a heatmap can be checked against what is really there.

A hidden rule, :class:`Rule`, scores each page from its layout (a colourful teaser is worth
the most, figures in the text help, tables hurt) and calls it "good" at or above a
threshold. A noisy reviewer then flips a share of the verdicts at random, so no model can
be right on every page.

Pages are laid out by ``helpers.page_layout`` and drawn by ``helpers.page_drawing`` (with
array operations: a page takes a few milliseconds); page ``i`` of seed ``s`` is the same
whatever the number of pages asked for. This module holds what a notebook uses: the rule,
the batch of pages with its masks, and ``make_pages``.

References:
    von Bearnensquash, "Paper Gestalt", Secret Proceedings of Computer Vision and Pattern
    Recognition (CVPR), 2010.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from helpers.page_drawing import ELEMENT_COLOURS, ELEMENTS, PAGE_SIZE, element_index
from helpers.page_layout import Page

__all__ = ["CLASSES", "ELEMENTS", "ELEMENT_COLOURS", "PAGE_SIZE", "Pages", "Rule",
           "colour_masks", "element_index", "make_pages"]

#: The reviewer's two verdicts, in the model's output order.
CLASSES = ("bad", "good")


@dataclass(frozen=True)
class Rule:
    """The hidden reviewer: points for layout features, a threshold, and random flips.

    A page scores ``colour_teaser`` (or ``grey_teaser``) if it opens with a teaser figure,
    ``figure`` for each figure in the text (counting at most ``max_figures``), ``table`` for
    each table and ``equation`` for each display equation. It deserves "good" if its score is
    at least ``threshold``; the reviewer then flips a share ``noise`` of all verdicts.

    The default: a colourful teaser alone makes a good page; so do two figures in the text,
    or a grey teaser and one figure; every table costs a point; a wall of text is bad.
    """

    colour_teaser: float = 2.0
    grey_teaser: float = 1.0
    figure: float = 1.0
    max_figures: int = 2
    table: float = -1.0
    equation: float = 0.0
    threshold: float = 2.0
    noise: float = 0.1

    def __post_init__(self):
        if not 0.0 <= self.noise < 0.5:
            raise ValueError(f"Rule.noise is the share of flipped verdicts, in [0, 0.5); got "
                             f"{self.noise}. At 0.5 the labels would be coin flips.")
        if self.max_figures < 0:
            raise ValueError(f"Rule.max_figures must be >= 0, got {self.max_figures}.")

    def score(self, features: dict) -> np.ndarray:
        """Points of each page, from ``Pages.features``."""
        teaser = np.asarray(features["teaser"])
        points = np.select([teaser == 2, teaser == 1], [self.colour_teaser, self.grey_teaser],
                           0.0)
        points = points + self.figure * np.minimum(features["figures"], self.max_figures)
        return points + self.table * features["tables"] + self.equation * features["equations"]

    def rewarded(self) -> tuple[str, ...]:
        """Element kinds that earn points: where an explanation of "good" should look."""
        weights = {"teaser": max(self.colour_teaser, self.grey_teaser), "figure": self.figure,
                   "table": self.table, "equation": self.equation}
        return tuple(kind for kind in ELEMENTS if weights.get(kind, 0.0) > 0)

    def penalized(self) -> tuple[str, ...]:
        """Element kinds that cost points."""
        weights = {"table": self.table, "equation": self.equation, "figure": self.figure}
        return tuple(kind for kind in ELEMENTS if weights.get(kind, 0.0) < 0)


@dataclass
class Pages:
    """A batch of rendered pages with their masks, layout features and verdicts.

    Attributes:
        images: (N, H, W, 3) uint8 RGB pages.
        elements: (N, H, W) uint8 map of what is where: 0 for blank paper, k + 1 where the
            page shows an element of kind ``ELEMENTS[k]`` (text: its lines; other kinds: their
            boxes). ``masks`` and ``mask`` turn it into boolean masks.
        features: per-page layout counts, each an (N,) int array: ``teaser`` (0 none, 1 grey,
            2 colourful), ``figures``, ``colour_figures``, ``tables``, ``equations``,
            ``columns``.
        score: (N,) the rule's points.
        deserved: (N,) 1 where the rule says "good", before the reviewer's noise.
        labels: (N,) 1 for "good", 0 for "bad": the verdicts, noise included.
        paper: (N, 3) uint8 colour of each page's blank paper.
        rule: the rule that gave the verdicts.
    """

    images: np.ndarray
    elements: np.ndarray
    features: dict[str, np.ndarray]
    score: np.ndarray
    deserved: np.ndarray
    labels: np.ndarray
    paper: np.ndarray
    rule: Rule = field(default_factory=Rule)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def masks(self) -> np.ndarray:
        """(N, len(ELEMENTS), H, W) bool: ``masks[i, k]`` is where page i shows ELEMENTS[k]."""
        return self.elements[:, None] == np.arange(1, len(ELEMENTS) + 1)[None, :, None, None]

    def mask(self, *kinds: str) -> np.ndarray:
        """(N, H, W) union of the masks of the given element kinds.

        Raises:
            ValueError: an unknown kind.
        """
        return np.isin(self.elements, [element_index(kind) + 1 for kind in kinds])

    def rewarded_mask(self) -> np.ndarray:
        """(N, H, W) where the elements the rule rewards are."""
        return self.mask(*self.rule.rewarded())


def make_pages(n: int, seed: int = 0, rule: Rule | None = None) -> Pages:
    """Render ``n`` first pages of papers and judge them, deterministically for ``seed``.

    Args:
        n: number of pages.
        seed: a non-negative random seed; page i depends only on (seed, i).
        rule: the hidden reviewer (default: ``Rule()``).

    Raises:
        ValueError: ``n`` or ``seed`` out of range, or ``rule`` is not a Rule.
    """
    if int(n) < 1:
        raise ValueError(f"n must be at least 1 page, got {n}.")
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}.")
    rule = Rule() if rule is None else rule
    if not isinstance(rule, Rule):
        raise ValueError(f"rule must be a pages.Rule, got {type(rule).__name__}; "
                         "e.g. Rule(table=+1.0).")
    pages = [Page(np.random.default_rng([int(seed), i])).render() for i in range(int(n))]
    images, elements, paper, flips, features = zip(*pages)
    features = {key: np.array([f[key] for f in features]) for key in features[0]}
    score = rule.score(features)
    deserved = (score >= rule.threshold).astype(np.int64)
    labels = np.where(np.array(flips) < rule.noise, 1 - deserved, deserved)
    return Pages(np.stack(images), np.stack(elements), features, score, deserved, labels,
                 np.stack(paper), rule)


def colour_masks(masks: np.ndarray) -> np.ndarray:
    """One page's masks (len(ELEMENTS), H, W) as an RGB float picture on white, one colour
    per kind (``ELEMENT_COLOURS``)."""
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3 or masks.shape[0] != len(ELEMENTS):
        raise ValueError(f"Expected one page's masks ({len(ELEMENTS)}, H, W); got "
                         f"{masks.shape}. For a batch, pass pages.masks[i].")
    picture = np.ones(masks.shape[1:] + (3,))
    for kind, mask in zip(ELEMENTS, masks):
        picture[mask] = ELEMENT_COLOURS[kind]
    return picture
