"""The Paper Gestalt reviewer: a small CNN that accepts or rejects a paper by its first page.

The model reads a page thumbnail (176 x 136 RGB, see ``helpers.pages``) and outputs two
logits, "bad" and "good". It ships with the repository (``data/gestalt_cnn.weights.h5``),
trained on synthetic pages judged by the hidden ``pages.Rule``; :func:`train` retrains it
to the same accuracy (about 2.5 minutes on two CPU cores; byte for byte with TensorFlow's
oneDNN kernels off, ``TF_ENABLE_ONEDNN_OPTS=0``, as it was trained)::

    python -m helpers.gestalt_cnn --seed 0

What the reviewer learned is measured and shown by ``helpers.gestalt``.

References:
    von Bearnensquash, "Paper Gestalt", Secret Proceedings of Computer Vision and Pattern
    Recognition (CVPR), 2010; Zhou et al., "Learning Deep Features for Discriminative
    Localization" (2016), for the global-average-pooling head.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras
import numpy as np

from helpers import pages, small_vgg
from helpers._core.model import keras_model
from helpers.models import VisModel
from helpers.small_vgg import deprocess, preprocess  # noqa: F401  (part of this module's API)

WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "data" / "gestalt_cnn.weights.h5"
RETRAIN_COMMAND = "python -m helpers.gestalt_cnn --seed 0"

#: (block, filters, convolutions) of the feature extractor; a 2x2 max-pool ends blocks 1-4,
#: so the last feature maps are 11 x 8 and each of their units sees 78 x 78 pixels.
BLOCKS = ((1, 8, 1), (2, 16, 1), (3, 24, 1), (4, 48, 1), (5, 64, 1))

#: Training pages come from this seed; every other seed gives pages the model never saw.
TRAIN_SEED = 1_000
#: Seed of the pages that measure the model (tests and notebook), never used in training.
FRESH_SEED = 2_010


def build_model(batch_norm: bool = False) -> keras.Model:
    """The gestalt CNN: ReLU 3x3 convolutions in 5 blocks, global average pooling, 2 logits.

    Args:
        batch_norm: put batch normalization between each convolution and its ReLU, for
            training only; ``fold_batch_norm`` turns such a model into the plain one.
    """
    # batch norm with a short memory: its statistics must keep up with a few hundred steps
    return small_vgg.build_vgg(pages.PAGE_SIZE + (3,), BLOCKS, len(pages.CLASSES),
                               name="gestalt_cnn", input_name="page", batch_norm=batch_norm,
                               bn_momentum=0.9)


def fold_batch_norm(trained: keras.Model) -> keras.Model:
    """The plain model computing what ``trained`` (built with batch_norm=True) computes at
    inference (see ``small_vgg.fold_batch_norm``), with centred logits.

    The two logits are centred (their mean over the classes subtracted from the dense
    weights and bias): the softmax does not change, and f_good = -f_bad is half the
    log-odds of "good", so that maximizing f_good or explaining it means "more good, less
    bad" rather than "more of everything".
    """
    plain = small_vgg.fold_batch_norm(trained, build_model())
    dense = plain.get_layer("logits")
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel - kernel.mean(axis=1, keepdims=True), bias - bias.mean()])
    return plain


def load_trained(path: str | Path = WEIGHTS_PATH) -> keras.Model:
    """The gestalt CNN with trained weights (default: the committed ones).

    Raises:
        FileNotFoundError: no weights file at ``path``.
    """
    return small_vgg.load_weights(build_model(), path, RETRAIN_COMMAND)


def load_model(path: str | Path = WEIGHTS_PATH) -> VisModel:
    """The gestalt CNN with trained weights (default: the committed ones) as a
    ``VisModel``, ready for the series' tools (see ``vis_model``)."""
    return vis_model(load_trained(path))


def vis_model(model: keras.Model) -> VisModel:
    """Wrap a gestalt CNN as a ``VisModel`` named "gestalt" (classes "bad" and "good").

    Its samples are four fresh pages: ``good_1``, ``good_2`` (deserved good) and ``bad_1``,
    ``bad_2`` (deserved bad).
    """
    batch = pages.make_pages(16, seed=FRESH_SEED + 1)
    samples = {}
    for verdict in (1, 0):
        for k, i in enumerate(np.flatnonzero(batch.deserved == verdict)[:2], start=1):
            samples[f"{pages.CLASSES[verdict]}_{k}"] = batch.images[i]
    return VisModel("gestalt", keras_model(model), pages.CLASSES, pages.PAGE_SIZE, preprocess,
                    samples)


def as_vis_model(model) -> VisModel:
    """``model`` itself if it is a ``VisModel``, else the Keras gestalt CNN ``model`` as one
    (without samples), so that its classes can be named "bad" and "good"."""
    if isinstance(model, VisModel):
        return model
    return VisModel("gestalt", keras_model(model), pages.CLASSES, pages.PAGE_SIZE, preprocess)


def accuracy(model, batch: pages.Pages) -> float:
    """Share of the ``batch``'s verdicts the model gives (saying "good" when f_good >= f_bad,
    i.e. P(good) >= 0.5)."""
    logits = keras_model(model).predict(preprocess(batch.images), batch_size=256, verbose=0)
    good = pages.CLASSES.index("good")
    return float(np.mean((logits[:, good] >= logits[:, 1 - good]) == batch.labels))


def train(seed: int = 0, num_pages: int = 4_000, epochs: int = 3,
          rule: pages.Rule | None = None, out: str | Path | None = WEIGHTS_PATH,
          eval_pages: int = 1_000, verbose: int = 2) -> dict:
    """Render training pages, train the gestalt CNN from ``seed`` and save its weights.

    Pages come from ``TRAIN_SEED`` (plus ``seed``), judged by ``rule``; each batch is
    mirrored left-right at random (a mirrored page has the same layout features).

    Args:
        seed: random seed of the weights, the batches and the training pages.
        num_pages: training pages.
        epochs: passes over the pages.
        rule: the hidden reviewer (default ``pages.Rule()``); change it to see whether the
            explanations follow.
        out: where to save the weights; None saves nothing.
        eval_pages: fresh pages (seed ``FRESH_SEED``) to measure the accuracy on.
        verbose: Keras' fit verbosity.

    Returns:
        dict with the trained ``model`` (plain, batch norm folded), ``seconds`` of training,
        and its ``accuracy`` on the fresh pages (against their noisy labels).
    """
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    train_pages = pages.make_pages(num_pages, seed=TRAIN_SEED + seed, rule=rule)
    batch_size = 64
    data = _dataset(train_pages.images, train_pages.labels, batch_size, seed)
    model = build_model(batch_norm=True)
    steps = epochs * int(np.ceil(num_pages / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(3e-3, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data, epochs=epochs, verbose=verbose, shuffle=False)  # the dataset shuffles
    model = fold_batch_norm(model)
    seconds = time.perf_counter() - start
    fresh = pages.make_pages(eval_pages, seed=FRESH_SEED, rule=rule)
    report = {"model": model, "seconds": seconds, "accuracy": accuracy(model, fresh)}
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        model.save_weights(out)
        report["weights"], report["bytes"] = str(out), out.stat().st_size
    return report


def _dataset(images, labels, batch_size, seed):
    import tensorflow as tf

    def prepare(x, y):
        x = tf.cast(x, tf.float32) / 127.5 - 1.0
        flip = tf.random.uniform((tf.shape(x)[0], 1, 1, 1), seed=seed) < 0.5
        return tf.where(flip, tf.reverse(x, axis=[2]), x), y

    data = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))
    data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).map(prepare).prefetch(2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pages", type=int, default=4_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args(argv)
    report = train(seed=args.seed, num_pages=args.pages, epochs=args.epochs, out=args.out)
    print(f"trained in {report['seconds']:.0f} s; accuracy {100 * report['accuracy']:.1f}% "
          f"on 1000 fresh pages (against their noisy verdicts); weights "
          f"{report['bytes'] / 1e6:.2f} MB at {report['weights']}")


if __name__ == "__main__":
    main()
