"""Shared machinery for the "How CNNs see" notebooks.

The notebooks show each idea in a few lines and call these functions for the rest:

- ``images``: load photos as RGB, resize, deprocess optimized inputs for display.
- ``models``: ``load_model('vgg16' | 'mobilenet' | 'shapes')`` with logits, classes, layers.
- ``layers``: find convolutional layers by name, the last one, nested models included.
- ``activations``: outputs of any layers in one forward pass.
- ``plotting``: grids of images or channels, heatmaps over photos.
- ``shapes`` and ``shapes_cnn``: the synthetic world and the embedded offline model.
"""

import os

# TensorFlow's C++ start-up chatter (no GPU found, CPU features) is noise in a notebook.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from helpers.activations import feature_extractor, get_activations
from helpers.cache import OfflineError
from helpers.images import deprocess_image, load_image, resize, to_rgb
from helpers.layers import conv_layers, feature_layers, get_layer, last_conv_layer
from helpers.models import VisModel, default_image, default_model_name, load_model
from helpers.plotting import overlay, show_channels, show_heatmap, show_images

__all__ = [
    "OfflineError", "VisModel", "conv_layers", "default_image", "default_model_name",
    "deprocess_image", "feature_extractor", "feature_layers", "get_activations", "get_layer",
    "last_conv_layer", "load_image", "load_model", "overlay", "resize", "show_channels",
    "show_heatmap", "show_images", "to_rgb",
]
