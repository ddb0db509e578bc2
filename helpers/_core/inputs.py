"""The input half of the contract: one image or a batch in, the same form out.

Every technique that takes model input accepts one *preprocessed* image (H, W, C) or a batch
(N, H, W, C) (what ``vm.preprocess`` returns). ``prepare`` turns it into a float32 batch,
checks it against the model, resolves the classes and remembers whether one image came in;
``Prepared.output`` gives one result back for one image and the batch otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from helpers._core.model import class_indices, keras_model, logits_model, refuse_probabilities
from helpers._core.progress import progress

#: Images per compiled call when a technique does not say otherwise; bounds memory.
BATCH_SIZE = 32


@dataclass(frozen=True)
class Prepared:
    """A checked call: ``net`` (the Keras model, ending in logits), ``x`` (N, H, W, C)
    float32, ``classes`` (N,) int32 or None, and whether a single image came in."""

    net: keras.Model
    x: np.ndarray
    classes: np.ndarray | None
    single: bool

    def output(self, result):
        """``result`` (a batch, or a tuple/dict of batches) unbatched if one image came in."""
        if not self.single:
            return result
        if isinstance(result, dict):
            return {key: value[0] for key, value in result.items()}
        if isinstance(result, tuple):
            return tuple(value[0] for value in result)
        return result[0]


def as_batch(x, input_shape=None) -> tuple[np.ndarray, bool]:
    """(``x`` as a float32 batch, whether it was one image).

    Args:
        x: one preprocessed image (H, W, C) or a batch (N, H, W, C).
        input_shape: the model's input shape (None, H, W, C), None entries free; checked
            when given.

    Raises:
        ValueError: wrong shape, raw uint8 pixels, an empty batch, or NaN / infinity.
    """
    if isinstance(x, str):
        raise ValueError(f"Got the string {x!r}; techniques take preprocessed images. Use "
                         "x = vm.preprocess(vm.load(source)).")
    x = np.asarray(x)
    single = x.ndim == 3
    if single:
        x = x[None]
    want = "H, W, C"
    if input_shape is not None:
        want = ", ".join("any" if e is None else str(e) for e in tuple(input_shape)[1:])
    fits = x.ndim == 4 and (input_shape is None or all(
        e is None or e == s for e, s in zip(tuple(input_shape)[1:], x.shape[1:])))
    if not fits:
        raise ValueError(f"Expected a preprocessed image ({want}) or a batch (N, {want}); got "
                         f"shape {x.shape}. Use x = vm.preprocess(vm.load(source)).")
    if len(x) == 0:
        raise ValueError("Got an empty batch; give at least one image.")
    if x.dtype == np.uint8:
        raise ValueError("Got raw uint8 pixels; techniques take preprocessed input. "
                         "Use x = vm.preprocess(images).")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError("The input contains NaN or infinity; check its preprocessing.")
    return x, single


def prepare(model, x, classes=None, logits: bool = True) -> Prepared:
    """Check one call of a technique: model, input and (optionally) classes.

    Args:
        model: a ``VisModel`` or a Keras model.
        x: one preprocessed image or a batch.
        classes: None, one class (name or index) for all images, or one per image.
        logits: the technique explains class scores, so the softmax rule applies (see
            ``helpers._core.model``); False for techniques that read inner layers only.
    """
    net = logits_model(model) if logits else keras_model(model)
    batch, single = as_batch(x, net.input_shape)
    if logits:
        refuse_probabilities(net, batch)
    indices = None if classes is None else class_indices(model, classes, len(batch))
    return Prepared(net, batch, indices, single)


def check_count(name: str, value, minimum: int = 1) -> int:
    """``value`` as an int, checked to be a whole number >= ``minimum``.

    Raises:
        ValueError: not a whole number, or too small.
    """
    ok = not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)
    if not ok or not float(value).is_integer() or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}; got {value!r}.")
    return int(value)


def check_positive(name: str, value) -> float:
    """``value`` as a float, checked to be finite and > 0.

    Raises:
        ValueError: not a number, not finite, or <= 0.
    """
    ok = not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)
    if not ok or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}.")
    return float(value)


def in_batches(fn, batch_size: int, *arrays):
    """``fn`` applied to aligned chunks of ``arrays`` of at most ``batch_size`` rows; the
    results (arrays, or tuples of arrays) concatenated. Splitting only bounds memory; many
    chunks (Score-CAM's masked images, SmoothGrad's or Integrated Gradients' samples of a
    batch, a scan of many images) show a progress bar."""
    starts = progress(range(0, len(arrays[0]), batch_size), desc="batches")
    parts = [fn(*(a[i:i + batch_size] for a in arrays)) for i in starts]
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(p) for p in zip(*parts))
    return np.concatenate(parts)
