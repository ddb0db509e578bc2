"""Drawing a synthetic first page: the ink of text lines, plots and photos, and their masks.

The page's geometry and its kinds of element (``PAGE_SIZE``, ``ELEMENTS``) live here, with
:class:`Sheet`, a page being drawn: its paper, a float canvas, one mask per element kind and
the text style of its paper (line pitch, line height, ink, coloured links). ``Sheet`` draws;
``helpers.page_layout`` decides where things go, and ``helpers.pages`` judges the result.

Every element is drawn with array operations: all the lines of words of a page are one matrix
product, words and photos are cut from banks drawn once with fixed seeds.
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np

#: (height, width) of a page in pixels: US letter (11 x 8.5 in) at 16 pixels per inch.
PAGE_SIZE = (176, 136)
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


def element_index(kind: str) -> int:
    """Index of an element kind in ``ELEMENTS``.

    Raises:
        ValueError: not an element kind.
    """
    if kind not in ELEMENTS:
        raise ValueError(f"Unknown page element {kind!r}; choose from {', '.join(ELEMENTS)}.")
    return ELEMENTS.index(kind)


class Sheet:
    """A page being drawn: paper, float canvas, element masks and the text style."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
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

    def element_map(self) -> np.ndarray:
        """The masks as one (H, W) map: 0 blank, k + 1 for ELEMENTS[k]; they never overlap."""
        kinds = np.arange(1, len(ELEMENTS) + 1, dtype=np.uint8)[:, None, None]
        return (self.masks * kinds).max(axis=0)

    # --- text ------------------------------------------------------------------------

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
        return self.lines(kind, x0, line_tops(y0, n_lines, self.pitch), starts, ends, self.thick,
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

    def caption(self, x0, x1, y0):
        """One to three lines of caption text, without links; returns the row below."""
        return self.paragraphs("text", x0, x1, y0, int(self.rng.integers(1, 4)), indent=0,
                               links=False)

    # --- graphics --------------------------------------------------------------------

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


def line_tops(y0: float, n: int, pitch: float) -> np.ndarray:
    """Tops of ``n`` lines ``pitch`` apart from row ``y0``."""
    return y0 + pitch * np.arange(n)


@cache
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
