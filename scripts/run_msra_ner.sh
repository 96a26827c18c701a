#!/usr/bin/env bash
# msra_ner with the paper's settings: scripts/run_msra_ner.sh SIZE INIT_CHECKPOINT DATA_DIR OUTPUT_DIR [SEED]
exec "$(dirname "$0")/finetune.sh" msra_ner "$@"
