"""Distortion models p(x~ | x) that turn stored images into queries.

Pure JAX functions of a PRNG key, vectorised over a batch [B, H, W, C] of
float images in [0, 1], usable inside `jit` (the sizes, rates and fill kinds
are static Python values: bind them with `functools.partial`).

Each returns the distorted images and a boolean mask of the distorted
locations. The mask is for analysis only (e.g. error inside vs outside the
block): the model is never told where the distortion is (Section 4).

- `block_noise`: one square block at a uniformly random position fully inside
  the image (Section 4.1: 16x16 on 32x32 Omniglot with {0, 1} noise;
  Section 4.2-4.3: a quarter of the image of CIFAR / ImageNet, docs/protocols.md:
  uniform [0, 1] noise).
- `salt_and_pepper`: each pixel independently, with probability p, set to 0
  or 1 with equal chance (Appendix A.4, A.5: p = 15%).
"""
import functools
from typing import Tuple

import jax
import jax.numpy as jnp

FILLS = ("binary", "uniform", "zeros")


def _check_images(images: jax.Array) -> Tuple[int, int, int, int]:
  if images.ndim != 4:
    raise ValueError(f"images must have rank 4 [B, H, W, C], got rank "
                     f"{images.ndim} with shape {images.shape}.")
  if not jnp.issubdtype(images.dtype, jnp.floating):
    raise ValueError(f"images must be floating point in [0, 1], got dtype "
                     f"{images.dtype}.")
  return images.shape


def _noise(key: jax.Array, fill: str, shape, dtype) -> jax.Array:
  if fill == "binary":
    return jax.random.bernoulli(key, 0.5, shape).astype(dtype)
  if fill == "uniform":
    return jax.random.uniform(key, shape, dtype)
  return jnp.zeros(shape, dtype)


def block_noise(key: jax.Array, images: jax.Array, block_size: int,
                fill: str = "binary") -> Tuple[jax.Array, jax.Array]:
  """Replaces one random square block per image by noise.

  Args:
    key: PRNG key.
    images: [B, H, W, C] float images.
    block_size: side s of the square block, 1 <= s <= min(H, W) (the paper:
      16 for 32x32 images, 32 for 64x64).
    fill: what replaces the block: "binary" i.i.d. {0, 1} per value (binary
      images, Section 4.1), "uniform" i.i.d. U[0, 1] per value (RGB, the
      project default for CIFAR / ImageNet), or "zeros".

  Returns:
    distorted: [B, H, W, C], equal to `images` outside the block.
    mask: bool [B, H, W, C], True inside the block (all channels).
  """
  b, h, w, _ = _check_images(images)
  if isinstance(block_size, bool) or not isinstance(block_size, int):
    raise ValueError(f"block_size must be a Python int, got {block_size!r}.")
  if not 1 <= block_size <= min(h, w):
    raise ValueError(f"block_size must be in [1, {min(h, w)}] for {h}x{w} "
                     f"images; a block of {block_size} does not fit.")
  if fill not in FILLS:
    raise ValueError(f"unknown fill {fill!r}; valid: {list(FILLS)}.")
  return _block_noise(key, images, block_size, fill)


# Jitted once per shape and static arguments: eager dispatch of the dozen ops
# would compile each of them separately.
@functools.partial(jax.jit, static_argnames=("block_size", "fill"))
def _block_noise(key, images, block_size, fill):
  b, h, w, _ = images.shape
  key_top, key_left, key_fill = jax.random.split(key, 3)
  # Uniform over the (H - s + 1) x (W - s + 1) positions where the block is
  # fully inside the image (Section 4.1, "randomly positioned").
  top = jax.random.randint(key_top, (b, 1), 0, h - block_size + 1)  # [B, 1]
  left = jax.random.randint(key_left, (b, 1), 0, w - block_size + 1)
  rows = jnp.arange(h)[None, :]  # [1, H]
  cols = jnp.arange(w)[None, :]  # [1, W]
  in_rows = (rows >= top) & (rows < top + block_size)  # [B, H]
  in_cols = (cols >= left) & (cols < left + block_size)  # [B, W]
  mask = in_rows[:, :, None, None] & in_cols[:, None, :, None]  # [B, H, W, 1]
  mask = jnp.broadcast_to(mask, images.shape)
  noise = _noise(key_fill, fill, images.shape, images.dtype)
  return jnp.where(mask, noise, images), mask


def salt_and_pepper(key: jax.Array, images: jax.Array,
                    rate: float) -> Tuple[jax.Array, jax.Array]:
  """Salt-and-pepper noise (Appendix A.4, A.5).

  Each pixel location independently, with probability `rate`, becomes 0 or 1
  with equal chance. For C > 1 the choice is per location and shared by its
  channels, so a hit pixel turns black or white (the usual meaning of
  salt-and-pepper, and the same fraction of corrupted pixels as for C = 1);
  channels are not corrupted independently.

  Args:
    key: PRNG key.
    images: [B, H, W, C] float images.
    rate: p in [0, 1], a Python number, checked here, so static under an
      outer `jit` (the paper: 0.15); compiled as an argument, so sweeping
      rates does not recompile.

  Returns:
    distorted: [B, H, W, C].
    mask: bool [B, H, W, C], True at the chosen locations (all channels),
      whether or not the new value differs from the old one.
  """
  _check_images(images)
  try:
    rate = float(rate)
  except (TypeError, jax.errors.ConcretizationTypeError) as e:
    raise ValueError(f"rate must be a static number in [0, 1], got "
                     f"{rate!r}.") from e
  if not 0.0 <= rate <= 1.0:
    raise ValueError(f"rate must be in [0, 1], got {rate}.")
  return _salt_and_pepper(key, images, rate)


@jax.jit
def _salt_and_pepper(key, images, rate):
  b, h, w, _ = images.shape
  key_hit, key_value = jax.random.split(key)
  hit = jax.random.bernoulli(key_hit, rate, (b, h, w, 1))  # [B, H, W, 1]
  value = jax.random.bernoulli(key_value, 0.5, (b, h, w, 1)).astype(
      images.dtype)
  mask = jnp.broadcast_to(hit, images.shape)
  return jnp.where(hit, value, images), mask
