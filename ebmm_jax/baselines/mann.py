"""MANN (Santoro et al., 2016) for Table 1: an LSTM controller with a
content-based read head and a least-recently-used write head over a memory
matrix M [R, W] (a variant of the DNC, as Appendix A.2 says).

Writing feeds the patterns one after another. At step t, with x_t the pattern
and r(t-1) the previous read vector (Santoro et al., Section 3.1 and the LRUA
paragraph):

  h, c = LSTM([x_t, r(t-1)], (h, c))
  o = [h, x_t]                            # controller output (see below)
  lu = one_hot(argmin u(t-1))             # least-used slot, from the usage
  w_w = σ(α(o)) w_r(t-1) + (1 - σ(α(o))) lu
  M(lu) = 0, then M += w_w a(o)^T         # erase the least-used slot, write
  w_r = softmax(β(o) cos(k(o), M_i))      # content-based read (NTM key strength β)
  r(t) = w_r^T M
  u(t) = γ u(t-1) + w_r + w_w

Reading answers each query independently from the state the writes left
(the memory is not written while reading): one controller step with the
masked query as x, the same read head, and logits = Linear([o, r]) (K = 1).

The controller output concatenates the LSTM state with the current input, so
the write vector a(o) can carry all D bits of the pattern without squeezing
them through a small controller; the controller still decides where to write
(α) and what to look for (k, β).

Memory accounting (Section 4: floats of the modifiable state): everything a
write step carries to the next, M [R, W], the usage u [R], the last read
weights w_r [R], the last read vector r [W] and the controller's h and c
[2 x H]. The Table 1 config, R = 61 slots of W = 128 with H = 64, uses
7,808 + 61 + 61 + 128 + 128 = 8,186 floats, within Appendix A.2's 8,256;
61 slots hold 61 patterns verbatim, so from N = 64 on the model must share
slots (or lose patterns).
"""
from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import ml_collections

from ebmm_jax.core import models
from ebmm_jax.core import tasks
from ebmm_jax.baselines import common
from ebmm_jax.baselines import lstm as lstm_lib

NAME = "MANN"
_EPS = 1e-6


class MANNState(NamedTuple):
  memory: jax.Array  # M [R, W].
  usage: jax.Array  # u [R].
  read_weights: jax.Array  # w_r [R], of the last step.
  read: jax.Array  # r [W], the last read vector.
  controller: lstm_lib.LSTMState  # h, c [H] each.


def memory_floats(slots: int, word_size: int, controller_size: int) -> int:
  """M, usage, read weights, read vector and controller state."""
  return slots * word_size + 2 * slots + word_size + 2 * controller_size


class MANNWeights(NamedTuple):
  controller: lstm_lib.LSTMWeights
  heads_w: jax.Array  # [H + D, 2W + 2]: read key k, write vector a, β, α.
  heads_b: jax.Array  # [2W + 2]
  usage_decay: jax.Array  # γ, in (0, 1).


class MANN(hk.Module):
  """Memory-augmented neural network with LRU access (module docstring).

  Args:
    slots: R, memory rows.
    word_size: W, memory width.
    controller_size: H, the LSTM controller's hidden size.
    input_size: D, the pattern size.
  """

  def __init__(self, slots: int = 61, word_size: int = 128, controller_size: int = 64,
               input_size: int = 128, name: str = "mann"):
    super().__init__(name=name)
    if min(slots, word_size, controller_size) < 1:
      raise ValueError(f"slots, word_size and controller_size must be >= 1, got "
                       f"{slots}, {word_size}, {controller_size}.")
    self.slots, self.word_size, self.controller_size = slots, word_size, controller_size
    self.input_size = input_size
    self.controller = lstm_lib.LSTMCell(controller_size, input_size, word_size,
                                        name="controller")

  def weights(self) -> MANNWeights:
    w, out_size = self.word_size, self.controller_size + self.input_size
    heads_w = hk.get_parameter("heads_w", [out_size, 2 * w + 2],
                               init=common.he_init(1.0))
    heads_b = hk.get_parameter("heads_b", [2 * w + 2], init=jnp.zeros)
    # γ = σ(logit), 0.95 at init.
    decay_logit = hk.get_parameter("usage_decay_logit", [],
                                   init=hk.initializers.Constant(2.944))
    return MANNWeights(self.controller.weights(), heads_w, heads_b,
                       jax.nn.sigmoid(decay_logit))

  def write(self, patterns: jax.Array) -> MANNState:
    """patterns [N, D], fed to the controller one after another."""
    wts, r, w, h = self.weights(), self.slots, self.word_size, self.controller_size
    x_gates = lstm_lib.input_gates(wts.controller, patterns)  # [N, 4H], all at once.
    # Zeros typed like the data, so that the scan's carry has the data's
    # device-varying type inside the training step's shard_map.
    zeros = lambda *shape: jnp.zeros_like(patterns, shape=shape)
    init = MANNState(zeros(r, w), zeros(r), zeros(r), zeros(w),
                     lstm_lib.LSTMState(zeros(h), zeros(h)))

    def step(state, inputs):
      x, gates = inputs
      controller = lstm_lib.step(wts.controller, gates, state.controller, state.read)
      key, add, strength, gate = _heads(wts, jnp.concatenate([controller.h, x]), w)
      # Least recently used access: the least-used slot is erased, and the
      # write goes there or to the last read location, as the gate α says.
      least_used = jax.nn.one_hot(jnp.argmin(state.usage), r, dtype=x.dtype)
      write_weights = gate * state.read_weights + (1.0 - gate) * least_used
      memory = state.memory * (1.0 - least_used)[:, None]
      memory = memory + write_weights[:, None] * add[None, :]
      read_weights = _content_weights(key, strength, memory)
      usage = wts.usage_decay * state.usage + read_weights + write_weights
      return MANNState(memory, usage, read_weights, read_weights @ memory,
                       controller), None

    state, _ = jax.lax.scan(step, init, (patterns, x_gates))
    return state

  def read(self, state: MANNState, queries: jax.Array) -> jax.Array:
    """queries [N, D] (replaced bits zeroed) -> logits [1, N, D]."""
    wts = self.weights()
    controller = lstm_lib.step(wts.controller, lstm_lib.input_gates(wts.controller, queries),
                               state.controller, state.read)  # [N, H], from the shared state.
    o = jnp.concatenate([controller.h, queries], axis=-1)  # [N, H + D]
    key, _, strength, _ = _heads(wts, o, self.word_size)
    r = _content_weights(key, strength, state.memory) @ state.memory  # [N, W]
    out = hk.Linear(queries.shape[-1], name="output", w_init=common.he_init(1.0))
    return out(jnp.concatenate([o, r], axis=-1))[None]


def _heads(wts: MANNWeights, o: jax.Array, word_size: int):
  """Read key k [..., W], write vector a [..., W], key strength β > 0 [...],
  write gate σ(α) [...] from the controller output o."""
  w = word_size
  key, add, strength, gate = jnp.split(o @ wts.heads_w + wts.heads_b,
                                       [w, 2 * w, 2 * w + 1], axis=-1)
  return key, add, jax.nn.softplus(strength[..., 0]), jax.nn.sigmoid(gate[..., 0])


def _content_weights(key: jax.Array, strength: jax.Array, memory: jax.Array) -> jax.Array:
  """softmax_i(β cos(k, M_i)); key [..., W], memory [R, W] -> [..., R]."""
  # sqrt(|v|² + ε): finite gradients at the empty (all-zero) slots.
  norm = lambda v: jnp.sqrt(jnp.sum(jnp.square(v), axis=-1) + _EPS)
  similarity = (key @ memory.T) / (norm(key)[..., None] * norm(memory))
  return jax.nn.softmax(strength[..., None] * similarity, axis=-1)


def schedules(params: hk.Params):
  return dict(usage_decay=jax.nn.sigmoid(params["mann"]["usage_decay_logit"]))


def build(config: ml_collections.ConfigDict, task: tasks.Task) -> models.MemoryModel:
  m = config.model
  return common.haiku_model(
      NAME, lambda: MANN(m.slots, m.word_size, m.controller_size,
                         config.data.pattern_dim), task, config,
      schedules)
