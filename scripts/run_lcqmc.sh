#!/usr/bin/env bash
# lcqmc with the paper's settings: scripts/run_lcqmc.sh SIZE INIT_CHECKPOINT DATA_DIR OUTPUT_DIR [SEED]
exec "$(dirname "$0")/finetune.sh" lcqmc "$@"
