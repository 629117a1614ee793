"""The baselines by `config.model.name` (`configuration.BASELINES`): Table 1's
on binary strings, Table 2's on images."""
import ml_collections

from ebmm_jax.core import models
from ebmm_jax.core import tasks
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

BUILDERS = {
    "memory_networks": memory_networks.build,
    "mann": mann.build,
    "lstm": lstm.build,
    "plasticity": plasticity.build,
    "modern_hopfield": modern_hopfield.build,
    "kanerva_binary": kanerva.build_binary,
    "dae": dae.build,
    "vae": vae.build,
    "deep_image_prior": deep_image_prior.build,
    "memnet_images": image_memories.build,
    "mann_images": image_memories.build,
    "kanerva": kanerva.build,
}


def build(config: ml_collections.ConfigDict, task: tasks.Task) -> models.MemoryModel:
  """The `models.MemoryModel` a baseline config names."""
  name = config.model.name
  if name not in BUILDERS:
    raise ValueError(f"Unknown model.name {name!r}; known: {sorted(BUILDERS)}.")
  return BUILDERS[name](config, task)
