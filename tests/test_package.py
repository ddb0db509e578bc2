import subprocess
import sys
from pathlib import Path


def run_python(script: str, env=None) -> subprocess.CompletedProcess:
    """``script`` in a fresh interpreter from the repository root, with a minimal environment."""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, env={"PATH": "/usr/bin:/bin", **(env or {})},
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    return result


def test_import_prints_no_tensorflow_start_up_lines_and_keeps_stderr():
    # The C++ start-up lines ("Could not find cuda drivers", absl) would show as red error
    # text in every notebook's setup cell; stderr must work again after the import.
    result = run_python("import sys, os, helpers; os.write(2, b'still here\\n')")
    assert "cudart" not in result.stderr and "absl" not in result.stderr, result.stderr
    assert "still here" in result.stderr


def _onednn_setting(env):
    """TensorFlow's own view of whether its oneDNN kernels are on, after ``import helpers``."""
    return run_python("import helpers\n"
                      "from tensorflow.python.util import _pywrap_util_port as port\n"
                      "print(port.IsMklEnabled())", env).stdout.strip()


def test_helpers_turns_onednn_on_unless_the_user_chose():
    # oneDNN trains the shapes CNN about 2x faster on AVX2 CPUs, where TensorFlow leaves it off.
    assert _onednn_setting({}) == "True"
    assert _onednn_setting({"TF_ENABLE_ONEDNN_OPTS": "0"}) == "False"
