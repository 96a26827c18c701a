#!/usr/bin/env bash
# LERT pre-training on one Cloud TPU v3-8 with the paper's recipe (§4.1):
# 2M steps, 10K warm-up, peak learning rate 1e-4, sequence length 512,
# 75 predictions per sequence, T_POS/T_NER/T_DEP = 333K/666K/1M (the values
# hard-coded in the LERT release).
#
# Usage: scripts/run_pretrain_tpu.sh SIZE TPU_NAME DATA_GLOB OUTPUT_DIR
#   SIZE: small | base | large   (batch 1024 / 416 / 256, paper Table 2)
#   DATA_GLOB and OUTPUT_DIR are usually gs:// paths.
# Extra flags after the four arguments are passed on (e.g.
# --gradient_accumulation_steps=2 if a batch does not fit).
set -euo pipefail
source "$(dirname "$0")/python.sh"
if [ $# -lt 4 ]; then
  sed -n '2,13p' "$0"; exit 1
fi
SIZE=$1; TPU_NAME=$2; DATA=$3; OUTPUT_DIR=$4; shift 4
HERE=$(cd "$(dirname "$0")/.." && pwd)
source "$HERE/scripts/model_sizes.sh"
set_batch_for_size "$SIZE"
exec "$PYTHON" "$HERE/run_pretraining.py" \
  --bert_config_file="$HERE/configs/lert_config_${SIZE}.json" \
  --input_file="$DATA" \
  --output_dir="$OUTPUT_DIR" \
  --do_train \
  --use_tpu --tpu_name="$TPU_NAME" --num_tpu_cores=8 \
  --train_batch_size="$BATCH_FOR_SIZE" \
  --max_seq_length=512 --max_predictions_per_seq=75 \
  --num_train_steps=2000000 --num_warmup_steps=10000 \
  --learning_rate=1e-4 --weight_decay_rate=0.01 \
  --linguistic_tasks=pos,ner,dep --lip_schedule=linear \
  --pos_end_step=333000 --ner_end_step=666000 --dep_end_step=1000000 \
  --save_checkpoints_steps=50000 --iterations_per_loop=1000 \
  "$@"
