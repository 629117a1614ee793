"""The gated-RNN energy of Appendix C.1 in Equinox (extra `equinox`).

The same function, parametrisation and initialisation as the Haiku version
(`energies.rnn`): the writable layer is the field `memory`, the affine maps
of concat(x, state) are stored as an input part and a recurrent part, and
each block is He-initialised on the concatenation's fan-in (Appendix A).
`eqx.nn.Linear` weights are [out, in] (Haiku's `w` transposed) and map one
pattern; the energy maps a batch with `jax.vmap`.
"""
import jax

from ebmm_jax.core import energy as energy_lib
from ebmm_jax.core import params as params_lib
from ebmm_jax.energies import rnn

eqx = energy_lib.require("equinox")


def _linear(in_size: int, out_size: int, scale: float, key: jax.Array,
            use_bias: bool = True):
  """An eqx.nn.Linear with He-initialised weights [out, in] and zero bias."""
  layer = eqx.nn.Linear(in_size, out_size, use_bias=use_bias, key=key)
  weight = params_lib.he_initializer(scale, in_axis=-1, out_axis=-2)(
      key, (out_size, in_size), jax.numpy.float32)
  layer = eqx.tree_at(lambda l: l.weight, layer, weight)
  if use_bias:
    layer = eqx.tree_at(lambda l: l.bias, layer, jax.numpy.zeros((out_size,)))
  return layer


class GatedRNNEnergy(eqx.Module):
  """Energy E(x) of Appendix C.1 with writable `memory` = Linear(D -> dynamic_size).

  Build it with `GatedRNNEnergy.create(key, input_size, ...)`.
  """
  memory: eqx.nn.Linear
  input_projection: eqx.nn.Linear
  recurrent: eqx.nn.Linear
  energy: eqx.nn.Linear
  hops: int = eqx.field(static=True)

  @classmethod
  def create(cls, key: jax.Array, input_size: int, hidden_size: int = 1024,
             dynamic_size: int = 63, hops: int = 5) -> "GatedRNNEnergy":
    if not 0 < dynamic_size < hidden_size:
      raise ValueError(f"dynamic_size must be in (0, hidden_size={hidden_size}), "
                       f"got {dynamic_size}.")
    if hops < 1:
      raise ValueError(f"hops must be >= 1, got {hops}.")
    static_size = hidden_size - dynamic_size
    fan_in = input_size + hidden_size  # of the pseudocode's Linear(concat(x, state)).
    k = jax.random.split(key, 4)
    return cls(
        memory=_linear(input_size, dynamic_size,  # The writable layer: memory(x).
                       rnn.block_scale(input_size, input_size), k[0]),
        input_projection=_linear(input_size, static_size + hidden_size,
                                 rnn.block_scale(fan_in, input_size), k[1]),
        recurrent=_linear(hidden_size, static_size + hidden_size,
                          rnn.block_scale(fan_in, hidden_size), k[2], use_bias=False),
        energy=_linear(hidden_size, 1, 2.0, k[3]),
        hops=hops)

  def __call__(self, x: jax.Array) -> jax.Array:
    """x: [B, D] -> energies [B]."""
    if x.ndim != 2:
      raise ValueError(f"GatedRNNEnergy expects patterns of shape [B, D], got {x.shape}.")
    batched = lambda layer: jax.vmap(layer)
    state = rnn.recurrence(batched(self.memory)(x), batched(self.input_projection)(x),
                           batched(self.recurrent), self.hops)  # [B, H]
    return batched(self.energy)(state)[:, 0]


def make_energy(input_size: int, hidden_size: int = 1024, dynamic_size: int = 63,
                hops: int = 5) -> energy_lib.Energy:
  """The Equinox gated RNN as an `Energy`; its memory is the field `memory`."""
  return energy_lib.from_equinox(
      lambda key: GatedRNNEnergy.create(key, input_size, hidden_size, dynamic_size, hops),
      memory=lambda m: m.memory)
