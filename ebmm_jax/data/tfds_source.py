"""Reads prepared tensorflow-datasets datasets without TensorFlow.

`tfds.data_source` gives random access to datasets prepared in the
`array_record` file format and decodes examples with numpy and Pillow, so no
TensorFlow is needed to read. Preparing (downloading and generating) a dataset
does need TensorFlow; this module never prepares one unless asked to
(`download=True`), and then says so if TensorFlow is missing.

Only raw reading lives here: the same preprocessing as for the original files
is applied in `ebmm_jax.data.images`.
"""
import importlib.util
import os
from typing import Any, Dict, Sequence, Tuple

import numpy as np

_TF_HINT = ("install TensorFlow (`pip install tensorflow`, the project's "
            "`tensorflow` extra)")


def _require_tensorflow(why: str) -> None:
  if importlib.util.find_spec("tensorflow") is None:
    raise ImportError(f"{why} needs TensorFlow, which is not installed: "
                      f"{_TF_HINT}.")


def read_tfds(name: str, split: str, data_dir: str | os.PathLike | None,
              keys: Sequence[str], *, max_examples: int | None = None,
              download: bool = False) -> Tuple[Dict[str, np.ndarray], Any]:
  """Reads features `keys` of every example of a tfds split into memory.

  Args:
    name: tfds name, e.g. "mnist", "imagenet_resized/64x64".
    split: tfds split name, e.g. "train", "test", "validation".
    data_dir: tfds data folder (None: tfds's default, ~/tensorflow_datasets).
    keys: feature names to read, e.g. ("image", "label").
    max_examples: read only the first this many examples (None: all); a
      full imagenet_resized/64x64 train split is 1.28M images.
    download: download and prepare the dataset first (needs TensorFlow and
      network access; ImageNet needs a manual download).

  Returns:
    arrays: key -> numpy array stacked over examples, e.g. image uint8
      [N, H, W, C].
    features: the dataset's `tfds.features.FeaturesDict` (for ClassLabel
      names).

  Raises:
    FileNotFoundError: if the dataset is not prepared in `data_dir`.
    ImportError: if what is asked needs TensorFlow and it is not installed.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  kwargs: Dict[str, Any] = {}
  if download:
    _require_tensorflow(f"preparing tfds dataset {name!r}")
    # Random access without TensorFlow needs the array_record format.
    kwargs["builder_kwargs"] = {"file_format": "array_record"}
  try:
    source = tfds.data_source(name, split=split, data_dir=data_dir,
                              download=download, **kwargs)
  except NotImplementedError as e:
    # tfds says "file format TFRECORD is not supported" both when nothing is
    # prepared and when the data is in TFRecord files; tell the two apart.
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
      raise FileNotFoundError(
          f"tfds dataset {name!r} is not prepared in {builder.data_dir}. "
          f"Prepare it with `tfds build {name} --file_format=array_record` "
          f"(that needs TensorFlow: {_TF_HINT}), or pass source='files' with "
          "the original files.") from e
    raise ImportError(
        f"tfds dataset {name!r} in {builder.data_dir} is stored as "
        f"{builder.info.file_format}, which only TensorFlow can read; "
        f"{_TF_HINT} or re-prepare it with --file_format=array_record.") from e
  features = source.dataset_info.features
  missing = [k for k in keys if k not in features]
  if missing:
    raise ValueError(f"tfds dataset {name!r} has no features {missing}; it "
                     f"has {list(features)}.")
  num = len(source) if max_examples is None else min(len(source),
                                                       max_examples)
  if num == 0:
    raise ValueError(f"tfds dataset {name!r} split {split!r} is empty.")
  # Element-wise access: `__getitems__` is not supported by
  # `tfds.testing.mock_data` in tfds 4.9.10, and decoding dominates anyway.
  columns: Dict[str, list] = {k: [] for k in keys}
  for i in range(num):
    example = source[i]
    for k in keys:
      columns[k].append(np.asarray(example[k]))
  return {k: np.stack(v) for k, v in columns.items()}, features
