"""Shared machinery for the "How CNNs see" notebooks.

The notebooks show each idea in a few lines and call these functions for the rest:

- ``images``: load photos as RGB, resize, deprocess optimized inputs for display.
- ``models``: ``lecture_model()`` (MobileNet by default, VGG16 by one setting) and
  ``lab_model()`` (the embedded shapes model), with logits, classes, layers.
- ``conv_layers``, ``feature_layers``, ``get_layer``, ``last_conv_layer``: layers by name and
  kind, nested models included.
- ``activations``: outputs of any layers in one forward pass.
- ``plotting``: grids of images or channels, heatmaps over photos.
- ``shapes`` and ``shapes_cnn``: the synthetic world and the embedded offline model, both
  built as ``small_vgg`` networks; ``pages`` (with ``page_layout``, ``page_drawing``,
  ``page_images``) and ``gestalt_cnn``: notebook 06's page world and its reviewer model.
- ``_core``: the private plumbing every technique shares, and the contract they all keep
  (a ``VisModel`` or a Keras model; one image or a batch; classes by name or index).
- one module (or package) per technique of the notebooks: ``receptive_field``, ``probes``,
  ``sparsity``, ``explorer`` (01), ``ascent``, ``filters`` (02), ``saliency``,
  ``class_neurons`` (03), ``cam``, ``faithfulness``, ``cam_explorer`` (04), ``circuits``,
  ``stimuli`` (05), ``gestalt`` (06); ``widgets``: the one skeleton of every explorer.
"""

import contextlib
import os

# TensorFlow's C++ start-up chatter (no GPU found, CPU features) is noise in a notebook.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# TensorFlow enables its oneDNN CPU kernels by default only on CPUs with AVX-512 neural-network
# instructions; on the AVX2 two-core machines we measure on they make training about 2x faster
# (`python -m bench training`) and results stay deterministic. Takes effect only if TensorFlow
# is not loaded yet.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send file descriptor 2 to /dev/null for the block.

    TensorFlow's C++ layer writes "Could not find cuda drivers" and absl warnings straight
    to file descriptor 2 while it loads, before any log level applies; a notebook shows them
    as red error text on a machine without a GPU, which is every student's laptop.
    Python-level errors are unaffected: they are raised, and printed after the block.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 at all: nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


with _native_stderr_silenced():
    import tensorflow as _tf  # noqa: F401  (loaded here, quietly, before anything uses it)

from helpers.activations import feature_extractor, get_activations
from helpers.cache import OfflineError
from helpers.images import deprocess_image, load_image, resize, side_by_side, to_rgb
from helpers._core.graph import conv_layers, feature_layers, get_layer, last_conv_layer
from helpers.models import (VisModel, default_image, default_model_name, lab_model,
                            lecture_model, load_model)
from helpers.plotting import overlay, show_channels, show_heatmap, show_images

__all__ = [
    "OfflineError", "VisModel", "conv_layers", "default_image", "default_model_name",
    "deprocess_image", "feature_extractor", "feature_layers", "get_activations", "get_layer",
    "lab_model", "last_conv_layer", "lecture_model", "load_image", "load_model", "overlay",
    "resize", "show_channels", "side_by_side", "show_heatmap", "show_images", "to_rgb",
]
