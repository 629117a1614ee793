"""The gated-RNN energy of Appendix C.1 in Flax NNX (extra `flax`).

The same function, parametrisation and initialisation as the Haiku version
(`energies.rnn`): the writable layer is the attribute `memory`, the affine
maps of concat(x, state) are stored as an input part and a recurrent part, and
each block is He-initialised on the concatenation's fan-in (Appendix A).
Kernels are [in, out] like Haiku's `w`.
"""
import jax

from ebmm_jax.core import energy as energy_lib
from ebmm_jax.core import params as params_lib
from ebmm_jax.energies import rnn

nnx = energy_lib.require("nnx")


def _linear(in_size: int, out_size: int, scale: float, rngs, use_bias: bool = True):
  return nnx.Linear(in_size, out_size, use_bias=use_bias, rngs=rngs,
                    kernel_init=params_lib.he_initializer(scale))  # Biases start at 0.


class GatedRNNEnergy(nnx.Module):
  """Energy E(x) of Appendix C.1 with writable `memory` = Linear(D -> dynamic_size).

  Args:
    input_size: D, the pattern length.
    hidden_size, dynamic_size, hops: as in `rnn.GatedRNNEnergy`.
    rngs: the parameters' random streams.
  """

  def __init__(self, input_size: int, hidden_size: int = 1024, dynamic_size: int = 63,
               hops: int = 5, *, rngs: nnx.Rngs):
    if not 0 < dynamic_size < hidden_size:
      raise ValueError(f"dynamic_size must be in (0, hidden_size={hidden_size}), "
                       f"got {dynamic_size}.")
    if hops < 1:
      raise ValueError(f"hops must be >= 1, got {hops}.")
    static_size = hidden_size - dynamic_size
    fan_in = input_size + hidden_size  # of the pseudocode's Linear(concat(x, state)).
    self.hops = hops
    self.memory = _linear(input_size, dynamic_size,  # The writable layer: memory(x).
                          rnn.block_scale(input_size, input_size), rngs)
    self.input_projection = _linear(input_size, static_size + hidden_size,
                                    rnn.block_scale(fan_in, input_size), rngs)
    self.recurrent = _linear(hidden_size, static_size + hidden_size,
                             rnn.block_scale(fan_in, hidden_size), rngs, use_bias=False)
    self.energy = _linear(hidden_size, 1, 2.0, rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    """x: [B, D] -> energies [B]."""
    if x.ndim != 2:
      raise ValueError(f"GatedRNNEnergy expects patterns of shape [B, D], got {x.shape}.")
    state = rnn.recurrence(self.memory(x), self.input_projection(x), self.recurrent,
                           self.hops)  # [B, H]
    return self.energy(state)[:, 0]


def make_energy(input_size: int, hidden_size: int = 1024, dynamic_size: int = 63,
                hops: int = 5) -> energy_lib.Energy:
  """The NNX gated RNN as an `Energy`; its memory is the attribute `memory`."""
  return energy_lib.from_nnx(
      lambda rngs: GatedRNNEnergy(input_size, hidden_size, dynamic_size, hops, rngs=rngs),
      memory=nnx.PathContains("memory"))
