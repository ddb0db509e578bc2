"""Occlusion sensitivity: compiled batches against a plain per-image loop.

``helpers.occlusion.occlusion`` puts every occluded copy of every image through the model in
compiled batches. The reference is the loop of the tutorials: for each image and each patch
position, copy the image, fill the patch, and call the model eagerly on that one copy. Both
are timed in the same run after one warm-up call, on the same images, and checked to give the
same drops; the ratio is the number that matters on a shared machine.

    python -m bench occlusion                     # the lab, 8 scenes of 96 px
    python -m bench.occlusion --model mobilenet --images 2   # random weights, 224 px
"""

from __future__ import annotations

import argparse

import keras
import numpy as np

from bench import best_time
from helpers import shapes
from helpers.models import load_model
from helpers.occlusion import grid, occlusion


def per_image_loop(net: keras.Model, x: np.ndarray, c: int) -> np.ndarray:
    """Drops of logit ``c``, one eager model call per image and patch position, with the
    image's mean colour in the patch (``occlusion``'s default fill)."""
    rows, cols, patch, _ = grid(x.shape[1:3])
    drops = np.zeros((len(x), len(rows), len(cols)), np.float32)
    for n, image in enumerate(x):
        intact = float(net(image[None], training=False)[0, c])
        fill = image.mean(axis=(0, 1))
        for i, r in enumerate(rows):
            for j, col in enumerate(cols):
                covered = image.copy()
                covered[r:r + patch, col:col + patch] = fill
                drops[n, i, j] = intact - float(net(covered[None], training=False)[0, c])
    return drops


def model_and_images(name: str, count: int):
    """(Keras model, preprocessed images): the lab on shapes scenes, or MobileNet with random
    weights (timing needs no download) on noise images."""
    if name == "shapes":
        vm = load_model("shapes")
        return vm.model, vm.preprocess(shapes.make_scenes(count, seed=98_000).images)
    if name != "mobilenet":
        raise ValueError(f"Unknown model {name!r}; choose shapes or mobilenet.")
    keras.utils.set_random_seed(0)
    net = keras.applications.MobileNet(weights=None, classifier_activation=None)
    x = np.random.default_rng(0).uniform(-1, 1, (count, 224, 224, 3)).astype(np.float32)
    return net, x


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="shapes", choices=["shapes", "mobilenet"])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    net, x = model_and_images(args.model, args.images)
    fast, drops = best_time(lambda: occlusion(net, x, 0), args.repeats)
    slow, reference = best_time(lambda: per_image_loop(net, x, 0), args.repeats)
    scale = float(np.abs(reference).max()) or 1.0
    if not np.allclose(drops, reference, atol=1e-4 * scale, rtol=1e-3):
        raise AssertionError("the per-image loop gives other drops")
    positions = drops.shape[1] * drops.shape[2]
    print(f"occlusion, {args.model}, {args.images} images x {positions} positions: "
          f"batched {fast * 1000:6.0f} ms   per-image loop x{slow / fast:5.1f}")


if __name__ == "__main__":
    main()
