"""Laying out a synthetic first page: title block, teaser, columns of text and floats.

:class:`Page` draws one page from its own random generator (see ``helpers.pages``): page
``i`` of seed ``s`` comes from ``np.random.default_rng([s, i])``, so it is the same whatever
the number of pages asked for. Layouts differ from page to page, so pages are laid out one by
one; the drawing itself is done by ``helpers.page_drawing.Sheet`` with array operations.
"""

from __future__ import annotations

import numpy as np

from helpers.page_drawing import PAGE_SIZE, Sheet, element_index, line_tops


class Page(Sheet):
    """One page being drawn: the canvas and masks of a ``Sheet``, the reviewer's coin and
    the layout features the rule counts."""

    def __init__(self, rng: np.random.Generator):
        flip = rng.random()  # first draw: the reviewer's noise does not depend on layout
        super().__init__(rng)
        self.flip = flip
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

    def title_block(self, x0, x1, y0):
        """Title (one or two bold lines) and a row of authors; returns the row below."""
        rng, width = self.rng, x1 - x0
        n = 1 if rng.random() < 0.4 else 2
        lengths = (width * rng.uniform(0.55, 0.95, n)).astype(int)
        lengths[-1] = min(lengths[-1], int(width * rng.uniform(0.3, 0.95)))
        starts = (width - lengths) // 2
        y = self.lines("title", x0, line_tops(y0, n, rng.uniform(4.6, 5.4)), starts,
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
        self.lines("table", left, np.repeat(line_tops(y + 6, rows, pitch), cols),
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
