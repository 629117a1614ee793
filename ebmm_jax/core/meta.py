"""Meta-learning the memory: the meta-loss (Eq. 5, Appendix B.4) and meta-step.

The inner problem (write the batch, then read every distorted query) lives in
`ebmm_jax.core.memory`; this module owns what is learned across batches — θ̄, the
static weights, the writing rates and penalties, the reading step sizes — and
the optimiser step that learns them by differentiating through write and read.
The step itself (`model_meta_step`) takes any per-memory loss, so the Table 1
baselines (`ebmm_jax.baselines`, `ebmm_jax.core.models.MemoryModel`) are
meta-trained by the same loop; `meta_step` is it with EBMM's meta-loss.
"""
import functools
import math
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple, Union

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ebmm_jax.core import energy as energy_lib
from ebmm_jax.core import memory as memory_lib
from ebmm_jax.core import models
from ebmm_jax.core.tasks import Task

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


# How the writing rates are shared (Appendix D: per step, tensor and term).
WRITE_RATE_SHARING = ("per_step_tensor", "per_step", "per_tensor", "shared")


class Init(NamedTuple):
  """Initial values of the learned rates (config section `memory`)."""
  write_steps: int = 5  # T.
  read_steps: int = 5  # K.
  write_lr_init: float = 1e-4  # every writing rate η (Appendix D).
  grad_penalty_init: float = 1.0  # alpha.
  prior_penalty_init: float = 1.0  # beta.
  read_step_size_init: float = 1.0  # γ(1).
  read_step_decay_init: float = 0.9  # σ(η(k)) of B.3.
  read_momentum_init: float = 0.5  # ψ(1).
  read_momentum_decay_init: float = 0.9
  write_rate_sharing: str = "per_step_tensor"  # WRITE_RATE_SHARING.
  rates: str = "softplus"  # memory_lib.RATE_PARAMETRISATIONS.


def init_meta_params(key: jax.Array, energy: Union[energy_lib.Energy, hk.Transformed],
                     pattern_shape: Tuple[int, ...], init: Init = Init()) -> MetaParams:
  """He-initialised energy weights (Appendix A) and the learned rates' inits.

  `energy` is any library's `energy_lib.Energy` (an `hk.Transformed` is
  read as a Haiku energy); its `split` gives θ̄ and the static weights."""
  if init.write_steps < 1 or init.read_steps < 1:
    raise ValueError(f"write_steps and read_steps must be >= 1, got "
                     f"{init.write_steps} and {init.read_steps}.")
  if init.write_rate_sharing not in WRITE_RATE_SHARING:
    raise ValueError(f"write_rate_sharing={init.write_rate_sharing!r} is not one of "
                     f"{WRITE_RATE_SHARING}.")
  example = jnp.zeros((1, *pattern_shape), jnp.float32)
  energy = energy_lib.as_energy(energy)
  params = energy.init(key, example)
  init_memory, static = energy.split(params)
  energy_lib.check_writable(init_memory, params)  # Raises if nothing is writable.
  f32 = lambda v: jnp.asarray(v, jnp.float32)
  positive_inv = lambda y: memory_lib.inverse_positive(y, init.rates)
  steps = init.write_steps if init.write_rate_sharing in ("per_step_tensor",
                                                           "per_step") else 1
  # One buffer per leaf: the meta-step donates its input state.
  raw_lr = lambda: jnp.full((steps, len(memory_lib.WRITING_TERMS)),
                            float(positive_inv(init.write_lr_init)), jnp.float32)
  if init.write_rate_sharing in ("per_step_tensor", "per_tensor"):
    learning_rates = jax.tree_util.tree_map(lambda _: raw_lr(), init_memory)
  else:
    learning_rates = raw_lr()
  penalties = f32(positive_inv([init.grad_penalty_init, init.prior_penalty_init]))
  step_sizes = f32(np.concatenate([
      positive_inv([init.read_step_size_init]),
      np.full(init.read_steps - 1, memory_lib.logit(init.read_step_decay_init))]))
  momentum = f32(np.concatenate([
      memory_lib.logit([init.read_momentum_init]),
      np.full(init.read_steps - 1, memory_lib.logit(init.read_momentum_decay_init))]))
  return MetaParams(
      static=static,
      write=memory_lib.WriteParams(init_memory, learning_rates, penalties),
      read=memory_lib.ReadParams(step_sizes, momentum))


def write(energy_apply: memory_lib.EnergyApply, meta: MetaParams, patterns: jax.Array,
          loops: memory_lib.Loops = memory_lib.Loops(),
          rule: memory_lib.Rule = memory_lib.Rule()):
  """Writes `patterns` [N, ...] from θ̄ (Eq. 4): (written memory, writing-loss
  terms [T])."""
  return memory_lib.write(energy_apply, meta.static, meta.write, patterns, loops, rule)


def written_params(meta: MetaParams, written: hk.Params) -> hk.Params:
  """The energy's parameters under a written memory: static weights and θ."""
  return energy_lib.merge(meta.static, written)


def read(energy_apply: memory_lib.EnergyApply, meta: MetaParams, written: hk.Params,
         queries: jax.Array, known: Optional[jax.Array], box,
         loops: memory_lib.Loops = memory_lib.Loops(),
         rule: memory_lib.Rule = memory_lib.Rule()) -> jax.Array:
  """Reads every query [N, ...] under the written memory (Eq. 1, Appendix B):
  iterates [K, N, ...]."""
  return memory_lib.read(energy_apply, written_params(meta, written), meta.read,
                         queries, known, box=box, loops=loops, rule=rule)


def write_and_read(energy_apply: memory_lib.EnergyApply, meta: MetaParams,
                   patterns: jax.Array, queries: jax.Array,
                   known: Optional[jax.Array], box,
                   loops: memory_lib.Loops = memory_lib.Loops(),
                   rule: memory_lib.Rule = memory_lib.Rule()):
  """Writes `patterns` [N, ...], then reads every query [N, ...].

  Returns:
    iterates [K, N, ...], the written memory, the writing-loss terms [T].
  """
  written, write_losses = write(energy_apply, meta, patterns, loops, rule)
  iterates = read(energy_apply, meta, written, queries, known, box, loops, rule)
  return iterates, written, write_losses


def meta_loss(energy_apply: memory_lib.EnergyApply, task: Task, meta: MetaParams,
              patterns: jax.Array, key: jax.Array, *, iterates: str = "all",
              loops: memory_lib.Loops = memory_lib.Loops(),
              rule: memory_lib.Rule = memory_lib.Rule(),
              early_weight: Optional[jax.Array] = None
              ) -> Tuple[jax.Array, Dict[str, jax.Array]]:
  """The meta-loss of one memory batch `patterns` [N, ...].

  Args:
    iterates: "all" for the step-wise loss of Appendix B.4 (the sum over k of
      Eq. (2) at x(k)), "last" for Eq. (2) at x(K) only.
    early_weight: with iterates="all", the weight of x(1..K-1)'s terms (x(K)'s
      stays 1): MAML++'s multi-step loss, annealed towards "last" over
      training (`iterate_weight`). None: 1.

  Returns:
    (loss, metrics); metrics hold per-iterate reconstruction loss and score
    ([K]), the query's score, and the writing-loss terms ([T]).
  """
  if iterates not in META_LOSS_ITERATES:
    raise ValueError(f"iterates must be one of {META_LOSS_ITERATES}, got {iterates!r}.")
  queries, known = task.distort(key, patterns)
  xs, _, write_losses = write_and_read(energy_apply, meta, patterns, queries,
                                       known, task.box, loops, rule)
  metrics = models.iterate_metrics(task.score, xs, patterns, queries)
  per_iterate = metrics["reconstruction"]  # [K]
  if iterates == "last":
    loss = per_iterate[-1]
  elif early_weight is None:
    loss = jnp.sum(per_iterate)
  else:
    loss = early_weight * jnp.sum(per_iterate[:-1]) + per_iterate[-1]
  metrics.update(
      writing_energy=write_losses.energy,
      writing_grad_penalty=write_losses.grad_penalty,
      writing_prior_penalty=write_losses.prior_penalty)
  return loss, metrics


def iterate_weight(step: jax.Array, anneal_steps: int) -> jax.Array:
  """The early iterates' weight at meta-step `step`: 1 at step 0, falling
  linearly to 0 at `anneal_steps` (MAML++, Antoniou et al. 2019)."""
  return jnp.clip(1.0 - step / anneal_steps, 0.0, 1.0)


def schedules(meta: MetaParams, rule: memory_lib.Rule = memory_lib.Rule()
              ) -> Dict[str, jax.Array]:
  """The learned rates, in their constrained form, for logging."""
  alpha, beta = memory_lib.penalty_weights(meta.write.penalties, rule.rates)
  rates = jnp.stack([memory_lib.positive(r, rule.rates) for r in
                     jax.tree_util.tree_leaves(meta.write.learning_rates)])
  return dict(
      read_step_sizes=memory_lib.step_size_schedule(meta.read.step_sizes, rule.rates),
      read_momentum=memory_lib.momentum_schedule(meta.read.momentum),
      grad_penalty=alpha, prior_penalty=beta,
      write_lr_mean=jnp.mean(rates, axis=(0, 1)),  # [3]: per writing term.
  )


# Optimiser labels: the learned rates and step sizes vs. the network's weights.
RATE_LABEL, WEIGHT_LABEL, STATIC_LABEL = "rates", "weights", "static"
# "cosine" decays to final_fraction over the horizon; "drop" keeps the peak
# for the first drop_at of it, then final_fraction (RESULTS.md: a late step
# down beats a cosine at the same budget).
LR_SCHEDULES = ("constant", "cosine", "drop")
# What a schedule's horizon is measured in: meta-steps (`decay_steps`, default
# train.num_steps) or training seconds (train.max_seconds; `seconds_fraction`).
SCHEDULE_CLOCKS = ("steps", "seconds")


class OptimizerConfig(NamedTuple):
  """The outer optimiser (config section `optim`); defaults are Appendix A's."""
  learning_rate: float = 5e-5
  weight_decay: float = 1e-6
  clip_global_norm: float = 0.05
  # Learning rate of the rates, penalties and read step sizes; 0: learning_rate.
  rate_learning_rate: float = 0.0
  # Learning rate of the static (non-writable) energy weights; < 0: learning_rate,
  # 0: frozen at their initialisation (θ̄, the rates and step sizes still learn).
  static_learning_rate: float = -1.0
  warmup_steps: int = 0  # Linear warm-up from 0.
  schedule: str = "constant"  # LR_SCHEDULES.
  decay_steps: int = 0  # Horizon of a cosine or drop on the steps clock, warm-up included.
  final_fraction: float = 0.0  # Learning rate at the end / the peak.
  drop_at: float = 0.8  # "drop": fraction of the horizon at the peak.
  # SCHEDULE_CLOCKS. "seconds": the optimiser keeps its peak (after warm-up)
  # and the loop scales every update by `seconds_fraction` (`lr_scale`).
  clock: str = "steps"


def meta_param_labels(meta: MetaParams, static: str = WEIGHT_LABEL) -> MetaParams:
  """RATE_LABEL for the writing rates, penalties and read step sizes (a few
  scalars that set the scale of every update), WEIGHT_LABEL for θ̄, and
  `static` for the static weights (WEIGHT_LABEL, or STATIC_LABEL when they
  have their own learning rate)."""
  label = lambda tree, name: jax.tree_util.tree_map(lambda _: name, tree)
  return MetaParams(
      static=label(meta.static, static),
      write=memory_lib.WriteParams(label(meta.write.init_memory, WEIGHT_LABEL),
                                   label(meta.write.learning_rates, RATE_LABEL),
                                   label(meta.write.penalties, RATE_LABEL)),
      read=label(meta.read, RATE_LABEL))


def seconds_fraction(o: OptimizerConfig, progress: float) -> float:
  """Learning rate / peak of a schedule on the seconds clock, at `progress`
  (training seconds / the horizon, clipped to [0, 1]): the same cosine shape
  as optax's `warmup_cosine_decay_schedule` after its warm-up."""
  p = min(max(float(progress), 0.0), 1.0)
  if o.schedule == "drop":
    return 1.0 if p < o.drop_at else o.final_fraction
  if o.schedule != "cosine":
    return 1.0
  return o.final_fraction + (1.0 - o.final_fraction) * 0.5 * (1.0 + math.cos(math.pi * p))


def learning_rate_schedule(peak: float, o: OptimizerConfig) -> optax.ScalarOrSchedule:
  if o.schedule not in LR_SCHEDULES:
    raise ValueError(f"schedule={o.schedule!r} is not one of {LR_SCHEDULES}.")
  if o.clock not in SCHEDULE_CLOCKS:
    raise ValueError(f"clock={o.clock!r} is not one of {SCHEDULE_CLOCKS}.")
  if o.schedule != "constant" and o.clock == "steps":
    if o.decay_steps <= o.warmup_steps:
      raise ValueError(f"decay_steps={o.decay_steps} must exceed warmup_steps="
                       f"{o.warmup_steps} for a {o.schedule} schedule.")
    if o.schedule == "cosine":
      return optax.warmup_cosine_decay_schedule(
          0.0, peak, max(o.warmup_steps, 1), o.decay_steps, peak * o.final_fraction)
    at_peak = optax.piecewise_constant_schedule(
        peak, {int(o.drop_at * o.decay_steps) - o.warmup_steps: o.final_fraction})
    if o.warmup_steps == 0:
      return at_peak
    return optax.join_schedules(
        [optax.linear_schedule(0.0, peak, o.warmup_steps), at_peak], [o.warmup_steps])
  if o.warmup_steps > 0:
    return optax.join_schedules(
        [optax.linear_schedule(0.0, peak, o.warmup_steps), optax.constant_schedule(peak)],
        [o.warmup_steps])
  return peak  # Constant: a float (no schedule state).


def make_optimizer(o: OptimizerConfig = OptimizerConfig(), *,
                   multi: bool = True) -> optax.GradientTransformation:
  """Appendix A: AdamW (lr 5e-5, wd 1e-6) after global-norm clipping at 0.05.

  With `o.rate_learning_rate` set (and `multi`, for MetaParams), the rates and
  step sizes get their own AdamW learning rate (`optax.multi_transform`);
  with `o.static_learning_rate` >= 0, so do the static weights (0: frozen).
  All follow the same warm-up / schedule shape.
  """
  adamw = lambda peak: optax.adamw(learning_rate_schedule(peak, o),
                                   weight_decay=o.weight_decay)
  own_static = o.static_learning_rate >= 0
  if not multi or (o.rate_learning_rate <= 0 and not own_static):
    inner = adamw(o.learning_rate)
  else:
    rate_lr = o.rate_learning_rate if o.rate_learning_rate > 0 else o.learning_rate
    transforms = {WEIGHT_LABEL: adamw(o.learning_rate), RATE_LABEL: adamw(rate_lr)}
    if own_static:
      transforms[STATIC_LABEL] = (adamw(o.static_learning_rate) if o.static_learning_rate > 0
                                  else optax.set_to_zero())
    inner = optax.multi_transform(
        transforms, functools.partial(
            meta_param_labels, static=STATIC_LABEL if own_static else WEIGHT_LABEL))
  return optax.chain(optax.clip_by_global_norm(o.clip_global_norm), inner)


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
                      loops: memory_lib.Loops = memory_lib.Loops(),
                      rule: memory_lib.Rule = memory_lib.Rule()):
  """EBMM's mean meta-loss over a meta-batch of memories (`batched_loss`)."""
  loss_fn = functools.partial(_ebmm_loss, energy_apply, task, iterates, loops, rule)
  return batched_loss(loss_fn, meta, patterns, key, index_offset)


def _ebmm_loss(energy_apply, task, iterates, loops, rule, meta, patterns, key):
  return meta_loss(energy_apply, task, meta, patterns, key, iterates=iterates,
                   loops=loops, rule=rule)


def meta_step(energy_apply, task: Task, optimizer: optax.GradientTransformation,
              state: TrainState, patterns: jax.Array, key: jax.Array, *,
              iterates: str = "all", loops: memory_lib.Loops = memory_lib.Loops(),
              rule: memory_lib.Rule = memory_lib.Rule(),
              axis_name: Optional[str] = None):
  """One EBMM meta-step (Eq. 5) on a meta-batch `patterns` [M, N, ...].

  `model_meta_step` with EBMM's meta-loss (`meta_loss`) and its learned rates
  logged (`schedules`).
  """
  loss_fn = functools.partial(_ebmm_loss, energy_apply, task, iterates, loops, rule)
  return model_meta_step(loss_fn, optimizer, state, patterns, key, axis_name=axis_name,
                         schedules_fn=functools.partial(schedules, rule=rule))


def model_meta_step(loss_fn: models.LossFn, optimizer: optax.GradientTransformation,
                    state: TrainState, patterns: jax.Array, key: jax.Array, *,
                    axis_name: Optional[str] = None,
                    schedules_fn: Optional[Callable[[Any], Dict[str, jax.Array]]] = None,
                    lr_scale: Optional[jax.Array] = None):
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
