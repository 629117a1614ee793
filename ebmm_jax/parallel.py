"""Data parallelism: one mesh axis over all devices, jit with shardings.

The meta-batch axis (memories) is split across devices; meta-parameters and
optimiser state are replicated. XLA inserts the all-reduce of the meta-gradient,
so the step is the same program on 1 or many devices (the data-parallel
equivalent of `pmap` + `pmean`, without a per-device leading axis).
"""
from typing import Optional, Sequence

import jax
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


def check_meta_batch(meta_batch_size: int, mesh: Mesh) -> None:
  n = mesh.devices.size
  if meta_batch_size < 1 or meta_batch_size % n:
    raise ValueError(
        f"train.meta_batch_size={meta_batch_size} must be a positive multiple of "
        f"the number of devices ({n}): each device writes and reads whole memories.")
