"""LSTM (Hochreiter & Schmidhuber, 1997) for Table 1: the recurrent state is
the memory.

Writing feeds the patterns one after another, [x_t, 1] (the 1 flags a
pattern to store); reading answers each query independently from the state
the writes left: one more step with [q, 0] (q the masked query), then
logits = Linear(h) (K = 1).

Memory accounting: the state carried from one pattern to the next, h and c,
2 x H floats; H = 4,128 uses Appendix A.2's 8,256 exactly. That LSTM has a
(D + 1 + H) x 4H = 4,257 x 16,512 = 70.3 M-weight gate matrix (281 MB), read
once per pattern written: Appendix A.1 reports that the paper's LSTM "failed
to train due to quadratic growth of the hidden-to-hidden weight matrix".
`configs/lstm.py:small` is the same model with a 1,024-float state (H = 512),
a clearly smaller memory than the budget, trainable on a CPU.

The gates follow the usual LSTM with a forget-gate bias of +1 (as Haiku's
`hk.LSTM`); the cell is written out (`LSTMCell`) so that the input part of
the gates is computed for all N patterns in one matmul before the scan, and
so that MANN's controller reuses it.
"""
from typing import NamedTuple, Optional

import haiku as hk
import jax
import jax.numpy as jnp
import ml_collections

from ebmm_jax.core import models
from ebmm_jax.core import tasks
from ebmm_jax.baselines import common

NAME = "LSTM"


class LSTMState(NamedTuple):
  h: jax.Array  # [..., H]
  c: jax.Array  # [..., H]


class LSTMWeights(NamedTuple):
  w_x: jax.Array  # [I, 4H], the input's part of the gates.
  w_e: Optional[jax.Array]  # [E, 4H], an extra input's (MANN's read vector), or None.
  w_h: jax.Array  # [H, 4H], the recurrent part.
  b: jax.Array  # [4H]


def memory_floats(hidden_size: int) -> int:
  """h and c."""
  return 2 * hidden_size


class LSTMCell(hk.Module):
  """An LSTM cell whose gates are `x w_x + e w_e + h w_h + b`, He-initialised
  with the fan-in of the concatenation [x, e, h] (Appendix A)."""

  def __init__(self, hidden_size: int, input_size: int, extra_size: int = 0,
               name: str = "lstm"):
    super().__init__(name=name)
    self.hidden_size, self.input_size, self.extra_size = hidden_size, input_size, extra_size

  def weights(self) -> LSTMWeights:
    """The cell's weights (created at init), for the pure `input_gates`/`step`."""
    h, fan_in = self.hidden_size, self.input_size + self.extra_size + self.hidden_size
    # He initialisation of one block of Linear([x, e, h]): variance 2 / fan_in.
    part = lambda size: hk.initializers.VarianceScaling(2.0 * size / fan_in, "fan_in",
                                                        "truncated_normal")
    w_x = hk.get_parameter("w_x", [self.input_size, 4 * h], init=part(self.input_size))
    w_e = (hk.get_parameter("w_e", [self.extra_size, 4 * h], init=part(self.extra_size))
           if self.extra_size else None)
    w_h = hk.get_parameter("w_h", [h, 4 * h], init=part(h))
    b = hk.get_parameter("b", [4 * h], init=jnp.zeros)
    return LSTMWeights(w_x, w_e, w_h, b)


def input_gates(w: LSTMWeights, x: jax.Array) -> jax.Array:
  """The input's part of the gates, x [..., I] -> [..., 4H] (bias included)."""
  return x @ w.w_x + w.b


def step(w: LSTMWeights, gates_x: jax.Array, state: LSTMState,
         extra: Optional[jax.Array] = None) -> LSTMState:
  """One LSTM step given the input's part of the gates [..., 4H]."""
  gates = gates_x + state.h @ w.w_h
  if extra is not None:
    gates = gates + extra @ w.w_e
  i, g, f, o = jnp.split(gates, 4, axis=-1)
  c = jax.nn.sigmoid(f + 1.0) * state.c + jax.nn.sigmoid(i) * jnp.tanh(g)
  return LSTMState(jax.nn.sigmoid(o) * jnp.tanh(c), c)


class LSTMMemory(hk.Module):
  """An LSTM whose state stores the patterns (module docstring).

  Args:
    hidden_size: H; the memory is 2H floats.
    input_size: D, the pattern size.
  """

  def __init__(self, hidden_size: int, input_size: int, name: str = "lstm_memory"):
    super().__init__(name=name)
    if hidden_size < 1:
      raise ValueError(f"hidden_size must be >= 1, got {hidden_size}.")
    self.hidden_size = hidden_size
    self.cell = LSTMCell(hidden_size, input_size + 1, name="cell")

  def write(self, patterns: jax.Array) -> LSTMState:
    """patterns [N, D], one after another, from a zero state."""
    w = self.cell.weights()
    flagged = jnp.concatenate([patterns, jnp.ones((patterns.shape[0], 1))], axis=-1)
    gates_x = input_gates(w, flagged)  # [N, 4H], one matmul for all patterns.
    zero = jnp.zeros_like(patterns, shape=(self.hidden_size,))  # Typed like the data (shard_map).
    state, _ = jax.lax.scan(lambda s, g: (step(w, g, s), None),
                            LSTMState(zero, zero), gates_x)
    return state

  def read(self, state: LSTMState, queries: jax.Array) -> jax.Array:
    """queries [N, D] (replaced bits zeroed) -> logits [1, N, D]."""
    w = self.cell.weights()
    flagged = jnp.concatenate([queries, jnp.zeros((queries.shape[0], 1))], axis=-1)
    # The written state is shared by all queries: h w_h once, not N times.
    after = step(w, input_gates(w, flagged), state)
    out = hk.Linear(queries.shape[-1], name="output", w_init=common.he_init(1.0))
    return out(after.h)[None]


def build(config: ml_collections.ConfigDict, task: tasks.Task) -> models.MemoryModel:
  m = config.model
  return common.haiku_model(
      NAME, lambda: LSTMMemory(m.hidden_size, config.data.pattern_dim), task, config)
