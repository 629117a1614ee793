"""The meta-step (Eq. 5) of any memory model, and the training state.

`meta_step` applies the outer optimiser (`training.optimizer`) to the mean of
a per-memory loss over a meta-batch: EBMM's meta-loss (`MemoryModel.loss`,
built on `core.meta.meta_loss`) or a Table 1 baseline's, so every row is
meta-trained by one step. Training, the benchmark and the tests share it.
"""
from typing import Any, Callable, Dict, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from ebmm_jax.core import models


class TrainState(NamedTuple):
  """What a meta-training run carries from one meta-step to the next."""
  step: jax.Array  # int32 [], meta-steps applied or skipped so far.
  meta_params: Any  # MetaParams for EBMM; a baseline's parameters otherwise.
  opt_state: optax.OptState
  nonfinite_in_a_row: jax.Array  # int32 [], consecutive skipped meta-steps.
  nonfinite_total: jax.Array  # int32 [], all skipped meta-steps.


def init_train_state(meta: Any, optimizer: optax.GradientTransformation) -> TrainState:
  # Separate buffers: the step donates its input state (optimisers may share
  # one constant between their step counts).
  zero = lambda: jnp.zeros((), jnp.int32)
  opt_state = jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True),
                                     optimizer.init(meta))
  return TrainState(zero(), meta, opt_state, zero(), zero())


def _all_finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x))
                            for x in jax.tree_util.tree_leaves(tree)]))


def batched_loss(loss_fn: models.LossFn, params, patterns: jax.Array,
                 key: jax.Array, index_offset=0, counts: Optional[jax.Array] = None):
  """Mean of a per-memory loss over a meta-batch of memories, patterns [M, N, ...].

  Memories are processed one after another (`lax.map`), not with `vmap`: vmap
  would give EBMM's written weights a batch axis and turn every matmul of the
  energy into a batched matmul, about 40% slower on CPU (BENCHMARKS.md).
  Memory m is distorted with key `fold_in(key, index_offset + m)`, m counted
  across the whole meta-batch, so the queries do not depend on how the
  meta-batch is split across devices.

  Args:
    loss_fn: (params, patterns [N, ...], key[, mask=]) -> (loss, metrics), one
      memory's meta-loss (`meta_loss` for EBMM, `MemoryModel.loss` for any model).
    counts: optional int [M]: memory m holds its first counts[m] patterns,
      the rest is padding (`loss_fn` is passed the mask).
  """
  indices = index_offset + jnp.arange(patterns.shape[0])
  num = patterns.shape[1]

  def one(args):
    if counts is None:
      p, i = args
      return loss_fn(params, p, jax.random.fold_in(key, i))
    p, i, n = args
    return loss_fn(params, p, jax.random.fold_in(key, i), mask=jnp.arange(num) < n)

  xs = (patterns, indices) if counts is None else (patterns, indices, counts)
  losses, metrics = jax.lax.map(one, xs)
  return jnp.mean(losses), jax.tree_util.tree_map(lambda m: jnp.mean(m, axis=0), metrics)


def meta_step(loss_fn: models.LossFn, optimizer: optax.GradientTransformation,
              state: TrainState, patterns: jax.Array, key: jax.Array, *,
              axis_name: Optional[str] = None,
              schedules_fn: Optional[Callable[[Any], Dict[str, jax.Array]]] = None,
              lr_scale: Optional[jax.Array] = None,
              counts: Optional[jax.Array] = None):
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
    lr_scale: optional scalar multiplying the update (both learning rates) on
      the seconds clock (`seconds_fraction`).
    counts: optional int [M] (this device's share): memory m stores its first
      counts[m] patterns, the rest of its N_max rows is padding. One compiled
      step then trains every N <= N_max.
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
    loss, metrics = batched_loss(loss_fn, meta_params, patterns, key, offset, counts)
    if axis_name is not None:
      # The mean over all devices' memories; the transpose of the cast above
      # all-reduces the meta-gradient, so `grads` is the replicated mean.
      loss, metrics = jax.lax.pmean((loss, metrics), axis_name)
    return loss, metrics

  (loss, metrics), grads = jax.value_and_grad(total_loss, has_aux=True)(state.meta_params)
  updates, opt_state = optimizer.update(grads, state.opt_state, state.meta_params)
  if lr_scale is not None:  # AdamW's update is -lr (adam + wd p): scaling it scales lr.
    updates = jax.tree_util.tree_map(lambda u: u * lr_scale, updates)
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
