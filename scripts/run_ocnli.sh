#!/usr/bin/env bash
# ocnli with the paper's settings: scripts/run_ocnli.sh SIZE INIT_CHECKPOINT DATA_DIR OUTPUT_DIR [SEED]
exec "$(dirname "$0")/finetune.sh" ocnli "$@"
