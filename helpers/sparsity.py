"""The distillation pipeline in numbers: how sparse each layer's activations are.

For every layer and every image of a batch we measure three things about its (post-ReLU)
feature maps: the fraction of activations that are exactly zero, the fraction of channels
that are zero everywhere (the filter found nothing it encodes in this image), and the mean
activation. Over the whole batch we also count the channels that are zero on every image:
filters that never fire. Chollet's description of a deep network as an "information
distillation pipeline" predicts that deeper layers are sparser; these numbers check it for a
given model.

References:
    Chollet, "Deep Learning with Python", section 5.4.1 (2017); Zeiler & Fergus,
    "Visualizing and Understanding Convolutional Networks" (2014).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import PercentFormatter

from helpers._core.activations import layer_outputs
from helpers._core.graph import require_spatial
from helpers._core.inputs import as_batch, check_count
from helpers._core.model import keras_model

#: The three statistics, by attribute name, with a label for plots.
STATISTICS = {
    "zero_fraction": "zero activations",
    "dead_channel_fraction": "all-zero channels",
    "mean_activation": "mean activation",
}


def activation_statistics(maps) -> dict[str, np.ndarray]:
    """The three statistics of one layer's activations, per image.

    Args:
        maps: activations (N, H, W, C) of one layer for N images.

    Returns:
        A dict with 'zero_fraction', 'dead_channel_fraction' and 'mean_activation', each
        an (N,) array.

    Raises:
        ValueError: the array is not (N, H, W, C) or holds NaN.
    """
    maps = np.asarray(maps)
    if maps.ndim != 4:
        raise ValueError(f"Expected activations (N, H, W, C), got shape {maps.shape}; pass a "
                         "convolutional layer's output for a batch of images.")
    if np.isnan(maps).any():
        raise ValueError("The activations contain NaN; check the model's input.")
    zero = maps <= 0  # ReLU outputs are >= 0, so "<= 0" is "exactly zero" after a ReLU
    return {
        "zero_fraction": zero.mean(axis=(1, 2, 3)),
        "dead_channel_fraction": zero.all(axis=(1, 2)).mean(axis=1),
        "mean_activation": maps.mean(axis=(1, 2, 3)),
    }


@dataclass(frozen=True)
class DistillationStats:
    """Per-layer, per-image statistics over a batch.

    Attributes:
        layers: layer names, input to output.
        zero_fraction: (layers, images) fraction of activations equal to zero.
        dead_channel_fraction: (layers, images) fraction of channels zero everywhere.
        mean_activation: (layers, images) mean activation.
        never_active_fraction: (layers,) fraction of channels that are zero on every image
            of the batch: filters that never fire (on these images), as opposed to
            channels that stay silent only when their feature is absent.
    """

    layers: tuple[str, ...]
    zero_fraction: np.ndarray
    dead_channel_fraction: np.ndarray
    mean_activation: np.ndarray
    never_active_fraction: np.ndarray

    @property
    def num_images(self) -> int:
        return self.zero_fraction.shape[1]

    def mean(self, statistic: str) -> np.ndarray:
        """(layers,) mean over the batch of one statistic."""
        return self._get(statistic).mean(axis=1)

    def _get(self, statistic: str) -> np.ndarray:
        if statistic not in STATISTICS:
            raise ValueError(f"Unknown statistic {statistic!r}; choose one of "
                             f"{', '.join(STATISTICS)}.")
        return getattr(self, statistic)

    def table(self) -> str:
        """The batch means as fixed-width text, one line per layer."""
        width = max(len(name) for name in self.layers + ("layer",))
        lines = [f"{'layer':<{width}}  {'zeros':>6}  {'all-zero channels':>17}  "
                 f"{'never active':>12}  {'mean activation':>15}"]
        for i, name in enumerate(self.layers):
            lines.append(f"{name:<{width}}  {self.zero_fraction[i].mean():>6.1%}  "
                         f"{self.dead_channel_fraction[i].mean():>17.1%}  "
                         f"{self.never_active_fraction[i]:>12.1%}  "
                         f"{self.mean_activation[i].mean():>15.3f}")
        return "\n".join(lines)


def distillation_stats(model, layers, x, batch_size: int = 16) -> DistillationStats:
    """The statistics of every layer in ``layers`` over the preprocessed images ``x``.

    Images go through the model ``batch_size`` at a time, each chunk in one compiled forward
    pass for all layers, so memory stays bounded however many layers and images there are.

    Args:
        model: a ``VisModel`` or a Keras model.
        layers: a layer name or a list of them, each with a spatial output.
        x: one preprocessed image (H, W, C) or a batch (N, H, W, C); the statistics keep an
            image axis either way (of length 1 for one image).

    Raises:
        ValueError: no layers, an unknown layer (valid names listed), a layer without a
            spatial output, input that is not a preprocessed image or batch, or a
            ``batch_size`` below 1.
    """
    net = keras_model(model)
    layers = [layers] if isinstance(layers, str) else list(layers)
    for name in layers:
        require_spatial(net, name)
    x, _ = as_batch(x, net.input_shape)
    batch_size = check_count("batch_size", batch_size)
    parts = {key: [[] for _ in layers] for key in STATISTICS}
    ever_active = [False] * len(layers)
    for start in range(0, len(x), batch_size):
        outputs = layer_outputs(net, layers, x[start:start + batch_size], batch_size)
        for i, name in enumerate(layers):
            maps = outputs[name]
            for key, values in activation_statistics(maps).items():
                parts[key][i].append(values)
            ever_active[i] = ever_active[i] | (maps > 0).any(axis=(0, 1, 2))
    arrays = {key: np.stack([np.concatenate(chunks) for chunks in per_layer])
              for key, per_layer in parts.items()}
    never = np.array([1.0 - np.mean(active) for active in ever_active])
    return DistillationStats(tuple(layers), never_active_fraction=never, **arrays)


def measurement_batch(vm, n: int = 32, seed: int = 0) -> np.ndarray:
    """uint8 images to measure statistics over: fresh scenes for the shapes model, views of
    the sample photos (crops, mirror images) for the ImageNet models.

    Args:
        vm: a ``VisModel``.
        n: number of images (ImageNet models: at most 7 views per sample photo).
        seed: random seed of the shapes scenes.
    """
    n = check_count("n", n)
    if vm.name == "shapes":
        from helpers.shapes import make_scenes

        return make_scenes(n, seed=seed).images
    views = [view for photo in vm.samples.values() for view in _views(photo)]
    if n > len(views):
        raise ValueError(f"{vm.name} has {len(vm.samples)} sample photos, which make "
                         f"{len(views)} views; ask for n <= {len(views)}.")
    return np.stack([vm.load(view) for view in views[:n]])


def _views(photo: np.ndarray) -> list[np.ndarray]:
    """The photo, its mirror image, four corner crops and a centre crop (70% of the side)."""
    height, width = photo.shape[:2]
    h, w = int(0.7 * height), int(0.7 * width)
    corners = [(0, 0), (0, width - w), (height - h, 0), (height - h, width - w),
               ((height - h) // 2, (width - w) // 2)]
    return [photo, photo[:, ::-1]] + [photo[r:r + h, c:c + w] for r, c in corners]


def _without_common_suffix(names) -> list[str]:
    """Names with a suffix they all share ('_relu') removed, for shorter axis labels."""
    suffix = os.path.commonprefix([name[::-1] for name in names])[::-1]
    cut = suffix.find("_")
    if len(names) < 2 or cut < 0:
        return list(names)
    suffix = suffix[cut:]
    return [name[:-len(suffix)] for name in names]


def dead_channel_ylim_top(per_image, never_active, floor: float = 0.05) -> float:
    """Top of the y-axis of the "all-zero channels" panel: scaled to the data.

    Such fractions are often a few percent or zero; on a 0-100% axis they would all lie on
    the bottom line. So the axis ends 20% above the largest value (of any image or of the
    never-active line), at least at ``floor`` (5%) and at most at 100% (plus a margin).
    """
    largest = max(float(np.max(per_image, initial=0.0)), float(np.max(never_active, initial=0.0)))
    return min(1.02, max(floor, 1.2 * largest))


def plot_distillation(stats: DistillationStats, highlight=None):
    """The three statistics per layer, input to output: batch mean and the middle 80% of images.

    Args:
        stats: from ``distillation_stats``.
        highlight: layer names to mark with a vertical line (e.g. the end of each block).

    Returns:
        The figure.
    """
    depth = np.arange(len(stats.layers))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), sharex=True)
    for ax, (key, label), color in zip(axes, STATISTICS.items(),
                                       ("#d1495b", "#00798c", "#edae49")):
        values = getattr(stats, key)
        low, high = np.percentile(values, [10, 90], axis=1)
        ax.fill_between(depth, low, high, color=color, alpha=0.25, lw=0,
                        label="10th-90th percentile of images")
        ax.plot(depth, values.mean(axis=1), "o-", color=color, ms=4, lw=2, label="batch mean")
        if key == "dead_channel_fraction":
            # Drawn on top, with its own markers, so it stays visible where it meets the mean.
            ax.plot(depth, stats.never_active_fraction, "--", color="0.2", lw=1.3, marker="x",
                    ms=5, zorder=3, label="zero on every image")
            ax.legend(fontsize=8, loc="upper right")
            top = dead_channel_ylim_top(values, stats.never_active_fraction)
            ax.set_ylim(-0.03 * top, top)
        elif key == "zero_fraction":
            ax.set_ylim(-0.02, 1.02)
        for name in highlight or ():
            ax.axvline(stats.layers.index(name), color="0.8", lw=0.8, zorder=0)
        if key != "mean_activation":
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_title(label, fontsize=11)
        ax.grid(axis="y", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    labels = _without_common_suffix(stats.layers)
    for ax in axes:
        ax.set_xticks(depth, labels, rotation=90, fontsize=7 if len(depth) > 12 else 8)
    axes[0].legend(fontsize=8, loc="upper left")
    dropped = stats.layers[0][len(labels[0]):]
    note = f"; layer names without '{dropped}'" if dropped else ""
    fig.suptitle(f"Sparsity layer by layer over {stats.num_images} images, input → output{note}",
                 fontsize=12)
    fig.tight_layout()
    return fig
