"""The live budget: how long each cell of every notebook takes on the lecture's network.

``python -m bench live [--model mobilenet] [notebooks...]`` executes the notebooks headless
(as ``./run.sh`` does) and prints, per notebook, its total time, its slowest cell and every
cell over the in-class budget of 30 s. Absolute seconds depend on the machine, so each is also
given in units of a reference timed in the same run: one forward pass of the model on a batch
of 32 images. Measure on an otherwise idle machine; the budget is for two CPU cores.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime
from pathlib import Path

import nbformat

BUDGET_S = 30.0
ROOT = Path(__file__).resolve().parent.parent


def reference_seconds(model_name: str, repeats: int = 3) -> float:
    """Seconds of one forward pass on 32 images: the unit the cell times are given in."""
    import numpy as np

    import helpers

    vm = helpers.lecture_model(model_name)
    x = np.zeros((32, *vm.input_size, 3), np.float32)
    vm.model.predict(x, verbose=0)  # the first call builds the graph
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        vm.model.predict(x, verbose=0)
        best = min(best, time.perf_counter() - start)
    return best


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


def main(argv=None) -> int:
    from nbclient.exceptions import CellExecutionError

    from helpers.build import NOTEBOOKS, execute

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "live")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    os.environ["CNNVIS_MODEL"] = args.model
    os.environ.pop("MPLBACKEND", None)
    unit = reference_seconds(args.model)
    print(f"reference: one forward pass of {args.model} on 32 images = {unit:.2f} s "
          f"({os.cpu_count()} CPUs visible)")
    paths = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    worst_overall = 0.0
    for path in paths:
        start = time.perf_counter()
        try:
            execute(path, args.out.resolve())
        except CellExecutionError as err:
            print(f"{path.name}: FAILED, {str(err).splitlines()[-1][:200]}")
            continue
        total = time.perf_counter() - start
        cells = cell_seconds(nbformat.read(args.out / "notebooks" / path.name, as_version=4))
        index, worst, line = max(cells, key=lambda c: c[1])
        worst_overall = max(worst_overall, worst)
        print(f"{path.name}: {total:5.0f} s in all; slowest cell [{index}] {worst:5.1f} s "
              f"= {worst / unit:5.1f} references  ({line})")
        for index, seconds, line in cells:
            if seconds > BUDGET_S:
                print(f"    over {BUDGET_S:.0f} s: cell [{index}] {seconds:.1f} s ({line})")
    print(f"slowest cell of all: {worst_overall:.1f} s (budget {BUDGET_S:.0f} s)")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
