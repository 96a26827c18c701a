#!/usr/bin/env bash
# Prints the TF_CONFIG of this SLURM task for multi-worker pre-training
# (docs/pretraining.md#several-machines): every node of the job is a worker
# listening on PORT (default 12345), and this task is worker $SLURM_PROCID.
# Run one task per node:
#
#   srun bash -c 'TF_CONFIG=$(scripts/slurm_tf_config.sh) exec python run_pretraining.py ...'
set -euo pipefail
port="${1:-12345}"
: "${SLURM_JOB_NODELIST:?slurm_tf_config.sh: error: not inside a SLURM job (no SLURM_JOB_NODELIST).}"
: "${SLURM_PROCID:?slurm_tf_config.sh: error: not a SLURM task (no SLURM_PROCID): run it under srun.}"
workers=""
for host in $(scontrol show hostnames "$SLURM_JOB_NODELIST"); do
  workers="$workers\"$host:$port\", "
done
printf '{"cluster": {"worker": [%s]}, "task": {"type": "worker", "index": %d}}\n' \
  "${workers%, }" "$SLURM_PROCID"
