"""Reader for CIFAR-10 in the original "python version" pickled batches.

Each batch file (`data_batch_<k>`, `test_batch`) is a pickled dict with keys
`data` (uint8 [N, 3072]: the R plane, then G, then B, each 32x32 row-major)
and `labels` (N ints in 0-9). Python-2 era files store the keys as bytes, so
they are unpickled with encoding='bytes' and the keys decoded here.
"""
import pathlib
import pickle
import re
from typing import List, Tuple

import numpy as np

_TRAIN_PATTERN = re.compile(r"data_batch_(\d+)")
# The official train batches; any `data_batch_<k>` present is read.
TRAIN_FILES = tuple(f"data_batch_{k}" for k in range(1, 6))
TEST_FILE = "test_batch"


class _ArrayUnpickler(pickle.Unpickler):
  """Unpickler that only builds numpy arrays: a batch file is data, not code.

  The official files reference the first globals (`numpy.core` is the
  numpy-1 name of `numpy._core`); Python 3 writes bytes keys of protocol-2
  pickles with `_codecs.encode`. Anything else is rejected.
  """
  _ALLOWED = {
      ("numpy.core.multiarray", "_reconstruct"),
      ("numpy._core.multiarray", "_reconstruct"),
      ("numpy", "ndarray"),
      ("numpy", "dtype"),
      ("numpy.core.multiarray", "scalar"),
      ("numpy._core.multiarray", "scalar"),
      ("_codecs", "encode"),
  }

  def find_class(self, module, name):
    if (module, name) not in self._ALLOWED:
      raise pickle.UnpicklingError(
          f"global {module}.{name} is not allowed in a CIFAR-10 batch")
    return super().find_class(module, name)


def find_files(folder: pathlib.Path, split: str) -> List[pathlib.Path]:
  """Batch files of `split` in `folder` (train: every `data_batch_<k>`)."""
  folder = pathlib.Path(folder)
  if split == "test":
    path = folder / TEST_FILE
    return [path] if path.is_file() else []
  if not folder.is_dir():
    return []
  matches = [(int(m.group(1)), p) for p in folder.iterdir()
             if (m := _TRAIN_PATTERN.fullmatch(p.name)) and p.is_file()]
  return [p for _, p in sorted(matches)]


def expected_files(split: str) -> str:
  if split == "test":
    return TEST_FILE
  return f"{TRAIN_FILES[0]} ... {TRAIN_FILES[-1]}"


def read_batch(path: pathlib.Path) -> Tuple[np.ndarray, np.ndarray]:
  """Reads one batch file.

  Returns:
    images: uint8 [N, 32, 32, 3], RGB.
    labels: int32 [N], classes 0-9.

  Raises:
    ValueError: naming the file, if it is not a CIFAR-10 python batch.
  """
  path = pathlib.Path(path)
  try:
    with open(path, "rb") as f:
      batch = _ArrayUnpickler(f, encoding="bytes").load()
  except (pickle.UnpicklingError, EOFError, ValueError, TypeError,
          AttributeError, IndexError, KeyError) as e:
    raise ValueError(f"{path}: not a readable CIFAR-10 python batch "
                     f"({type(e).__name__}: {e}).") from e
  if not isinstance(batch, dict):
    raise ValueError(f"{path}: expected a pickled dict with keys 'data' and "
                     f"'labels', got {type(batch).__name__}.")
  batch = {k.decode("latin1") if isinstance(k, bytes) else k: v
           for k, v in batch.items()}
  if "data" not in batch or "labels" not in batch:
    raise ValueError(f"{path}: expected keys 'data' and 'labels' in the "
                     f"CIFAR-10 batch dict, found {sorted(map(str, batch))}.")
  data, labels = batch["data"], np.asarray(batch["labels"])
  if (not isinstance(data, np.ndarray) or data.dtype != np.uint8
      or data.ndim != 2 or data.shape[1] != 3 * 32 * 32):
    raise ValueError(f"{path}: 'data' must be uint8 [N, 3072], got "
                     f"{getattr(data, 'dtype', type(data))} "
                     f"{getattr(data, 'shape', '')}.")
  if labels.shape != (data.shape[0],):
    raise ValueError(f"{path}: {data.shape[0]} images but labels of shape "
                     f"{labels.shape}.")
  if labels.size and (labels.min() < 0 or labels.max() > 9):
    raise ValueError(f"{path}: labels must be in 0-9.")
  # Rows hold channel planes; images are HWC everywhere else in the project.
  images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
  return np.ascontiguousarray(images), labels.astype(np.int32)


def read_cifar10(folder: pathlib.Path,
                 split: str) -> Tuple[np.ndarray, np.ndarray]:
  """Reads a split: train = every `data_batch_<k>` present, test = test_batch.

  Returns:
    images: uint8 [N, 32, 32, 3]; labels: int32 [N].

  Raises:
    FileNotFoundError: if the split has no batch file in `folder`.
    ValueError: if a batch file is corrupt.
  """
  if split not in ("train", "test"):
    raise ValueError(f"Unknown CIFAR-10 split {split!r}; valid: "
                     "['test', 'train'].")
  paths = find_files(folder, split)
  if not paths:
    raise FileNotFoundError(f"CIFAR-10 {split} split: expected "
                            f"{expected_files(split)} (python version "
                            f"batches) in {folder}.")
  parts = [read_batch(p) for p in paths]
  return (np.concatenate([p[0] for p in parts]),
          np.concatenate([p[1] for p in parts]))
