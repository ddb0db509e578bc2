"""Write a clean notebook (no outputs, standard python3 kernel) from a list of cells.

Authors: ``save("notebooks/x.ipynb", [md("# Title"), code("x = 1")])``.
After editing in JupyterLab: ``python tools/nbmake.py notebooks/*.ipynb`` strips the outputs.
"""

from __future__ import annotations

import re
import textwrap

import nbformat

#: The repository's one address: the Colab badges, every setup cell and the README use it.
REPO = "https://github.com/how-cnns-see/how-cnns-see"
COLAB = REPO.replace("https://github.com/", "https://colab.research.google.com/github/") + \
    "/blob/main/notebooks/"

#: The first lines of every setup cell, written here once (``sync_setup`` puts them in place).
#: Plain Python, not ``!git``, so that a test can run it as Colab would; CNNVIS_REPO lets that
#: test clone from a local copy.
SETUP = f'''\
# Setup (the only setup cell). On Colab, fetch the course's `helpers` package first.
import os, subprocess, sys
if "google.colab" in sys.modules and not os.path.isdir("how-cnns-see"):
    repo = os.environ.get("CNNVIS_REPO", "{REPO}")
    if subprocess.run(["git", "clone", "-q", "--depth", "1", repo, "how-cnns-see"]).returncode:
        sys.exit(f"Could not clone {{repo}}: check the internet, or upload how-cnns-see/ and rerun.")
sys.path.insert(0, "how-cnns-see")  # the clone, on Colab; no such folder elsewhere
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


def setup_preamble(source: str) -> str:
    """The generated first lines of a setup cell's ``source`` (up to its first own import)."""
    start = source.index("sys.path.insert(0, \"how-cnns-see\")")
    return source[:source.index("\n", start) + 1]


def sync_setup(path: str) -> None:
    """Replace a notebook's setup-cell preamble and Colab badge by the generated ones."""
    nb = nbformat.read(path, as_version=4)
    setup = nb.cells[1]
    setup.source = SETUP + setup.source[len(setup_preamble(setup.source)):]
    title = nb.cells[0]
    name = path.rsplit("/", 1)[-1]
    title.source = re.sub(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)",
                          lambda _: badge(name), title.source, count=1)
    nbformat.write(nb, path)


if __name__ == "__main__":
    import sys

    args = sys.argv[1:]
    action = clean
    if args and args[0] == "--sync-setup":
        action, args = sync_setup, args[1:]
    for name in args:
        action(name)
