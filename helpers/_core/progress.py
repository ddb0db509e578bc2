"""Progress bars for long work, shown to a person and quiet for machines.

A bar is tqdm's (its notebook widget in Jupyter, text elsewhere). It stays quiet when nobody
watches: under nbval and the headless build (both set ``CNNVIS_PROGRESS=0``), and for work too
short to need one (fewer than ``MIN_STEPS`` steps).
"""

from __future__ import annotations

import os

#: Environment variable: "0" turns every bar off (set by the tests and the build).
PROGRESS_ENV = "CNNVIS_PROGRESS"
#: Work with fewer steps than this is over before a bar would help.
MIN_STEPS = 4


def enabled() -> bool:
    """Whether bars are shown (``CNNVIS_PROGRESS`` is not "0")."""
    return os.environ.get(PROGRESS_ENV, "1") != "0"


def progress(iterable, total: int | None = None, desc: str = ""):
    """``iterable`` wrapped in a progress bar when one helps; ``iterable`` itself otherwise.

    Args:
        iterable: the steps of the work.
        total: how many steps (default: ``len(iterable)``).
        desc: what the work is, a few words ("Score-CAM channels").
    """
    total = len(iterable) if total is None and hasattr(iterable, "__len__") else total
    if not enabled() or (total is not None and total < MIN_STEPS):
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False)
