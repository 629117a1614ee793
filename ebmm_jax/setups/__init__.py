"""From a config to an experiment: the one place that maps config names to
modules. Launchers, the evaluator and the API all build through `build`.

Data flow: config -> `configuration.validate` -> a builder chosen by
`data.name` (`BUILDERS`) -> `Experiment(model, task, samplers)`, its model
the one `registry.MODELS` names (EBMM: `ebmm.build`).
"""
from typing import Callable, Dict

import ml_collections

from ebmm_jax.setups import binary
from ebmm_jax.setups import configuration
from ebmm_jax.setups import ebmm
from ebmm_jax.setups import images
from ebmm_jax.setups import registry
from ebmm_jax.setups.experiment import Experiment
from ebmm_jax.setups.experiment import SampleFn

# data.name -> builder. Image data is read lazily, when a batch is drawn.
BUILDERS: Dict[str, Callable[[ml_collections.ConfigDict], Experiment]] = {
    "binary_strings": binary.build,
    **{name: images.build for name in images.NATIVE_SHAPES},
}
IMAGE_DATASETS = tuple(images.NATIVE_SHAPES)


def build(config: ml_collections.ConfigDict) -> Experiment:
  """Validates `config` and builds its experiment."""
  configuration.validate(config)
  name = config.data.name
  if name not in BUILDERS:
    raise ValueError(f"Unknown data.name {name!r}; known: {sorted(BUILDERS)}.")
  return BUILDERS[name](config)


__all__ = ["BUILDERS", "IMAGE_DATASETS", "Experiment", "SampleFn", "build",
           "ebmm", "registry"]
