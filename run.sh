#!/usr/bin/env bash
# The two commands of this project (see README.md):
#   ./run.sh         set up .venv once, then execute every notebook into build/ (the main job)
#   ./run.sh test    set up .venv once, then run the whole test suite
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
if [ ! -f .venv/.installed ] || [ requirements.txt -nt .venv/.installed ] \
   || [ pyproject.toml -nt .venv/.installed ]; then
  echo "Setting up .venv (first run only; a few minutes)..."
  "$python" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  .venv/bin/python -m pip install -q --no-deps -e .
  touch .venv/.installed
  echo "Set up .venv in ${SECONDS} s."
fi
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-3}

case "${1:-build}" in
  build)
    .venv/bin/python -m helpers.build "${@:2}" ;;
  test)
    # unit tests, then every notebook on the lecture's network (MobileNet) and the lab...
    .venv/bin/python -m pytest "${@:2}"
    # ...and every notebook again with no ImageNet weights at all: the lab alone
    CNNVIS_OFFLINE=1 .venv/bin/python -m pytest notebooks "${@:2}" ;;
  bench)
    .venv/bin/python -m bench "${@:2}" ;;
  *)
    echo "usage: ./run.sh [build|test|bench]" >&2; exit 2 ;;
esac
