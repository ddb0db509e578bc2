"""Models by name, all with the same face: logits out, their preprocessing, their class names.

The series gives models two roles:

- the **lecture's network**, a real ImageNet classifier shown on real photos:
  ``'mobilenet'`` (MobileNet, width 1.0: 4.2 M parameters, a 17 MB download, about 70% top-1;
  the default), ``'vgg16'`` (the lecture's slides: 138 M parameters, 528 MB),
  ``'mobilenet_v2'`` (14 MB) or ``'mobilenet_small'`` (MobileNet width 0.25, 2 MB, weak);
- the **lab**, ``'shapes'``: the embedded model of a synthetic world whose ground truth is known.

``load_model(name)`` returns a :class:`VisModel` whose ``model`` always ends in the
classifier's pre-softmax scores f_c, since gradients through a saturated softmax are close to
zero. ``lecture_model()`` is what the notebooks call: the lecture's network, or the lab with
one line saying why when the weights cannot be had offline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import keras
import numpy as np

from helpers import imagenet
from helpers._core import graph as layers
from helpers.cache import OfflineError, fetch
from helpers.images import SAMPLE_IMAGES, load_image

#: Environment variable that picks the notebooks' model (default: the embedded one).
MODEL_ENV = "CNNVIS_MODEL"
#: Environment variable that picks the notebooks' image (a sample name, path or URL).
IMAGE_ENV = "CNNVIS_IMAGE"
DEFAULT_MODEL = "mobilenet"
#: The embedded model of the synthetic shapes world: the lab, where ground truth is known.
LAB_MODEL = "shapes"

_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class _ImageNetSpec:
    builder: Callable
    kwargs: dict
    fname: str
    url: str
    preprocess: Callable
    size: int = 224


def _imagenet_specs():
    apps = keras.applications
    return {
        "vgg16": _ImageNetSpec(
            apps.VGG16, {}, "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
            _WEIGHTS_URL + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5",
            apps.vgg16.preprocess_input),
        "mobilenet": _ImageNetSpec(
            apps.MobileNet, {"alpha": 1.0}, "mobilenet_1_0_224_tf.h5",
            _WEIGHTS_URL + "mobilenet/mobilenet_1_0_224_tf.h5",
            apps.mobilenet.preprocess_input),
        "mobilenet_v2": _ImageNetSpec(
            apps.MobileNetV2, {"alpha": 1.0},
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
            _WEIGHTS_URL + "mobilenet_v2/"
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
            apps.mobilenet_v2.preprocess_input),
        "mobilenet_small": _ImageNetSpec(
            apps.MobileNet, {"alpha": 0.25}, "mobilenet_2_5_224_tf.h5",
            _WEIGHTS_URL + "mobilenet/mobilenet_2_5_224_tf.h5",
            apps.mobilenet.preprocess_input),
    }


MODEL_NAMES = ("mobilenet", "vgg16", "mobilenet_v2", "mobilenet_small", "shapes")
#: The lecture's networks: real ImageNet classifiers, weights from the Keras cache.
LECTURE_MODELS = tuple(name for name in MODEL_NAMES if name != LAB_MODEL)
#: What each one costs to fetch, for messages and the README.
DOWNLOAD_SIZES = {"mobilenet": "17 MB", "vgg16": "528 MB", "mobilenet_v2": "14 MB",
                  "mobilenet_small": "2 MB"}
_MOBILENET_STAGES = (("conv_pw_1", "conv_pw_1_relu"), ("conv_pw_3", "conv_pw_3_relu"),
                     ("conv_pw_6", "conv_pw_6_relu"), ("conv_pw_11", "conv_pw_11_relu"))
#: Layers to show filters and activations of, early to deep: (convolution, its rectified
#: output). The first convolution on pixels is left out: notebook 02 draws its kernels.
STAGE_LAYERS = {
    "shapes": tuple((f"block{b}_conv{c}",) * 2 for b, c in ((1, 1), (2, 2), (3, 2), (4, 2))),
    "mobilenet": _MOBILENET_STAGES,
    "mobilenet_small": _MOBILENET_STAGES,
    "mobilenet_v2": tuple((f"block_{b}_expand", f"block_{b}_expand_relu") for b in (1, 3, 6, 13)),
    "vgg16": tuple((f"block{b}_conv{c}",) * 2 for b, c in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))),
}
_ALIASES = {"embedded": "shapes", "shapes_cnn": "shapes", "lab": "shapes",
            "mobilenet_1.0": "mobilenet", "mobilenetv2": "mobilenet_v2",
            "mobilenet_0.25": "mobilenet_small", "vgg": "vgg16"}


@dataclass(eq=False)
class VisModel:
    """A classifier ready for visualization.

    Attributes:
        name: the name it was loaded by ('vgg16', 'mobilenet', 'shapes').
        model: the Keras model; its output is logits (pre-softmax class scores).
        class_names: one name per output, in order.
        input_size: (height, width) the model expects.
        preprocess_fn: maps a uint8 RGB batch to the model's input.
        samples: sample images for this model, by short name.
    """

    name: str
    model: keras.Model
    class_names: tuple[str, ...]
    input_size: tuple[int, int]
    preprocess_fn: Callable[[np.ndarray], np.ndarray]
    samples: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return (f"VisModel({self.name!r}, input {self.input_size[0]}x{self.input_size[1]}, "
                f"{len(self.class_names)} classes)")

    def load(self, source) -> np.ndarray:
        """An image (sample name, path, URL or array) as uint8 RGB at the model's input size."""
        if isinstance(source, str) and source in self.samples:
            return self.samples[source]
        return load_image(source, size=self.input_size)

    def preprocess(self, images) -> np.ndarray:
        """Uint8 RGB pixels to model input, resized if needed: one image (H, W, 3), a sample
        name, path or URL gives one input (h, w, 3); a batch or list of images gives a batch.

        Raises:
            ValueError: the array is not an RGB image or batch of them.
        """
        if isinstance(images, str | os.PathLike):
            images = self.load(images)
        batch = np.asarray(images)
        single = batch.ndim == 3
        if single:
            batch = batch[None]
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise ValueError(
                f"Expected an RGB image (H, W, 3) or batch (N, H, W, 3); got shape {batch.shape}. "
                "Load photos with vm.load(...) first."
            )
        if batch.shape[1:3] != self.input_size:
            batch = np.stack([self.load(image) for image in batch])
        x = np.asarray(self.preprocess_fn(batch.astype(np.float32)), dtype=np.float32)
        return x[0] if single else x

    def logits(self, images) -> np.ndarray:
        """Pre-softmax scores f_c of uint8 images: (classes,) for one image, (N, classes) for
        a batch."""
        x = self.preprocess(images)
        scores = keras.ops.convert_to_numpy(self.model(x[None] if x.ndim == 3 else x,
                                                       training=False))
        return scores[0] if x.ndim == 3 else scores

    def predict(self, images) -> np.ndarray:
        """Class probabilities (softmax of the logits): (classes,) for one image, (N, classes)
        for a batch."""
        return keras.ops.convert_to_numpy(keras.ops.softmax(self.logits(images), axis=-1))

    def top_k(self, image, k: int = 5) -> list[tuple[int, str, float]]:
        """The ``k`` most probable classes of one image as (index, name, probability)."""
        probs = np.atleast_2d(self.predict(image))[0]
        order = np.argsort(probs)[::-1][:k]
        return [(int(i), self.class_names[i], float(probs[i])) for i in order]

    def class_index(self, cls) -> int:
        """Index of a class given by name ('flamingo') or index, checked.

        Raises:
            ValueError: unknown name (close names suggested) or index out of range.
        """
        if isinstance(cls, str):
            return imagenet.index_of(cls, self.class_names)
        index = int(cls)
        if not 0 <= index < len(self.class_names):
            raise ValueError(
                f"Class index {index} is out of range: {self.name} has "
                f"{len(self.class_names)} classes (0 to {len(self.class_names) - 1})."
            )
        return index

    def find_classes(self, part: str) -> list[tuple[int, str]]:
        """All (index, name) of classes whose name contains ``part``."""
        return imagenet.find(part, self.class_names)

    def stage_layers(self) -> list[tuple[str, str]]:
        """(convolution, rectified output) pairs from early to deep, to show filters of."""
        return list(STAGE_LAYERS[self.name])

    def conv_layers(self) -> list[str]:
        """Names of the convolution layers, input to output."""
        return layers.conv_layers(self.model)

    def feature_layers(self) -> list[str]:
        """Names of the rectified convolutional feature maps (see ``layers.feature_layers``)."""
        return layers.feature_layers(self.model)

    def last_conv_layer(self) -> str:
        """The last rectified convolutional feature map: the default layer for Grad-CAM."""
        return layers.last_conv_layer(self.model)


def canonical_name(name: str) -> str:
    """The canonical model name for ``name`` (case and aliases forgiven).

    Raises:
        ValueError: unknown model name; the message lists the valid ones.
    """
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in MODEL_NAMES:
        raise ValueError(
            f"Unknown model {name!r}. Choose one of: {', '.join(MODEL_NAMES)} "
            f"('mobilenet' is the lecture's default network, 'shapes' the embedded lab model)."
        )
    return key


def default_model_name() -> str:
    """The lecture's network the notebooks use: ``$CNNVIS_MODEL`` or 'mobilenet'."""
    return canonical_name(os.environ.get(MODEL_ENV, DEFAULT_MODEL))


def default_image(vm: VisModel, prefer: str | None = None) -> str:
    """The notebooks' image: ``$CNNVIS_IMAGE``, else the sample ``prefer`` where ``vm`` has
    it (e.g. the lab's two-object scene), else the model's first sample."""
    if os.environ.get(IMAGE_ENV):
        return os.environ[IMAGE_ENV]
    return prefer if prefer in vm.samples else next(iter(vm.samples))


def load_model(name: str | None = None, weights: str | None = "imagenet") -> VisModel:
    """Load a model by name (see ``MODEL_NAMES``; default: ``$CNNVIS_MODEL`` or 'mobilenet').

    ImageNet weights come from the Keras cache (``$KERAS_HOME/models``) and are downloaded
    once if missing. ``weights=None`` builds an ImageNet architecture with random weights and
    downloads nothing: for testing code paths, never for pictures.

    Raises:
        ValueError: unknown model name, or ``weights`` other than 'imagenet' or None.
        OfflineError: ImageNet weights are not cached and the network is unreachable.
    """
    name = default_model_name() if name is None else canonical_name(name)
    if weights not in ("imagenet", None):
        raise ValueError(f"weights must be 'imagenet' or None (random); got {weights!r}.")
    if name == LAB_MODEL:
        return _load_shapes()
    return _load_imagenet(name, pretrained=weights == "imagenet")


def lecture_model(name: str | None = None) -> VisModel:
    """The lecture's network on real photos, or the lab when its weights cannot be had.

    Offline with the weights not cached, this prints one line saying what is missing and how
    to get it, and returns the embedded ``shapes`` model instead of failing, so that every
    notebook still runs top to bottom.
    """
    name = default_model_name() if name is None else canonical_name(name)
    try:
        return load_model(name)
    except OfflineError:
        if name == LAB_MODEL:
            raise
        print(f"Note: the lecture's network ({name}, {DOWNLOAD_SIZES[name]}) is not in the "
              f"Keras cache and cannot be downloaded here, so this notebook runs on the lab "
              f"model 'shapes' instead. To get it: `python -m helpers.download {name}` once "
              f"while online.")
        return load_model(LAB_MODEL)


def lab_model() -> VisModel:
    """The lab: the embedded ``shapes`` model, where every scene's ground truth is known."""
    return load_model(LAB_MODEL)


def _load_shapes() -> VisModel:
    from helpers import shapes, shapes_cnn

    samples = {name: image for name, (image, _) in shapes.sample_scenes().items()}
    return VisModel("shapes", shapes_cnn.load_trained(), shapes.CLASSES,
                    (shapes.IMAGE_SIZE, shapes.IMAGE_SIZE), shapes_cnn.preprocess, samples)


def weights_path(name: str):
    """Path of an ImageNet model's weights in the Keras cache, downloading them if needed.

    Raises:
        OfflineError: not cached and the network is unreachable.
    """
    name = canonical_name(name)
    if name not in LECTURE_MODELS:
        raise ValueError(f"{name!r} has no ImageNet weights to fetch; choose one of "
                         f"{', '.join(LECTURE_MODELS)}.")
    spec = _imagenet_specs()[name]
    return fetch(spec.fname, spec.url, what=f"The ImageNet weights for {name} ({spec.fname})",
                 fix=f"Run `python -m helpers.download {name}` once while online, or use the "
                     "lab model with load_model('shapes') (or CNNVIS_MODEL=shapes).")


def unavailable_reason(name: str) -> str | None:
    """Why ImageNet model ``name``'s weights cannot be had here (offline), or None."""
    try:
        weights_path(name)
    except OfflineError as err:
        return str(err)
    return None


def _load_imagenet(name: str, pretrained: bool = True) -> VisModel:
    spec = _imagenet_specs()[name]
    weights = str(weights_path(name)) if pretrained else None
    model = spec.builder(weights=weights, classifier_activation=None, **spec.kwargs)
    samples = {key: load_image(key, size=spec.size) for key in SAMPLE_IMAGES}
    return VisModel(name, model, _imagenet_names(pretrained), (spec.size, spec.size),
                    spec.preprocess, samples)


def _imagenet_names(pretrained: bool) -> tuple[str, ...]:
    """ImageNet's class names; for random weights offline, placeholders are as good."""
    try:
        return imagenet.class_names()
    except OfflineError:
        if pretrained:
            raise
        return tuple(f"class_{i}" for i in range(1000))
