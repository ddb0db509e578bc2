"""Looking at activations: channel grids (paged), early versus late layers, and an
interactive explorer built with ipywidgets.

Every channel is shown on one explained colour scale: by default each channel is divided by
its own maximum over the image, so 0 (dark) means "silent" and 1 (bright) means "this
channel's strongest response here"; ``scale='layer'`` divides by the layer's maximum instead,
so strong and weak channels can be compared.

References:
    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks" (2014);
    Yosinski et al., "Understanding Neural Networks Through Deep Visualization" (2015).
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from helpers._core.activations import layer_outputs
from helpers._core.graph import feature_layers, require_spatial
from helpers._core.inputs import as_batch, check_count
from helpers._core.model import keras_model, preprocess_fn
from helpers.images import resize_maps
from helpers.plotting import (ACTIVATION_CMAP, check_channels, grid_shape, new_figure,
                              one_image_maps)
from helpers.widgets import Panel

#: Channels per page of a grid: 8 x 8 panels stay readable in a notebook.
PER_PAGE = 64
SCALES = ("channel", "layer")


def page_of(channels, page: int, per_page: int = PER_PAGE) -> list[int]:
    """The channels on page ``page`` (from 0) when ``per_page`` fit on a page.

    Raises:
        ValueError: the page does not exist (the number of pages is given).
    """
    channels = list(channels)
    if per_page < 1:
        raise ValueError(f"per_page must be positive, got {per_page}.")
    pages = math.ceil(len(channels) / per_page)
    if not 0 <= page < pages:
        raise ValueError(f"Page {page} does not exist: {len(channels)} channels make {pages} "
                         f"page(s) of {per_page} (pages 0 to {pages - 1}).")
    return channels[page * per_page:(page + 1) * per_page]


def scale_maps(maps, scale: str = "channel") -> np.ndarray:
    """Activations (H, W, C) mapped to [0, 1] for display.

    ``'channel'``: each channel divided by its own maximum; ``'layer'``: all channels divided
    by the largest activation of the layer. An all-zero channel stays 0 either way.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}.")
    maps = np.maximum(one_image_maps(maps), 0)
    axes = (0, 1) if scale == "channel" else (0, 1, 2)
    peak = maps.max(axis=axes, keepdims=True)
    return np.where(peak > 0, maps / np.where(peak > 0, peak, 1.0), 0.0)


def tile(maps, ncols: int, gap: int = 1) -> np.ndarray:
    """Channels (H, W, C) laid out in a mosaic of ``ncols`` columns, read row by row.

    Tiles are separated by ``gap`` pixels of NaN (drawn as the background colour), and
    empty slots after the last channel are NaN too.
    """
    maps = one_image_maps(maps)
    height, width, count = maps.shape
    rows, cols = grid_shape(count, ncols)
    mosaic = np.full((rows * (height + gap) - gap, cols * (width + gap) - gap), np.nan,
                     dtype=np.float32)
    for i in range(count):
        r, c = divmod(i, cols)
        top, left = r * (height + gap), c * (width + gap)
        mosaic[top:top + height, left:left + width] = maps[..., i]
    return mosaic


def _draw_mosaic(ax, scaled: np.ndarray, channels: list[int], ncols: int, labels: bool,
                 dead: np.ndarray, cmap=ACTIVATION_CMAP):
    height, width = scaled.shape[:2]
    gap = max(1, round(max(height, width) / 24))
    image = ax.imshow(tile(scaled, ncols, gap), cmap=plt.get_cmap(cmap).with_extremes(bad="white"),
                      vmin=0, vmax=1, interpolation="nearest")
    cols = grid_shape(len(channels), ncols)[1]
    for i, channel in enumerate(channels):
        r, c = divmod(i, cols)
        x, y = c * (width + gap) - 0.5, r * (height + gap) - 0.5
        if dead[i]:
            ax.plot([x, x + width], [y, y + height], color="0.55", lw=0.6)
        if labels:
            ax.text(x + 0.04 * width, y + 0.05 * height, str(channel), color="white",
                    fontsize=6.5, va="top", ha="left",
                    bbox={"boxstyle": "square,pad=0.1", "fc": "black", "alpha": 0.45, "lw": 0})
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    return image


def show_activation_grid(maps, channels=None, page: int = 0, per_page: int = PER_PAGE,
                         ncols: int | None = None, scale: str = "channel", title=None,
                         size: float = 0.95):
    """All channels of one layer's activations for one image, one page at a time.

    Args:
        maps: activations (H, W, C) or (1, H, W, C).
        channels: channel indices to show (default: all, in order); paged.
        page: which page of ``per_page`` channels to show (from 0).
        per_page: channels per page.
        ncols: columns of the grid (default: 8, or one row for fewer channels).
        scale: 'channel' (each channel by its own maximum) or 'layer' (by the layer's).
        title: text above the grid.
        size: inches per panel.

    Silent channels (all zero for this image) are crossed out with a thin grey line.

    Returns:
        The figure.

    Raises:
        ValueError: bad shape, channel index out of range, or a page that does not exist.
    """
    maps = one_image_maps(maps)
    channels = check_channels(range(maps.shape[-1]) if channels is None else channels,
                              maps.shape[-1])
    shown = page_of(channels, page, per_page)
    scaled = scale_maps(maps, scale)[..., shown]
    ncols = ncols or min(8, len(shown))
    rows, cols = grid_shape(len(shown), ncols)
    aspect = maps.shape[0] / maps.shape[1]
    fig, ax = plt.subplots(figsize=(size * cols + 1.0, size * rows * aspect + 0.6))
    dead = maps[..., shown].max(axis=(0, 1)) <= 0
    image = _draw_mosaic(ax, scaled, shown, ncols, labels=True, dead=dead)
    bar = fig.colorbar(image, ax=ax, fraction=0.035, pad=0.02, shrink=min(1.0, 0.35 * rows + 0.3))
    bar.set_label("activation / channel max" if scale == "channel" else
                  f"activation / layer max ({maps.max():.3g})", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    pages = math.ceil(len(channels) / per_page)
    where = f" (page {page + 1} of {pages})" if pages > 1 else ""
    head = f"{title}: " if title else ""
    ax.set_title(f"{head}{len(shown)} of {maps.shape[-1]} channels{where}, "
                 f"{maps.shape[0]}x{maps.shape[1]} each; {int(dead.sum())} silent",
                 fontsize=10)
    fig.tight_layout()
    return fig


def show_early_vs_late(maps_by_layer: dict, size: float = 4.2, max_channels: int = 256):
    """Every channel of each layer in one square mosaic, all mosaics at the same size.

    Early layers show few large maps, late layers many small ones, at a glance. Each
    channel is scaled by its own maximum.

    Args:
        maps_by_layer: layer name -> activations (H, W, C) or (1, H, W, C), early first.
        size: inches per mosaic.
        max_channels: at most this many channels per layer (the first ones).

    Returns:
        The figure.
    """
    if not maps_by_layer:
        raise ValueError("Give at least one layer's activations.")
    fig, axes = plt.subplots(1, len(maps_by_layer), figsize=(size * len(maps_by_layer), size + 1),
                             squeeze=False)
    for ax, (name, maps) in zip(axes[0], maps_by_layer.items()):
        maps = one_image_maps(maps)
        count = min(maps.shape[-1], max_channels)
        shown = list(range(count))
        ncols = grid_shape(count)[1]
        dead = maps[..., shown].max(axis=(0, 1)) <= 0
        _draw_mosaic(ax, scale_maps(maps)[..., shown], shown, ncols, labels=False, dead=dead)
        height, width, channels = maps.shape
        more = f" (first {count} shown)" if count < channels else ""
        ax.set_title(f"{name}\n{channels} maps of {height}x{width}{more}", fontsize=10)
        ax.set_xlabel(f"{height * width * channels:,} values", fontsize=9)
    fig.tight_layout()
    return fig


def part_channel(maps, min_silent: float = 0.5) -> int:
    """The first of ``part_channels(maps, 1, min_silent)``: one channel that fires on a part."""
    return part_channels(maps, 1, min_silent)[0]


def part_channels(maps, count: int = 1, min_silent: float = 0.5) -> list[int]:
    """The ``count`` most active channels among those silent on at least ``min_silent`` of the
    map, most active first.

    The channel with the largest mean activation is usually one that fires almost everywhere
    (brightness, colour, the background's texture), so its heatmap lights up the whole image
    and says nothing about *where*. This picks channels that fire on a part of the image:
    among channels whose map is 0 on at least ``min_silent`` of its positions, those with the
    largest mean activation (fewer than ``count`` if fewer qualify). If no channel is that
    silent, the one most silent active channel (ties: the more active).

    Args:
        maps: activations (H, W, C) or (1, H, W, C) of one image.
        count: how many channels, at least 1.
        min_silent: share of the map that must be 0, in [0, 1).

    Returns:
        Channel indices.
    """
    if not 0.0 <= min_silent < 1.0:
        raise ValueError(f"min_silent is a share of the map in [0, 1); got {min_silent}.")
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 1:
        raise ValueError(f"count is how many channels, a whole number of at least 1; "
                         f"got {count!r}.")
    maps = one_image_maps(maps)
    silent = (maps <= 0).mean(axis=(0, 1))
    mean = maps.mean(axis=(0, 1))
    active = silent < 1.0  # a channel that is 0 everywhere shows nothing at all
    partial = active & (silent >= min_silent)
    if partial.any():
        order = np.argsort(np.where(partial, -mean, np.inf), kind="stable")
        return [int(c) for c in order[:min(int(count), int(partial.sum()))]]
    if not active.any():
        raise ValueError("Every channel is 0 everywhere on this image: nothing to show.")
    return [int(np.lexsort((mean, np.where(active, silent, -1.0)))[-1])]


def spotlight(image, heat, floor: float = 0.12) -> np.ndarray:
    """The photo lit where a map is high and dimmed where it is 0.

    Args:
        image: RGB uint8 (H, W, 3).
        heat: a 2-D map of any size with values in [0, 1]; upsampled to the image.
        floor: brightness left where the map is 0, so the context stays visible.

    Returns:
        float RGB image in [0, 1].
    """
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"floor is a brightness in [0, 1]; got {floor}.")
    image = np.asarray(image)
    light = np.clip(resize_maps(heat, image.shape[:2]), 0.0, 1.0)[..., None]
    return image[..., :3] / 255.0 * (floor + (1.0 - floor) * light)


class ActivationExplorer:
    """Activations of a model for a few images, computed once per image and kept.

    The first request for an image runs one forward pass that returns every layer of
    ``layers``; every later request for that image (any layer, any channel) only draws.

    Args:
        vm: a ``VisModel`` or a Keras model (whose input is MobileNet's x / 127.5 - 1).
        images: name -> uint8 RGB image at the model's input size.
        layers: layers to offer (default: the model's rectified feature maps).
        top_k: how many top-activating channels to list.
    """

    def __init__(self, vm, images: dict, layers=None, top_k: int = 8):
        if not images:
            raise ValueError("Give at least one image, e.g. {'cat': vm.load('cat')}.")
        self.vm = vm
        self.net = keras_model(vm)
        self.images = dict(images)
        self.layers = list(layers) if layers is not None else feature_layers(self.net)
        for name in self.layers:
            require_spatial(self.net, name)
        self.top_k = check_count("top_k", top_k)
        self._preprocess = preprocess_fn(vm)
        # x -> {layer: maps}: every offered layer from one compiled forward pass.
        self._extractor = lambda x: layer_outputs(self.net, self.layers, x)
        self._cache: dict[str, dict[str, np.ndarray]] = {}

    def _check_image(self, image: str) -> None:
        if image not in self.images:
            raise ValueError(f"No image called {image!r}; choose one of "
                             f"{', '.join(self.images)}.")

    def _check_layer(self, layer: str) -> None:
        if layer not in self.layers:
            require_spatial(self.net, layer)  # unknown or non-spatial: a precise error
            raise ValueError(f"Layer {layer!r} is not offered by this explorer; choose one of "
                             f"{', '.join(self.layers)}.")

    def features(self, image: str, layer: str) -> np.ndarray:
        """Activations (H, W, C) of ``layer`` for ``image``, computed on first use."""
        self._check_image(image)
        self._check_layer(layer)
        if image not in self._cache:
            pixels = np.asarray(self.images[image], np.float32)[None]
            x, _ = as_batch(self._preprocess(pixels), self.net.input_shape)
            self._cache[image] = {name: maps[0] for name, maps in self._extractor(x).items()}
        return self._cache[image][layer]

    def top_channels(self, image: str, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """The ``top_k`` channels with the largest mean activation, and those means."""
        means = self.features(image, layer).mean(axis=(0, 1))
        order = np.argsort(means)[::-1][:self.top_k]
        return order, means[order]

    def figure(self, image: str, layer: str, channel: int | None = None):
        """The photo lit by the channel's map, the map itself, and the layer's top channels.

        Args:
            image, layer: names offered by the explorer.
            channel: channel index (default: the layer's most active channel).

        Raises:
            ValueError: unknown image or layer, or a channel index out of range.
        """
        maps = self.features(image, layer)
        order, means = self.top_channels(image, layer)
        channel = int(order[0]) if channel is None else check_channels(channel, maps.shape[-1])[0]
        act = maps[..., channel]
        peak = float(act.max())
        photo = self.images[image]
        # Fixed panel positions: an automatic layout engine would double the drawing time.
        fig = new_figure(figsize=(12.5, 4.2))
        axes = [fig.add_axes(rect) for rect in ([0.01, 0.04, 0.28, 0.8], [0.32, 0.04, 0.28, 0.8],
                                                [0.73, 0.15, 0.25, 0.69])]
        cax = fig.add_axes([0.605, 0.12, 0.01, 0.64])
        axes[0].imshow(spotlight(photo, act / peak if peak > 0 else act))
        axes[0].set_title(f"{image}: lit where channel {channel} fires", fontsize=10)
        axes[0].axis("off")
        shown = axes[1].imshow(act, cmap=ACTIVATION_CMAP, vmin=0, vmax=max(peak, 1e-9),
                               interpolation="nearest")
        axes[1].set_title(f"{layer}[{channel}]: {act.shape[0]}x{act.shape[1]} map", fontsize=10)
        axes[1].axis("off")
        bar = fig.colorbar(shown, cax=cax)
        bar.set_label("activation", fontsize=8)
        bar.ax.tick_params(labelsize=8)
        self._draw_top_channels(axes[2], order, means, channel, float(act.mean()))
        zero = float((maps <= 0).mean())
        fig.suptitle(f"{layer}: {maps.shape[-1]} channels, {zero:.0%} of its activations are "
                     f"zero for this image", fontsize=11, y=0.98)
        return fig

    @staticmethod
    def _draw_top_channels(ax, order, means, channel, channel_mean) -> None:
        labels = [str(c) for c in order]
        values = list(means)
        colors = ["#d1495b" if c == channel else "#8a8f98" for c in order]
        if channel not in order:
            labels.append(f"{channel} (chosen)")
            values.append(channel_mean)
            colors.append("#d1495b")
        ax.barh(range(len(values)), values, color=colors)
        ax.set_yticks(range(len(values)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("mean activation over the map", fontsize=9)
        ax.set_ylabel("channel", fontsize=9)
        ax.set_title("most active channels", fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)


def activation_explorer(vm, images: dict, layers=None, image=None, layer=None, channel=None):
    """The interactive explorer: choose image, layer and channel, press "Show".

    Activations are computed once per image (all offered layers in one forward pass) and
    cached, so pressing "Show" again only draws. The default view is drawn right away, so
    the figure also appears (and the code is exercised) when the notebook runs headless.

    Args:
        vm: a ``VisModel`` or a Keras model (see ``ActivationExplorer``).
        images: name -> uint8 RGB image at the model's input size.
        layers: layers to offer (default: the model's rectified feature maps).
        image, layer, channel: the default view (default: first image, last layer, its most
            active channel).

    Returns:
        (the widget box to display, the ``ActivationExplorer`` behind it).
    """
    import ipywidgets as widgets

    explorer = ActivationExplorer(vm, images, layers)
    image = image or next(iter(explorer.images))
    layer = layer or explorer.layers[-1]
    count = explorer.features(image, layer).shape[-1]  # checks image and layer
    if channel is None:
        channel = int(explorer.top_channels(image, layer)[0][0])
    channel = check_channels(channel, count)[0]
    style = {"description_width": "initial"}
    pick_image = widgets.Dropdown(options=list(explorer.images), value=image,
                                  description="image", style=style)
    pick_layer = widgets.Dropdown(options=explorer.layers, value=layer, description="layer",
                                  style=style)
    pick_channel = widgets.BoundedIntText(value=channel, min=0, max=count - 1,
                                          description="channel", style=style,
                                          layout=widgets.Layout(width="150px"))
    top = widgets.Button(description="most active", tooltip="the layer's most active channel")
    show = widgets.Button(description="Show", button_style="primary")
    panel = Panel()

    def on_layer(change):
        # The channel count comes from the model, so changing layer computes nothing.
        count = int(require_spatial(explorer.net, change["new"]).output.shape[-1])
        pick_channel.max = count - 1
        pick_channel.value = min(pick_channel.value, count - 1)

    def draw(_=None):
        panel.show(lambda: explorer.figure(pick_image.value, pick_layer.value,
                                           pick_channel.value))

    def most_active(_):
        pick_channel.value = int(explorer.top_channels(pick_image.value, pick_layer.value)[0][0])
        draw()

    pick_layer.observe(on_layer, names="value")
    show.on_click(draw)
    top.on_click(most_active)
    draw()
    return panel.box([pick_image, pick_layer, pick_channel, top, show]), explorer
