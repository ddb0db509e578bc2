"""The image being optimized, and how it maps to the model's input.

Images are optimized as RGB in [-1, 1] (0 is mid-grey) whatever the model; the model's own
preprocessing, an affine map per pixel (e.g. VGG16's BGR mean subtraction), is applied inside
the graph, so one learning rate suits every model. Two parameterizations: the pixels
themselves, or (Mordvintsev et al., "Differentiable Image Parameterizations", Distill 2018)
1/f-scaled Fourier coefficients of decorrelated colour channels, squashed to valid RGB by a
sigmoid.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from helpers._core.inputs import as_batch
from helpers._core.model import affine_preprocessing, keras_model, preprocess_fn
from helpers.images import deprocess_image

#: Square root of the colour covariance of ImageNet pixels (from Lucid): RGB = M @ decorrelated.
COLOR_CORRELATION_SQRT = np.array([[0.26, 0.09, 0.02],
                                   [0.27, 0.00, -0.05],
                                   [0.27, -0.09, 0.03]], dtype=np.float32)
COLOR_MIX = COLOR_CORRELATION_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SQRT, axis=0))


def image_from_input(model, x, preprocess=None) -> np.ndarray:
    """Model input shown as RGB ``uint8``: the model's preprocessing undone (so VGG16's BGR
    becomes RGB), then ``images.deprocess_image`` (contrast stretch, clip).

    Args:
        model: a ``VisModel`` or a Keras model.
        x: one model input (H, W, C) or a batch (N, H, W, C).
        preprocess: the preprocessing, for a bare Keras model (default x / 127.5 - 1).

    Returns:
        (H, W, 3) for one input, (N, H, W, 3) for a batch.
    """
    keras_model(model)
    batch, single = as_batch(x)
    matrix, bias = affine_preprocessing(preprocess or preprocess_fn(model), batch.shape[-1])
    rgb = (batch - bias) @ np.linalg.inv(matrix).T
    images = np.stack([deprocess_image(image) for image in rgb])
    return images[0] if single else images


def spectrum_scale(height: int, width: int) -> np.ndarray:
    """1 / frequency for each coefficient of a real 2-D FFT: natural images' spectrum falls
    as 1/f, so equal steps on these coefficients give image changes of natural statistics."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    freq = np.sqrt(fx ** 2 + fy ** 2)
    scale = np.sqrt(height * width) / np.maximum(freq, 1.0 / max(height, width))
    return scale.astype(np.float32)


def fourier_image(param, shape, scale, decorrelate: bool):
    """The [-1, 1] images (N, H, W, C) of Fourier parameters (N, C, H, W // 2 + 1, 2) (real
    and imaginary parts), ``scale`` from ``spectrum_scale``: inverse FFT, the colour
    decorrelation undone, a sigmoid into the valid range."""
    height, width, _ = shape
    spectrum = tf.complex(param[..., 0], param[..., 1]) * tf.cast(scale, tf.complex64)
    image = tf.signal.irfft2d(spectrum, fft_length=[height, width]) / 4.0  # (N, C, H, W)
    image = tf.transpose(image, [0, 2, 3, 1])
    if decorrelate:
        image = image @ tf.constant(COLOR_MIX.T)
    return 2.0 * tf.sigmoid(image) - 1.0


def start_images(init, n, height, width, channels):
    """Starting images in [-1, 1] from uint8 ``init`` image(s), or None for the seeded noise
    and grey starts.

    Raises:
        ValueError: an unknown start, or images of the wrong shape.
    """
    if isinstance(init, str):
        if init not in ("noise", "zeros"):
            raise ValueError(f"init must be 'noise', 'zeros' or uint8 image(s); got {init!r}.")
        return None
    images = np.asarray(init)
    if images.ndim == 3:
        images = np.broadcast_to(images, (n, *images.shape))
    if images.shape != (n, height, width, channels):
        raise ValueError(f"init images must be ({height}, {width}, {channels}) or "
                         f"({n}, {height}, {width}, {channels}); got {images.shape}.")
    return images.astype(np.float32) / 127.5 - 1.0


def initial_param(shape, fourier: bool, units, init, start, seed) -> np.ndarray:
    """Starting parameters of images of ``shape`` (H, W, C): ``start`` images if given, else
    grey (``init='zeros'``) or grey plus noise that depends on (seed, unit) only, so batching
    does not change results."""
    height, width, channels = shape
    if fourier:
        param_shape = (channels, height, width // 2 + 1, 2)
        scale = 0.0 if init == "zeros" else 0.01
        return np.stack([scale * np.random.default_rng([seed, int(u)]).standard_normal(param_shape)
                         for u in units]).astype(np.float32)
    if start is not None:
        return np.asarray(start, np.float32)
    scale = 0.0 if init == "zeros" else 0.2
    return np.stack([scale * np.random.default_rng([seed, int(u)]).uniform(-1, 1, shape)
                     for u in units]).astype(np.float32)
