"""Class neurons: the image that maximizes one class's score, and what the model makes of it.

A thin layer over ``helpers.ascent``: ``class_images`` grows one image per class with the
lecture's update I <- I + eta * grad f_c(I), on the logit f_c or the softmax probability p_c,
then asks the model what it sees in each generated image (its logit, probability and top
prediction). Models follow the contract of ``helpers._core``: a ``VisModel`` or a Keras
model, whose final softmax is removed (with a notice) so that "the logit" is one; a model
whose outputs merely look like probabilities is refused. ``predict``, ``top_classes`` and
``objective_gradient_rms`` take one preprocessed image or a batch, of any size the model's
layers accept (each is judged at its own size), and classes by name or index. The figures
(``show_class_images``, ``show_ascent_curves``, ``show_step_sizes``) live in
``class_neurons_figures`` and are importable from here. ``notebook_settings`` gives notebook
03's per-model sizes.

References:
    Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks: Visualising Image
    Classification Models and Saliency Maps" (2013).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import keras
import numpy as np

from helpers import ascent
from helpers._core.compiled import cached
from helpers._core.gradients import input_gradients
from helpers._core.graph import at_size
from helpers._core.inputs import Prepared, as_batch, prepare
from helpers._core.model import class_index, class_indices, logits_model
from helpers.class_neurons_figures import (caption, show_ascent_curves,  # noqa: F401
                                           show_class_images, show_step_sizes)
from helpers.saliency_explorer import class_picker
from helpers.widgets import Panel


@dataclass
class Prediction:
    """What the model says about images generated for target classes: one entry each, or
    numbers instead of arrays for one image (``prediction[0]``).

    Attributes:
        classes: the target class of each image.
        logits: f_c of each image for its target class.
        others: the mean logit of all the other classes.
        probabilities: p_c, the softmax probability of its target class.
        top: the class the model ranks first.
        top_probabilities: the probability of that class.
        class_names: names of all the model's classes.
    """

    classes: np.ndarray
    logits: np.ndarray
    others: np.ndarray
    probabilities: np.ndarray
    top: np.ndarray
    top_probabilities: np.ndarray
    class_names: tuple[str, ...]

    @property
    def hits(self) -> np.ndarray:
        """Whether the model's top prediction is the target class, per image."""
        return self.top == self.classes

    def __getitem__(self, index) -> Prediction:
        """The entries of some images: ``prediction[:2]`` or ``prediction[[0, 3]]``."""
        index = np.arange(len(self.classes))[index]
        return Prediction(*(field[index] for field in (
            self.classes, self.logits, self.others, self.probabilities, self.top,
            self.top_probabilities)), self.class_names)

    def __str__(self) -> str:
        rows = [f"{'target class':>20s} {'f_c':>9s} {'others':>8s} {'p_c':>8s}   "
                + "top prediction"]
        columns = (self.classes, self.logits, self.others, self.probabilities, self.top,
                   self.top_probabilities)
        for c, f, o, p, t, q in zip(*map(np.atleast_1d, columns)):
            rows.append(f"{self.class_names[c]:>20s} {f:9.2f} {o:8.2f} {p:8.1%}   "
                        f"{self.class_names[t]} ({q:.1%})")
        return "\n".join(rows)


def _at_size(net: keras.Model, size) -> keras.Model:
    """``net`` itself, or the same layers and weights on an input of ``size`` (built once per
    model and size): a class image grown smaller than the model's input (fewer pixels, a
    faster ascent) is judged at the size it was grown, exactly as the ascent saw it."""
    native = tuple(net.inputs[0].shape[1:3])
    if native == tuple(size) or None in native:
        return net
    shape = (*size, int(net.inputs[0].shape[-1]))
    return cached(net, ("class_neurons.at_size", shape), lambda: at_size(net, shape))


def _prepare(model, inputs, classes=None) -> Prepared:
    """``prepare`` (``helpers._core.inputs``) for inputs of any size the layers accept."""
    x, single = as_batch(inputs)
    call = prepare(_at_size(logits_model(model), x.shape[1:3]), x)
    indices = None if classes is None else class_indices(model, classes, len(x))
    return Prepared(call.net, call.x, indices, single)


def _logits(call: Prepared) -> np.ndarray:
    return keras.ops.convert_to_numpy(call.net(call.x, training=False))


def predict(model, inputs, classes) -> Prediction:
    """The model's view of preprocessed ``inputs``, each for its target class.

    Args:
        model: a ``VisModel`` or a Keras model.
        inputs: one preprocessed image (H, W, C) or a batch (N, H, W, C); another size than
            the model's own is evaluated by the same layers at that size (global average
            pooling makes the classifier size-independent).
        classes: one class (name or index) for all inputs, or one per input.

    Returns:
        a ``Prediction``: arrays of N entries, or numbers for one image.
    """
    call = _prepare(model, inputs, classes)
    logits = _logits(call)
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))
    rows = np.arange(len(logits))
    target = logits[rows, call.classes]
    others = (logits.sum(axis=-1) - target) / max(logits.shape[-1] - 1, 1)
    names = tuple(getattr(model, "class_names", None) or map(str, range(logits.shape[-1])))
    top = logits.argmax(axis=-1)
    return call.output(Prediction(call.classes, target, others, probs[rows, call.classes], top,
                                  probs[rows, top], names))


def top_classes(model, inputs, k: int = 5) -> np.ndarray:
    """The ``k`` classes the model ranks highest for each preprocessed input, best first:
    (N, k) for a batch, (k,) for one image; inputs of another size than the model's are
    evaluated at their own size."""
    call = _prepare(model, inputs)
    return call.output(np.argsort(-_logits(call), axis=-1, kind="stable")[:, :k])


@dataclass
class ClassImages:
    """Images generated for classes, and the model's verdict on them.

    Attributes:
        images: displayable RGB uint8 images (N, H, W, 3).
        inputs: the images as the model sees them (preprocessed), (N, H, W, C).
        prediction: the model's ``Prediction`` for them.
        history: the objective at every step, (steps, N).
        objective: "logit" or "softmax".
        regularization: the name of the rung used.
    """

    images: np.ndarray
    inputs: np.ndarray
    prediction: Prediction
    history: np.ndarray
    objective: str = "logit"
    regularization: str = "naive"

    def __getitem__(self, index) -> ClassImages:
        """The images of some classes: ``result[:1]``."""
        index = np.arange(len(self.images))[index]
        return ClassImages(self.images[index], self.inputs[index], self.prediction[index],
                           self.history[:, index], self.objective, self.regularization)

    def __str__(self) -> str:
        return (f"{self.objective} maximized with '{self.regularization}', "
                f"{len(self.history)} steps:\n{self.prediction}")


def from_inputs(model, inputs, classes, history=None, objective: str = "logit",
                regularization: str = "naive") -> ClassImages:
    """``ClassImages`` for inputs (N, H, W, C) optimized elsewhere (e.g. by a hand-written
    loop), one class (name or index) each."""
    call = _prepare(model, inputs, classes)
    images = np.stack([ascent.image_from_input(model, x) for x in call.x])
    history = (np.zeros((0, len(call.x)), np.float32) if history is None
               else np.asarray(history))
    return ClassImages(images, call.x, predict(model, call.x, call.classes), history,
                       objective, regularization)


def class_images(model, classes, *, objective: str = "logit", steps: int = 64,
                 regularization="normalized", init: str = "zeros", **kwargs) -> ClassImages:
    """Grow one image per class by gradient ascent on its logit (or probability).

    Args:
        model: a ``VisModel`` (classes by name or index) or a Keras model; a final softmax
            is removed, so that the logit is maximized.
        classes: a class or a list of them, by name ('flamingo') or index.
        objective: ``"logit"``, the pre-softmax score f_c (the lecture's choice), or
            ``"softmax"``, the probability p_c.
        steps: gradient steps.
        regularization: a rung of ``ascent.LADDER`` ('naive', 'normalized', 'decay_blur',
            'robust', 'fourier') or an ``ascent.Regularization``.
        init: ``"zeros"`` (flat grey, as in the lecture) or ``"noise"``.
        **kwargs: more options of ``ascent.maximize`` (lr, seed, size, ...).

    Returns:
        a ``ClassImages``.

    Raises:
        ValueError: unknown class name (close names suggested), index out of range, an
            objective other than logit or softmax, or a model whose outputs are
            probabilities without a softmax layer to remove.
    """
    classes = [classes] if np.ndim(classes) == 0 else list(classes)
    indices = class_indices(model, classes, len(classes))
    # ascent applies the core's softmax rule: a final softmax is removed, probabilities refused
    result = ascent.maximize_classes(model, indices, objective=objective, steps=steps,
                                     regularization=regularization, init=init, **kwargs)
    return ClassImages(result.images, result.inputs, predict(model, result.inputs, indices),
                       result.history, objective, result.regularization.name)


def objective_gradient_rms(model, inputs, classes, objective: str = "logit"):
    """Root mean square of d f_c / d I (``"logit"``) or d p_c / d I (``"softmax"``): (N,)
    for a batch, a number for one image.

    Since d p_c / d I = p_c (d f_c / d I - sum_j p_j d f_j / d I), the softmax's gradient
    vanishes as p_c approaches 0 or 1: this measures how much.
    """
    call = _prepare(model, inputs, classes)
    _, grads = input_gradients(call.net, call.x, call.classes, objective)
    return call.output(np.sqrt(np.mean(np.square(grads, dtype=np.float64), axis=(1, 2, 3))))


class NotebookSettings(NamedTuple):
    """Notebook 03's sizes for one model, chosen so that each cell stays within 30 s on two
    CPU cores (VGG16 costs about 20 MobileNets per step: fewer classes, steps and samples)."""

    classes: list           # classes to grow images for, by name
    steps: int              # plain ascent (sections 1 and 2)
    ladder_steps: int       # regularized ascent (section 3)
    click_steps: int        # one click of the class explorer
    size: int | None        # side of the regularized images (None: the model's own)
    samples: int            # SmoothGrad's noisy copies
    ig_steps: int           # Integrated Gradients' points on the path
    panel: float            # inches per image in the figures


def notebook_settings(vm) -> NotebookSettings:
    """Notebook 03's ``NotebookSettings`` for a ``VisModel``: every shape for the lab model
    ``shapes``; the lecture's flamingo and three other classes for an ImageNet model, whose
    regularized images are grown at 160 px (half the pixels of 224, half the cost per step:
    a classifier ending in global average pooling takes any size). The regularized images
    take as many steps as one explorer click, so that the explorer can show them for free."""
    if vm.name == "shapes":
        return NotebookSettings(list(vm.class_names), 64, 64, 64, None, 32, 64, 1.9)
    if vm.name == "vgg16":
        return NotebookSettings(["flamingo", "goldfish"], 24, 24, 16, None, 8, 32, 2.6)
    return NotebookSettings(["flamingo", "goldfish", "tarantula", "ladybug"], 40, 64, 64,
                            160, 32, 64, 2.6)


# ---------------------------------------------------------------------------- interactive


class ClassExplorer:
    """Generates (and remembers) one class image per (class, objective, rung, steps), grown
    at ``size`` (default: the model's input size; smaller is faster)."""

    def __init__(self, vm, size=None):
        self.vm = vm
        self.size = size
        self._seen: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}  # key -> (image, input)
        self.seconds_per_step: float | None = None  # measured on the last generation

    def remember(self, result: ClassImages, steps: int) -> None:
        """Keep the images of an earlier ``class_images`` call, so they are not recomputed."""
        for k, c in enumerate(result.prediction.classes):
            key = (int(c), result.objective, result.regularization, int(steps))
            self._seen[key] = (result.images[k], result.inputs[k])

    def is_ready(self, cls, objective: str = "logit", rung: str = "robust",
                 steps: int = 64) -> bool:
        """Whether that image is already remembered (drawing it costs nothing)."""
        return (class_index(self.vm, cls), objective, rung, int(steps)) in self._seen

    def estimate(self, steps: int) -> float | None:
        """Seconds a new image of ``steps`` steps should take, from the last one; None before
        the first."""
        return None if self.seconds_per_step is None else self.seconds_per_step * steps

    def generate(self, cls, objective: str = "logit", rung: str = "robust",
                 steps: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """(displayable image, model input) for the class, generated once."""
        import time

        key = (class_index(self.vm, cls), objective, rung, int(steps))
        if key not in self._seen:
            start = time.perf_counter()
            self.remember(class_images(self.vm, key[0], objective=objective,
                                       regularization=rung, steps=steps, size=self.size), steps)
            self.seconds_per_step = (time.perf_counter() - start) / steps
        return self._seen[key]

    def figure(self, cls, objective: str = "logit", rung: str = "robust", steps: int = 64):
        """The generated image and the model's top-5 classes for it, as a
        ``matplotlib.figure.Figure`` (outside pyplot: safe from a widget's callback thread)."""
        from matplotlib.figure import Figure

        image, x = self.generate(cls, objective, rung, steps)
        target = class_index(self.vm, cls)
        prediction = predict(self.vm, x[None], target)  # a batch of one, for _caption
        probs = keras.ops.convert_to_numpy(
            keras.ops.softmax(_logits(_prepare(self.vm, x)), axis=-1))[0]
        top = np.argsort(-probs, kind="stable")[:5]
        fig = Figure(figsize=(8, 3.2))
        ax_image, ax_bars = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]})
        ax_image.imshow(image)
        ax_image.axis("off")
        text, colour = caption(prediction, 0)
        ax_image.set_title(f"{self.vm.class_names[target]}: {objective}, {rung}, {steps} steps"
                           f"\n{text}", fontsize=9, color=colour)
        ax_bars.barh([self.vm.class_names[i] for i in top][::-1], probs[top][::-1],
                     color=["#00798c" if i == target else "#8a8f98" for i in top][::-1])
        ax_bars.set_xlim(0, 1)
        ax_bars.set_xlabel("the model's probability for the generated image")
        ax_bars.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        return fig


def class_explorer(vm, cls=0, rung: str = "robust", steps: int = 64, seen=(), size=None):
    """The interactive class-image generator: search a class by name, choose the objective,
    regularization rung and steps, press "Generate". Results are remembered; ``seen`` is a
    list of (``ClassImages``, steps) computed earlier (at the same ``size``), so the default
    view (drawn right away, also when the notebook runs headless) can cost nothing. Images
    are grown at ``size`` (default: the model's input size). Before a new image is grown,
    the status line says how long it should take, from the time of the last one.

    Returns:
        (the widget box to display, the ``ClassExplorer`` behind it).
    """

    import ipywidgets as widgets

    explorer = ClassExplorer(vm, size)
    for result, result_steps in seen:
        explorer.remember(result, result_steps)
    style = {"description_width": "initial"}
    classes, chosen_class = class_picker(vm, cls)
    objective = widgets.Dropdown(options=["logit", "softmax"], value="logit",
                                 description="maximize", style=style)
    pick_rung = widgets.Dropdown(options=list(ascent.LADDER), value=rung,
                                 description="regularization", style=style)
    pick_steps = widgets.IntSlider(value=steps, min=8, max=256, step=8, description="steps",
                                   style=style)
    button = widgets.Button(description="Generate", button_style="primary")
    panel = Panel()

    def draw(_=None):
        choice = (chosen_class(), objective.value, pick_rung.value, pick_steps.value)
        expected = explorer.estimate(pick_steps.value)
        busy = ("drawing..." if explorer.is_ready(*choice) else "generating..."
                if expected is None else f"generating, about {expected:.0f} s...")
        panel.show(lambda: explorer.figure(*choice), "done", busy)

    button.on_click(draw)
    draw()
    return panel.box([classes, objective], [pick_rung, pick_steps, button]), explorer
