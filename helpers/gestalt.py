"""Paper Gestalt: a small CNN that accepts or rejects a paper by the looks of its first page.

The model reads a page thumbnail (176 x 136 RGB, see ``helpers.pages``) and outputs two
logits, "bad" and "good". It ships with the repository (``data/gestalt_cnn.weights.h5``),
trained on synthetic pages judged by the hidden ``pages.Rule``; :func:`train` retrains it
to the same accuracy (about 2.5 minutes on two CPU cores; byte for byte with TensorFlow's
oneDNN kernels off, ``TF_ENABLE_ONEDNN_OPTS=0``, as it was trained)::

    python -m helpers.gestalt --seed 0

Like the paper, we judge a reviewer by its trade-off: reject a page when its posterior
P(good) is below a threshold, and move the threshold along the ROC curve from "lose no good
paper" to "catch every bad one"; :func:`operating_point` finds the threshold that loses 15%
of the good pages. :func:`to_page` turns any page image (a screenshot, a rendered PDF page)
into the model's input, and :func:`upload_widget` scores pages a student uploads.

References:
    von Bearnensquash, "Paper Gestalt", Secret Proceedings of Computer Vision and Pattern
    Recognition (CVPR), 2010; Zhou et al., "Learning Deep Features for Discriminative
    Localization" (2016), for the global-average-pooling head.
"""

from __future__ import annotations

import argparse
import io
import time
import warnings
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from helpers import pages, small_vgg
from helpers.images import to_rgb
from helpers.models import VisModel
from helpers.small_vgg import deprocess, preprocess  # noqa: F401  (part of this module's API)

WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "data" / "gestalt_cnn.weights.h5"

#: (block, filters, convolutions) of the feature extractor; a 2x2 max-pool ends blocks 1-4,
#: so the last feature maps are 11 x 8 and each of their units sees 78 x 78 pixels.
BLOCKS = ((1, 8, 1), (2, 16, 1), (3, 24, 1), (4, 48, 1), (5, 64, 1))

#: Training pages come from this seed; every other seed gives pages the model never saw.
TRAIN_SEED = 1_000
#: Seed of the pages that measure the model (tests and notebook), never used in training.
FRESH_SEED = 2_010
#: Share of good pages a reviewer may lose at the paper's operating point.
GOOD_LOST = 0.15


def build_model(batch_norm: bool = False) -> keras.Model:
    """The gestalt CNN: ReLU 3x3 convolutions in 5 blocks, global average pooling, 2 logits.

    Args:
        batch_norm: put batch normalization between each convolution and its ReLU, for
            training only; ``fold_batch_norm`` turns such a model into the plain one.
    """
    # batch norm with a short memory: its statistics must keep up with a few hundred steps
    return small_vgg.build_vgg(pages.PAGE_SIZE + (3,), BLOCKS, len(pages.CLASSES),
                               name="gestalt_cnn", input_name="page", batch_norm=batch_norm,
                               bn_momentum=0.9)


def fold_batch_norm(trained: keras.Model) -> keras.Model:
    """The plain model computing what ``trained`` (built with batch_norm=True) computes at
    inference (see ``small_vgg.fold_batch_norm``), with centred logits.

    The two logits are centred (their mean over the classes subtracted from the dense
    weights and bias): the softmax does not change, and f_good = -f_bad is half the
    log-odds of "good", so that maximizing f_good or explaining it means "more good, less
    bad" rather than "more of everything".
    """
    plain = small_vgg.fold_batch_norm(trained, build_model())
    dense = plain.get_layer("logits")
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel - kernel.mean(axis=1, keepdims=True), bias - bias.mean()])
    return plain


def load_trained(path: str | Path = WEIGHTS_PATH) -> keras.Model:
    """The gestalt CNN with trained weights (default: the committed ones).

    Raises:
        FileNotFoundError: no weights file at ``path``.
    """
    return small_vgg.load_weights(build_model(), path, "python -m helpers.gestalt --seed 0")


def load_model(path: str | Path = WEIGHTS_PATH) -> VisModel:
    """The gestalt CNN with trained weights (default: the committed ones) as a
    ``VisModel``, ready for the series' tools (see ``vis_model``)."""
    return vis_model(load_trained(path))


def vis_model(model: keras.Model) -> VisModel:
    """Wrap a gestalt CNN as a ``VisModel`` named "gestalt" (classes "bad" and "good").

    Its samples are four fresh pages: ``good_1``, ``good_2`` (deserved good) and ``bad_1``,
    ``bad_2`` (deserved bad).
    """
    batch = pages.make_pages(16, seed=FRESH_SEED + 1)
    samples = {}
    for verdict in (1, 0):
        for k, i in enumerate(np.flatnonzero(batch.deserved == verdict)[:2], start=1):
            samples[f"{pages.CLASSES[verdict]}_{k}"] = batch.images[i]
    return VisModel("gestalt", model, pages.CLASSES, pages.PAGE_SIZE, preprocess, samples)


def good_probability(model, images, batch_size: int = 256) -> np.ndarray:
    """P(good) of each page: the softmax of the two logits. ``model``: a Keras model or
    a VisModel; ``images``: uint8 pages (N, 176, 136, 3) or one page."""
    model = getattr(model, "model", model)
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[1:] != pages.PAGE_SIZE + (3,):
        raise ValueError(
            f"Expected pages of shape (N, {pages.PAGE_SIZE[0]}, {pages.PAGE_SIZE[1]}, 3); got "
            f"{images.shape}. Turn other page images into pages with gestalt.to_page(image)."
        )
    logits = model.predict(preprocess(images), batch_size=batch_size, verbose=0)
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))
    return probabilities[:, pages.CLASSES.index("good")]


def roc_curve(p_good, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reviewer's ROC: reject a page when P(good) < t, for every threshold t.

    Args:
        p_good: (N,) posterior P(good) of each page.
        labels: (N,) 1 for good pages, 0 for bad ones; both must occur.

    Returns:
        (good_lost, bad_caught, thresholds): the share of good pages rejected (false
        positive rate) and of bad pages rejected (true positive rate) at each threshold,
        from "reject nothing" (0, 0) to "reject everything" (1, 1).

    Raises:
        ValueError: mismatched lengths, or only one kind of page.
    """
    p_good, labels = _checked_scores(p_good, labels)
    thresholds = np.concatenate([[-np.inf], np.unique(p_good), [np.inf]])
    # pages rejected at threshold t: those with p < t, counted with a sorted search
    good = np.sort(p_good[labels == 1])
    bad = np.sort(p_good[labels == 0])
    good_lost = np.searchsorted(good, thresholds, side="left") / len(good)
    bad_caught = np.searchsorted(bad, thresholds, side="left") / len(bad)
    return good_lost, bad_caught, thresholds


def auc(good_lost, bad_caught) -> float:
    """Area under the ROC curve (trapezoids): the chance that a random bad page scores
    below a random good one."""
    return float(np.sum(np.diff(good_lost) * (bad_caught[1:] + bad_caught[:-1]) / 2))


def operating_point(p_good, labels, good_lost: float = GOOD_LOST) -> dict:
    """The threshold that rejects (at most) a share ``good_lost`` of the good pages.

    Returns:
        dict with ``threshold`` (reject when P(good) < threshold), ``good_lost`` and
        ``bad_caught`` (the shares rejected there).

    Raises:
        ValueError: ``good_lost`` not in [0, 1], or bad scores or labels.
    """
    if not 0.0 <= good_lost <= 1.0:
        raise ValueError(f"good_lost is a share of the good pages, in [0, 1]; got {good_lost}.")
    lost, caught, thresholds = roc_curve(p_good, labels)
    k = int(np.flatnonzero(lost <= good_lost + 1e-12)[-1])
    return {"threshold": float(thresholds[k]), "good_lost": float(lost[k]),
            "bad_caught": float(caught[k])}


def gradcam_shares(model, images, masks, cls="good", layer: str | None = None) -> np.ndarray:
    """Share of each page's Grad-CAM mass (for class ``cls``) that falls inside ``masks``.

    Wraps ``cam.grad_cam`` (heatmaps at ``layer``, default the last convolution), upsamples
    them to the page and measures them with ``saliency.mask_share``. A heatmap spread evenly
    would score each mask's area share.

    Args:
        model: the gestalt ``VisModel``.
        images: uint8 pages (N, 176, 136, 3).
        masks: bool (N, 176, 136), e.g. ``Pages.rewarded_mask()``.
        cls: "good" or "bad".

    Returns:
        (N,) shares in [0, 1]; NaN where the heatmap is empty.
    """
    from helpers import cam, saliency

    images = np.asarray(images)
    heat = cam.grad_cam(model, model.preprocess(images), model.class_index(cls), layer=layer)
    return saliency.mask_share(cam.upsample_maps(heat, images.shape[1:3]), masks)


def _checked_scores(p_good, labels):
    p_good = np.asarray(p_good, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel()
    if p_good.shape != labels.shape:
        raise ValueError(f"Got {p_good.size} scores for {labels.size} labels; give one "
                         "score per page.")
    if not np.all(np.isfinite(p_good)):
        raise ValueError("The scores contain NaN or infinity.")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("Labels must be 1 (good) or 0 (bad).")
    if labels.min() == labels.max():
        raise ValueError("An ROC curve needs both good and bad pages; these are all "
                         f"{pages.CLASSES[int(labels[0])]}. Use more pages.")
    return p_good, labels


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
    rgb = _as_rgb(image)
    height, width = pages.PAGE_SIZE
    h, w = rgb.shape[:2]
    scale = max(h / height, w / width)  # page units per pixel of the padded canvas
    canvas_h, canvas_w = max(h, round(height * scale)), max(w, round(width * scale))
    canvas = np.full((canvas_h, canvas_w, 3), 255, dtype=np.uint8)
    top, left = (canvas_h - h) // 2, (canvas_w - w) // 2
    canvas[top:top + h, left:left + w] = rgb
    return np.asarray(Image.fromarray(canvas).resize((width, height), Image.Resampling.BOX))


def paper_page(title: str, authors: str, text: str, teaser=None, figures=(),
               dpi: int = 100) -> np.ndarray:
    """Typeset a real first page (US letter, two columns) with matplotlib, as an RGB image.

    The page has a title, a line of authors, an optional teaser image across the full
    width, then ``text`` (paragraphs separated by blank lines) in two columns of real
    10-point text, and each image of ``figures`` at the top of the right column.

    Args:
        title, authors: the title block.
        text: the body; it is repeated until both columns are full.
        teaser: an RGB image or None.
        figures: RGB images for the right column.
        dpi: resolution of the result (letter is 8.5 x 11 inches).

    Returns:
        uint8 RGB (11 dpi, 8.5 dpi, 3): what a PDF viewer would show; ``to_page`` shrinks it.
    """
    import textwrap

    import matplotlib.pyplot as plt

    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
    if not paragraphs:
        raise ValueError("The page needs some text; pass a few paragraphs.")
    fig = plt.figure(figsize=(8.5, 11), dpi=dpi, facecolor="white")
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
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


def _image_axes(fig, image, centre_x, top, width, max_height):
    """Draw ``image`` centred at ``centre_x`` below ``top`` (figure fractions); returns its
    bottom."""
    image = to_rgb(image)
    aspect = image.shape[0] / image.shape[1] * 8.5 / 11  # height / width in figure fractions
    w = width
    h = w * aspect
    if h > max_height:
        h, w = max_height, max_height / aspect
    ax = fig.add_axes((centre_x - w / 2, top - h, w, h))
    ax.imshow(image)
    ax.axis("off")
    return top - h


def show_verdict(vm: VisModel, image, title: str = "", axes=None):
    """The reviewer's verdict on one page image: the page, what the model sees (176 x 136),
    and Grad-CAM for "good" over it, with P(good) in the title. Returns P(good).

    Args:
        vm: the gestalt VisModel.
        image: any page image (see ``to_page``).
        title: a name for the page.
        axes: three matplotlib axes, or None for a new figure.
    """
    import matplotlib.pyplot as plt

    from helpers import cam
    from helpers.plotting import show_heatmap

    original = _as_rgb(image)
    page = to_page(original)
    p_good = float(good_probability(vm, page)[0])
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(10.5, 5.4), layout="constrained")
    axes[0].imshow(original)
    axes[0].set_title(title or "the page", fontsize=9)
    axes[0].axis("off")
    axes[1].imshow(page)
    axes[1].set_title(f"what the reviewer sees\nP(good) = {p_good:.1%}", fontsize=9)
    axes[1].axis("off")
    with warnings.catch_warnings():  # a page with nothing good about it is a finding here
        warnings.simplefilter("ignore", cam.EmptyHeatmapWarning)
        heat = cam.grad_cam(vm, vm.preprocess(page), vm.class_index("good"))[0]
    title = 'Grad-CAM for "good"' + ("" if heat.max() > 0 else ":\nnothing speaks for it")
    show_heatmap(page, heat, title=title, ax=axes[2])
    return p_good


def upload_widget(vm: VisModel):
    """Display a FileUpload and a Score button: the uploaded page image (PNG or JPEG: a
    screenshot or a PDF page rendered to an image) is judged with ``show_verdict`` when the
    button is pressed, each verdict replacing the last (``helpers.widgets``). Returns the
    widget."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    from helpers.widgets import Panel

    upload = widgets.FileUpload(accept="image/*", multiple=False, description="Page image")
    button = widgets.Button(description="Score it", button_style="primary")
    panel = Panel()

    def verdict():
        file = upload.value[0]
        fig, axes = plt.subplots(1, 3, figsize=(10.5, 5.4), layout="constrained")
        show_verdict(vm, file["content"], title=file["name"], axes=axes)
        return fig

    def score(_):
        if not upload.value:
            panel.say("Choose a page image first (PNG or JPEG).")
            return
        panel.show(verdict, "scored")

    button.on_click(score)
    box = panel.box([upload, button])
    display(box)
    return box


def _as_rgb(image) -> np.ndarray:
    """An array, PIL image or encoded image bytes as RGB uint8."""
    if isinstance(image, bytes | bytearray | memoryview):
        try:
            image = Image.open(io.BytesIO(bytes(image)))
            image.load()
        except OSError:
            raise ValueError("These bytes are not an image Pillow can read. Upload a PNG or "
                             "JPEG; render a PDF page to PNG first (pdftoppm -png).") from None
    return to_rgb(image)


def train(seed: int = 0, num_pages: int = 4_000, epochs: int = 3,
          rule: pages.Rule | None = None, out: str | Path | None = WEIGHTS_PATH,
          eval_pages: int = 1_000, verbose: int = 2) -> dict:
    """Render training pages, train the gestalt CNN from ``seed`` and save its weights.

    Pages come from ``TRAIN_SEED`` (plus ``seed``), judged by ``rule``; each batch is
    mirrored left-right at random (a mirrored page has the same layout features).

    Args:
        seed: random seed of the weights, the batches and the training pages.
        num_pages: training pages.
        epochs: passes over the pages.
        rule: the hidden reviewer (default ``pages.Rule()``); change it to see whether the
            explanations follow.
        out: where to save the weights; None saves nothing.
        eval_pages: fresh pages (seed ``FRESH_SEED``) to measure the accuracy on.
        verbose: Keras' fit verbosity.

    Returns:
        dict with the trained ``model`` (plain, batch norm folded), ``seconds`` of training,
        and its ``accuracy`` on the fresh pages (against their noisy labels).
    """
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    train_pages = pages.make_pages(num_pages, seed=TRAIN_SEED + seed, rule=rule)
    batch_size = 64
    data = _dataset(train_pages.images, train_pages.labels, batch_size, seed)
    model = build_model(batch_norm=True)
    steps = epochs * int(np.ceil(num_pages / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(3e-3, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data, epochs=epochs, verbose=verbose, shuffle=False)  # the dataset shuffles
    model = fold_batch_norm(model)
    seconds = time.perf_counter() - start
    fresh = pages.make_pages(eval_pages, seed=FRESH_SEED, rule=rule)
    accuracy = float(np.mean((good_probability(model, fresh.images) >= 0.5) == fresh.labels))
    report = {"model": model, "seconds": seconds, "accuracy": accuracy}
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        model.save_weights(out)
        report["weights"], report["bytes"] = str(out), out.stat().st_size
    return report


def _dataset(images, labels, batch_size, seed):
    import tensorflow as tf

    def prepare(x, y):
        x = tf.cast(x, tf.float32) / 127.5 - 1.0
        flip = tf.random.uniform((tf.shape(x)[0], 1, 1, 1), seed=seed) < 0.5
        return tf.where(flip, tf.reverse(x, axis=[2]), x), y

    data = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))
    data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).map(prepare).prefetch(2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pages", type=int, default=4_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args(argv)
    report = train(seed=args.seed, num_pages=args.pages, epochs=args.epochs, out=args.out)
    print(f"trained in {report['seconds']:.0f} s; accuracy {100 * report['accuracy']:.1f}% "
          f"on 1000 fresh pages (against their noisy verdicts); weights "
          f"{report['bytes'] / 1e6:.2f} MB at {report['weights']}")


if __name__ == "__main__":
    main()
