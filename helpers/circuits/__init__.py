"""Circuits: how a unit is built from the units of earlier layers, read from the weights.

A *feature* here is one channel of a convolutional layer; a *circuit* is a unit together with
the input channels that feed it and the weights between them. For a 3x3 convolution the
weights from input channel i into unit j are the 3x3 slice ``kernel[:, :, i, j]``: where, around
the unit's position, input feature i excites (positive, red) or inhibits (negative, blue) it.

Every function takes a ``VisModel`` or a Keras model; those that read images take one
preprocessed image or a batch. The package, by topic (every name is importable from here):

- ``graph``: the layers whose units have circuits (``circuit_layers``), where a unit's inputs
  come from (``feature_source``, ``default_from_layer``: for MobileNet's pointwise
  convolutions, expanded through the depthwise convolution before them), the chain of layers
  between two of them, and where notebook 05 looks in each model (``CHOICES``, ``choices``).
- ``weights``: kernel slices (``effective_kernel``, batch norm included) and the weights
  between non-adjacent layers (``expanded_weights``), by linearizing the path between them
  (``linear_path``); ``linearization_quality`` measures how far that linear picture holds.
- ``wiring``: ``circuit``, the strongest excitatory and inhibitory inputs of a unit;
  ``most_active_unit``; ``matching_chance``, the number of matches chance alone gives.
- ``tuning``: every channel's response to oriented stimuli (``orientation_tuning``), its
  preferred orientation and tuning width; ``sharpest_curve_detectors``, ``edge_preference``.
- ``equivariance``: ``rotated_pairs``, pairs of channels whose kernels are rotated copies;
  ``pixel_kernels`` and ``kernel_image``, kernels as pictures over the RGB pixels.
- ``figures`` (``plot_circuit``, ``plot_tuning_grid``, ``plot_tuning_curves``,
  ``plot_rotated_pairs``) and ``pictures`` (``feature_images``, ``show_circuit`` and the
  interactive ``circuit_picker``): Distill-style figures.

References:
    Olah et al., "Zoom In: An Introduction to Circuits", Distill (2020); Cammarata et al.,
    "Curve Detectors" and "Curve Circuits", Distill (2020, 2021); Olah et al., "Naturally
    Occurring Equivariance in Neural Networks", Distill (2020); Voss et al., "Visualizing
    Weights", Distill (2021).
"""

from helpers.circuits.equivariance import (RotatedPair, kernel_image, pixel_kernels, rotate_kernel,
                                           rotated_pairs)
from helpers.circuits.figures import (TITLE_FONTSIZE, WEIGHT_CMAP, plot_circuit,
                                      plot_rotated_pairs, plot_tuning_curves, plot_tuning_grid)
from helpers.circuits.graph import (CHOICES, choices, circuit_layers, default_from_layer,
                                    drawable_layers, feature_map_of, feature_source,
                                    first_layer_conv, input_layer_name, is_unit_layer,
                                    path_between, unit_scale, visualized_layer)
from helpers.circuits.pictures import circuit_picker, feature_images, show_circuit
from helpers.circuits.tuning import (Tuning, central_responses, edge_preference,
                                     orientation_tuning, sharpest_curve_detectors, tuning_width)
from helpers.circuits.weights import (LinearPath, effective_kernel, expanded_weights, linear_path,
                                      linearization_quality, unit_weights)
from helpers.circuits.wiring import (RANKINGS, Circuit, Connection, circuit, matching_chance,
                                     most_active_unit)

__all__ = [
    "CHOICES", "RANKINGS", "TITLE_FONTSIZE", "WEIGHT_CMAP", "Circuit", "Connection", "LinearPath",
    "RotatedPair", "Tuning", "central_responses", "choices", "circuit", "circuit_layers",
    "circuit_picker", "default_from_layer", "drawable_layers", "edge_preference",
    "effective_kernel", "expanded_weights", "feature_images", "feature_map_of", "feature_source",
    "first_layer_conv", "input_layer_name", "is_unit_layer", "kernel_image", "linear_path",
    "linearization_quality", "matching_chance", "most_active_unit", "orientation_tuning",
    "path_between", "pixel_kernels", "plot_circuit", "plot_rotated_pairs", "plot_tuning_curves",
    "plot_tuning_grid", "rotate_kernel", "rotated_pairs", "sharpest_curve_detectors",
    "show_circuit", "tuning_width", "unit_scale", "unit_weights", "visualized_layer",
]
