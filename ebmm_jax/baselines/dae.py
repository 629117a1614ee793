"""The denoising autoencoder of Table 2 (Appendix A.3): a memory-less image
baseline.

    code = Encoder(query)            # the image encoder of Appendix C.2, 256 units
    x(1) = Decoder(code)             # its transposed version, sigmoid: [0, 1]

It stores nothing (its memory has 0 floats): whatever it restores under the
distortion comes from what it learned about the dataset. It is trained
"like EBMM", by the same meta-training loop on Eq. (2), the squared error of
its one iterate, against the same distortion; it is evaluated by the same
image protocols.
"""
from typing import Tuple

import haiku as hk
import jax.numpy as jnp
import ml_collections

from ebmm_jax.core import models
from ebmm_jax.core import tasks
from ebmm_jax.energies import blocks

NAME = "DAE"


def build(config: ml_collections.ConfigDict, task: tasks.Task) -> models.MemoryModel:
  """The DAE of `config.model` (`channels`, `code_size`) for `task`'s images."""
  m = config.model
  shape: Tuple[int, int, int] = tuple(task.pattern_shape)
  channels, code_size = m.get("channels", 32), m.get("code_size", 256)
  multipliers = tuple(m.get("channel_multipliers", (1, 2, 3)))

  def denoise(x):
    code = blocks.Encoder(channels, multipliers, code_size)(x)
    return blocks.Decoder(shape, channels, multipliers)(code)

  net = hk.without_apply_rng(hk.transform(denoise))

  def init(key):
    return net.init(key, jnp.zeros((1, *shape), jnp.float32))

  def write(params, patterns):
    del params, patterns
    return ()  # No memory.

  def read(params, state, queries, known):
    del state
    x = net.apply(params, queries)
    if known is not None:  # Known pixels stay the query's, as for every model.
      x = jnp.where(known, queries, x)
    return x[None]  # One iterate: [1, N, H, W, C].

  def loss(params, patterns, key, step=None):
    del step
    queries, known = task.distort(key, patterns)
    xs = read(params, (), queries, known)
    metrics = models.iterate_metrics(task.score, xs, patterns, queries)
    return jnp.sum(metrics["reconstruction"]), metrics  # Eq. (2).

  return models.MemoryModel(name=NAME, init=init, write=write, read=read, loss=loss,
                            count_memory_floats=lambda: 0)

