#!/usr/bin/env bash
# Train on one machine with several GPUs: one process drives all local GPUs (the batch is
# sharded over a mesh of them; see overfeat/train/sharding.py).
#
#   scripts/launch_gpu.sh configs/accurate.py:bf16 runs/accurate [--config.KEY=VALUE ...]
#
# Requires a CUDA build of JAX on the machine:  pip install -e . 'jax[cuda12]'
# Restarts the job after a preemption (exit status 143: SIGTERM, checkpoint saved) until it
# ends otherwise; it resumes from its latest checkpoint each time. Set CUDA_VISIBLE_DEVICES
# to use a subset of the GPUs. Several machines: run scripts/launch_gpu.sh on each under
# SLURM (srun) with OVERFEAT_DISTRIBUTED=1, and a workdir every machine can see.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 CONFIG.py[:VARIANT] WORKDIR [--config.KEY=VALUE ...]" >&2
  exit 2
fi
config=$1
workdir=$2
shift 2

cd "$(dirname "$0")/.."
# Let XLA overlap the gradient all-reduce with the backward pass, and take most of the GPU
# memory up front (one process per machine, nothing else on the GPUs).
export XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_enable_latency_hiding_scheduler=true"
export XLA_PYTHON_CLIENT_MEM_FRACTION="${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.92}"
mkdir -p "$workdir"

while true; do
  status=0
  python3 -m overfeat.cli train --config "$config" --workdir "$workdir" "$@" || status=$?
  if [[ $status -ne 143 ]]; then
    exit "$status"
  fi
  echo "launch_gpu.sh: preempted; resuming from the latest checkpoint in $workdir" >&2
done
