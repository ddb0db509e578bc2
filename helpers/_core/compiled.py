"""One compile cache for every technique, with one retracing policy.

The policy: a compiled step is built once per (Keras model, key) and kept as long as the
model lives: the steps are stored on the model itself, so dropping the model frees them with
it (a weak-keyed table would not, since each step holds its model). A key starts with the
name of the module that builds it ("cam.guided", "ascent.layer_model"), so keys never collide. Each step is a callable
*object* wrapped in ``tf.function`` with ``reduce_retracing=True``: the first new batch size
traces once more, after which TensorFlow relaxes the shapes and stops retracing. The key
names everything that changes the graph (layer, objective, image size), so a new key is a
new graph on purpose; ``quiet_tracing`` hides TensorFlow's "frequent retracing" warning,
which is meant for accidents and would only alarm students.

Objects rather than closures: TensorFlow counts traces per Python function, and one closure
per model and layer would look to it like one function retraced over and over.
"""

from __future__ import annotations

import contextlib

import keras
import tensorflow as tf

_ATTRIBUTE = "_cnnvis_cache"


def _per_model(net: keras.Model) -> dict:
    cache = net.__dict__.get(_ATTRIBUTE)
    if cache is None:
        cache = {}
        # object.__setattr__: Keras would otherwise track the dict as part of the model.
        object.__setattr__(net, _ATTRIBUTE, cache)
    return cache


def compiled(net: keras.Model, key: tuple, build):
    """The compiled step for (``net``, ``key``): ``tf.function(build(), reduce_retracing=True)``
    made on first use and cached with the model."""
    per_model = _per_model(net)
    if key not in per_model:
        per_model[key] = tf.function(build(), reduce_retracing=True)
    return per_model[key]


def cached(net: keras.Model, key: tuple, build):
    """Any object ``build()`` made once per (``net``, ``key``), e.g. a sub-model."""
    per_model = _per_model(net)
    if key not in per_model:
        per_model[key] = build()
    return per_model[key]


@contextlib.contextmanager
def quiet_tracing():
    """Silence TensorFlow's retracing warning inside the block (see the module docstring)."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)
