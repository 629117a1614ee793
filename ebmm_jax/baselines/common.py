"""What the learned baselines of Table 1 share: the query they see, clamping
and the loss they are meta-trained with.

Each learned baseline is a Haiku module with two methods,

  state = module.write(patterns)          # patterns [N, D], written in order
  logits = module.read(state, queries)    # queries [N, D] -> logits [K, N, D]

and `haiku_model` turns it into a `models.MemoryModel` that the meta-training
loop, the evaluator and the Table 1 launcher drive like EBMM.

The protocol (Appendix A.2, docs/protocols.md): a query replaces a random half of
a stored pattern's bits by random ±1 values; the other half is known and is
clamped to its true values in every model's output. The baselines read the
query with its replaced bits zeroed (`masked_queries`): the same information
EBMM gets from clamping (EBMM's reading never moves a known bit and never
trusts the others), in the form a network can take as input, 0 meaning
"unknown" between the known ±1 bits.

Outputs are logits of the bits; the retrieved pattern is their expectation
tanh(logit / 2) in [-1, 1] (EBMM's box), known bits clamped, scored by the
wrong bits of its sign. The paper does not say which loss trained its
baselines; ours are trained with the Bernoulli cross-entropy of the replaced
bits (`model.loss = "cross_entropy"`), because Eq. (2)'s squared error on a
saturating tanh output gives almost no gradient to a confidently wrong bit;
`model.loss = "squared"` trains them on Eq. (2) like EBMM.
"""
from typing import Callable, Dict, Optional

import haiku as hk
import jax
import jax.numpy as jnp
import ml_collections
import optax

from ebmm_jax.core import models
from ebmm_jax.core import params as params_lib
from ebmm_jax.core import tasks

LOSSES = ("cross_entropy", "squared")


he_init = params_lib.he_init  # Appendix A: "all experiments".


def masked_queries(queries: jax.Array, known: jax.Array) -> jax.Array:
  """The query the baselines read: known bits as they are, the others 0."""
  return jnp.where(known, queries, 0.0).astype(queries.dtype)


def clamp(values: jax.Array, queries: jax.Array, known: jax.Array) -> jax.Array:
  """Known bits set to their true values (the query's), in every iterate."""
  return jnp.where(known, queries, values)


def bit_losses(logits: jax.Array, patterns: jax.Array, queries: jax.Array,
               known: jax.Array, loss: str) -> jax.Array:
  """Per-iterate meta-loss of one memory, [K].

  Args:
    logits: [K, N, D] bit logits.
    patterns: [N, D] stored ±1 patterns.
    loss: "cross_entropy": sum over the replaced bits of the Bernoulli
      cross-entropy, mean over queries; "squared": Eq. (2) on the clamped
      retrieval, mean_i ||x_i - x_i(k)||².
  """
  if loss == "cross_entropy":
    labels = jnp.broadcast_to((patterns + 1.0) / 2.0, logits.shape)
    ce = optax.sigmoid_binary_cross_entropy(logits, labels)  # [K, N, D]
    return jnp.mean(jnp.sum(jnp.where(known, 0.0, ce), axis=-1), axis=-1)
  if loss == "squared":
    retrieved = clamp(jnp.tanh(logits / 2.0), queries, known)
    return jnp.mean(jnp.sum(jnp.square(retrieved - patterns), axis=-1), axis=-1)
  raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")


def haiku_model(name: str, make_module: Callable[[], hk.Module], task: tasks.Task,
                config: ml_collections.ConfigDict,
                schedules: Optional[Callable[[hk.Params], Dict[str, jax.Array]]] = None
                ) -> models.MemoryModel:
  """A `models.MemoryModel` from a write/read Haiku module (see module doc).

  Args:
    name: the Table 1 row (`paper.TABLE1` key).
    make_module: () -> the module, called inside the Haiku transform.
    task: the binary-strings task (distortion, score).
    config: the experiment config (`data.pattern_dim`, `data.num_patterns`,
      `model.loss`).
    schedules: optional params -> learned scalars to log during training.
  """
  dim, loss_kind = config.data.pattern_dim, config.model.get("loss", "cross_entropy")
  if loss_kind not in LOSSES:
    raise ValueError(f"model.loss must be one of {LOSSES}, got {loss_kind!r}.")

  def transformed():
    module = make_module()

    def init(patterns, queries):
      return module.read(module.write(patterns), queries)

    return init, (module.write, module.read)

  t = hk.without_apply_rng(hk.multi_transform(transformed))
  write_apply, read_apply = t.apply

  def init(key):
    example = jnp.ones((1, dim), jnp.float32)  # Parameters do not depend on N.
    return t.init(key, example, example)

  def read_logits(params, state, queries, known):
    logits = read_apply(params, state, masked_queries(queries, known))
    if logits.ndim != 3:
      raise ValueError(f"{name}: read must return logits [K, N, D], got {logits.shape}.")
    return logits

  def read(params, state, queries, known):
    logits = read_logits(params, state, queries, known)
    return clamp(jnp.tanh(logits / 2.0), queries, known)  # [K, N, D]

  def loss(params, patterns, key, step=None):
    del step  # The loss does not change over training.
    queries, known = task.distort(key, patterns)
    logits = read_logits(params, write_apply(params, patterns), queries, known)
    per_iterate = bit_losses(logits, patterns, queries, known, loss_kind)  # [K]
    retrieved = clamp(jnp.tanh(logits / 2.0), queries, known)
    metrics = models.iterate_metrics(task.score, retrieved, patterns, queries)
    metrics["bit_loss"] = per_iterate
    return jnp.sum(per_iterate), metrics

  return models.MemoryModel(
      name=name, init=init, write=write_apply, read=read, loss=loss,
      count_memory_floats=models.lazy_count(lambda: models.state_floats(
          write_apply, init, (dim,), config.data.num_patterns)),
      schedules=schedules)
