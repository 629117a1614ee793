"""Meta-learning the memory: the meta-loss (Eq. 5, Appendix B.4) and meta-step.

The inner problem (write the batch, then read every distorted query) lives in
`ebmm_jax.memory`; this module owns what is learned across batches — θ̄, the
static weights, the writing rates and penalties, the reading step sizes — and
the optimiser step that learns them by differentiating through write and read.
The step itself (`model_meta_step`) takes any per-memory loss, so the Table 1
baselines (`ebmm_jax.baselines`, `ebmm_jax.models.MemoryModel`) are
meta-trained by the same loop; `meta_step` is it with EBMM's meta-loss.
"""
import functools
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ebmm_jax import memory as memory_lib
from ebmm_jax import models
from ebmm_jax import params as params_lib
from ebmm_jax.tasks import Task

META_LOSS_ITERATES = ("all", "last")


class MetaParams(NamedTuple):
  """Everything meta-learned by Eq. (5)."""
  static: hk.Params  # the energy's non-writable weights.
  write: memory_lib.WriteParams  # θ̄, writing rates, alpha and beta.
  read: memory_lib.ReadParams  # reading step sizes and momentum.


class TrainState(NamedTuple):
  step: jax.Array  # int32 [], meta-steps applied or skipped so far.
  meta_params: Any  # MetaParams for EBMM; a baseline's parameters otherwise.
  opt_state: optax.OptState
  nonfinite_in_a_row: jax.Array  # int32 [], consecutive skipped meta-steps.
  nonfinite_total: jax.Array  # int32 [], all skipped meta-steps.


def init_meta_params(key: jax.Array, energy: hk.Transformed,
                     pattern_shape: Tuple[int, ...], *, write_steps: int,
                     read_steps: int, write_lr_init: float,
                     grad_penalty_init: float, prior_penalty_init: float,
                     read_step_size_init: float, read_step_decay_init: float,
                     read_momentum_init: float,
                     read_momentum_decay_init: float) -> MetaParams:
  """He-initialised energy weights (Appendix A) and the learned rates' inits."""
  if write_steps < 1 or read_steps < 1:
    raise ValueError(f"write_steps and read_steps must be >= 1, got "
                     f"{write_steps} and {read_steps}.")
  example = jnp.zeros((1, *pattern_shape), jnp.float32)
  params = energy.init(key, example)
  init_memory, static = params_lib.split_memory(params)
  params_lib.memory_size(params)  # Raises if nothing is writable.
  f32 = lambda v: jnp.asarray(v, jnp.float32)
  raw_lr = float(memory_lib.inverse_softplus(write_lr_init))
  learning_rates = jax.tree_util.tree_map(
      lambda _: jnp.full((write_steps, len(memory_lib.WRITING_TERMS)), raw_lr,
                         jnp.float32), init_memory)
  penalties = f32(memory_lib.inverse_softplus([grad_penalty_init, prior_penalty_init]))
  step_sizes = f32(np.concatenate([
      memory_lib.inverse_softplus([read_step_size_init]),
      np.full(read_steps - 1, memory_lib.logit(read_step_decay_init))]))
  momentum = f32(np.concatenate([
      memory_lib.logit([read_momentum_init]),
      np.full(read_steps - 1, memory_lib.logit(read_momentum_decay_init))]))
  return MetaParams(
      static=static,
      write=memory_lib.WriteParams(init_memory, learning_rates, penalties),
      read=memory_lib.ReadParams(step_sizes, momentum))


def write_steps_of(meta: MetaParams) -> int:
  return jax.tree_util.tree_leaves(meta.write.learning_rates)[0].shape[0]


def write_and_read(energy_apply: memory_lib.EnergyApply, meta: MetaParams,
                   patterns: jax.Array, queries: jax.Array,
                   known: Optional[jax.Array], box,
                   loops: memory_lib.Loops = memory_lib.Loops()):
  """Writes `patterns` [N, ...], then reads every query [N, ...].

  Returns:
    iterates [K, N, ...], the written memory, the writing-loss terms [T].
  """
  written, write_losses = memory_lib.write(
      energy_apply, meta.static, meta.write, patterns, loops)
  params = hk.data_structures.merge(meta.static, written)
  iterates = memory_lib.read(energy_apply, params, meta.read, queries, known,
                             box=box, loops=loops)
  return iterates, written, write_losses


def meta_loss(energy_apply: memory_lib.EnergyApply, task: Task, meta: MetaParams,
              patterns: jax.Array, key: jax.Array, *, iterates: str = "all",
              loops: memory_lib.Loops = memory_lib.Loops()
              ) -> Tuple[jax.Array, Dict[str, jax.Array]]:
  """The meta-loss of one memory batch `patterns` [N, ...].

  Args:
    iterates: "all" for the step-wise loss of Appendix B.4 (the sum over k of
      Eq. (2) at x(k)), "last" for Eq. (2) at x(K) only.

  Returns:
    (loss, metrics); metrics hold per-iterate reconstruction loss and score
    ([K]), the query's score, and the writing-loss terms ([T]).
  """
  if iterates not in META_LOSS_ITERATES:
    raise ValueError(f"iterates must be one of {META_LOSS_ITERATES}, got {iterates!r}.")
  queries, known = task.distort(key, patterns)
  xs, _, write_losses = write_and_read(energy_apply, meta, patterns, queries,
                                       known, task.box, loops)
  metrics = models.iterate_metrics(task.score, xs, patterns, queries)
  per_iterate = metrics["reconstruction"]  # [K]
  loss = jnp.sum(per_iterate) if iterates == "all" else per_iterate[-1]
  metrics.update(
      writing_energy=write_losses.energy,
      writing_grad_penalty=write_losses.grad_penalty,
      writing_prior_penalty=write_losses.prior_penalty)
  return loss, metrics


def schedules(meta: MetaParams) -> Dict[str, jax.Array]:
  """The learned rates, in their constrained form, for logging."""
  alpha, beta = memory_lib.penalty_weights(meta.write.penalties)
  rates = jnp.stack([jax.nn.softplus(r) for r in
                     jax.tree_util.tree_leaves(meta.write.learning_rates)])
  return dict(
      read_step_sizes=memory_lib.step_size_schedule(meta.read.step_sizes),
      read_momentum=memory_lib.momentum_schedule(meta.read.momentum),
      grad_penalty=alpha, prior_penalty=beta,
      write_lr_mean=jnp.mean(rates, axis=(0, 1)),  # [3]: per writing term.
  )


def make_optimizer(learning_rate: float, weight_decay: float,
                   clip_global_norm: float) -> optax.GradientTransformation:
  """Appendix A: AdamW (lr 5e-5, wd 1e-6) after global-norm clipping at 0.05."""
  return optax.chain(optax.clip_by_global_norm(clip_global_norm),
                     optax.adamw(learning_rate, weight_decay=weight_decay))


def init_train_state(meta: Any, optimizer: optax.GradientTransformation) -> TrainState:
  # Separate buffers: the step donates its input state.
  zero = lambda: jnp.zeros((), jnp.int32)
  return TrainState(zero(), meta, optimizer.init(meta), zero(), zero())


def _all_finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x))
                            for x in jax.tree_util.tree_leaves(tree)]))


def batched_loss(loss_fn: models.LossFn, params, patterns: jax.Array,
                 key: jax.Array, index_offset=0):
  """Mean of a per-memory loss over a meta-batch of memories, patterns [M, N, ...].

  Memories are processed one after another (`lax.map`), not with `vmap`: vmap
  would give EBMM's written weights a batch axis and turn every matmul of the
  energy into a batched matmul, about 40% slower on CPU (BENCHMARKS.md).
  Memory m is distorted with key `fold_in(key, index_offset + m)`, m counted
  across the whole meta-batch, so the queries do not depend on how the
  meta-batch is split across devices.

  Args:
    loss_fn: (params, patterns [N, ...], key) -> (loss, metrics), one memory's
      meta-loss (`meta_loss` for EBMM, `MemoryModel.loss` for any model).
  """
  indices = index_offset + jnp.arange(patterns.shape[0])

  def one(args):
    p, i = args
    return loss_fn(params, p, jax.random.fold_in(key, i))

  losses, metrics = jax.lax.map(one, (patterns, indices))
  return jnp.mean(losses), jax.tree_util.tree_map(lambda m: jnp.mean(m, axis=0), metrics)


def batched_meta_loss(energy_apply, task: Task, meta: MetaParams, patterns: jax.Array,
                      key: jax.Array, index_offset=0, *, iterates: str = "all",
                      loops: memory_lib.Loops = memory_lib.Loops()):
  """EBMM's mean meta-loss over a meta-batch of memories (`batched_loss`)."""
  loss_fn = functools.partial(_ebmm_loss, energy_apply, task, iterates, loops)
  return batched_loss(loss_fn, meta, patterns, key, index_offset)


def _ebmm_loss(energy_apply, task, iterates, loops, meta, patterns, key):
  return meta_loss(energy_apply, task, meta, patterns, key, iterates=iterates,
                   loops=loops)


def meta_step(energy_apply, task: Task, optimizer: optax.GradientTransformation,
              state: TrainState, patterns: jax.Array, key: jax.Array, *,
              iterates: str = "all", loops: memory_lib.Loops = memory_lib.Loops(),
              axis_name: Optional[str] = None):
  """One EBMM meta-step (Eq. 5) on a meta-batch `patterns` [M, N, ...].

  `model_meta_step` with EBMM's meta-loss (`meta_loss`) and its learned rates
  logged (`schedules`).
  """
  loss_fn = functools.partial(_ebmm_loss, energy_apply, task, iterates, loops)
  return model_meta_step(loss_fn, optimizer, state, patterns, key,
                         axis_name=axis_name, schedules_fn=schedules)


def model_meta_step(loss_fn: models.LossFn, optimizer: optax.GradientTransformation,
                    state: TrainState, patterns: jax.Array, key: jax.Array, *,
                    axis_name: Optional[str] = None,
                    schedules_fn: Optional[Callable[[Any], Dict[str, jax.Array]]] = None):
  """One meta-step of any memory model on a meta-batch `patterns` [M, N, ...].

  Eq. (5) for EBMM; for a baseline of Table 1 the same optimiser step on its
  own per-memory loss (`MemoryModel.loss`), so every row is meta-trained by
  one loop.

  With `axis_name` (inside `shard_map`), `patterns` is this device's share of
  the meta-batch; loss, metrics and meta-gradients are averaged over the axis
  before the (replicated) optimiser update.

  A step whose loss, meta-gradients or updated parameters are not finite is
  not applied: the state keeps its parameters and optimiser state and counts
  the skip (the caller decides when to give up).

  Args:
    loss_fn: (params, patterns [N, ...], key) -> (loss, metrics).
    schedules_fn: optional params -> learned scalars to log with the metrics.
  """
  offset = 0
  if axis_name is not None:
    offset = jax.lax.axis_index(axis_name) * patterns.shape[0]

  def total_loss(meta_params):
    if axis_name is not None:
      # Each device writes its own memories: its copy of the meta-parameters
      # must be device-varying, or the inner (writing) gradients w.r.t. the
      # replicated θ̄ would be summed over devices by shard_map's autodiff.
      meta_params = jax.lax.pcast(meta_params, axis_name, to="varying")
    loss, metrics = batched_loss(loss_fn, meta_params, patterns, key, offset)
    if axis_name is not None:
      # The mean over all devices' memories; the transpose of the cast above
      # all-reduces the meta-gradient, so `grads` is the replicated mean.
      loss, metrics = jax.lax.pmean((loss, metrics), axis_name)
    return loss, metrics

  (loss, metrics), grads = jax.value_and_grad(total_loss, has_aux=True)(state.meta_params)
  updates, opt_state = optimizer.update(grads, state.opt_state, state.meta_params)
  new_params = optax.apply_updates(state.meta_params, updates)
  finite = jnp.logical_and(jnp.isfinite(loss), _all_finite((grads, new_params)))
  keep = lambda new, old: jax.tree_util.tree_map(
      lambda a, b: jnp.where(finite, a, b), new, old)
  skipped = jnp.logical_not(finite).astype(jnp.int32)
  new_state = TrainState(
      step=state.step + 1,
      meta_params=keep(new_params, state.meta_params),
      opt_state=keep(opt_state, state.opt_state),
      nonfinite_in_a_row=(state.nonfinite_in_a_row + 1) * skipped,
      nonfinite_total=state.nonfinite_total + skipped)
  extra = schedules_fn(new_state.meta_params) if schedules_fn is not None else {}
  metrics = dict(metrics, meta_loss=loss, grad_norm=optax.tree.norm(grads),
                 finite=finite, **extra)
  return new_state, metrics
