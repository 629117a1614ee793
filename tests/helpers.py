"""Tiny binary-strings experiments shared by the core tests (few compilations)."""
from configs import binary
from ebmm_jax import experiment


def tiny_config(**overrides):
  """A seconds-scale binary config: D = 16, hidden 8, 2 hops, N = 4, T = K = 2."""
  c = binary.get_config("runlocal")
  c.unlock()
  c.energy.input_size = 16
  c.data.pattern_dim = 16
  c.energy.hidden_size = 8
  c.energy.dynamic_size = 3
  c.energy.hops = 2
  c.data.num_patterns = 4
  c.memory.write_steps = 2
  c.memory.read_steps = 2
  c.memory.write_lr_init = 0.05
  c.optim.learning_rate = 1e-2
  for key, value in overrides.items():
    section, field = key.split(".")
    c[section][field] = value
  c.lock()
  return c


def tiny_experiment(**overrides):
  return experiment.build(tiny_config(**overrides))
