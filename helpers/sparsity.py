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

from dataclasses import dataclass

import numpy as np

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
