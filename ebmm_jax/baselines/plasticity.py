"""Differentiable plasticity (Miconi et al., 2018) for Table 1: a recurrent
network with Hebbian plastic weights; the plastic trace is the memory.

As in Miconi et al.'s pattern-memorisation experiment, the network has one
neuron per bit (D = 128); neuron j's input from neuron i goes through a fixed
weight w_ij plus a plastic one α_ij Hebb_ij (their Eq. 1-2):

  a(t) = g ⊙ x(t) + b + y(t-1) (w + α ⊙ Hebb(t-1))      # [D] pre-activation
  y(t) = tanh(a(t))
  Hebb(t) = (1 - η) Hebb(t-1) + η sym(y(t-1)^T y(t))

w, α, η, the input gains g and the biases b are meta-learned; Hebb starts at
zero for every memory and is the only thing writing changes.

Write: each pattern x is presented for `present_steps` steps from y = 0 (the
activity is reset between patterns, so the trace alone carries the memory).
Read: each query, independently, is presented for `read_steps` steps, its
replaced bits zeroed (Miconi et al. present a half-zeroed pattern the same
way), with the trace frozen (reading does not write). The retrieved pattern
after step k is the activity y(k), i.e. logits 2 a(k) (tanh(2a / 2) = y), so
K = read_steps.

Two choices that keep the memory within Appendix A.2's 8,256 floats, the
Hopfield network's: the trace is symmetrised, sym(M) = (M + M^T) / 2, so it
has D (D + 1) / 2 = 8,256 distinct entries (`write` returns exactly those,
packed), where Miconi et al. keep a full D x D trace (16,384 floats); and the
activity is not carried from one pattern to the next (it would add D floats).

Initialisation: w and α start small (0.01 x a standard normal, 0.01 x uniform
in [0, 1]), as in Miconi et al., η at `eta_init` and the input gains at 1;
η = σ(learned logit) stays in (0, 1).
"""
import math
from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ebmm_jax.core import models
from ebmm_jax.core import tasks
from ebmm_jax.baselines import common

NAME = "Differentiable plasticity"


class PlasticState(NamedTuple):
  hebb: jax.Array  # [D (D + 1) / 2], the symmetric trace's upper triangle, packed.


class PlasticWeights(NamedTuple):
  gain: jax.Array  # g [D], input gains.
  b: jax.Array  # [D]
  w: jax.Array  # [D, D], fixed recurrent weights.
  alpha: jax.Array  # [D, D], plasticity coefficients.
  eta: jax.Array  # [], the trace's rate, in (0, 1).


def memory_floats(pattern_dim: int) -> int:
  """The symmetric trace's distinct entries."""
  return pattern_dim * (pattern_dim + 1) // 2


def pack(hebb: jax.Array) -> jax.Array:
  """Upper triangle (with the diagonal) of a symmetric [D, D] -> [D (D + 1) / 2]."""
  rows, cols = np.triu_indices(hebb.shape[-1])
  return hebb[rows, cols]


def unpack(packed: jax.Array, dim: int) -> jax.Array:
  """Inverse of `pack`: the symmetric [D, D] matrix."""
  rows, cols = np.triu_indices(dim)
  upper = jnp.zeros((dim, dim), packed.dtype).at[rows, cols].set(packed)
  return upper + upper.T - jnp.diag(jnp.diag(upper))


class PlasticRNN(hk.Module):
  """Recurrent network with Hebbian plastic weights (module docstring).

  Args:
    input_size: D, the pattern size and the number of neurons.
    present_steps: steps each pattern is presented for while writing.
    read_steps: steps each query is presented for while reading (K).
    eta_init: η at init.
  """

  def __init__(self, input_size: int = 128, present_steps: int = 2, read_steps: int = 3,
               eta_init: float = 0.01, name: str = "plastic_rnn"):
    super().__init__(name=name)
    if min(present_steps, read_steps) < 1:
      raise ValueError(f"present_steps and read_steps must be >= 1, got "
                       f"{present_steps}, {read_steps}.")
    if not 0 < eta_init < 1:
      raise ValueError(f"eta_init must be in (0, 1), got {eta_init}.")
    self.dim, self.present_steps, self.read_steps = input_size, present_steps, read_steps
    self.eta_init = eta_init

  def weights(self) -> PlasticWeights:
    d = self.dim
    gain = hk.get_parameter("gain", [d], init=jnp.ones)
    b = hk.get_parameter("b", [d], init=jnp.zeros)
    w = hk.get_parameter("w", [d, d], init=hk.initializers.RandomNormal(0.01))
    alpha = hk.get_parameter("alpha", [d, d], init=hk.initializers.RandomUniform(0.0, 0.01))
    raw_eta = math.log(self.eta_init) - math.log1p(-self.eta_init)  # logit(η)
    eta_logit = hk.get_parameter("eta_logit", [], init=hk.initializers.Constant(raw_eta))
    return PlasticWeights(gain, b, w, alpha, jax.nn.sigmoid(eta_logit))

  def write(self, patterns: jax.Array) -> PlasticState:
    """patterns [N, D], each presented for `present_steps` steps, in order."""
    wts, d = self.weights(), self.dim
    drive = patterns * wts.gain + wts.b  # [N, D]

    def present(hebb, x_drive):
      y = jnp.zeros_like(x_drive)  # The activity is reset for every pattern.
      for _ in range(self.present_steps):
        new_y = jnp.tanh(x_drive + y @ (wts.w + wts.alpha * hebb))
        # Miconi et al. Eq. (2), pre y(t-1), post y(t), symmetrised.
        outer = jnp.outer(y, new_y)
        hebb = (1.0 - wts.eta) * hebb + wts.eta * 0.5 * (outer + outer.T)
        y = new_y
      return hebb, None

    # Zeros typed like the data (device-varying inside the training step's shard_map).
    hebb, _ = jax.lax.scan(present, jnp.zeros_like(patterns, shape=(d, d)), drive)
    return PlasticState(pack(hebb))

  def read(self, state: PlasticState, queries: jax.Array) -> jax.Array:
    """queries [N, D] (replaced bits zeroed) -> logits [K = read_steps, N, D]."""
    wts = self.weights()
    recurrent = wts.w + wts.alpha * unpack(state.hebb, self.dim)  # Frozen while reading.
    drive = queries * wts.gain + wts.b  # [N, D]
    y, logits = jnp.zeros_like(drive), []
    for _ in range(self.read_steps):
      a = drive + y @ recurrent
      y = jnp.tanh(a)
      logits.append(2.0 * a)  # tanh(logits / 2) = y: the retrieval is the activity.
    return jnp.stack(logits)


def schedules(params: hk.Params):
  p = params["plastic_rnn"]
  return dict(eta=jax.nn.sigmoid(p["eta_logit"]),
              alpha_mean=jnp.mean(p["alpha"]))


def build(config: ml_collections.ConfigDict, task: tasks.Task) -> models.MemoryModel:
  m = config.model
  return common.haiku_model(
      NAME, lambda: PlasticRNN(config.data.pattern_dim, m.present_steps, m.read_steps,
                               m.eta_init),
      task, config, schedules)
