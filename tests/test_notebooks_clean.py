"""Every notebook is stored clean and follows the series' skeleton."""

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name.startswith("00_")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: strip outputs (python tools/nbmake.py {path})"
            assert cell.execution_count is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_follows_the_skeleton(path):
    nb = nbformat.read(path, as_version=4)
    first, setup = nb.cells[0], nb.cells[1]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {path.name[:2]} ")
    assert f"colab.research.google.com/github/" in first.source and path.name in first.source
    assert setup.cell_type == "code" and setup.source.startswith("# Setup")
    assert sum("# Setup" in c.source for c in nb.cells if c.cell_type == "code") == 1
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "## Summary" in text and "## Try it" in text
    links = set(re.findall(r"\]\((\d\d_[a-z_]+\.ipynb)\)", text))
    index = NOTEBOOKS.index(path)
    neighbours = {p.name for p in NOTEBOOKS[max(0, index - 1):index + 2]} - {path.name}
    assert neighbours <= links, f"{path.name} must link to {sorted(neighbours - links)}"
    for link in links:
        assert (path.parent / link).exists() or link > path.name, f"dead link {link}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_imports_helpers_before_tensorflow(path):
    # helpers loads TensorFlow quietly; importing it first prints red start-up lines.
    setup = nbformat.read(path, as_version=4).cells[1].source
    imports = re.findall(r"^(?:import|from) (\w+)", setup, flags=re.M)
    assert "helpers" in imports, f"{path.name}: the setup cell must import helpers"
    first = imports.index("helpers")
    early = [name for name in imports[:first] if name in ("tensorflow", "keras")]
    assert not early, f"{path.name}: import {early} after helpers, which quiets TensorFlow"
