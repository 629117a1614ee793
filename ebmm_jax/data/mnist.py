"""Reader for the original MNIST files (IDX format, usually gzip-compressed).

Only parsing and validation live here; resizing to 32x32 and binarization for
the Omniglot transfer test (Appendix A.6) are in `ebmm_jax.data.images`.
"""
import gzip
import pathlib
import zlib
from typing import Tuple

import numpy as np

# File stems of the official distribution; each may carry a `.gz` suffix.
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_UBYTE = 0x08  # IDX type code of unsigned bytes, the only one MNIST uses.


def find_files(folder: pathlib.Path,
               split: str) -> Tuple[pathlib.Path, pathlib.Path] | None:
  """The (images, labels) files of `split` in `folder`, or None if absent."""
  found = []
  for stem in FILES[split]:
    candidates = [folder / (stem + ".gz"), folder / stem]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
      return None
    found.append(path)
  return found[0], found[1]


def expected_files(split: str) -> str:
  """Human-readable names of the files `split` needs (for error messages)."""
  return " and ".join(f"{stem}.gz" for stem in FILES[split])


def read_idx(path: pathlib.Path, ndim: int) -> np.ndarray:
  """Reads one IDX file of unsigned bytes with `ndim` dimensions.

  Raises:
    ValueError: naming the file, if it is not a complete IDX file of `ndim`
      unsigned-byte dimensions (bad magic number, truncated or corrupt gzip,
      wrong size).
  """
  path = pathlib.Path(path)
  try:
    if path.suffix == ".gz":
      with gzip.open(path, "rb") as f:
        raw = f.read()
    else:
      raw = path.read_bytes()
  except (gzip.BadGzipFile, EOFError, zlib.error) as e:
    raise ValueError(f"{path}: truncated or corrupt gzip file ({e}); expected "
                     "a gzip-compressed MNIST IDX file.") from e
  expected_magic = (_UBYTE << 8) | ndim  # 0x00000803 images, 0x00000801 labels.
  if len(raw) < 4 + 4 * ndim:
    raise ValueError(f"{path}: {len(raw)} bytes is too short for an IDX "
                     f"header with {ndim} dimensions.")
  magic = int.from_bytes(raw[:4], "big")
  if magic != expected_magic:
    raise ValueError(f"{path}: bad IDX magic number 0x{magic:08x}; expected "
                     f"0x{expected_magic:08x} (unsigned bytes, {ndim} dims).")
  shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big")
                for i in range(ndim))
  body = raw[4 + 4 * ndim:]
  if len(body) != int(np.prod(shape)):
    raise ValueError(f"{path}: IDX header promises shape {shape} "
                     f"({int(np.prod(shape))} bytes) but the file holds "
                     f"{len(body)} bytes of data (truncated or corrupt).")
  return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def read_mnist(folder: pathlib.Path,
               split: str) -> Tuple[np.ndarray, np.ndarray]:
  """Reads one split of the original MNIST files in `folder`.

  Returns:
    images: uint8 [N, 28, 28], 0 = background, 255 = ink.
    labels: int32 [N], digits 0-9.

  Raises:
    FileNotFoundError: if the split's files are not in `folder`.
    ValueError: if a file is corrupt or images and labels disagree.
  """
  folder = pathlib.Path(folder)
  if split not in FILES:
    raise ValueError(f"Unknown MNIST split {split!r}; valid: {sorted(FILES)}.")
  paths = find_files(folder, split)
  if paths is None:
    raise FileNotFoundError(f"MNIST {split} split: expected "
                            f"{expected_files(split)} in {folder}.")
  images = read_idx(paths[0], ndim=3)
  labels = read_idx(paths[1], ndim=1).astype(np.int32)
  if images.shape[0] != labels.shape[0]:
    raise ValueError(f"{paths[0]} holds {images.shape[0]} images but "
                     f"{paths[1]} holds {labels.shape[0]} labels.")
  if labels.size and labels.max() > 9:
    raise ValueError(f"{paths[1]}: labels must be digits 0-9, found "
                     f"{labels.max()}.")
  return images, labels
