"""The launchers' flags, each common one defined here once.

A launcher declares the flags it takes by calling these functions at import,
e.g. `_WORKDIR = run_flags.workdir("A training workdir.", required=True)`:
a flag's name, type and parsing are the same in every launcher, and its help
(and where it differs, its default) says what it means there. `cli.run` lists
the declared flags in the launcher's --help.

`config` is how every launcher takes a config: FILE[:VARIANTS], a config file
or an installed config's name, loaded by `specs.load` (the package's one
config loader), then `--config.section.field=value` overrides, each typed
like its field.
"""
from typing import List, Optional, Tuple

from absl import flags
from ml_collections import config_flags

from ebmm_jax.setups import images as image_setups
from ebmm_jax.setups import specs

_DECLARED: List[str] = []


def declared() -> List[str]:
  """The names of the flags declared through this module."""
  return list(_DECLARED)


def _declare(holder: flags.FlagHolder, required: bool = False) -> flags.FlagHolder:
  _DECLARED.append(holder.name)
  if required:
    flags.mark_flag_as_required(holder.name)
  return holder


class _SpecParser(flags.ArgumentParser):
  """FILE[:VARIANTS] -> its config, loaded by `specs.load`."""

  def __init__(self, lock: bool):
    self._lock = lock

  def parse(self, argument):
    config = specs.load(argument)
    if self._lock:
      config.lock()
    return config

  def flag_type(self):
    return "config object"


def config(help_text: str, name: str = "config", default: Optional[str] = None,
           required: bool = False, lock: bool = True) -> flags.FlagHolder:
  """--NAME=FILE[:VARIANTS] with --NAME.section.field=value overrides; its value
  is the ConfigDict (locked unless `lock` is False: no new fields)."""
  # ml_collections' config flag gives the typed overrides; the config itself
  # is loaded by `specs.load`, as everywhere else.
  holder = config_flags.DEFINE_config_file(name, None, help_text, lock_config=lock)
  flags.FLAGS[name].parser = _SpecParser(lock)
  if default is not None:
    flags.FLAGS.set_default(name, default)
  return _declare(holder, required)


def spec_name(holder: flags.FlagHolder) -> str:
  """The FILE[:VARIANTS] that a `config` flag was given."""
  return config_flags.get_config_filename(flags.FLAGS[holder.name])


def workdir(help_text: str, required: bool = False) -> flags.FlagHolder:
  return _declare(flags.DEFINE_string("workdir", None, help_text), required)


def workdirs(help_text: str, required: bool = False) -> flags.FlagHolder:
  """--workdir, repeatable: a list."""
  return _declare(flags.DEFINE_multi_string("workdir", [], help_text), required)


def root(help_text: str, default: Optional[str] = None,
         required: bool = False) -> flags.FlagHolder:
  return _declare(flags.DEFINE_string("root", default, help_text), required)


def output(help_text: str, default: str = "") -> flags.FlagHolder:
  return _declare(flags.DEFINE_string("output", default, help_text))


def output_dir(help_text: str) -> flags.FlagHolder:
  return _declare(flags.DEFINE_string("output_dir", "", help_text))


def data_dir(help_text: str, default: Optional[str] = "",
             required: bool = False) -> flags.FlagHolder:
  return _declare(flags.DEFINE_string("data_dir", default, help_text), required)


def seed(help_text: str = "Evaluation seed.") -> flags.FlagHolder:
  return _declare(flags.DEFINE_integer("seed", 12345, help_text))


def num_batches(help_text: str, default: int = 1000) -> flags.FlagHolder:
  return _declare(flags.DEFINE_integer("num_batches", default, help_text))


def split(help_text: str = ("Split of the image batches: validation (choices) or test "
                             "(reported numbers); empty: the config's data.eval_split.")
          ) -> flags.FlagHolder:
  return _declare(flags.DEFINE_enum("split", "", ["", *image_setups.EVAL_SPLITS], help_text))


def training_budget() -> Tuple[flags.FlagHolder, flags.FlagHolder]:
  """(--train_seconds, --train_steps): how much longer each model of a
  train-or-load launcher trains."""
  seconds = flags.DEFINE_float("train_seconds", 0.0,
                               "Training time per model (0: no limit).")
  steps = flags.DEFINE_integer(
      "train_steps", 0, "Train each model to this many meta-steps (0: the "
      "config's). With both budgets 0 the models are only loaded.")
  return _declare(seconds), _declare(steps)

