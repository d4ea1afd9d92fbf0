#!/usr/bin/env bash
# Train on a Cloud TPU VM slice (one host or a pod slice of many): copy this checkout to every
# worker, install it with JAX for TPUs, and start the same command on all workers at once.
# Each worker's process joins the others through jax.distributed (OVERFEAT_DISTRIBUTED=1; on
# TPU VMs the coordinator is found automatically), feeds its share of the batch, and the batch
# is sharded over all TPU cores of the slice.
#
#   scripts/launch_tpu_vm.sh setup  TPU_NAME ZONE
#   scripts/launch_tpu_vm.sh train  TPU_NAME ZONE configs/accurate.py:bf16 /mnt/shared/runs/acc \
#       [--config.KEY=VALUE ...]
#   scripts/launch_tpu_vm.sh stop   TPU_NAME ZONE
#
# WORKDIR must be one folder that every worker sees (checkpoints are written by all hosts
# together): a Cloud Storage bucket mounted with gcsfuse, or a Filestore/NFS mount, at the same
# path on each worker. The prepared datasets must be readable by every worker too
# (TFDS_DATA_DIR, passed through below). Set PROJECT to pass --project to gcloud.
set -euo pipefail

usage() {
  echo "usage: $0 setup|train|stop TPU_NAME ZONE [CONFIG WORKDIR [--config.KEY=VALUE ...]]" >&2
  exit 2
}
[[ $# -ge 3 ]] || usage
action=$1
tpu=$2
zone=$3
shift 3
project=()
[[ -n "${PROJECT:-}" ]] && project=(--project "$PROJECT")
ssh_all() {
  gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" "${project[@]}" --worker=all --command "$1"
}

cd "$(dirname "$0")/.."
case "$action" in
  setup)
    tar czf /tmp/overfeat-src.tgz --exclude=.git --exclude=runs --exclude='*.egg-info' .
    gcloud compute tpus tpu-vm scp /tmp/overfeat-src.tgz "$tpu":~/ --zone "$zone" \
      "${project[@]}" --worker=all
    ssh_all "mkdir -p ~/overfeat && tar xzf ~/overfeat-src.tgz -C ~/overfeat && \
      cd ~/overfeat && python3 -m pip install -q -e . 'jax[tpu]'"
    ;;
  train)
    [[ $# -ge 2 ]] || usage
    config=$1
    workdir=$2
    shift 2
    overrides=$(printf ' %q' "$@")
    # nohup: the job outlives the ssh session; each worker logs to ~/overfeat-train.log and
    # keeps the job's process id in ~/overfeat-train.pid (for stop).
    ssh_all "cd ~/overfeat && OVERFEAT_DISTRIBUTED=1 TFDS_DATA_DIR=${TFDS_DATA_DIR:-} \
      nohup python3 -m overfeat.cli train --config $(printf '%q' "$config") \
      --workdir $(printf '%q' "$workdir")$overrides > ~/overfeat-train.log 2>&1 & \
      echo \$! > ~/overfeat-train.pid"
    echo "started on every worker of $tpu; follow with:"
    echo "  gcloud compute tpus tpu-vm ssh $tpu --zone $zone --worker=0 --command 'tail -f ~/overfeat-train.log'"
    ;;
  stop)
    # SIGTERM: every host reaches the same preemption sync point, saves, and exits (143).
    ssh_all "kill -TERM \$(cat ~/overfeat-train.pid) 2>/dev/null || true"
    ;;
  *)
    usage
    ;;
esac
