"""From a config to the pieces of a run: model, task, data sampler, meta-params.

This is the one place that knows which config names map to which modules;
launchers, the evaluator and the user-facing API all build through it.

An experiment's memory is `exp.model`, a `models.MemoryModel`: EBMM (built
from `exp.energy`, configs with an `energy` section) or a Table 1 baseline
(configs with a `model` section, `configs/memnet.py` etc.; `exp.energy` is
None for them).
"""
import dataclasses
import functools
from typing import Callable, Optional

import haiku as hk
import jax
import ml_collections

from ebmm_jax import configuration
from ebmm_jax import memory as memory_lib
from ebmm_jax import meta
from ebmm_jax import models
from ebmm_jax import params as params_lib
from ebmm_jax import tasks
from ebmm_jax.data import binary_strings
from ebmm_jax.energies import rnn

# (key, meta_batch_size, num_patterns) -> patterns [M, N, ...]. Called from
# Python (not traced by the caller), so a sampler may hold its dataset as a
# device array and jit its own indexing.
SampleFn = Callable[[jax.Array, int, int], jax.Array]


IMAGE_DATASETS = ("omniglot", "cifar10", "imagenet64", "mnist")


@dataclasses.dataclass(frozen=True)
class Experiment:
  config: ml_collections.ConfigDict
  energy: Optional[hk.Transformed]  # EBMM's energy(x [N, ...]) -> [N]; None for baselines.
  task: tasks.Task
  sample_train: SampleFn
  sample_test: SampleFn
  model: Optional[models.MemoryModel] = None  # None: EBMM, built from `energy`.

  def __post_init__(self):
    if self.model is None:
      if self.energy is None:
        raise ValueError("An Experiment needs an energy (EBMM) or a model.")
      object.__setattr__(self, "model", ebmm_model(self))

  def init_meta_params(self, key: jax.Array):
    """MetaParams for EBMM; a baseline's parameters otherwise."""
    if self.energy is None:
      return self.model.init(key)
    m = self.config.memory
    return meta.init_meta_params(
        key, self.energy, self.task.pattern_shape,
        write_steps=m.write_steps, read_steps=m.read_steps,
        write_lr_init=m.write_lr_init, grad_penalty_init=m.grad_penalty_init,
        prior_penalty_init=m.prior_penalty_init,
        read_step_size_init=m.read_step_size_init,
        read_step_decay_init=m.read_step_decay_init,
        read_momentum_init=m.read_momentum_init,
        read_momentum_decay_init=m.read_momentum_decay_init)

  def optimizer(self):
    o = self.config.optim
    return meta.make_optimizer(o.learning_rate, o.weight_decay, o.clip_global_norm)


def ebmm_model(exp: Experiment) -> models.MemoryModel:
  """EBMM as a `models.MemoryModel`: write is Eq. (4), read is Eq. (1), the
  loss is the meta-loss of Eq. (5) (`meta.meta_loss`); the state is the
  written weights θ."""
  c, energy, task = exp.config, exp.energy, exp.task
  loops = memory_lib.Loops(remat=c.memory.remat)

  def write(mp, patterns):
    return memory_lib.write(energy.apply, mp.static, mp.write, patterns, loops)[0]

  def read(mp, written, queries, known):
    params = hk.data_structures.merge(mp.static, written)
    return memory_lib.read(energy.apply, params, mp.read, queries, known,
                           box=task.box, loops=loops)

  def loss(mp, patterns, key):
    return meta.meta_loss(energy.apply, task, mp, patterns, key,
                          iterates=c.memory.meta_loss_iterates, loops=loops)

  return models.MemoryModel(
      name="EBMM", init=exp.init_meta_params, write=write, read=read, loss=loss,
      # The written weights have the shapes of θ̄: counted without writing.
      # (An initialisation, not `jax.eval_shape`: image energies initialise
      # through a jit with its own compiler options, which cannot be nested.)
      count_memory_floats=models.lazy_count(lambda: params_lib.count_floats(
          exp.init_meta_params(jax.random.PRNGKey(0)).write.init_memory)),
      schedules=meta.schedules)


def _build_energy(config) -> hk.Transformed:
  e = config.energy
  if e.name == "gated_rnn":
    fn = rnn.make_gated_rnn_energy(e.hidden_size, e.dynamic_size, e.hops)
  else:
    raise ValueError(f"Unknown energy.name {e.name!r}; known: 'gated_rnn'.")
  return hk.without_apply_rng(hk.transform(fn))


def build(config: ml_collections.ConfigDict) -> Experiment:
  """Validates `config` and builds its experiment."""
  configuration.validate(config)
  d = config.data
  if configuration.model_name(config) != configuration.EBMM:
    from ebmm_jax.baselines import registry  # The Table 1 baselines.
    task = tasks.binary_strings_task(d.pattern_dim)
    sample = _binary_sampler(d.pattern_dim)
    return Experiment(config, None, task, sample, sample,
                      model=registry.build(config, task))
  if d.name in IMAGE_DATASETS:
    from ebmm_jax import image_experiments  # Loads image data only when asked.
    return image_experiments.build(config)
  if d.name == "binary_strings":
    task = tasks.binary_strings_task(d.pattern_dim)
    sample_train = sample_test = _binary_sampler(d.pattern_dim)
  else:
    raise ValueError(f"Unknown data.name {d.name!r}; known: "
                     f"{('binary_strings',) + IMAGE_DATASETS}.")
  return Experiment(config, _build_energy(config), task, sample_train, sample_test)


def _binary_sampler(pattern_dim: int) -> SampleFn:
  """Fresh random patterns: train and test differ only by the key's stream."""

  @functools.partial(jax.jit, static_argnums=(1, 2))
  def sample(key, meta_batch_size, num_patterns):
    return binary_strings.sample_patterns(key, num_patterns, pattern_dim,
                                          (meta_batch_size,))

  return sample
