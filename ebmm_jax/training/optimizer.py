"""The outer optimiser of meta-training (Appendix A): AdamW after global-norm
clipping, the learning-rate schedules and the seconds clock.

`make_optimizer(optimizer_config(config))` builds it from a config's `optim`
section; EBMM's meta-parameters (`meta.MetaParams`) may give the learned
rates and the static weights their own learning rates (`optax.multi_transform`
over `meta_param_labels`), any other model's parameters get one.
"""
import functools
import math
from typing import Any, NamedTuple

import jax
import ml_collections
import optax

from ebmm_jax.core import memory as memory_lib
from ebmm_jax.core.meta import MetaParams
from ebmm_jax.setups.configuration import LR_SCHEDULES, SCHEDULE_CLOCKS

# Optimiser labels: the learned rates and step sizes vs. the network's weights.
RATE_LABEL, WEIGHT_LABEL, STATIC_LABEL = "rates", "weights", "static"


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
  # Seconds clock: the schedule's horizon in training seconds (0:
  # train.max_seconds). A later leg that raises train.max_seconds past it
  # trains on at the schedule's end (e.g. the low rate after a drop) instead
  # of stretching the schedule back to its peak.
  horizon_seconds: float = 0.0


def meta_param_labels(meta: MetaParams, static: str = WEIGHT_LABEL) -> MetaParams:
  """RATE_LABEL for the writing rates, penalties, read step sizes, the
  learned n-exponent and a stream's forgetting (a few scalars that set the
  scale of every update), WEIGHT_LABEL for θ̄, and
  `static` for the static weights (WEIGHT_LABEL, or STATIC_LABEL when they
  have their own learning rate)."""
  label = lambda tree, name: jax.tree_util.tree_map(lambda _: name, tree)
  return MetaParams(
      static=label(meta.static, static),
      write=memory_lib.WriteParams(label(meta.write.init_memory, WEIGHT_LABEL),
                                   label(meta.write.learning_rates, RATE_LABEL),
                                   label(meta.write.penalties, RATE_LABEL),
                                   label(meta.write.n_exponent, RATE_LABEL),
                                   label(meta.write.forgetting, RATE_LABEL)),
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


def make_optimizer(o: OptimizerConfig = OptimizerConfig()) -> optax.GradientTransformation:
  """Appendix A: AdamW (lr 5e-5, wd 1e-6) after global-norm clipping at 0.05.

  With `o.rate_learning_rate` set, EBMM's rates and step sizes get their own
  AdamW learning rate (`optax.multi_transform`); with
  `o.static_learning_rate` >= 0, so do its static weights (0: frozen). All
  follow the same warm-up / schedule shape. Parameters that are not
  `MetaParams` (the baselines') are all weights.
  """
  adamw = lambda peak: optax.adamw(learning_rate_schedule(peak, o),
                                   weight_decay=o.weight_decay)
  own_static = o.static_learning_rate >= 0
  if o.rate_learning_rate <= 0 and not own_static:
    inner = adamw(o.learning_rate)
  else:
    rate_lr = o.rate_learning_rate if o.rate_learning_rate > 0 else o.learning_rate
    transforms = {WEIGHT_LABEL: adamw(o.learning_rate), RATE_LABEL: adamw(rate_lr)}
    if own_static:
      transforms[STATIC_LABEL] = (adamw(o.static_learning_rate) if o.static_learning_rate > 0
                                  else optax.set_to_zero())
    inner = optax.multi_transform(
        transforms, functools.partial(
            _labels, static=STATIC_LABEL if own_static else WEIGHT_LABEL))
  return optax.chain(optax.clip_by_global_norm(o.clip_global_norm), inner)


def _labels(params: Any, static: str) -> Any:
  """`meta_param_labels` for EBMM's MetaParams; every leaf a weight otherwise."""
  if isinstance(params, MetaParams):
    return meta_param_labels(params, static)
  return jax.tree_util.tree_map(lambda _: WEIGHT_LABEL, params)


def optimizer_config(config: ml_collections.ConfigDict) -> OptimizerConfig:
  """The `optim` section, with a step-clock schedule over the whole run
  (`decay_steps` 0: train.num_steps); fields a config lacks (one written
  before they existed) keep their defaults."""
  section = config.optim
  o = OptimizerConfig(**{f: section[f] for f in OptimizerConfig._fields if f in section})
  if o.schedule != "constant" and o.decay_steps == 0:
    o = o._replace(decay_steps=config.train.num_steps)
  return o


def for_config(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """The optimiser of a config's run."""
  return make_optimizer(optimizer_config(config))
