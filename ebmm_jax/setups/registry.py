"""Every memory the package trains, by name: EBMM and the baselines.

One `ModelSpec` per model says how to build it (`build(config, task,
network)` -> `models.MemoryModel`), how to validate its config section, which
data it stores, and what it can do. A config names its model by
`model.name`; a config without a `model` section trains EBMM (`ebmm.NAME`,
every config written before the baselines). This module is the only place
that maps a config to its model: setups, the trainer and the evaluators see
a `models.MemoryModel` and ask it for capabilities (`first_order`,
`writing_off`, `append`, `write_stream`, `energy`), never for its name.

To add a baseline: its module in `ebmm_jax/baselines/` with a
`build(config, task)`, one `_baseline` line below, a config and a test.
"""
from typing import Callable, Dict, NamedTuple, Optional

import ml_collections

from ebmm_jax.baselines import dae
from ebmm_jax.baselines import deep_image_prior
from ebmm_jax.baselines import image_memories
from ebmm_jax.baselines import kanerva
from ebmm_jax.baselines import lstm
from ebmm_jax.baselines import mann
from ebmm_jax.baselines import memory_networks
from ebmm_jax.baselines import modern_hopfield
from ebmm_jax.baselines import plasticity
from ebmm_jax.baselines import vae
from ebmm_jax.core import energy as energy_lib
from ebmm_jax.core import models
from ebmm_jax.core import tasks
from ebmm_jax.setups import ebmm

BINARY, IMAGES = "binary_strings", "images"  # What a model stores (`ModelSpec.data`).
# Size fields of a baseline's `model` section; each must be >= 1 when present.
_BASELINE_SIZES = ("slots", "embedding_size", "hops", "hidden_size", "word_size",
                   "controller_size", "present_steps", "read_steps", "capacity")


class ModelSpec(NamedTuple):
  """A memory the package trains.

  Attributes:
    name: the config's `model.name` (`ebmm.NAME` for EBMM).
    build: (config, task) -> `models.MemoryModel`, the model's own module's
      builder; for a model that `uses_energy`, (config, task, network), with
      the energy network the setup built from the config's `energy` section.
    validate: (config, need) -> None, checks the model's own config sections;
      `need(cond, msg)` raises the config error.
    data: what it stores: `BINARY`, `IMAGES`, or None for both.
    uses_energy: built on an energy network described by the config's
      `energy` section (EBMM), which the setup constructs for its data.
    trains_across_n: can be meta-trained on batches padded across N
      (`data.num_patterns_per_memory`).
    budget_section: the config section whose `memory_budget` sets its memory
      size (`mem=K` variants and sweeps).
    reading_options: config -> the options an evaluation may change without
      retraining (part of an evaluation's cache key), or None.
  """
  name: str
  build: Callable[..., models.MemoryModel]
  validate: Callable[[ml_collections.ConfigDict, Callable[[bool, str], None]], None]
  data: Optional[str]
  uses_energy: bool = False
  trains_across_n: bool = False
  budget_section: str = "model"
  reading_options: Callable[[ml_collections.ConfigDict], Optional[dict]] = (
      lambda config: config.model.to_dict())


def _validate_baseline(stores: str):
  """The checks of a baseline's `model` section (`configs/memnet.py`,
  `configs/dae.py`...), for a baseline that stores `stores`."""
  def validate(c: ml_collections.ConfigDict, need) -> None:
    if stores == IMAGES:
      need(c.data.name != BINARY,
           f"model.name={c.model.name!r} is an image baseline (Table 2); "
           f"data.name={c.data.name!r}.")
      for field in ("channels", "code_size"):
        if field in c.model:
          need(isinstance(c.model[field], int) and c.model[field] >= 1,
               f"model.{field}={c.model[field]!r} must be an integer >= 1.")
      return
    need(c.data.name == BINARY,
         f"model.name={c.model.name!r} is a binary-strings baseline (Table 1); "
         f"data.name={c.data.name!r}.")
    need(c.data.pattern_dim >= 2, f"data.pattern_dim={c.data.pattern_dim} must be >= 2.")
    loss = c.model.get("loss", "cross_entropy")
    need(loss in ("cross_entropy", "squared"),
         f"model.loss={loss!r} must be 'cross_entropy' or 'squared'.")
    for field in _BASELINE_SIZES:
      if field in c.model:
        need(c.model[field] >= 1, f"model.{field}={c.model[field]} must be >= 1.")
  return validate


def _baseline(name: str, build, stores: str) -> ModelSpec:
  return ModelSpec(name, build, _validate_baseline(stores), stores)


_SPECS = (
    ModelSpec(ebmm.NAME, ebmm.build, ebmm.validate, data=None, uses_energy=True,
              trains_across_n=True, budget_section="energy",
              reading_options=lambda config: None),
    # Table 1's baselines (binary strings).
    _baseline("memory_networks", memory_networks.build, BINARY),
    _baseline("mann", mann.build, BINARY),
    _baseline("lstm", lstm.build, BINARY),
    _baseline("plasticity", plasticity.build, BINARY),
    _baseline("modern_hopfield", modern_hopfield.build, BINARY),
    _baseline("kanerva_binary", kanerva.build_binary, BINARY),
    # Table 2's non-memory models and the image memories of Figures 3, 5a, 7.
    _baseline("dae", dae.build, IMAGES),
    _baseline("vae", vae.build, IMAGES),
    _baseline("deep_image_prior", deep_image_prior.build, IMAGES),
    _baseline("memnet_images", image_memories.build, IMAGES),
    _baseline("mann_images", image_memories.build, IMAGES),
    _baseline("kanerva", kanerva.build, IMAGES),
)
MODELS: Dict[str, ModelSpec] = {s.name: s for s in _SPECS}
# The names a config's `model.name` may take (every model but EBMM).
BASELINES = tuple(name for name, s in MODELS.items() if not s.uses_energy)
IMAGE_BASELINES = tuple(name for name in BASELINES if MODELS[name].data == IMAGES)


def name_of(config: ml_collections.ConfigDict) -> str:
  """The model a config trains: `model.name`, or EBMM without a `model` section."""
  return config.model.name if "model" in config else ebmm.NAME


def spec_of(config: ml_collections.ConfigDict) -> ModelSpec:
  """The `ModelSpec` of the model a config names; a ValueError naming the
  known ones otherwise."""
  name = name_of(config)
  if name not in MODELS:
    raise ValueError(f"Invalid config: model.name={name!r} is not a known memory; "
                     f"known: {list(BASELINES)} (or no `model` section for EBMM).")
  return MODELS[name]


def build(config: ml_collections.ConfigDict, task: tasks.Task,
          make_network: Optional[Callable[[], energy_lib.Energy]] = None
          ) -> models.MemoryModel:
  """The config's model for `task`. `make_network()` builds the setup's
  energy network from the config's `energy` section; it is called only for
  models built on one (`ModelSpec.uses_energy`), which need it."""
  spec = spec_of(config)
  if not spec.uses_energy:
    return spec.build(config, task)
  if make_network is None:
    raise ValueError(f"{spec.name} is built on an energy network: pass make_network.")
  return spec.build(config, task, make_network())


def label(config: ml_collections.ConfigDict, model: models.MemoryModel) -> str:
  """The model's name for plots and tables, with its energy network's name
  for a model built on one, e.g. "EBMM (resnet_conv)"."""
  if spec_of(config).uses_energy:
    return f"{model.name} ({config.energy.name})"
  return model.name
