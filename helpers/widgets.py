"""One skeleton for every explorer: controls, a status line and one output area.

JupyterLab runs a widget's callback on another kernel thread. A figure drawn there with
``pyplot`` lives in pyplot's global list of figures, where the inline backend's end-of-cell
hook can find it, show it half drawn elsewhere and close it (blank or partial explorer
figures, seen in a real browser). So an explorer renders each figure to PNG bytes itself,
closes it, and puts the picture into its own output area, replacing what was there: a click
never stacks a new figure above the old one, and the default view lives in the same area.
"""

from __future__ import annotations

import base64
import io
import time
from typing import Callable

import matplotlib.pyplot as plt

from helpers.plotting import offscreen

#: Resolution of explorer pictures: the inline backend's default, so they match the notebook.
DPI = 100


def figure_png(fig) -> bytes:
    """The figure rendered to PNG (as the inline backend would, tight box), then closed."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    finally:
        plt.close(fig)
    return buffer.getvalue()


class Panel:
    """The output half of an explorer: ``panel.show(draw)`` replaces the picture.

    ``draw`` returns a Matplotlib figure (or None after printing); its time goes to the status
    line, and an error becomes one readable line in the output area instead of a traceback
    lost in the kernel's log.
    """

    def __init__(self):
        import ipywidgets as widgets

        self.out = widgets.Output()
        self.status = widgets.Label()

    def show(self, draw: Callable[[], object], what: str = "drawn",
             busy: str = "working...") -> None:
        start = time.perf_counter()
        self.status.value = busy
        try:
            with offscreen():  # figure functions build their figures outside pyplot here
                fig = draw()
        except Exception as err:  # noqa: BLE001 - shown to the student, who can fix the input
            self.say(f"{type(err).__name__}: {err}")
            self.status.value = "failed"
            return
        if fig is not None:
            png = base64.b64encode(figure_png(fig)).decode("ascii")
            # One assignment of the whole output list: the old picture is replaced in a single
            # state update, safely from any thread (no clear-then-append in between).
            self.out.outputs = ({"output_type": "display_data", "metadata": {},
                                 "data": {"image/png": png, "text/plain": "<Figure>"}},)
        self.status.value = f"{what} in {time.perf_counter() - start:.1f} s"

    def say(self, text: str) -> None:
        """Replace the output area's content with one line of text."""
        self.out.outputs = ({"output_type": "stream", "name": "stdout", "text": text + "\n"},)

    def box(self, *rows):
        """Rows of controls, then the status line, then the output area, as one widget."""
        import ipywidgets as widgets

        return widgets.VBox([widgets.HBox(list(row)) for row in rows]
                            + [self.status, self.out])
