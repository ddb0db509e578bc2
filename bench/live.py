"""The live budget: how long each cell and each explorer click takes on the lecture's network.

``python -m bench live [--model mobilenet] [notebooks...]`` executes the notebooks headless
(as ``./run.sh`` does) and prints, per notebook, its total time, its slowest cell, every cell
over the in-class budget of 30 s, and the time of one click on every button the notebook
made (each explorer's main button, clicked after the last cell, as a student would), and
the class path: the run time of the setup and [in class] cells and the words of their prose. Absolute
seconds depend on the machine, so each is also given in units of a reference timed in the
same run: one forward pass of the model on a batch of 32 images. Measure on an otherwise idle
machine; the budget is for two CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat

CELL_BUDGET_S = 30.0
CLICK_BUDGET_S = 5.0
ROOT = Path(__file__).resolve().parent.parent

# Appended to each notebook: click every button once, in creation order, and time it.
# ipywidgets keeps every live widget in `_instances`; a click runs its handlers in the kernel.
CLICK_ALL = '''
import json as _json, time as _time, ipywidgets as _widgets
from ipywidgets.widgets.widget import _instances as _all_widgets
_clicks = []
for _button in [w for w in list(_all_widgets.values()) if isinstance(w, _widgets.Button)]:
    _start = _time.perf_counter()
    _button.click()
    _clicks.append((_button.description, _time.perf_counter() - _start))
print("CLICKS" + _json.dumps(_clicks))
'''


def reference_seconds(model_name: str, repeats: int = 3) -> float:
    """Seconds of one forward pass on 32 images: the unit the times are given in.

    Timed in a child process: TensorFlow stays out of this one, which only drives kernels.
    """
    code = (
        "import time, numpy as np, helpers\n"
        f"vm = helpers.lecture_model({model_name!r})\n"
        "x = np.zeros((32, *vm.input_size, 3), np.float32)\n"
        "vm.model.predict(x, verbose=0)\n"  # the first call builds the graph
        "best = float('inf')\n"
        f"for _ in range({repeats}):\n"
        "    start = time.perf_counter(); vm.model.predict(x, verbose=0)\n"
        "    best = min(best, time.perf_counter() - start)\n"
        "print('REFERENCE', best)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.split("REFERENCE")[-1])


def cell_seconds(notebook) -> list[tuple[int, float, str]]:
    """(index, seconds, first line) of every executed code cell, from nbclient's timings."""
    out = []
    for index, cell in enumerate(notebook.cells):
        timing = cell.metadata.get("execution", {})
        if cell.cell_type != "code" or "shell.execute_reply" not in timing:
            continue
        start = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
        first = next((line for line in cell.source.splitlines()
                      if line.strip() and not line.startswith("#")), "")
        out.append((index, (end - start).total_seconds(), first[:60]))
    return out


def click_seconds(cell) -> list[tuple[str, float]]:
    """The (button, seconds) pairs printed by the CLICK_ALL cell."""
    for output in cell.get("outputs", []):
        for line in output.get("text", "").splitlines():
            if line.startswith("CLICKS"):
                return [tuple(pair) for pair in json.loads(line[len("CLICKS"):])]
    return []


def run(path: Path, out_dir: Path, timeout: int = 900):
    """Execute one notebook plus the click cell; return the executed notebook."""
    from helpers.build import run_notebook

    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(CLICK_ALL))
    run_notebook(notebook, path.parent, out_dir / path.with_suffix(".log").name, timeout)
    nbformat.write(notebook, out_dir / path.name)
    return notebook


#: Reading speed for the class path's minutes: words of prose per minute, read aloud or shown.
WORDS_PER_MINUTE = 150


def class_path(notebook, cells) -> tuple[float, int]:
    """(seconds of the code cells, words of prose) of the class path: the setup and every
    section marked [in class] (``helpers.build.section_marks``)."""
    from helpers.build import section_marks

    marks = section_marks(notebook)
    taught = {i for i, mark in enumerate(marks) if mark in ("setup", "in class")}
    seconds = sum(t for index, t, _ in cells if index in taught)
    words = sum(len(notebook.cells[i].source.split()) for i in taught
                if notebook.cells[i].cell_type == "markdown")
    return seconds, words


def report(name: str, notebook, total: float, unit: float) -> float:
    """Print one notebook's line, its class path, its cells over budget and its clicks;
    return the slowest cell."""
    cells = cell_seconds(notebook)[:-1]  # the click cell is not the notebook's own
    index, worst, line = max(cells, key=lambda c: c[1])
    print(f"{name}: {total:5.0f} s in all; slowest cell [{index}] {worst:5.1f} s "
          f"= {worst / unit:5.1f} references  ({line})")
    seconds, words = class_path(notebook, cells)
    print(f"    class path: cells {seconds:5.0f} s, prose {words} words "
          f"(~{words / WORDS_PER_MINUTE:.1f} min at {WORDS_PER_MINUTE} words/min)")
    for index, seconds, line in cells:
        if seconds > CELL_BUDGET_S:
            print(f"    over {CELL_BUDGET_S:.0f} s: cell [{index}] {seconds:.1f} s ({line})")
    for button, seconds in click_seconds(notebook.cells[-1]):
        flag = "  OVER BUDGET" if seconds > CLICK_BUDGET_S else ""
        print(f"    click {button!r}: {seconds:.1f} s = {seconds / unit:.1f} references{flag}")
    return worst


def main(argv=None) -> int:
    from nbclient.exceptions import CellExecutionError

    from helpers.build import NOTEBOOKS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "live")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    os.environ["CNNVIS_MODEL"] = args.model
    os.environ.pop("MPLBACKEND", None)  # the kernels draw their figures, as in class
    unit = reference_seconds(args.model)
    print(f"reference: one forward pass of {args.model} on 32 images = {unit:.2f} s "
          f"({os.cpu_count()} CPUs visible)")
    paths = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    slowest = 0.0
    for path in paths:
        start = time.perf_counter()
        try:
            notebook = run(path, args.out.resolve())
        except CellExecutionError as err:
            print(f"{path.name}: FAILED, {str(err).splitlines()[-1][:200]}")
            continue
        slowest = max(slowest, report(path.name, notebook, time.perf_counter() - start, unit))
    print(f"slowest cell of all: {slowest:.1f} s (budget {CELL_BUDGET_S:.0f} s per cell, "
          f"{CLICK_BUDGET_S:.0f} s per click)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
