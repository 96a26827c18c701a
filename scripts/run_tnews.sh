#!/usr/bin/env bash
# tnews with the paper's settings: scripts/run_tnews.sh SIZE INIT_CHECKPOINT DATA_DIR OUTPUT_DIR [SEED]
exec "$(dirname "$0")/finetune.sh" tnews "$@"
