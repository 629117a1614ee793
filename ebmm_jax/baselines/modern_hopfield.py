"""A modern Hopfield network (Ramsauer et al., 2020) for Table 1, a row the
paper did not have: one-step softmax retrieval from the stored patterns.

The memory holds up to C patterns verbatim, X [C, D], with an occupancy flag
per row; pattern i, in order, goes to row i mod C (a ring buffer), so with
N > C only the last C written remain. Memory: C x (D + 1) floats; C = 64 for
D = 128 is 8,256 floats, Appendix A.2's budget exactly (64 is also
floor(8,256 / 128)).

Retrieval is the update rule of Ramsauer et al. (their Eq. 3), one step:

  ξ_new = X^T softmax(β X ξ)     over the occupied rows,

from the query ξ with its replaced bits zeroed (the baselines' query,
`common.masked_queries`), known bits then clamped. The one parameter, the
inverse temperature β, is not trained: `tune_beta` picks it from a grid by
the mean error bits on training batches, ties broken by the squared error
(keys of the training stream, never the evaluation seed's).

With N <= C every pattern is stored, and a query's 64 known bits overlap its
own pattern by 64 and any other by a sum of 64 random ±1 (standard deviation
8), so a large enough β retrieves it exactly. At N = 96 the 32 overwritten
patterns cannot be retrieved: their queries get the nearest stored pattern,
about 32 of the 64 replaced bits wrong, 32 x 32 / 96 = 10.7 bits on average.

Images (the forgetting curves of `reporting.forgetting`): a pattern of any
shape is stored as its flattened D pixels; with `known` None (the image
protocols do not reveal the distortion) the whole query is ξ and nothing is
clamped.
"""
from typing import Dict, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import ml_collections

from ebmm_jax.core import models
from ebmm_jax.core import tasks
from ebmm_jax.baselines import common

NAME = "Modern Hopfield"
# Inverse temperatures `tune_beta` tries by default: 2^-6 ... 2^4.
DEFAULT_BETAS = tuple(float(2.0 ** k) for k in range(-6, 5))


class StoredPatterns(NamedTuple):
  rows: jax.Array  # X [C, D].
  occupied: jax.Array  # [C], 1.0 where a pattern is stored, 0.0 where empty.


def memory_floats(capacity: int, pattern_dim: int) -> int:
  """C stored patterns and their occupancy flags."""
  return capacity * (pattern_dim + 1)


def write(capacity: int, patterns: jax.Array) -> StoredPatterns:
  """patterns [N, D] (or [N, ...], flattened), written in order into a ring
  buffer of C rows."""
  n = patterns.shape[0]
  patterns = patterns.reshape(n, -1)
  dim = patterns.shape[1]
  first = max(n - capacity, 0)
  rows = (jnp.arange(first, n)) % capacity  # The ring's row of each kept pattern.
  stored = jnp.zeros((capacity, dim), patterns.dtype).at[rows].set(patterns[first:])
  occupied = jnp.zeros((capacity,), patterns.dtype).at[rows].set(1.0)
  return StoredPatterns(stored, occupied)


def read(beta: jax.Array, state: StoredPatterns, queries: jax.Array,
         known: Optional[jax.Array]) -> jax.Array:
  """One update ξ_new = X^T softmax(β X ξ), known bits clamped: [1, N, ...]
  (the queries' shape). `known` None: ξ is the whole query, nothing clamped."""
  xi = queries if known is None else common.masked_queries(queries, known)
  xi = xi.reshape(xi.shape[0], -1)  # [N, D]
  scores = beta * (xi @ state.rows.T)  # [N, C]
  scores = jnp.where(state.occupied[None] > 0, scores, -jnp.inf)
  retrieved = (jax.nn.softmax(scores, axis=-1) @ state.rows).reshape(queries.shape)
  if known is not None:
    retrieved = common.clamp(retrieved, queries, known)
  return retrieved[None]


def build(config: ml_collections.ConfigDict, task: tasks.Task) -> models.MemoryModel:
  """The modern Hopfield network as a `models.MemoryModel`; params = {"log_beta"}.
  Patterns of the task's shape (flattened in the ring)."""
  capacity, shape = config.model.capacity, tuple(task.pattern_shape)

  def init(key):
    del key  # Nothing random: β starts at the config's.
    return {"log_beta": jnp.log(jnp.asarray(config.model.beta, jnp.float32))}

  def write_fn(params, patterns):
    del params
    return write(capacity, patterns)

  def read_fn(params, state, queries, known):
    return read(jnp.exp(params["log_beta"]), state, queries, known)

  def loss(params, patterns, key, step=None):
    del step
    # Eq. (2), should anyone train β by gradient instead of `tune_beta`.
    queries, known = task.distort(key, patterns)
    xs = read_fn(params, write_fn(params, patterns), queries, known)
    metrics = models.iterate_metrics(task.score, xs, patterns, queries)
    return jnp.sum(metrics["reconstruction"]), metrics

  return models.MemoryModel(
      name=NAME, init=init, write=write_fn, read=read_fn, loss=loss,
      count_memory_floats=models.lazy_count(lambda: models.state_floats(
          write_fn, init, shape, config.data.num_patterns)),
      schedules=lambda params: dict(beta=jnp.exp(params["log_beta"])))


def params_for(beta: float) -> Dict[str, jax.Array]:
  return {"log_beta": jnp.log(jnp.asarray(beta, jnp.float32))}


def tune_beta(exp, num_patterns: int, betas: Sequence[float] = DEFAULT_BETAS,
              num_batches: int = 100, seed: int = 0) -> Dict[str, object]:
  """Picks β from `betas` by the mean error on training batches.

  Args:
    exp: a modern Hopfield experiment (`setups.build`).
    num_patterns: N.
    betas: the grid. Ties in error bits (several β retrieve every training
      query exactly) go to the β with the smallest squared error (Eq. 2) of
      the retrieved values: the sharpest retrieval, the safest on new batches.
    num_batches: training memories scored per β (the same ones for every β).
    seed: seeds the training batches and queries (`exp.sample_train`).

  Returns:
    dict with `beta` (the pick), `errors` (mean error bits per β) and
    `squared_errors` (mean Eq. (2) per β).
  """
  if not betas:
    raise ValueError("tune_beta needs at least one β.")
  k_data, k_distort = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed),
                                                          num_patterns))
  patterns = exp.sample_train(k_data, num_batches, num_patterns)  # [B, N, D]
  keys = jax.random.split(k_distort, num_batches)

  @jax.jit
  def mean_errors(log_beta):
    def one(p, k):
      queries, known = exp.task.distort(k, p)
      x = exp.model.retrieve({"log_beta": log_beta}, p, queries, known)[-1]
      return exp.task.score(x, p), jnp.sum(jnp.square(x - p), axis=-1)
    bits, squared = jax.vmap(one)(patterns, keys)
    return jnp.mean(bits), jnp.mean(squared)

  scores = {float(b): tuple(float(v) for v in mean_errors(jnp.log(jnp.float32(b))))
            for b in betas}
  best = min(scores, key=lambda b: scores[b])
  return dict(beta=best, errors={b: s[0] for b, s in scores.items()},
              squared_errors={b: s[1] for b, s in scores.items()})
