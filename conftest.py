"""Test-wide setup, for unit tests and for the notebooks run by nbval.

Keras looks for downloaded weights in ``$KERAS_HOME/models``. Unless KERAS_HOME is already
set, the tests use a fresh writable folder filled from the user's own cache and from the
offline copy in ``../shared/keras/models`` (the CI machine's), so no test downloads.
``--model NAME`` runs the notebooks on another model (exported as CNNVIS_MODEL).
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parent
OFFLINE_MODELS = [Path.home() / ".keras" / "models", ROOT.parent / "shared" / "keras" / "models"]


def _prepare_keras_home() -> None:
    if "KERAS_HOME" in os.environ:
        return
    home = Path(tempfile.mkdtemp(prefix="cnnvis_keras_home_"))
    models = home / "models"
    models.mkdir()
    for folder in OFFLINE_MODELS:
        if folder.is_dir():
            for src in folder.iterdir():
                if src.is_file() and not (models / src.name).exists():
                    shutil.copy(src, models / src.name)
    os.environ["KERAS_HOME"] = str(home)


_prepare_keras_home()


def pytest_addoption(parser):
    parser.addoption("--model", default=None,
                     help="model the notebooks run on: shapes (default), mobilenet or vgg16")


def pytest_configure(config):
    model = config.getoption("--model")
    if model:
        os.environ["CNNVIS_MODEL"] = model


def pytest_collection_modifyitems(config, items):
    model = os.environ.get("CNNVIS_MODEL", "shapes")
    if model == "shapes":
        return
    from helpers.models import unavailable_reason

    reason = unavailable_reason(model)
    if reason:
        skip = pytest.mark.skip(reason=f"notebooks on {model} skipped: {reason}")
        for item in items:
            if str(item.fspath).endswith(".ipynb"):
                item.add_marker(skip)
