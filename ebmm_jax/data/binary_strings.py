"""Random binary strings, the protocol of Appendix A.2 (Table 1) and docs/protocols.md.

Patterns are D-dimensional vectors of independent, equiprobable -1/+1 entries,
fresh for every batch. A query replaces a random half of the entries (chosen
afresh per query) by fresh random -1/+1 values; the other half is *known* and
every model clamps it to its true value during retrieval.
"""
from typing import Tuple

import jax
import jax.numpy as jnp

PATTERN_DIM = 128
# 128 * (128 - 1) / 2 + 128: a symmetric zero-diagonal matrix plus a vector.
MEMORY_BUDGET = PATTERN_DIM * (PATTERN_DIM - 1) // 2 + PATTERN_DIM  # 8,256 floats.


def sample_patterns(key: jax.Array, num_patterns: int, dim: int = PATTERN_DIM,
                    batch_shape: Tuple[int, ...] = ()) -> jax.Array:
  """Samples uniform random -1/+1 patterns.

  Returns:
    float32 array [*batch_shape, num_patterns, dim] with entries in {-1, +1}.
  """
  if num_patterns < 1:
    raise ValueError(f"num_patterns must be >= 1, got {num_patterns}.")
  if dim < 2:
    raise ValueError(f"dim must be >= 2, got {dim}.")
  bits = jax.random.bernoulli(key, 0.5, (*batch_shape, num_patterns, dim))
  return jnp.where(bits, 1.0, -1.0).astype(jnp.float32)


def corrupt_half(key: jax.Array, patterns: jax.Array,
                 num_corrupted: int | None = None) -> Tuple[jax.Array, jax.Array]:
  """Makes queries: `num_corrupted` random positions per pattern get fresh bits.

  Args:
    key: PRNG key.
    patterns: [..., D] array of -1/+1 entries.
    num_corrupted: positions replaced per query; default D // 2 (the protocol).

  Returns:
    queries: [..., D], the corrupted patterns (dtype of `patterns`).
    known: [..., D] bool, True where the entry is uncorrupted (to be clamped).
  """
  dim = patterns.shape[-1]
  num_corrupted = dim // 2 if num_corrupted is None else num_corrupted
  if not 0 <= num_corrupted <= dim:
    raise ValueError(f"num_corrupted must be in [0, {dim}], got {num_corrupted}.")
  key_pos, key_bits = jax.random.split(key)
  # A uniformly random subset of exactly `num_corrupted` positions per query:
  # the ranks of i.i.d. uniforms form a uniform random permutation.
  ranks = jnp.argsort(jnp.argsort(
      jax.random.uniform(key_pos, patterns.shape), axis=-1), axis=-1)
  known = ranks >= num_corrupted
  noise = jnp.where(jax.random.bernoulli(key_bits, 0.5, patterns.shape), 1.0, -1.0)
  queries = jnp.where(known, patterns, noise).astype(patterns.dtype)
  return queries, known


def sample_batch(key: jax.Array, num_patterns: int, dim: int = PATTERN_DIM,
                 batch_shape: Tuple[int, ...] = ()):
  """One memory batch: (patterns, queries, known), each [*batch_shape, N, D]."""
  key_x, key_q = jax.random.split(key)
  patterns = sample_patterns(key_x, num_patterns, dim, batch_shape)
  queries, known = corrupt_half(key_q, patterns)
  return patterns, queries, known


def error_bits(retrieved: jax.Array, patterns: jax.Array) -> jax.Array:
  """Table 1's score: number of wrong bits of sign(retrieved), per pattern [...]."""
  # sign(0) is counted as wrong: a retrieval that does not decide is an error.
  return jnp.sum(jnp.sign(retrieved) != patterns, axis=-1)
