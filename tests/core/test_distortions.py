"""Tests of the distortion models (Section 4.1-4.3, Appendix A.4-A.5)."""
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ebmm_jax.core import distortions


def _images(shape, seed=0):
  # numpy, not jax.random: every distinct jax shape costs a compilation.
  return jnp.asarray(np.random.default_rng(seed).uniform(size=shape),
                     jnp.float32)


# One large batch shared by several tests (Omniglot-sized images).
_LARGE = (4096, 32, 32, 1)


@pytest.fixture(scope="module")
def large_block():
  images = _images(_LARGE)
  distorted, mask = distortions.block_noise(jax.random.key(3), images, 16)
  return np.asarray(images), np.asarray(distorted), np.asarray(mask)


def _chi2_critical(df: int, z: float = 4.0) -> float:
  """Wilson-Hilferty upper quantile of chi-square (z = 4: p ~ 3e-5)."""
  return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def _block_boxes(mask):
  """(top, left, height, width) of the True region of each mask [B, H, W]."""
  rows, cols = mask.any(axis=2), mask.any(axis=1)
  top, left = rows.argmax(axis=1), cols.argmax(axis=1)
  return top, left, rows.sum(axis=1), cols.sum(axis=1)


def _check_one_square_inside(images, distorted, mask, size):
  assert distorted.shape == images.shape and distorted.dtype == images.dtype
  assert mask.shape == images.shape and mask.dtype == np.bool_
  # The same locations in every channel.
  assert (mask == mask[..., :1]).all()
  spatial = mask[..., 0]
  top, left, height, width = _block_boxes(spatial)
  np.testing.assert_array_equal(height, size)
  np.testing.assert_array_equal(width, size)
  # A filled rectangle: exactly s * s locations inside its bounding box.
  np.testing.assert_array_equal(spatial.sum(axis=(1, 2)), size * size)
  assert (top >= 0).all() and (top + size <= images.shape[1]).all()
  assert (left >= 0).all() and (left + size <= images.shape[2]).all()


def test_block_is_exactly_one_square_inside_the_image(large_block):
  _check_one_square_inside(*large_block, size=16)


@pytest.mark.parametrize("shape,size", [((16, 20, 28, 2), 8),
                                        ((8, 16, 16, 1), 16)])
def test_block_fits_other_shapes(shape, size):
  images = _images(shape)
  distorted, mask = distortions.block_noise(jax.random.key(1), images, size)
  _check_one_square_inside(np.asarray(images), np.asarray(distorted),
                           np.asarray(mask), size)


@pytest.mark.parametrize("fill", distortions.FILLS)
def test_pixels_outside_the_block_are_unchanged(fill):
  images = _images((32, 32, 32, 3))
  distorted, mask = distortions.block_noise(jax.random.key(2), images, 16,
                                            fill=fill)
  distorted, mask, images = map(np.asarray, (distorted, mask, images))
  np.testing.assert_array_equal(distorted[~mask], images[~mask])
  inside = distorted[mask]
  if fill == "binary":
    assert set(np.unique(inside)) == {0.0, 1.0}
    assert abs(inside.mean() - 0.5) < 0.02
  elif fill == "uniform":
    assert inside.min() >= 0.0 and inside.max() <= 1.0
    assert abs(inside.mean() - 0.5) < 0.02
    assert np.unique(inside).size > inside.size // 2  # Not a few levels.
  else:
    assert (inside == 0.0).all()


def test_block_positions_are_uniform(large_block):
  _, _, mask = large_block
  size, side, num = 16, _LARGE[1], _LARGE[0]
  top, left, _, _ = _block_boxes(mask[..., 0])
  positions = side - size + 1  # 17 per axis, all fully inside.
  for coord in (top, left):
    counts = np.bincount(coord, minlength=positions)
    assert counts.size == positions  # Nothing beyond the last position.
    assert (counts > 0).all()  # Every position, the border ones included.
    expected = num / positions
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < _chi2_critical(positions - 1), counts
  # Rows and columns independent: the joint is uniform too.
  joint = np.bincount(top * positions + left, minlength=positions ** 2)
  expected = num / positions ** 2
  chi2 = ((joint - expected) ** 2 / expected).sum()
  assert chi2 < _chi2_critical(positions ** 2 - 1)


def test_binary_fill_statistics(large_block):
  images, distorted, mask = large_block
  np.testing.assert_array_equal(distorted[~mask], images[~mask])
  inside = distorted[mask]
  assert set(np.unique(inside)) == {0.0, 1.0}
  assert abs(inside.mean() - 0.5) < 0.005  # 1M values: std 0.0005.


def test_block_noise_is_random_per_image_and_deterministic_per_key():
  images = _images((32, 32, 32, 3))
  _, mask_a = distortions.block_noise(jax.random.key(4), images, 16)
  _, mask_b = distortions.block_noise(jax.random.key(4), images, 16)
  _, mask_c = distortions.block_noise(jax.random.key(5), images, 16)
  np.testing.assert_array_equal(mask_a, mask_b)
  assert not np.array_equal(mask_a, mask_c)
  top, left, _, _ = _block_boxes(np.asarray(mask_a)[..., 0])
  assert np.unique(top * 100 + left).size > 16  # Positions differ per image.


def test_distortions_work_under_jit():
  # Shapes used elsewhere, so that the eager calls reuse compilations.
  images = _images((32, 32, 32, 3))
  key = jax.random.key(6)
  block = functools.partial(distortions.block_noise, block_size=16,
                            fill="binary")
  salt = functools.partial(distortions.salt_and_pepper, rate=0.15)
  for fn in (block, salt):
    eager = fn(key, images)
    jitted = jax.jit(fn)(key, images)
    for a, b in zip(eager, jitted):
      np.testing.assert_array_equal(a, b)


def test_salt_and_pepper_statistics():
  rate = 0.15
  images = jnp.full(_LARGE, 0.5)  # Every hit changes the pixel.
  distorted, mask = distortions.salt_and_pepper(jax.random.key(7), images,
                                                rate)
  distorted, mask = np.asarray(distorted), np.asarray(mask)
  np.testing.assert_array_equal(mask, distorted != 0.5)
  # 4.2M locations: the empirical rate's std is 0.00018.
  assert abs(mask.mean() - rate) < 0.001
  hits = distorted[mask]
  assert set(np.unique(hits)) == {0.0, 1.0}
  # ~630K hits: the share of ones has std 0.0006.
  assert abs(hits.mean() - 0.5) < 0.003
  # Independent per pixel: the per-image rate varies like a binomial's.
  per_image = mask.mean(axis=(1, 2, 3))
  binomial_std = math.sqrt(rate * (1 - rate) / 1024)
  assert 0.8 * binomial_std < per_image.std() < 1.2 * binomial_std
  # And per position: no pixel location is favoured.
  per_pixel = mask.mean(axis=(0, 3))
  assert np.abs(per_pixel - rate).max() < 5 * math.sqrt(
      rate * (1 - rate) / _LARGE[0])


def test_salt_and_pepper_is_per_location_for_rgb():
  images = _images((32, 16, 16, 3))
  distorted, mask = distortions.salt_and_pepper(jax.random.key(8), images,
                                                0.3)
  distorted, mask, images = map(np.asarray, (distorted, mask, images))
  assert (mask == mask[..., :1]).all()
  hit = mask[..., 0]
  # A hit pixel becomes black or white: its channels agree.
  assert (distorted[hit] == distorted[hit][:, :1]).all()
  assert set(np.unique(distorted[hit])) == {0.0, 1.0}
  np.testing.assert_array_equal(distorted[~mask], images[~mask])
  assert abs(hit.mean() - 0.3) < 0.03


def test_salt_and_pepper_extreme_rates():
  images = _images((32, 16, 16, 3))
  out, mask = distortions.salt_and_pepper(jax.random.key(9), images, 0.0)
  np.testing.assert_array_equal(out, images)
  assert not np.asarray(mask).any()
  out, mask = distortions.salt_and_pepper(jax.random.key(9), images, 1.0)
  assert np.asarray(mask).all()
  assert set(np.unique(np.asarray(out))) <= {0.0, 1.0}


@pytest.mark.parametrize("kwargs,match", [
    (dict(block_size=33), "does not fit"),
    (dict(block_size=0), "block_size"),
    (dict(block_size=8.0), "Python int"),
    (dict(block_size=8, fill="gaussian"), "fill"),
])
def test_block_noise_rejects_bad_arguments(kwargs, match):
  with pytest.raises(ValueError, match=match):
    distortions.block_noise(jax.random.key(0), jnp.zeros((2, 32, 32, 1)),
                            **kwargs)


def test_block_larger_than_a_non_square_image_is_rejected():
  with pytest.raises(ValueError, match="does not fit"):
    distortions.block_noise(jax.random.key(0), jnp.zeros((2, 12, 40, 1)), 16)


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_salt_and_pepper_rejects_bad_rates(rate):
  with pytest.raises(ValueError, match="rate"):
    distortions.salt_and_pepper(jax.random.key(0), jnp.zeros((2, 8, 8, 1)),
                                rate)


@pytest.mark.parametrize("shape", [(32, 32), (4, 32, 32), (1, 4, 32, 32, 1)])
def test_wrong_rank_is_rejected(shape):
  for fn in (functools.partial(distortions.block_noise, block_size=4),
             functools.partial(distortions.salt_and_pepper, rate=0.1)):
    with pytest.raises(ValueError, match="rank 4"):
      fn(jax.random.key(0), jnp.zeros(shape))


def test_integer_images_are_rejected():
  with pytest.raises(ValueError, match="floating point"):
    distortions.block_noise(jax.random.key(0),
                            jnp.zeros((2, 8, 8, 1), jnp.uint8), 4)
