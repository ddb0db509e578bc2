"""Figures of generated class images: the images with the model's verdict under each, the
objective during the ascent, and the size of its steps. Importable from
``helpers.class_neurons`` too.
"""

from __future__ import annotations

_MISS = "#c0392b"


def caption(prediction, i: int) -> tuple[str, str]:
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
                text, colour = caption(result.prediction, k)
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


def show_step_sizes(moves, class_names, title: str | None = None):
    """How far each ascent step moved the pixels, relative to the first step, on a log scale.

    With a fixed step size eta, the step is eta * |grad|: this shows how much the objective's
    gradient grew (a step that overshoots) or shrank (an ascent that stalls).

    Args:
        moves: (steps, classes) root mean square pixel change of each step.
        class_names: the name of each column, for the legend.
        title: a title over the panel.

    Returns:
        the figure.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    moves = np.asarray(moves, dtype=np.float64)
    if moves.ndim != 2 or len(moves) == 0 or moves.shape[1] != len(class_names):
        raise ValueError(f"moves must be (steps, classes) with one name per class; got shape "
                         f"{moves.shape} and {len(class_names)} names.")
    fig, ax = plt.subplots(figsize=(5.6, 3))
    for k, name in enumerate(class_names):
        ax.plot(moves[:, k] / moves[0, k], label=name)
    ax.set_yscale("log")
    ax.axhline(1, color="#8a8f98", lw=0.8, ls=":")
    ax.set_xlabel("step")
    ax.set_ylabel("pixels moved / first step")
    ax.set_title(title or "step size during the ascent", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    return fig
