"""From a config to the pieces of a run: energy, task, data sampler, meta-params.

This is the one place that knows which config names map to which modules;
launchers, the evaluator and the user-facing API all build through it.
"""
import dataclasses
import functools
from typing import Callable

import haiku as hk
import jax
import ml_collections

from ebmm_jax import configuration
from ebmm_jax import meta
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
  energy: hk.Transformed  # energy(x [N, ...]) -> [N].
  task: tasks.Task
  sample_train: SampleFn
  sample_test: SampleFn

  def init_meta_params(self, key: jax.Array) -> meta.MetaParams:
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
  if d.name in IMAGE_DATASETS:
    from ebmm_jax import image_experiments  # Loads image data only when asked.
    return image_experiments.build(config)
  if d.name == "binary_strings":
    task = tasks.binary_strings_task(d.pattern_dim)

    # Fresh random patterns: train and test differ only by the key's stream.
    @functools.partial(jax.jit, static_argnums=(1, 2))
    def sample(key, meta_batch_size, num_patterns):
      return binary_strings.sample_patterns(key, num_patterns, d.pattern_dim,
                                            (meta_batch_size,))

    sample_train = sample_test = sample
  else:
    raise ValueError(f"Unknown data.name {d.name!r}; known: "
                     f"{('binary_strings',) + IMAGE_DATASETS}.")
  return Experiment(config, _build_energy(config), task, sample_train, sample_test)
