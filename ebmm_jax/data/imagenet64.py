"""Reader for the offline 64x64 natural-image stand-in for ImageNet 64x64.

The paper (Section 4.3) uses downsampled ImageNet, available through tfds as
`imagenet_resized/64x64` (see `ebmm_jax.data.tfds_source`). Offline, the
project ships `tinyimagenet_val_1000.npz`: 1,000 Tiny-ImageNet validation
images, 5 per class over 200 classes (see docs/data.md). It has no
train/test division of its own, so one is made here, deterministically: within
each class, in file order, every 5th image (ranks 4, 9, ...) is test, the rest
train; that is 800 train and 200 test images, disjoint, every class in both.
Of the train images, ranks 3, 8, ... are the validation split (200 images,
every class), held out of training unless asked otherwise: 600 train.
"""
import pathlib
import zipfile
from typing import Tuple

import numpy as np

STANDIN_FILE = "tinyimagenet_val_1000.npz"
TEST_EVERY = 5  # Within a class, image ranks 4, 9, ... go to the test split.
VALIDATION_RANK = 3  # ... and ranks 3, 8, ... to the validation split.


def find_file(folder: pathlib.Path) -> pathlib.Path | None:
  path = pathlib.Path(folder) / STANDIN_FILE
  return path if path.is_file() else None


def read_npz(path: pathlib.Path) -> Tuple[np.ndarray, np.ndarray]:
  """Reads the whole stand-in file.

  Returns:
    images: uint8 [N, 64, 64, 3], RGB; labels: int32 [N], class ids.

  Raises:
    ValueError: naming the file, if it is not an npz with uint8 `images`
      [N, 64, 64, 3] and `labels` [N].
  """
  path = pathlib.Path(path)
  try:
    with np.load(path, allow_pickle=False) as npz:
      missing = {"images", "labels"} - set(npz.files)
      if missing:
        raise ValueError(f"{path}: expected arrays 'images' and 'labels', "
                         f"missing {sorted(missing)} (has {npz.files}).")
      images, labels = npz["images"], npz["labels"]
  except (zipfile.BadZipFile, EOFError, OSError) as e:
    raise ValueError(f"{path}: not a readable .npz file ({e}); expected "
                     "uint8 'images' [N, 64, 64, 3] and 'labels' [N].") from e
  if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (
      64, 64, 3):
    raise ValueError(f"{path}: 'images' must be uint8 [N, 64, 64, 3], got "
                     f"{images.dtype} {images.shape}.")
  if labels.shape != (images.shape[0],) or not np.issubdtype(
      labels.dtype, np.integer):
    raise ValueError(f"{path}: 'labels' must be integers [{images.shape[0]}],"
                     f" got {labels.dtype} {labels.shape}.")
  return images, labels.astype(np.int32)


def split_mask(labels: np.ndarray, split: str,
               hold_out_validation: bool = True) -> np.ndarray:
  """Boolean [N] selecting `split` ("train", "validation" or "test") of the
  stand-in; "train" keeps the validation images when not `hold_out_validation`."""
  rank = np.zeros(labels.shape, np.int64)
  for label in np.unique(labels):
    members = np.flatnonzero(labels == label)
    rank[members] = np.arange(members.size)
  is_test = rank % TEST_EVERY == TEST_EVERY - 1
  is_validation = rank % TEST_EVERY == VALIDATION_RANK
  if split == "test":
    return is_test
  if split == "validation":
    return is_validation
  return ~is_test & ~is_validation if hold_out_validation else ~is_test
