"""The gated-RNN energy of Appendix C.1 (random binary strings, Table 1).

    state = 0
    for hop in range(5):
      z = concat(x, state)
      c = tanh(concat(memory(x), static(z)))      # memory: Linear(128 -> 63)
      u = sigmoid(gate(z))
      state = u * c + (1 - u) * state
    energy = Linear(1)(state)

The input is the same at every hop, so every affine map of `z = concat(x, state)`
splits into an input part, computed once per energy evaluation, and a recurrent
part, computed once per hop. This is the same function and parametrisation as
the pseudocode (Linear on a concatenation == sum of two Linears, one bias), at
about half the FLOPs: the input projections would otherwise be recomputed at
every hop. At hop 0 the state is zero, so its recurrent part is skipped.
"""
from typing import Callable

import haiku as hk
import jax
import jax.numpy as jnp

from ebmm_jax.core import budget as budget_lib
from ebmm_jax.core import params as params_lib


def block_scale(fan_in: int, part_fan_in: int) -> float:
  """He initialisation's scale (Appendix A) for one block of a Linear on a
  concatenation.

  The pseudocode's Linear(input + hidden -> ...) has fan-in `fan_in`; we store it
  as blocks of fan-in `part_fan_in` whose weights must have variance 2 / fan_in:
  a VarianceScaling on the block's own fan-in with scale 2 * part / fan_in.
  """
  return 2.0 * part_fan_in / fan_in


def _he_init(fan_in: int, part_fan_in: int) -> hk.initializers.Initializer:
  return params_lib.he_init(block_scale(fan_in, part_fan_in))


class GatedRNNEnergy(hk.Module):
  """Energy E(x) of Appendix C.1 with writable `memory` = Linear(D -> dynamic_size).

  Args:
    hidden_size: size of the recurrent state (paper: 1024).
    dynamic_size: outputs of the writable layer (paper: (D - 1) // 2 = 63, so the
      memory holds D * 63 + 63 = 8,127 floats for D = 128).
    hops: number of recurrent steps (paper: 5).
  """

  def __init__(self, hidden_size: int = 1024, dynamic_size: int = 63,
               hops: int = 5, name: str = "gated_rnn_energy"):
    super().__init__(name=name)
    if not 0 < dynamic_size < hidden_size:
      raise ValueError(f"dynamic_size must be in (0, hidden_size={hidden_size}), "
                       f"got {dynamic_size}.")
    if hops < 1:
      raise ValueError(f"hops must be >= 1, got {hops}.")
    self.hidden_size = hidden_size
    self.dynamic_size = dynamic_size
    self.hops = hops

  def __call__(self, x: jax.Array) -> jax.Array:
    """x: [B, D] -> energies [B]."""
    if x.ndim != 2:
      raise ValueError(f"GatedRNNEnergy expects patterns of shape [B, D], got {x.shape}.")
    input_size = x.shape[-1]
    hidden, dynamic = self.hidden_size, self.dynamic_size
    static_size = hidden - dynamic
    fan_in = input_size + hidden  # of the pseudocode's Linear(concat(x, state)).

    # The writable layer sees only x (Appendix C.1: `memory(x)`).
    memory_part = hk.Linear(dynamic, name="memory",
                            w_init=_he_init(input_size, input_size))(x)  # [B, dyn]
    # Input parts of `static(z)` and `gate(z)` in one matmul (they carry the biases).
    x_proj = hk.Linear(static_size + hidden, name="input_projection",
                       w_init=_he_init(fan_in, input_size))(x)  # [B, static + hidden]
    recurrent = hk.Linear(static_size + hidden, with_bias=False, name="recurrent",
                          w_init=_he_init(fan_in, hidden))
    state = recurrence(memory_part, x_proj, recurrent, self.hops)  # [B, H]
    # Bounded below in x: state lies in (-1, 1)^H (Section 3's assumption).
    energy = hk.Linear(1, name="energy",
                       w_init=hk.initializers.VarianceScaling(2.0, "fan_in",
                                                              "truncated_normal"))(state)
    return energy[:, 0]


def recurrence(memory_part: jax.Array, x_proj: jax.Array,
               recurrent: Callable[[jax.Array], jax.Array], hops: int) -> jax.Array:
  """The hops of Appendix C.1 from the input parts of its affine maps; shared
  by the Haiku, Flax NNX and Equinox versions of the energy.

  Args:
    memory_part: [B, dynamic], the writable layer's `memory(x)`.
    x_proj: [B, static + H], the input parts of `static(z)` and `gate(z)`
      (with their biases), in that order.
    recurrent: state [B, H] -> [B, static + H], their recurrent parts (no bias).
    hops: recurrent steps.

  Returns:
    The final state [B, H].
  """
  dynamic = memory_part.shape[-1]
  # x_proj is [B, static + H] with static = H - dynamic: H = (width + dynamic) / 2.
  hidden = (x_proj.shape[-1] + dynamic) // 2
  static_size = hidden - dynamic
  static_x, gate_x = jnp.split(x_proj, [static_size], axis=-1)
  state = jnp.zeros((x_proj.shape[0], hidden), x_proj.dtype)  # [B, H]
  for hop in range(hops):
    if hop == 0:  # state == 0: the recurrent part vanishes.
      static_z, gate_z = static_x, gate_x
    else:
      static_h, gate_h = jnp.split(recurrent(state), [static_size], axis=-1)
      static_z, gate_z = static_x + static_h, gate_x + gate_h
    c = jnp.tanh(jnp.concatenate([memory_part, static_z], axis=-1))  # [B, H]
    u = jax.nn.sigmoid(gate_z)  # [B, H]
    state = u * c + (1.0 - u) * state
  return state


def make_gated_rnn_energy(hidden_size: int = 1024, dynamic_size: int = 63,
                          hops: int = 5):
  """Returns `energy(x: [B, D]) -> [B]`, to be wrapped by `hk.transform`."""

  def energy(x):
    return GatedRNNEnergy(hidden_size, dynamic_size, hops)(x)

  return energy


def dynamic_size_for_budget(input_size: int) -> int:
  """Appendix C.1: (input_size - 1) // 2 outputs, so that the writable
  Linear(input_size -> dynamic_size) fits the Hopfield budget D(D-1)/2 + D.

  That is the largest dynamic_size whose memory stays strictly under the
  budget, (D + 1) d < D (D + 1) / 2, i.e. d < D / 2 (`core.budget`)."""
  hopfield = input_size * (input_size - 1) // 2 + input_size
  return budget_lib.largest_within(
      lambda d: memory_floats(input_size, d), hopfield - 1, lo=0)


def memory_floats(input_size: int, dynamic_size: int) -> int:
  """Floats in the writable Linear(input_size -> dynamic_size) (weights + bias)."""
  return input_size * dynamic_size + dynamic_size


