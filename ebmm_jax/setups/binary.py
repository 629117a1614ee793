"""The binary-strings setup (Appendix A.2, C.1; Table 1): EBMM with the
gated-RNN energy, or a Table 1 baseline, on fresh random ±1 patterns."""
import functools

import haiku as hk
import jax
import ml_collections

from ebmm_jax.core import energy as energy_lib
from ebmm_jax.core import tasks
from ebmm_jax.data import binary_strings
from ebmm_jax.energies import rnn
from ebmm_jax.setups import experiment
from ebmm_jax.setups import registry


def make_energy(config: ml_collections.ConfigDict) -> energy_lib.Energy:
  """The gated RNN of Appendix C.1 in the network library `energy.library`
  (Haiku unless set; Flax NNX and Equinox are optional extras)."""
  e = config.energy
  if e.name != "gated_rnn":
    raise ValueError(f"Unknown energy.name {e.name!r}; known: 'gated_rnn'.")
  library = e.get("library", "haiku")
  if library == "haiku":
    fn = rnn.make_gated_rnn_energy(e.hidden_size, e.dynamic_size, e.hops)
    return energy_lib.from_haiku(hk.without_apply_rng(hk.transform(fn)))
  if library == "nnx":
    from ebmm_jax.energies import rnn_nnx  # pylint: disable=g-import-not-at-top
    return rnn_nnx.make_energy(e.input_size, e.hidden_size, e.dynamic_size, e.hops)
  if library == "equinox":
    from ebmm_jax.energies import rnn_equinox  # pylint: disable=g-import-not-at-top
    return rnn_equinox.make_energy(e.input_size, e.hidden_size, e.dynamic_size, e.hops)
  raise ValueError(f"Unknown energy.library {library!r}; known: {list(energy_lib.LIBRARIES)}.")


def build(config: ml_collections.ConfigDict) -> experiment.Experiment:
  """The model the config names (`setups.registry`: EBMM on the gated RNN
  of `make_energy`, or a Table 1 baseline) on binary strings of
  `data.pattern_dim` bits."""
  d = config.data
  task = tasks.binary_strings_task(d.pattern_dim)
  sample = make_sampler(d.pattern_dim)
  model = registry.build(config, task, lambda: make_energy(config))
  return experiment.Experiment(config, model, task, sample, sample)


def make_sampler(pattern_dim: int) -> experiment.SampleFn:
  """Fresh random patterns: train and test differ only by the key's stream."""

  @functools.partial(jax.jit, static_argnums=(1, 2))
  def sample(key, meta_batch_size, num_patterns):
    return binary_strings.sample_patterns(key, num_patterns, pattern_dim,
                                          (meta_batch_size,))

  return sample
