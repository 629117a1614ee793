"""Data parallelism: one mesh axis over all devices, jit with shardings.

The meta-batch axis (memories) is split across devices; meta-parameters and
optimiser state are replicated. XLA inserts the all-reduce of the meta-gradient,
so the step is the same program on 1 or many devices (the data-parallel
equivalent of `pmap` + `pmean`, without a per-device leading axis).
"""
from typing import Optional, Sequence

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def make_mesh(devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def data_sharded(mesh: Mesh) -> NamedSharding:
  """Leading (meta-batch) axis split over the devices."""
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def meta_batch_size(value: int, mesh: Mesh) -> int:
  """`train.meta_batch_size` on `mesh`: 0 (the default) is one memory per device."""
  return value or int(mesh.devices.size)


def with_meta_batch(config: ml_collections.ConfigDict, mesh: Mesh) -> ml_collections.ConfigDict:
  """`config` with `train.meta_batch_size = 0` (the default: one memory per
  device) made the mesh's device count, so the same config runs unchanged on
  one CPU, 8 GPUs or a TPU host; checks a given size divides over the mesh."""
  if config.train.meta_batch_size == 0:
    config = ml_collections.ConfigDict(config.to_dict())
    config.train.meta_batch_size = meta_batch_size(0, mesh)
    config.lock()
  check_meta_batch(config.train.meta_batch_size, mesh)
  return config


def check_meta_batch(meta_batch_size: int, mesh: Mesh) -> None:
  n = mesh.devices.size
  if meta_batch_size < 1 or meta_batch_size % n:
    raise ValueError(
        f"train.meta_batch_size={meta_batch_size} must be a positive multiple of "
        f"the number of devices ({n}): each device writes and reads whole memories.")


def to_host(tree):
  """Replicated (or single-process) arrays -> numpy, on every process.

  In a multi-process job a replicated array is not fully addressable from one
  process, but each process holds a complete copy: read the local one.
  """
  def one(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      if not x.sharding.is_fully_replicated:
        raise ValueError("to_host() needs replicated arrays; got sharding "
                         f"{x.sharding}.")
      x = x.addressable_data(0)
    return np.asarray(x)
  return jax.tree_util.tree_map(one, tree)


def initialize_distributed(coordinator_address: str = "", num_processes: int = 0,
                           process_id: int = -1) -> None:
  """Starts a multi-process JAX job (`jax.distributed.initialize`).

  With no arguments the cluster is detected (TPU pods, SLURM, ...). CPU
  devices talk across processes through gloo (this setting only concerns the
  CPU backend; GPUs and TPUs use their own collectives).
  """
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  kwargs = {}
  if coordinator_address:
    kwargs = dict(coordinator_address=coordinator_address,
                  num_processes=num_processes, process_id=process_id)
  jax.distributed.initialize(**kwargs)

