"""Tests of the data check (`ebmm_jax/data/check.py`, the command
`experiments/check_data.py`, `ebmm-check-data`).

The check opens the files it finds with the loaders' readers, so the folders
built here hold small valid files; an `ok` is confirmed by loading the data.
The real-data test reads EBMM_DATA_DIR (the `data_dir` fixture).
"""
import gzip
import io
import json
import pathlib
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from ebmm_jax.data import cifar10 as cifar10_files
from ebmm_jax.data import images as image_data
from ebmm_jax.data import imagenet64 as imagenet64_files
from ebmm_jax.data import mnist as mnist_files
from ebmm_jax.data import check as check_data

# ----------------------------------------------------------------------------
# Small valid files, laid out as a data folder.


def _png() -> bytes:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  ink = np.zeros((105, 105), bool)
  ink[30:70, 50:58] = True
  buffer = io.BytesIO()
  Image.fromarray(~ink).convert("1").save(buffer, format="PNG")
  return buffer.getvalue()


def _write_omniglot(folder: pathlib.Path) -> None:
  """One background archive with a held-out and a train alphabet."""
  folder.mkdir(parents=True, exist_ok=True)
  png = _png()
  with zipfile.ZipFile(folder / "images_background_small1.zip", "w") as zf:
    for alphabet, char_id in (("Latin", 1), ("Latin", 2), ("Korean", 3)):
      for drawer in (1, 2):
        zf.writestr(f"images_background_small1/{alphabet}/character0{char_id}"
                    f"/{char_id:04d}_{drawer:02d}.png", png)


def _write_idx(path: pathlib.Path, array: np.ndarray) -> None:
  raw = ((0x08 << 8 | array.ndim).to_bytes(4, "big") +
         b"".join(d.to_bytes(4, "big") for d in array.shape) +
         array.astype(np.uint8).tobytes())
  path.write_bytes(gzip.compress(raw))


def _write_mnist(folder: pathlib.Path, split: str = "test") -> None:
  folder.mkdir(parents=True, exist_ok=True)
  images, labels = mnist_files.FILES[split]
  rng = np.random.default_rng(0)
  _write_idx(folder / f"{images}.gz", rng.integers(0, 256, (6, 28, 28)))
  _write_idx(folder / f"{labels}.gz", np.arange(6) % 10)


def _write_cifar_batch(path: pathlib.Path, num: int) -> None:
  rng = np.random.default_rng(num)
  batch = {b"data": rng.integers(0, 256, (num, 3072)).astype(np.uint8),
           b"labels": [i % 10 for i in range(num)]}
  path.write_bytes(pickle.dumps(batch, protocol=2))


def _write_cifar10(folder: pathlib.Path) -> None:
  folder.mkdir(parents=True, exist_ok=True)
  _write_cifar_batch(folder / cifar10_files.TRAIN_FILES[0], 7)
  _write_cifar_batch(folder / cifar10_files.TEST_FILE, 5)


def _write_imagenet64(folder: pathlib.Path) -> None:
  folder.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(1)
  np.savez_compressed(folder / imagenet64_files.STANDIN_FILE,
                      images=rng.integers(0, 256, (10, 64, 64, 3)).astype(
                          np.uint8),
                      labels=np.repeat(np.arange(2), 5).astype(np.int16))


def _write_all(root: pathlib.Path) -> pathlib.Path:
  _write_omniglot(root / "omniglot")
  _write_mnist(root / "mnist")
  _write_cifar10(root / "cifar10")
  _write_imagenet64(root / "tinyimagenet64")
  return root


def _run(*args, cwd=None) -> subprocess.CompletedProcess:
  return subprocess.run(
      [sys.executable, "-m", "ebmm_jax.experiments.check_data", *args],
      capture_output=True, text=True, cwd=cwd, timeout=300, check=False)


def _lines(stdout: str) -> dict:
  """dataset -> (status, text) of the check's output."""
  out = {}
  for line in stdout.splitlines():
    name, status, text = line.split(maxsplit=2)
    out[name] = (status, text)
  return out


def _status(name: str, root: pathlib.Path) -> check_data.Check:
  return check_data.check_dataset(name, root)


# ----------------------------------------------------------------------------
# The launcher.


def test_complete_folder_is_ok_and_loads(tmp_path):
  root = _write_all(tmp_path / "data")
  result = _run(f"--data_dir={root}", cwd=tmp_path)
  assert result.returncode == 0, result.stdout + result.stderr
  lines = _lines(result.stdout)
  assert list(lines) == list(image_data.DATASETS)  # One line each, in order.
  assert {s for s, _ in lines.values()} == {"ok"}, result.stdout
  assert "images_background_small1.zip" in lines["omniglot"][1]
  assert ("1 train alphabets; no validation alphabet; 1 test alphabets: Korean"
          in lines["omniglot"][1])
  assert "t10k-images-idx3-ubyte.gz" in lines["mnist"][1]
  assert "(6 images)" in lines["mnist"][1]
  assert "train: not found (not needed)" in lines["mnist"][1]
  assert "data_batch_1 (1 of 5 official batches)" in lines["cifar10"][1]
  assert "test: test_batch" in lines["cifar10"][1]
  assert "train 6, validation 2, test 2 images" in lines["imagenet64"][1]
  # What the check calls usable, the loaders read.
  for name in image_data.DATASETS:
    for split in image_data.SPECS[name].needed_splits:
      images, _ = image_data.load_dataset(name, split, root, source="files")
      assert images.shape[0] > 0, (name, split)


def test_folder_missing_an_archive_exits_1(tmp_path):
  root = _write_all(tmp_path / "data")
  (root / "cifar10" / cifar10_files.TEST_FILE).unlink()
  result = _run(f"--data_dir={root}")
  assert result.returncode == 1, result.stdout + result.stderr
  lines = _lines(result.stdout)
  status, text = lines["cifar10"]
  assert status == "missing"
  assert "test: expected test_batch in one of" in text
  assert "cifar-10-python.tar.gz" in text  # Where it comes from,
  assert "tfds build cifar10" in text  # or how to prepare it.
  assert "train: data_batch_1" in text  # The split that is there.
  assert all(lines[d][0] == "ok" for d in ("omniglot", "mnist", "imagenet64"))


def test_datasets_flag_selects_lines(tmp_path):
  root = tmp_path / "data"
  _write_mnist(root / "mnist")
  result = _run(f"--data_dir={root}", "--datasets=mnist")
  assert result.returncode == 0, result.stdout + result.stderr
  assert list(_lines(result.stdout)) == ["mnist"]
  result = _run(f"--data_dir={root}", "--datasets=mnist,cifar10")
  assert result.returncode == 1
  assert _lines(result.stdout)["cifar10"][0] == "missing"


def test_user_errors_exit_2(tmp_path):
  result = _run(f"--data_dir={tmp_path}", "--datasets=mnist,svhn")
  assert result.returncode == 2
  assert "unknown datasets ['svhn']" in result.stderr
  result = _run(f"--data_dir={tmp_path / 'absent'}")
  assert result.returncode == 2
  assert "is not a folder" in result.stderr
  result = _run()
  assert result.returncode != 0 and "data_dir" in result.stderr


# ----------------------------------------------------------------------------
# Each dataset, through the functions.


@pytest.mark.parametrize("name, remove, expected", [
    ("omniglot", "omniglot/images_background_small1.zip",
     "images_background.zip and images_evaluation.zip"),
    ("mnist", "mnist/t10k-labels-idx1-ubyte.gz",
     "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz"),
    ("cifar10", "cifar10/data_batch_1", "train: expected data_batch_1 ... "
     "data_batch_5"),
    ("imagenet64", "tinyimagenet64/tinyimagenet_val_1000.npz",
     "tinyimagenet_val_1000.npz"),
])
def test_each_missing_file_is_named(tmp_path, name, remove, expected):
  root = _write_all(tmp_path)
  assert _status(name, root).status == "ok"
  (root / remove).unlink()
  check = _status(name, root)
  assert check.status == "missing", check
  assert expected in check.text
  assert str(root / name.replace("imagenet64", "tinyimagenet64")) in check.text
  assert check_data.build_command(name, str(root)) in check.text


def test_files_in_known_subfolders_or_at_the_top(tmp_path):
  _write_cifar10(tmp_path / "cifar-10-batches-py")  # The tarball's folder.
  _write_mnist(tmp_path / "MNIST" / "raw")  # torchvision's layout.
  _write_imagenet64(tmp_path)  # data_dir itself.
  for name in ("cifar10", "mnist", "imagenet64"):
    assert _status(name, tmp_path).status == "ok", name
  assert "cifar-10-batches-py" in _status("cifar10", tmp_path).text


@pytest.mark.parametrize("name, path", [
    ("omniglot", "omniglot/images_background_small1.zip"),
    ("mnist", "mnist/t10k-images-idx3-ubyte.gz"),
    ("cifar10", "cifar10/test_batch"),
    ("imagenet64", "tinyimagenet64/tinyimagenet_val_1000.npz"),
])
def test_corrupt_file_is_unreadable(tmp_path, name, path):
  root = _write_all(tmp_path)
  data = (root / path).read_bytes()
  (root / path).write_bytes(data[:len(data) // 2])  # Truncated.
  check = _status(name, root)
  assert check.status == "unreadable", check
  assert pathlib.Path(path).name in check.text


def test_lfs_pointer_is_unreadable(tmp_path):
  """A Git LFS pointer in place of the archive is not data."""
  _write_cifar10(tmp_path / "cifar10")
  (tmp_path / "cifar10" / "test_batch").write_text(
      "version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 9\n")
  assert _status("cifar10", tmp_path).status == "unreadable"


def test_omniglot_without_a_test_split(tmp_path):
  folder = tmp_path / "omniglot"
  folder.mkdir()
  with zipfile.ZipFile(folder / "images_background.zip", "w") as zf:
    zf.writestr("images_background/Latin/character01/0001_01.png", _png())
  check = _status("omniglot", tmp_path)
  assert check.status == "missing", check
  assert "images_evaluation.zip" in check.text


def test_mnist_train_split_is_reported_when_present(tmp_path):
  _write_mnist(tmp_path / "mnist", "test")
  _write_mnist(tmp_path / "mnist", "train")
  check = _status("mnist", tmp_path)
  assert check.status == "ok"
  assert "train: train-images-idx3-ubyte.gz" in check.text


def test_unknown_dataset_and_folder(tmp_path):
  with pytest.raises(ValueError, match="unknown datasets"):
    check_data.check_all(str(tmp_path), ["mnist", "svhn"])
  with pytest.raises(NotADirectoryError):
    check_data.check_all(str(tmp_path / "absent"), ["mnist"])


# ----------------------------------------------------------------------------
# tensorflow-datasets folders (laid out as `tfds build` leaves them; the shard
# files are empty: the check does not open them).


def _fake_tfds(data_dir: pathlib.Path, name: str, splits, file_format):
  tfds = pytest.importorskip("tensorflow_datasets")
  from tensorflow_datasets.core import naming  # pylint: disable=g-import-not-at-top
  builder = tfds.builder(name, data_dir=str(data_dir), file_format=file_format)
  path = pathlib.Path(str(builder.data_path))
  path.mkdir(parents=True, exist_ok=True)
  template = naming.ShardedFileTemplate(
      data_dir=builder.data_path, dataset_name=builder.name,
      filetype_suffix=builder.info.file_format.file_suffix)
  infos = [tfds.core.SplitInfo(name=s, shard_lengths=[3], num_bytes=0,
                               filename_template=template.replace(split=s))
           for s in splits]
  builder.info.set_splits(tfds.core.SplitDict(infos))
  builder.info.write_to_directory(builder.data_path)
  for info in infos:
    for p in info.filepaths:
      pathlib.Path(str(p)).touch()
  return path


def test_prepared_tfds_folder_is_ok(tmp_path):
  path = _fake_tfds(tmp_path, "mnist", ["test"], "array_record")
  check = _status("mnist", tmp_path)
  assert check.status == "ok", check
  assert f"test: tfds mnist {path.name} in {path} (test 3 examples)" in check.text
  info = json.loads((path / "dataset_info.json").read_text())
  assert info["fileFormat"] == "array_record"


def test_tfds_split_names_follow_the_loader(tmp_path):
  # Our ImageNet "test" is tfds's "validation".
  _fake_tfds(tmp_path, "imagenet_resized/64x64", ["train", "validation"],
             "array_record")
  check = _status("imagenet64", tmp_path)
  assert check.status == "ok", check
  assert "train 3, validation 3 examples" in check.text


def test_tfds_folder_problems(tmp_path):
  path = _fake_tfds(tmp_path / "a", "cifar10", ["train", "test"], "tfrecord")
  check = _status("cifar10", tmp_path / "a")
  assert check.status == "unreadable", check
  assert "tfrecord" in check.text and "--file_format=array_record" in check.text
  path = _fake_tfds(tmp_path / "b", "cifar10", ["train"], "array_record")
  check = _status("cifar10", tmp_path / "b")
  assert check.status == "unreadable" and "no split 'test'" in check.text
  next(path.glob("*train.array_record*")).unlink()
  assert "lacks" in _status("cifar10", tmp_path / "b").text
  old = tmp_path / "c" / "cifar10" / "1.0.0"
  old.mkdir(parents=True)
  (old / "dataset_info.json").write_text("{}")
  check = _status("cifar10", tmp_path / "c")
  assert check.status == "unreadable"
  assert "no prepared version" in check.text and "1.0.0" in check.text


def test_folder_named_like_a_tfds_dataset_holds_files(tmp_path):
  """DATA_DIR/mnist of IDX files is not mistaken for a tfds folder."""
  _write_mnist(tmp_path / "mnist")
  check = _status("mnist", tmp_path)
  assert check.status == "ok", check
  assert check.text.startswith("test: t10k-images-idx3-ubyte.gz, "
                               "t10k-labels-idx1-ubyte.gz in ")
  assert "tfds folder" not in check.text


# ----------------------------------------------------------------------------
# The real data.


def _held(name: str, root: pathlib.Path) -> bool:
  """Whether `root` holds anything meant for `name` (files or tfds)."""
  subfolders = image_data.SPECS[name].subfolders
  return (any((root / s).exists() for s in subfolders) or
          (root / check_data.tfds_name(name)).exists())


def test_real_data_dir_is_ok(data_dir):
  held = [d for d in image_data.DATASETS if _held(d, data_dir)]
  assert held, f"{data_dir} holds none of {image_data.DATASETS}"
  result = _run(f"--data_dir={data_dir}", f"--datasets={','.join(held)}")
  assert result.returncode == 0, result.stdout + result.stderr
  lines = _lines(result.stdout)
  assert list(lines) == held
  for name in held:
    assert lines[name][0] == "ok", (name, lines[name])
