"""The Colab path: each notebook's setup cell, run as Colab runs it, clones the repository from
its one address (here a local copy), imports ``helpers`` from the clone, finds ``data/`` and
loads the default model; a failed clone says what to do in one line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import nbmake  # noqa: E402

from helpers.models import default_model_name, unavailable_reason  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))

#: What the setup cell is followed by in this test: the facts a student's next cell relies on.
REPORT = """
import json as _json, helpers as _helpers
_vm = globals().get("vm") or _helpers.lecture_model()
_photo = _vm.load(_helpers.default_image(_vm))
print("REPORT" + _json.dumps({"helpers": _helpers.__file__, "model": _vm.name,
                              "data": str(_helpers.images.DATA_DIR), "photo": _photo.shape}))
"""


def _setup_source(path: Path) -> str:
    return nbformat.read(path, as_version=4).cells[1].source


@pytest.fixture
def colab(tmp_path):
    """A Colab stand-in: a ``google.colab`` module already imported, an empty working folder."""
    work = tmp_path / "content"
    work.mkdir()

    def run(source: str, repo: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, CNNVIS_REPO=repo, MPLBACKEND="Agg")
        code = ("import sys, types\n"
                "sys.modules['google.colab'] = types.ModuleType('google.colab')\n" + source)
        return subprocess.run([sys.executable, "-c", code], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)

    return run, work


def test_every_badge_setup_cell_and_the_readme_use_the_one_address():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert nbmake.badge(path.name) in nb.cells[0].source, f"{path.name}: run tools/nbmake.py --sync-setup"
        assert nb.cells[1].source.startswith(nbmake.SETUP), f"{path.name}: run tools/nbmake.py --sync-setup"
    assert nbmake.REPO in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_setup_cell_runs_on_colab_from_a_fresh_clone(path, colab):
    run, work = colab
    done = run(_setup_source(path) + REPORT, f"file://{ROOT}")
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(l for l in done.stdout.splitlines() if l.startswith("REPORT"))
    report = json.loads(line[len("REPORT"):])
    assert Path(report["helpers"]).is_relative_to(work / "how-cnns-see"), report
    assert Path(report["data"]).is_relative_to(work / "how-cnns-see"), report
    assert report["photo"][-1] == 3, "the sample photo did not load from the clone's data/"
    expected = default_model_name()
    assert report["model"] == ("shapes" if unavailable_reason(expected) else expected)


def test_a_failed_clone_says_what_to_do_in_one_line(colab, tmp_path):
    run, _ = colab
    done = run(_setup_source(NOTEBOOKS[0]), f"file://{tmp_path}/no-such-repository")
    assert done.returncode != 0
    said = [l for l in done.stderr.splitlines() if "Could not clone" in l]
    assert said == [f"Could not clone file://{tmp_path}/no-such-repository: check the internet, "
                    "or upload how-cnns-see/ and rerun."]
