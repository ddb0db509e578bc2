import subprocess
import sys
from pathlib import Path


def test_import_prints_no_tensorflow_start_up_lines_and_keeps_stderr():
    # The C++ start-up lines ("Could not find cuda drivers", absl) would show as red error
    # text in every notebook's setup cell; stderr must work again after the import.
    script = "import sys, os, helpers; os.write(2, b'still here\\n')"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, env={"PATH": "/usr/bin:/bin"},
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    assert "cudart" not in result.stderr and "absl" not in result.stderr, result.stderr
    assert "still here" in result.stderr
