"""Paper Gestalt, the analysis: how good is the reviewer, and what did it learn?

The reviewer is the gestalt CNN of ``helpers.gestalt_cnn`` (re-exported here: ``load_model``,
``train``, ``preprocess``, ...), reading synthetic first pages (``helpers.pages``) or real
ones shrunk to its input (``to_page`` and ``paper_page``, from ``helpers.page_images``).

Like the paper, we judge a reviewer by its trade-off: reject a page when its posterior
P(good) is below a threshold, and move the threshold along the ROC curve from "lose no good
paper" to "catch every bad one"; :func:`operating_point` finds the threshold that loses 15%
of the good pages. :func:`gradcam_shares` measures how much of the Grad-CAM evidence falls on
given page elements, :func:`channel_selectivity` which last-layer channels prefer figures to
text, and :func:`upload_widget` scores pages a student uploads.

Every function here that takes a model takes the gestalt ``VisModel`` or its Keras model,
and uint8 pages: one page (176, 136, 3) gives one result, a batch (N, 176, 136, 3) a batch.

References:
    von Bearnensquash, "Paper Gestalt", Secret Proceedings of Computer Vision and Pattern
    Recognition (CVPR), 2010; Selvaraju et al., "Grad-CAM" (2017).
"""

from __future__ import annotations

import warnings

import keras
import numpy as np

from helpers import pages
from helpers._core.model import class_indices, keras_model
# The reviewer and real page images, re-exported: notebook 06 uses ``gestalt`` for all of them.
from helpers.gestalt_cnn import (BLOCKS, FRESH_SEED, TRAIN_SEED, WEIGHTS_PATH, as_vis_model,
                                 build_model, deprocess, fold_batch_norm, load_model,
                                 load_trained, preprocess, train, vis_model)
from helpers.images import resize_maps
from helpers.page_images import as_rgb, figure_rgb, paper_page, to_page

__all__ = [
    # the reviewer (helpers.gestalt_cnn)
    "BLOCKS", "FRESH_SEED", "TRAIN_SEED", "WEIGHTS_PATH", "build_model", "deprocess",
    "fold_batch_norm", "load_model", "load_trained", "preprocess", "train", "vis_model",
    # real page images (helpers.page_images)
    "paper_page", "to_page",
    # the analysis
    "GOOD_LOST", "as_pages", "auc", "cell_cover", "channel_selectivity", "good_probability",
    "gradcam_shares", "operating_point", "page_grad_cam", "roc_curve", "roc_thumbnail",
    "show_roc", "show_verdict", "upload_widget",
]

#: Share of good pages a reviewer may lose at the paper's operating point.
GOOD_LOST = 0.15


# ---------------------------------------------------------------------------- the verdicts

def as_pages(images) -> tuple[np.ndarray, bool]:
    """(uint8 pages as a batch (N, 176, 136, 3), whether one page came in).

    Raises:
        ValueError: not pages of the reviewer's size; the message names ``to_page``.
    """
    batch = np.asarray(images)
    single = batch.ndim == 3
    batch = batch[None] if single else batch
    if batch.ndim != 4 or batch.shape[1:] != pages.PAGE_SIZE + (3,) or not len(batch):
        raise ValueError(
            f"Expected a page ({pages.PAGE_SIZE[0]}, {pages.PAGE_SIZE[1]}, 3) or a batch of "
            f"them (N, {pages.PAGE_SIZE[0]}, {pages.PAGE_SIZE[1]}, 3); got {batch.shape}. "
            "Turn other page images into pages with gestalt.to_page(image).")
    return batch, single


def good_probability(model, images, batch_size: int = 256):
    """P(good) = softmax(f)_good of uint8 pages: a float for one page, (N,) for a batch.

    Args:
        model: the gestalt ``VisModel`` or its Keras model.
        images: one uint8 page (176, 136, 3) or a batch (N, 176, 136, 3).
    """
    batch, single = as_pages(images)
    logits = keras_model(model).predict(preprocess(batch), batch_size=batch_size, verbose=0)
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))
    p_good = probabilities[:, pages.CLASSES.index("good")]
    return float(p_good[0]) if single else p_good


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


# ---------------------------------------------------------------------------- the evidence

def page_grad_cam(model, images, cls="good", layer: str | None = None) -> np.ndarray:
    """Grad-CAM (``cam.grad_cam``) of uint8 pages for class ``cls``, upsampled to the page:
    (176, 136) for one page, (N, 176, 136) for a batch; values in [0, 1].

    Args:
        model: the gestalt ``VisModel`` or its Keras model.
        images: one uint8 page or a batch.
        cls: "good" or "bad" (or 1 or 0), for all pages or one per page.
        layer: the feature maps to explain; default the last convolution.
    """
    from helpers import cam

    vm = as_vis_model(model)
    batch, single = as_pages(images)
    classes = class_indices(vm, cls, len(batch))
    with warnings.catch_warnings():  # a page with nothing for the class is a finding here
        warnings.simplefilter("ignore", cam.EmptyHeatmapWarning)
        heat = cam.grad_cam(vm, preprocess(batch), classes, layer=layer)  # a batch in, a batch out
    heat = resize_maps(heat, pages.PAGE_SIZE)
    return heat[0] if single else heat


def gradcam_shares(model, images, masks, cls="good", layer: str | None = None):
    """Share of each page's Grad-CAM mass (for class ``cls``) that falls inside ``masks``.

    ``page_grad_cam`` measured with ``saliency.mask_share``. A heatmap spread evenly would
    score each mask's area share.

    Args:
        model: the gestalt ``VisModel`` or its Keras model.
        images: one uint8 page (176, 136, 3) or a batch (N, 176, 136, 3).
        masks: bool (176, 136) or (N, 176, 136), e.g. ``Pages.rewarded_mask()``.
        cls: "good" or "bad" (or their indices), for all pages or one per page.

    Returns:
        a share in [0, 1] for one page, (N,) for a batch; NaN where the heatmap is empty.

    Raises:
        ValueError: an unknown class, or masks of another shape than the pages.
    """
    from helpers import saliency

    heat = page_grad_cam(model, images, cls, layer)
    return saliency.mask_share(heat, masks)


def cell_cover(masks, grid: tuple[int, int]) -> np.ndarray:
    """Share of each cell of a ``grid`` (rows, cols) covered by ``masks`` (N, H, W): the
    (N, rows, cols) view of the masks from a feature map of that size (H and W multiples of
    it, as 176 x 136 is of the last layer's 11 x 8)."""
    masks = np.asarray(masks, dtype=np.float32)
    (n, height, width), (rows, cols) = masks.shape, grid
    if height % rows or width % cols:
        raise ValueError(f"A {height} x {width} mask does not split into a {rows} x {cols} grid.")
    return masks.reshape(n, rows, height // rows, cols, width // cols).mean(axis=(2, 4))


def channel_selectivity(maps, figures, text) -> dict:
    """Which channels of a layer prefer figures to text.

    Each channel's mean activation over the grid cells more than half covered by the
    ``figures`` masks (on_figures) and by the ``text`` masks (on_text), and its selectivity
    (on_figures - on_text) / (on_figures + on_text): +1 for a pure figure detector, -1 for
    a pure text detector.

    Args:
        maps: (N, rows, cols, channels) activations of N pages.
        figures, text: (N, H, W) bool masks of the same pages.

    Returns:
        dict of (channels,) arrays ``on_figures``, ``on_text`` and ``selectivity``.
    """
    maps = np.asarray(maps)
    grid = maps.shape[1:3]
    on_figures = maps[cell_cover(figures, grid) > 0.5].mean(axis=0)
    on_text = maps[cell_cover(text, grid) > 0.5].mean(axis=0)
    selectivity = (on_figures - on_text) / (on_figures + on_text + 1e-6)
    return {"on_figures": on_figures, "on_text": on_text, "selectivity": selectivity}


# ---------------------------------------------------------------------------- figures

def show_roc(p_good, labels, deserved=None, good_lost: float = GOOD_LOST):
    """The reviewer's ROC curve (and, dashed, against the noise-free ``deserved`` verdicts)
    with its operating point and Paper Gestalt's, beside the histogram of P(good) of good
    and bad pages. Returns the figure."""
    import matplotlib.pyplot as plt

    p_good = np.asarray(p_good)
    labels = np.asarray(labels)
    point = operating_point(p_good, labels, good_lost)
    fig, (ax, hist) = plt.subplots(1, 2, figsize=(10, 4.2))
    ax.plot(*roc_curve(p_good, labels)[:2], color="tab:blue", lw=2, label="our reviewer")
    if deserved is not None:
        ax.plot(*roc_curve(p_good, deserved)[:2], color="tab:blue", lw=1, ls="--",
                label="the same, against the noise-free verdicts")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", label="a coin-flipping reviewer")
    ax.plot(point["good_lost"], point["bad_caught"], "o", color="tab:blue", ms=9,
            label=f"ours at {good_lost:.0%}: {point['bad_caught']:.0%} of bad caught")
    ax.plot(0.15, 0.5, "*", color="tab:red", ms=16, label="Paper Gestalt (2010): 50%")
    ax.set(xlabel="good pages lost (rejected)", ylabel="bad pages caught (rejected)",
           title="ROC of the reviewer", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    bins = np.linspace(0, 1, 26)
    hist.hist(p_good[labels == 1], bins, alpha=0.6, color="tab:green", label="good pages")
    hist.hist(p_good[labels == 0], bins, alpha=0.6, color="tab:red", label="bad pages")
    hist.axvline(point["threshold"], color="k", ls="--",
                 label=f"threshold: {good_lost:.0%} of good lost")
    hist.set(xlabel="P(good)", ylabel="pages", title="The posterior on fresh pages")
    hist.legend(fontsize=8)
    fig.tight_layout()
    return fig


def roc_thumbnail(p_good, labels) -> np.ndarray:
    """The bare ROC curve with Paper Gestalt's point, as an RGB image for a page's figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3.4))
    ax = fig.add_subplot()
    ax.plot(*roc_curve(p_good, labels)[:2], lw=3)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.plot(0.15, 0.5, "*", color="tab:red", ms=18)
    return figure_rgb(fig)


def show_verdict(model, image, title: str = "", axes=None) -> float:
    """The reviewer's verdict on one page image: the page, what the model sees (176 x 136),
    and Grad-CAM for "good" over it, with P(good) in the title. Returns P(good).

    Args:
        model: the gestalt ``VisModel`` or its Keras model.
        image: any page image (see ``to_page``).
        title: a name for the page.
        axes: three matplotlib axes, or None for a new figure.
    """
    from helpers.plotting import show_heatmap

    original = as_rgb(image)
    page = to_page(original)
    p_good = good_probability(model, page)
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, 3, figsize=(10.5, 5.4), layout="constrained")
    axes[0].imshow(original)
    axes[0].set_title(title or "the page", fontsize=9)
    axes[0].axis("off")
    axes[1].imshow(page)
    axes[1].set_title(f"what the reviewer sees\nP(good) = {p_good:.1%}", fontsize=9)
    axes[1].axis("off")
    heat = page_grad_cam(model, page, "good")
    title = 'Grad-CAM for "good"' + ("" if heat.max() > 0 else ":\nnothing speaks for it")
    show_heatmap(page, heat, title=title, ax=axes[2])
    return p_good


def upload_widget(model):
    """Display a FileUpload and a Score button: the uploaded page image (PNG or JPEG: a
    screenshot or a PDF page rendered to an image) is judged with ``show_verdict`` when the
    button is pressed, each verdict replacing the last (``helpers.widgets``). Returns the
    widget."""
    import ipywidgets as widgets
    from IPython.display import display
    from matplotlib.figure import Figure

    from helpers.widgets import Panel

    upload = widgets.FileUpload(accept="image/*", multiple=False, description="Page image")
    button = widgets.Button(description="Score it", button_style="primary")
    panel = Panel()

    def verdict():  # a Figure, not pyplot: this runs on the widget's callback thread
        file = upload.value[0]
        fig = Figure(figsize=(10.5, 5.4), layout="constrained")
        show_verdict(model, file["content"], title=file["name"], axes=fig.subplots(1, 3))
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


if __name__ == "__main__":  # the command data/README.md gives: python -m helpers.gestalt
    from helpers.gestalt_cnn import main

    main()
