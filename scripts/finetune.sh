#!/usr/bin/env bash
# Fine-tunes and scores one task with the paper's settings (docs/spec.md §6, paper
# Table 3): maximum length, epochs by model size, learning rate 5e-5 / 3e-5
# / 2e-5 for small / base / large, batch 32 (BERT's fine-tuning default;
# the paper does not give one).
#
# Usage: scripts/finetune.sh TASK SIZE INIT_CHECKPOINT DATA_DIR OUTPUT_DIR [SEED]
#   TASK: xnli ocnli chnsenticorp lcqmc bq tnews msra_ner peopledaily
#         cmrc2018 drcd
#   SIZE: small | base | large (configs/lert_config_SIZE.json)
#   INIT_CHECKPOINT: a LERT/BERT checkpoint (convert a Hugging Face model with
#   convert_checkpoint.py first), or "none" for random initialisation
#   DATA_DIR holds the task's files under their usual names (train/dev/test
#   .tsv, .csv, .json or .txt); override with TRAIN_FILE, EVAL_FILE,
#   PREDICT_FILE. A test file, when present, is predicted too.
# Environment overrides: BATCH, LR, EPOCHS, MAXLEN. Extra flags after the
# arguments are passed on (e.g. --use_tpu --tpu_name=my-tpu).
set -euo pipefail
source "$(dirname "$0")/python.sh"
if [ $# -lt 5 ]; then
  sed -n '2,18p' "$0"; exit 1
fi
TASK=$1; SIZE=$2; INIT=$3; DATA=$4; OUT=$5; SEED=${6:-12345}
shift $(( $# < 6 ? $# : 6 ))
HERE=$(cd "$(dirname "$0")/.." && pwd)
# The paper's Table 3 (script, max length, epochs and learning rate by size,
# file extension): its one home is configs/finetune_recipe.tsv.
RECIPE_FILE="$HERE/configs/finetune_recipe.tsv"
ROW=$(awk -F'\t' -v task="$TASK" '!/^#/ && $1 == task && $1 != "task"' "$RECIPE_FILE")
if [ -z "$ROW" ]; then
  TASKS=$(awk -F'\t' '!/^#/ && $1 != "task" {printf " %s", $1}' "$RECIPE_FILE")
  echo "finetune.sh: error: Unknown TASK '$TASK': one of$TASKS." >&2; exit 1
fi
IFS=$'\t' read -r _ SCRIPT LEN EPOCHS_SMALL EPOCHS_BASE EPOCHS_LARGE \
  LR_SMALL LR_BASE LR_LARGE EXT _ _ <<< "$ROW"
case $SIZE in
  small) EPOCHS_FOR_SIZE=$EPOCHS_SMALL; LR_FOR_SIZE=$LR_SMALL;;
  base) EPOCHS_FOR_SIZE=$EPOCHS_BASE; LR_FOR_SIZE=$LR_BASE;;
  large) EPOCHS_FOR_SIZE=$EPOCHS_LARGE; LR_FOR_SIZE=$LR_LARGE;;
  *) echo "finetune.sh: error: SIZE must be small, base or large, not '$SIZE'." >&2; exit 1;;
esac
TRAIN_FILE=${TRAIN_FILE:-$DATA/train.$EXT}
EVAL_FILE=${EVAL_FILE:-$DATA/dev.$EXT}
PREDICT_FILE=${PREDICT_FILE:-$DATA/test.$EXT}
if [ "$TASK" = msra_ner ] && [ ! -f "$EVAL_FILE" ]; then
  EVAL_FILE=$PREDICT_FILE  # MSRA-NER has no dev split: score on test
fi
ARGS=(--bert_config_file="$HERE/configs/lert_config_${SIZE}.json"
      --vocab_file="$HERE/configs/vocab.txt" --output_dir="$OUT"
      --train_file="$TRAIN_FILE" --eval_file="$EVAL_FILE" --do_train --do_eval
      --max_seq_length="${MAXLEN:-$LEN}"
      --num_train_epochs="${EPOCHS:-$EPOCHS_FOR_SIZE}"
      --learning_rate="${LR:-$LR_FOR_SIZE}" --train_batch_size="${BATCH:-32}"
      --random_seed="$SEED")
if [ "$INIT" != none ]; then
  ARGS+=(--init_checkpoint="$INIT")
else  # "none": random initialisation, said in the log and eval_results.txt
  ARGS+=(--train_from_scratch)
fi
if [ "$SCRIPT" = run_classifier.py ]; then
  ARGS+=(--task_name="$TASK")
fi
if [ -f "$PREDICT_FILE" ]; then
  ARGS+=(--predict_file="$PREDICT_FILE" --do_predict)
fi
exec "$PYTHON" "$HERE/$SCRIPT" "${ARGS[@]}" "$@"
