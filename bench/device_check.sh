#!/usr/bin/env bash
# The one-command GPU check (bench/device_check.py says what it measures):
#
#   bench/device_check.sh                 # a machine with one NVIDIA GPU
#   bench/device_check.sh --device=cpu --tiny   # every part on the CPU
#
# On a GPU it runs in its own environment, .venv-gpu (or $DEVICE_CHECK_VENV):
# CUDA TensorFlow 2.15 (tensorflow[and-cuda]==2.15.1 and the pins of
# requirements.txt that the training scripts need), installed on first use.
# On the CPU it runs $PYTHON, else .venv-tf2 (make venvs). It stops after
# $DEVICE_CHECK_TIMEOUT seconds (480: the check must finish in 8 minutes on
# an H100/H200) and fails loudly on any error.
set -euo pipefail
cd "$(dirname "$0")/.."
device=gpu
tiny=
for arg in "$@"; do
  case "$arg" in
    --device=*) device="${arg#--device=}" ;;
    --tiny) tiny=1 ;;
    --device) echo "device_check.sh: error: write --device=gpu or --device=cpu." >&2; exit 2 ;;
  esac
done
case "$device" in
  gpu)
    command -v nvidia-smi > /dev/null || {
      echo "device_check.sh: error: no nvidia-smi: this machine has no NVIDIA driver (use --device=cpu)." >&2; exit 1; }
    venv="${DEVICE_CHECK_VENV:-.venv-gpu}"
    if [ ! -x "$venv/bin/python" ] || [ ! -e "$venv/.installed" ]; then
      python311="$(scripts/find_python.sh 3.11)"
      [ -n "$python311" ] || { echo "device_check.sh: error: python3.11 not found." >&2; exit 1; }
      echo "Installing CUDA TensorFlow 2.15.1 into $venv (once)..." >&2
      rm -rf "$venv"
      "$python311" -m venv "$venv"
      "$venv/bin/python" -m pip install --quiet --upgrade "pip==24.3.1"
      "$venv/bin/python" -m pip install --quiet "tensorflow[and-cuda]==2.15.1" \
        $(grep -E '^(absl-py|numpy|six|tensorflow-estimator|protobuf|google-crc32c)==' requirements.txt)
      touch "$venv/.installed"
    fi
    python="$venv/bin/python"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2
    ;;
  cpu)
    # LERT-base on two CPU cores would run past the time limit and print
    # nothing: the CPU run is the check of the parts, at the tiny size.
    [ -n "$tiny" ] || {
      echo "device_check.sh: error: --device=cpu runs LERT-base for longer than the ${DEVICE_CHECK_TIMEOUT:-480} s limit: add --tiny (every part at a tiny size)." >&2; exit 2; }
    python="${PYTHON:-.venv-tf2/bin/python}" ;;
  *) echo "device_check.sh: error: --device must be gpu or cpu, not '$device'." >&2; exit 2 ;;
esac
exec timeout "${DEVICE_CHECK_TIMEOUT:-480}" "$python" -m bench.device_check "$@"
