"""An energy model, whatever network library defines it (Appendix C).

EBMM needs four things of an energy network:

    init(key, example_x [1, ...]) -> params      # He initialisation (Appendix A)
    apply(params, x [N, ...]) -> energies [N]      # pure; no interaction between examples
    split(params) -> (memory, static)              # the writable part θ and the rest
    merge(static, memory) -> params                # split's inverse

`Energy` is that record. Parameters are always nested dicts of arrays (plain
trees: checkpoints and `Memory.save` files stay library-free `.npz` files
keyed by tree paths), and `split` returns two such dicts with disjoint leaves,
so one `merge` (`merge`, below) inverts every library's split. Write (Eq. 4),
read (Eq. 1), the meta-loss (Eq. 5), the API and checkpoints see only this
record.

Three adapters build it:
  - `from_haiku`: an `hk.transform`ed function; writable modules are named
    `memory` (Appendix C: "All modules containing memory parameters are
    specifically named as memory"). Parameters are Haiku's own dicts.
  - `from_nnx`: a Flax NNX module factory; the writable variables are chosen
    by an `nnx` filter (default: under an attribute named `memory`), split
    with `nnx.split`; parameters are the `nnx.Param` state as a pure dict.
  - `from_equinox`: an Equinox module factory; the writable leaves are a
    sub-tree picked by `memory(module)` (default `module.memory`), turned into
    an `eqx.partition` filter spec; parameters are the module's arrays as a
    dict keyed by attribute names.
Flax and Equinox are optional extras (`pip install 'ebmm-jax[flax]'`,
`'ebmm-jax[equinox]'`); without them only their adapters fail, with
`MissingExtraError`.
"""
import functools
import importlib
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional, Tuple

import haiku as hk
import jax
import numpy as np

from ebmm_jax.core import params as params_lib

Params = Dict[str, Any]  # Nested dicts of arrays.
Path = Tuple[Any, ...]  # Keys from the root of a nested dict to one leaf.

LIBRARIES = ("haiku", "nnx", "equinox")
# The pip extra that installs each optional library's adapter.
EXTRAS = {"nnx": ("flax", "flax"), "equinox": ("equinox", "equinox")}


class MissingExtraError(ImportError):
  """An energy's network library is an optional extra that is not installed."""


def require(library: str):
  """The module of an optional network library ("nnx" -> `flax.nnx`,
  "equinox"), or MissingExtraError naming the extra to install."""
  package, extra = EXTRAS[library]
  try:
    module = importlib.import_module(package)
  except ImportError:
    raise MissingExtraError(
        f"energy library {library!r} needs the optional extra {extra!r}: "
        f"pip install 'ebmm-jax[{extra}]'") from None
  return importlib.import_module("flax.nnx") if library == "nnx" else module


class Energy(NamedTuple):
  """An energy network E(x; θ) as pure functions over nested dicts of arrays."""
  init: Callable[[jax.Array, jax.Array], Params]  # (key, example x [1, ...]) -> params.
  apply: Callable[[Params, jax.Array], jax.Array]  # (params, x [N, ...]) -> [N].
  split: Callable[[Params], Tuple[Params, Params]]  # params -> (memory, static).
  library: str = "haiku"  # LIBRARIES, for messages and the benchmark.

  def merge(self, static: Params, memory: Params) -> Params:
    """The full parameters from `split`'s two parts."""
    return merge(static, memory)


def merge(static: Params, memory: Params) -> Params:
  """Joins two nested dicts with disjoint leaves (a `split`'s parts); a leaf
  present in both takes `memory`'s value. For Haiku's two-level dicts this is
  `hk.data_structures.merge`."""
  out = dict(static)
  for key, value in memory.items():
    if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
      out[key] = merge(out[key], value)
    else:
      out[key] = value
  return out


def paths(params: Params, prefix: Path = ()) -> Dict[Path, Any]:
  """{path: leaf} of a nested dict."""
  out = {}
  for key, value in params.items():
    if isinstance(value, Mapping):
      out.update(paths(value, prefix + (key,)))
    else:
      out[prefix + (key,)] = value
  return out


def partition(params: Params, is_memory: Callable[[Path], bool]) -> Tuple[Params, Params]:
  """(memory, static): the leaves whose path `is_memory`, and the others, as
  two nested dicts (a part without leaves is {})."""
  memory, static = {}, {}
  for path, leaf in paths(params).items():
    node = memory if is_memory(path) else static
    for key in path[:-1]:
      node = node.setdefault(key, {})
    node[path[-1]] = leaf
  return memory, static


def as_energy(energy) -> Energy:
  """An `Energy`; an `hk.Transformed` (the form older code passes) is wrapped
  by `from_haiku`."""
  if isinstance(energy, Energy):
    return energy
  if isinstance(energy, hk.Transformed):
    return from_haiku(energy)
  raise TypeError(f"Expected an energy.Energy or an hk.Transformed, got {type(energy)}.")


def check_writable(memory: Params, params: Params) -> int:
  """Floats in the writable part (the paper's memory size, Section 4);
  raises if there are none."""
  n = params_lib.count_floats(memory)
  if n == 0:
    raise ValueError(
        "The energy model has no writable parameters: declare its memory (a Haiku "
        "module, an NNX attribute or an Equinox field named `memory`, Appendix C, "
        "or the adapter's `memory` filter). Parameters found: "
        f"{sorted('/'.join(map(str, p)) for p in paths(params))}")
  return n


def memory_floats(energy: Energy, example_x) -> int:
  """Floats of the writable part, from shapes only (nothing is initialised)."""
  shapes = jax.eval_shape(energy.init, jax.random.PRNGKey(0), example_x)
  memory, _ = energy.split(shapes)
  return check_writable(memory, shapes)


# ---------------------------------------------------------------------------
# Haiku.

def from_haiku(transformed: hk.Transformed,
               is_memory_module: Callable[[str], bool] = params_lib.is_memory_module
               ) -> Energy:
  """An energy from `hk.without_apply_rng(hk.transform(fn))`; the writable
  modules are those `is_memory_module(module_name)` accepts (default: named
  `memory`, `params.is_memory_module`). Parameters stay Haiku's dicts, so
  checkpoints of Haiku energies are unchanged."""
  if is_memory_module is params_lib.is_memory_module:
    split = params_lib.split_memory
  else:
    split = lambda params: hk.data_structures.partition(
        lambda module_name, name, value: is_memory_module(module_name), params)
  return Energy(init=transformed.init, apply=transformed.apply, split=split,
                library="haiku")


# ---------------------------------------------------------------------------
# Flax NNX.

def from_nnx(make_module: Callable[[Any], Any], memory: Any = None) -> Energy:
  """An energy from a Flax NNX module.

  Args:
    make_module: `rngs` (an `nnx.Rngs`) -> the module, whose `__call__(x [N, ...])`
      returns energies [N]. Its state must be `nnx.Param`s only (no batch
      statistics, no RNG streams): the energy is a pure function of them.
    memory: an nnx filter choosing the writable `nnx.Param`s (a Variable
      type such as a `nnx.Param` subclass, a path filter...); default:
      `nnx.PathContains("memory")`, every parameter under an attribute
      named `memory`.
  """
  nnx = require("nnx")
  memory_filter = nnx.PathContains("memory") if memory is None else memory

  @functools.lru_cache(maxsize=None)
  def structure():
    # Shapes only: the module's graph and which of its parameters are writable.
    abstract = nnx.eval_shape(lambda: make_module(nnx.Rngs(0)))
    graphdef, state, rest = nnx.split(abstract, nnx.Param, ...)
    if jax.tree_util.tree_leaves(rest):
      raise ValueError("An NNX energy must hold only nnx.Param state; found "
                       f"{sorted(paths(nnx.to_pure_dict(rest)))}.")
    _, writable, _ = nnx.split(abstract, nnx.All(nnx.Param, memory_filter), ...)
    return graphdef, state, frozenset(paths(nnx.to_pure_dict(writable)))

  def init(key, example_x):
    del example_x  # NNX modules are built with their sizes.
    _, state, _ = nnx.split(make_module(nnx.Rngs(key)), nnx.Param, ...)
    return nnx.to_pure_dict(state)

  def apply(params, x):
    graphdef, template, _ = structure()
    state = jax.tree_util.tree_map(lambda v: v, template)  # A fresh copy to fill.
    nnx.replace_by_pure_dict(state, params)
    return nnx.merge(graphdef, state)(x)

  def split(params):
    writable = structure()[2]
    return partition(params, lambda path: path in writable)

  return Energy(init=init, apply=apply, split=split, library="nnx")


# ---------------------------------------------------------------------------
# Equinox.

def _key_name(key) -> Any:
  for attr in ("name", "key", "idx"):  # GetAttrKey, DictKey / FlattenedIndexKey, SequenceKey.
    if hasattr(key, attr):
      return getattr(key, attr)
  raise TypeError(f"Unsupported tree path key {key!r} in an Equinox energy.")


def from_equinox(make_module: Callable[[jax.Array], Any],
                 memory: Optional[Callable[[Any], Any]] = None) -> Energy:
  """An energy from an Equinox module.

  Args:
    make_module: `key` -> the module, whose `__call__(x [N, ...])` returns
      energies [N]. Its arrays are its parameters; everything else is static.
    memory: `module -> sub-tree` picking the writable part (as for
      `eqx.tree_at`), e.g. `lambda m: m.memory` (the default) or
      `lambda m: (m.memory.weight,)`; it becomes the `eqx.partition` filter
      spec that splits the parameters.
  """
  eqx = require("equinox")
  where = (lambda m: m.memory) if memory is None else memory
  is_array = lambda x: isinstance(x, (jax.Array, np.ndarray, jax.ShapeDtypeStruct))

  @functools.lru_cache(maxsize=None)
  def structure():
    abstract = eqx.filter_eval_shape(make_module, jax.random.PRNGKey(0))
    arrays, rest = eqx.partition(abstract, is_array)
    spec = jax.tree_util.tree_map(lambda _: False, arrays)
    spec = eqx.tree_at(where, spec, replace_fn=lambda sub: jax.tree_util.tree_map(
        lambda _: True, sub))
    writable, _ = eqx.partition(arrays, spec)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(arrays)
    leaf_paths = tuple(tuple(_key_name(k) for k in p) for p, _ in leaves)
    writable_paths = frozenset(
        tuple(_key_name(k) for k in p)
        for p, _ in jax.tree_util.tree_flatten_with_path(writable)[0])
    return treedef, leaf_paths, rest, writable_paths

  def init(key, example_x):
    del example_x  # Equinox modules are built with their sizes.
    arrays = eqx.filter(make_module(key), eqx.is_array)
    leaves = jax.tree_util.tree_flatten_with_path(arrays)[0]
    out = {}
    for p, leaf in leaves:
      node = out
      names = [_key_name(k) for k in p]
      for name in names[:-1]:
        node = node.setdefault(name, {})
      node[names[-1]] = leaf
    return out

  def apply(params, x):
    treedef, leaf_paths, rest, _ = structure()
    flat = paths(params)
    arrays = jax.tree_util.tree_unflatten(treedef, [flat[p] for p in leaf_paths])
    return eqx.combine(arrays, rest)(x)

  def split(params):
    writable = structure()[3]
    return partition(params, lambda path: path in writable)

  return Energy(init=init, apply=apply, split=split, library="equinox")
