"""Residual blocks, the shared image encoder and its transposed decoder.

Appendix C.2-C.5 build every image model from the same few pieces:
`ResBlock(channels, kernel, stride, downscale)`, the bottleneck block with a
writable convolution (`resblock_bottleneck`, C.3), the lower-level block with
two writable convolutions (`resblock`, C.5) and the gated convolutional
recurrence that turns the trunk's 4x4 feature map into an energy. The C.2
trunk (`Encoder`) and its transpose (`Decoder`) are shared with the memory
baselines (Section 4: "all models use the same encoder (and decoder, when
applicable) networks").

Conventions, chosen because the memory library differentiates these networks
w.r.t. their input and, for writing, w.r.t. their parameters twice:
  * No batch statistics: LayerNorm normalises each example on its own, so
    `grad(sum(E))` is the per-example input gradient.
  * Smooth nonlinearities only (tanh, sigmoid, average pooling): retrieval
    follows the gradient field of E and the writing loss differentiates
    ||grad_x E||^2 w.r.t. the parameters, so kinks (relu, max-pool) would make
    both piecewise constant.
  * Writable convolutions are Haiku modules named `memory`
    (`ebmm_jax.core.params.is_memory_module`); everything else is static.
"""
import contextlib
from typing import Optional, Sequence, Tuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from ebmm_jax.core import params as params_lib

# Every spatial convolution in Appendix C is 3x3.
KERNEL = (3, 3)


he_init = params_lib.he_init  # Appendix A.


def layer_norm(x: jax.Array, name: Optional[str] = None) -> jax.Array:
  """LayerNorm over all non-batch axes with per-channel scale and offset.

  Appendix C writes `LayerNorm()` without axes; we follow the Sonnet 1 default
  the paper's code was written against (normalise over every axis but the
  batch). It never mixes examples, unlike BatchNorm.

  Args:
    x: [B, D] or [B, H, W, C] activations.
    name: Haiku module name.

  Returns:
    Normalised activations, same shape as `x`.
  """
  return hk.LayerNorm(axis=tuple(range(1, x.ndim)), create_scale=True,
                      create_offset=True, param_axis=-1, name=name)(x)


def check_images(x: jax.Array, downsampling: int, model: str) -> None:
  """Raises ValueError unless `x` is a batch [B, H, W, C] of images whose
  height and width are multiples of `downsampling` (the trunk's total stride,
  so that the trunk output is an exact grid, 4x4 at the paper's image sizes).
  """
  if x.ndim != 4:
    raise ValueError(
        f"{model} expects a batch of images [B, H, W, C]; got an array of "
        f"rank {x.ndim} with shape {tuple(x.shape)}.")
  _, height, width, _ = x.shape
  if height % downsampling or width % downsampling:
    raise ValueError(
        f"{model} downsamples images by {downsampling}, so height and width "
        f"must be multiples of {downsampling} (e.g. 32x32 for Omniglot/CIFAR, "
        f"64x64 for ImageNet); got {height}x{width}.")


def _same_padding(size: int, kernel: int, stride: int) -> Tuple[int, int, int]:
  """("SAME" output size, low pad, high pad) of one spatial axis, as XLA's."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return out, total // 2, total - total // 2


def _shifted_windows(x: jax.Array, kernel: Sequence[int],
                     stride: int) -> Sequence[jax.Array]:
  """The kh * kw strided shifts of the "SAME"-padded `x` [B, H, W, C].

  Shift (i, j) holds, at output position (p, q), the input pixel under
  kernel tap (i, j): x_pad[:, p * stride + i, q * stride + j]. Returned in
  row-major tap order (i outer), the order of a [kh, kw, ...] kernel.
  """
  (kh, kw), (_, height, width, _) = kernel, x.shape
  out_h, lo_h, hi_h = _same_padding(height, kh, stride)
  out_w, lo_w, hi_w = _same_padding(width, kw, stride)
  if lo_h or hi_h or lo_w or hi_w:
    x = jnp.pad(x, ((0, 0), (lo_h, hi_h), (lo_w, hi_w), (0, 0)))
  return [jax.lax.slice(
      x, (0, i, j, 0),
      (x.shape[0], i + (out_h - 1) * stride + 1, j + (out_w - 1) * stride + 1,
       x.shape[3]), (1, stride, stride, 1))
          for i in range(kh) for j in range(kw)]


class Conv2D(hk.Module):
  """`hk.Conv2D` (NHWC, "SAME" padding) computed as im2col + one matmul.

  Same parameters as `hk.Conv2D`, created in the same order: `w` [kh, kw,
  C_in, C_out] from `w_init`, then `b` [C_out] (zeros), so a checkpoint or a
  `memory` module is interchangeable between the two. The output is the
  same function; only its computation differs: the input's kh * kw strided,
  shifted copies are concatenated on the channel axis and multiplied by the
  kernel reshaped to [kh * kw * C_in, C_out].

  Why: writing differentiates ||grad_x E||^2 w.r.t. the parameters and the
  meta-step differentiates that again, so the meta-gradient is a third
  derivative of every convolution. `lax.conv_general_dilated` differentiates
  into weight-gradient convolutions (batch and space contracted,
  `f01b_i01o->01bf`) that XLA's CPU backend runs 20-40x slower inside the
  meta-step than on their own, about 80% of the meta-step's time; here every
  derivative is a slice, a pad or a matmul.
  """

  def __init__(self, output_channels: int, kernel_shape: Sequence[int] = KERNEL,
               stride: int = 1,
               w_init: Optional[hk.initializers.Initializer] = None,
               with_bias: bool = True, name: Optional[str] = None):
    super().__init__(name=name)
    self.output_channels = output_channels
    self.kernel_shape = tuple(kernel_shape)
    self.stride = stride
    self.w_init = w_init
    self.with_bias = with_bias

  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps [B, H, W, C_in] -> [B, ceil(H / stride), ceil(W / stride), C_out]."""
    if x.ndim != 4:
      raise ValueError(f"Conv2D expects [B, H, W, C]; got shape {tuple(x.shape)}.")
    kh, kw = self.kernel_shape
    in_channels = x.shape[-1]
    w_shape = (kh, kw, in_channels, self.output_channels)
    w_init = self.w_init
    if w_init is None:  # hk.Conv2D's default.
      w_init = hk.initializers.TruncatedNormal(1. / np.sqrt(kh * kw * in_channels))
    w = hk.get_parameter("w", w_shape, x.dtype, init=w_init)
    patches = _shifted_windows(x, self.kernel_shape, self.stride)
    patches = patches[0] if len(patches) == 1 else jnp.concatenate(patches, -1)
    out = jnp.dot(patches, w.reshape(kh * kw * in_channels, self.output_channels))
    if self.with_bias:
      out = out + hk.get_parameter("b", (self.output_channels,), x.dtype,
                                   init=jnp.zeros)
    return out


def _avg_pool(x: jax.Array, stride: int) -> jax.Array:
  """3x3 average pool of the C.3 shortcut, `avg_pool(z, [3, 3] + [1], 2)`.

  `hk.avg_pool(..., padding="SAME")` (padding excluded from each window's
  count) computed as a sum of shifted slices, so that its derivatives are
  slices and pads too (see `Conv2D`).
  """
  windows = _shifted_windows(x, (3, 3), stride)
  ones = np.ones((1,) + x.shape[1:3] + (1,), np.float32)
  counts = sum(_shifted_windows(ones, (3, 3), stride))  # numpy: a constant.
  return sum(windows) / jnp.asarray(counts, x.dtype)


# Where the downscaling shortcut pools: "before" its 1x1 projection (cheaper:
# it pools the block's input, not the projection's wider output) or "after"
# it, as Appendix C.3 writes it. The two are the same function (a 1x1
# convolution commutes with an average pool, whose weights sum to 1 at every
# output position); floats differ by rounding only. "after" is kept as the
# reference of the tests and the before/after benchmark (BENCHMARKS.md).
_SHORTCUT_POOL = ["before"]


@contextlib.contextmanager
def shortcut_pool(where: str):
  """Within the block, networks traced pool their downscaling shortcuts
  `where` ("before" or "after" the 1x1 projection); see `_SHORTCUT_POOL`."""
  if where not in ("before", "after"):
    raise ValueError(f"shortcut_pool: where must be 'before' or 'after'; got {where!r}.")
  old = _SHORTCUT_POOL[0]
  _SHORTCUT_POOL[0] = where
  try:
    yield
  finally:
    _SHORTCUT_POOL[0] = old


def _pooled_projection(x: jax.Array, channels: int, stride: int) -> jax.Array:
  """`avg_pool_3x3,stride(conv_1x1(x))`, the downscaling shortcut of C.3/C.5,
  in a Haiku module named `shortcut`; computed as `conv_1x1(avg_pool(x))`
  unless `shortcut_pool("after")` is in force (the same function)."""
  projection = Conv2D(channels, (1, 1), w_init=he_init(), name="shortcut")
  if _SHORTCUT_POOL[0] == "before":
    return projection(_avg_pool(x, stride))
  return _avg_pool(projection(x), stride)


def _upsample(x: jax.Array, factor: int) -> jax.Array:
  """Nearest-neighbour upsampling [B, H, W, C] -> [B, fH, fW, C]."""
  return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


class ResBlock(hk.Module):
  """`ResBlock(channels, kernel, stride, downscale)` of Appendix C.2-C.5.

  The appendix uses this block without defining it. We build it in the form
  of the two blocks it does spell out (C.3 `resblock_bottleneck`, C.5
  `resblock`): a residual branch ending in LayerNorm + tanh, added to a
  projected shortcut with no nonlinearity after the sum.

    main(x)     = tanh(LN(conv_k(tanh(LN(conv_k,stride(x))))))
    shortcut(x) = avg_pool_3x3,stride(conv_1x1(x))   if downscale  (as in C.3)
                = conv_1x1,stride(x)                 otherwise
    out         = main(x) + shortcut(x)

  Both variants halve the resolution when stride=2. C.2 uses
  `stride=2, downscale=False` and then flattens into `Linear(256)`; reading
  `downscale=False` as "no downsampling" would flatten 32x32x96 features (a
  25M-weight Linear), so `stride` sets the resolution and `downscale` only
  selects the shortcut: the C.3 pooled projection, or the standard strided
  1x1 projection of He et al. (2016) (identity when shapes already match).
  """

  def __init__(self, channels: int, kernel: Sequence[int] = KERNEL,
               stride: int = 2, downscale: bool = False,
               name: Optional[str] = None):
    super().__init__(name=name)
    self.channels = channels
    self.kernel = tuple(kernel)
    self.stride = stride
    self.downscale = downscale

  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps [B, H, W, C_in] -> [B, H / stride, W / stride, channels]."""
    h = Conv2D(self.channels, self.kernel, stride=self.stride,
                  w_init=he_init(), name="conv_0")(x)
    h = jnp.tanh(layer_norm(h, name="norm_0"))
    h = Conv2D(self.channels, self.kernel, w_init=he_init(), name="conv_1")(h)
    h = jnp.tanh(layer_norm(h, name="norm_1"))
    if self.downscale:
      z = _pooled_projection(x, self.channels, self.stride)
    elif self.stride == 1 and x.shape[-1] == self.channels:
      z = x
    else:
      z = Conv2D(self.channels, (1, 1), stride=self.stride,
                    w_init=he_init(), name="shortcut")(x)
    return h + z


class SplitConv2D(hk.Module):
  """A convolution whose first outputs are static and last are writable.

  Appendix C.3/C.5: `concat([static_part, memory_part], -1)` where
  `memory_part = Conv2D(dynamic_size, ...)` lives in a module named `memory`
  (so writing changes only its `w` and `b`) and `static_part` has
  `channels - dynamic_size` outputs. With `dynamic_size == channels` the
  whole convolution is writable and no static part is created.
  """

  def __init__(self, channels: int, dynamic_size: int, stride: int = 1,
               kernel: Sequence[int] = KERNEL, name: Optional[str] = None):
    super().__init__(name=name)
    if not 1 <= dynamic_size <= channels:
      raise ValueError(
          f"dynamic_size must be in [1, {channels}] (the layer has {channels} "
          f"output channels); got {dynamic_size}.")
    self.channels = channels
    self.dynamic_size = dynamic_size
    self.stride = stride
    self.kernel = tuple(kernel)

  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps [B, H, W, C_in] -> [B, H / stride, W / stride, channels]."""
    memory_part = Conv2D(self.dynamic_size, self.kernel, stride=self.stride,
                            w_init=he_init(), name="memory")(x)
    static_size = self.channels - self.dynamic_size
    if static_size == 0:
      return memory_part
    static_part = Conv2D(static_size, self.kernel, stride=self.stride,
                            w_init=he_init(), name="static")(x)
    return jnp.concatenate([static_part, memory_part], axis=-1)


class BottleneckBlock(hk.Module):
  """`resblock_bottleneck(x, channels, bottleneck_channels, downscale)`, C.3.

    h   = tanh(LN(conv_1x1,bottleneck(x)))
    h   = tanh(LN(concat([static_3x3(h), memory_3x3(h)])))   stride 2 if downscale
    out = h + [avg_pool_3x3,2](conv_1x1,channels(x))

  Appendix C.3 typo: `x += z` is indented under `if downscale:`, which would
  compute the shortcut `z` and then drop it whenever downscale=False. We add
  the shortcut in both cases and only pool it when downscaling.
  """

  def __init__(self, channels: int, bottleneck_channels: int,
               dynamic_size: int, downscale: bool = False,
               name: Optional[str] = None):
    super().__init__(name=name)
    self.channels = channels
    self.bottleneck_channels = bottleneck_channels
    self.dynamic_size = dynamic_size
    self.downscale = downscale

  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps [B, H, W, C_in] -> [B, H', W', channels], H' = H / 2 if downscale."""
    stride = 2 if self.downscale else 1
    h = Conv2D(self.bottleneck_channels, (1, 1), w_init=he_init(),
                  name="reduce")(x)
    h = jnp.tanh(layer_norm(h, name="norm_0"))
    h = SplitConv2D(self.channels, self.dynamic_size, stride=stride,
                    name="split_conv")(h)
    h = jnp.tanh(layer_norm(h, name="norm_1"))
    if self.downscale:
      z = _pooled_projection(x, self.channels, 2)
    else:
      z = Conv2D(self.channels, (1, 1), w_init=he_init(), name="shortcut")(x)
    return h + z


class LowLevelMemoryBlock(hk.Module):
  """`resblock(x, channels)` of Appendix C.5: two writable 3x3 convolutions.

    a   = tanh(LN(split_conv_3x3,2(x)))
    y   = tanh(LN(split_conv_3x3,1(a) + a))
    out = a + y + avg_pool_3x3,2(conv_1x1(x))

  Appendix C.5 typo: both split convolutions are written with stride=2, but
  `y += x` then adds an H/4 map to an H/2 one and the shortcut is pooled only
  once; the block must downsample by 2 overall (the next ResBlock brings
  32x32 images to the 4x4 hidden grid), so the second convolution has
  stride 1. The unspecified `nonlinear` is tanh, as everywhere else in C.3-C.5.
  The double skip (`y += x`, then `x += y`) is kept as written.
  """

  def __init__(self, channels: int, dynamic_size: int,
               name: Optional[str] = None):
    super().__init__(name=name)
    self.channels = channels
    self.dynamic_size = dynamic_size

  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps [B, H, W, C_in] -> [B, H / 2, W / 2, channels]."""
    a = SplitConv2D(self.channels, self.dynamic_size, stride=2,
                    name="split_conv_0")(x)
    a = jnp.tanh(layer_norm(a, name="norm_0"))
    y = SplitConv2D(self.channels, self.dynamic_size, stride=1,
                    name="split_conv_1")(a)
    y = jnp.tanh(layer_norm(y + a, name="norm_1"))
    return a + y + _pooled_projection(x, self.channels, 2)


class ConvGatedRecurrence(hk.Module):
  """Gated convolutional recurrence and energy head of Appendix C.3-C.5.

    state_0 = 0                                          # [B, h, w, hidden]
    z       = concat([x, state])
    state   = u * tanh(LN(conv_3x3(z))) + (1 - u) * state,  u = sigmoid(LN(conv_1x1(z)))
    E       = Linear(1)(tanh(Linear(1024)(flatten(state_hops))))

  Appendix C.3 typo: the last lines, `x = Linear(1024)(x); x = tanh(x);
  energy = Linear(1)`, are indented inside the hop loop and read `x`; the
  energy is computed once, after the loop, from the hidden state (reading
  the trunk output `x` would make the recurrence dead code). The recurrent
  and gate convolutions are shared across hops (defined before the loop).
  The hidden grid is the trunk's output grid: 4x4 at the paper's sizes.
  The head ends in Linear(1) on a tanh layer, so E is bounded.
  """

  def __init__(self, hidden_size: int, hops: int = 3,
               output_hidden_size: int = 1024, name: Optional[str] = None):
    super().__init__(name=name)
    self.hidden_size = hidden_size
    self.hops = hops
    self.output_hidden_size = output_hidden_size

  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps trunk features [B, h, w, C] -> energies [B]."""
    recurrent_conv = Conv2D(self.hidden_size, KERNEL, w_init=he_init(),
                               name="recurrent")
    recurrent_norm = hk.LayerNorm(axis=(1, 2, 3), create_scale=True,
                                  create_offset=True, param_axis=-1,
                                  name="recurrent_norm")
    gate_conv = Conv2D(self.hidden_size, (1, 1), w_init=he_init(),
                          name="update_gate")
    gate_norm = hk.LayerNorm(axis=(1, 2, 3), create_scale=True,
                             create_offset=True, param_axis=-1,
                             name="update_gate_norm")
    batch, height, width, _ = x.shape
    state = jnp.zeros((batch, height, width, self.hidden_size), x.dtype)
    for _ in range(self.hops):
      z = jnp.concatenate([x, state], axis=-1)
      candidate = jnp.tanh(recurrent_norm(recurrent_conv(z)))
      u = jax.nn.sigmoid(gate_norm(gate_conv(z)))
      state = u * candidate + (1. - u) * state
    h = hk.Flatten()(state)
    h = jnp.tanh(hk.Linear(self.output_hidden_size, w_init=he_init(),
                           name="output_hidden")(h))
    return hk.Linear(1, w_init=he_init(), name="energy")(h)[:, 0]


class Encoder(hk.Module):
  """The image encoder of Appendix C.2, shared with the memory baselines.

    ResBlock(channels * m, [3, 3], stride=2, downscale=False) for m in (1, 2, 3)
    flatten, Linear(256), LayerNorm

  Maps [B, H, W, C] images to [B, code_size] codes; H and W must be
  multiples of 2 ** len(channel_multipliers) (8: 32x32 -> 4x4x96).
  """

  def __init__(self, channels: int = 32,
               channel_multipliers: Sequence[int] = (1, 2, 3),
               code_size: int = 256, name: Optional[str] = "encoder"):
    super().__init__(name=name)
    self.channels = channels
    self.channel_multipliers = tuple(channel_multipliers)
    self.code_size = code_size

  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps images [B, H, W, C] -> codes [B, code_size]."""
    check_images(x, 2 ** len(self.channel_multipliers), "Encoder")
    for m in self.channel_multipliers:
      x = ResBlock(self.channels * m, KERNEL, stride=2, downscale=False)(x)
    x = hk.Flatten()(x)
    x = hk.Linear(self.code_size, w_init=he_init(), name="code")(x)
    return layer_norm(x, name="code_norm")


class ResBlockTranspose(hk.Module):
  """Transpose of `ResBlock(channels, kernel, stride, downscale=False)`.

    main(x)     = tanh(LN(conv_k(tanh(LN(conv_transpose_k,stride(x))))))
    shortcut(x) = conv_1x1(upsample_nearest,stride(x))
    out         = main(x) + shortcut(x)

  The shortcut upsamples by repetition rather than by a strided 1x1
  transposed convolution (the exact adjoint of the encoder's strided 1x1
  projection), because the latter writes zeros at 3 of every 4 pixels and
  produces checkerboard images.
  """

  def __init__(self, channels: int, kernel: Sequence[int] = KERNEL,
               stride: int = 2, name: Optional[str] = None):
    super().__init__(name=name)
    self.channels = channels
    self.kernel = tuple(kernel)
    self.stride = stride

  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps [B, H, W, C_in] -> [B, H * stride, W * stride, channels]."""
    h = hk.Conv2DTranspose(self.channels, self.kernel, stride=self.stride,
                           w_init=he_init(), name="conv_transpose_0")(x)
    h = jnp.tanh(layer_norm(h, name="norm_0"))
    h = Conv2D(self.channels, self.kernel, w_init=he_init(), name="conv_1")(h)
    h = jnp.tanh(layer_norm(h, name="norm_1"))
    z = Conv2D(self.channels, (1, 1), w_init=he_init(),
                  name="shortcut")(_upsample(x, self.stride))
    return h + z


class Decoder(hk.Module):
  """Transposed `Encoder`: [B, code_size] codes -> [B, H, W, C] images in [0, 1].

  Appendix C.2: "The encoder module is also shared with all baseline models
  together with its transposed version as a decoder." Mirrors the encoder
  layer by layer: Linear to the encoder's last feature map (4x4x96 for
  32x32 images), then transposed ResBlocks back through the encoder's
  channel widths (96 -> 64 -> 32 -> 32 at resolutions 8, 16, 32), and a 3x3
  convolution to C channels with a sigmoid, since images live in [0, 1].
  """

  def __init__(self, image_shape: Tuple[int, int, int], channels: int = 32,
               channel_multipliers: Sequence[int] = (1, 2, 3),
               name: Optional[str] = "decoder"):
    super().__init__(name=name)
    if len(image_shape) != 3:
      raise ValueError(
          f"Decoder image_shape must be (H, W, C); got {tuple(image_shape)}.")
    downsampling = 2 ** len(channel_multipliers)
    height, width, _ = image_shape
    if height % downsampling or width % downsampling:
      raise ValueError(
          f"Decoder upsamples by {downsampling}, so image height and width "
          f"must be multiples of {downsampling}; got {height}x{width}.")
    self.image_shape = tuple(image_shape)
    self.channels = channels
    self.channel_multipliers = tuple(channel_multipliers)

  def __call__(self, code: jax.Array) -> jax.Array:
    """Maps codes [B, code_size] -> images [B, H, W, C] in [0, 1]."""
    if code.ndim != 2:
      raise ValueError(
          f"Decoder expects codes [B, code_size]; got shape {tuple(code.shape)}.")
    height, width, image_channels = self.image_shape
    downsampling = 2 ** len(self.channel_multipliers)
    grid = (height // downsampling, width // downsampling)
    top_channels = self.channels * self.channel_multipliers[-1]
    h = hk.Linear(grid[0] * grid[1] * top_channels, w_init=he_init(),
                  name="code")(code)
    h = h.reshape((code.shape[0],) + grid + (top_channels,))
    h = jnp.tanh(layer_norm(h, name="code_norm"))
    # Encoder block i maps width c_{i-1} -> c_i; its transpose maps c_i ->
    # c_{i-1}, and the image-side block keeps c_0 (the image itself comes
    # from the final convolution).
    widths = [self.channels * m for m in self.channel_multipliers]
    for out_channels in widths[-2::-1] + widths[:1]:
      h = ResBlockTranspose(out_channels, KERNEL, stride=2)(h)
    logits = Conv2D(image_channels, KERNEL, w_init=he_init(),
                       name="image")(h)
    return jax.nn.sigmoid(logits)
