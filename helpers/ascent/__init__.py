"""Gradient ascent in input space: the images that excite a filter, or a class, the most.

The lecture's update, with the weights of the CNN fixed and the image as the variable::

    I <- I + eta * grad f(I)

where f is the mean activation of one filter (channel) of a layer over the centre of its map,
a class's logit f_c, or its softmax probability. ``maximize`` runs it for many units at once:
one image per unit in a single batch, each image following the gradient of its own unit,
compiled with ``tf.function`` on a sub-model that stops at the layer. Convenience wrappers:
``maximize_filters`` (channels of a layer) and ``maximize_classes`` (class logits).

Plain gradient ascent gives high-frequency noise. The regularization ladder (``LADDER``) adds,
one rung at a time, what makes the pictures legible:

- ``"naive"``: the raw gradient with a fixed step eta (set once from the first gradient so the
  first step is as large as a normalised one);
- ``"normalized"``: "the trick", each step divides the gradient by its root mean square;
- ``"decay_blur"``: plus L2 decay (pull towards grey) and a Gaussian blur every few steps;
- ``"robust"``: plus transformation robustness (random jitter, scale, rotation each step);
- ``"fourier"``: plus an image parameterized in a decorrelated space: 1/f-scaled Fourier
  coefficients and decorrelated colours, squashed to valid RGB by a sigmoid.

Images are optimized as RGB in [-1, 1] (0 is mid-grey) whatever the model; the model's own
preprocessing (an affine map per pixel, e.g. VGG16's BGR mean subtraction) is applied inside
the graph, so one learning rate suits every model.

A filter after a ReLU that is silent on the whole starting image has a zero gradient. Such a
unit is woken (``Objective.wake``, on by default) by following its value before the ReLU until
it fires; a unit whose gradient stays zero anyway is reported with a warning, never as NaN.

Modules, as in Lucent's ``optvis``: ``objectives`` (what is scored), ``param`` (the image and
the model's preprocessing), ``transforms`` (jitter, zoom, rotation, blur), ``regularization``
(the ladder), ``network`` (the model cut at a layer, at any size), ``render`` (the loop),
``result`` (what comes back), ``diversity`` (several different images of one unit).

References:
    Erhan, Bengio, Courville & Vincent, "Visualizing Higher-Layer Features of a Deep Network"
    (2009); Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks" (2013);
    Olah, Mordvintsev & Schubert, "Feature Visualization", Distill (2017); Mordvintsev et al.,
    "Differentiable Image Parameterizations", Distill (2018).
"""

from helpers.ascent.diversity import DIVERSITY_WEIGHT, gram_similarity, maximize_diverse
from helpers.ascent.network import layer_model, num_filters
from helpers.ascent.objectives import OBJECTIVES, Objective
from helpers._core.model import affine_preprocessing
from helpers.ascent.param import COLOR_CORRELATION_SQRT, image_from_input
from helpers.ascent.regularization import (LADDER, NORMALIZE_MODES, Regularization,
                                           get_regularization)
from helpers.ascent.render import ZERO_GRADIENT, maximize, maximize_classes, maximize_filters
from helpers.ascent.result import AscentResult, high_frequency_share

__all__ = [
    "COLOR_CORRELATION_SQRT", "DIVERSITY_WEIGHT", "LADDER", "NORMALIZE_MODES", "OBJECTIVES",
    "ZERO_GRADIENT", "AscentResult", "Objective", "Regularization", "affine_preprocessing",
    "get_regularization", "gram_similarity", "high_frequency_share", "image_from_input",
    "layer_model", "maximize", "maximize_classes", "maximize_diverse", "maximize_filters",
    "num_filters",
]
