#!/usr/bin/env bash
# LERT pre-training on GPUs or CPU, with the paper's schedule scaled to a
# smaller machine: the batch per update is kept by gradient accumulation.
#
# Usage: scripts/run_pretrain_gpu.sh SIZE DATA_GLOB OUTPUT_DIR [NUM_GPUS]
#   SIZE: tiny | small | base | large
#   NUM_GPUS: 0 (CPU or one GPU, the default) or the GPUs of this host
#             (data parallel through tf.distribute.MirroredStrategy).
# Environment overrides: BATCH (examples per update), ACCUM (micro-batches
# per update), STEPS, WARMUP, LR, SEQ, PRED, PRECISION (fp32|fp16|bf16).
# Extra flags after the arguments are passed on.
set -euo pipefail
source "$(dirname "$0")/python.sh"
if [ $# -lt 3 ]; then
  sed -n '2,12p' "$0"; exit 1
fi
SIZE=$1; DATA=$2; OUTPUT_DIR=$3; NUM_GPUS=${4:-0}; shift $(( $# < 4 ? $# : 4 ))
HERE=$(cd "$(dirname "$0")/.." && pwd)
source "$HERE/scripts/model_sizes.sh"
set_batch_for_size "$SIZE"
exec "$PYTHON" "$HERE/run_pretraining.py" \
  --bert_config_file="$HERE/configs/lert_config_${SIZE}.json" \
  --input_file="$DATA" \
  --output_dir="$OUTPUT_DIR" \
  --do_train --do_eval \
  --num_gpus="$NUM_GPUS" \
  --train_batch_size="${BATCH:-$BATCH_FOR_SIZE}" \
  --gradient_accumulation_steps="${ACCUM:-1}" \
  --max_seq_length="${SEQ:-512}" --max_predictions_per_seq="${PRED:-75}" \
  --num_train_steps="${STEPS:-2000000}" --num_warmup_steps="${WARMUP:-10000}" \
  --learning_rate="${LR:-1e-4}" --precision="${PRECISION:-fp32}" \
  --linguistic_tasks=pos,ner,dep \
  "$@"
