#!/usr/bin/env bash
# Predicts the tokens and the POS/NER/DEP tags of masked words with a LERT
# checkpoint (predict_linguistic.py).
#
# Usage: scripts/predict_linguistic.sh SIZE CHECKPOINT INPUT [flags...]
#   SIZE: tiny | small | base | large (the config in configs/), or "auto"
#         to use the bert_config.json beside the checkpoint (a checkpoint
#         made by convert_checkpoint.py has one).
#   CHECKPOINT: a checkpoint prefix or a directory holding one.
#   INPUT: a tagged JSON Lines file of linguistic_tagger.py (*.jsonl: words
#          are masked at random and accuracy is printed), a text file (one
#          input per line), or a text with [MASK] in it.
# Extra flags are passed on, e.g. --mask=位于,哈尔滨市 --output_file=p.jsonl
#   --use_tpu --tpu_name=my-tpu.
set -euo pipefail
source "$(dirname "$0")/python.sh"
if [ $# -lt 3 ]; then
  sed -n '2,15p' "$0"; exit 1
fi
SIZE=$1; CHECKPOINT=$2; INPUT=$3; shift 3
HERE=$(cd "$(dirname "$0")/.." && pwd)
ARGS=(--checkpoint="$CHECKPOINT")
if [ "$SIZE" != auto ]; then
  ARGS+=(--bert_config_file="$HERE/configs/lert_config_${SIZE}.json")
fi
case "$INPUT" in
  *.jsonl|*.jsonl.gz) ARGS+=(--tagged_file="$INPUT") ;;
  *) if [ -f "$INPUT" ]; then ARGS+=(--input_file="$INPUT");
     elif [[ "$INPUT" == *"[MASK]"* ]] || [[ " $* " == *" --mask"* ]]; then
       ARGS+=(--text="$INPUT")
     else
       echo "$(basename "$0"): error: INPUT '$INPUT' is no file, and as a text it has no [MASK] and no --mask is given (a misspelt file name?)." >&2
       exit 1
     fi ;;
esac
exec "$PYTHON" "$HERE/predict_linguistic.py" "${ARGS[@]}" "$@"
