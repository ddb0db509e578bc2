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


MAX_CELL_LINES = 20


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_code_cell_is_over_20_lines(path):
    cells = nbformat.read(path, as_version=4).cells
    long = {i: len(c.source.splitlines()) for i, c in enumerate(cells)
            if c.cell_type == "code" and len(c.source.splitlines()) > MAX_CELL_LINES}
    assert not long, (f"{path.name}: cells {long} (index: lines) are over {MAX_CELL_LINES} "
                      "lines; move figure assembly or tables into helpers")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_section_is_marked_for_the_class_path(path):
    from helpers.build import section_marks

    nb = nbformat.read(path, as_version=4)
    marks = section_marks(nb)
    unmarked = [c.source.splitlines()[0] for c, m in zip(nb.cells, marks)
                if m == "unmarked" and c.cell_type == "markdown" and c.source.startswith("## ")]
    assert not unmarked, f"{path.name}: end these headings with [in class] or [deep dive]: {unmarked}"
    assert "in class" in marks, f"{path.name} has no section marked [in class]"
    taught = re.search(r"\*\*In class:\*\* sections ((?:\d+|, | and )+)", nb.cells[0].source)
    assert taught, f"{path.name}: the intro needs a line '**In class:** sections 1, 2 (...)'"
    headings = [re.match(r"## (\d+)\. .*\[in class\]$", line)
                for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()]
    marked = sorted(int(m.group(1)) for m in headings if m)
    assert [int(n) for n in re.findall(r"\d+", taught.group(1))] == marked, (
        f"{path.name}: the intro's in-class sections differ from the marked headings {marked}")
