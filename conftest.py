"""Test-wide setup, for unit tests and for the notebooks run by nbval.

Keras looks for downloaded weights in ``$KERAS_HOME/models``. Unless KERAS_HOME is already
set, the tests use a fresh writable folder filled from the user's own cache and from the
offline copy in ``../shared/keras/models`` (the CI machine's), so no test downloads.
``--model NAME`` runs the notebooks on another lecture network (exported as CNNVIS_MODEL);
``--lab-only`` runs them with no ImageNet weights at all (an empty Keras cache and downloads
off), where every notebook falls back to the lab model.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("CNNVIS_PROGRESS", "0")  # no progress bars in test output or nbval

ROOT = Path(__file__).resolve().parent
OFFLINE_MODELS = [Path.home() / ".keras" / "models", ROOT.parent / "shared" / "keras" / "models"]


def _prepare_keras_home(empty: bool = False) -> None:
    if "KERAS_HOME" in os.environ and not empty:
        return
    home = Path(tempfile.mkdtemp(prefix="cnnvis_keras_home_"))
    models = home / "models"
    models.mkdir()
    os.environ["KERAS_HOME"] = str(home)
    if empty:
        return
    for folder in OFFLINE_MODELS:
        if folder.is_dir():
            for src in folder.iterdir():
                if src.is_file() and not (models / src.name).exists():
                    shutil.copy(src, models / src.name)


_prepare_keras_home(empty=os.environ.get("CNNVIS_OFFLINE") == "1")


def pytest_addoption(parser):
    parser.addoption("--model", default=None,
                     help="lecture network the notebooks run on: mobilenet (default), vgg16, "
                          "mobilenet_v2, mobilenet_small or shapes")


def pytest_configure(config):
    model = config.getoption("--model")
    if model:
        os.environ["CNNVIS_MODEL"] = model


def pytest_report_header(config):
    from helpers.models import default_model_name, unavailable_reason

    model = default_model_name()
    reason = model != "shapes" and unavailable_reason(model)
    if reason:
        return f"notebooks: {model} unavailable, they fall back to the lab model ({reason})"
    return f"notebooks: lecture network {model} and the lab model shapes"
