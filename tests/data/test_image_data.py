"""Tests of the image loaders and batch samplers.

Real-data tests read EBMM_DATA_DIR (the `data_dir` fixture, laid out like
shared/data); the tfds path runs under `tfds.testing.mock_data`; corrupt and
missing files are written to tmp_path.
"""
import gzip
import io
import pickle
import shutil
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ebmm_jax.data import images as image_data
from ebmm_jax.data import omniglot as omniglot_files
from ebmm_jax.data import sampling
from ebmm_jax.data import tfds_source

# ----------------------------------------------------------------------------
# Helpers.


def _png(ink: np.ndarray) -> bytes:
  """A 1-bit PNG like Omniglot's: ink (True) drawn black (0)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  buffer = io.BytesIO()
  Image.fromarray(~ink).convert("1").save(buffer, format="PNG")
  return buffer.getvalue()


def _write_omniglot_zip(path, root, characters, drawers=2, seed=0):
  """characters: [(alphabet, 'characterNN', global id)] -> a zip at path."""
  rng = np.random.default_rng(seed)
  with zipfile.ZipFile(path, "w") as zf:
    for alphabet, character, char_id in characters:
      for drawer in range(1, drawers + 1):
        ink = np.zeros((105, 105), bool)
        top, left = rng.integers(0, 60, size=2)
        ink[top:top + 40, left:left + 8] = True  # A thick vertical stroke.
        zf.writestr(f"{root}/{alphabet}/{character}/"
                    f"{char_id:04d}_{drawer:02d}.png", _png(ink))


def _write_idx(path, array: np.ndarray, magic: int | None = None,
               compress: bool = True):
  magic = (0x08 << 8 | array.ndim) if magic is None else magic
  raw = magic.to_bytes(4, "big") + b"".join(
      d.to_bytes(4, "big") for d in array.shape) + array.astype(
          np.uint8).tobytes()
  if compress:
    raw = gzip.compress(raw)
  path.write_bytes(raw)


# ----------------------------------------------------------------------------
# Preprocessing.


def test_area_resize_is_exact_area_averaging():
  image = np.random.default_rng(0).uniform(size=(105, 105))
  # Independent reference: split every pixel into 32x32 copies; then each of
  # the 32x32 output pixels covers exactly 105x105 of those copies.
  fine = np.repeat(np.repeat(image, 32, axis=0), 32, axis=1)
  expected = fine.reshape(32, 105, 32, 105).mean(axis=(1, 3))
  ours = image_data.resize(image[None, :, :, None], 32, "area")[0, :, :, 0]
  np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_bilinear_resize_matches_jax_image_resize():
  image = np.random.default_rng(1).uniform(size=(2, 28, 28, 1))
  expected = jax.image.resize(jnp.asarray(image, jnp.float32), (2, 32, 32, 1),
                              "linear")
  ours = image_data.resize(image, 32, "bilinear")
  np.testing.assert_allclose(ours, expected, atol=1e-5)


@pytest.mark.parametrize("maker", [image_data.area_resize_matrix,
                                   image_data.bilinear_resize_matrix])
def test_resize_matrices_preserve_constants(maker):
  for n_in, n_out in [(105, 32), (28, 32), (64, 64), (7, 3)]:
    matrix = maker(n_in, n_out)
    assert matrix.shape == (n_out, n_in)
    assert (matrix >= 0).all()
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-12)


# ----------------------------------------------------------------------------
# Real files (EBMM_DATA_DIR).


@pytest.fixture(scope="module")
def omniglot_splits(data_dir):
  return (image_data.load_omniglot(data_dir, "train", source="files"),
          image_data.load_omniglot(data_dir, "test", source="files"))


def test_omniglot_real_shapes_values_and_stroke(omniglot_splits):
  for split in omniglot_splits:
    assert split.images.dtype == np.float32
    assert split.images.shape[1:] == (32, 32, 1)
    assert split.labels.shape == split.alphabets.shape == (len(split.images),)
    assert set(np.unique(split.images)) == {0.0, 1.0}
    # Stroke = 1: ink covers a small part of each character image.
    assert 0.02 < split.images.mean() < 0.25
    assert (split.images.mean(axis=(1, 2, 3)) < 0.5).all()
    # 20 drawers of every character.
    np.testing.assert_array_equal(np.unique(split.labels,
                                            return_counts=True)[1], 20)


def test_omniglot_real_counts_and_disjoint_alphabets(omniglot_splits, data_dir):
  train, test = omniglot_splits
  # 5,840 files in the two archives, Greek and Latin twice: 4,840 distinct,
  # 440 of them (Early_Aramaic) the validation split, held out of train.
  validation = image_data.load_omniglot(data_dir, "validation", source="files")
  assert len(train.images) + len(validation.images) + len(test.images) == 4840
  assert set(validation.alphabets.tolist()) == {"Early_Aramaic"}
  whole = image_data.load_omniglot(data_dir, "train", hold_out_validation=False)
  assert len(whole.images) == len(train.images) + len(validation.images)
  train = whole
  train_alphabets = set(train.alphabets.tolist())
  test_alphabets = set(test.alphabets.tolist())
  assert len(train_alphabets | test_alphabets) == 8
  assert not train_alphabets & test_alphabets
  assert not set(train.labels.tolist()) & set(test.labels.tolist())
  assert test_alphabets == set(omniglot_files.HELD_OUT_ALPHABETS)
  assert len(train_alphabets) == 6
  # A label is one character of one alphabet.
  for split in omniglot_splits:
    for label in np.unique(split.labels):
      assert np.unique(split.alphabets[split.labels == label]).size == 1


def test_omniglot_real_explicit_alphabets(data_dir):
  greek = image_data.load_omniglot(data_dir, "train", alphabets=["Greek"])
  assert len(greek.images) == 480  # Kept once, though in both archives.
  assert set(greek.alphabets.tolist()) == {"Greek"}
  assert np.unique(greek.labels).size == 24
  with pytest.raises(ValueError, match="Klingon.*available"):
    image_data.load_omniglot(data_dir, "train", alphabets=["Klingon"])
  assert image_data.omniglot_alphabet_split(data_dir) == (
      ("Balinese", "Early_Aramaic", "Greek", "Japanese_(katakana)", "Latin",
       "Sanskrit"), ("Korean", "Tagalog"))


def test_omniglot_real_image_matches_direct_decoding(data_dir):
  """The first Balinese image, decoded independently with Pillow."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  archive = data_dir / "omniglot" / "images_background_small1.zip"
  with zipfile.ZipFile(archive) as zf:
    name = sorted(n for n in zf.namelist()
                  if n.startswith("images_background_small1/Balinese/"
                                  "character01/") and n.endswith(".png"))[0]
    png = Image.open(io.BytesIO(zf.read(name)))
    ink = 1.0 - np.asarray(png.convert("L"), np.float64) / 255.0
  # Exact area averaging 105 -> 32 via 32x32 sub-pixels (see above).
  fine = np.repeat(np.repeat(ink, 32, axis=0), 32, axis=1)
  expected = fine.reshape(32, 105, 32, 105).mean(axis=(1, 3)) > 0.5
  data = image_data.load_omniglot(data_dir, "train", alphabets=["Balinese"])
  assert data.labels[0] == int(name.split("/")[-1].split("_")[0]) - 1
  # Float rounding may flip a pixel lying exactly at the threshold.
  assert (data.images[0, :, :, 0] != expected).sum() <= 2
  assert expected.sum() > 20


def test_mnist_real_test_split(data_dir):
  images, labels = image_data.load_dataset("mnist", "test", data_dir)
  assert images.shape == (10000, 32, 32, 1) and images.dtype == np.float32
  assert labels.shape == (10000,)
  np.testing.assert_array_equal(labels[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
  np.testing.assert_array_equal(
      np.bincount(labels),
      [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
  assert set(np.unique(images)) == {0.0, 1.0}
  # Digit = 1 on a 0 background, like an Omniglot stroke.
  assert 0.05 < images.mean() < 0.3
  assert images[:, 0, :, :].mean() < 0.01  # The border row is background.


def test_mnist_real_grey_values_are_unit_range(data_dir):
  images, _ = image_data.load_mnist(data_dir, "test", image_size=None,
                                    binary=False)
  assert images.shape == (10000, 28, 28, 1)
  assert images.min() == 0.0 and images.max() == 1.0
  assert np.unique(images).size > 2


def test_mnist_real_train_split_is_missing(data_dir):
  with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
    image_data.load_dataset("mnist", "train", data_dir, source="files")


def test_cifar10_real_splits(data_dir):
  train, train_labels = image_data.load_dataset("cifar10", "train", data_dir)
  test, test_labels = image_data.load_dataset("cifar10", "test", data_dir)
  # 4,000 train images, every 10th of them held out for validation.
  assert train.shape == (3600, 32, 32, 3) and test.shape == (10000, 32, 32, 3)
  assert train.dtype == test.dtype == np.float32
  np.testing.assert_array_equal(train_labels[:5], [6, 9, 9, 4, 1])
  np.testing.assert_array_equal(test_labels[:5], [3, 8, 8, 0, 6])
  np.testing.assert_array_equal(np.bincount(test_labels), 1000)
  for images in (train, test):
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert 0.3 < images.mean() < 0.7
  # Channel layout: the first row's planes, read independently, are R, G, B.
  with open(data_dir / "cifar10" / "data_batch_1", "rb") as f:
    row = pickle.load(f, encoding="bytes")[b"data"][0]
  np.testing.assert_array_equal(np.round(train[0] * 255).astype(np.uint8),
                                row.reshape(3, 32, 32).transpose(1, 2, 0))


def test_imagenet64_real_standin(data_dir):
  train, train_labels = image_data.load_dataset("imagenet64", "train",
                                                data_dir)
  test, test_labels = image_data.load_dataset("imagenet64", "test", data_dir)
  # 800 train images, 200 of them (one per class rank 3, 8, ...) validation.
  assert train.shape == (600, 64, 64, 3) and test.shape == (200, 64, 64, 3)
  assert train.dtype == np.float32
  for images in (train, test):
    assert images.min() >= 0.0 and images.max() <= 1.0
  # Every class in both splits, no image in both.
  assert np.unique(train_labels).size == np.unique(test_labels).size == 200
  train_keys = {im.tobytes() for im in train[:, ::8, ::8]}
  assert not any(im.tobytes() in train_keys for im in test[:, ::8, ::8])


def test_file_datasets_are_cached_and_read_only(data_dir):
  first = image_data.load_dataset("cifar10", "test", data_dir)
  second = image_data.load_dataset("cifar10", "test", data_dir)
  assert first[0] is second[0]
  with pytest.raises(ValueError):
    first[0][0, 0, 0, 0] = 1.0


def test_correlated_batches_on_real_omniglot(omniglot_splits):
  train, _ = omniglot_splits
  index = sampling.build_class_index(train.labels)
  for seed in range(5):
    batch, indices = sampling.sample_batch(
        jax.random.key(seed), train.images, 32, class_index=index,
        num_classes=2)
    assert batch.shape == (32, 32, 32, 1)
    labels, counts = np.unique(train.labels[np.asarray(indices)],
                               return_counts=True)
    assert labels.size == 2
    np.testing.assert_array_equal(counts, [16, 16])


# ----------------------------------------------------------------------------
# Synthetic Omniglot archives: deduplication, splits, corrupt files.


@pytest.fixture
def small_omniglot(tmp_path):
  folder = tmp_path / "omni"
  folder.mkdir()
  shared = [("Greek", "character01", 394), ("Greek", "character02", 395)]
  _write_omniglot_zip(folder / "images_background_small1.zip",
                      "images_background_small1",
                      shared + [("Korean", "character01", 500)])
  _write_omniglot_zip(folder / "images_background_small2.zip",
                      "images_background_small2",
                      shared + [("Tagalog", "character01", 600),
                                ("Latin", "character01", 700)])
  return folder


def test_omniglot_synthetic_dedup_labels_and_stroke(small_omniglot):
  train = image_data.load_omniglot(small_omniglot, "train")
  test = image_data.load_omniglot(small_omniglot, "test")
  # Greek is in both archives but counted once.
  assert sorted(set(train.alphabets.tolist())) == ["Greek", "Latin"]
  assert sorted(set(test.alphabets.tolist())) == ["Korean", "Tagalog"]
  assert len(train.images) == 3 * 2 and len(test.images) == 2 * 2
  np.testing.assert_array_equal(np.unique(train.labels), [393, 394, 699])
  # The stroke is a 40x8 bar of 105x105: ~2.9% ink, and it must be ink = 1.
  assert 0.01 < train.images.mean() < 0.06


def test_omniglot_canonical_split_with_evaluation_archive(tmp_path):
  _write_omniglot_zip(tmp_path / "images_background.zip",
                      "images_background", [("Latin", "character01", 1),
                                            ("Korean", "character01", 2)])
  _write_omniglot_zip(tmp_path / "images_evaluation.zip",
                      "images_evaluation", [("Atlantean", "character01", 965)])
  assert omniglot_files.default_alphabet_split(tmp_path) == (
      ("Korean", "Latin"), ("Atlantean",))
  test = image_data.load_omniglot(tmp_path, "test")
  assert set(test.alphabets.tolist()) == {"Atlantean"}


def test_omniglot_missing_archives_error_names_the_expected_files(tmp_path):
  with pytest.raises(FileNotFoundError, match=r"images_background\*\.zip"):
    image_data.load_omniglot(tmp_path, "train", source="files")
  with pytest.raises(FileNotFoundError, match=r"images_background\*\.zip"):
    image_data.load_dataset("omniglot", "train", tmp_path, source="files")


def test_omniglot_corrupt_archive_error_names_the_file(tmp_path):
  broken = tmp_path / "images_background_small1.zip"
  broken.write_bytes(b"PK\x03\x04 this is not really a zip archive")
  with pytest.raises(ValueError, match="images_background_small1.zip"):
    image_data.load_omniglot(tmp_path, "train", source="files")


def test_omniglot_corrupt_png_error_names_the_member(tmp_path):
  with zipfile.ZipFile(tmp_path / "images_background_x.zip", "w") as zf:
    zf.writestr("images_background_x/Latin/character01/0700_01.png",
                b"\x89PNG truncated")
  with pytest.raises(ValueError, match=r"Latin/character01/0700_01\.png"):
    omniglot_files.read_omniglot(tmp_path)


def test_omniglot_truncated_copy_of_real_archive(data_dir, tmp_path):
  source = data_dir / "omniglot" / "images_background_small1.zip"
  data = source.read_bytes()
  (tmp_path / source.name).write_bytes(data[:len(data) // 2])
  with pytest.raises(ValueError, match=source.name):
    image_data.load_omniglot(tmp_path, "train", source="files")


# ----------------------------------------------------------------------------
# MNIST, CIFAR-10 and ImageNet-stand-in file errors.


def test_mnist_truncated_gzip_error_names_the_file(data_dir, tmp_path):
  for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
    shutil.copy(data_dir / "mnist" / name, tmp_path / name)
  images = tmp_path / "t10k-images-idx3-ubyte.gz"
  images.write_bytes(images.read_bytes()[:50000])
  with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz.*gzip"):
    image_data.load_mnist(tmp_path, "test", source="files")


def test_mnist_bad_magic_and_short_data(tmp_path):
  labels = np.arange(4) % 10
  _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
  _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz",
             np.zeros((4, 28, 28)), magic=0x00000804)
  with pytest.raises(ValueError, match="t10k-images.*magic.*0x00000803"):
    image_data.load_mnist(tmp_path, "test", source="files")
  # A valid header promising more images than the file holds.
  path = tmp_path / "t10k-images-idx3-ubyte.gz"
  raw = gzip.decompress(path.read_bytes())
  _write_idx(path, np.zeros((4, 28, 28)))
  raw = gzip.decompress(path.read_bytes())
  path.write_bytes(gzip.compress(raw[:-100]))
  with pytest.raises(ValueError, match="t10k-images.*truncated"):
    image_data.load_mnist(tmp_path, "test", source="files")


def test_mnist_uncompressed_files_and_count_mismatch(tmp_path):
  _write_idx(tmp_path / "t10k-images-idx3-ubyte",
             np.full((3, 28, 28), 255), compress=False)
  _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([1, 2, 3]),
             compress=False)
  images, labels = image_data.load_mnist(tmp_path, "test", source="files")
  assert images.shape == (3, 32, 32, 1) and (images == 1.0).all()
  np.testing.assert_array_equal(labels, [1, 2, 3])
  _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([1, 2]),
             compress=False)
  with pytest.raises(ValueError, match="3 images but.*2 labels"):
    image_data.load_mnist(tmp_path, "test", source="files")


def _write_cifar_batch(path, batch):
  with open(path, "wb") as f:
    pickle.dump(batch, f, protocol=2)


def test_cifar10_wrong_keys_error_names_the_file(tmp_path):
  _write_cifar_batch(tmp_path / "test_batch",
                     {b"pixels": np.zeros((2, 3072), np.uint8)})
  with pytest.raises(ValueError, match="test_batch.*'labels'"):
    image_data.load_cifar10(tmp_path, "test", source="files")


def test_cifar10_truncated_and_unsafe_pickles(data_dir, tmp_path):
  data = (data_dir / "cifar10" / "data_batch_1").read_bytes()
  (tmp_path / "data_batch_1").write_bytes(data[:len(data) // 3])
  with pytest.raises(ValueError, match="data_batch_1"):
    image_data.load_cifar10(tmp_path, "train", source="files")
  # A pickle that would run code is refused, not executed.
  (tmp_path / "data_batch_1").write_bytes(pickle.dumps(print))
  with pytest.raises(ValueError, match="data_batch_1.*not allowed"):
    image_data.load_cifar10(tmp_path, "train", source="files")


def test_cifar10_train_reads_every_data_batch_in_order(tmp_path):
  for k, label in [(2, 5), (1, 3), (10, 7)]:
    _write_cifar_batch(tmp_path / f"data_batch_{k}", {
        b"data": np.full((2, 3072), k, np.uint8), b"labels": [label] * 2})
  images, labels = image_data.load_cifar10(tmp_path, "train", source="files")
  np.testing.assert_array_equal(labels, [3, 3, 5, 5, 7, 7])
  np.testing.assert_allclose(images[:, 0, 0, 0] * 255, [1, 1, 2, 2, 10, 10],
                             atol=1e-4)
  with pytest.raises(FileNotFoundError, match="test_batch"):
    image_data.load_cifar10(tmp_path, "test", source="files")


def test_imagenet64_standin_missing_key(tmp_path):
  np.savez(tmp_path / "tinyimagenet_val_1000.npz",
           images=np.zeros((5, 64, 64, 3), np.uint8))
  with pytest.raises(ValueError, match="tinyimagenet_val_1000.npz.*labels"):
    image_data.load_imagenet64(tmp_path, "test", source="files")


# ----------------------------------------------------------------------------
# The entry point.


@pytest.mark.parametrize("kwargs,match", [
    (dict(name="svhn", split="train"), "dataset 'svhn'.*omniglot"),
    (dict(name="mnist", split="valid"), "split 'valid'.*train"),
    (dict(name="mnist", split="validation"), "mnist has no validation split"),
    (dict(name="mnist", split="test", source="web"), "source 'web'.*tfds"),
])
def test_load_dataset_rejects_unknown_choices(tmp_path, kwargs, match):
  with pytest.raises(ValueError, match=match):
    image_data.load_dataset(data_dir=tmp_path, **kwargs)


# ----------------------------------------------------------------------------
# tfds (mocked: `tfds.data_source` works without TensorFlow).


@pytest.fixture
def mock_tfds():
  tfds = pytest.importorskip("tensorflow_datasets")
  with tfds.testing.mock_data(num_examples=5):
    yield


@pytest.mark.parametrize("name,shape,binary", [
    ("omniglot", (32, 32, 1), True), ("mnist", (32, 32, 1), True),
    ("cifar10", (32, 32, 3), False), ("imagenet64", (64, 64, 3), False)])
def test_tfds_source_preprocesses_like_files(mock_tfds, tmp_path, name, shape,
                                             binary):
  del mock_tfds
  # Each split of the tfds files whole (the train part with its validation images).
  whole = {} if name == "mnist" else {"hold_out_validation": False}
  for split in image_data.FILE_SPLITS:
    images, labels = image_data.load_dataset(name, split, tmp_path,
                                             source="tfds", **whole)
    assert images.shape == (5,) + shape and images.dtype == np.float32
    assert labels.shape == (5,) and labels.dtype == np.int32
    if binary:
      assert set(np.unique(images)) <= {0.0, 1.0}
    else:
      assert images.min() >= 0.0 and images.max() <= 1.0
      assert np.unique(images).size > 2


def test_tfds_omniglot_alphabets(mock_tfds, tmp_path):
  del mock_tfds
  data = image_data.load_omniglot(tmp_path, "train", source="tfds")
  assert data.alphabets.shape == (5,) and data.alphabets.dtype.kind == "U"
  wanted = [str(data.alphabets[0])]
  chosen = image_data.load_omniglot(tmp_path, "train", source="tfds",
                                    alphabets=wanted)
  assert len(chosen.images) >= 1
  assert set(chosen.alphabets.tolist()) == set(wanted)


def test_auto_falls_back_to_tfds_without_files(mock_tfds, tmp_path):
  del mock_tfds
  images, _ = image_data.load_dataset("mnist", "train", tmp_path)
  assert images.shape == (5, 32, 32, 1)


def test_tfds_split_names(monkeypatch, tmp_path):
  calls = []

  def fake_read_tfds(name, split, data_dir, keys, **kwargs):
    del kwargs
    calls.append((name, split, data_dir))
    num = 3
    return {"image": np.zeros((num, 64, 64, 3), np.uint8),
            "label": np.arange(num)}, None

  monkeypatch.setattr(image_data.tfds_source, "read_tfds", fake_read_tfds)
  image_data.load_imagenet64(tmp_path, "test", tfds_data_dir="/tfds")
  image_data.load_imagenet64(tmp_path, "train", source="tfds")
  assert calls == [("imagenet_resized/64x64", "validation", "/tfds"),
                   ("imagenet_resized/64x64", "train", tmp_path)]


def test_tfds_unprepared_dataset_says_how_to_prepare(tmp_path):
  pytest.importorskip("tensorflow_datasets")
  with pytest.raises(FileNotFoundError, match="not prepared.*tfds build"):
    image_data.load_dataset("mnist", "test", tmp_path, source="tfds")
  # "auto" names both places it looked.
  with pytest.raises(FileNotFoundError,
                     match="t10k-images-idx3-ubyte.gz.*not prepared"):
    image_data.load_dataset("mnist", "test", tmp_path)


def test_tfds_download_without_tensorflow_raises_import_error(tmp_path):
  pytest.importorskip("tensorflow_datasets")
  try:
    import tensorflow  # pylint: disable=g-import-not-at-top,unused-import
    pytest.skip("TensorFlow is installed.")
  except ImportError:
    pass
  with pytest.raises(ImportError, match="needs TensorFlow.*pip install"):
    tfds_source.read_tfds("cifar10", "test", tmp_path, ("image",),
                          download=True)


# ----------------------------------------------------------------------------
# Samplers.


def test_uniform_batches_are_distinct_and_uniform():
  num, size = 40, 10
  counts = np.zeros(num)
  for seed in range(400):
    indices = np.asarray(sampling.uniform_batch_indices(
        jax.random.key(seed), num, size))
    assert indices.shape == (size,) and indices.dtype == np.int32
    assert np.unique(indices).size == size
    assert indices.min() >= 0 and indices.max() < num
    counts += np.bincount(indices, minlength=num)
  # Each image is drawn with probability 1/4 per batch: 100 +- 8.7 of 400.
  assert np.abs(counts - 100).max() < 40


def test_uniform_batch_larger_than_split_is_rejected():
  with pytest.raises(ValueError, match="cannot draw 33 distinct"):
    sampling.uniform_batch_indices(jax.random.key(0), 32, 33)


@pytest.mark.parametrize("batch_size,num_classes,shares", [
    (32, 2, [16, 16]), (32, 3, [10, 11, 11]), (8, 8, [1] * 8)])
def test_correlated_batches_have_exactly_c_classes(batch_size, num_classes,
                                                   shares):
  labels = np.repeat(np.arange(12) * 7 + 3, 20)  # 12 classes of 20 images.
  labels = labels[np.random.default_rng(0).permutation(labels.size)]
  index = sampling.build_class_index(labels)
  seen = set()
  for seed in range(100):
    indices = np.asarray(sampling.correlated_batch_indices(
        jax.random.key(seed), index, batch_size, num_classes))
    assert indices.shape == (batch_size,)
    assert np.unique(indices).size == batch_size
    classes, counts = np.unique(labels[indices], return_counts=True)
    assert classes.size == num_classes
    np.testing.assert_array_equal(np.sort(counts), shares)
    seen.update(classes.tolist())
  # Every class is drawn: P(one never is) < 12 (10/12)^100 ~ 1e-7.
  assert len(seen) == 12


def test_correlated_batches_under_jit():
  labels = np.repeat(np.arange(5), 20)
  index = sampling.build_class_index(labels)
  draw = jax.jit(lambda key: sampling.correlated_batch_indices(key, index,
                                                               32, 2))
  indices = np.asarray(draw(jax.random.key(1)))
  assert np.unique(labels[indices]).size == 2


def test_correlated_batches_reject_too_few_classes():
  index = sampling.build_class_index(np.repeat(np.arange(3), 20))
  with pytest.raises(ValueError, match="3 such classes"):
    sampling.correlated_batch_indices(jax.random.key(0), index, 32, 4)
  # Enough classes, but too small for a share of 16.
  index = sampling.build_class_index(np.repeat(np.arange(10), 10))
  with pytest.raises(ValueError, match="at least 16 images"):
    sampling.correlated_batch_indices(jax.random.key(0), index, 32, 2)
  with pytest.raises(ValueError, match="num_classes"):
    sampling.correlated_batch_indices(jax.random.key(0), index, 4, 5)


def test_sample_batch_gathers_numpy_and_jax():
  images = np.arange(50, dtype=np.float32).reshape(50, 1, 1, 1)
  labels = np.arange(50) // 10
  batch, indices = sampling.sample_batch(jax.random.key(0), images, 8)
  assert isinstance(batch, np.ndarray)
  np.testing.assert_array_equal(batch[:, 0, 0, 0], np.asarray(indices))
  index = sampling.build_class_index(labels)
  batch, indices = sampling.sample_batch(
      jax.random.key(1), jnp.asarray(images), 8, class_index=index,
      num_classes=2)
  assert isinstance(batch, jax.Array)
  assert np.unique(labels[np.asarray(batch[:, 0, 0, 0]).astype(int)]).size == 2
  with pytest.raises(ValueError, match="class_index"):
    sampling.sample_batch(jax.random.key(0), images, 8, num_classes=2)
