"""ResNet energy models for images, Appendix C.2-C.5.

`make_energy(name, **architecture)` returns a plain function `energy(x)` to be
wrapped by `hk.transform` / `hk.without_apply_rng`:

  x: [B, H, W, C] float images in [0, 1]  ->  e: [B] energies, one per image.

No layer mixes examples, so `jax.grad(lambda x: energy(x).sum())` is the
per-example input gradient that reading (Eq. 1) follows. Writable parameters
live only in Haiku modules named `memory` (`ebmm_jax.core.params`); their number is
set by `dynamic_size`, the number of output units/channels of each memory
layer. `memory_floats` counts them on the initialised parameters' shapes
(`jax.eval_shape`), so configs can target a memory budget
(`dynamic_size_for_budget`, through `ebmm_jax.core.budget`).

One `ENERGY_MODELS` entry per energy (`EnergySpec`: its module, whose
constructor arguments are the architecture fields a config sets, the paper's
sizes, the writable layer's width and the trunk's stride):

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
import functools
import inspect
import numbers
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple

import haiku as hk
import jax
import jax.numpy as jnp

from ebmm_jax.core import budget as budget_lib
from ebmm_jax.core import params as params_lib
from ebmm_jax.energies.blocks import (BottleneckBlock, ConvGatedRecurrence,
                                      Encoder, KERNEL, LowLevelMemoryBlock,
                                      ResBlock, check_images, he_init,
                                      layer_norm)

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


class EnergySpec(NamedTuple):
  """One image energy of Appendix C: its module and the paper's sizes.

  Its writable floats are counted on the module's parameter shapes
  (`memory_floats`), never by a formula per model."""
  module: type  # The hk.Module; its constructor's keyword arguments are the architecture.
  appendix: str
  defaults: Dict[str, Any]  # The paper's sizes where they differ from the module's defaults.
  writable_width: Callable[[Dict[str, Any]], int]  # Outputs of each memory layer.
  writable_layer: str  # Which layer that is, for error messages.
  downsampling: Callable[[Dict[str, Any]], int]  # Total stride of the trunk.

  @property
  def arch_fields(self) -> Tuple[str, ...]:
    """The constructor's arguments a config may set (`config.energy.<field>`):
    all but the Haiku module name (`energy.name` names the model)."""
    return tuple(p for p in inspect.signature(self.module).parameters
                 if p != "name")


ENERGY_MODELS: Dict[str, EnergySpec] = {
    "resnet_fc": EnergySpec(
        ResNetFCEnergy, "C.2", {}, lambda a: a["representation_size"],
        "the representation layer", lambda a: 2 ** len(a["channel_multipliers"])),
    "resnet_conv": EnergySpec(
        ResNetConvEnergy, "C.3", dict(bottleneck_downscales=(False, True),
                                      name="resnet_conv_energy"),
        lambda a: 4 * a["channels"], "each bottleneck's 3x3 convolution",
        lambda a: 4 * 2 ** sum(a["bottleneck_downscales"])),
    "resnet_imagenet": EnergySpec(
        ResNetConvEnergy, "C.4", dict(dynamic_size=8, channels=64, hidden_size=256,
                                      bottleneck_downscales=(True, True),
                                      name="resnet_imagenet_energy"),
        lambda a: 4 * a["channels"], "each bottleneck's 3x3 convolution",
        lambda a: 4 * 2 ** sum(a["bottleneck_downscales"])),
    "resnet_lowlevel_conv": EnergySpec(
        ResNetLowLevelConvEnergy, "C.5", {}, lambda a: 2 * a["channels"],
        "each 3x3 convolution of the second block", lambda a: 8),
}


def architecture(model_name: str, **kwargs) -> Dict[str, Any]:
  """Every constructor argument of `model_name`'s module: `kwargs` over the
  paper's sizes over the module's defaults, checked (dynamic_size against the
  writable layer's width, hops). Raises ValueError for unknown names or
  arguments."""
  if model_name not in ENERGY_MODELS:
    raise ValueError(f"Unknown image energy model {model_name!r}; expected one "
                     f"of {sorted(ENERGY_MODELS)}.")
  spec = ENERGY_MODELS[model_name]
  try:
    bound = inspect.signature(spec.module).bind_partial(**{**spec.defaults, **kwargs})
  except TypeError as e:
    raise ValueError(f"{model_name}: {e}") from None
  bound.apply_defaults()
  a = dict(bound.arguments)
  if a.get("dynamic_size") is None:
    raise ValueError(f"{model_name} has no default dynamic_size; pass one.")
  _check_dynamic_size(a["dynamic_size"], spec.writable_width(a), spec.writable_layer)
  _check_hops(a["hops"])
  return a


def downsampling(model_name: str, **kwargs) -> int:
  """Total stride of the model's trunk: image sides must be multiples of it."""
  return ENERGY_MODELS[model_name].downsampling(architecture(model_name, **kwargs))


def make_energy(model_name: str, **kwargs) -> EnergyFn:
  """The energy of Appendix C named `model_name` (`ENERGY_MODELS`), for
  `hk.transform`: images [B, H, W, C] -> energies [B]. `kwargs` are its
  module's constructor arguments (the paper's sizes by default)."""
  module, arch = ENERGY_MODELS[model_name].module, architecture(model_name, **kwargs)
  return lambda x: module(**arch)(x)


def _hashable(value: Any) -> Any:
  return tuple(value) if isinstance(value, list) else value


@functools.lru_cache(maxsize=256)
def _count_writable_floats(model_name: str, arch: Tuple[Tuple[str, Any], ...]) -> int:
  """`params.memory_size` of the model's parameters, from their shapes."""
  spec, a = ENERGY_MODELS[model_name], dict(arch)
  # The smallest images the trunk takes: the writable layers read trunk
  # features, so their shapes depend on neither the image size nor its
  # channels. `jax.eval_shape` traces the init without running it.
  side = spec.downsampling(a)
  init = hk.transform(lambda x: spec.module(**a)(x)).init
  params = jax.eval_shape(init, jax.ShapeDtypeStruct((2,), jnp.uint32),
                          jax.ShapeDtypeStruct((1, side, side, 1), jnp.float32))
  return params_lib.memory_size(params)


def memory_floats(model_name: str, dynamic_size: Optional[int] = None,
                  **arch_kwargs) -> int:
  """Number of writable floats (Section 4 "memory size") of an image energy.

  `ebmm_jax.core.params.memory_size` of the model's initial parameters,
  counted on their shapes (`jax.eval_shape` of the Haiku init; cached): the
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
  if dynamic_size is not None:
    arch_kwargs["dynamic_size"] = dynamic_size
  # The module's own arguments, defaults and checks.
  a = architecture(model_name, **arch_kwargs)
  return _count_writable_floats(
      model_name, tuple(sorted((k, _hashable(v)) for k, v in a.items())))


def dynamic_size_for_budget(model_name: str, budget_floats: int,
                            closest: bool = False, **arch_kwargs) -> int:
  """Largest `dynamic_size` whose memory fits in `budget_floats` floats, or
  with `closest` the one whose memory is nearest to it (`core.budget`).

  E.g. `dynamic_size_for_budget("resnet_conv", 4096)` for a "4K memory"
  point of a distortion/rate sweep (Section 4).

  Raises:
    ValueError: if even dynamic_size=1 exceeds the budget (not with
      `closest`: 1 is then the nearest), or if the budget would also hold
      dynamic_size = the layer's width + 1 (more than all of the layer
      writable), since silently capping would mislabel a sweep point.
  """
  a = architecture(model_name, **{**arch_kwargs, "dynamic_size": 1})
  spec = ENERGY_MODELS[model_name]
  width = spec.writable_width(a)
  floats_of = lambda d: memory_floats(model_name, d, **arch_kwargs)
  per_unit = floats_of(1)
  # Every writable unit adds its fan-in weights and a bias: dynamic_size =
  # width + 1 would hold floats_of(width) + per_unit floats.
  if budget_floats >= floats_of(width) + per_unit:
    raise ValueError(
        f"A budget of {budget_floats} floats is more than {model_name} can make "
        f"writable: dynamic_size is at most {width} ({spec.writable_layer} has "
        f"{width} outputs), {floats_of(width)} floats.")
  if closest:
    return budget_lib.closest(floats_of, budget_floats, 1, width)
  d = budget_lib.largest_within(floats_of, budget_floats, 1, width)
  if d is None:
    raise ValueError(
        f"{model_name} needs at least {per_unit} writable floats "
        f"(dynamic_size=1); the budget is {budget_floats}.")
  return d
