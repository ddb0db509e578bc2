"""The main job: execute every notebook headless and render each to HTML.

``python -m helpers.build [--model NAME] [--out build]`` writes ``build/notebooks/*.ipynb``
(executed) and ``build/html/*.html``, then prints where they are. The lecture's network
defaults to ``$CNNVIS_MODEL`` or MobileNet (the lab model where its weights cannot be had).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def execute(path: Path, out_dir: Path, timeout: int = 900) -> Path:
    """Run one notebook in its own folder; save the executed copy and its HTML rendering."""
    notebook = nbformat.read(path, as_version=4)
    log = out_dir / "logs" / path.with_suffix(".log").name
    log.parent.mkdir(parents=True, exist_ok=True)
    # The kernel process's own chatter (transport warnings, native library lines) goes to a
    # log file, not between the progress lines; cell outputs are in the notebook.
    with open(log, "w") as kernel_stderr:
        NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}
                       ).execute(stderr=kernel_stderr)
    executed = out_dir / "notebooks" / path.name
    executed.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, executed)
    html, _ = HTMLExporter().from_notebook_node(notebook)
    page = out_dir / "html" / path.with_suffix(".html").name
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(html, encoding="utf-8")
    return page


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Execute every notebook and render HTML.")
    parser.add_argument("--model", help="the lecture's network: mobilenet (default), vgg16, "
                                          "mobilenet_v2, mobilenet_small or shapes")
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: all in notebooks/)")
    args = parser.parse_args(argv)
    if args.model:
        os.environ["CNNVIS_MODEL"] = args.model
    # Kernels inherit the environment: a non-interactive backend chosen for scripts (Agg)
    # would stop them from drawing any figure into the notebooks.
    os.environ.pop("MPLBACKEND", None)
    paths = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    for path in paths:
        start = time.perf_counter()
        try:
            page = execute(path, args.out.resolve())
        except CellExecutionError as err:
            print(f"FAILED {path.name}:\n{err}\nKernel log: {args.out.resolve() / 'logs'}",
                  file=sys.stderr)
            return 1
        print(f"{path.name}: {time.perf_counter() - start:.0f} s -> {page}")
    print(f"\nExecuted notebooks: {args.out.resolve() / 'notebooks'}")
    print(f"HTML pages:         {args.out.resolve() / 'html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
