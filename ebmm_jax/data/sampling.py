"""Batch samplers: which N images of a split are written into one memory.

Pure functions of an explicit JAX PRNG key, returning indices into the split,
so they work with numpy datasets on the host and inside `jit` (sizes and the
class table are static; the key may be traced).

- Uniform batches (Section 4: "Batches were sampled uniformly"): N distinct
  images drawn uniformly without replacement.
- Correlated batches (Appendix A.7): exactly c classes per batch (the paper:
  batches of 32 Omniglot images with exactly 2 characters), an equal share of
  images per class where N is divisible by c (otherwise the first N mod c of
  the drawn classes get one image more).
"""
import functools
from typing import NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpy as np


class ClassIndex(NamedTuple):
  """Host-side table of which images belong to which class (numpy arrays)."""
  classes: np.ndarray  # [K] the distinct label values.
  members: np.ndarray  # [K, M] int32 image indices per class, padded with -1.
  counts: np.ndarray  # [K] int32 number of images of each class.


def build_class_index(labels: np.ndarray) -> ClassIndex:
  """Groups image indices by label.

  Args:
    labels: [N] integer class labels of a split.

  Returns:
    ClassIndex with K = number of distinct labels, M = largest class size.
  """
  labels = np.asarray(labels)
  if labels.ndim != 1 or labels.size == 0:
    raise ValueError(f"labels must be a non-empty [N] array, got shape "
                     f"{labels.shape}.")
  classes, inverse, counts = np.unique(labels, return_inverse=True,
                                       return_counts=True)
  members = np.full((classes.size, counts.max()), -1, np.int32)
  order = np.argsort(inverse, kind="stable")  # Images grouped by class.
  starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
  for k, (start, count) in enumerate(zip(starts, counts)):
    members[k, :count] = order[start:start + count]
  return ClassIndex(classes, members, counts.astype(np.int32))


def uniform_batch_indices(key: jax.Array, num_images: int,
                          batch_size: int) -> jax.Array:
  """Indices of `batch_size` distinct images drawn uniformly.

  Args:
    key: PRNG key.
    num_images: size of the split.
    batch_size: N, images per memory batch.

  Returns:
    int32 [batch_size], distinct, in random order.
  """
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
  if batch_size > num_images:
    raise ValueError(f"cannot draw {batch_size} distinct images from a split "
                     f"of {num_images}.")
  return jax.random.choice(key, num_images, (batch_size,),
                           replace=False).astype(jnp.int32)


def correlated_batch_indices(key: jax.Array, index: ClassIndex,
                             batch_size: int, num_classes: int) -> jax.Array:
  """Indices of a batch with images of exactly `num_classes` classes.

  Appendix A.7. The classes are drawn uniformly among those with enough
  images; within a class the images are distinct and drawn uniformly.

  Args:
    key: PRNG key.
    index: `build_class_index(labels)` of the split (numpy, static).
    batch_size: N, images per memory batch.
    num_classes: c, distinct classes per batch (the paper: 2).

  Returns:
    int32 [batch_size], distinct, in random order (classes interleaved).

  Raises:
    ValueError: if fewer than `num_classes` classes hold ceil(N / c) images,
      or `num_classes` is not in [1, batch_size].
  """
  if not 1 <= num_classes <= batch_size:
    raise ValueError(f"num_classes must be in [1, batch_size={batch_size}], "
                     f"got {num_classes}.")
  share, extra = divmod(batch_size, num_classes)
  most = share + int(extra > 0)  # The largest share a class must supply.
  eligible = np.flatnonzero(np.asarray(index.counts) >= most)
  if eligible.size < num_classes:
    raise ValueError(
        f"a batch of {batch_size} with exactly {num_classes} classes needs "
        f"{num_classes} classes of at least {most} images; the split has "
        f"{eligible.size} such classes (of {len(index.counts)}).")
  return _correlated_batch_indices(key, jnp.asarray(eligible),
                                   jnp.asarray(index.members),
                                   jnp.asarray(index.counts), batch_size,
                                   num_classes)


# Jitted as a whole: eagerly, each of its ops would compile on its own.
@functools.partial(jax.jit, static_argnames=("batch_size", "num_classes"))
def _correlated_batch_indices(key, eligible, members, counts, batch_size,
                              num_classes):
  share, extra = divmod(batch_size, num_classes)
  most = share + int(extra > 0)
  key_classes, key_images, key_order = jax.random.split(key, 3)
  chosen = jax.random.choice(key_classes, eligible, (num_classes,),
                             replace=False)  # [c]
  members = members[chosen]  # [c, M]
  counts = counts[chosen]  # [c]
  # A uniform random subset per class: sort i.i.d. uniforms, padding last.
  scores = jax.random.uniform(key_images, members.shape)
  scores = jnp.where(jnp.arange(members.shape[1]) < counts[:, None], scores,
                     2.0)
  picked = jnp.take_along_axis(
      members, jnp.argsort(scores, axis=1)[:, :most], axis=1)  # [c, most]
  take = share + (jnp.arange(num_classes) < extra)  # [c] images per class.
  wanted = (jnp.arange(most) < take[:, None]).reshape(-1)  # [c * most]
  (positions,) = jnp.nonzero(wanted, size=batch_size)
  batch = picked.reshape(-1)[positions]
  # Shuffle so the position in the batch says nothing about the class.
  return jax.random.permutation(key_order, batch).astype(jnp.int32)


def sample_batch(key: jax.Array, images, batch_size: int, *,
                 class_index: ClassIndex | None = None,
                 num_classes: int | None = None) -> Tuple:
  """A memory batch of images: uniform, or correlated if `num_classes` is set.

  Args:
    key: PRNG key.
    images: [num, H, W, C] numpy or jax array, the split.
    batch_size: N.
    class_index: `build_class_index(labels)`, needed with `num_classes`.
    num_classes: if set, exactly this many classes per batch (Appendix A.7).

  Returns:
    batch: [N, H, W, C], the same array type as `images` (numpy images are
      gathered on the host, so the key must then be concrete).
    indices: int32 [N] into the split.
  """
  if num_classes is None:
    indices = uniform_batch_indices(key, images.shape[0], batch_size)
  else:
    if class_index is None:
      raise ValueError("correlated batches (num_classes set) need "
                       "class_index=build_class_index(labels).")
    if class_index.members.max() >= images.shape[0]:
      raise ValueError("class_index refers to more images than `images` has;"
                       " was it built from this split's labels?")
    indices = correlated_batch_indices(key, class_index, batch_size,
                                       num_classes)
  if isinstance(images, np.ndarray):
    return images[np.asarray(indices)], indices
  return jnp.take(images, indices, axis=0), indices
