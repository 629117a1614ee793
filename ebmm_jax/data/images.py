"""Image datasets of Section 4 as in-memory numpy arrays, with preprocessing.

Every loader returns float32 images [N, H, W, C] and int32 class labels [N]:

| name       | images         | values | preprocessing                       |
|------------|----------------|--------|-------------------------------------|
| omniglot   | [N, 32, 32, 1] | {0, 1} | area downscale from 105x105, >0.5,  |
|            |                |        | stroke = 1 (Section 4.1)            |
| mnist      | [N, 32, 32, 1] | {0, 1} | bilinear upscale from 28x28, >0.5,  |
|            |                |        | digit = 1 (Appendix A.6)            |
| cifar10    | [N, 32, 32, 3] | [0, 1] | RGB / 255 (Section 4.2)             |
| imagenet64 | [N, 64, 64, 3] | [0, 1] | RGB / 255 (Section 4.3)             |

Sources: "files" reads the original distribution files (Omniglot zip
archives, CIFAR-10 python batches, MNIST IDX files, or the offline ImageNet
stand-in .npz) from `data_dir` or a known subfolder of it (e.g.
`data_dir/omniglot`); "tfds" reads a prepared tensorflow-datasets copy with
`tfds.data_source` (no TensorFlow needed); "auto" uses local files when the
split's files are there, tfds otherwise.

Splits: "train", "validation" and "test". The validation split is held out
of the training data, for every choice (recipe, hyperparameter, checkpoint,
model); the test split only reports. Omniglot: whole alphabets
(`omniglot.VALIDATION_ALPHABETS` among the train alphabets); CIFAR-10 and the
ImageNet 64x64 stand-in: a fixed part of the train images (`VALIDATION_EVERY`,
`imagenet64.split_mask`); MNIST, read only for transfer (Appendix A.6), has
none. With `hold_out_validation=True` (the default) "train" excludes the
validation part; False gives the whole train part, as read before the
validation split existed (models trained then have seen it).

Each dataset is one `DatasetSpec` in `SPECS` (its reader, native shape,
binary or RGB, splits, folders, tfds name, the splits the data check needs,
default distortion); the data check (`ebmm_jax.data.check`) and the image
setup (`ebmm_jax.setups.images`) read it there.

Decoded file datasets are cached per process (keyed by path, size and
modification time of the files), so returned arrays may be shared and are
marked read-only: copy before modifying in place. tfds reads are not cached
(`tfds.testing.mock_data` would otherwise leak fake data into later calls).
"""
import functools
import os
import pathlib
from typing import Callable, Dict, NamedTuple, Sequence, Tuple

import numpy as np

from ebmm_jax.data import cifar10 as cifar10_files
from ebmm_jax.data import imagenet64 as imagenet64_files
from ebmm_jax.data import mnist as mnist_files
from ebmm_jax.data import omniglot as omniglot_files
from ebmm_jax.data import tfds_source

SPLITS = ("train", "validation", "test")
FILE_SPLITS = ("train", "test")  # The splits of the distribution files.
# CIFAR-10 validation: train image i (in file order, data_batch_1 first; in
# tfds order for tfds) is validation when i % 10 == 9: 10% of the train
# images, the same images whichever prefix of the batch files is present.
VALIDATION_EVERY = 10
SOURCES = ("auto", "files", "tfds")
BINARY_THRESHOLD = 0.5  # Section 4.1: "binarized them using a 0.5 threshold".
_CHUNK = 4096  # Images converted to float at a time, to bound peak memory.

PathLike = str | os.PathLike


class DatasetSpec(NamedTuple):
  """One image dataset: everything the loaders, the data check, the image
  setup (`ebmm_jax.setups.images`) and the configs' tests read of it. Its
  entry in `SPECS` is the one place a dataset is listed."""
  name: str
  shape: Tuple[int, int, int]  # Native (H, W, C) after the reader's preprocessing.
  # {0, 1} images (stroke = 1), scored by Hamming error (Section 4.1); else
  # RGB in [0, 1], scored by squared error (Section 4.2).
  binary: bool
  splits: Tuple[str, ...]  # Those of `SPLITS` the reader serves.
  reader: Callable[..., Tuple]  # load_<name>(data_dir, split, *, source, ...) -> (images, labels, ...).
  subfolders: Tuple[str, ...]  # Of `data_dir`, searched for the original files after it.
  tfds_name: str
  tfds_splits: Dict[str, str]  # Our file split -> tfds's, where tfds names it otherwise.
  needed_splits: Tuple[str, ...]  # What the experiments read: the data check requires them.
  origin: str  # Where the original files come from (the data check's hint).
  # Default distortion: Table 2's block, a quarter of the image, and its fill.
  block_size: int
  fill: str


class OmniglotData(NamedTuple):
  images: np.ndarray  # [N, 32, 32, 1] float32 in {0, 1}, stroke = 1.
  labels: np.ndarray  # [N] int32, character id unique across alphabets.
  alphabets: np.ndarray  # [N] str, alphabet name of each image.


# ----------------------------------------------------------------------------
# Preprocessing.


def area_resize_matrix(in_size: int, out_size: int) -> np.ndarray:
  """Linear map [out_size, in_size] averaging the input over each output pixel.

  Output pixel i covers input coordinates [i * r, (i + 1) * r), r = in/out;
  each input pixel is weighted by its overlap with that interval (exact area
  resampling, like OpenCV's INTER_AREA; Pillow's BOX filter differs, it takes
  whole pixels whose centres fall inside). Rows sum to 1.
  """
  ratio = in_size / out_size
  lo = np.arange(out_size)[:, None] * ratio  # [out, 1]
  pixel = np.arange(in_size)[None, :]  # [1, in]
  overlap = np.clip(np.minimum(lo + ratio, pixel + 1) - np.maximum(lo, pixel),
                    0.0, None)
  return overlap / ratio


def bilinear_resize_matrix(in_size: int, out_size: int) -> np.ndarray:
  """Linear map [out_size, in_size] of bilinear interpolation.

  Pixel centres are aligned (half-pixel convention, like tf.image.resize and
  jax.image.resize without antialiasing); samples beyond the border are
  clamped to the edge pixels. Rows sum to 1.
  """
  src = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
  src = np.clip(src, 0.0, in_size - 1)
  lo = np.floor(src).astype(np.int64)
  hi = np.minimum(lo + 1, in_size - 1)
  frac = src - lo
  matrix = np.zeros((out_size, in_size))
  np.add.at(matrix, (np.arange(out_size), lo), 1.0 - frac)
  np.add.at(matrix, (np.arange(out_size), hi), frac)
  return matrix


def resize(images: np.ndarray, size: int, method: str) -> np.ndarray:
  """Resizes square images.

  Args:
    images: [N, H, W, C] float array.
    size: output height and width.
    method: "area" (for downscaling) or "bilinear" (for upscaling).

  Returns:
    float32 [N, size, size, C].
  """
  makers = {"area": area_resize_matrix, "bilinear": bilinear_resize_matrix}
  if method not in makers:
    raise ValueError(f"unknown resize method {method!r}; valid: "
                     f"{sorted(makers)}.")
  if images.ndim != 4:
    raise ValueError(f"images must be [N, H, W, C], got shape {images.shape}.")
  rows = makers[method](images.shape[1], size).astype(np.float32)  # [S, H]
  cols = makers[method](images.shape[2], size).astype(np.float32)  # [S, W]
  # Separable: two batched matrix products over [N, C, H, W] (BLAS; several
  # times faster than the equivalent einsum).
  planes = np.moveaxis(images.astype(np.float32), -1, 1)  # [N, C, H, W]
  return np.moveaxis(rows @ planes @ cols.T, 1, -1)  # [N, S, S, C]


def binarize(images: np.ndarray,
             threshold: float = BINARY_THRESHOLD) -> np.ndarray:
  """float32 {0, 1}: 1 where `images` > threshold (Section 4.1)."""
  return (images > threshold).astype(np.float32)


def _ink_to_binary(ink: np.ndarray, size: int, method: str) -> np.ndarray:
  """uint8 ink [N, H, W] (255 = stroke) -> float32 {0, 1} [N, size, size, 1]."""
  out = np.empty((ink.shape[0], size, size, 1), np.float32)
  for start in range(0, ink.shape[0], _CHUNK):
    chunk = ink[start:start + _CHUNK, :, :, None].astype(np.float32) / 255.0
    out[start:start + _CHUNK] = binarize(resize(chunk, size, method))
  return out


def _to_unit_float(images: np.ndarray) -> np.ndarray:
  """uint8 [N, H, W, C] -> float32 in [0, 1]."""
  out = np.empty(images.shape, np.float32)
  for start in range(0, images.shape[0], _CHUNK):
    out[start:start + _CHUNK] = images[start:start + _CHUNK] / np.float32(255)
  return out


# ----------------------------------------------------------------------------
# Where the data is.


def _check_choice(what: str, value: str, valid: Sequence[str]) -> None:
  if value not in valid:
    raise ValueError(f"unknown {what} {value!r}; valid: {list(valid)}.")


def _find_folder(name: str, data_dir: PathLike,
                 has_files: Callable[[pathlib.Path], bool]
                 ) -> pathlib.Path | None:
  """`data_dir` or its first known subfolder where `has_files` is true."""
  root = pathlib.Path(data_dir)
  for folder in [root] + [root / sub for sub in SPECS[name].subfolders]:
    if folder.is_dir() and has_files(folder):
      return folder
  return None


def _searched(name: str, data_dir: PathLike) -> str:
  root = pathlib.Path(data_dir)
  return ", ".join(str(p) for p in [root] + [root / s for s in
                                             SPECS[name].subfolders])


def _signature(paths: Sequence[pathlib.Path]) -> Tuple:
  """Cache key part that changes when a file is replaced or modified."""
  return tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns)
               for p in paths)


def _read_only(*arrays: np.ndarray) -> Tuple[np.ndarray, ...]:
  for a in arrays:
    a.flags.writeable = False
  return arrays


def _file_split(name: str, split: str) -> str:
  """The distribution files' split holding `split` ("validation" is part of
  the train files)."""
  _check_choice(f"{name} split", split, SPLITS)
  return "test" if split == "test" else "train"


def _validation_mask(size: int, split: str, hold_out_validation: bool) -> np.ndarray:
  """Boolean [size] of the train files' images in `split` ("train" or
  "validation"), by position (`VALIDATION_EVERY`)."""
  is_validation = np.arange(size) % VALIDATION_EVERY == VALIDATION_EVERY - 1
  if split == "validation":
    return is_validation
  return ~is_validation if hold_out_validation else np.ones(size, bool)


def _use_files(name: str, split: str, data_dir: PathLike, source: str,
               has_files: Callable[[pathlib.Path], bool],
               expected: str) -> pathlib.Path | None:
  """The folder to read files from, or None to use tfds."""
  _check_choice("source", source, SOURCES)
  _check_choice(f"{name} split", split, FILE_SPLITS)
  if source == "tfds":
    return None
  folder = _find_folder(name, data_dir, has_files)
  if folder is None and source == "files":
    raise FileNotFoundError(f"{name} {split} split: expected {expected} in "
                            f"one of {_searched(name, data_dir)}.")
  return folder


def _read_tfds(name: str, split: str, tfds_data_dir: PathLike | None,
               keys: Sequence[str], source: str, expected: str,
               data_dir: PathLike, **kwargs):
  tfds_split = SPECS[name].tfds_splits.get(split, split)
  try:
    return tfds_source.read_tfds(SPECS[name].tfds_name, tfds_split,
                                 tfds_data_dir, keys, **kwargs)
  except FileNotFoundError as e:
    if source != "auto":
      raise
    raise FileNotFoundError(
        f"{name} {split} split: no original files ({expected} in one of "
        f"{_searched(name, data_dir)}), and {e}") from e


# ----------------------------------------------------------------------------
# Omniglot (Section 4.1).


@functools.lru_cache(maxsize=4)
def _omniglot_files_cached(folder: str, signature: Tuple,
                           image_size: int) -> OmniglotData:
  del signature  # Only part of the cache key.
  ink, labels, alphabets = omniglot_files.read_omniglot(pathlib.Path(folder))
  images = _ink_to_binary(ink, image_size, "area")
  return OmniglotData(*_read_only(images, labels, alphabets))


@functools.lru_cache(maxsize=4)
def _omniglot_split_cached(folder: str, signature: Tuple):
  del signature  # Only part of the cache key.
  return omniglot_files.default_alphabet_split(pathlib.Path(folder))


def omniglot_alphabet_split(
    data_dir: PathLike) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
  """Default (train, test) alphabets of the Omniglot archives in `data_dir`.

  See `ebmm_jax.data.omniglot.default_alphabet_split`: the canonical
  background/evaluation split when images_evaluation.zip is present; on the
  offline copy (images_background_small1/2.zip) train = Balinese,
  Early_Aramaic, Greek, Japanese_(katakana), Latin, Sanskrit and test =
  Korean, Tagalog.
  """
  folder = _find_folder("omniglot", data_dir,
                        lambda f: bool(omniglot_files.find_archives(f)))
  if folder is None:
    raise FileNotFoundError(
        f"expected Omniglot zip archives {omniglot_files.BACKGROUND_GLOB} in "
        f"one of {_searched('omniglot', data_dir)}.")
  return _omniglot_split_cached(
      str(folder.resolve()),
      _signature(omniglot_files.find_archives(folder)))


def omniglot_splits(data_dir: PathLike, hold_out_validation: bool = True
                    ) -> Dict[str, Tuple[str, ...]]:
  """{"train", "validation", "test"} -> alphabets of the archives in
  `data_dir`: `omniglot_alphabet_split` with `omniglot.VALIDATION_ALPHABETS`
  held out of train (offline: train = Balinese, Greek, Japanese_(katakana),
  Latin, Sanskrit; validation = Early_Aramaic; test = Korean, Tagalog).
  `hold_out_validation=False`: train keeps them too."""
  train, test = omniglot_alphabet_split(data_dir)
  kept, validation = omniglot_files.hold_out_validation(train)
  return dict(train=kept if hold_out_validation else train,
              validation=validation, test=test)


def _omniglot_alphabets(split: str, train: Sequence[str], test: Sequence[str],
                        hold_out_validation: bool, where: str) -> Tuple[str, ...]:
  """The default alphabets of `split` given the train/test alphabets."""
  if split == "test":
    return tuple(test)
  kept, validation = omniglot_files.hold_out_validation(train)
  if split == "train":
    return kept if hold_out_validation else tuple(train)
  if not validation:
    raise ValueError(
        f"Omniglot validation split: none of the validation alphabets "
        f"{list(omniglot_files.VALIDATION_ALPHABETS)} is among the train "
        f"alphabets {list(train)} of {where}; pass the alphabets explicitly.")
  return validation


def load_omniglot(data_dir: PathLike, split: str = "train", *,
                  alphabets: Sequence[str] | None = None,
                  hold_out_validation: bool = True,
                  image_size: int = 32, source: str = "auto",
                  tfds_data_dir: PathLike | None = None,
                  max_examples: int | None = None) -> OmniglotData:
  """Omniglot characters, binarized with stroke = 1 (Section 4.1).

  Images are downscaled from 105x105 by area averaging and thresholded at
  0.5, after inverting the PNGs (which draw ink black) so that the stroke is 1.

  Splits are by alphabet, so test characters and alphabets are never seen in
  training. With `alphabets=None` the split's default alphabets are used:
  - files with an images_evaluation archive, or tfds: the canonical split of
    Lake et al. (30 background alphabets train, 20 evaluation alphabets test);
  - files without one (the offline images_background_small1/2.zip, 8
    alphabets): test = Korean and Tagalog (1,140 images), train = the other
    six: Balinese, Early_Aramaic, Greek, Japanese_(katakana), Latin, Sanskrit
    (3,700 images). See `omniglot_alphabet_split`.
  The validation split is `omniglot.VALIDATION_ALPHABETS` among the train
  alphabets (offline: Early_Aramaic, 440 images), held out of "train"
  unless `hold_out_validation=False` (see `omniglot_splits`).
  A list of `alphabets` replaces the default of `split` and selects exactly
  those alphabets from everything available (for tfds: its train and test
  splits together).

  Args:
    data_dir: folder with the zip archives (or with an `omniglot/`
      subfolder holding them).
    split: "train", "validation" or "test".
    alphabets: alphabet names to use instead of the split's default.
    hold_out_validation: "train" without the validation alphabets.
    image_size: output height and width (the paper: 32).
    source: "auto", "files" or "tfds" (see the module docstring).
    tfds_data_dir: tfds data folder (default: `data_dir`).
    max_examples: tfds only, read at most this many examples per tfds split.

  Returns:
    OmniglotData(images float32 [N, S, S, 1] in {0, 1}, labels int32 [N],
    alphabets str [N]).
  """
  expected = (f"Omniglot zip archives {omniglot_files.BACKGROUND_GLOB} / "
              f"{omniglot_files.EVALUATION_GLOB}")
  file_split = _file_split("omniglot", split)
  folder = _use_files("omniglot", file_split, data_dir, source,
                      lambda f: bool(omniglot_files.find_archives(f)), expected)
  if folder is not None:
    key = (str(folder.resolve()),
           _signature(omniglot_files.find_archives(folder)))
    data = _omniglot_files_cached(*key, image_size)
    available = sorted(set(data.alphabets.tolist()))
    if alphabets is None:
      train, test = _omniglot_split_cached(*key)
      alphabets = _omniglot_alphabets(split, train, test, hold_out_validation,
                                      str(folder))
  else:
    tfds_data_dir = data_dir if tfds_data_dir is None else tfds_data_dir
    # An explicit alphabet list may draw on both canonical splits.
    tfds_splits = [file_split] if alphabets is None else list(FILE_SPLITS)
    parts = []
    for tfds_split in tfds_splits:
      arrays, features = _read_tfds(
          "omniglot", tfds_split, tfds_data_dir, ("image", "label",
                                                  "alphabet"),
          source, expected, data_dir, max_examples=max_examples)
      names = np.array(features["alphabet"].names)
      # tfds stores the grey PNGs as RGB; any channel is the image.
      ink = 255 - arrays["image"][..., 0]
      parts.append((_ink_to_binary(ink, image_size, "area"),
                    arrays["label"].astype(np.int32),
                    names[arrays["alphabet"]]))
    data = OmniglotData(*(np.concatenate(p) for p in zip(*parts)))
    available = sorted(set(data.alphabets.tolist()))
    if alphabets is None:
      if split == "test":
        return data
      # tfds's train split is the background alphabets.
      alphabets = _omniglot_alphabets(split, available, (), hold_out_validation,
                                      "tfds omniglot")
  keep = omniglot_files.select_alphabets(data.alphabets, alphabets, available)
  return OmniglotData(data.images[keep], data.labels[keep],
                      data.alphabets[keep])


# ----------------------------------------------------------------------------
# MNIST (Appendix A.6).


@functools.lru_cache(maxsize=4)
def _mnist_files_cached(folder: str, split: str, signature: Tuple,
                        image_size: int | None,
                        binary: bool) -> Tuple[np.ndarray, np.ndarray]:
  del signature  # Only part of the cache key.
  images, labels = mnist_files.read_mnist(pathlib.Path(folder), split)
  return _read_only(_preprocess_mnist(images[..., None], image_size, binary),
                    labels)


def _preprocess_mnist(images: np.ndarray, image_size: int | None,
                      binary: bool) -> np.ndarray:
  """uint8 [N, 28, 28, 1] -> float32 [N, S, S, 1]."""
  images = _to_unit_float(images)
  if image_size is not None and image_size != images.shape[1]:
    images = resize(images, image_size, "bilinear")
  return binarize(images) if binary else images


def load_mnist(data_dir: PathLike, split: str = "test", *,
               image_size: int | None = 32, binary: bool = True,
               source: str = "auto", tfds_data_dir: PathLike | None = None,
               max_examples: int | None = None
               ) -> Tuple[np.ndarray, np.ndarray]:
  """MNIST digits prepared for the Omniglot transfer test (Appendix A.6).

  Upscaled from 28x28 to `image_size` by bilinear interpolation and
  thresholded at 0.5, so a digit is 1 on 0 like an Omniglot stroke.

  Args:
    data_dir: folder with the IDX files (`t10k-images-idx3-ubyte.gz`, ...),
      or a parent of `mnist/`.
    split: "train" or "test".
    image_size: output size (None: keep 28).
    binary: threshold at 0.5 (False: grey values in [0, 1]).
    source, tfds_data_dir, max_examples: as for `load_omniglot`.

  Returns:
    images float32 [N, S, S, 1], labels int32 [N].
  """
  if split == "validation":
    raise ValueError("mnist has no validation split: MNIST is read only to test "
                     "transfer (Appendix A.6); use the test split.")
  expected = mnist_files.expected_files(split) if split in FILE_SPLITS else ""
  folder = _use_files("mnist", split, data_dir, source,
                      lambda f: mnist_files.find_files(f, split) is not None,
                      expected)
  if folder is not None:
    paths = mnist_files.find_files(folder, split)
    return _mnist_files_cached(str(folder.resolve()), split,
                               _signature(paths), image_size, binary)
  arrays, _ = _read_tfds("mnist", split,
                         data_dir if tfds_data_dir is None else tfds_data_dir,
                         ("image", "label"), source, expected, data_dir,
                         max_examples=max_examples)
  images = _preprocess_mnist(arrays["image"], image_size, binary)
  return images, arrays["label"].astype(np.int32)


# ----------------------------------------------------------------------------
# CIFAR-10 (Section 4.2).


@functools.lru_cache(maxsize=4)
def _cifar10_files_cached(folder: str, split: str,
                          signature: Tuple) -> Tuple[np.ndarray, np.ndarray]:
  del signature  # Only part of the cache key.
  images, labels = cifar10_files.read_cifar10(pathlib.Path(folder), split)
  return _read_only(_to_unit_float(images), labels)


def load_cifar10(data_dir: PathLike, split: str = "train", *,
                 hold_out_validation: bool = True,
                 source: str = "auto", tfds_data_dir: PathLike | None = None,
                 max_examples: int | None = None
                 ) -> Tuple[np.ndarray, np.ndarray]:
  """CIFAR-10 RGB images in [0, 1] (Section 4.2).

  Files: the train images are every `data_batch_<k>` present, test =
  `test_batch`. Validation: every 10th train image (`VALIDATION_EVERY`),
  held out of "train" unless `hold_out_validation=False` (offline, 4,000
  train images: 3,600 train, 400 validation).

  Returns:
    images float32 [N, 32, 32, 3], labels int32 [N] (0-9).
  """
  file_split = _file_split("cifar10", split)
  expected = cifar10_files.expected_files(file_split)
  folder = _use_files("cifar10", file_split, data_dir, source,
                      lambda f: bool(cifar10_files.find_files(f, file_split)),
                      expected)
  if folder is not None:
    paths = cifar10_files.find_files(folder, file_split)
    images, labels = _cifar10_files_cached(str(folder.resolve()), file_split,
                                           _signature(paths))
  else:
    arrays, _ = _read_tfds("cifar10", file_split,
                           data_dir if tfds_data_dir is None else tfds_data_dir,
                           ("image", "label"), source, expected, data_dir,
                           max_examples=max_examples)
    images, labels = _to_unit_float(arrays["image"]), arrays["label"].astype(np.int32)
  if file_split == "test":
    return images, labels
  keep = _validation_mask(len(labels), split, hold_out_validation)
  if keep.all():
    return images, labels
  return _read_only(images[keep], labels[keep])


# ----------------------------------------------------------------------------
# ImageNet 64x64 (Section 4.3).


@functools.lru_cache(maxsize=4)
def _imagenet64_files_cached(path: str, split: str, hold_out_validation: bool,
                             signature: Tuple) -> Tuple[np.ndarray, np.ndarray]:
  del signature  # Only part of the cache key.
  images, labels = imagenet64_files.read_npz(pathlib.Path(path))
  keep = imagenet64_files.split_mask(labels, split, hold_out_validation)
  return _read_only(_to_unit_float(images[keep]), labels[keep])


def load_imagenet64(data_dir: PathLike, split: str = "train", *,
                    hold_out_validation: bool = True,
                    source: str = "auto",
                    tfds_data_dir: PathLike | None = None,
                    max_examples: int | None = None
                    ) -> Tuple[np.ndarray, np.ndarray]:
  """64x64 RGB images in [0, 1] (Section 4.3).

  tfds: `imagenet_resized/64x64`, our "test" = its "validation" split (use
  `max_examples` to bound memory: the train split is 1.28M images, 63 GB as
  float32), our validation every 10th of its train images (`VALIDATION_EVERY`).
  Files: the offline Tiny-ImageNet stand-in `tinyimagenet_val_1000.npz`,
  split 600 train / 200 validation / 200 test as described in
  `ebmm_jax.data.imagenet64` (`hold_out_validation=False`: 800 train).

  Returns:
    images float32 [N, 64, 64, 3], labels int32 [N].
  """
  expected = imagenet64_files.STANDIN_FILE
  file_split = _file_split("imagenet64", split)
  folder = _use_files("imagenet64", file_split, data_dir, source,
                      lambda f: imagenet64_files.find_file(f) is not None,
                      expected)
  if folder is not None:
    path = imagenet64_files.find_file(folder)
    return _imagenet64_files_cached(str(path.resolve()), split,
                                    bool(hold_out_validation), _signature([path]))
  arrays, _ = _read_tfds("imagenet64", file_split,
                         data_dir if tfds_data_dir is None else tfds_data_dir,
                         ("image", "label"), source, expected, data_dir,
                         max_examples=max_examples)
  images, labels = _to_unit_float(arrays["image"]), arrays["label"].astype(np.int32)
  if file_split == "test":
    return images, labels
  keep = _validation_mask(len(labels), split, hold_out_validation)
  return images[keep], labels[keep]


# ----------------------------------------------------------------------------
# One entry point.

SPECS: Dict[str, DatasetSpec] = {
    "omniglot": DatasetSpec(
        "omniglot", (32, 32, 1), binary=True, splits=SPLITS,
        reader=load_omniglot, subfolders=("omniglot",), tfds_name="omniglot",
        tfds_splits={}, needed_splits=("train", "test"),
        origin="from https://github.com/brendenlake/omniglot (folder python/)",
        block_size=16, fill="binary"),
    "cifar10": DatasetSpec(
        "cifar10", (32, 32, 3), binary=False, splits=SPLITS,
        reader=load_cifar10, subfolders=("cifar10", "cifar-10-batches-py"),
        tfds_name="cifar10", tfds_splits={}, needed_splits=("train", "test"),
        origin=("from https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz "
                "(it unpacks to cifar-10-batches-py/)"),
        block_size=16, fill="uniform"),
    # Read only for the transfer test (Appendix A.6): no validation split.
    "mnist": DatasetSpec(
        "mnist", (32, 32, 1), binary=True, splits=FILE_SPLITS,
        reader=load_mnist, subfolders=("mnist", "MNIST/raw"), tfds_name="mnist",
        tfds_splits={}, needed_splits=("test",),
        origin=("from https://storage.googleapis.com/cvdf-datasets/mnist/ (the "
                "mirror tfds uses; official page http://yann.lecun.com/exdb/mnist/)"),
        block_size=16, fill="binary"),
    "imagenet64": DatasetSpec(
        "imagenet64", (64, 64, 3), binary=False, splits=SPLITS,
        reader=load_imagenet64, subfolders=("tinyimagenet64", "imagenet64"),
        tfds_name="imagenet_resized/64x64",
        tfds_splits={"train": "train", "test": "validation"},
        needed_splits=("train", "test"),
        origin=("the project's offline stand-in: 1,000 Tiny-ImageNet "
                "validation images, uint8 'images' [N, 64, 64, 3] and "
                "integer 'labels' [N] (docs/data.md); the paper's ImageNet "
                "64x64 is read through tfds only"),
        block_size=32, fill="uniform"),
}
DATASETS = tuple(SPECS)


def load_dataset(name: str, split: str, data_dir: PathLike,
                 source: str = "auto",
                 **options) -> Tuple[np.ndarray, np.ndarray]:
  """Loads a split of one of `DATASETS` as (images, labels).

  Args:
    name: "omniglot", "cifar10", "mnist" or "imagenet64".
    split: "train", "validation" or "test" (see the module docstring).
    data_dir: folder with the original files (or their parent), also the
      tfds data folder unless `tfds_data_dir` is given.
    source: "auto" (local files if present, else tfds), "files" or "tfds".
    **options: passed to the dataset's loader (`load_omniglot`, ...), e.g.
      `alphabets=`, `image_size=`, `tfds_data_dir=`, `max_examples=`,
      `hold_out_validation=` (not MNIST's).

  Returns:
    images: float32 [N, H, W, C] (see the module docstring for ranges).
    labels: int32 [N] class ids (Omniglot: characters; use `load_omniglot`
      for the alphabet of each image).

  Raises:
    ValueError: unknown name, split or source; corrupt files.
    FileNotFoundError: no data for the split where `source` looks.
    ImportError: when reading would need TensorFlow and it is missing.
  """
  _check_choice("dataset", name, DATASETS)
  _check_choice(f"{name} split", split, SPLITS)
  _check_choice("source", source, SOURCES)
  result = SPECS[name].reader(data_dir, split, source=source, **options)
  return result[0], result[1]
