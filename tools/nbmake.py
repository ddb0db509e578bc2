"""Write a clean notebook (no outputs, standard python3 kernel) from a list of cells.

Authors: ``save("notebooks/x.ipynb", [md("# Title"), code("x = 1")])``.
After editing in JupyterLab: ``python tools/nbmake.py notebooks/*.ipynb`` strips the outputs.
"""

from __future__ import annotations

import textwrap

import nbformat

COLAB = "https://colab.research.google.com/github/how-cnns-see/how-cnns-see/blob/main/notebooks/"
REPO = "https://github.com/how-cnns-see/how-cnns-see"

SETUP = f'''\
# Setup (the only setup cell). On Colab, fetch the course's `helpers` package first.
import os, sys
if "google.colab" in sys.modules:
    if not os.path.isdir("how-cnns-see"):
        !git clone -q --depth 1 {REPO}
    sys.path.insert(0, "how-cnns-see")
'''


def md(text: str):
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip())


def code(text: str):
    return nbformat.v4.new_code_cell(textwrap.dedent(text).strip())


def badge(filename: str) -> str:
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({COLAB}{filename})")


def save(path: str, cells) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, cell in enumerate(nb.cells):
        cell.id = f"c{i:02d}"  # stable ids keep git diffs small
    nbformat.write(nb, path)


def clean(path: str) -> None:
    """Strip outputs and execution counts from a notebook saved from JupyterLab."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata = {}
    nb.metadata = {key: nb.metadata[key] for key in ("kernelspec", "language_info")
                   if key in nb.metadata}
    nbformat.write(nb, path)


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:]:
        clean(name)
