#!/usr/bin/env bash
# bq with the paper's settings: scripts/run_bq.sh SIZE INIT_CHECKPOINT DATA_DIR OUTPUT_DIR [SEED]
exec "$(dirname "$0")/finetune.sh" bq "$@"
