"""The main job: execute every notebook headless and render each to HTML.

``python -m helpers.build [--model NAME] [--out build]`` writes ``build/notebooks/*.ipynb``
(executed) and ``build/html/*.html``, then prints where they are. The lecture's network
defaults to ``$CNNVIS_MODEL`` or MobileNet (the lab model where its weights cannot be had).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from queue import Empty

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
#: The class path: every numbered section's heading ends with one of these marks.
MARKS = ("[in class]", "[deep dive]")
SECTION = re.compile(r"^## (\d+)\. (.*)$", flags=re.M)


def section_marks(notebook) -> list[str]:
    """For each cell of ``notebook``, the class path it belongs to: "setup" before the first
    numbered section (the title and the setup cell, which class needs too), then "in class",
    "deep dive" or "unmarked" after a numbered ``## N. Title [mark]`` heading, and "end" from
    ``## Summary`` on. A heading cell belongs to its own section."""
    marks, current = [], "setup"
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                numbered = SECTION.match(line)
                if numbered:
                    title = numbered.group(2).rstrip()
                    current = next((m[1:-1] for m in MARKS if title.endswith(m)), "unmarked")
                elif line.startswith("## ") and current != "setup":
                    current = "end"
        marks.append(current)
    return marks


class Client(NotebookClient):
    """nbclient's client, reading the kernel's replies in one-second slices.

    With widgets on the page, nbclient can miss the reply that ends a cell and wait out the
    whole cell timeout while the kernel sits idle (jupyter/nbclient#312; seen here on the
    explorer cells, 15 minutes at a time). Asking again every second finds the reply.
    """

    async def async_start_new_kernel_client(self):
        client = await super().async_start_new_kernel_client()
        channel = client.shell_channel
        read = channel.get_msg

        async def get_msg(timeout=None):
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                left = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
                try:
                    return await read(timeout=max(left, 0.0))
                except Empty:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise

        channel.get_msg = get_msg
        return client


def run_notebook(notebook, folder: Path, log: Path, timeout: int = 900):
    """Execute ``notebook`` in place, as if it sat in ``folder``; the kernel's stderr goes to
    ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    # The kernel process's own chatter (transport warnings, native library lines) goes to a
    # log file, not between the progress lines; cell outputs are in the notebook.
    with open(log, "w") as kernel_stderr:
        Client(notebook, timeout=timeout, kernel_name="python3",
               resources={"metadata": {"path": str(folder)}}).execute(stderr=kernel_stderr)
    return notebook


def execute(path: Path, out_dir: Path, timeout: int = 900) -> Path:
    """Run one notebook in its own folder; save the executed copy and its HTML rendering."""
    notebook = nbformat.read(path, as_version=4)
    run_notebook(notebook, path.parent, out_dir / "logs" / path.with_suffix(".log").name,
                 timeout)
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
    os.environ.setdefault("CNNVIS_PROGRESS", "0")  # nobody watches a headless build's bars
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
