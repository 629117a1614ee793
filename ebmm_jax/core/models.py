"""The interface every memory of Table 1 implements, EBMM and baselines alike.

A `MemoryModel` is what the meta-training loop (`training.step.meta_step`), the
evaluator (`evaluation.evaluate`) and the Table 1 launcher need from a memory:

  params = model.init(key)                              # meta-parameters
  state = model.write(params, patterns)                 # patterns [N, ...]
  iterates = model.read(params, state, queries, known)  # [K, N, ...], K >= 1
  loss, metrics = model.loss(params, patterns, key, step)  # one memory's meta-loss
  energies = model.energy(params, state, x)             # EBMM only: E(x; θ) [M]

`state` is the memory: everything writing produces and reading uses. For EBMM
it is the written weights θ (Eq. 4); for a baseline it is its recurrent or slot
state. `memory_floats` counts its scalars, Section 4's *memory size* ("the
number of float32 numbers used to represent a modifiable part of the model").

Every model clamps the known entries of a query (`known`, True where the entry
is the stored pattern's, Appendix A.2) to their true values in every iterate.
`metrics` must hold `score` ([K], the task's score of each iterate, averaged
over the memory's queries) and `query_score` (the distorted queries' own).
"""
import dataclasses
import functools
from typing import Any, Callable, Dict, Optional, Tuple

import jax
import jax.numpy as jnp

from ebmm_jax.core import params as params_lib

Params = Any  # A pytree of arrays: the meta-parameters of a model.
State = Any  # A pytree of arrays: the written memory.
# (params, patterns [N, ...], key[, step][, mask=]) -> (loss [], metrics);
# `step`, the meta-step (traced), is optional and used only by losses that
# change over training; `mask` (bool [N], the real patterns of a batch padded
# to a fixed size) only by models trained across N (EBMM).
LossFn = Callable[..., Tuple[jax.Array, Dict[str, jax.Array]]]


@dataclasses.dataclass(frozen=True)
class MemoryModel:
  """A memory that the meta-training loop and the evaluator can drive.

  Attributes:
    name: the row's name, as in Table 1 (`paper.TABLE1` keys where it has one).
    init: key -> meta-parameters.
    write: (params, patterns [N, ...]) -> state.
    read: (params, state, queries [N, ...], known [N, ...] bool or None) ->
      iterates [K, N, ...], known entries clamped.
    loss: (params, patterns [N, ...], key, step=None) -> (loss, metrics), the
      meta-loss of one memory; the key draws the distortion, `step` (the
      meta-step) is for losses annealed over training.
    count_memory_floats: () -> floats in the state written for
      `num_patterns` patterns (lazy: counting may trace the model).
    schedules: optional params -> dict of learned scalars to log.
    energy: optional (params, state or None, x [M, ...]) -> [M], the scalar
      energy under a written state (None: unwritten), for energy models.
    first_order: optional () -> the same model whose meta-gradient holds the
      inner (writing) gradients constant (MAML++'s first-order steps), for
      models that have one.
    append: optional (params, state, patterns [N, ...]) -> state, writing a
      batch into an already written memory (what it stores is kept, not
      replaced), for models that can.
    write_stream: optional (params, patterns [N, ...], chunks) -> state,
      writing the patterns as a stream of chunks (sizes summing to N, oldest
      first) with the model's own forgetting between them, for models that
      have one (EBMM, `memory.stream_chunks`).
    writing_off: optional () -> the same model with writing switched off
      (reading starts from the unwritten memory), the control that shows
      whether retrieval uses what was written; for models with a
      meta-learned initial memory.
    unrolled: optional () -> the same model with its loops unrolled (the
      same values; XLA then counts every step's FLOPs), for models with loops.
  """
  name: str
  init: Callable[[jax.Array], Params]
  write: Callable[[Params, jax.Array], State]
  read: Callable[[Params, State, jax.Array, Optional[jax.Array]], jax.Array]
  loss: LossFn
  count_memory_floats: Callable[[], int]
  schedules: Optional[Callable[[Params], Dict[str, jax.Array]]] = None
  energy: Optional[Callable[[Params, Optional[State], jax.Array], jax.Array]] = None
  first_order: Optional[Callable[[], "MemoryModel"]] = None
  append: Optional[Callable[[Params, State, jax.Array], State]] = None
  write_stream: Optional[Callable[[Params, jax.Array, Tuple[int, ...]], State]] = None
  writing_off: Optional[Callable[[], "MemoryModel"]] = None
  unrolled: Optional[Callable[[], "MemoryModel"]] = None

  def retrieve(self, params: Params, patterns: jax.Array, queries: jax.Array,
               known: Optional[jax.Array]) -> jax.Array:
    """Writes `patterns`, then reads every query: iterates [K, N, ...]."""
    return self.read(params, self.write(params, patterns), queries, known)

  @property
  def memory_floats(self) -> int:
    return self.count_memory_floats()


def pattern_mean(values: jax.Array, mask: Optional[jax.Array] = None,
                 axis: int = -1) -> jax.Array:
  """Mean of `values` over its pattern axis `axis`, counting only the patterns
  where `mask` [N] is True (a batch padded to a fixed size); all without one."""
  if mask is None:
    return jnp.mean(values, axis=axis)
  m = jnp.asarray(mask, values.dtype)
  shape = [1] * values.ndim
  shape[axis] = m.shape[0]
  return jnp.sum(values * m.reshape(shape), axis=axis) / jnp.maximum(jnp.sum(m), 1.0)


def reconstruction_losses(iterates: jax.Array, patterns: jax.Array,
                          mask: Optional[jax.Array] = None) -> jax.Array:
  """Eq. (2) at each iterate: mean_i ||x_i - x_i(k)||², [K] (over the real
  patterns, `mask`, of a padded batch)."""
  axes = tuple(range(2, iterates.ndim))
  return pattern_mean(jnp.sum(jnp.square(iterates - patterns[None]), axis=axes), mask)


def iterate_metrics(score: Callable[[jax.Array, jax.Array], jax.Array],
                    iterates: jax.Array, patterns: jax.Array,
                    queries: jax.Array, mask: Optional[jax.Array] = None
                    ) -> Dict[str, jax.Array]:
  """The metrics every `loss` reports, so training logs read the same for
  every model: `reconstruction` (Eq. (2) per iterate, [K]), `score` (the
  task's score per iterate, mean over queries, [K]) and `query_score` (the
  distorted queries' own score, []).

  Args:
    score: the task's per-query score, (x [N, ...], patterns) -> [N].
    iterates: [K, N, ...] read iterates.
    patterns: [N, ...] the stored patterns.
    queries: [N, ...] the distorted queries.
    mask: optional bool [N]: the real patterns of a padded batch; the means
      run over them only.
  """
  return dict(
      reconstruction=reconstruction_losses(iterates, patterns, mask),
      score=pattern_mean(jax.vmap(score, in_axes=(0, None))(iterates, patterns), mask),
      query_score=pattern_mean(score(queries, patterns), mask))


def state_floats(write: Callable[[Params, jax.Array], State],
                 init: Callable[[jax.Array], Params],
                 pattern_shape: Tuple[int, ...], num_patterns: int) -> int:
  """Floats of the state `write` returns for `num_patterns` patterns.

  Measured on shapes only (`jax.eval_shape`): nothing is computed, so a model
  with a large state is counted in milliseconds.
  """
  params = jax.eval_shape(init, jax.random.PRNGKey(0))
  patterns = jax.ShapeDtypeStruct((num_patterns, *pattern_shape), jnp.float32)
  return params_lib.count_floats(jax.eval_shape(write, params, patterns))


def lazy_count(fn: Callable[[], int]) -> Callable[[], int]:
  """Caches a memory count (computed at most once per model)."""
  return functools.lru_cache(maxsize=None)(fn)
