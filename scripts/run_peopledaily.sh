#!/usr/bin/env bash
# peopledaily with the paper's settings: scripts/run_peopledaily.sh SIZE INIT_CHECKPOINT DATA_DIR OUTPUT_DIR [SEED]
exec "$(dirname "$0")/finetune.sh" peopledaily "$@"
