#!/usr/bin/env bash
# drcd with the paper's settings: scripts/run_drcd.sh SIZE INIT_CHECKPOINT DATA_DIR OUTPUT_DIR [SEED]
exec "$(dirname "$0")/finetune.sh" drcd "$@"
