"""What every setup builds: an `Experiment` (model, task, data samplers).

The builders (`setups.binary`, `setups.images`) fill it from a config;
`setups.build` chooses the builder by `data.name`, and the model is the one
the config names in `setups.registry` (EBMM, `setups.ebmm`, or a baseline).
"""
import dataclasses
from typing import Callable

import jax
import ml_collections

from ebmm_jax.core import models
from ebmm_jax.core import tasks

# (key, meta_batch_size, num_patterns) -> patterns [M, N, ...]. Called from
# Python (not traced by the caller), so a sampler may hold its dataset as a
# device array and jit its own indexing.
SampleFn = Callable[[jax.Array, int, int], jax.Array]


@dataclasses.dataclass(frozen=True)
class Experiment:
  """A memory (`model`), what it is asked to do (`task`) and its data.

  Attributes:
    config: the validated config it was built from.
    model: the memory, a `models.MemoryModel` (its meta-parameters:
      `model.init(key)`).
    task: the patterns' shape and box, their distortion and score.
    sample_train: memory batches for meta-training.
    sample_test: memory batches for evaluation (`data.eval_split`).
  """
  config: ml_collections.ConfigDict
  model: models.MemoryModel
  task: tasks.Task
  sample_train: SampleFn
  sample_test: SampleFn
