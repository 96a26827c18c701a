#!/usr/bin/env bash
# xnli with the paper's settings: scripts/run_xnli.sh SIZE INIT_CHECKPOINT DATA_DIR OUTPUT_DIR [SEED]
exec "$(dirname "$0")/finetune.sh" xnli "$@"
