"""Training checkpoints on any filesystem: orbax-checkpoint, newest-first
restore with fallback, and a retention rule that never drops the newest save.

A checkpoint of step S is the folder `DIRECTORY/S`, written by an orbax
`CheckpointManager`: orbax writes it under a temporary name and renames it
once complete (on object stores it marks it complete with
`commit_success.txt`), so a process killed mid-write never leaves a
half-written checkpoint that looks finished; the folder may be local or on a
cloud path such as `gs://bucket/run/checkpoints` (orbax and `etils.epath`
speak to it), and in a multi-host job every process takes part in the save.

Restoring walks from the newest step to older ones and skips, with a
warning, any checkpoint that is unreadable or does not match the expected
tree. Checkpoints written by earlier versions of this project, single files
`ckpt_<step>.npz`, are still found and read (`load`); new saves are always
orbax folders.

Single pytrees outside a training run (a saved `api.Memory`'s
`meta_params.npz`) are one `.npz` file: `save_tree` / `load`.
"""
import functools
import io
import logging as std_logging
import os
import re
from typing import Any, List, Optional, Tuple

import jax
import numpy as np
from absl import logging
from etils import epath

_LEGACY = re.compile(r"^ckpt_(\d+)\.npz$")
_STEP = re.compile(r"^(\d+)$")
_ITEM = "default"  # The folder of the one item a CheckpointManager step holds.


def _path_key(path) -> str:
  return jax.tree_util.keystr(path)


class _QuietLibrary(std_logging.Filter):
  """Drops the checkpoint library's own INFO lines (dozens per save) from the
  log; its warnings and errors still show. The training loop logs one line
  per checkpoint instead."""

  def filter(self, record) -> bool:
    return record.levelno >= std_logging.WARNING or "orbax" not in record.pathname


@functools.lru_cache(maxsize=None)
def _ocp():
  """orbax.checkpoint, imported on first use (it takes seconds to import)."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  quiet = _QuietLibrary()
  logging.get_absl_logger().addFilter(quiet)
  logging.get_absl_handler().addFilter(quiet)
  return ocp


def _path(directory) -> epath.Path:
  """`directory` as orbax needs it: absolute (a relative local path is made
  absolute against the working directory; cloud paths already are)."""
  text = str(directory)
  return epath.Path(text if "://" in text else os.path.abspath(text))


def _manager(directory: epath.Path):
  ocp = _ocp()
  options = ocp.CheckpointManagerOptions(
      max_to_keep=None,  # Retention is ours (`save`): it never drops the newest save.
      create=True, enable_async_checkpointing=False)
  return ocp.CheckpointManager(directory, options=options)


def _is_complete(step_dir: epath.Path) -> bool:
  """A finished orbax step folder (not one a killed process left half-written)."""
  if ".orbax-checkpoint-tmp" in step_dir.name:
    return False
  return ((step_dir / "_CHECKPOINT_METADATA").exists()
          or (step_dir / "commit_success.txt").exists())


def list_checkpoints(directory) -> List[Tuple[int, str]]:
  """(step, path) of every finished checkpoint in `directory`, oldest first:
  orbax step folders and legacy `ckpt_<step>.npz` files."""
  d = epath.Path(directory)
  if not d.is_dir():
    return []
  found = []
  for p in d.iterdir():
    legacy, step = _LEGACY.match(p.name), _STEP.match(p.name)
    if legacy and p.is_file():
      found.append((int(legacy.group(1)), str(p)))
    elif step and p.is_dir() and _is_complete(p):
      found.append((int(step.group(1)), str(p)))
  return sorted(found)


def _remove(path: str) -> None:
  p = epath.Path(path)
  if p.is_dir():
    p.rmtree()
  else:
    p.unlink()


def save(directory, step: int, tree: Any, keep: int = 3, keep_every: int = 0) -> str:
  """Writes `tree` as checkpoint `step` (an orbax folder) and returns its
  path; keeps it and the newest `keep - 1` others (never deleting the one
  just written, even if older, higher-step checkpoints are there). With
  `keep_every` > 0 the first checkpoint at or after each multiple of
  `keep_every` steps is also kept for good: a run that diverges late can go
  back to a state from before. Every process of a multi-host job must call
  it with the same step."""
  d = _path(directory)
  final = d / str(step)
  if jax.process_index() == 0:  # Process 0 writes the files (orbax: the primary host).
    d.mkdir(parents=True, exist_ok=True)
    if final.exists():  # Only after a fallback past an unreadable checkpoint.
      final.rmtree()
  ocp = _ocp()
  manager = _manager(d)
  # force: orbax would skip a step below its newest, which a run resumed from
  # an older checkpoint (the newer unreadable) writes next.
  manager.save(step, args=ocp.args.StandardSave(_as_numpy(tree)), force=True)
  manager.wait_until_finished()
  manager.close()
  if jax.process_index() == 0:
    found = list_checkpoints(d)
    kept_for_good = set()
    if keep_every > 0:
      first = {}  # Oldest first: the first checkpoint in each period.
      for s, p in found:
        first.setdefault(s // keep_every, p)
      kept_for_good = set(first.values())
    others = [p for _, p in found if p != str(final) and p not in kept_for_good]
    for old in others[:max(len(others) - (keep - 1), 0)]:
      _remove(old)
  return str(final)


def _as_numpy(tree: Any) -> Any:
  """Host arrays (0-d included): orbax refuses NumPy scalars."""
  return jax.tree_util.tree_map(np.asarray, jax.device_get(tree))


def _names(key_path) -> str:
  """A leaf's path as names ("meta_params/write/init_memory/..."), the same
  for a NamedTuple field, a dict key and a sequence index as saved."""
  parts = []
  for k in key_path:
    for attr in ("name", "key", "idx"):
      if hasattr(k, attr):
        parts.append(str(getattr(k, attr)))
        break
  return "/".join(parts)


def _matched_by_name(path: str, saved: Any, template: Any) -> Any:
  """The arrays of `saved` (a tree as stored) in the structure of `template`,
  matched by their names; ValueError unless both hold the same arrays."""
  arrays = {_names(p): v for p, v in jax.tree_util.tree_flatten_with_path(saved)[0]}
  leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
  wanted = [_names(p) for p, _ in leaves]
  missing, extra = sorted(set(wanted) - set(arrays)), sorted(set(arrays) - set(wanted))
  if missing or extra:
    raise ValueError(f"checkpoint {path} does not hold this model's arrays (missing: "
                     f"{missing[:3]}, not in this model: {extra[:3]}).")
  return _check_like(path, jax.tree_util.tree_unflatten(treedef, [arrays[w] for w in wanted]),
                     template)


def _check_like(path: str, restored: Any, template: Any) -> Any:
  """`restored` in the structure and dtypes of `template`, or ValueError."""
  leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
  values = jax.tree_util.tree_leaves(restored)
  if len(values) != len(leaves):
    raise ValueError(f"checkpoint {path} holds {len(values)} arrays, expected {len(leaves)}.")
  out = []
  for (p, like), value in zip(leaves, values):
    value = np.asarray(value)
    if value.shape != np.shape(like):
      raise ValueError(f"checkpoint {path}: {_path_key(p)} has shape {value.shape}, "
                       f"expected {np.shape(like)}.")
    out.append(value.astype(np.asarray(like).dtype))
  return jax.tree_util.tree_unflatten(treedef, out)


def load(path, template: Any) -> Any:
  """Reads checkpoint `path` (an orbax step folder, or a `.npz` file) into the
  structure (and dtypes) of `template`."""
  p = _path(path)
  if p.is_dir():
    # The item's handler, not a CheckpointManager: restoring then involves no
    # other process (a manager synchronises every process of a job).
    ocp = _ocp()
    handler = ocp.StandardCheckpointHandler()
    try:
      restored = handler.restore(p / _ITEM, args=ocp.args.StandardRestore(_as_numpy(template)))
    except ValueError:
      # Written before the model gained an optional, still-empty field (a
      # NamedTuple field that is None, e.g. `WriteParams.forgetting` when
      # streams are off), which the library's tree comparison counts as a
      # mismatch: read the checkpoint as saved and match arrays by name.
      return _matched_by_name(str(p), handler.restore(p / _ITEM), template)
    return _check_like(str(p), restored, template)
  leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
  with np.load(io.BytesIO(p.read_bytes()), allow_pickle=False) as data:
    keys = set(data.files)
    restored = []
    for key_path, like in leaves:
      k = _path_key(key_path)
      if k not in keys:
        raise ValueError(f"checkpoint {path} lacks the array {k}.")
      restored.append(data[k])
  return _check_like(str(p), jax.tree_util.tree_unflatten(treedef, restored), template)


def save_tree(path, tree: Any) -> str:
  """Writes the arrays of `tree` to one `.npz` file at `path` (any filesystem),
  through a temporary file renamed over `path`, so a reader never sees a
  half-written file."""
  leaves = jax.tree_util.tree_flatten_with_path(jax.device_get(tree))[0]
  arrays = {_path_key(p): np.asarray(v) for p, v in leaves}
  buffer = io.BytesIO()
  np.savez(buffer, **arrays)
  final = epath.Path(path)
  tmp = final.parent / f".tmp_{final.name}"
  try:
    with tmp.open("wb") as f:
      f.write(buffer.getvalue())
      f.flush()
      if hasattr(f, "fileno"):  # A local file: on disk before the rename.
        os.fsync(f.fileno())
    tmp.rename(final)
  except BaseException:
    if tmp.exists():
      tmp.unlink()
    raise
  return str(final)


def _agreed_step(step: int) -> int:
  """Process 0's choice on every process (-1: none), so that a multi-host job
  resumes every process from the same checkpoint."""
  if jax.process_count() == 1:
    return step
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return int(multihost_utils.broadcast_one_to_all(np.int64(step)))


def restore_latest(directory, template: Any) -> Optional[Tuple[int, Any]]:
  """The newest readable checkpoint as (step, tree), or None if there is none.

  In a multi-host job process 0 chooses the step and every process restores
  that one; a process that cannot read it raises instead of resuming
  elsewhere."""
  chosen, tree = -1, None
  if jax.process_index() == 0:
    for step, path in reversed(list_checkpoints(directory)):
      try:
        chosen, tree = step, load(path, template)
        break
      except Exception as e:  # A truncated or foreign file: fall back to older.
        logging.warning("Skipping unreadable checkpoint %s (%s: %s); trying an "
                        "older one.", path, type(e).__name__, e)
  chosen = _agreed_step(chosen)
  if chosen < 0:
    return None
  if tree is None:  # Not process 0: read the step process 0 chose.
    path = dict(list_checkpoints(directory)).get(chosen)
    if path is None:
      raise FileNotFoundError(
          f"Process {jax.process_index()} cannot see checkpoint {chosen} in "
          f"{directory}, which process 0 resumes from: every process must see "
          "the same workdir.")
    tree = load(path, template)
  return chosen, tree
