"""Writable (memory) vs. static parameters of an energy model.

Appendix C: "All modules containing memory parameters are specifically named as
memory." A Haiku module is writable when the last component of its path is
`memory` or `memory_<k>` (Haiku's suffix for a second module of that name).
"""
import re
from typing import Tuple

import haiku as hk
import jax
import numpy as np

_MEMORY_MODULE = re.compile(r"(^|/)(~/)?memory(_\d+)?$")


def he_init(scale: float = 2.0) -> hk.initializers.Initializer:
  """He et al. (2015) initialisation, used by every model (Appendix A): weights
  of variance `scale` / fan-in (2.0 for ReLU-like layers; a Linear on a
  concatenation stores each block with scale 2 * block fan-in / total fan-in)."""
  return hk.initializers.VarianceScaling(scale, "fan_in", "truncated_normal")


def he_initializer(scale: float = 2.0, in_axis: int = -2, out_axis: int = -1):
  """`he_init` for any network library: a `jax.nn.initializers` function
  (key, shape, dtype) -> weights of variance `scale` / fan-in, truncated
  normal. The fan-in is the size of `in_axis` (Haiku's and Flax's kernels are
  [in, out]; Equinox's weights are [out, in]: in_axis=-1, out_axis=-2)."""
  return jax.nn.initializers.variance_scaling(scale, "fan_in", "truncated_normal",
                                              in_axis=in_axis, out_axis=out_axis)


def is_memory_module(module_name: str) -> bool:
  """True for Haiku module paths whose last component is `memory[_k]`."""
  return bool(_MEMORY_MODULE.search(module_name))


def split_memory(params: hk.Params) -> Tuple[hk.Params, hk.Params]:
  """Splits parameters into (memory, static); `hk.data_structures.merge` inverts it."""
  return hk.data_structures.partition(
      lambda module_name, name, value: is_memory_module(module_name), params)


def count_floats(tree) -> int:
  """Number of scalars in a pytree of arrays (the paper's *memory size* for the
  writable part)."""
  return int(sum(np.prod(np.shape(x), dtype=np.int64)
                 for x in jax.tree_util.tree_leaves(tree)))


def memory_size(params: hk.Params) -> int:
  """Number of floats that writing changes, Section 4 ("memory size")."""
  memory, _ = split_memory(params)
  n = count_floats(memory)
  if n == 0:
    raise ValueError(
        "The energy model has no writable parameters: name at least one Haiku "
        "module `memory` (Appendix C). Modules found: "
        f"{sorted(params.keys())}")
  return n
