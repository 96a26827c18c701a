#!/usr/bin/env bash
# Repeats a fine-tuning task over several seeds and reports the maximum and
# the mean of its metric, as the paper's tables do.
#
# Usage: scripts/run_seeds.sh TASK SIZE INIT_CHECKPOINT DATA_DIR OUTPUT_DIR [SEEDS]
#   SEEDS: space-separated, default "1 2 3 4 5"; run i writes OUTPUT_DIR/seed-i.
set -euo pipefail
source "$(dirname "$0")/python.sh"
if [ $# -lt 5 ]; then
  sed -n '2,6p' "$0"; exit 1
fi
TASK=$1; SIZE=$2; INIT=$3; DATA=$4; OUT=$5; SEEDS=${6:-1 2 3 4 5}
HERE=$(cd "$(dirname "$0")" && pwd)
if ! [ -f "$HERE/run_$TASK.sh" ]; then
  echo "$(basename "$0"): error: unknown TASK '$TASK': one of $(cd "$HERE" && ls run_*.sh | sed 's/^run_//; s/\.sh$//' | grep -v -e '^pretrain_' -e '^seeds$' | tr '\n' ' ')" >&2
  exit 1
fi
DIRS=()
for SEED in $SEEDS; do
  echo "== $TASK, seed $SEED"
  "$HERE/run_$TASK.sh" "$SIZE" "$INIT" "$DATA" "$OUT/seed-$SEED" "$SEED"
  DIRS+=("$OUT/seed-$SEED")
done
"$PYTHON" "$HERE/summarize_seeds.py" "${DIRS[@]}" | tee "$OUT/summary.txt"
