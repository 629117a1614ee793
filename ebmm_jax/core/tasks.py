"""What a memory is asked to do: the data's box, the distortion and the score.

A `Task` bundles the pieces of an evaluation protocol (docs/protocols.md) that the
meta-step needs: how a query is made from a stored pattern, which range the
reading projects onto (Appendix B.1), and the score reported in the paper.
"""
import dataclasses
from typing import Callable, Optional, Tuple

import jax
import jax.numpy as jnp

from ebmm_jax.data import binary_strings

# (key, patterns [N, ...]) -> (queries [N, ...], known [N, ...] bool or None).
DistortFn = Callable[[jax.Array, jax.Array], Tuple[jax.Array, Optional[jax.Array]]]
# (retrieved [N, ...], patterns [N, ...]) -> per-pattern score [N] (lower is better).
ScoreFn = Callable[[jax.Array, jax.Array], jax.Array]
# (key, patterns [N, ...]) -> the `distort` queries of the same key with their
# distorted entries erased (set to one constant), told where they are [N, ...].
EraseFn = Callable[[jax.Array, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class Task:
  name: str
  pattern_shape: Tuple[int, ...]  # one pattern, e.g. (128,) or (32, 32, 1).
  box: Tuple[float, float]  # the data's range; reading projects onto it.
  distort: DistortFn
  score: ScoreFn
  score_name: str  # e.g. "error bits", "Hamming error", "squared error".
  # The erase control of the image protocols (docs/protocols.md, "Common to
  # all"); None where a task has none.
  erase: Optional[EraseFn] = None


def binary_strings_task(pattern_dim: int = binary_strings.PATTERN_DIM) -> Task:
  """Appendix A.2: half the bits replaced by random ±1, the rest known."""
  return Task(
      name="binary_strings",
      pattern_shape=(pattern_dim,),
      box=(-1.0, 1.0),
      distort=binary_strings.corrupt_half,
      score=binary_strings.error_bits,
      score_name="error bits")


def hamming_error(retrieved: jax.Array, patterns: jax.Array) -> jax.Array:
  """Binary images: differing pixels after thresholding at 0.5, per image [N]."""
  axes = tuple(range(1, patterns.ndim))
  return jnp.sum((retrieved > 0.5) != (patterns > 0.5), axis=axes)


def squared_error(retrieved: jax.Array, patterns: jax.Array) -> jax.Array:
  """RGB images: squared error summed over pixels and channels, per image [N]."""
  axes = tuple(range(1, patterns.ndim))
  return jnp.sum(jnp.square(retrieved - patterns), axis=axes)
