"""Filter visualization: one filter at a time (the textbook recipe) against ``helpers.ascent``'s
batched ascent, and both against a compute floor, on the same model, layer, size and steps.

    python -m bench ascent                      # all three cases below (or: ./run.sh bench ascent)
    python -m bench.ascent --models vgg16 --filters 16

Cases: the issue's VGG16 ``block3_conv1`` at 128 px (random weights: the cost does not depend
on their values, and the ImageNet weights are a 528 MB download), then the series' own models
as the notebooks use them (the embedded model, and MobileNet when its weights are cached).
Each case times, on the same model, layer, image size and step count:

- (a) the recipe of Chollet, *Deep Learning with Python* (2nd ed., ch. 9): a sub-model cut at
  the layer, a ``tf.function`` step called with the filter index as a Python int, so it is
  traced again for every filter, one image at a time;
- (a') the same, traced once (the index passed as a tensor): one at a time, nothing else lost;
- (b) ``ascent.maximize_filters``: every filter's image in one batch (after a warm-up call, so
  tracing is not counted; the tracing time is printed too);
- floor: one forward and one input-gradient pass over the whole batch, times the steps: what
  any gradient ascent must compute.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from helpers import ascent  # noqa: E402
from helpers.cache import OfflineError  # noqa: E402
from helpers.models import load_model, weights_path  # noqa: E402


def recipe_step(feature_extractor):
    """Chollet's compiled step: normalised gradient ascent on one filter's mean activation."""

    def compute_loss(image, filter_index):
        activation = feature_extractor(image)
        return tf.reduce_mean(activation[:, 2:-2, 2:-2, filter_index])

    @tf.function
    def gradient_ascent_step(image, filter_index, learning_rate):
        with tf.GradientTape() as tape:
            tape.watch(image)
            loss = compute_loss(image, filter_index)
        grads = tf.math.l2_normalize(tape.gradient(loss, image))
        return image + learning_rate * grads

    return gradient_ascent_step


def textbook_recipe(step, filters, steps, size, index_as_tensor=False):
    """Chollet's recipe, one filter after the other. With the index as a Python int (as in the
    book) a fresh ``step`` is traced again for every filter; as a tensor, once for all."""
    images = []
    for filter_index in filters:
        index = tf.constant(filter_index) if index_as_tensor else int(filter_index)
        image = tf.random.uniform((1, size, size, 3), minval=0.4, maxval=0.6)
        for _ in range(steps):
            image = step(image, index, 10.0)
        images.append(image[0].numpy())
    return images


def floor_step(feature_extractor):
    """One forward and one input-gradient pass over a batch, compiled."""

    @tf.function
    def step(images, filters):
        with tf.GradientTape() as tape:
            tape.watch(images)
            maps = tf.gather(feature_extractor(images), filters, axis=-1, batch_dims=1)
            loss = tf.reduce_sum(tf.reduce_mean(maps, axis=[1, 2]))
        return tape.gradient(loss, images)

    return step


def seconds(fn, repeats: int = 1) -> float:
    """The fastest of ``repeats`` runs: on a shared machine the least disturbed one."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


#: (layer, image size, filters, repeats): the issue's VGG16 case, then the series' own models.
CASES = {"vgg16": ("block3_conv1", 128, 8, 1), "shapes": ("block3_conv1", 96, 16, 3),
         "mobilenet": ("conv_pw_6_relu", 128, 16, 3)}


def load(name: str, size: int):
    """The model to time: VGG16 with random weights, the others as the notebooks load them."""
    if name == "vgg16":
        keras.utils.set_random_seed(0)
        return keras.applications.VGG16(weights=None, include_top=False,
                                        input_shape=(size, size, 3))
    return load_model(name)


def compare(name: str, layer: str, size: int, steps: int, n: int, repeats: int) -> dict:
    """Time the recipe, the batched ascent and the floor on one model; print and return ratios."""
    model = load(name, size)
    extractor = ascent.layer_model(model, layer, size)
    filters = list(range(n))
    print(f"{name}{' (random weights)' if name == 'vgg16' else ''} {layer}, {size} px, "
          f"{steps} steps, {n} filters, {os.cpu_count()} CPU cores, best of {repeats}")

    recipe = seconds(lambda: textbook_recipe(recipe_step(extractor), filters, steps, size),
                     repeats)
    traced = recipe_step(extractor)
    textbook_recipe(traced, filters[:1], 1, size, index_as_tensor=True)  # trace it once
    traced_once = seconds(lambda: textbook_recipe(traced, filters, steps, size,
                                                  index_as_tensor=True), repeats)
    run = lambda k: ascent.maximize_filters(model, layer, filters, steps=k, size=size,  # noqa: E731
                                            batch_size=n, warn_dead=False)
    cold = seconds(lambda: run(1))  # tracing, plus one step
    batched = seconds(lambda: run(steps), repeats)
    step = floor_step(extractor)
    images, units = tf.random.uniform((n, size, size, 3)), tf.constant(filters)
    step(images, units)  # trace
    floor = seconds(lambda: [step(images, units).numpy() for _ in range(steps)], repeats)

    rows = [("(a)  one at a time, textbook recipe (retraced per filter)", recipe),
            ("(a') one at a time, traced once", traced_once),
            ("(b)  helpers.ascent, batched", batched),
            ("     floor: forward + input gradient x steps", floor)]
    for label, total in rows:
        print(f"  {label:<58} {total / n:7.3f} s per filter")
    print(f"  (tracing helpers.ascent's graph the first time took {cold:.1f} s, not counted)")
    ratios = {"recipe_over_batched": recipe / batched,
              "traced_once_over_batched": traced_once / batched,
              "batched_over_floor": batched / floor}
    print(f"  speed-up of (b) over (a):  {ratios['recipe_over_batched']:.2f}x  (target >= 2)")
    print(f"  speed-up of (b) over (a'): {ratios['traced_once_over_batched']:.2f}x")
    print(f"  (b) over the floor:        {ratios['batched_over_floor']:.2f}x  (target <= 1.5)")
    return ratios


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="vgg16,shapes,mobilenet",
                        help="comma-separated, from: " + ", ".join(CASES))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--filters", type=int, default=None, help="override the filter count")
    parser.add_argument("--layer", default=None, help="override the layer (one model only)")
    parser.add_argument("--size", type=int, default=None, help="override the image size")
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs of each timing, the fastest kept (default: 1 for vgg16, 3 else)")
    args = parser.parse_args(argv)
    results = {}
    for name in args.models.split(","):
        if name not in CASES:
            parser.error(f"unknown model {name!r}; choose from {', '.join(CASES)}")
        layer, size, n, repeats = CASES[name]
        if name == "mobilenet":
            try:
                weights_path(name)
            except OfflineError as err:
                print(f"{name}: skipped ({err})")
                continue
        results[name] = compare(name, args.layer or layer, args.size or size, args.steps,
                                args.filters or n, args.repeats or repeats)
    return results


if __name__ == "__main__":
    main()
