#!/usr/bin/env bash
# cmrc2018 with the paper's settings: scripts/run_cmrc2018.sh SIZE INIT_CHECKPOINT DATA_DIR OUTPUT_DIR [SEED]
exec "$(dirname "$0")/finetune.sh" cmrc2018 "$@"
