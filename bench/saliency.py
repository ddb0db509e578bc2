"""SmoothGrad and Integrated Gradients: one batched compiled call versus a per-sample loop.

Both methods differentiate f_c at many inputs (noisy copies, points on a path).
``helpers.saliency`` stacks them into one batch for one ``tf.function`` call; the references
compute the same maps one input at a time, (a) through the same compiled function and
(b) eagerly with a fresh ``tf.GradientTape`` per input, as a first implementation would.
Each row prints the batched time and how many times slower each reference is, measured in
the same run after a warm-up call (tracing is not timed); the results are checked to agree.

    python -m bench saliency          # the embedded model
    python -m bench.saliency --model mobilenet --samples 32 --repeats 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import tensorflow as tf

from bench import best_time
from helpers import saliency
from helpers.models import load_model


def eager_gradient(vm, x: np.ndarray, cls: int) -> np.ndarray:
    """d f_c / d x for one input, eagerly: what a first implementation would write."""
    x = tf.constant(x[None])
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = vm.model(x, training=False)[0, cls]
    return tape.gradient(score, x).numpy()[0]


def compiled_gradient(model, x: np.ndarray, cls: int) -> np.ndarray:
    """d f_c / d x for one input, through helpers.saliency's compiled function."""
    return saliency.scores_and_gradients(model, x, cls)[1]


def smoothgrad_loop(gradient, model, x, cls, noise, samples, seed=0):
    """SmoothGrad one noisy copy at a time, with the same noise as ``saliency.smoothgrad``."""
    spread = noise * (x.max() - x.min())
    draws = np.random.default_rng(seed).standard_normal((1, samples) + x.shape, dtype=np.float32)
    mean = sum(gradient(model, x + spread * draw, cls) for draw in draws[0]) / samples
    return saliency.max_abs_over_channels(mean)


def integrated_gradients_loop(gradient, model, x, cls, steps):
    """Integrated Gradients (baseline 0) one point of the path at a time."""
    alphas, weights = saliency.path_points(steps)
    return x * sum(w * gradient(model, alpha * x, cls) for alpha, w in zip(alphas, weights))


def report(name: str, batched, references: dict, repeats: int) -> None:
    """Time ``batched`` and each reference, check that they agree, print the ratios."""
    fast, result = best_time(batched, repeats)
    ratios = []
    for key, reference in references.items():
        slow, value = best_time(reference, repeats)
        if not np.allclose(value, result, atol=1e-3 * np.abs(result).max()):
            raise AssertionError(f"{name}: the {key} loop computes something else")
        ratios.append(f"{key} x{slow / fast:5.1f}")
    print(f"{name:<32s} batched {fast * 1000:6.0f} ms   per-sample loop: {'   '.join(ratios)}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="shapes")
    parser.add_argument("--samples", type=int, default=32, help="SmoothGrad samples, IG steps")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    vm = load_model(args.model)
    image = vm.load(next(iter(vm.samples)))
    x = vm.preprocess(image)
    cls = int(vm.logits(image).argmax())
    n = args.samples
    print(f"{vm.name}: {n} inputs of {x.shape}, best of {args.repeats} after a warm-up; ratio = "
          "loop time / batched time (higher: batching wins)")
    report(f"SmoothGrad ({n} samples)",
           lambda: saliency.smoothgrad(vm, x, cls, noise=0.15, samples=n),
           {"compiled": lambda: smoothgrad_loop(compiled_gradient, vm, x, cls, 0.15, n),
            "eager": lambda: smoothgrad_loop(eager_gradient, vm, x, cls, 0.15, n)},
           args.repeats)
    report(f"Integrated Gradients ({n} steps)",
           lambda: saliency.integrated_gradients(vm, x, cls, steps=n).attributions,
           {"compiled": lambda: integrated_gradients_loop(compiled_gradient, vm, x, cls, n),
            "eager": lambda: integrated_gradients_loop(eager_gradient, vm, x, cls, n)},
           args.repeats)


if __name__ == "__main__":
    main()
