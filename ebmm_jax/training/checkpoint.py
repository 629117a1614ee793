"""Atomic, pickle-free checkpoints of a pytree, newest-first restore with fallback.

A checkpoint is `ckpt_<step>.npz`: one array per pytree leaf, keyed by its tree
path, written to a temporary file, fsynced and renamed, so a process killed
mid-write never leaves a half-written checkpoint under the final name. Restoring
walks from the newest to older ones and skips (with a warning) any file that is
unreadable or does not match the expected tree.
"""
import os
import re
import tempfile
from typing import Any, List, Optional, Tuple

import jax
import numpy as np
from absl import logging

_NAME = re.compile(r"^ckpt_(\d+)\.npz$")


def _path_key(path) -> str:
  return jax.tree_util.keystr(path)


def list_checkpoints(directory: str) -> List[Tuple[int, str]]:
  """(step, path) of every checkpoint in `directory`, oldest first."""
  if not os.path.isdir(directory):
    return []
  found = []
  for name in os.listdir(directory):
    m = _NAME.match(name)
    if m:
      found.append((int(m.group(1)), os.path.join(directory, name)))
  return sorted(found)


def save(directory: str, step: int, tree: Any, keep: int = 3) -> str:
  """Writes `tree` as checkpoint `step` atomically; keeps it and the newest
  `keep - 1` others (never deleting the one just written, even if older,
  higher-step files are there)."""
  os.makedirs(directory, exist_ok=True)
  final = save_tree(os.path.join(directory, f"ckpt_{step}.npz"), tree)
  others = [p for _, p in list_checkpoints(directory) if p != final]
  for old in others[:max(len(others) - (keep - 1), 0)]:
    os.remove(old)
  return final


def save_tree(path: str, tree: Any) -> str:
  """Writes the arrays of `tree` to `path` (.npz) atomically: a temporary
  file in the same folder, fsynced, then renamed over `path`."""
  leaves = jax.tree_util.tree_flatten_with_path(jax.device_get(tree))[0]
  arrays = {_path_key(p): np.asarray(v) for p, v in leaves}
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                             prefix=".tmp_ckpt_", suffix=".npz")
  try:
    with os.fdopen(fd, "wb") as f:
      np.savez(f, **arrays)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
    os.chmod(path, 0o644)  # mkstemp's 0600 would hide it from other users.
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
  return path


def load(path: str, template: Any) -> Any:
  """Reads checkpoint `path` into the structure (and dtypes) of `template`."""
  leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
  with np.load(path, allow_pickle=False) as data:
    keys = set(data.files)
    restored = []
    for p, like in leaves:
      k = _path_key(p)
      if k not in keys:
        raise ValueError(f"checkpoint {path} lacks the array {k}.")
      value = data[k]
      if value.shape != np.shape(like):
        raise ValueError(f"checkpoint {path}: {k} has shape {value.shape}, "
                         f"expected {np.shape(like)}.")
      restored.append(value.astype(np.asarray(like).dtype))
  return jax.tree_util.tree_unflatten(treedef, restored)


def restore_latest(directory: str, template: Any) -> Optional[Tuple[int, Any]]:
  """The newest readable checkpoint as (step, tree), or None if there is none."""
  for step, path in reversed(list_checkpoints(directory)):
    try:
      return step, load(path, template)
    except Exception as e:  # A truncated or foreign file: fall back to older.
      logging.warning("Skipping unreadable checkpoint %s (%s: %s); trying an "
                      "older one.", path, type(e).__name__, e)
  return None
