"""Filters as objects: their weights shown as images, and how alike two filters are.

A filter of the first convolution is a small k x k x 3 array of weights over RGB, so it can be
drawn as a tiny colour image. Two filters can be compared by their weights (the cosine of their
flattened kernels) or by what they do (how alike their activation maps are over a batch of
images). ``similarity_order`` sorts a similarity matrix so that groups of alike filters form
blocks along the diagonal; ``most_similar_pairs`` lists the closest pairs.

References:
    Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional Neural
    Networks" (2012), fig. 3 (first-layer kernels as images); Atkins, Boman & Hendrickson,
    "A Spectral Algorithm for Seriation" (1998).
"""

from __future__ import annotations

import keras
import matplotlib.pyplot as plt
import numpy as np

from helpers._core.activations import layer_outputs
from helpers._core.graph import (conv_layers, feature_layers, get_layer, is_conv,
                                 require_spatial, unit_scale)
from helpers._core.inputs import BATCH_SIZE, as_batch, check_count
from helpers._core.model import affine_preprocessing, keras_model, preprocess_fn
from helpers.ascent import LADDER, maximize_filters, num_filters

NORMALIZATIONS = ("shared", "each")
#: The four orthogonal parts of a first-layer kernel (see ``kernel_parts``).
KERNEL_PARTS = ("brightness", "colour", "grey pattern", "colour pattern")
#: Kernels or vectors smaller than this share of the largest one are zero up to rounding.
NEGLIGIBLE = 1e-6


def conv_kernel(model, layer: str, fold_batch_norm: bool = True) -> np.ndarray:
    """The kernel of convolution ``layer`` as (k, k, in_channels, filters).

    Depthwise kernels (k, k, C, 1) are returned as (k, k, 1, C): one single-channel filter per
    channel. With ``fold_batch_norm``, a batch normalization right after the convolution (as in
    MobileNet) has its per-filter scale gamma / sqrt(var + eps) folded in
    (``_core.graph.unit_scale``), so kernels compare as the network uses them.

    Args:
        model: a ``VisModel`` or a Keras model.

    Raises:
        ValueError: unknown layer, or a layer that is not a convolution.
    """
    net = keras_model(model)
    found = get_layer(net, layer)
    if not is_conv(found):
        raise ValueError(
            f"Layer {layer!r} ({type(found).__name__}) is not a convolution, so it has no "
            f"kernels. Convolutions of this model: {', '.join(conv_layers(net)[:6])}, ..."
        )
    if isinstance(found, keras.layers.SeparableConv2D):
        kernel = keras.ops.convert_to_numpy(found.pointwise_kernel)
    else:
        kernel = keras.ops.convert_to_numpy(found.kernel)
    if isinstance(found, keras.layers.DepthwiseConv2D):
        kernel = np.transpose(kernel, (0, 1, 3, 2))
    if fold_batch_norm:
        kernel = kernel * unit_scale(net, layer)
    return kernel.astype(np.float32)


def rgb_kernels(model, layer: str | None = None, preprocess=None) -> np.ndarray:
    """The first-layer kernels as they act on RGB pixels, (filters, k, k, 3).

    A kernel multiplies the model's preprocessed input; rewritten over RGB pixels it becomes
    M^T w, with M the preprocessing's per-pixel matrix. For VGG16 that swaps the channels back
    from BGR to RGB; for [-1, 1] models it only rescales.

    Args:
        model: a ``VisModel`` or a Keras model.
        layer: a convolution that reads the RGB input (default: the model's first convolution).
        preprocess: the preprocessing, for a bare Keras model (default x / 127.5 - 1, see
            ``ascent.maximize``).

    Raises:
        ValueError: the layer's kernels do not see three input channels.
    """
    net = keras_model(model)
    layer = layer or conv_layers(net)[0]
    kernel = conv_kernel(net, layer)
    if kernel.shape[2] != 3:
        raise ValueError(
            f"The kernels of {layer!r} see {kernel.shape[2]} input channels, not the 3 of an RGB "
            f"image, so they cannot be drawn as colour images. Use the first convolution, "
            f"{conv_layers(net)[0]!r}."
        )
    matrix, _ = affine_preprocessing(preprocess or preprocess_fn(model), 3)
    return np.einsum("hwcf,cd->fhwd", kernel, matrix)


def kernel_images(kernels: np.ndarray, normalize: str = "shared") -> np.ndarray:
    """Map kernels (filters, k, k, 3) to RGB images in [0, 1] where 0.5 grey is a zero weight.

    ``"shared"`` divides every kernel by the layer's largest absolute weight, so strong and weak
    filters can be compared; ``"each"`` divides each kernel by its own, to see the pattern of
    weak ones. Positive weights turn a channel up, negative ones down, either way from grey.
    A kernel below ``NEGLIGIBLE`` times the layer's largest weight (a dead filter) stays grey.

    Raises:
        ValueError: unknown normalization, or a kernel array of the wrong shape.
    """
    kernels = np.asarray(kernels, dtype=np.float64)
    if kernels.ndim != 4 or kernels.shape[-1] not in (1, 3):
        raise ValueError(f"Expected kernels (filters, k, k, 3); got shape {kernels.shape}. "
                         "Get them with rgb_kernels(model).")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}; got {normalize!r}.")
    axes = (1, 2, 3) if normalize == "each" else (0, 1, 2, 3)
    peak = np.abs(kernels).max(axis=axes, keepdims=True)
    # a kernel that is zero up to rounding stays grey instead of showing magnified noise
    visible = peak > NEGLIGIBLE * np.abs(kernels).max()
    scaled = np.divide(kernels, 2 * peak, out=np.zeros_like(kernels), where=visible)
    return np.clip(0.5 + scaled, 0.0, 1.0)


def kernel_parts(kernels: np.ndarray) -> np.ndarray:
    """Split each RGB kernel into four orthogonal parts and give each part's share of its energy.

    With u the kernel's mean over positions (one weight per colour) and s = w - u what changes
    from position to position, each is split again into its grey part (the mean over the three
    colours) and its colour part (the rest):

        w = grey(u) + colour(u) + grey(s) + colour(s),   sum of the squared norms = ||w||^2

    ``"brightness"`` (the same weight everywhere and in every colour: overall light),
    ``"colour"`` (the same everywhere, different per colour: a colour-opponent filter such as
    blue minus yellow), ``"grey pattern"`` (a spatial pattern of light and dark: edges, bars,
    spots) and ``"colour pattern"`` (a spatial pattern that differs per colour). Names in
    ``KERNEL_PARTS``. A kernel of zeros has all shares 0.

    Args:
        kernels: (filters, k, k, 3), as from ``rgb_kernels``.

    Returns:
        (filters, 4) shares in [0, 1], each row summing to 1 (or 0 for a zero kernel).
    """
    kernels = np.asarray(kernels, dtype=np.float64)
    if kernels.ndim != 4 or kernels.shape[-1] != 3:
        raise ValueError(f"Expected RGB kernels (filters, k, k, 3); got shape {kernels.shape}. "
                         "Get them with rgb_kernels(model).")
    uniform = np.broadcast_to(kernels.mean(axis=(1, 2), keepdims=True), kernels.shape)
    parts = []
    for part in (uniform, kernels - uniform):
        grey = np.broadcast_to(part.mean(axis=-1, keepdims=True), part.shape)
        parts += [grey, part - grey]
    energy = np.stack([np.sum(part ** 2, axis=(1, 2, 3)) for part in parts], axis=1)
    total = energy.sum(axis=1, keepdims=True)
    return np.divide(energy, total, out=np.zeros_like(energy), where=total > 0)


def show_kernels(kernels: np.ndarray, normalize: str = "each", ncols: int = 8,
                 size: float = 0.9, title: str | None = None, fig=None, nrows: int = 0):
    """Draw kernels (filters, k, k, 3) big, one panel per filter labelled with its index,
    ``ncols`` to a row, ``size`` inches per panel, each weight a sharp square (nearest
    interpolation). ``fig``: a figure or subfigure to draw into (default: a new figure);
    ``nrows``: at least this many rows, the extra ones left blank, so that two layers drawn
    side by side get panels of the same size. Returns the figure (or subfigure)."""
    images = kernel_images(kernels, normalize)
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer; got {ncols!r}.")
    cols = min(ncols, len(images))
    rows = max(-(-len(images) // cols), nrows)
    if fig is None:
        fig = plt.figure(figsize=(size * cols, size * rows + (0.45 if title else 0.1)),
                         layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for k, ax in enumerate(axes):
        ax.set_xticks([]), ax.set_yticks([])
        if k >= len(images):
            ax.axis("off")
            continue
        ax.imshow(images[k], interpolation="nearest")
        ax.set_xlabel(str(k), fontsize=7, labelpad=1)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def cosine_similarity(vectors: np.ndarray, center: bool = False) -> np.ndarray:
    """Pairwise cosine similarity of the rows of ``vectors`` (n, d), as an (n, n) matrix.

    With ``center`` each row's mean is removed first, which makes it Pearson's correlation.
    A row of zeros, or one below ``NEGLIGIBLE`` times the longest row (zero up to rounding), is
    similar to nothing (0), itself included, instead of dividing by zero.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.ndim != 2:
        raise ValueError(f"Expected vectors as rows of a 2-D array; got shape {vectors.shape}.")
    if center:
        vectors = vectors - vectors.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    nonzero = norms > NEGLIGIBLE * norms.max(initial=0.0)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=nonzero)
    return np.clip(unit @ unit.T, -1.0, 1.0)


def kernel_similarity(model, layer: str) -> np.ndarray:
    """Cosine similarity of the flattened kernels of convolution ``layer``, (filters, filters).

    1 means the same pattern of weights up to scale, -1 the opposite pattern (an "on" and an
    "off" detector), 0 unrelated.
    """
    kernel = conv_kernel(model, layer)
    return cosine_similarity(kernel.reshape(-1, kernel.shape[-1]).T)


def activation_similarity(model, layer: str, x, center: bool = True,
                          batch_size: int = BATCH_SIZE) -> np.ndarray:
    """How alike the filters of ``layer`` respond: the cosine similarity of their activation
    maps over the images, flattened over images and positions, (filters, filters).

    Args:
        model: a ``VisModel`` or a Keras model.
        layer: a layer with a spatial output.
        x: one preprocessed image (H, W, C) or a batch (N, H, W, C), as from
            ``vm.preprocess(images)``; one image gives the similarity over its positions.
        center: remove each filter's mean response first (correlation). ReLU maps are never
            negative, so without it every pair looks alike merely by being active together.
        batch_size: images per forward pass.

    Raises:
        ValueError: a layer without a spatial output, or bad images (the core's checks).
    """
    net = keras_model(model)
    require_spatial(net, layer)
    batch, _ = as_batch(x, net.input_shape)
    maps = layer_outputs(net, layer, batch, check_count("batch_size", batch_size))[layer]
    return cosine_similarity(maps.reshape(-1, maps.shape[-1]).T, center=center)


def similarity_order(similarity: np.ndarray) -> np.ndarray:
    """An order of the filters that puts alike filters next to each other (spectral seriation):
    sort by the Fiedler vector of the graph whose edge weights are (1 + similarity) / 2."""
    similarity = _check_square(similarity)
    weights = (1.0 + similarity) / 2.0
    np.fill_diagonal(weights, 0.0)
    laplacian = np.diag(weights.sum(axis=1)) - weights
    _, vectors = np.linalg.eigh(laplacian)
    fiedler = vectors[:, 1] if len(similarity) > 1 else np.zeros(1)
    return np.argsort(fiedler, kind="stable")


def most_similar_pairs(similarity: np.ndarray, k: int = 5,
                       opposite: bool = False) -> list[tuple[int, int, float]]:
    """The ``k`` pairs (i, j, similarity), i < j, with the highest similarity (or the lowest,
    most opposite, with ``opposite=True``), best first."""
    similarity = _check_square(similarity)
    rows, cols = np.triu_indices(len(similarity), k=1)
    values = similarity[rows, cols]
    order = np.argsort(values if opposite else -values, kind="stable")[:k]
    return [(int(rows[i]), int(cols[i]), float(values[i])) for i in order]


def _check_square(similarity) -> np.ndarray:
    similarity = np.asarray(similarity, dtype=np.float64)
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(f"A similarity matrix is square; got shape {similarity.shape}.")
    if not np.all(np.isfinite(similarity)):
        raise ValueError("The similarity matrix contains NaN or infinity.")
    return similarity


def show_similarity(similarity: np.ndarray, order=None, title: str | None = None, ax=None,
                    tick_every: int | None = None):
    """Draw a similarity matrix (optionally reordered) with a diverging colour scale from -1
    (blue) to 1 (red); ticks name the filters. Returns the axes."""
    similarity = _check_square(similarity)
    order = np.arange(len(similarity)) if order is None else np.asarray(order)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 4.0))
    shown = similarity[np.ix_(order, order)]
    image = ax.imshow(shown, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    every = tick_every or max(1, len(order) // 16)
    ticks = np.arange(0, len(order), every)
    ax.set_xticks(ticks, [str(order[t]) for t in ticks], fontsize=7, rotation=90)
    ax.set_yticks(ticks, [str(order[t]) for t in ticks], fontsize=7)
    ax.set_xlabel("filter", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return ax


def show_pairs(pairs, panels, measure: str = "cos", title: str | None = None, cmap=None,
               size: float = 1.5, lead=None):
    """Draw each pair (m, n, similarity), as from ``most_similar_pairs``, side by side in its
    own frame titled with the two filters and their similarity; returns the figure.

    Args:
        pairs: (m, n, similarity) triples.
        panels: ``panels[k]`` is what to draw for filter k (a kernel image, a map, ...).
        measure: the similarity's name in the titles.
        title: a title over the figure.
        cmap: colour map for single-channel panels.
        size: inches per panel.
        lead: an optional (image, caption) drawn first, e.g. the image the maps come from.
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("No pairs to show; most_similar_pairs(similarity, k=...) gives some.")
    frames = len(pairs) + (lead is not None)
    fig = plt.figure(figsize=(size * 2.3 * frames, size * 1.3 + (0.4 if title else 0.1)),
                     layout="constrained")
    subfigs = np.atleast_1d(fig.subfigures(1, frames, wspace=0.03))
    if lead is not None:
        image, caption = lead
        ax = subfigs[0].subplots(1, 1)
        ax.imshow(image, cmap=cmap)
        ax.axis("off")
        subfigs[0].suptitle(caption, fontsize=9)
        subfigs = subfigs[1:]
    for subfig, (m, n, value) in zip(subfigs, pairs):
        subfig.set_facecolor("#f2f2f2")
        for ax, k in zip(subfig.subplots(1, 2), (m, n)):
            ax.imshow(panels[k], cmap=cmap, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_xlabel(str(k), fontsize=8, labelpad=2)
        subfig.suptitle(f"{measure} {value:+.2f}", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# --- the explorer --------------------------------------------------------------------------------

def parse_units(text: str, count: int) -> list[int]:
    """Filter indices from text such as ``"0-7, 12"`` (ranges inclusive), checked.

    Raises:
        ValueError: not numbers and ranges, nothing chosen, or an index outside 0..count-1.
    """
    chosen = []
    for part in str(text).replace(" ", "").split(","):
        lo, _, hi = part.partition("-")
        if not part:
            continue
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise ValueError(f"Cannot read filters {text!r}: write numbers and ranges, "
                             "e.g. '0-7, 12'.")
        chosen += range(int(lo), int(hi or lo) + 1)
    if not chosen:
        raise ValueError("No filters chosen: write numbers and ranges, e.g. '0-7, 12'.")
    bad = [u for u in chosen if u >= count]
    if bad:
        raise ValueError(f"Filter {bad[0]} does not exist: this layer has {count} "
                         f"(0 to {count - 1}).")
    return chosen


def filter_explorer(model, layer: str, steps: int, size: int, rung: str = "robust",
                    filters: str = "0-7"):
    """Choose a layer, filters, steps, learning rate, rung (and minimize), press "Run": the
    filters' images by gradient ascent (``ascent.maximize_filters``), drawn at once for the
    default view and replaced by each run. Returns the widget box."""
    import ipywidgets as widgets

    from helpers.plotting import show_images
    from helpers.widgets import Panel

    controls = dict(
        fmap=widgets.Dropdown(options=feature_layers(keras_model(model)), value=layer,
                              description="layer"),
        filter_text=widgets.Text(value=filters, description="filters"),
        steps=widgets.IntSlider(value=steps, min=5, max=4 * steps, step=5, description="steps"),
        lr=widgets.FloatLogSlider(value=0.05, base=10, min=-3, max=0, description="lr"),
        rung=widgets.Dropdown(options=list(LADDER), value=rung, description="rung"),
        minimize=widgets.Checkbox(value=False, description="minimize"),
    )
    button = widgets.Button(description="Run", button_style="primary")
    panel = Panel()

    def figure():
        c = {name: w.value for name, w in controls.items()}
        units = parse_units(c["filter_text"], num_filters(model, c["fmap"]))
        result = maximize_filters(model, c["fmap"], units, steps=c["steps"], lr=c["lr"],
                                  size=size, regularization=c["rung"], minimize=c["minimize"])
        return show_images(result.images, titles=result.titles("{unit}: {final:.2f}"),
                           ncols=8, size=1.6,
                           suptitle=f"{c['fmap']}, {c['rung']}, {c['steps']} steps, lr "
                                    f"{c['lr']:.2g}{', minimized' if c['minimize'] else ''}")

    button.on_click(lambda _: panel.show(figure, "ran"))
    panel.show(figure, "ran")
    rows = list(controls.values())
    return panel.box(rows[:3], rows[3:] + [button])
