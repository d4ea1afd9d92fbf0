"""One device mesh for every scale: 1 CPU, 8 GPUs, or many hosts of a TPU pod slice.

The batch is sharded over the mesh's ``data`` axis and the parameters are replicated; the
train step is a plain ``jax.jit`` with those shardings, so XLA inserts the gradient
all-reduce itself (no ``pmap``, no hand-written ``pmean``: with replicated parameters under
``shard_map`` autodiff already sums the per-device gradients, and a ``pmean`` on top scales
them by the device count).

Every host feeds only its own slice of the global batch; ``global_batch`` assembles the
hosts' slices into one array sharded over all devices.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def maybe_initialize_distributed(requested: bool) -> bool:
    """Join the other hosts when the config or ``OVERFEAT_DISTRIBUTED=1`` asks for it.

    ``jax.distributed.initialize()`` finds the coordinator itself on TPU VMs, SLURM and Open
    MPI; elsewhere set ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES`` and
    ``JAX_PROCESS_ID``. Must run before anything touches a JAX device.
    """
    if not (requested or os.environ.get("OVERFEAT_DISTRIBUTED", "0") == "1"):
        return False
    if jax.distributed.is_initialized():
        return True
    jax.distributed.initialize()
    return True


def make_mesh(devices=None) -> Mesh:
    """A 1-D mesh over all devices of all hosts, axis ``data``."""
    devices = np.asarray(jax.devices() if devices is None else devices)
    return Mesh(devices.reshape(-1), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """Leading (batch) dimension split over ``data``; the others whole."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def local_batch_size(global_batch_size: int, mesh: Mesh) -> int:
    """This host's share of the global batch; the batch must split evenly over devices."""
    devices = mesh.devices.size
    if global_batch_size % devices:
        raise ValueError(
            f"batch_size {global_batch_size} does not split evenly over {devices} devices; "
            f"use a multiple of {devices}"
        )
    return global_batch_size // jax.process_count()


def global_batch(local_batch: dict, mesh: Mesh) -> dict:
    """This host's numpy batch -> global jax arrays sharded over ``data``."""
    sharding = batch_sharded(mesh)
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_batch
    )


def replicate(tree, mesh: Mesh):
    """Put a host-identical pytree on every device."""
    sharding = replicated(mesh)
    return jax.tree.map(lambda x: jax.device_put(x, sharding), tree)
