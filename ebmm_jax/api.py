"""A memory object for users: write a batch of patterns, read from queries.

    from ebmm_jax import api
    mem = api.Memory.from_workdir("runs/binary_cpu")  # or api.Memory.from_config(config)
    mem.write(patterns)                                # [N, 128] of ±1
    iterates = mem.read(queries, mask=known)           # [K, N, 128]: x(1), ..., x(K)
    energies = mem.energy(iterates[-1])                # [N]

`Memory` is a thin, stateful shell over the experiment's `MemoryModel`
(`ebmm_jax.core.models`), so it serves EBMM and every Table 1 baseline alike:
for EBMM `write` is Eq. (4) from the meta-learned θ̄, `read` is Eq. (1) and
Appendix B under the written weights, and `energy` evaluates the energy model
(energy models only). The object holds only the meta-learned
parameters and the last written memory; the compiled functions take both as
arguments, so they never see stale state. They are jitted once per
experiment (keyed by its config) and input shape: repeated calls with batches
of the same shape do not recompile, and neither does a second `Memory` of
the same config (a notebook cell run twice).

Inputs are checked before anything is compiled, and a problem raises
`InvalidInputError` (a ValueError) naming the argument, or `NotWrittenError`
for a read before any write.
"""
import copy
import json
import os
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ebmm_jax import setups
from ebmm_jax.setups import curriculum
from ebmm_jax.core import memory as memory_lib
from ebmm_jax.core import meta
from ebmm_jax import pretrained as pretrained_lib
from ebmm_jax import training
from ebmm_jax.core.tasks import Task
from ebmm_jax.training import checkpoint

# Trained memories shipped in ebmm_jax/pretrained/NAME/ (`Memory.pretrained`).
PRETRAINED = pretrained_lib.NAMES
PRETRAINED_PARAMS = pretrained_lib.PARAMS_FILE


class InvalidInputError(ValueError):
  """Patterns, queries, a mask or meta-parameters that the memory cannot take."""


class NotWrittenError(RuntimeError):
  """`Memory.read` was called before anything was written."""


class _Compiled(NamedTuple):
  """The jitted pure functions of one experiment; none holds any state."""
  write: Callable  # (meta_params, patterns) -> the written memory.
  read: Callable  # (meta_params, written, queries, known or None) -> [K, M, ...].
  energy: Optional[Callable]  # (meta_params, written or None, x) -> [M]; None: no energy.
  append: Optional[Callable]  # (meta_params, written, patterns) -> written; None: can't.


# Experiments and their compiled functions by config (its JSON): building a
# second Memory of the same config reuses the compilations.
_COMPILED: Dict[str, Tuple[setups.Experiment, _Compiled]] = {}


def _compile(exp: setups.Experiment) -> _Compiled:
  model = exp.model
  jit = lambda fn: jax.jit(fn) if fn is not None else None
  return _Compiled(jax.jit(model.write), jax.jit(model.read), jit(model.energy),
                   jit(model.append))


def _experiment(config: ml_collections.ConfigDict
                ) -> Tuple[setups.Experiment, _Compiled]:
  key = config.to_json_best_effort(sort_keys=True)
  if key not in _COMPILED:
    # A private, locked copy: later edits of the caller's config change nothing.
    own = copy.deepcopy(config)
    own.lock()
    exp = setups.build(own)
    _COMPILED[key] = (exp, _compile(exp))
  return _COMPILED[key]


def _check_meta_params(exp: setups.Experiment, meta_params) -> None:
  """Raises InvalidInputError unless `meta_params` fit the experiment's model."""
  expected = jax.eval_shape(exp.model.init, jax.random.PRNGKey(0))
  shape = lambda tree: jax.tree_util.tree_map(lambda x: (np.shape(x), str(x.dtype)), tree)
  try:
    got = shape(meta_params)
  except AttributeError as e:
    raise InvalidInputError(f"meta_params must be a meta.MetaParams of arrays: {e}") from None
  if (jax.tree_util.tree_structure(meta_params) != jax.tree_util.tree_structure(expected)
      or got != shape(expected)):
    raise InvalidInputError(
        "meta_params do not fit this config's model (different parameter names "
        "or shapes): were they trained with another config?")


class Memory:
  """A meta-learned memory with one written batch: EBMM, or any Table 1
  baseline (`energy` is EBMM's only).

  Build it with `Memory.from_workdir` (a trained model) or `Memory.from_config`
  (a trained or freshly initialised one). `write` stores a batch in the
  object, replacing what was stored before (every write starts from the
  meta-learned θ̄, Eq. 4); `append` writes a batch into what is stored (EBMM:
  Eq. 4 started from the written weights). `read` and `energy` then use that
  written memory. For a functional interface, see
  `ebmm_jax.core.meta.write_and_read`.

  All batches are float arrays [N, *task.pattern_shape] (numpy or JAX),
  cast to float32; results are JAX arrays.
  """

  def __init__(self, config: ml_collections.ConfigDict, meta_params):
    """Prefer `from_config` / `from_workdir`; this checks `meta_params` fit `config`."""
    self._exp, self._fns = _experiment(config)
    _check_meta_params(self._exp, meta_params)
    self._meta_params = jax.tree_util.tree_map(jnp.asarray, meta_params)
    self._written = None
    self._num_written = 0

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict,
                  meta_params: Optional[meta.MetaParams] = None) -> "Memory":
    """A memory of `config`'s model with `meta_params`.

    Args:
      config: an experiment config (e.g. `configs.binary.get_config("cpu")`).
      meta_params: the meta-learned parameters; None initialises them afresh
        from `config.seed` (an untrained memory, useful only as a baseline).
    """
    if meta_params is None:
      exp, _ = _experiment(config)
      meta_params = exp.model.init(jax.random.PRNGKey(config.seed))
    return cls(config, meta_params)

  @classmethod
  def from_workdir(cls, workdir: str) -> "Memory":
    """The memory trained in `workdir`: its config.json and newest checkpoint."""
    config = training.load_config(workdir)
    return cls(config, training.load_meta_params(config, workdir))

  @classmethod
  def load(cls, directory: str) -> "Memory":
    """A memory saved by `save` (its config.json and meta_params.npz)."""
    config_path = os.path.join(directory, "config.json")
    params_path = os.path.join(directory, PRETRAINED_PARAMS)
    for path in (config_path, params_path):
      if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: {directory} is not a saved memory.")
    with open(config_path) as f:
      config = ml_collections.ConfigDict(json.load(f))
    exp, _ = _experiment(config)
    template = jax.tree_util.tree_map(
        np.asarray, exp.model.init(jax.random.PRNGKey(0)))
    return cls(config, checkpoint.load(params_path, template))

  @classmethod
  def pretrained(cls, name: str) -> "Memory":
    """A trained memory that ships with the package, by name (`PRETRAINED`):
    e.g. `Memory.pretrained("binary-n64")`, or `"binary"` (one memory
    for every N from 1 to 96); `docs/pretrained.md` has their
    training and their test errors."""
    return cls.load(pretrained_lib.directory(name))

  def save(self, directory: str) -> None:
    """Writes the config and meta-parameters (not the optimiser state, not
    the written memory) for `load`: a few hundred KB for a binary model.
    Raises FileExistsError, writing nothing, where `directory` already holds
    a saved memory (or either of its files)."""
    present = [name for name in ("config.json", PRETRAINED_PARAMS)
               if os.path.exists(os.path.join(directory, name))]
    if present:
      raise FileExistsError(f"{directory} already holds {' and '.join(present)}: save to "
                            "a new folder, or remove them first.")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
      f.write(self.config.to_json(indent=2, sort_keys=True))
    checkpoint.save_tree(os.path.join(directory, PRETRAINED_PARAMS), self._meta_params)

  # ---------------------------------------------------------------------------
  # What the memory is.

  @property
  def config(self) -> ml_collections.ConfigDict:
    """The experiment's config (a locked copy)."""
    return self._exp.config

  @property
  def task(self) -> Task:
    """Pattern shape, box, distortion and score of the memory's protocol."""
    return self._exp.task

  @property
  def meta_params(self):
    """The meta-learned parameters: for EBMM a `meta.MetaParams` (θ̄, static
    weights, writing and reading rates, Eq. 5)."""
    return self._meta_params

  @property
  def name(self) -> str:
    """The model's name, as in Table 1 ("EBMM", "Memory Networks", ...)."""
    return self._exp.model.name

  @property
  def memory_floats(self) -> int:
    """Number of floats that writing changes (the paper's memory size)."""
    return self._exp.model.memory_floats

  @property
  def read_steps(self) -> int:
    """K: the number of iterates `read` returns."""
    one = jax.ShapeDtypeStruct((1, *self.task.pattern_shape), jnp.float32)
    known = jax.ShapeDtypeStruct(one.shape, jnp.bool_)
    iterates = jax.eval_shape(self._exp.model.retrieve, self._meta_params, one, one, known)
    return int(iterates.shape[0])

  @property
  def num_written(self) -> int:
    """Patterns stored: N of the last `write`, plus every `append` since (0
    before any write)."""
    return self._num_written

  @property
  def trained_ns(self) -> Tuple[int, ...]:
    """The batch sizes N the memory was meta-trained to write: every N up to
    its padded size for a model trained across N (`configs/binary.py:all_n`),
    else the one N (or a curriculum's last, or a mix's)."""
    return tuple(curriculum.trained_ns(self.config))

  @property
  def written(self):
    """The written memory (EBMM: the weights θ(T)), or None before any write."""
    return self._written

  def __repr__(self) -> str:
    state = f"{self._num_written} patterns written" if self._written is not None else "empty"
    return (f"Memory({self.name}, {self.task.name}, patterns {self.task.pattern_shape}, "
            f"{self.memory_floats:,} writable floats, {state})")

  # ---------------------------------------------------------------------------
  # Write, read, energy.

  def write(self, patterns) -> None:
    """Stores `patterns` [N, ...] (Eq. 4), replacing the previous batch.

    Args:
      patterns: N >= 1 finite float patterns of shape `task.pattern_shape`,
        inside the data's box `task.box` (e.g. ±1 strings, images in [0, 1]).
        The memory serves the N it was meta-trained to write (`trained_ns`:
        every N from 1 to 96 for the shipped `binary` memory, one N
        for the others); other N work, less well.
    """
    patterns = self._check_batch("patterns", patterns, in_box=True)
    self._written = self._fns.write(self._meta_params, patterns)
    self._num_written = patterns.shape[0]

  def append(self, patterns) -> None:
    """Writes `patterns` [N, ...] into the stored memory, keeping what it holds.

    For EBMM, the T writing steps of Eq. (4) start from the written weights
    instead of θ̄ (the prior term of Eq. 3 still pulls towards θ̄). The shipped
    memories were meta-trained on single writes, so older batches fade as
    new ones are appended.

    Raises:
      NotWrittenError: nothing was written yet (call `write` first).
      InvalidInputError: bad patterns, or a model that cannot append.
    """
    if self._fns.append is None:
      raise InvalidInputError(f"{self.name} cannot append to a written memory.")
    if self._written is None:
      raise NotWrittenError("Nothing is written in this memory yet: call "
                            "write(patterns) before append(patterns).")
    patterns = self._check_batch("patterns", patterns, in_box=True)
    self._written = self._fns.append(self._meta_params, self._written, patterns)
    self._num_written += patterns.shape[0]

  def read(self, queries, mask=None) -> jax.Array:
    """Retrieves from `queries` [M, ...]: K projected Nesterov steps on the energy.

    Args:
      queries: M >= 1 float patterns (e.g. distorted stored patterns), inside
        `task.box`; M need not equal the number written.
      mask: optional bool array shaped like `queries`, True for the entries
        that are known: they are clamped to the query's value and never move
        (binary strings: the uncorrupted half, `task.distort`'s second output).

    Returns:
      The iterates x(1), ..., x(K): [K, M, ...]; x(K) = result[-1] is the
      retrieval.

    Raises:
      NotWrittenError: nothing was written yet.
      InvalidInputError: bad queries or mask.
    """
    if self._written is None:
      raise NotWrittenError("Nothing is written in this memory yet: call "
                            "write(patterns) before read(queries).")
    queries = self._check_batch("queries", queries, in_box=True)
    if mask is not None:
      if np.shape(mask) != queries.shape:
        raise InvalidInputError(f"mask has shape {np.shape(mask)}; it must have the "
                                f"queries' shape {queries.shape}.")
      if jnp.result_type(mask) != jnp.bool_:
        raise InvalidInputError(f"mask must be a bool array (True = known entry, "
                                f"clamped), got dtype {jnp.result_type(mask)}.")
      mask = jnp.asarray(mask)
    return self._fns.read(self._meta_params, self._written, queries, mask)

  def energy(self, x) -> jax.Array:
    """Energies E(x_i; θ) of a batch x [M, ...], one per pattern: [M].

    Under the written memory θ(T) after a write, and under the meta-learned
    initial memory θ̄ before any write. `x` need not lie in the data's box.
    """
    if self._fns.energy is None:
      raise InvalidInputError(f"{self.name} is not an energy model: it has no energy().")
    x = self._check_batch("x", x, in_box=False)
    return self._fns.energy(self._meta_params, self._written, x)

  def _check_batch(self, name: str, x: Any, in_box: bool) -> jax.Array:
    """x as a float32 batch [M, *pattern_shape], or InvalidInputError naming `name`."""
    if isinstance(x, (list, tuple)):
      x = np.asarray(x)
    try:
      memory_lib.check_patterns(name, x, self.task.box if in_box else None)
    except ValueError as e:
      raise InvalidInputError(str(e)) from None
    shape = tuple(np.shape(x))
    if shape[1:] != tuple(self.task.pattern_shape):
      raise InvalidInputError(
          f"{name} has shape {shape}; this memory stores patterns of shape "
          f"{tuple(self.task.pattern_shape)}, so {name} must be [M, "
          f"{', '.join(map(str, self.task.pattern_shape))}] (one pattern: x[None]).")
    return jnp.asarray(x, jnp.float32)
