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

Layouts differ from page to page, so pages are laid out one by one, but every element is
drawn with array operations: all the lines of words of a page are one matrix product, words
and photos are cut from banks drawn once. A page takes a few milliseconds, and page ``i`` of
seed ``s`` is the same whatever the number of pages asked for.

References:
    von Bearnensquash, "Paper Gestalt", Secret Proceedings of Computer Vision and Pattern
    Recognition (CVPR), 2010.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

#: (height, width) of a page in pixels: US letter (11 x 8.5 in) at 16 pixels per inch.
PAGE_SIZE = (176, 136)
#: The reviewer's two verdicts, in the model's output order.
CLASSES = ("bad", "good")
#: The kinds of element a page is made of, in the order of ``Pages.masks``' second axis.
#: ``title`` holds title and authors; ``text`` paragraphs, headings and captions; ``teaser``
#: the figure across the top; ``figure`` the figures in the columns.
ELEMENTS = ("title", "text", "equation", "table", "teaser", "figure")
#: A colour per element kind, for drawing masks.
ELEMENT_COLOURS = {"title": (0.35, 0.35, 0.35), "text": (0.75, 0.75, 0.75),
                   "equation": (0.58, 0.40, 0.74), "table": (0.85, 0.55, 0.15),
                   "teaser": (0.84, 0.15, 0.16), "figure": (0.17, 0.63, 0.17)}

_PLOT_COLOURS = np.array([(0.12, 0.47, 0.71), (1.0, 0.50, 0.05), (0.17, 0.63, 0.17),
                          (0.84, 0.15, 0.16), (0.58, 0.40, 0.74), (0.09, 0.75, 0.81)])
_LINK_COLOURS = np.array([(0.0, 0.0, 0.85), (0.8, 0.0, 0.0), (0.0, 0.55, 0.0),
                          (0.75, 0.0, 0.75)])


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


def element_index(kind: str) -> int:
    """Index of an element kind in ``ELEMENTS``.

    Raises:
        ValueError: not an element kind.
    """
    if kind not in ELEMENTS:
        raise ValueError(f"Unknown page element {kind!r}; choose from {', '.join(ELEMENTS)}.")
    return ELEMENTS.index(kind)


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
    pages = [_Page(np.random.default_rng([int(seed), i])).render() for i in range(int(n))]
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


class _Page:
    """One page being drawn: float canvas, masks, layout features and the page's style."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.flip = rng.random()  # first draw: the reviewer's noise does not depend on layout
        height, width = PAGE_SIZE
        base, cream = 255 - rng.integers(0, 10), rng.integers(0, 4)
        self.paper = np.array([base, base - cream, base - 2 * cream], dtype=np.uint8)
        self.canvas = np.empty((height, width, 3), dtype=np.float32)
        self.canvas[:] = self.paper / np.float32(255)
        self.masks = np.zeros((len(ELEMENTS), height, width), dtype=bool)
        self.pitch = rng.uniform(2.6, 3.3)  # text line spacing, pixels
        self.thick = rng.uniform(1.0, 1.5)  # text line height
        self.ink = rng.uniform(0.25, 0.65)  # darkness of text, as a downsampled page shows it
        self.links = rng.random() < 0.4  # hyperref-coloured citations: colour that is no figure
        self.link_colour = _LINK_COLOURS[rng.integers(len(_LINK_COLOURS))]
        self.queue = []  # lines of words waiting for draw_lines
        self.features = {"teaser": 0, "figures": 0, "colour_figures": 0, "tables": 0,
                         "equations": 0, "columns": 0}

    def render(self):
        """Lay out and draw the page; returns (image, element map, paper, flip, features)."""
        rng, (height, width) = self.rng, PAGE_SIZE
        side = int(rng.integers(8, 13))
        columns = 2 if rng.random() < 0.75 else 1
        self.features["columns"] = columns
        y = self.title_block(side, width - side, int(rng.integers(6, 11)))
        if rng.random() < 0.4:
            y = self.teaser(side, width - side, y + int(rng.integers(2, 5)))
        self.body(side, width - side, y + int(rng.integers(2, 5)),
                  height - int(rng.integers(7, 13)), columns)
        self.draw_lines()
        image = (self.canvas * 255 + 0.5).astype(np.uint8)
        return image, self.element_map(), self.paper, self.flip, self.features

    def element_map(self) -> np.ndarray:
        """The masks as one (H, W) map: 0 blank, k + 1 for ELEMENTS[k]; they never overlap."""
        kinds = np.arange(1, len(ELEMENTS) + 1, dtype=np.uint8)[:, None, None]
        return (self.masks * kinds).max(axis=0)

    # --- primitives ------------------------------------------------------------------

    def paint(self, y0, x0, alpha, colour):
        """Composite ``colour`` ((3,) or (h, w, 3)) with opacity ``alpha`` (h, w) at (y0, x0)."""
        h, w = alpha.shape
        region = self.canvas[y0:y0 + h, x0:x0 + w]
        alpha = np.asarray(alpha, dtype=np.float32)[..., None]
        region *= 1 - alpha
        region += alpha * np.asarray(colour, dtype=np.float32)

    def lines(self, kind, x0, tops, starts, ends, thick, ink, word=(2, 8), gap=1,
              links=False):
        """Lines of words: line k spans columns [x0 + starts[k], x0 + ends[k]) from row
        tops[k] (a float: lines are anti-aliased vertically) to tops[k] + thick.

        The lines are queued and ``draw_lines`` draws all of a page's lines at once.
        Returns the first row below the lines.
        """
        tops = np.asarray(tops, dtype=np.float32)
        xs = np.arange(PAGE_SIZE[1])
        span = (xs >= x0 + np.asarray(starts)[:, None]) & (xs < x0 + np.asarray(ends)[:, None])
        word_id, in_word = self.words(len(tops), word, gap)
        # gaps between words keep a little ink, as on a page shrunk from print resolution
        weight = np.where(in_word, np.float32(ink), np.float32(0.3 * ink)) * span
        link = np.zeros_like(span)
        if links:  # a pseudo-random 6% of the words are coloured links
            salt = int(self.rng.integers(0, 1 << 20))
            link = span & in_word & ((word_id * 7919 + salt) % 101 < 6)
        n = len(tops)
        self.queue.append((np.full(n, element_index(kind)), tops, np.full(n, thick, np.float32),
                           span, weight, link))
        return int(np.ceil(tops.max() + thick))

    def draw_lines(self):
        """Draw every queued line: the ink of all rows is one matrix product of each row's
        coverage by each line (rows x lines) and each line's words (lines x columns)."""
        kinds, tops, thick, span, weight, link = (np.concatenate(part) for part in
                                                  zip(*self.queue))
        rows = np.arange(PAGE_SIZE[0], dtype=np.float32)[:, None]
        cover = np.clip(np.minimum(rows + 1, tops + thick) - np.maximum(rows, tops), 0, 1)
        alpha = np.minimum(cover @ weight, 1.0)
        colour = np.zeros(alpha.shape + (3,), dtype=np.float32)
        if link.any():
            colour[cover @ link.astype(np.float32) > 0] = self.link_colour
        self.paint(0, 0, alpha, colour)
        touched = (cover > 0).astype(np.float32)
        for kind in np.unique(kinds):
            mine = kinds == kind
            self.masks[kind] |= touched[:, mine] @ span[mine].astype(np.float32) > 0

    def words(self, n, word, gap):
        """Word layout of ``n`` lines across the page: (word index, inside-a-word) per pixel,
        (n, page width). Rows are cut from a fixed bank of random lines at random offsets:
        the look of fresh words at the cost of a gather."""
        word_id, in_word = _word_bank(word, gap)  # (rows, offsets, page width) views
        rows = self.rng.integers(0, word_id.shape[0], n)
        offsets = self.rng.integers(0, word_id.shape[1], n)
        return word_id[rows, offsets], in_word[rows, offsets]

    def paragraphs(self, kind, x0, x1, y0, n_lines, indent=3, links=None):
        """``n_lines`` of running text in paragraphs; returns the row below."""
        if n_lines <= 0:
            return y0
        rng, width = self.rng, x1 - x0
        starts = np.zeros(n_lines, dtype=int)
        ends = np.full(n_lines, width)
        k = -int(rng.integers(0, 6))  # the column may open mid-paragraph
        while k < n_lines:
            length = int(rng.integers(3, 13))
            if k >= 0:
                starts[k] = indent
            last = k + length - 1
            if 0 <= last < n_lines:
                ends[last] = max(indent + 4, int(width * rng.uniform(0.15, 0.9)))
            k += length
        return self.lines(kind, x0, _stack(y0, n_lines, self.pitch), starts, ends, self.thick,
                          self.ink, links=self.links if links is None else links)

    def text_until(self, x0, x1, y0, y1):
        """Fill rows [y0, y1) of a column with text; returns the row below."""
        n_lines = int((y1 - y0 - self.thick) // self.pitch) + 1 if y1 - y0 > self.thick else 0
        return self.paragraphs("text", x0, x1, y0, n_lines)

    def heading(self, x0, x1, y0, centred=False):
        """A bold section heading ("1. Introduction"); returns the row below."""
        length = int((x1 - x0) * self.rng.uniform(0.2, 0.45))
        start = (x1 - x0 - length) // 2 if centred else 0
        return self.lines("text", x0, [y0], [start], [start + length], self.thick + 0.5,
                          min(0.95, self.ink * 1.4), word=(3, 9))

    def rule_line(self, kind, x0, x1, y, alpha):
        """A one-pixel horizontal rule (tables)."""
        self.paint(y, x0, np.full((1, x1 - x0), alpha), (0.0, 0.0, 0.0))
        self.masks[element_index(kind), y, x0:x1] = True

    # --- blocks ----------------------------------------------------------------------

    def title_block(self, x0, x1, y0):
        """Title (one or two bold lines) and a row of authors; returns the row below."""
        rng, width = self.rng, x1 - x0
        n = 1 if rng.random() < 0.4 else 2
        lengths = (width * rng.uniform(0.55, 0.95, n)).astype(int)
        lengths[-1] = min(lengths[-1], int(width * rng.uniform(0.3, 0.95)))
        starts = (width - lengths) // 2
        y = self.lines("title", x0, _stack(y0, n, rng.uniform(4.6, 5.4)), starts,
                       starts + lengths, rng.uniform(2.8, 3.6), rng.uniform(0.8, 0.95),
                       word=(4, 12), gap=2)
        y += int(rng.integers(3, 6))
        authors = int(rng.integers(1, 5))  # side by side: a name, then two lines of affiliation
        cell = width // authors
        lengths = (rng.uniform((0.45, 0.5, 0.4), (0.8, 0.9, 0.8), (authors, 3))
                   * min(cell - 2, 34)).astype(int) + 3
        starts = (cell - lengths) // 2 + cell * np.arange(authors)[:, None]
        name = self.lines("title", x0, np.full(authors, float(y)), starts[:, 0],
                          starts[:, 0] + lengths[:, 0], 1.4, 0.8, word=(3, 7))
        tops = np.tile(name + 1 + np.array([0.0, 2.6]), authors)
        return self.lines("title", x0, tops, starts[:, 1:].ravel(),
                          (starts + lengths)[:, 1:].ravel(), 1.0, 0.45)

    def teaser(self, x0, x1, y0):
        """The teaser: a figure across the full width, right below the title, with caption."""
        rng, width = self.rng, x1 - x0
        colourful = rng.random() < 0.7
        height = int(PAGE_SIZE[0] * rng.uniform(0.17, 0.27))
        w = int(width * rng.uniform(0.85, 1.0))
        left = x0 + (width - w) // 2
        self.panels(left, y0, w, height, colourful, int(rng.integers(2, 5)),
                    photo_share=0.8)
        self.masks[element_index("teaser"), y0:y0 + height, left:left + w] = True
        self.features["teaser"] = 2 if colourful else 1
        return self.caption(x0, x1, y0 + height + 2)

    def caption(self, x0, x1, y0):
        """One to three lines of caption text, without links; returns the row below."""
        return self.paragraphs("text", x0, x1, y0, int(self.rng.integers(1, 4)), indent=0,
                               links=False)

    def panels(self, x0, y0, width, height, colourful, count, photo_share):
        """``count`` photo or plot panels side by side in a (height, width) box."""
        rng, gap = self.rng, int(self.rng.integers(1, 3))
        count = max(1, min(count, width // max(height // 2, 12)))
        edges = np.linspace(0, width + gap, count + 1).astype(int)
        for a, b in zip(edges[:-1], edges[1:] - gap):
            if rng.random() < photo_share:
                self.paint(y0, x0 + a, np.ones((height, b - a)),
                           _photo(rng, height, b - a, colourful))
            else:
                self.plot(x0 + a, y0, b - a, height, colourful)

    def plot(self, x0, y0, width, height, colourful):
        """Axes with curves or bars, maybe over light grid lines, drawn on the paper."""
        rng = self.rng
        grey = np.linspace(0.05, 0.55, 4)[:, None].repeat(3, axis=1)
        colours = _PLOT_COLOURS[rng.permutation(len(_PLOT_COLOURS))] if colourful else grey
        inner_h, inner_w = height - 3, width - 3
        if rng.random() < 0.5:  # light grid
            grid = np.zeros((inner_h, inner_w))
            step = int(rng.integers(6, 11))
            grid[::step, :] = grid[:, ::step] = 0.15
            self.paint(y0, x0 + 3, grid, (0.0, 0.0, 0.0))
        if rng.random() < 0.65:
            self.curves(x0 + 3, y0, inner_w, inner_h, colours[:int(rng.integers(1, 5))])
        else:
            self.bars(x0 + 3, y0, inner_w, inner_h, colours)
        axes = np.zeros((height, width))
        axes[:, 2] = axes[height - 3, 2:] = 0.85
        axes[height - 2, 2::int(rng.integers(5, 9))] = 0.85  # ticks
        self.paint(y0, x0, axes, (0.1, 0.1, 0.1))

    def curves(self, x0, y0, width, height, colours):
        """Rising, wiggling learning curves, anti-aliased across their slope."""
        rng = self.rng
        xs = np.linspace(0, 1, width)
        ys = np.arange(height)[:, None]
        for colour in colours:
            rise = rng.uniform(0.2, 0.9) * (1 - np.exp(-xs / rng.uniform(0.1, 0.5)))
            wiggle = np.cumsum(rng.normal(0, 0.02, width))
            level = np.clip(rng.uniform(0.05, 0.4) + rise + wiggle, 0.02, 0.98)
            centre = (1 - level) * (height - 1)
            slope = np.abs(np.gradient(centre))
            alpha = np.clip(1.2 - np.abs(ys - centre) / (1 + slope), 0, 1)
            self.paint(y0, x0, alpha, colour)

    def bars(self, x0, y0, width, height, colours):
        """Groups of bars, one colour per series."""
        rng = self.rng
        series = int(rng.integers(2, 4))
        groups = max(1, min(int(rng.integers(2, 6)), width // (2 * series + 2)))
        alpha = np.zeros((height, width))
        colour = np.zeros((height, width, 3))
        slot = width / groups
        bar = max(1, int((slot - 2) // series))
        for g in range(groups):
            for s in range(series):
                left = int(g * slot + 1 + s * bar)
                top = int(height * (1 - rng.uniform(0.2, 0.95)))
                alpha[top:, left:left + bar] = 1.0
                colour[top:, left:left + bar] = colours[s]
        self.paint(y0, x0, alpha, colour)

    def figure(self, x0, x1, y0, height):
        """A figure float in a column: plot or photo panels, caption below."""
        rng, width = self.rng, x1 - x0
        colourful = rng.random() < 0.75
        w = width if width < 80 else int(width * rng.uniform(0.45, 0.8))
        left = x0 + (width - w) // 2
        if rng.random() < 0.5:
            self.plot(left, y0, w, height, colourful)
        else:
            self.panels(left, y0, w, height, colourful, int(rng.integers(1, 4)),
                        photo_share=1.0)
        self.masks[element_index("figure"), y0:y0 + height, left:left + w] = True
        self.features["figures"] += 1
        self.features["colour_figures"] += int(colourful)
        return self.caption(x0, x1, y0 + height + 2)

    def table(self, x0, x1, y0, rows):
        """Caption above, then rules and a grid of cells; returns the row below."""
        rng, width = self.rng, x1 - x0
        y = self.caption(x0, x1, y0) + 1
        w = width if width < 80 else int(width * rng.uniform(0.5, 0.85))
        left = x0 + (width - w) // 2
        top = y
        self.rule_line("table", left, left + w, y, 0.85)
        cols = int(rng.integers(3, 7))
        edges = np.linspace(0, w, cols + 1).astype(int)
        pitch = 3.0
        cells = edges[1:] - edges[:-1] - 1
        fill = rng.uniform(0.3, 0.6, (rows + 1, cols))
        fill[:, 0] += 0.3  # method names in the first column, numbers in the others
        lengths = np.maximum(2, (cells * fill).astype(int))
        starts = edges[:-1] + np.where(np.arange(cols) == 0, 0, (cells - lengths) // 2)
        self.lines("table", left, np.full(cols, y + 2.0), starts[0], starts[0] + lengths[0],
                   1.3, 0.85, word=(2, 6))
        self.lines("table", left, np.repeat(_stack(y + 6, rows, pitch), cols),
                   starts[1:].ravel(), (starts + lengths)[1:].ravel(), 1.1, self.ink,
                   word=(2, 6))
        self.rule_line("table", left, left + w, y + 4, 0.5)
        bottom = y + 6 + int(np.ceil(rows * pitch))
        self.rule_line("table", left, left + w, bottom, 0.85)
        self.masks[element_index("table"), top:bottom + 1, left:left + w] = True
        self.features["tables"] += 1
        return bottom + 1

    def equation(self, x0, x1, y0, number):
        """A centred formula with a fraction or a big sum, and its number at the right."""
        rng, width = self.rng, x1 - x0
        height = int(rng.integers(6, 10))
        w = int(width * rng.uniform(0.3, 0.6))
        left = (width - w) // 2
        alpha = np.zeros((height, w))
        mid = height // 2
        x = 0
        while x < w - 2:
            kind = rng.random()
            if kind < 0.15 and x < w - 5:  # a big operator: sum or integral
                alpha[:, x:x + 3] = 0.25
                alpha[[0, -1], x:x + 3] = alpha[1:-1, x + 1] = 0.9
                x += 5
            elif kind < 0.3 and x < w - 7:  # a fraction: bar with symbols above and below
                span = int(rng.integers(4, min(12, w - x - 1) + 1))
                alpha[mid, x:x + span] = 0.9
                alpha[max(0, mid - 3):mid - 1, x + 1:x + span - 1] = 0.6
                alpha[mid + 2:mid + 4, x + 1:x + span - 1] = 0.6
                x += span + 2
            else:  # a symbol, maybe with a superscript
                glyph = int(rng.integers(1, 3))
                alpha[mid - 1:mid + 2, x:x + glyph] = rng.uniform(0.5, 0.9)
                if rng.random() < 0.3:
                    alpha[max(0, mid - 3), x + glyph:x + glyph + 1] = 0.6
                x += glyph + 1
        self.paint(y0, x0 + left, alpha, (0.0, 0.0, 0.0))
        rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
        self.masks[element_index("equation"), y0 + rows[0]:y0 + rows[-1] + 1,
                   x0 + left + cols[0]:x0 + left + cols[-1] + 1] = True  # the formula's extent
        digits = len(str(number))
        tag = self.lines("equation", x1 - 4 - digits, [y0 + mid - 1], [0], [3 + digits], 1.3,
                         0.7, word=(3, 6))
        self.features["equations"] += 1
        return max(y0 + height, tag)

    def body(self, x0, x1, top, bottom, columns):
        """Abstract, headings, text and floats flowing down one or two columns."""
        rng = self.rng
        gap = int(rng.integers(4, 7)) if columns == 2 else 0
        col_w = (x1 - x0 - gap) // columns
        lefts = [x0 + c * (col_w + gap) for c in range(columns)]
        floats = (["figure"] * int(rng.choice(4, p=[0.3, 0.3, 0.25, 0.15]))
                  + ["table"] * int(rng.choice(3, p=[0.7, 0.25, 0.05]))
                  + ["equation"] * int(rng.choice(4, p=[0.4, 0.3, 0.2, 0.1])))
        floats = [floats[i] for i in rng.permutation(len(floats))]
        column, y = 0, self.heading(lefts[0], lefts[0] + col_w, top, centred=True) + 1
        text = int(rng.integers(3, 12))  # abstract lines before the first float
        for kind in floats:
            while column < columns:
                left = lefts[column]
                y_text = min(bottom, y + int(text * self.pitch))
                heading = rng.random() < 0.3  # a new section opens before the float
                height, draw = self.plan_float(kind, col_w)
                if y_text + 6 * heading + height + 4 <= bottom:
                    y = self.text_until(left, left + col_w, y, y_text)
                    if heading:
                        y = self.heading(left, left + col_w, y + 2) + 1
                    y = draw(left, left + col_w, y + 2) + 2
                    break
                self.text_until(left, left + col_w, y, bottom)
                column, y = column + 1, top
                text = int(rng.integers(0, 8))
            else:
                break  # no room left: the float goes to page 2, where no reviewer looks
            text = int(rng.integers(2, 14))
        for c in range(column, columns):
            self.text_until(lefts[c], lefts[c] + col_w, y if c == column else top, bottom)

    def plan_float(self, kind, col_w):
        """Size a float for a column of width ``col_w``: (rows it needs, caption included;
        a function drawing it at (x0, x1, y0) and returning the row below)."""
        rng = self.rng
        if kind == "figure":
            height = int((col_w if col_w < 80 else col_w * 0.6) * rng.uniform(0.5, 0.8))
            return (height + 3 + int(np.ceil(3 * self.pitch)),
                    lambda x0, x1, y0: self.figure(x0, x1, y0, height))
        if kind == "table":
            rows = int(rng.integers(3, 8))
            return (3 * int(np.ceil(self.pitch)) + 8 + 3 * rows,
                    lambda x0, x1, y0: self.table(x0, x1, y0, rows))
        number = self.features["equations"] + 1
        return 10, lambda x0, x1, y0: self.equation(x0, x1, y0, number)


def _stack(y0: float, n: int, pitch: float) -> np.ndarray:
    """Tops of ``n`` lines ``pitch`` apart from row ``y0``."""
    return y0 + pitch * np.arange(n)


@lru_cache(maxsize=None)
def _word_bank(word: tuple[int, int], gap: int, rows: int = 1024, width: int = 256):
    """Random lines of words with ``word`` = (shortest, longest) word and ``gap`` pixels
    between words, as read-only views (rows, offsets, page width) of every page-wide window:
    (word index, inside-a-word)."""
    rng = np.random.default_rng(20100401)
    lengths = rng.integers(word[0], word[1] + 1, (rows, width // word[0] + 1)) + gap
    ends = np.cumsum(lengths, axis=1)
    xs = np.arange(width)
    boundary = np.zeros((rows, width), dtype=np.int32)
    line, k = np.nonzero(ends < width)
    boundary[line, ends[line, k]] = 1
    word_id = np.cumsum(boundary, axis=1)  # words ending at or before x
    starts = np.concatenate([np.zeros((rows, 1), int), ends], axis=1)
    position = xs - np.take_along_axis(starts, word_id, axis=1)
    in_word = position < np.take_along_axis(lengths, word_id, axis=1) - gap
    window = PAGE_SIZE[1]  # every page-wide window of every line, without copies
    return (np.lib.stride_tricks.sliding_window_view(word_id, window, axis=1),
            np.lib.stride_tricks.sliding_window_view(in_word, window, axis=1))


def _upsample(coarse: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a small (h, w, C) grid to (height, width, C)."""
    gy = np.linspace(0, coarse.shape[0] - 1, height)
    gx = np.linspace(0, coarse.shape[1] - 1, width)
    y0, x0 = np.floor(gy).astype(int), np.floor(gx).astype(int)
    y1, x1 = np.minimum(y0 + 1, coarse.shape[0] - 1), np.minimum(x0 + 1, coarse.shape[1] - 1)
    fy, fx = (gy - y0)[:, None, None], (gx - x0)[None, :, None]
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x1] * fx
    bottom = coarse[y1][:, x0] * (1 - fx) + coarse[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """Hue, saturation, value in [0, 1] (..., 3) to RGB (..., 3)."""
    hsv = np.asarray(hsv, dtype=np.float64)
    h, s, v = hsv[..., 0:1], hsv[..., 1:2], hsv[..., 2:3]
    k = (np.array([5.0, 3.0, 1.0]) + 6.0 * h) % 6.0
    return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _photo(rng: np.random.Generator, height: int, width: int, colourful: bool) -> np.ndarray:
    """A photo-like texture of (height, width): a random crop of a random photo of the bank,
    maybe mirrored, its colour channels shuffled, or turned grey."""
    bank = _photo_bank()
    photo = bank[rng.integers(len(bank))]
    if height > photo.shape[0] or width > photo.shape[1]:
        photo = _upsample(photo, max(height, photo.shape[0]), max(width, photo.shape[1]))
    top = rng.integers(0, photo.shape[0] - height + 1)
    left = rng.integers(0, photo.shape[1] - width + 1)
    crop = photo[top:top + height, left:left + width]
    crop = crop[:, ::-1] if rng.random() < 0.5 else crop
    if not colourful:
        return crop.mean(axis=-1, keepdims=True).repeat(3, axis=-1)
    return crop[..., rng.permutation(3)]


@lru_cache(maxsize=1)
def _photo_bank(count: int = 48, size: tuple[int, int] = (80, 128)) -> np.ndarray:
    """``count`` made-up photos: smooth colour regions, a few soft shaded objects, grain.

    Drawn once with a fixed seed; pages crop them at random, which is cheaper than painting
    a fresh photo for every panel and looks the same at thumbnail size.
    """
    rng = np.random.default_rng(19)
    height, width = size
    ys, xs = np.mgrid[0:height, 0:width] / max(height, width)
    photos = []
    for _ in range(count):
        hues = rng.uniform(0, 1, 2)
        grid = tuple(rng.integers(2, 6, 2))
        hsv = np.stack([hues[rng.integers(0, 2, grid)] + rng.normal(0, 0.05, grid),
                        rng.uniform(0.3, 0.8, grid), rng.uniform(0.25, 0.95, grid)], axis=-1)
        hsv[..., 0] %= 1.0
        image = _upsample(_hsv_to_rgb(hsv), height, width)
        for _ in range(int(rng.integers(2, 6))):
            cy, cx = rng.uniform(0.1, 0.9, 2) * (height, width) / max(height, width)
            ry, rx = rng.uniform(0.06, 0.25, 2)
            inside = ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2
            alpha = np.clip((1.2 - inside) * 4, 0, 1)[..., None]
            colour = _hsv_to_rgb([rng.uniform(), rng.uniform(0.6, 1.0), rng.uniform(0.5, 1.0)])
            shade = 1 - 0.3 * np.clip(inside, 0, 1)[..., None]
            image = image * (1 - alpha) + alpha * colour * shade
        image += rng.normal(0, 0.025, (height, width, 1))
        photos.append(np.clip(image, 0, 1).astype(np.float32))
    return np.stack(photos)
