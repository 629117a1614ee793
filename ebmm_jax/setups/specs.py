"""Loading a config: `load("binary:cpu,n=16", ["train.max_seconds=60"])`.

The one loader of config specs, used by the launchers (through `cli`), the
analysis launchers, the recipe study, the benchmark and the tests. A spec is
FILE[:VARIANTS] with FILE a config file or the name of an installed config
(`binary`, `binary.py`: the package's `ebmm_jax.configs.binary`).
"""
import difflib
import importlib.util
import os
from typing import List, Sequence

import ml_collections

from ebmm_jax import configs


def configs_dir() -> str:
  """The folder of the installed configs (`ebmm_jax.configs`)."""
  return os.path.dirname(configs.__file__)


def installed_configs() -> List[str]:
  return sorted(f[:-3] for f in os.listdir(configs_dir())
                if f.endswith(".py") and not f.startswith("_"))


def resolve(spec: str) -> str:
  """FILE[:VARIANTS] -> the same spec with FILE an existing path: FILE itself,
  or the installed config of that name. Raises FileNotFoundError (with the
  nearest names) for neither."""
  path, sep, variants = spec.partition(":")
  if os.path.exists(path):
    return spec
  name = os.path.basename(path)
  name = name[:-3] if name.endswith(".py") else name
  candidate = os.path.join(configs_dir(), name + ".py")
  # "configs/binary.py" outside the repository is the installed one too.
  if os.path.isfile(candidate) and os.path.dirname(path) in ("", "configs"):
    return candidate + sep + variants
  near = difflib.get_close_matches(name, installed_configs(), n=3)
  raise FileNotFoundError(
      f"config {path!r} is neither a file nor an installed config" +
      (f"; did you mean {', '.join(near)}?" if near else
       f"; installed: {', '.join(installed_configs())}."))


def group_specs(items: Sequence[str]) -> List[str]:
  """Config specs from a comma-split flag value: ["memnet_images:cpu", "n=4",
  "mann_images:cpu"] -> ["memnet_images:cpu,n=4", "mann_images:cpu"]. An item
  starts a new spec when it names a config (has a ':', is a file or an
  installed config's name); any other item is a variant of the spec before it.
  Raises ValueError when the first item is not a config."""
  def names_config(item):
    try:
      return ":" in item or bool(resolve(item))
    except FileNotFoundError:
      return False

  specs = []
  for item in items:
    if names_config(item):
      specs.append(item)
    elif specs:
      specs[-1] += ("," if ":" in specs[-1] else ":") + item
    else:
      raise ValueError(f"{item!r} is not a config: give CONFIG:VARIANTS first, e.g. "
                       f"memnet_images:cpu,{item}.")
  return specs


def load(spec: str, overrides: Sequence[str] = (),
         extra_variants: Sequence[str] = ()) -> ml_collections.ConfigDict:
  """Loads FILE[:VARIANTS] like the launchers' --config flag.

  Args:
    spec: a config and its comma-separated variants, e.g. "omniglot_conv:cpu"
      or "configs/omniglot_conv.py:cpu".
    overrides: "section.field=value" strings applied after the variants
      (e.g. "data.data_dir=/data"); the field must exist.
    extra_variants: variants appended to the spec's (e.g. "mem=4k").
  """
  path, _, arg = resolve(spec).partition(":")
  arg = ",".join(a for a in [arg, *extra_variants] if a)
  module_spec = importlib.util.spec_from_file_location(
      f"_ebmm_config_{abs(hash(os.path.abspath(path)))}", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return apply_overrides(module.get_config(arg), overrides)


def with_overrides(config: ml_collections.ConfigDict,
                   overrides: Sequence[str]) -> ml_collections.ConfigDict:
  """A copy of `config` with "section.field=value" overrides (`config` itself
  is left as it is)."""
  copy = ml_collections.ConfigDict(config.to_dict())
  if config.is_locked:
    copy.lock()
  return apply_overrides(copy, overrides)


def fields(config: ml_collections.ConfigDict, prefix: str = "") -> List[str]:
  """Every leaf field of `config`, dotted ("train.num_steps")."""
  out = []
  for k, v in config.items():
    if isinstance(v, ml_collections.ConfigDict):
      out.extend(fields(v, prefix + k + "."))
    else:
      out.append(prefix + k)
  return out


def unknown_field(config: ml_collections.ConfigDict, name: str) -> str:
  """"" when `name` is a field of `config`; otherwise a one-line message
  with the nearest fields."""
  known = fields(config)
  if name in known:
    return ""
  near = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
  return (f"the config has no field {name!r}" +
          (f"; did you mean {', '.join(near)}?" if near else "."))


def _parse_value(text: str, current):
  """A command-line value, typed like the field it replaces."""
  if isinstance(current, bool):
    if text.lower() not in ("true", "false", "1", "0"):
      raise ValueError(f"Expected a boolean, got {text!r}.")
    return text.lower() in ("true", "1")
  if isinstance(current, (int, float, str)):
    return type(current)(text)
  raise ValueError(f"Cannot set a field of type {type(current).__name__} from "
                   f"the command line.")


def apply_overrides(config: ml_collections.ConfigDict,
                    overrides: Sequence[str]) -> ml_collections.ConfigDict:
  """Sets "section.field=value" strings on `config` (in place; returned). The
  field must exist; the value is parsed as the field's type."""
  locked = config.is_locked
  config.unlock()
  for item in overrides:
    name, sep, text = item.partition("=")
    if not sep:
      raise ValueError(f"Override {item!r} is not of the form section.field=value.")
    section, _, field = name.partition(".")
    if section not in config or field not in config[section]:
      raise ValueError(f"Override {item!r}: {unknown_field(config, name)}")
    config[section][field] = _parse_value(text, config[section][field])
  if locked:
    config.lock()
  return config
