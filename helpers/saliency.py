"""Image gradients: which input pixels change a class score f_c the most.

The gradient of a class's logit with respect to the input image, taken at a real photo, is
the *image-gradient* or *saliency* map. This module computes it and three refinements, all
on a preprocessed batch ``x`` (what ``vm.preprocess`` returns) and for the logit f_c:

- ``vanilla_gradient``: max over colour channels of |d f_c / d x| (Simonyan et al.).
- ``gradient_x_input``: the gradient times the input, a first-order attribution.
- ``smoothgrad``: the gradient averaged over noisy copies of the input (Smilkov et al.).
- ``integrated_gradients``: the gradient averaged along a straight path from a baseline to
  the input, times (input - baseline); the attributions add up to f_c(x) - f_c(baseline)
  (Sundararajan et al.).

SmoothGrad and Integrated Gradients evaluate the model on many inputs; they are stacked into
one batch and differentiated by one compiled call (``tf.function``), not in a Python loop.
``mask_share`` measures how much of a map's mass falls inside an object's mask (``grow_mask``
adds its outline); ``show_maps`` and ``show_mask_shares`` draw them; ``saliency_explorer`` is
the interactive viewer.

References:
    Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks: Visualising Image
    Classification Models and Saliency Maps" (2013); Smilkov et al., "SmoothGrad: removing
    noise by adding noise" (2017); Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep
    Networks" (2017).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from helpers._core.graph import all_layers
from helpers.widgets import Panel

#: Method names accepted by ``saliency_map``, in the order the notebook shows them.
METHODS = ("vanilla", "gradient_x_input", "smoothgrad", "integrated_gradients")

#: Inputs differentiated per compiled call; larger batches are split to bound memory.
BATCH_SIZE = 64

_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# ---------------------------------------------------------------------------- checks


def keras_model(model) -> keras.Model:
    """The Keras model of a ``VisModel``, or ``model`` itself."""
    return getattr(model, "model", model)


def class_index(model, cls) -> int:
    """Index of class ``cls`` (a name or an index) of a ``VisModel`` or a Keras model.

    Raises:
        ValueError: unknown name (close names suggested), index out of range, or a name
            given for a plain Keras model, which has no class names.
    """
    if hasattr(model, "class_index"):
        return model.class_index(cls)
    num_classes = int(keras_model(model).output.shape[-1])
    if isinstance(cls, str):
        raise ValueError(
            f"Class {cls!r} is a name, but a plain Keras model has no class names. Pass a "
            "VisModel (helpers.load_model(...)) or a class index."
        )
    index = int(cls)
    if not 0 <= index < num_classes:
        raise ValueError(
            f"Class index {index} is out of range: the model has {num_classes} outputs "
            f"(0 to {num_classes - 1})."
        )
    return index


def _ends_in_softmax(model: keras.Model) -> bool:
    last = all_layers(model)[-1]
    if isinstance(last, keras.layers.Softmax):
        return True
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", "") == "softmax"


def _outputs_are_probabilities(model: keras.Model, x: np.ndarray) -> bool:
    out = keras.ops.convert_to_numpy(model(x[:2], training=False))
    return out.shape[-1] > 1 and bool(np.all(out >= 0)
                                      and np.allclose(out.sum(axis=-1), 1.0, atol=1e-4))


def check_logits(model: keras.Model, x: np.ndarray) -> None:
    """Refuse a model whose output is already a softmax: its gradients vanish once it is sure.

    Raises:
        ValueError: the last layer is a softmax, or the outputs of ``x`` look like
            probabilities (non-negative, summing to 1); the message says how to get logits.
    """
    if _ends_in_softmax(model) or _outputs_are_probabilities(model, x):
        raise ValueError(
            f"Model {model.name!r} outputs softmax probabilities, not logits: their gradients "
            "vanish once the model is confident, and a class can gain by pushing the others "
            "down. Use the pre-softmax scores: helpers.load_model(name) already returns "
            "logits; for keras.applications pass classifier_activation=None; for your own "
            "model drop the softmax, e.g. keras.Model(model.inputs, model.layers[-1].input) "
            "if the softmax is a separate last layer, or build the last Dense without "
            "activation='softmax'."
        )


def _as_batch(x) -> tuple[np.ndarray, bool]:
    x = np.asarray(x, dtype=np.float32)
    single = x.ndim == 3
    if single:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(
            f"Expected a preprocessed image (H, W, C) or batch (N, H, W, C); got shape "
            f"{x.shape}. Use x = vm.preprocess(image)."
        )
    if not np.all(np.isfinite(x)):
        raise ValueError("The input contains NaN or infinity; check its preprocessing.")
    return x, single


def _as_classes(model, cls, n: int) -> np.ndarray:
    """One class index per image: ``cls`` is a name or index for all, or one per image."""
    if isinstance(cls, str) or np.ndim(cls) == 0:
        return np.full(n, class_index(model, cls), dtype=np.int32)
    classes = list(cls)
    if len(classes) != n:
        raise ValueError(f"Got {len(classes)} classes for {n} images; give one or one each.")
    return np.array([class_index(model, c) for c in classes], dtype=np.int32)


def _check_count(name: str, value) -> None:
    if isinstance(value, bool) or not float(value).is_integer() or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value}.")


# ---------------------------------------------------------------------------- gradients


def _compiled_gradients(model: keras.Model, x: np.ndarray, objective: str):
    """The model's compiled (scores, gradients) function, checked and built once per model."""
    if model not in _COMPILED:
        check_logits(model, x)
        _COMPILED[model] = {}
    if objective not in _COMPILED[model]:
        probabilities = objective == "softmax"

        @tf.function(reduce_retracing=True)
        def scores_and_gradients(x, classes):
            with tf.GradientTape() as tape:
                tape.watch(x)
                scores = model(x, training=False)
                if probabilities:
                    scores = tf.nn.softmax(scores, axis=-1)
                scores = tf.gather(scores, classes, axis=1, batch_dims=1)
                # Images of a batch do not interact: the gradient of the sum is each one's own.
                total = tf.reduce_sum(scores)
            return scores, tape.gradient(total, x)

        _COMPILED[model][objective] = scores_and_gradients
    return _COMPILED[model][objective]


def scores_and_gradients(model, x, cls, batch_size: int = BATCH_SIZE,
                         objective: str = "logit"):
    """Logits f_c and their input gradients d f_c / d x for a batch, in compiled calls.

    Args:
        model: a ``VisModel`` or a Keras model that outputs logits.
        x: preprocessed batch (N, H, W, C).
        cls: one class (name or index) for all images, or one per image.
        batch_size: inputs per compiled call; one call when N <= batch_size.
        objective: ``"logit"`` (f_c) or ``"softmax"`` (the probability p_c and its gradient).

    Returns:
        (scores (N,), gradients (N, H, W, C)) as NumPy arrays.

    Raises:
        ValueError: bad input shape, class or objective, or a model with a softmax output.
    """
    if objective not in ("logit", "softmax"):
        raise ValueError(f"objective is 'logit' or 'softmax'; got {objective!r}.")
    net = keras_model(model)
    x, _ = _as_batch(x)
    classes = _as_classes(model, cls, len(x))
    _check_count("batch_size", batch_size)
    fn = _compiled_gradients(net, x, objective)
    scores, grads = [], []
    for start in range(0, len(x), batch_size):  # split only to bound memory
        s, g = fn(tf.constant(x[start:start + batch_size]),
                  tf.constant(classes[start:start + batch_size]))
        scores.append(s.numpy())
        grads.append(g.numpy())
    return np.concatenate(scores), np.concatenate(grads)


def max_abs_over_channels(grads: np.ndarray) -> np.ndarray:
    """Simonyan et al.'s map: per pixel, the largest |value| over the colour channels."""
    return np.abs(grads).max(axis=-1)


def abs_sum_over_channels(attributions: np.ndarray) -> np.ndarray:
    """Per pixel, |sum of its channels' attributions|: attributions add, so a pixel's is the sum."""
    return np.abs(attributions.sum(axis=-1))


def _unbatch(maps: np.ndarray, single: bool) -> np.ndarray:
    return maps[0] if single else maps


def vanilla_gradient(model, x, cls) -> np.ndarray:
    """Image-gradient map: max over colour channels of |d f_c / d x|.

    Args:
        model: a ``VisModel`` or a Keras model that outputs logits.
        x: preprocessed image (H, W, C) or batch (N, H, W, C).
        cls: class name or index (or one per image).

    Returns:
        (H, W) map, or (N, H, W) for a batch; >= 0.

    References:
        Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks" (2013).
    """
    batch, single = _as_batch(x)
    _, grads = scores_and_gradients(model, batch, cls)
    return _unbatch(max_abs_over_channels(grads), single)


def gradient_x_input(model, x, cls) -> np.ndarray:
    """Gradient times input, summed over channels, in absolute value: (H, W) or (N, H, W).

    In the model's preprocessed space (for ``shapes`` and MobileNet, 0 is mid-grey), so it
    is the first-order estimate of how f_c changes when a pixel is set to that zero.

    References:
        Shrikumar et al., "Not Just a Black Box: Learning Important Features Through
        Propagating Activation Differences" (2016).
    """
    batch, single = _as_batch(x)
    _, grads = scores_and_gradients(model, batch, cls)
    return _unbatch(abs_sum_over_channels(grads * batch), single)


def smoothgrad(model, x, cls, noise: float = 0.15, samples: int = 32, seed: int = 0,
               batch_size: int = BATCH_SIZE) -> np.ndarray:
    """SmoothGrad: the gradient averaged over ``samples`` noisy copies of the input.

    All noisy copies of all images are differentiated together, in one compiled call when
    N * samples <= batch_size.

    Args:
        model: a ``VisModel`` or a Keras model that outputs logits.
        x: preprocessed image (H, W, C) or batch (N, H, W, C).
        cls: class name or index (or one per image).
        noise: standard deviation of the Gaussian noise as a fraction of each image's value
            range (max - min); the paper finds 0.1 to 0.2 best. 0 gives the vanilla gradient
            up to float32 rounding: a batch of copies is summed in another order than one
            image (oneDNN picks kernels by batch size), and where a ReLU's input is within
            rounding of 0 its gate can flip, which moves the gradient of the pixels behind it.
            On MobileNet and the cat photo, one of the 50,176 units of the last ReLU (input
            about 1e-5) flips and the maps differ by 0.4 % of their maximum; compare them
            relative to the map's scale.
        samples: noisy copies per image.
        seed: seed of the noise, for repeatable maps.
        batch_size: inputs per compiled call.

    Returns:
        (H, W) or (N, H, W): max over channels of |mean gradient|.

    References:
        Smilkov et al., "SmoothGrad: removing noise by adding noise" (2017).
    """
    if not noise >= 0:
        raise ValueError(f"noise is a standard deviation (a fraction of the value range); "
                         f"it must be >= 0, got {noise}.")
    _check_count("samples", samples)
    batch, single = _as_batch(x)
    classes = _as_classes(model, cls, len(batch))
    spread = noise * (batch.max(axis=(1, 2, 3)) - batch.min(axis=(1, 2, 3)))
    rng = np.random.default_rng(seed)
    noisy = batch[:, None] + spread[:, None, None, None, None] * rng.standard_normal(
        (len(batch), int(samples)) + batch.shape[1:], dtype=np.float32)
    _, grads = scores_and_gradients(model, noisy.reshape((-1,) + batch.shape[1:]),
                                    np.repeat(classes, samples), batch_size)
    mean_grads = grads.reshape(noisy.shape).mean(axis=1)
    return _unbatch(max_abs_over_channels(mean_grads), single)


@dataclass
class IntegratedGradients:
    """Integrated Gradients of one image and its completeness check.

    Attributes:
        attributions: (H, W, C) per-input attributions; they sum to about
            ``score - baseline_score``.
        score: f_c(x).
        baseline_score: f_c(baseline).
        steps: points on the path from the baseline to the image.
    """

    attributions: np.ndarray
    score: float
    baseline_score: float
    steps: int

    @property
    def map(self) -> np.ndarray:
        """(H, W) map: |sum over channels| of the attributions."""
        return abs_sum_over_channels(self.attributions)

    @property
    def total(self) -> float:
        """Sum of all attributions."""
        return float(self.attributions.sum())

    @property
    def completeness_error(self) -> float:
        """|total - (f_c(x) - f_c(baseline))| relative to |f_c(x) - f_c(baseline)|."""
        gap = self.score - self.baseline_score
        return abs(self.total - gap) / max(abs(gap), 1e-6)

    def __str__(self) -> str:
        return (f"attributions sum to {self.total:.3f}; f_c(x) - f_c(baseline) = "
                f"{self.score:.3f} - {self.baseline_score:.3f} = "
                f"{self.score - self.baseline_score:.3f}; relative error "
                f"{self.completeness_error:.2%} with {self.steps} steps")


def path_points(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points alpha_k in (0, 1) on the path and their weights, which sum to 1.

    The integral over alpha is taken with the change of variables alpha = t^2 and the
    midpoint rule in t: points crowd near the baseline, where the gradients of real networks
    change fastest (on MobileNet, 32 or 64 equal steps can miss the sum by 10 to 40 %; these
    points stay within a few percent). The limit is the same integral as with equal steps.
    """
    t = (np.arange(steps, dtype=np.float64) + 0.5) / steps
    return (t ** 2).astype(np.float32), (2 * t / steps).astype(np.float32)


def _baseline(baseline, image: np.ndarray) -> np.ndarray:
    base = np.zeros_like(image) if baseline is None else np.asarray(baseline, np.float32)
    if base.ndim == 4 and base.shape[0] == 1:
        base = base[0]
    if base.ndim not in (0, 3) or (base.ndim == 3 and base.shape != image.shape):
        raise ValueError(f"The baseline must be a number or shaped like the image "
                         f"{image.shape}; got shape {base.shape}.")
    if not np.all(np.isfinite(base)):
        raise ValueError("The baseline contains NaN or infinity.")
    return np.broadcast_to(base, image.shape)


def integrated_gradients(model, x, cls, baseline=None, steps: int = 64,
                         batch_size: int = BATCH_SIZE) -> IntegratedGradients:
    """Integrated Gradients of one image along the straight path from ``baseline`` to ``x``.

    attributions = (x - baseline) * integral over alpha in [0, 1] of
    d f_c / d x at baseline + alpha (x - baseline). The integral is a weighted sum over
    ``steps`` points of the path (see ``path_points``), all differentiated in one compiled
    call when steps + 2 <= batch_size. Completeness: the attributions sum to
    f_c(x) - f_c(baseline) up to the error of that sum, which shrinks as ``steps`` grows.

    Args:
        model: a ``VisModel`` or a Keras model that outputs logits.
        x: one preprocessed image (H, W, C) or (1, H, W, C).
        cls: class name or index.
        baseline: an input of the same shape meaning "nothing", or a number filling one
            (default 0: mid-grey for inputs scaled to [-1, 1]; pass the preprocessed black
            image for a black baseline).
        steps: segments of the path.
        batch_size: inputs per compiled call.

    Returns:
        an ``IntegratedGradients`` with the attributions and the numbers of the check.

    References:
        Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks" (2017).
    """
    _check_count("steps", steps)
    batch, _ = _as_batch(x)
    if len(batch) != 1:
        raise ValueError(f"integrated_gradients takes one image; got a batch of {len(batch)}. "
                         "Loop over images or pass x[i].")
    image = batch[0]
    base = _baseline(baseline, image)
    alphas, weights = path_points(steps)
    path = base + alphas[:, None, None, None] * (image - base)
    # The path's points and both ends in one batch: one call gives gradients and f_c(ends).
    inputs = np.concatenate([path, image[None], base[None]])
    scores, grads = scores_and_gradients(model, inputs, cls, batch_size)
    attributions = (image - base) * np.tensordot(weights, grads[:steps], axes=1)
    return IntegratedGradients(attributions, float(scores[-2]), float(scores[-1]), int(steps))


def saliency_map(model, x, cls, method: str = "vanilla", **params) -> np.ndarray:
    """The (H, W) map of one image by ``method`` (one of ``METHODS``), with its parameters.

    ``params`` go to the method: ``noise``, ``samples``, ``seed`` for SmoothGrad; ``baseline``,
    ``steps`` for Integrated Gradients.

    Raises:
        ValueError: unknown method, or a parameter that method does not take.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown saliency method {method!r}; choose one of {', '.join(METHODS)}.")
    unknown = set(params) - set(_PARAMETERS[method])
    if unknown:
        takes = ", ".join(_PARAMETERS[method]) or "no parameters"
        raise ValueError(f"{method} does not take {', '.join(sorted(unknown))}; it takes {takes}.")
    if method == "vanilla":
        return vanilla_gradient(model, x, cls)
    if method == "gradient_x_input":
        return gradient_x_input(model, x, cls)
    if method == "smoothgrad":
        return smoothgrad(model, x, cls, **params)
    return integrated_gradients(model, x, cls, **params).map


_PARAMETERS = {"vanilla": (), "gradient_x_input": (),
               "smoothgrad": ("noise", "samples", "seed", "batch_size"),
               "integrated_gradients": ("baseline", "steps", "batch_size")}


# ---------------------------------------------------------------------------- display and trust


def normalize_map(saliency: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """Scale a map to [0, 1] for display, clipping at its ``percentile``.

    Gradient maps are spiky: a few pixels would take the whole colour range, so the top 1 %
    are clipped to the brightest colour. An all-zero map stays zero.
    """
    saliency = np.asarray(saliency, dtype=np.float32)
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}.")
    top = np.percentile(saliency, percentile)
    if not top > 0:
        top = saliency.max()
    return np.clip(saliency / top, 0.0, 1.0) if top > 0 else np.zeros_like(saliency)


def mask_share(saliency, mask) -> np.ndarray | float:
    """Share of a map's mass that falls inside an object's mask.

    A map that knows where the object is scores near 1; a map spread evenly over the image
    scores the mask's area share (``mask.mean()``), which is the number to compare with.

    Args:
        saliency: non-negative (H, W) map or (N, H, W) maps.
        mask: bool (H, W) or (N, H, W), the object's pixels.

    Returns:
        a float in [0, 1], or (N,) for a batch; NaN for an all-zero map (no mass to share).

    Raises:
        ValueError: shapes differ or the map has negative values.
    """
    saliency = np.asarray(saliency, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if saliency.shape != mask.shape:
        raise ValueError(f"The map {saliency.shape} and the mask {mask.shape} must have the same "
                         "shape; upsample the map to the image size first.")
    if saliency.min(initial=0.0) < 0:
        raise ValueError("mask_share needs a non-negative map (mass); take np.abs(map) first.")
    mass = saliency.sum(axis=(-2, -1))
    inside = (saliency * mask).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(mass > 0, inside / np.where(mass > 0, mass, 1.0), np.nan)
    return float(share) if share.ndim == 0 else share


def grow_mask(mask, pixels: int) -> np.ndarray:
    """The mask grown by ``pixels`` in every direction (a disk-shaped dilation).

    Gradient maps often light up an object's outline, half of which lies just outside its
    mask; ``mask_share(map, grow_mask(mask, 3))`` counts the outline as on the object.

    Args:
        mask: bool (H, W) or (N, H, W).
        pixels: how far to grow, >= 0.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim < 2 or int(pixels) != pixels or pixels < 0:
        raise ValueError(f"grow_mask needs a (H, W) or (N, H, W) mask and pixels >= 0; got "
                         f"shape {mask.shape} and pixels={pixels}.")
    r = int(pixels)
    height, width = mask.shape[-2:]
    padded = np.pad(mask, [(0, 0)] * (mask.ndim - 2) + [(r, r), (r, r)])
    grown = np.zeros_like(mask)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dy * dy + dx * dx <= r * r:
                grown |= padded[..., r + dy:r + dy + height, r + dx:r + dx + width]
    return grown


# ---------------------------------------------------------------------------- figures


def _grey(image) -> np.ndarray:
    """A uint8 RGB image turned grey, still with three channels."""
    grey = np.asarray(image, dtype=np.float32).mean(axis=-1, keepdims=True)
    return np.repeat(grey, 3, axis=-1).round().astype(np.uint8)


def show_mask_shares(images, masks, maps: dict, labels=None, size: float = 1.8,
                     cmap: str = "inferno"):
    """One row per scene: the image, then each method's map with the object's outline (white)
    and the share of the map inside it.

    Args:
        images: uint8 RGB scenes (N, H, W, 3).
        masks: bool object masks (N, H, W).
        maps: method name -> (N, H, W) maps of those scenes.
        labels: a title for each scene (e.g. its class).

    Returns:
        the figure.
    """
    import matplotlib.pyplot as plt

    rows, cols = len(images), len(maps) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, (size + 0.3) * rows),
                             squeeze=False)
    for i in range(rows):
        axes[i, 0].imshow(images[i])
        axes[i, 0].contour(masks[i], levels=[0.5], colors="white", linewidths=0.8)
        if labels is not None:
            axes[i, 0].set_title(labels[i], fontsize=8)
        for col, (name, saliency) in enumerate(maps.items(), start=1):
            axes[i, col].imshow(normalize_map(saliency[i]), cmap=cmap, vmin=0, vmax=1)
            axes[i, col].contour(masks[i], levels=[0.5], colors="white", linewidths=0.6)
            share = mask_share(saliency[i], masks[i])
            axes[i, col].set_title(f"{name}\n{share:.0%} inside" if i == 0 else
                                   f"{share:.0%} inside", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def show_maps(image, maps: dict, title: str | None = None, size: float = 2.4,
              cmap: str = "inferno"):
    """The photo and each named map side by side: the maps alone above, over the photo below.

    Each map is scaled by ``normalize_map`` (its 99th percentile is the brightest colour).

    Args:
        image: the uint8 RGB photo (H, W, 3).
        maps: label -> (H, W) non-negative map, drawn in order.
        title: a title over the figure.
        size: inches per panel.
        cmap: the colour map (dark: no influence, bright: strong influence).

    Returns:
        the figure.
    """
    import matplotlib.pyplot as plt

    from helpers.plotting import show_heatmap

    if not maps:
        raise ValueError("Give at least one map: {'vanilla': map, ...}.")
    cols = len(maps) + 1
    height = 2 * size + 0.3 + (0.35 if title else 0)
    fig, axes = plt.subplots(2, cols, figsize=(size * cols, height))
    grey = _grey(image)  # colour would compete with the colour map
    axes[0, 0].imshow(image)
    axes[0, 0].set_title("photo", fontsize=9)
    axes[1, 0].imshow(grey)
    axes[1, 0].set_title("in grey", fontsize=9)
    for col, (label, saliency) in enumerate(maps.items(), start=1):
        shown = normalize_map(saliency)
        axes[0, col].imshow(shown, cmap=cmap, vmin=0, vmax=1)
        axes[0, col].set_title(label, fontsize=9)
        show_heatmap(grey, shown, alpha=0.6, cmap=cmap, ax=axes[1, col])
    for ax in axes.flat:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- interactive


def class_picker(vm, value=None, description: str = "class"):
    """A search box and a dropdown of the model's classes whose names contain the search.

    Typing only filters the list (nothing is computed), so it also works for ImageNet's
    1,000 classes. Returns (widget, function returning the chosen class index).
    """
    import ipywidgets as widgets

    style = {"description_width": "initial"}
    everything = [(f"{name} ({i})", i) for i, name in enumerate(vm.class_names)]
    value = 0 if value is None else vm.class_index(value)
    search = widgets.Text(placeholder="search, e.g. flamingo", description=description,
                          style=style, layout=widgets.Layout(width="230px"))
    pick = widgets.Dropdown(options=everything, value=value, layout=widgets.Layout(width="230px"))

    def on_search(change):
        found = [(f"{name} ({i})", i) for i, name in vm.find_classes(change["new"])]
        if found:
            pick.options = found  # the first match becomes the value
            search.description = description
        else:
            search.description = f"{description}: no match"

    search.observe(on_search, names="value")
    return widgets.HBox([search, pick]), lambda: pick.value


class SaliencyExplorer:
    """Draws one image's map for any class and method; used by ``saliency_explorer``."""

    def __init__(self, vm, images: dict):
        if not images:
            raise ValueError("Give at least one image: {'name': uint8 RGB image}.")
        self.vm = vm
        self.images = {name: vm.load(image) for name, image in images.items()}

    def figure(self, image: str, cls=None, method: str = "vanilla", **params):
        """Photo, map and overlay for class ``cls`` (default: the top prediction)."""
        import matplotlib.pyplot as plt

        from helpers.plotting import show_heatmap

        if image not in self.images:
            raise ValueError(f"Unknown image {image!r}; choose one of {', '.join(self.images)}.")
        photo = self.images[image]
        x = self.vm.preprocess(photo)[0]
        index = int(self.vm.logits(photo)[0].argmax()) if cls is None else self.vm.class_index(cls)
        probability = self.vm.predict(photo)[0, index]
        if method == "integrated_gradients":
            baseline = params.pop("baseline", None)
            if isinstance(baseline, str):  # "black" or "grey", in the model's input space
                baseline = self._named_baseline(baseline, photo)
            result = integrated_gradients(self.vm, x, index, baseline=baseline, **params)
            shown, note = result.map, f"completeness error {result.completeness_error:.1%}"
        else:
            shown, note = saliency_map(self.vm, x, index, method, **params), ""
        fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
        axes[0].imshow(photo)
        axes[0].set_title(f"{image}: p({self.vm.class_names[index]}) = {probability:.1%}",
                          fontsize=9)
        axes[1].imshow(normalize_map(shown), cmap="inferno", vmin=0, vmax=1)
        axes[1].set_title(f"{method} for {self.vm.class_names[index]}", fontsize=9)
        show_heatmap(_grey(photo), normalize_map(shown), alpha=0.6, cmap="inferno", ax=axes[2],
                     title=note or "over the photo")
        for ax in axes:
            ax.axis("off")
        fig.tight_layout()
        return fig

    def _named_baseline(self, name: str, photo: np.ndarray) -> np.ndarray:
        if name == "black":
            return self.vm.preprocess(np.zeros_like(photo))[0]
        if name == "grey":
            return self.vm.preprocess(np.full_like(photo, 128))[0]
        raise ValueError(f"Unknown baseline {name!r}; use 'black', 'grey' or an array.")


def saliency_explorer(vm, images: dict, image=None, cls=None):
    """The interactive gradient-map viewer: image, class (searchable), method and its
    parameters; press "Compute". The default view is drawn right away, so the figure also
    appears (and the code runs) when the notebook runs headless.

    Returns:
        (the widget box to display, the ``SaliencyExplorer`` behind it).
    """

    import ipywidgets as widgets

    explorer = SaliencyExplorer(vm, images)
    image = image or next(iter(explorer.images))
    if cls is None:
        cls = int(vm.logits(explorer.images[image])[0].argmax())
    style = {"description_width": "initial"}
    pick_image = widgets.Dropdown(options=list(explorer.images), value=image,
                                  description="image", style=style)
    classes, chosen_class = class_picker(vm, cls)
    method = widgets.Dropdown(options=METHODS, value="vanilla", description="method",
                              style=style)
    noise = widgets.FloatSlider(value=0.15, min=0.0, max=0.5, step=0.05,
                                description="SmoothGrad noise", style=style)
    samples = widgets.IntSlider(value=32, min=1, max=64, description="samples", style=style)
    steps = widgets.IntSlider(value=64, min=4, max=128, step=4, description="IG steps",
                              style=style)
    baseline = widgets.Dropdown(options=["black", "grey"], value="black",
                                description="IG baseline", style=style)
    button = widgets.Button(description="Compute", button_style="primary")
    panel = Panel()

    def params():
        if method.value == "smoothgrad":
            return {"noise": noise.value, "samples": samples.value}
        if method.value == "integrated_gradients":
            return {"steps": steps.value, "baseline": baseline.value}
        return {}

    def draw(_=None):
        panel.show(lambda: explorer.figure(pick_image.value, chosen_class(), method.value,
                                           **params()), "computed")

    button.on_click(draw)
    draw()
    return panel.box([pick_image, classes], [method, button], [noise, samples],
                     [steps, baseline]), explorer
