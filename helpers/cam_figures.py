"""Figures of notebook 04 that take more than a few lines to draw.

- ``occlusion_figure``: Zeiler & Fergus' occlusion map of one image in three panels;
- ``grad_cam_steps_figure``: Grad-CAM's steps (Selvaraju et al. 2017) in four panels;
- ``maps_on_objects``: heatmaps of a scene with known objects, each with its object's outline
  and its peak, and whether the peak lands on the object (the pointing game's rule);
- ``patch_curves_figure``: deletion and insertion curves side by side (Petsiuk et al. 2018).

Each returns the figure (and ``maps_on_objects`` the hits), drawn with ``new_figure`` so that
an explorer can draw them off pyplot too.
"""

from __future__ import annotations

import numpy as np

from helpers import occlusion
from helpers.cam import peaks
from helpers.faithfulness import TOLERANCE, dilate
from helpers.images import resize_maps
from helpers.plotting import new_figure, overlay

__all__ = ["grad_cam_steps_figure", "maps_on_objects", "occlusion_figure",
           "patch_curves_figure"]


def occlusion_figure(image, drops, class_name: str, patch: int | None = None,
                     stride: int | None = None):
    """Occlusion of one image in three panels: the image with the patch whose hiding lowers
    the score most filled with the image's mean colour (what the model was shown there);
    the drops D_c(i, j) = f_c(I) - f_c(I with patch (i, j) filled) at the patch grid on a
    diverging scale (red: hiding the patch lowers f_c, blue: raises it); and the positive
    drops divided by their maximum, at the image's resolution, over the image.

    Args:
        image: the uint8 image (H, W, 3) that was occluded (before preprocessing).
        drops: ``occlusion.occlusion``'s map for it, (h', w').
        class_name: the class c, for the titles.
        patch, stride: as given to ``occlusion.occlusion`` (default: its defaults).

    Raises:
        ValueError: ``drops`` does not have the patch grid's shape (from ``to_image``).
    """
    image, drops = np.asarray(image), np.asarray(drops, np.float32)
    up = occlusion.to_image(drops, image.shape[:2], patch, stride)  # checks the shape
    rows, cols, patch, _ = occlusion.grid(image.shape[:2], patch, stride)
    i, j = np.unravel_index(int(drops.argmax()), drops.shape)
    hidden = image.copy()
    hidden[rows[i]:rows[i] + patch, cols[j]:cols[j] + patch] = image.mean(axis=(0, 1))
    fig = new_figure(figsize=(11, 3.7))
    axes = fig.subplots(1, 3)
    axes[0].imshow(hidden)
    axes[0].set_title(f"hidden: the patch that lowers f_c most\n(by {drops.max():.2f})",
                      fontsize=9)
    bound = max(float(np.abs(drops).max()), 1e-6)
    shown = axes[1].imshow(drops, cmap="RdBu_r", vmin=-bound, vmax=bound)
    axes[1].set_title(f"$D_c(i, j)$ for {class_name} ({drops.shape[0]}x{drops.shape[1]} "
                      f"positions)", fontsize=9)
    fig.colorbar(shown, ax=axes[1], fraction=0.046, pad=0.04)
    positive = np.maximum(up, 0) / max(float(up.max()), 1e-6)
    axes[2].imshow(overlay(image, positive))
    axes[2].set_title(f"occlusion: {class_name}", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def grad_cam_steps_figure(image, A, alpha, heatmap, class_name: str):
    """Grad-CAM step by step (Selvaraju et al. 2017), in four panels: the channel A_k with the
    largest weight alpha_k^c, with its colour bar (a channel that fires everywhere shows as
    one flat colour, and the bar gives its values); every alpha_k^c, sorted (red > 0,
    blue < 0); the weighted sum sum_k alpha_k^c A_ijk before the ReLU on a scale symmetric
    about 0 (blue: the channels that fire there argue against c); and the Grad-CAM map
    S = ReLU(sum) / S_max over the image.

    Args:
        image: the uint8 image (H, W, 3) the map explains.
        A: the feature maps A_ijk of one image, (I, J, K).
        alpha: the channel weights alpha_k^c, (K,).
        heatmap: the Grad-CAM map S, (I, J) in [0, 1].
        class_name: the class c, for the titles.

    Raises:
        ValueError: ``alpha`` does not have one weight per channel of ``A``.
    """
    A, alpha = np.asarray(A, np.float32), np.asarray(alpha, np.float32)
    if A.ndim != 3 or alpha.shape != A.shape[-1:]:
        raise ValueError(f"Give the maps of one image, (I, J, K), and one alpha per channel, "
                         f"(K,): got A {A.shape} and alpha {alpha.shape}.")
    k = int(alpha.argmax())
    weighted = A @ alpha
    fig = new_figure(figsize=(14.5, 3.5))
    axes = fig.subplots(1, 4)
    shown = axes[0].imshow(A[..., k], cmap="viridis")
    fig.colorbar(shown, ax=axes[0], fraction=0.046, pad=0.04)
    axes[0].set_title(f"$A_k$, channel {k} (largest $\\alpha_k^c$)", fontsize=9)
    order = np.sort(alpha)[::-1]
    axes[1].bar(np.arange(len(order)), order, width=1.0,
                color=np.where(order > 0, "tab:red", "tab:blue"))
    axes[1].axhline(0, color="k", lw=0.6)
    axes[1].set_title("$\\alpha_k^c$, sorted", fontsize=9)
    axes[1].set_xlabel("channels")
    bound = max(float(np.abs(weighted).max()), 1e-6)
    shown = axes[2].imshow(weighted, cmap="RdBu_r", vmin=-bound, vmax=bound)
    fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.04)
    # {\sum}_k puts k beside the sum (mathtext lacks \nolimits); under it, k would touch the map
    axes[2].set_title("${\\sum}_k \\alpha_k^c A_k$ (before the ReLU)", fontsize=9)
    axes[3].imshow(overlay(image, heatmap))
    axes[3].set_title(f"Grad-CAM: {class_name}", fontsize=9)
    for ax in (axes[0], axes[2], axes[3]):
        ax.axis("off")
    fig.tight_layout()
    return fig


def maps_on_objects(image, maps, masks, titles, tolerance: int = TOLERANCE):
    """One panel per map over the image, with the outline of its object (white) and its peak:
    a lime **+** where the peak lies on the object or within ``tolerance`` pixels of it (the
    pointing game's hit), a red **x** where it does not.

    Args:
        image: the uint8 scene (H, W, 3).
        maps: (K, h, w) heatmaps in [0, 1], one per object, at any resolution.
        masks: (K, H, W) the objects' boolean masks, in the maps' order.
        titles: K panel titles.
        tolerance: pixels a peak may lie off the mask and still count.

    Returns:
        (figure, hits): hits is a (K,) boolean array.

    Raises:
        ValueError: the numbers of maps, masks and titles differ.
    """
    image, maps, masks = np.asarray(image), np.asarray(maps), np.asarray(masks, bool)
    if not len(maps) == len(masks) == len(titles):
        raise ValueError(f"Give one mask and one title per map: got {len(maps)} maps, "
                         f"{len(masks)} masks and {len(titles)} titles.")
    spots = peaks(resize_maps(maps, image.shape[:2]))
    reach = dilate(masks, tolerance)
    hits = reach[np.arange(len(maps)), spots[:, 0], spots[:, 1]]
    fig = new_figure(figsize=(3.4 * (len(maps) + 1), 3.6))
    axes = fig.subplots(1, len(maps) + 1)
    axes[0].imshow(image)
    axes[0].set_title("scene", fontsize=9)
    for ax, heat, mask, title, (row, col), hit in zip(axes[1:], maps, masks, titles, spots,
                                                      hits):
        ax.imshow(overlay(image, heat))
        ax.contour(mask, levels=[0.5], colors="white", linewidths=0.8)
        ax.plot(col, row, "P" if hit else "X", ms=11, mec="k", color="lime" if hit else "red")
        ax.set_title(title, fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig, hits


def patch_curves_figure(deletion: dict, insertion: dict, title: str = ""):
    """Deletion curves (left: lower is better) and insertion curves (right: higher is better)
    of the same maps, with one legend beside them that gives each method's two AUCs;
    "random order" dashed black. A method whose curves both equal an earlier method's
    (HiResCAM's and Grad-CAM's at a layer followed by global average pooling) is drawn
    dotted on top and says so in the legend, so that both show.

    Args:
        deletion, insertion: method -> ``PatchCurve`` (``faithfulness.deletion_curve`` and
            ``insertion_curve``), with the same methods in the same order.
        title: the figure's title.

    Raises:
        ValueError: the two dictionaries name different methods.
    """
    if list(deletion) != list(insertion):
        raise ValueError(f"Give deletion and insertion curves of the same methods, in the same "
                         f"order: got {list(deletion)} and {list(insertion)}.")

    def same(a, b):
        return a.mean.shape == b.mean.shape and np.allclose(a.mean, b.mean, atol=1e-6)

    fig = new_figure(figsize=(13.5, 4.2))
    axes = fig.subplots(1, 2, sharey=True)
    labels, methods = [], list(deletion)
    for n, method in enumerate(methods):
        twin = next((m for m in methods[:n] if same(deletion[m], deletion[method])
                     and same(insertion[m], insertion[method])), None)
        style = dict(marker=".")
        if method == "random order":
            style.update(color="k", ls="--")
        elif twin:
            style = dict(ls=":", lw=2.5)
        for ax, curve in zip(axes, (deletion[method], insertion[method])):
            line, = ax.plot(curve.fractions, curve.mean, **style)
            style["color"] = line.get_color()   # the same colour in both panels
        labels.append(f"{method} ({deletion[method].auc:.3f} / {insertion[method].auc:.3f})"
                      + (f", = {twin}" if twin else ""))
    for ax, kind, verb, better in ((axes[0], "deletion", "removed", "lower AUC is better"),
                                   (axes[1], "insertion", "put back", "higher AUC is better")):
        ax.set_title(f"{kind}: {better}", fontsize=10)
        ax.set_xlabel(f"share of the image {verb}, most important patches first")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("probability of the class")
    axes[0].set_ylim(0, None)
    axes[1].legend(axes[1].lines, labels, fontsize=8, loc="upper left",
                   bbox_to_anchor=(1.02, 1), borderaxespad=0,
                   title="method (AUC: deletion / insertion)", title_fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
