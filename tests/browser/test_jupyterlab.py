"""Every notebook in a real JupyterLab, driven by a real (headless) Chromium.

nbval runs the code but never draws a widget or presses a button. Here JupyterLab runs from
this environment on 127.0.0.1 (a free port, a token, stopped at the end), each notebook runs
all its cells in the browser, and then each explorer's buttons are pressed twice, with a
control changed in between, the way a student would. Asserted per notebook: no error output,
no "Error displaying widget", formulas typeset; per click: the figure in the explorer's cell
is replaced in place (never stacked above the old one) by a new, non-blank one within
``CLICK_TIMEOUT_S``. Screenshots of every explorer go to ``build/browser/`` for a person to
look at, with the measured click-to-figure times in ``build/browser/clicks.txt``.

Needs Debian's ``chromium`` and the ``playwright`` package; without them the tests skip and
say so, except where ``CNNVIS_REQUIRE_BROWSER=1`` (CI) turns the skip into a failure.
"""

from __future__ import annotations

import base64
import io
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
SHOTS = ROOT / "build" / "browser"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
RUN_TIMEOUT_S = int(os.environ.get("CNNVIS_BROWSER_RUN_TIMEOUT", 900))
CLICK_TIMEOUT_S = 60
# Buttons that need something only a person can give (a file to upload) before they draw.
NEEDS_A_PERSON = {"Score it"}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    if not Path(CHROMIUM).exists():
        return "no Chromium (apt-get install chromium)"
    return None


def _skip_or_fail():
    reason = _missing()
    if reason and os.environ.get("CNNVIS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests required here (CNNVIS_REQUIRE_BROWSER=1), but {reason}")
    if reason:
        pytest.skip(f"browser tests need a browser: {reason}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1: (base URL, token)."""
    _skip_or_fail()
    port, token = _free_port(), secrets.token_hex(16)
    state = tmp_path_factory.mktemp("jupyterlab")
    # JupyterLab saves what it runs: serve copies, so the stored notebooks stay clean
    served = tmp_path_factory.mktemp("served")
    shutil.copytree(ROOT / "notebooks", served / "notebooks")
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # kernels draw inline
    env["CNNVIS_PROGRESS"] = "1"  # a student sees progress bars: they must render too
    log = open(state / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={served}",
         "--LabApp.expose_app_in_browser=True", f"--LabApp.workspaces_dir={state}",
         f"--LabApp.user_settings_dir={state}", "--allow-root"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start; see {state / 'server.log'}")
            time.sleep(0.5)
    yield url, token
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


# The notebook's state, read from JupyterLab's own model of it.
NOTEBOOK_STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = panel.content.model.cells;
  let pending = 0, errors = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    if (cell.executionCount === null) pending++;
    for (const out of cell.outputs.toJSON())
      if (out.output_type === 'error') errors.push(`cell ${i}: ${out.ename}: ${out.evalue}`);
  }
  return {pending, errors, idle: !!kernel && kernel.status === 'idle'};
}"""


def _open_and_run(page, lab, notebook: Path):
    url, token = lab
    # ?reset: a fresh workspace, so that no tab of an earlier notebook is restored and run
    page.goto(f"{url}/lab/tree/notebooks/{notebook.name}?reset&token={token}")
    page.wait_for_function("""name => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
        return w && w.context && w.context.isReady && w.context.path.endsWith(name)
               && w.sessionContext.session && w.sessionContext.session.kernel
               && w.sessionContext.session.kernel.status === 'idle'; }""",
                           arg=notebook.name, timeout=120_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.time() + RUN_TIMEOUT_S
    while time.time() < deadline:
        page.wait_for_timeout(1000)
        state = page.evaluate(NOTEBOOK_STATE)
        if state["errors"] or (state["pending"] == 0 and state["idle"]):
            return state
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"stuck_{notebook.stem}.png"))
    pytest.fail(f"{notebook.name}: cells still running after {RUN_TIMEOUT_S} s: {state}")


def _is_blank(src: str) -> bool:
    """A figure with (almost) one colour, or one that is not a PNG at all."""
    from PIL import Image

    if not src.startswith("data:image/png;base64,"):
        return True
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
                        .convert("L"), dtype=float)
    return pixels.std() < 2.0


def _figures(cell) -> list[str]:
    return cell.locator(".jp-OutputArea-output img").evaluate_all("els => els.map(e => e.src)")


def _change_a_control(cell, round_: int) -> None:
    """Pick another option in the explorer's first drop-down, so the second click differs."""
    selects = cell.locator(".jupyter-widgets select")
    if selects.count():
        options = selects.first.locator("option").all_inner_texts()
        if len(options) > 1:
            selects.first.select_option(index=round_ % len(options))


def _press(page, cell, button, name: str, round_: int, times: list) -> None:
    before = _figures(cell)
    start = time.perf_counter()
    button.click()
    deadline = time.time() + CLICK_TIMEOUT_S
    while time.time() < deadline:
        page.wait_for_timeout(250)
        after = _figures(cell)
        busy = not page.evaluate(NOTEBOOK_STATE)["idle"]
        if not busy and after and after != before:
            break
    else:
        pytest.fail(f"{name}: no new figure within {CLICK_TIMEOUT_S} s of the click")
    times.append(time.perf_counter() - start)
    assert len(after) <= max(len(before), 1), \
        f"{name}: the click stacked a figure ({len(before)} before, {len(after)} after)"
    assert not any(_is_blank(src) for src in after), f"{name}: a blank figure after the click"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_runs_and_its_explorers_answer_in_the_browser(notebook, lab, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        state = _open_and_run(page, lab, notebook)
        assert not state["errors"], f"{notebook.name}: {state['errors']}"
        assert page.get_by_text("Error displaying widget").count() == 0
        if "$" in notebook.read_text():
            assert page.locator("mjx-container").count() > 0, "formulas were not typeset"
        SHOTS.mkdir(parents=True, exist_ok=True)
        times: list[float] = []
        cells = page.locator(".jp-CodeCell").filter(
            has=page.locator("button.jupyter-button:not(.widget-upload)"))
        for c in range(cells.count()):
            cell = cells.nth(c)
            buttons = cell.locator("button.jupyter-button:not(.widget-upload)")  # no file dialogs
            for b in range(buttons.count()):
                label = buttons.nth(b).inner_text().strip()
                if label in NEEDS_A_PERSON:
                    continue
                name = f"{notebook.stem}, button {label!r}"
                for round_ in (1, 2):
                    _change_a_control(cell, round_)
                    _press(page, cell, buttons.nth(b), name, round_, times)
                cell.screenshot(path=str(SHOTS / f"{notebook.stem}_{c}_{b}.png"))
        with open(SHOTS / "clicks.txt", "a") as log:
            for t in times:
                log.write(f"{notebook.stem}: {t:.1f} s from click to new figure\n")
    finally:
        page.close()
