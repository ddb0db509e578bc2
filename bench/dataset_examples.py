"""Dataset examples: compiled batched scan versus a per-image loop.

``helpers.dataset_examples`` scans many images in compiled batches and keeps a running top-k.
The reference does what a first implementation would: one eager forward pass of the model cut
at the layer per image, the best position of each image kept in a list, the top-k sorted at
the end. Both are timed in the same run after a warm-up call, and checked to find the same
images with the same activations.

    python -m bench dataset_examples            # 1,000 shapes scenes, the lab's last conv layer
    python -m bench.dataset_examples --images 2000 --repeats 2
"""

from __future__ import annotations

import argparse

import keras
import numpy as np

from bench import best_time
from helpers import shapes
from helpers.dataset_examples import dataset_examples
from helpers.models import load_model


def per_image_loop(vm, layer: str, unit: int, x: np.ndarray, k: int):
    """(activations, image indices) of the top ``k`` images, one eager call per image."""
    cut = keras.Model(vm.model.inputs[0], vm.model.get_layer(layer).output)
    best = []
    for n in range(len(x)):
        maps = keras.ops.convert_to_numpy(cut(x[n:n + 1], training=False))[0, ..., unit]
        best.append((float(maps.max()), n))
    best.sort(key=lambda pair: (-pair[0], pair[1]))
    return np.array([a for a, _ in best[:k]]), np.array([n for _, n in best[:k]])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--layer", default="block4_conv2")
    parser.add_argument("--unit", type=int, default=4)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    vm = load_model("shapes")
    scenes = shapes.make_scenes(args.images, seed=99_000)
    x = vm.preprocess(scenes.images)
    fast, found = best_time(lambda: dataset_examples(vm, args.layer, args.unit, x, k=args.k,
                                                     images=scenes.images), args.repeats)
    slow, (values, index) = best_time(
        lambda: per_image_loop(vm, args.layer, args.unit, x, args.k), args.repeats)
    if not (np.array_equal(index, found.image_index)
            and np.allclose(values, found.activations, rtol=1e-4)):
        raise AssertionError("the per-image loop finds other images")
    print(f"dataset examples, {args.images} images: batched {fast * 1000:6.0f} ms   "
          f"per-image loop x{slow / fast:5.1f}")


if __name__ == "__main__":
    main()
