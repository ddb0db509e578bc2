"""Progress bars: shown for long work when someone watches, absent in tests and builds."""

from tqdm.std import tqdm

from helpers._core import progress as bars


def test_long_work_gets_a_bar_that_yields_every_step(monkeypatch):
    monkeypatch.setenv(bars.PROGRESS_ENV, "1")
    steps = range(10)
    bar = bars.progress(steps, desc="channels")
    assert isinstance(bar, tqdm) and bar.total == 10 and bar.desc == "channels"
    assert list(bar) == list(steps)


def test_tests_and_builds_turn_bars_off(monkeypatch):
    monkeypatch.setenv(bars.PROGRESS_ENV, "0")
    steps = range(10)
    assert bars.progress(steps) is steps


def test_work_too_short_for_a_bar_gets_none(monkeypatch):
    monkeypatch.setenv(bars.PROGRESS_ENV, "1")
    steps = range(bars.MIN_STEPS - 1)
    assert bars.progress(steps) is steps
