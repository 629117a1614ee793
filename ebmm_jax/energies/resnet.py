"""ResNet energy models for images, Appendix C.2-C.5.

Each `make_*_energy` returns a plain function `energy(x)` to be wrapped by
`hk.transform` / `hk.without_apply_rng`:

  x: [B, H, W, C] float images in [0, 1]  ->  e: [B] energies, one per image.

No layer mixes examples, so `jax.grad(lambda x: energy(x).sum())` is the
per-example input gradient that reading (Eq. 1) follows. Writable parameters
live only in Haiku modules named `memory` (`ebmm_jax.core.params`); their number is
set by `dynamic_size`, the number of output units/channels of each memory
layer, and `memory_floats` gives it in closed form so configs can target a
memory budget (`dynamic_size_for_budget`).

| model name             | appendix | images (paper)            | memory floats            |
|------------------------|----------|---------------------------|--------------------------|
| `resnet_fc`            | C.2      | 32x32x1 Omniglot, CIFAR   | (code_size + 1) * d      |
| `resnet_conv`          | C.3      | 32x32x1 Omniglot, 32x32x3 | 2 * (18 * channels + 1) * d |
| `resnet_imagenet`      | C.4      | 64x64x3 ImageNet          | 2 * (18 * channels + 1) * d |
| `resnet_lowlevel_conv` | C.5      | 32x32x1 Omniglot          | (27 * channels + 2) * d  |

At the paper's sizes: 257 d, 1154 d, 2306 d (18,448 for the paper's d=8,
Figure 5b's "about 18K memory") and 866 d. Memory size does not depend on the
image shape: the writable layers see trunk features, never pixels.
"""
import inspect
import numbers
from typing import Callable, Dict, Optional, Sequence

import haiku as hk
import jax
import jax.numpy as jnp

from ebmm_jax.energies.blocks import (BottleneckBlock, ConvGatedRecurrence,
                                      Encoder, KERNEL, LowLevelMemoryBlock,
                                      ResBlock, check_images, he_init,
                                      layer_norm, split_conv_memory_floats)

EnergyFn = Callable[[jax.Array], jax.Array]


def _check_hops(hops: int) -> None:
  if hops < 1:
    raise ValueError(f"hops must be >= 1 (the energy reads the recurrent "
                     f"state after the last hop); got {hops}.")


def _check_dynamic_size(dynamic_size: int, width: int, layer: str) -> None:
  if not isinstance(dynamic_size, numbers.Integral) or not 1 <= dynamic_size <= width:
    raise ValueError(
        f"dynamic_size must be an integer in [1, {width}] ({layer} has {width} "
        f"outputs, of which dynamic_size are writable); got {dynamic_size!r}.")


class ResNetFCEnergy(hk.Module):
  """Appendix C.2: ResNet encoder, fully-connected memory, gated recurrence.

    code  = Encoder(x)                                    # [B, 256]
    x     = tanh(concat([memory(code), static(code)]))    # [B, representation_size]
    state = u * LN_hop(tanh(Linear(z))) + (1 - u) * state,  z = concat([x, state])
    E     = Linear(1)(tanh(Linear(1024)(state)))
  """

  def __init__(self, dynamic_size: int, channels: int = 32,
               channel_multipliers: Sequence[int] = (1, 2, 3),
               code_size: int = 256, representation_size: int = 512,
               hidden_size: int = 512, output_hidden_size: int = 1024,
               hops: int = 3, name: Optional[str] = "resnet_fc_energy"):
    super().__init__(name=name)
    _check_dynamic_size(dynamic_size, representation_size,
                        "the representation layer")
    _check_hops(hops)
    self.dynamic_size = dynamic_size
    self.channels = channels
    self.channel_multipliers = tuple(channel_multipliers)
    self.code_size = code_size
    self.representation_size = representation_size
    self.hidden_size = hidden_size
    self.output_hidden_size = output_hidden_size
    self.hops = hops

  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps images [B, H, W, C] -> energies [B]."""
    check_images(x, 2 ** len(self.channel_multipliers), "resnet_fc energy")
    code = Encoder(self.channels, self.channel_multipliers, self.code_size)(x)
    # Appendix C.2 `memory = Linear(input_size, dynamic_size)`: input_size is
    # the encoder's code size.
    dynamic_part = hk.Linear(self.dynamic_size, w_init=he_init(),
                             name="memory")(code)
    static_size = self.representation_size - self.dynamic_size
    parts = [dynamic_part]
    if static_size:
      parts.append(hk.Linear(static_size, w_init=he_init(),
                             name="static")(code))
    x = jnp.tanh(jnp.concatenate(parts, axis=-1))

    hidden = hk.Linear(self.hidden_size, w_init=he_init(), name="hidden")
    gate = hk.Linear(self.hidden_size, w_init=he_init(), name="gate")
    state = jnp.zeros((x.shape[0], self.hidden_size), x.dtype)
    for hop in range(self.hops):
      z = jnp.concatenate([x, state], axis=-1)
      # Appendix C.2 constructs `LayerNorm()` inside the hop loop while
      # `hidden` and `gate` are built before it, so each hop gets its own
      # LayerNorm and shares the two Linears.
      c = layer_norm(jnp.tanh(hidden(z)), name=f"hidden_norm_{hop}")
      u = jax.nn.sigmoid(gate(z))
      # Appendix C.2 typo: `state = u * c + (1 - u) * c` would ignore the
      # gate and the previous state; read as the update-gate rule of C.1/C.3.
      state = u * c + (1. - u) * state
    # Appendix C.2 `Linear(1024)()(state)`: the stray `()` is a typo.
    h = jnp.tanh(hk.Linear(self.output_hidden_size, w_init=he_init(),
                           name="output_hidden")(state))
    return hk.Linear(1, w_init=he_init(), name="energy")(h)[:, 0]


class ResNetConvEnergy(hk.Module):
  """Appendix C.3 (and C.4): ResNet with writable bottleneck convolutions.

    x = ResBlock(channels * 1, [3, 3], stride=2, downscale=True)(x)
    x = ResBlock(channels * 2, [3, 3], stride=2, downscale=True)(x)
    x = resblock_bottleneck(x, channels * 4, channels * 2, downscale_k)  for each k
    E = ConvGatedRecurrence(hidden_size, hops)(x)

  C.3 (32x32 images): channels=32, downscales (False, True), hidden 128.
  C.4 (64x64 ImageNet): channels=64, downscales (True, True), hidden 256.
  Both bottleneck blocks carry a `memory` convolution: `resblock_bottleneck`
  reads the global `dynamic_size`. This matches Figure 5b's "about 18K
  memory" for C.4 (2 * (3*3*128 + 1) * 8 = 18,448 floats).
  """

  def __init__(self, dynamic_size: int, channels: int = 32,
               bottleneck_downscales: Sequence[bool] = (False, True),
               hidden_size: int = 128, output_hidden_size: int = 1024,
               hops: int = 3, name: Optional[str] = "resnet_conv_energy"):
    super().__init__(name=name)
    _check_dynamic_size(dynamic_size, 4 * channels,
                        "each bottleneck's 3x3 convolution")
    _check_hops(hops)
    self.dynamic_size = dynamic_size
    self.channels = channels
    self.bottleneck_downscales = tuple(bottleneck_downscales)
    self.hidden_size = hidden_size
    self.output_hidden_size = output_hidden_size
    self.hops = hops

  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps images [B, H, W, C] -> energies [B]."""
    downsampling = 4 * 2 ** sum(self.bottleneck_downscales)
    check_images(x, downsampling, f"{self.module_name} energy")
    x = ResBlock(self.channels * 1, KERNEL, stride=2, downscale=True)(x)
    x = ResBlock(self.channels * 2, KERNEL, stride=2, downscale=True)(x)
    for downscale in self.bottleneck_downscales:
      x = BottleneckBlock(self.channels * 4, self.channels * 2,
                          self.dynamic_size, downscale)(x)
    return ConvGatedRecurrence(self.hidden_size, self.hops,
                               self.output_hidden_size)(x)


class ResNetLowLevelConvEnergy(hk.Module):
  """Appendix C.5: writable convolutions in the second residual block.

    x = ResBlock(channels * 1, [3, 3], stride=2, downscale=True)(x)
    x = resblock(x, channels * 2)          # two `memory` convolutions
    x = ResBlock(channels * 4, [3, 3], stride=2, downscale=True)(x)
    E = ConvGatedRecurrence(hidden_size, hops)(x)
  """

  def __init__(self, dynamic_size: int = 8, channels: int = 32,
               hidden_size: int = 256, output_hidden_size: int = 1024,
               hops: int = 3, name: Optional[str] = "resnet_lowlevel_conv_energy"):
    super().__init__(name=name)
    _check_dynamic_size(dynamic_size, 2 * channels,
                        "each 3x3 convolution of the second block")
    _check_hops(hops)
    self.dynamic_size = dynamic_size
    self.channels = channels
    self.hidden_size = hidden_size
    self.output_hidden_size = output_hidden_size
    self.hops = hops

  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps images [B, H, W, C] -> energies [B]."""
    check_images(x, 8, "resnet_lowlevel_conv energy")
    x = ResBlock(self.channels * 1, KERNEL, stride=2, downscale=True)(x)
    x = LowLevelMemoryBlock(self.channels * 2, self.dynamic_size)(x)
    x = ResBlock(self.channels * 4, KERNEL, stride=2, downscale=True)(x)
    return ConvGatedRecurrence(self.hidden_size, self.hops,
                               self.output_hidden_size)(x)


def make_resnet_fc_energy(
    dynamic_size: int, *, channels: int = 32,
    channel_multipliers: Sequence[int] = (1, 2, 3), code_size: int = 256,
    representation_size: int = 512, hidden_size: int = 512,
    output_hidden_size: int = 1024, hops: int = 3) -> EnergyFn:
  """Appendix C.2 energy (ResNet, fully-connected memory), x [B, H, W, C] -> [B].

  Args:
    dynamic_size: writable units of the representation layer (swept in
      Section 4.1; the paper gives no single value). 1..representation_size.
    channels: base width of the encoder's ResBlocks (32, 64, 96 channels).
    channel_multipliers: encoder ResBlock widths in units of `channels`.
    code_size: encoder output size (`Linear(256)`).
    representation_size: width of the memory + static layer.
    hidden_size: gated recurrence state size.
    output_hidden_size: width of the tanh layer under `Linear(1)`.
    hops: recurrence steps.

  Returns:
    `energy(x)`: images [B, H, W, C] (H, W multiples of 8) -> energies [B].
  """
  _check_dynamic_size(dynamic_size, representation_size,
                      "the representation layer")
  _check_hops(hops)

  def energy(x: jax.Array) -> jax.Array:
    return ResNetFCEnergy(
        dynamic_size, channels=channels,
        channel_multipliers=channel_multipliers, code_size=code_size,
        representation_size=representation_size, hidden_size=hidden_size,
        output_hidden_size=output_hidden_size, hops=hops)(x)
  return energy


def make_resnet_conv_energy(
    dynamic_size: int, *, channels: int = 32, hidden_size: int = 128,
    output_hidden_size: int = 1024, hops: int = 3) -> EnergyFn:
  """Appendix C.3 energy (3-block ResNet, convolutional memory), 32x32 images.

  Args:
    dynamic_size: writable output channels of each bottleneck's 3x3
      convolution (swept in Sections 4.1-4.2). 1..4 * channels.
    channels: base width (ResBlocks 32, 64; bottlenecks 128 via 64).
    hidden_size: channels of the 4x4 recurrent state.
    output_hidden_size: width of the tanh layer under `Linear(1)`.
    hops: recurrence steps.

  Returns:
    `energy(x)`: images [B, H, W, C] (H, W multiples of 8) -> energies [B].
  """
  _check_dynamic_size(dynamic_size, 4 * channels,
                      "each bottleneck's 3x3 convolution")
  _check_hops(hops)

  def energy(x: jax.Array) -> jax.Array:
    return ResNetConvEnergy(
        dynamic_size, channels=channels, bottleneck_downscales=(False, True),
        hidden_size=hidden_size, output_hidden_size=output_hidden_size,
        hops=hops, name="resnet_conv_energy")(x)
  return energy


def make_imagenet_energy(
    dynamic_size: int = 8, *, channels: int = 64, hidden_size: int = 256,
    output_hidden_size: int = 1024, hops: int = 3) -> EnergyFn:
  """Appendix C.4 energy: the 4-block version of C.3 for 64x64 ImageNet.

  Args:
    dynamic_size: writable output channels of each bottleneck's 3x3
      convolution (paper: 8). 1..4 * channels.
    channels: base width (ResBlocks 64, 128; bottlenecks 256 via 128).
    hidden_size: channels of the 4x4 recurrent state.
    output_hidden_size: width of the tanh layer under `Linear(1)`.
    hops: recurrence steps.

  Returns:
    `energy(x)`: images [B, H, W, C] (H, W multiples of 16) -> energies [B].
  """
  _check_dynamic_size(dynamic_size, 4 * channels,
                      "each bottleneck's 3x3 convolution")
  _check_hops(hops)

  def energy(x: jax.Array) -> jax.Array:
    return ResNetConvEnergy(
        dynamic_size, channels=channels, bottleneck_downscales=(True, True),
        hidden_size=hidden_size, output_hidden_size=output_hidden_size,
        hops=hops, name="resnet_imagenet_energy")(x)
  return energy


def make_resnet_lowlevel_conv_energy(
    dynamic_size: int = 8, *, channels: int = 32, hidden_size: int = 256,
    output_hidden_size: int = 1024, hops: int = 3) -> EnergyFn:
  """Appendix C.5 energy: convolutional memory in the second residual block.

  Args:
    dynamic_size: writable output channels of each of the block's two 3x3
      convolutions (paper: 8). 1..2 * channels.
    channels: base width (blocks of 32, 64, 128 channels).
    hidden_size: channels of the 4x4 recurrent state.
    output_hidden_size: width of the tanh layer under `Linear(1)`.
    hops: recurrence steps.

  Returns:
    `energy(x)`: images [B, H, W, C] (H, W multiples of 8) -> energies [B].
  """
  _check_dynamic_size(dynamic_size, 2 * channels,
                      "each 3x3 convolution of the second block")
  _check_hops(hops)

  def energy(x: jax.Array) -> jax.Array:
    return ResNetLowLevelConvEnergy(
        dynamic_size, channels=channels, hidden_size=hidden_size,
        output_hidden_size=output_hidden_size, hops=hops)(x)
  return energy


ENERGY_MODELS: Dict[str, Callable[..., EnergyFn]] = {
    "resnet_fc": make_resnet_fc_energy,
    "resnet_conv": make_resnet_conv_energy,
    "resnet_imagenet": make_imagenet_energy,
    "resnet_lowlevel_conv": make_resnet_lowlevel_conv_energy,
}


def _maker(model_name: str) -> Callable[..., EnergyFn]:
  if model_name not in ENERGY_MODELS:
    raise ValueError(f"Unknown image energy model {model_name!r}; expected one "
                     f"of {sorted(ENERGY_MODELS)}.")
  return ENERGY_MODELS[model_name]


def make_energy(model_name: str, **kwargs) -> EnergyFn:
  """`ENERGY_MODELS[model_name](**kwargs)`, with a clear error for bad names."""
  return _maker(model_name)(**kwargs)


def memory_floats(model_name: str, dynamic_size: Optional[int] = None,
                  **arch_kwargs) -> int:
  """Number of writable floats (Section 4 "memory size") of an image energy.

  Closed form of `ebmm_jax.core.params.memory_size` for the initialised model:
  weights and biases of every `memory` module. Independent of the image
  shape, because every memory layer reads trunk features.

  Args:
    model_name: a key of `ENERGY_MODELS`.
    dynamic_size: as for the model's constructor; None takes its default
      (only C.4 and C.5 have one, 8).
    **arch_kwargs: other constructor keyword arguments (e.g. `channels`), so
      the count matches a non-default architecture.

  Returns:
    The number of floats that writing changes.
  """
  maker = _maker(model_name)
  if dynamic_size is not None:
    arch_kwargs["dynamic_size"] = dynamic_size
  # Binding against the constructor's signature applies its defaults and
  # rejects arguments it does not take, so the formula cannot drift from it.
  bound = inspect.signature(maker).bind_partial(**arch_kwargs)
  bound.apply_defaults()
  a = bound.arguments
  if "dynamic_size" not in a:
    raise ValueError(f"{model_name} has no default dynamic_size; pass one.")
  d = a["dynamic_size"]
  maker(**a)  # Validates dynamic_size against the layer width.
  if model_name == "resnet_fc":
    return (a["code_size"] + 1) * d
  if model_name in ("resnet_conv", "resnet_imagenet"):
    # Two bottlenecks, each a 3x3 memory conv over 2 * channels inputs.
    return 2 * split_conv_memory_floats(2 * a["channels"], d, KERNEL)
  # resnet_lowlevel_conv: 3x3 memory convs over `channels` then
  # 2 * channels inputs.
  return (split_conv_memory_floats(a["channels"], d, KERNEL) +
          split_conv_memory_floats(2 * a["channels"], d, KERNEL))


def dynamic_size_for_budget(model_name: str, budget_floats: int,
                            **arch_kwargs) -> int:
  """Largest `dynamic_size` whose memory fits in `budget_floats` floats.

  E.g. `dynamic_size_for_budget("resnet_conv", 4096)` for a "4K memory"
  point of a distortion/rate sweep (Section 4). Memory grows linearly in
  dynamic_size, so the answer is the budget over the per-unit size.

  Raises:
    ValueError: if even dynamic_size=1 exceeds the budget, or if the budget
      exceeds the largest memory the architecture has (all of the layer
      writable), since silently capping would mislabel a sweep point.
  """
  per_unit = memory_floats(model_name, 1, **arch_kwargs)
  d = budget_floats // per_unit
  if d < 1:
    raise ValueError(
        f"{model_name} needs at least {per_unit} writable floats "
        f"(dynamic_size=1); the budget is {budget_floats}.")
  try:
    memory_floats(model_name, int(d), **arch_kwargs)
  except ValueError as e:
    raise ValueError(f"A budget of {budget_floats} floats is more than "
                     f"{model_name} can make writable: {e}") from e
  return int(d)
