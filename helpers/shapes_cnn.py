"""The embedded model: a small VGG-style CNN trained on the synthetic shapes world.

It ships with the repository (``data/shapes_cnn.weights.h5``), so the whole series runs
offline. Its head is global average pooling followed by one dense layer that outputs logits,
which makes Class Activation Mapping exact for it.

Retrain it (about 4 minutes on two CPU cores; the weights come out byte-identical) with::

    python -m helpers.shapes_cnn --seed 0

References:
    Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
    Recognition" (2014); Zhou et al., "Learning Deep Features for Discriminative
    Localization" (2016).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras
import numpy as np

from helpers import small_vgg
from helpers.shapes import CLASSES, IMAGE_SIZE, crop_around_first, make_scenes
from helpers.small_vgg import preprocess

WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "data" / "shapes_cnn.weights.h5"

#: (block, filters, convolutions) of the feature extractor; a 2x2 max-pool ends blocks 1-3.
BLOCKS = ((1, 16, 1), (2, 24, 2), (3, 48, 2), (4, 64, 2))

#: Seeds used for training data; tests draw fresh scenes from seeds far from these.
TRAIN_SEED_BASE = 1_000

#: Side of the windows cut from full-size scenes for training, see ``training_data``.
CROP = 64


def build_model(size: int | None = IMAGE_SIZE, batch_norm: bool = False) -> keras.Model:
    """The shapes CNN: ReLU 3x3 convolutions in 4 blocks, global average pooling, dense logits.

    Args:
        size: input height and width (None: any size).
        batch_norm: put batch normalization between each convolution and its ReLU. Only
            for training: ``fold_batch_norm`` turns such a model into the plain one.
    """
    return small_vgg.build_vgg((size, size, 3), BLOCKS, len(CLASSES), name="shapes_cnn",
                               batch_norm=batch_norm)


def fold_batch_norm(trained: keras.Model) -> keras.Model:
    """The plain model computing what ``trained`` (built with batch_norm=True) computes at
    inference (see ``small_vgg.fold_batch_norm``)."""
    return small_vgg.fold_batch_norm(trained, build_model())


def load_trained() -> keras.Model:
    """The shapes CNN with the committed weights.

    Raises:
        FileNotFoundError: the weights file is missing (retrain with the command above).
    """
    return small_vgg.load_weights(build_model(), WEIGHTS_PATH,
                                  "python -m helpers.shapes_cnn --seed 0")


def training_data(n: int, seed: int, crop: int | None = CROP, pair_share: float = 0.2):
    """``n`` fresh scenes, cut to ``crop`` px windows, and their soft targets.

    Each window holds its scene's first object whole, at the size it has in a full scene:
    the model learns shapes at the scale it is tested on, for less than half the pixels
    (and the time) of full scenes. Single objects get one-hot targets. Pairs share the
    target by how much of each object the window shows (half-half when both are whole):
    training on them teaches the model to give every present class a high score, which
    is what localization checks rely on.

    Args:
        n: number of scenes.
        seed: training seed of this batch of scenes.
        crop: window side in pixels, or None for full scenes.
        pair_share: fraction of scenes with two objects.
    """
    num_pairs = int(n * pair_share)
    scene_seed = TRAIN_SEED_BASE + 2 * seed
    single = make_scenes(n - num_pairs, seed=scene_seed)
    pairs = make_scenes(num_pairs, seed=scene_seed + 1, num_objects=2)
    area = pairs.masks.sum(axis=(2, 3))
    if crop is not None:
        single = crop_around_first(single, crop, seed=scene_seed)
        pairs = crop_around_first(pairs, crop, seed=scene_seed + 1)
    shown = pairs.masks.sum(axis=(2, 3)) / np.maximum(area, 1)
    targets = np.zeros((n, len(CLASSES)), dtype=np.float32)
    targets[np.arange(len(single)), single.labels] = 1.0
    rows = len(single) + np.arange(num_pairs)
    for k in range(2):
        targets[rows, pairs.classes[:, k]] = shown[:, k] / shown.sum(axis=1)
    return preprocess(np.concatenate([single.images, pairs.images])), targets


def accuracy(model: keras.Model, n: int = 2000, seed: int = 123_456) -> float:
    """Top-1 accuracy on ``n`` fresh single-object scenes."""
    scenes = make_scenes(n, seed=seed)
    logits = model.predict(preprocess(scenes.images), batch_size=256, verbose=0)
    return float(np.mean(logits.argmax(axis=1) == scenes.labels))


def train(seed: int = 0, epochs: int = 4, per_epoch: int = 12_000, batch_size: int = 64,
          out: Path = WEIGHTS_PATH) -> dict:
    """Train from ``seed`` on freshly generated scenes and save the weights to ``out``.

    Each epoch sees new scenes, cut to ``CROP`` px windows (see ``training_data``); the model
    is fully convolutional with global pooling, so the same weights apply to full scenes.
    """
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    model = build_model(size=None, batch_norm=True)
    schedule = keras.optimizers.schedules.CosineDecay(
        3e-3, decay_steps=epochs * int(np.ceil(per_epoch / batch_size)))
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    for epoch in range(epochs):
        x, y = training_data(per_epoch, seed=1000 * seed + epoch)
        history = model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
        print(f"epoch {epoch + 1}/{epochs}: loss {history.history['loss'][-1]:.3f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    model = fold_batch_norm(model)
    seconds = time.perf_counter() - start
    acc = accuracy(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(out)
    return {"seconds": seconds, "accuracy": acc, "weights": str(out),
            "bytes": out.stat().st_size}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args(argv)
    report = train(seed=args.seed, out=args.out)
    print(f"trained in {report['seconds']:.0f} s; held-out accuracy "
          f"{100 * report['accuracy']:.1f}% on 2000 fresh scenes; "
          f"weights {report['bytes'] / 1e6:.2f} MB at {report['weights']}")


if __name__ == "__main__":
    main()
