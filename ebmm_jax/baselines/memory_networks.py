"""Memory Networks (Weston et al., 2014) for Table 1: a slot memory read by
attention, in the end-to-end form of Sukhbaatar et al. (2015).

Write: pattern i, in order, goes to slot i mod S as its embedding plus an
occupancy flag,

  slot = [A x_i, 1]                                   # [E + 1]

so with more patterns than slots (N = 96 > S = 64) the oldest are
overwritten and only the last S remain (a ring buffer). Memory: S x (E + 1)
floats; the Table 1 config has S = 64 slots of E + 1 = 129 floats, 8,256 in
all: Appendix A.2's budget exactly, and enough slots for every N up to 64.

Read (one or more hops; the query embedding is the memory embedding, B = A,
as in Sukhbaatar et al.'s adjacent weight tying, and a slot's embedding
serves as both its key and its value, where their memory keeps two, which
would halve the slots of the budget):

  u(0) = A q                                          # q: masked query
  p = softmax_i(β u(k) · m_i)   over occupied slots
  o(k) = sum_i p_i m_i
  u(k+1) = u(k) + o(k)
  logits(k) = W u(k+1) + b                            # iterate k of K = hops

A model that finds the right slot reproduces the stored pattern exactly, so
the error comes from the attention (and, at N > S, from overwritten slots,
which a query can only answer with a wrong pattern: 32 of its 64 replaced
bits wrong on average, 32 x 32 / 96 = 10.7 bits at N = 96; the paper reports
10.5).
"""
from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import ml_collections

from ebmm_jax.core import models
from ebmm_jax.core import tasks
from ebmm_jax.baselines import common

NAME = "Memory Networks"


class SlotMemory(NamedTuple):
  slots: jax.Array  # [S, E + 1]: embedding and occupancy flag (1 written, 0 empty).


def memory_floats(slots: int, embedding_size: int) -> int:
  """Slots x slot size (Section 4's memory size of a Memory Network)."""
  return slots * (embedding_size + 1)


class MemoryNetwork(hk.Module):
  """Slot memory read by attention (see the module docstring).

  Args:
    slots: S, the number of slots.
    embedding_size: E; a slot holds E + 1 floats.
    hops: attention hops at reading, each giving an iterate (K = hops).
  """

  def __init__(self, slots: int = 64, embedding_size: int = 128, hops: int = 1,
               name: str = "memory_network"):
    super().__init__(name=name)
    if min(slots, embedding_size, hops) < 1:
      raise ValueError(f"slots, embedding_size and hops must be >= 1, got "
                       f"{slots}, {embedding_size}, {hops}.")
    self.num_slots, self.embedding_size, self.hops = slots, embedding_size, hops
    self.embed = hk.Linear(embedding_size, name="embed", w_init=common.he_init(1.0))

  def write(self, patterns: jax.Array) -> SlotMemory:
    """patterns [N, D], written in order into a ring buffer of S slots."""
    n, s = patterns.shape[0], self.num_slots
    kept = patterns[max(n - s, 0):]  # What a ring buffer holds after N writes.
    # Slot of the i-th kept pattern: its write index mod S (the ring's order).
    positions = (jnp.arange(max(n - s, 0), n)) % s
    content = jnp.concatenate(
        [self.embed(kept), jnp.ones((kept.shape[0], 1), kept.dtype)], axis=-1)
    slots = jnp.zeros((s, self.embedding_size + 1), patterns.dtype)
    return SlotMemory(slots.at[positions].set(content))

  def read(self, state: SlotMemory, queries: jax.Array) -> jax.Array:
    """queries [N, D] (replaced bits zeroed) -> logits [K = hops, N, D]."""
    m, occupied = state.slots[:, :-1], state.slots[:, -1] > 0  # [S, E], [S]
    log_beta = hk.get_parameter("log_inverse_temperature", [], init=jnp.zeros)
    output = hk.Linear(queries.shape[-1], name="output", w_init=common.he_init(1.0))
    u = self.embed(queries)  # [N, E]
    logits = []
    for _ in range(self.hops):
      scores = jnp.exp(log_beta) * (u @ m.T)  # [N, S]
      scores = jnp.where(occupied[None], scores, -jnp.inf)
      u = u + jax.nn.softmax(scores, axis=-1) @ m
      logits.append(output(u))
    return jnp.stack(logits)


def schedules(params: hk.Params):
  return dict(inverse_temperature=jnp.exp(
      params["memory_network"]["log_inverse_temperature"]))


def build(config: ml_collections.ConfigDict, task: tasks.Task) -> models.MemoryModel:
  m = config.model
  return common.haiku_model(
      NAME, lambda: MemoryNetwork(m.slots, m.embedding_size, m.hops), task, config,
      schedules)
