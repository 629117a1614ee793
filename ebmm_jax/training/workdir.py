"""A training workdir's guards: one trainer at a time, and no silent change of
the run it holds.

- `lock(workdir)`: an exclusive `fcntl` lock on `WORKDIR/.lock`, held while a
  trainer runs. The operating system releases it when the process ends, even
  when it is killed, so a crashed run never leaves the workdir stuck. A cloud
  workdir (`gs://...`) has no such lock: a warning says so.
- `check_config(workdir, config)`: a workdir that holds checkpoints may be
  resumed only with the config it was trained with; budget and reporting
  fields (`RESUMABLE_FIELDS`) may change. Anything else raises
  `ConfigMismatchError` listing the differing fields.
- `move_aside(workdir)`: moves a run's files into `WORKDIR/previous_<time>/`,
  so that a new run can start there without deleting the old one.
"""
import fcntl
import json
import os
import time
from typing import Dict, List, Tuple

import ml_collections
from absl import logging
from etils import epath

from ebmm_jax.core import meta
from ebmm_jax.training import optimizer as optimizer_lib

CONFIG_FILE = "config.json"
LOCK_FILE = ".lock"
# Fields that change how long a run trains (`optim.horizon_seconds`: over
# which seconds its schedule runs), how it reports or how its steps are
# computed (`memory.unroll`: the same values), not the model or its
# recipe: a resumed run may change them.
RESUMABLE_FIELDS = ("train.num_steps", "train.max_seconds", "train.log_every",
                    "train.checkpoint_every_secs", "train.keep_checkpoints",
                    "train.keep_every_steps",
                    "train.max_nonfinite_steps", "data.data_dir",
                    "data.eval_split", "memory.unroll", "optim.horizon_seconds")
RESUMABLE_SECTIONS = ("eval",)


class WorkdirBusyError(RuntimeError):
  """Another trainer holds the workdir."""


class ConfigMismatchError(ValueError):
  """The requested config differs from the one the workdir was trained with."""


def _flatten(d, prefix="") -> Dict[str, object]:
  out = {}
  for k, v in d.items():
    name = f"{prefix}{k}"
    if isinstance(v, dict):
      out.update(_flatten(v, name + "."))
    else:
      out[name] = list(v) if isinstance(v, tuple) else v
  return out


_MISSING = "<absent>"


def _implied_defaults() -> Dict[str, object]:
  """What a field means when a config lacks it (one written before the field
  existed): the defaults the experiment builder fills in."""
  out = {f"memory.{k}": v for k, v in meta.Init()._asdict().items()}
  out.update({f"optim.{k}": v for k, v in optimizer_lib.OptimizerConfig()._asdict().items()})
  out.update({"memory.read_start": "query", "memory.projection_gradient": "clip",
              "memory.first_order_steps": 0, "memory.iterate_anneal_steps": 0,
              "train.init_from": "", "energy.library": "haiku",
              "data.curriculum": "",
              # Image configs saved before the validation split trained on
              # the whole train part and were evaluated on the test split.
              "data.hold_out_validation": False, "data.eval_split": "test",
              "data.train_num_patterns": "",
              "data.num_patterns_per_memory": "", "data.padded_sizes": "",
              # Streams (memory.stream_chunks, memory.forget_init: meta.Init).
              "memory.stream_loss_weights": "uniform", "memory.stream_gradient": "full",
              "memory.stream_weights_anneal_steps": 0, "memory.write_prior": "init",
              "memory.stream_composition": "chained",
              "train.seconds": "wall"})
  return out


def config_differences(saved: dict, requested: dict) -> List[Tuple[str, object, object]]:
  """(field, saved value, requested value) for every field that differs and
  is not resumable. A field that only one side has counts as its implied
  default on the other (`_implied_defaults`), or as absent."""
  a, b = _flatten(saved), _flatten(requested)
  implied = _implied_defaults()
  diffs = []
  for field in sorted(set(a) | set(b)):
    if field in RESUMABLE_FIELDS or field.split(".")[0] in RESUMABLE_SECTIONS:
      continue
    old = a.get(field, implied.get(field, _MISSING))
    new = b.get(field, implied.get(field, _MISSING))
    if old != new:
      diffs.append((field, old, new))
  return diffs


def _as_dict(config: ml_collections.ConfigDict) -> dict:
  return json.loads(config.to_json_best_effort())


def check_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Raises ConfigMismatchError if `workdir`'s saved config differs from
  `config` in a field that is not resumable."""
  path = epath.Path(workdir) / CONFIG_FILE
  if not path.exists():
    return
  try:
    saved = json.loads(path.read_text())
  except (OSError, json.JSONDecodeError) as e:
    raise ConfigMismatchError(
        f"{path} is unreadable ({type(e).__name__}: {e}); the run there cannot be "
        "checked against this config. Restore the file, or start a new run with "
        "--restart (the old files are moved aside, not deleted).") from None
  diffs = config_differences(saved, _as_dict(config))
  if diffs:
    listed = "; ".join(f"{f}: {old!r} -> {new!r}" for f, old, new in diffs[:8])
    more = f" (and {len(diffs) - 8} more)" if len(diffs) > 8 else ""
    raise ConfigMismatchError(
        f"{workdir} holds a run trained with another config ({listed}{more}). "
        "Resume it with its own config, train elsewhere, or pass --restart to "
        "move the old run aside and start a new one here.")


def write_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  path = epath.Path(workdir) / CONFIG_FILE
  tmp = path.parent / (CONFIG_FILE + ".tmp")
  tmp.write_text(config.to_json_best_effort(indent=2))
  tmp.replace(path)


def move_aside(workdir: str) -> str:
  """Moves everything in `workdir` (but earlier `previous_*` folders and the
  lock) into a new `previous_<UTC time>` folder; returns its path."""
  stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
  root = epath.Path(workdir)
  dest = root / f"previous_{stamp}"
  suffix = 0
  while dest.exists():
    suffix += 1
    dest = root / f"previous_{stamp}_{suffix}"
  dest.mkdir(parents=True)
  for p in root.iterdir():
    if p.name.startswith("previous_") or p.name == LOCK_FILE:
      continue
    p.rename(dest / p.name)
  return str(dest)


class lock:  # pylint: disable=invalid-name
  """Context manager: holds `WORKDIR/.lock` exclusively, or raises
  WorkdirBusyError naming the process that holds it."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, LOCK_FILE)
    self._file = None

  def __enter__(self):
    if "://" in self.path:  # No flock on object stores.
      logging.warning("%s is not a local folder: nothing stops a second trainer "
                      "there; make sure only one job trains in it.",
                      os.path.dirname(self.path))
      return self
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    self._file = open(self.path, "a+")
    try:
      fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      self._file.seek(0)
      holder = self._file.read().strip() or "another process"
      self._file.close()
      raise WorkdirBusyError(
          f"{os.path.dirname(self.path)} is being trained by {holder}; two "
          "trainers on one workdir would overwrite each other's checkpoints. "
          "Wait for it to finish or stop it.") from None
    self._file.seek(0)
    self._file.truncate()
    self._file.write(f"process {os.getpid()} on {os.uname().nodename}")
    self._file.flush()
    return self

  def __exit__(self, *exc):
    if self._file is None:
      return False
    fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
    self._file.close()
    return False
