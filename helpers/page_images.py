"""Real page images as the reviewer's input: typeset a first page, or shrink any page image.

:func:`paper_page` typesets a first page (US letter, two columns of real text, optional
teaser and figures) with Matplotlib; :func:`to_page` turns any page image (a screenshot, a
rendered PDF page, a photo of a printout) into the 176 x 136 thumbnail the gestalt CNN reads
(``helpers.pages.PAGE_SIZE``).
"""

from __future__ import annotations

import io
import textwrap

import numpy as np
from PIL import Image

from helpers.images import to_rgb
from helpers.pages import PAGE_SIZE


def to_page(image) -> np.ndarray:
    """Any page image (screenshot, rendered PDF page, photo of a printout) as a model input.

    The image is padded with white to the shape of a letter page (keeping its aspect
    ratio, centred), then shrunk by area averaging to 176 x 136 so that lines of text
    become grey lines as on the synthetic pages.

    Args:
        image: an array or PIL image in any mode ``helpers.to_rgb`` accepts, or encoded
            image bytes (PNG, JPEG) as a FileUpload gives them.

    Raises:
        ValueError: not an image.
    """
    rgb = as_rgb(image)
    height, width = PAGE_SIZE
    h, w = rgb.shape[:2]
    scale = max(h / height, w / width)  # page units per pixel of the padded canvas
    canvas_h, canvas_w = max(h, round(height * scale)), max(w, round(width * scale))
    canvas = np.full((canvas_h, canvas_w, 3), 255, dtype=np.uint8)
    top, left = (canvas_h - h) // 2, (canvas_w - w) // 2
    canvas[top:top + h, left:left + w] = rgb
    return np.asarray(Image.fromarray(canvas).resize((width, height), Image.Resampling.BOX))


def as_rgb(image) -> np.ndarray:
    """An array, PIL image, Matplotlib figure or encoded image bytes as RGB uint8.

    Raises:
        ValueError: bytes that are not an image.
    """
    if hasattr(image, "savefig"):
        return figure_rgb(image)
    if isinstance(image, bytes | bytearray | memoryview):
        try:
            image = Image.open(io.BytesIO(bytes(image)))
            image.load()
        except OSError:
            raise ValueError("These bytes are not an image Pillow can read. Upload a PNG or "
                             "JPEG; render a PDF page to PNG first (pdftoppm -png).") from None
    return to_rgb(image)


def figure_rgb(fig) -> np.ndarray:
    """A Matplotlib figure drawn as an RGB uint8 image (at its own size and dpi)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def paper_page(title: str, authors: str, text: str, teaser=None, figures=(),
               dpi: int = 100) -> np.ndarray:
    """Typeset a real first page (US letter, two columns) with matplotlib, as an RGB image.

    The page has a title, a line of authors, an optional teaser image across the full
    width, then ``text`` (paragraphs separated by blank lines) in two columns of real
    10-point text, and each image of ``figures`` at the top of the right column.

    Args:
        title, authors: the title block.
        text: the body; it is repeated until both columns are full.
        teaser: an RGB image (or a Matplotlib figure) or None.
        figures: RGB images (or Matplotlib figures) for the right column.
        dpi: resolution of the result (letter is 8.5 x 11 inches).

    Returns:
        uint8 RGB (11 dpi, 8.5 dpi, 3): what a PDF viewer would show; ``to_page`` shrinks it.

    Raises:
        ValueError: no text.
    """
    from matplotlib.figure import Figure

    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
    if not paragraphs:
        raise ValueError("The page needs some text; pass a few paragraphs.")
    fig = Figure(figsize=(8.5, 11), dpi=dpi, facecolor="white")
    fig.text(0.5, 0.925, title, ha="center", va="top", fontsize=15, weight="bold", wrap=True)
    fig.text(0.5, 0.875, authors, ha="center", va="top", fontsize=10.5)
    top = 0.835
    if teaser is not None:
        top = _image_axes(fig, teaser, 0.5, top, width=0.84, max_height=0.24)
        caption = textwrap.shorten("Figure 1. " + paragraphs[0], 110, placeholder=" ...")
        fig.text(0.08, top - 0.008, caption, fontsize=8, va="top")
        top -= 0.035
    size, spacing = 9.5, 1.2  # points; 10-point text set solid, as conference papers are
    lines = [line for paragraph in paragraphs * 20
             for line in textwrap.wrap(paragraph, 50) + [""]]
    pitch, bottom = size * spacing / 72 / 11, 0.07
    column_top = {0: top, 1: top}
    for image in figures:  # floats go to the top of the right column
        column_top[1] = _image_axes(fig, image, 0.72, column_top[1], width=0.4,
                                    max_height=0.22) - 0.03
    for column, x in ((0, 0.08), (1, 0.53)):
        rows = int((column_top[column] - bottom) / pitch)
        body = "\n".join(lines[:rows])
        lines = lines[rows:]
        fig.text(x, column_top[column], body, fontsize=size, va="top", family="serif",
                 linespacing=spacing)
    return figure_rgb(fig)


def _image_axes(fig, image, centre_x, top, width, max_height):
    """Draw ``image`` centred at ``centre_x`` below ``top`` (figure fractions); returns its
    bottom."""
    image = as_rgb(image)
    aspect = image.shape[0] / image.shape[1] * 8.5 / 11  # height / width in figure fractions
    w = width
    h = w * aspect
    if h > max_height:
        h, w = max_height, max_height / aspect
    ax = fig.add_axes((centre_x - w / 2, top - h, w, h))
    ax.imshow(image)
    ax.axis("off")
    return top - h
