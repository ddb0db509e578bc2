"""What the ascent does to the image around each step: random transformations before scoring
(transformation robustness) and a Gaussian blur after it.

A pattern that still excites the unit after a random shift, zoom and rotation cannot rely on
pixel-exact tricks; a light blur every few steps takes away high frequencies the network's
early filters respond to but no photo holds.
"""

from __future__ import annotations

import tensorflow as tf

BLUR_RADIUS = 3  # taps on each side of the blur kernel: enough for sigma <= 1.5


def random_transform(image, seed, t, hyper):
    """One random jitter + zoom + rotation, the same for the whole batch at step ``t``,
    with reflected borders so no blank edge appears.

    Args:
        image: (N, H, W, C) tensor.
        seed, t: int32 scalars; the transformation depends on (seed, t) only.
        hyper: ``jitter`` (pixels), ``scale`` (zoom share) and ``rotate`` (radians) tensors.
    """
    height, width = image.shape[1], image.shape[2]
    u = tf.random.stateless_uniform([4], seed=tf.stack([seed, t]), minval=-1.0, maxval=1.0)
    scale = 1.0 + hyper["scale"] * u[0]
    angle = hyper["rotate"] * u[1]
    dx, dy = tf.round(hyper["jitter"] * u[2]), tf.round(hyper["jitter"] * u[3])
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    # output pixel (x, y) samples the input at R(angle) / scale (x - c, y - c) + c + (dx, dy)
    transform = tf.stack([cos, -sin, cx - cos * cx + sin * cy + dx,
                          sin, cos, cy - sin * cx - cos * cy + dy, 0.0, 0.0])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=image, transforms=transform[None], output_shape=[height, width],
        interpolation="BILINEAR", fill_mode="REFLECT", fill_value=0.0)


def gaussian_blur(image, sigma):
    """``image`` (N, H, W, C) blurred by a separable Gaussian of standard deviation ``sigma``
    pixels (at most 1.5, for the kernel's ``BLUR_RADIUS``), with reflected borders."""
    taps = tf.range(-BLUR_RADIUS, BLUR_RADIUS + 1, dtype=tf.float32)
    kernel = tf.exp(-0.5 * tf.square(taps / sigma))
    kernel = kernel / tf.reduce_sum(kernel)
    channels = image.shape[-1]
    padded = tf.pad(image, [[0, 0], [BLUR_RADIUS] * 2, [BLUR_RADIUS] * 2, [0, 0]], "REFLECT")
    rows = tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), [1, 1, channels, 1])
    cols = tf.tile(tf.reshape(kernel, [1, -1, 1, 1]), [1, 1, channels, 1])
    blurred = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(blurred, cols, [1, 1, 1, 1], "VALID")
