"""Tiny binary-strings experiments shared by the core tests (few compilations)."""
from ebmm_jax import setups
from ebmm_jax.setups import specs

# A seconds-scale binary config: D = 16, hidden 8, 2 hops, N = 4, T = K = 2.
TINY = {
    "energy.input_size": 16,
    "data.pattern_dim": 16,
    "energy.hidden_size": 8,
    "energy.dynamic_size": 3,
    "energy.hops": 2,
    "data.num_patterns": 4,
    "memory.write_steps": 2,
    "memory.read_steps": 2,
    "memory.write_lr_init": 0.05,
    "optim.learning_rate": 1e-2,
}


def tiny_config(**overrides):
  c = specs.load("binary:runlocal")
  c.unlock()
  for key, value in {**TINY, **overrides}.items():
    section, field = key.split(".")
    c[section][field] = value
  c.lock()
  return c


def image_config(name, data_dir, **overrides):
  """Config `name`'s runlocal variant on the real data in `data_dir`, with
  `overrides` ({"section.field": value})."""
  c = specs.load(f"{name}:runlocal")
  c.unlock()
  c.data.data_dir = str(data_dir)
  for key, value in overrides.items():
    section, field = key.split(".")
    c[section][field] = value
  c.lock()
  return c


def tiny_flags(**overrides):
  """The same config as launcher flags (`--config.section.field=value`)."""
  return ["--config=configs/binary.py:runlocal"] + [
      f"--config.{k}={v}" for k, v in {**TINY, **overrides}.items()]


def tiny_experiment(**overrides):
  return setups.build(tiny_config(**overrides))


def corrupt_checkpoint(path) -> None:
  """Makes checkpoint `path` unreadable, as a crash or a bad disk would: every
  file of an orbax step folder (or a legacy .npz) cut to a few junk bytes."""
  import pathlib  # pylint: disable=g-import-not-at-top
  p = pathlib.Path(path)
  files = [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else [p]
  for f in files:
    f.write_bytes(b"junk")
