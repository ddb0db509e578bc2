import nbformat
import pytest

from helpers import build


def write_notebook(path, source):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, path)
    return path


def test_executes_a_notebook_into_html_and_keeps_kernel_chatter_apart(tmp_path, capsys):
    source = write_notebook(tmp_path / "01_ok.ipynb",
                            "import os\nos.write(2, b'native noise')\nprint(6 * 7)")
    assert build.main([str(source), "--out", str(tmp_path / "build")]) == 0
    executed = nbformat.read(tmp_path / "build" / "notebooks" / "01_ok.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "42\n"
    assert "42" in (tmp_path / "build" / "html" / "01_ok.html").read_text()
    assert "native noise" in (tmp_path / "build" / "logs" / "01_ok.log").read_text()
    out = capsys.readouterr()
    assert "01_ok.ipynb:" in out.out and "native noise" not in out.out + out.err


def test_a_failing_notebook_is_named_and_fails_the_job(tmp_path, capsys):
    source = write_notebook(tmp_path / "02_bad.ipynb", "raise ValueError('no such layer')")
    assert build.main([str(source), "--out", str(tmp_path / "build")]) == 1
    err = capsys.readouterr().err
    assert "FAILED 02_bad.ipynb" in err and "no such layer" in err and "Kernel log" in err


def test_figures_reach_the_notebook_even_with_a_script_backend_set(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    source = write_notebook(tmp_path / "03_plot.ipynb",
                            "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()")
    assert build.main([str(source), "--out", str(tmp_path / "build")]) == 0
    executed = nbformat.read(tmp_path / "build" / "notebooks" / "03_plot.ipynb", as_version=4)
    assert any("image/png" in output.get("data", {}) for output in executed.cells[0].outputs)
    assert "data:image/png;base64" in (tmp_path / "build" / "html" / "03_plot.html").read_text()


def test_section_marks_follow_each_numbered_heading_until_the_summary():
    import nbformat

    from helpers.build import section_marks

    cells = [nbformat.v4.new_markdown_cell("# 00 · Title"), nbformat.v4.new_code_cell("# Setup"),
             nbformat.v4.new_markdown_cell("## 1. First [in class]"),
             nbformat.v4.new_code_cell("x = 1"),
             nbformat.v4.new_markdown_cell("text\n\n## 2. Second [deep dive]"),
             nbformat.v4.new_code_cell("y = 2"),
             nbformat.v4.new_markdown_cell("## 3. Third, not marked"),
             nbformat.v4.new_markdown_cell("### 3.1 a subsection"),
             nbformat.v4.new_markdown_cell("## Summary"), nbformat.v4.new_code_cell("z = 3")]
    notebook = nbformat.v4.new_notebook(cells=cells)
    assert section_marks(notebook) == ["setup", "setup", "in class", "in class", "deep dive",
                                       "deep dive", "unmarked", "unmarked", "end", "end"]
