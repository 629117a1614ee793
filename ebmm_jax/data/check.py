"""Does a data folder hold what the image loaders need? One `Check` per
dataset, asked of the loaders themselves (`ebmm_jax.data`): the same file
names and folders, the same readers, and the same choice as
`data.source="auto"` (a split without original files is read from a tfds
dataset prepared in the folder). The command is `experiments/check_data.py`
(`ebmm-check-data`); docs/data.md says how to get the files. What each
dataset needs (its splits, tfds name, where its files come from) is its
`ebmm_jax.data.images.SPECS` entry.
"""
import pathlib
from typing import Callable, List, NamedTuple, Sequence

from ebmm_jax.data import cifar10 as cifar10_files
from ebmm_jax.data import imagenet64 as imagenet64_files
from ebmm_jax.data import images as images_lib
from ebmm_jax.data import mnist as mnist_files
from ebmm_jax.data import omniglot as omniglot_files

OK, MISSING, UNREADABLE = "ok", "missing", "unreadable"
# The canonical Omniglot archives (the loader takes any name its globs match).
OMNIGLOT_ARCHIVES = (omniglot_files.BACKGROUND_GLOB.replace("*", ""),
                     omniglot_files.EVALUATION_GLOB.replace("*", ""))


class Check(NamedTuple):
  status: str  # OK, MISSING or UNREADABLE.
  text: str


def tfds_name(name: str) -> str:
  return images_lib.SPECS[name].tfds_name


def tfds_split(name: str, split: str) -> str:
  return images_lib.SPECS[name].tfds_splits.get(split, split)


def build_command(name: str, data_dir: str = "DATA_DIR") -> str:
  """The command that prepares `name` for the loaders (it needs TensorFlow)."""
  return (f"`tfds build {tfds_name(name)} --data_dir={data_dir} "
          "--file_format=array_record`")


def _find_folder(name: str, data_dir: pathlib.Path,
                 has_files: Callable[[pathlib.Path], bool]):
  return images_lib._find_folder(name, data_dir, has_files)  # pylint: disable=protected-access


def _searched(name: str, data_dir: pathlib.Path) -> str:
  return images_lib._searched(name, data_dir)  # pylint: disable=protected-access


def _one_line(error: Exception) -> str:
  return " ".join(str(error).split()) or type(error).__name__


# ----------------------------------------------------------------------------
# tensorflow-datasets folders.


def check_tfds(name: str, splits: Sequence[str],
               data_dir: pathlib.Path) -> Check | None:
  """The tfds dataset of `name` prepared in `data_dir`; None if none is there.

  Usable means what `tfds.data_source` needs: the version the installed
  tensorflow_datasets reads, prepared in a random-access file format, with
  the shard files of every split in `splits` (our split names).
  """
  tfds_dir = data_dir / tfds_name(name)
  # A prepared version is tfds_dir/<version>/dataset_info.json. (A folder of
  # that name alone may be the original files: DATA_DIR/mnist, ...)
  if not tfds_dir.is_dir() or not list(tfds_dir.glob("*/dataset_info.json")):
    return None
  fix = f"prepare it with {build_command(name, str(data_dir))}"
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    from tensorflow_datasets.core import file_adapters  # pylint: disable=g-import-not-at-top
  except ImportError:
    return Check(UNREADABLE, f"tfds folder {tfds_dir} found, but "
                 "tensorflow_datasets is not installed (pip install "
                 "'ebmm-jax[images]')")
  try:
    builder = tfds.builder(tfds_name(name), data_dir=str(data_dir))
  except Exception as e:  # pylint: disable=broad-except
    return Check(UNREADABLE, f"tfds folder {tfds_dir}: {_one_line(e)}; {fix}")
  where = pathlib.Path(str(builder.data_path))
  if not builder.is_prepared():
    found = sorted(p.relative_to(tfds_dir).as_posix()
                   for p in tfds_dir.rglob("dataset_info.json"))
    return Check(UNREADABLE, f"tfds folder {tfds_dir} has no prepared "
                 f"version {builder.version} (the one the installed "
                 f"tensorflow_datasets reads; found: {found or 'none'}); {fix}")
  formats = builder.info.available_file_formats()
  if not formats & file_adapters.FileFormat.with_random_access():
    names = sorted(f.value for f in formats) or ["none recorded"]
    return Check(UNREADABLE, f"tfds dataset in {where} is stored as "
                 f"{', '.join(names)}, which tfds.data_source (what the "
                 f"loaders read with) cannot read; {fix}")
  parts = []
  for split in splits:
    tsplit = tfds_split(name, split)
    if tsplit not in builder.info.splits:
      return Check(UNREADABLE, f"tfds dataset in {where} has no split "
                   f"{tsplit!r} (has {sorted(builder.info.splits)}); {fix}")
    info = builder.info.splits[tsplit]
    absent = [p.name for p in map(pathlib.Path, map(str, info.filepaths))
              if not p.is_file()]
    if absent:
      return Check(UNREADABLE, f"tfds dataset in {where}: split {tsplit!r} "
                   f"lacks {', '.join(absent)}; {fix}")
    parts.append(f"{tsplit} {info.num_examples:,}")
  return Check(OK, f"tfds {tfds_name(name)} {builder.version} in {where} "
               f"({', '.join(parts)} examples)")


# ----------------------------------------------------------------------------
# Original files, split by split.


def _missing(name: str, split: str | None, expected: str,
             data_dir: pathlib.Path) -> Check:
  what = f"{split}: " if split else ""
  return Check(MISSING, f"{what}expected {expected} in one of "
               f"{_searched(name, data_dir)}")


def how_to_get(name: str, data_dir: str = "DATA_DIR") -> str:
  """Where the files of `name` come from, and the tfds alternative."""
  return (f"files: {images_lib.SPECS[name].origin}; or a tfds folder: "
          f"{build_command(name, data_dir)}")


def _split_or_tfds(name: str, split: str, data_dir: pathlib.Path,
                   from_files: Callable[[], Check | None],
                   expected: str) -> Check:
  """`from_files()` if the split has original files, else tfds, else missing."""
  found = from_files()
  if found is not None:
    return found
  tfds_check = check_tfds(name, [split], data_dir)
  if tfds_check is not None:
    return Check(tfds_check.status, f"{split}: {tfds_check.text}")
  return _missing(name, split, expected, data_dir)


def check_omniglot(data_dir: pathlib.Path) -> List[Check]:
  folder = _find_folder("omniglot", data_dir,
                        lambda f: bool(omniglot_files.find_archives(f)))
  expected = (f"{' and '.join(OMNIGLOT_ARCHIVES)} (any "
              f"{omniglot_files.BACKGROUND_GLOB} / "
              f"{omniglot_files.EVALUATION_GLOB})")
  if folder is None:
    tfds_check = check_tfds("omniglot", images_lib.SPECS["omniglot"].needed_splits,
                            data_dir)
    return [tfds_check or _missing("omniglot", None, expected, data_dir)]
  archives = ", ".join(p.name for p in omniglot_files.find_archives(folder))
  try:
    omniglot_files.list_alphabets(folder)  # Opens every archive.
  except ValueError as e:
    return [Check(UNREADABLE, _one_line(e))]
  try:
    train, test = omniglot_files.default_alphabet_split(folder)
  except ValueError as e:  # No evaluation archive, no held-out alphabet.
    return [Check(MISSING, f"{archives} in {folder}: {_one_line(e)} (or add "
                  f"{OMNIGLOT_ARCHIVES[1]})")]
  if not train:  # Only evaluation archives.
    return [Check(MISSING, f"{archives} in {folder} hold no train "
                  f"alphabets: expected {OMNIGLOT_ARCHIVES[0]} as well")]
  train, validation = omniglot_files.hold_out_validation(train)
  held_out = (f"{len(validation)} validation alphabets: {', '.join(validation)}; "
              if validation else "no validation alphabet; ")
  return [Check(OK, f"{archives} in {folder} ({len(train)} train alphabets; "
                f"{held_out}{len(test)} test alphabets: {', '.join(test)})")]


def _check_split_files(name: str, data_dir: pathlib.Path, split: str, find, read,
                       expected, note=lambda paths: "") -> Check:
  """A split of `name` read from its original files (`find(folder, split)` ->
  paths, `read(folder, split)` -> (images, labels), `expected(split)` -> their
  names), or from tfds."""

  def from_files():
    folder = _find_folder(name, data_dir, lambda f: bool(find(f, split)))
    if folder is None:
      return None
    paths = find(folder, split)
    names = ", ".join(p.name for p in paths) + note(paths)
    try:
      images, _ = read(folder, split)
    except ValueError as e:
      return Check(UNREADABLE, f"{split}: {_one_line(e)}")
    return Check(OK, f"{split}: {names} in {folder} ({images.shape[0]:,} images)")

  return _split_or_tfds(name, split, data_dir, from_files, expected(split))


def check_mnist(data_dir: pathlib.Path, split: str) -> Check:
  return _check_split_files("mnist", data_dir, split, mnist_files.find_files,
                            mnist_files.read_mnist, mnist_files.expected_files)


def check_cifar10(data_dir: pathlib.Path, split: str) -> Check:
  total = len(cifar10_files.TRAIN_FILES)

  def note(paths):
    if split == "train" and len(paths) < total:
      return f" ({len(paths)} of {total} official batches)"
    return ""

  return _check_split_files("cifar10", data_dir, split, cifar10_files.find_files,
                            cifar10_files.read_cifar10, cifar10_files.expected_files,
                            note)


def check_imagenet64(data_dir: pathlib.Path) -> List[Check]:
  folder = _find_folder("imagenet64", data_dir,
                        lambda f: imagenet64_files.find_file(f) is not None)
  if folder is not None:
    path = imagenet64_files.find_file(folder)
    try:
      _, labels = imagenet64_files.read_npz(path)
    except ValueError as e:
      return [Check(UNREADABLE, _one_line(e))]
    train, validation, test = (int(imagenet64_files.split_mask(labels, s).sum())
                               for s in ("train", "validation", "test"))
    return [Check(OK, f"{path.name} in {folder} (the offline stand-in: "
                  f"train {train:,}, validation {validation:,}, test {test:,} images)")]
  tfds_check = check_tfds("imagenet64", images_lib.SPECS["imagenet64"].needed_splits,
                          data_dir)
  return [tfds_check or _missing("imagenet64", None,
                                 imagenet64_files.STANDIN_FILE, data_dir)]


def check_with_reader(spec: images_lib.DatasetSpec,
                      data_dir: pathlib.Path) -> List[Check]:
  """Any dataset: each of its needed splits read through its reader, as
  `data.source="auto"` reads it (for a dataset without a check of its own in
  `CHECKS`)."""
  checks = []
  for split in spec.needed_splits:
    try:
      images = spec.reader(data_dir, split, source="auto")[0]
    except FileNotFoundError as e:
      checks.append(Check(MISSING, f"{split}: {_one_line(e)}"))
    except (ValueError, ImportError) as e:
      checks.append(Check(UNREADABLE, f"{split}: {_one_line(e)}"))
    else:
      checks.append(Check(OK, f"{split}: {images.shape[0]:,} images"))
  return checks


def _split_by_split(check_split: Callable[[pathlib.Path, str], Check]):
  """The check of a dataset whose files come split by split: every needed
  split must be usable; its other file splits are reported when present."""
  def check(spec, data_dir):
    checks = [check_split(data_dir, s) for s in spec.needed_splits]
    for split in [s for s in images_lib.FILE_SPLITS if s not in spec.needed_splits]:
      found = check_split(data_dir, split)  # Reported when present, never required.
      checks.append(Check(OK, found.text + " (not needed)" if found.status == OK
                          else f"{split}: not found (not needed)"))
    return checks
  return check


# The datasets whose check names their files (and Omniglot's alphabets, the
# stand-in's splits), spec, data_dir -> checks; any other dataset of
# `images.SPECS` is checked through its reader (`check_with_reader`).
CHECKS = {
    "omniglot": lambda spec, data_dir: check_omniglot(data_dir),
    "mnist": _split_by_split(check_mnist),
    "cifar10": _split_by_split(check_cifar10),
    "imagenet64": lambda spec, data_dir: check_imagenet64(data_dir),
}


def check_dataset(name: str, data_dir: pathlib.Path) -> Check:
  """One dataset: OK when every split of its `needed_splits` is usable."""
  spec = images_lib.SPECS[name]
  checks = CHECKS.get(name, check_with_reader)(spec, data_dir)
  bad = [c for c in checks if c.status != OK]
  status = OK if not bad else (
      UNREADABLE if any(c.status == UNREADABLE for c in bad) else MISSING)
  text = "; ".join(c.text for c in checks)
  if any(c.status == MISSING for c in bad):
    text += f" -- {how_to_get(name, str(data_dir))}"
  return Check(status, text)


def check_all(data_dir: str, datasets: Sequence[str]) -> List[Check]:
  unknown = [d for d in datasets if d not in images_lib.DATASETS]
  if unknown:
    raise ValueError(f"unknown datasets {unknown}; valid: "
                     f"{list(images_lib.DATASETS)}.")
  root = pathlib.Path(data_dir)
  if not root.is_dir():
    raise NotADirectoryError(f"--data_dir={data_dir} is not a folder.")
  return [check_dataset(d, root) for d in datasets]
