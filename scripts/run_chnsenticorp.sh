#!/usr/bin/env bash
# chnsenticorp with the paper's settings: scripts/run_chnsenticorp.sh SIZE INIT_CHECKPOINT DATA_DIR OUTPUT_DIR [SEED]
exec "$(dirname "$0")/finetune.sh" chnsenticorp "$@"
