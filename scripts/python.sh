#!/usr/bin/env bash
# Sourced by the wrappers: PYTHON is the project's TF 2.15 environment
# (.venv-tf2, made by `make venvs`), or $PYTHON when it is set.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv-tf2/bin/python}
if ! [ -x "$PYTHON" ] && ! command -v "$PYTHON" > /dev/null 2>&1; then
  echo "$(basename "$0"): error: no Python at $PYTHON: run 'make venvs' in $ROOT, or set PYTHON to a Python with the project's requirements." >&2
  exit 1
fi
