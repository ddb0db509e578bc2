"""Class neurons: the image that maximizes one class's score, and what the model makes of it.

A thin layer over ``helpers.ascent``: ``class_images`` grows one image per class with the
lecture's update I <- I + eta * grad f_c(I), on the logit f_c or the softmax probability p_c,
then asks the model what it sees in each generated image (its logit, probability and top
prediction). Unlike ``ascent.maximize_classes`` it refuses a model whose output is already
a softmax, since then "the logit" would silently be a probability.

References:
    Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks: Visualising Image
    Classification Models and Saliency Maps" (2013).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from helpers import ascent
from helpers.saliency import check_logits, class_index, keras_model, scores_and_gradients
from helpers.widgets import Panel


@dataclass
class Prediction:
    """What the model says about images generated for target classes (one entry each).

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
                "top prediction"]
        for c, f, o, p, t, q in zip(self.classes, self.logits, self.others,
                                    self.probabilities, self.top, self.top_probabilities):
            rows.append(f"{self.class_names[c]:>20s} {f:9.2f} {o:8.2f} {p:8.1%}   "
                        f"{self.class_names[t]} ({q:.1%})")
        return "\n".join(rows)


_RESIZED: dict = {}  # (id of the Keras model, size) -> (the model, its copy at that size)


def _at_size(net: keras.Model, size: tuple[int, int]) -> keras.Model:
    """``net`` itself, or the same layers and weights on an input of ``size`` (built once):
    a class image grown smaller than the model's input (fewer pixels, a faster ascent) is
    judged at the size it was grown, exactly as the ascent saw it."""
    native = tuple(net.inputs[0].shape[1:3])
    if native == tuple(size) or None in native:
        return net
    key = (id(net), tuple(size))
    if key not in _RESIZED or _RESIZED[key][0] is not net:
        _RESIZED[key] = (net, ascent.layer_model(net, None, size))
    return _RESIZED[key][1]


def predict(model, inputs, classes) -> Prediction:
    """The model's view of preprocessed ``inputs`` (N, H, W, C), each for its target class.

    Inputs smaller or larger than the model's own size are evaluated by the same layers at
    their size (global average pooling makes the classifier size-independent).
    """
    inputs = np.asarray(inputs, np.float32)
    net = _at_size(keras_model(model), inputs.shape[1:3])
    logits = keras.ops.convert_to_numpy(net(inputs, training=False))
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))
    classes = np.asarray(classes, dtype=int)
    rows = np.arange(len(classes))
    target = logits[rows, classes]
    others = (logits.sum(axis=-1) - target) / max(logits.shape[-1] - 1, 1)
    names = tuple(getattr(model, "class_names", None) or map(str, range(logits.shape[-1])))
    top = logits.argmax(axis=-1)
    return Prediction(classes, target, others, probs[rows, classes], top, probs[rows, top],
                      names)


def top_classes(model, inputs, k: int = 5) -> np.ndarray:
    """The ``k`` classes the model ranks highest for each preprocessed input, (N, k), best
    first; inputs of another size than the model's are evaluated at their own size."""
    inputs = np.asarray(inputs, np.float32)
    logits = keras.ops.convert_to_numpy(
        _at_size(keras_model(model), inputs.shape[1:3])(inputs, training=False))
    return np.argsort(-logits, axis=-1, kind="stable")[:, :k]


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
    """``ClassImages`` for inputs optimized elsewhere (e.g. by a hand-written loop)."""
    inputs = np.asarray(inputs, np.float32)
    indices = [class_index(model, c) for c in classes]
    images = np.stack([ascent.image_from_input(model, x) for x in inputs])
    history = np.zeros((0, len(indices)), np.float32) if history is None else np.asarray(history)
    return ClassImages(images, inputs, predict(model, inputs, indices), history, objective,
                       regularization)


def class_images(model, classes, *, objective: str = "logit", steps: int = 64,
                 regularization="normalized", init: str = "zeros", **kwargs) -> ClassImages:
    """Grow one image per class by gradient ascent on its logit (or probability).

    Args:
        model: a ``VisModel`` (classes by name or index) or a Keras model ending in logits.
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
            objective other than logit or softmax, or a model whose output is a softmax.
    """
    net = keras_model(model)
    classes = [classes] if isinstance(classes, str | int | np.integer) else list(classes)
    indices = [class_index(model, c) for c in classes]
    size = getattr(model, "input_size", None) or tuple(net.inputs[0].shape[1:3])
    check_logits(net, np.zeros((2, *size, net.inputs[0].shape[-1]), np.float32))
    result = ascent.maximize_classes(model, indices, objective=objective, steps=steps,
                                     regularization=regularization, init=init, **kwargs)
    return ClassImages(result.images, result.inputs, predict(model, result.inputs, indices),
                       result.history, objective, result.regularization.name)


def objective_gradient_rms(model, inputs, classes, objective: str = "logit") -> np.ndarray:
    """Root mean square of d f_c / d I (``"logit"``) or d p_c / d I (``"softmax"``) per image.

    Since d p_c / d I = p_c (d f_c / d I - sum_j p_j d f_j / d I), the softmax's gradient
    vanishes as p_c approaches 0 or 1: this measures how much.
    """
    indices = [class_index(model, c) for c in classes]
    _, grads = scores_and_gradients(model, inputs, indices, objective=objective)
    return np.sqrt(np.mean(np.square(grads, dtype=np.float64), axis=(1, 2, 3)))


# ---------------------------------------------------------------------------- figures

_MISS = "#c0392b"


def _caption(prediction: Prediction, i: int) -> tuple[str, str]:
    """(text, colour) under a generated image: its logit, probability and the verdict."""
    c, t = prediction.classes[i], prediction.top[i]
    text = f"f_c = {prediction.logits[i]:.3g}, p_c = {prediction.probabilities[i]:.0%}"
    if c == t:
        return text, "black"
    return f"{text}\nseen as {prediction.class_names[t]}", _MISS


def show_class_images(results: dict, examples: dict | None = None, size: float = 1.9,
                      title: str | None = None):
    """Generated class images in a grid: one row per result (e.g. per rung), one column per
    class; under each image its logit f_c, probability p_c and, in red, the class the
    model sees instead when that is not the target. With a single class the results are
    laid out in one row.

    Args:
        results: label -> ``ClassImages``, all for the same classes.
        examples: optional class name -> a real image of the class, drawn as a first row.
        size: inches per panel.
        title: a title over the figure.

    Returns:
        the figure.
    """
    import matplotlib.pyplot as plt

    results = dict(results)
    if not results:
        raise ValueError("Give at least one result: {'naive': class_images(...)}.")
    first = next(iter(results.values())).prediction
    names = [first.class_names[c] for c in first.classes]
    rows = ([("real example", None)] if examples else []) + list(results.items())
    one_row = len(names) == 1 and len(rows) > 1
    shape = (1, len(rows)) if one_row else (len(rows), len(names))
    fig, axes = plt.subplots(*shape, figsize=(size * shape[1], (size + 0.4) * shape[0]),
                             squeeze=False)
    for r, (label, result) in enumerate(rows):
        for k, name in enumerate(names):
            ax = axes[0, r] if one_row else axes[r, k]
            ax.set_xticks([])
            ax.set_yticks([])
            if result is None:
                ax.imshow(examples[name])
                ax.set_xlabel("a real one", fontsize=8)
            else:
                ax.imshow(result.images[k])
                text, colour = _caption(result.prediction, k)
                ax.set_xlabel(text, fontsize=8, color=colour)
            if one_row:
                ax.set_title(label, fontsize=10)
            else:
                if r == 0:
                    ax.set_title(name, fontsize=10)
                if k == 0 and len(rows) > 1:
                    ax.set_ylabel(label, fontsize=10)
    if title or one_row:
        fig.suptitle(title or names[0], fontsize=11)
    fig.tight_layout()
    return fig


def show_ascent_curves(results: dict, ylabel: str = "objective", title: str | None = None):
    """The objective over the steps of each result, one line per class, one panel each."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3), squeeze=False)
    for ax, (label, result) in zip(axes[0], results.items()):
        prediction = result.prediction
        for k, c in enumerate(prediction.classes):
            ax.plot(result.history[:, k], label=prediction.class_names[c])
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.set_title(label, fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0, -1].legend(fontsize=8, frameon=False, loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


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
        """The generated image and the model's top-5 classes for it."""
        import matplotlib.pyplot as plt

        image, x = self.generate(cls, objective, rung, steps)
        target = class_index(self.vm, cls)
        prediction = predict(self.vm, x[None], [target])
        logits = _at_size(keras_model(self.vm), x.shape[:2])(x[None], training=False)
        probs = keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))[0]
        top = np.argsort(probs)[::-1][:5]
        fig, (ax_image, ax_bars) = plt.subplots(1, 2, figsize=(8, 3.2),
                                                gridspec_kw={"width_ratios": [1, 1.4]})
        ax_image.imshow(image)
        ax_image.axis("off")
        text, colour = _caption(prediction, 0)
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

    from helpers.saliency import class_picker

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
