"""What a compiled program spends: its matrix products, counted from the jaxpr.

Used by the benchmark (`experiments/benchmark.py`, BENCHMARKS.md) to time the
meta-step's products shape by shape.
"""
from typing import Optional

import jax
import jax.extend.core
import numpy as np


def jaxpr_dots(jaxpr, times: int = 1, dots: Optional[dict] = None) -> dict:
  """The matrix products a program runs, grouped by signature.

  Walks `jaxpr` (a `jax.make_jaxpr` result) and every jaxpr inside it; a
  scan's body counts `length` times, any other inner jaxpr (jit, custom
  derivatives, remat) once per occurrence. Returns {(lhs shape, rhs shape,
  dimension numbers): count}. Two approximations: a while loop's body
  (unknown trip count) counts once, and every branch of a cond counts (the
  meta-steps measured here have neither in their products' path).
  """
  dots = {} if dots is None else dots
  jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "dot_general":
      lhs, rhs = (tuple(v.aval.shape) for v in eqn.invars)
      key = (lhs, rhs, eqn.params["dimension_numbers"])
      dots[key] = dots.get(key, 0) + times
      continue
    inner_times = times * eqn.params.get("length", 1) if eqn.primitive.name == "scan" else times
    for value in eqn.params.values():
      for sub in (value if isinstance(value, (tuple, list)) else (value,)):
        if isinstance(sub, (jax.extend.core.Jaxpr, jax.extend.core.ClosedJaxpr)):
          jaxpr_dots(sub, inner_times, dots)
  return dots


def dot_flops(lhs_shape, dimension_numbers, out_size: int) -> int:
  """2 x output size x contracted size of one `dot_general`."""
  (contracting, _), _ = dimension_numbers
  return 2 * out_size * int(np.prod([lhs_shape[i] for i in contracting]))
