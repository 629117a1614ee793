"""Reader for the original Omniglot zip archives (Lake et al., 2015).

Archives are `images_background*.zip` and `images_evaluation*.zip`, laid out as
`<root>/<Alphabet>/characterNN/<id>_<drawer>.png`, each PNG 105x105 with
ink = 0 (black). `<id>` is the 1-based character number over the whole
Omniglot set (1..1623), so `id - 1` is a character label unique across
alphabets, the same as tfds's `omniglot` `label` feature.

The same image may be in several archives (the offline `images_background_
small1.zip` and `..._small2.zip` both hold Greek and Latin); it is kept once,
identified by its path below the archive root.

Only decoding lives here; resizing and binarization are in
`ebmm_jax.data.images`.
"""
import dataclasses
import io
import pathlib
import re
import zipfile
from typing import Dict, List, Sequence, Tuple

import numpy as np

BACKGROUND_GLOB = "images_background*.zip"
EVALUATION_GLOB = "images_evaluation*.zip"
IMAGE_SIZE = 105
# Held out for testing when no images_evaluation archive is present (e.g. the
# offline 8-alphabet copy): 57 characters, 1,140 images, about a quarter.
HELD_OUT_ALPHABETS = ("Korean", "Tagalog")
# Held out of the train alphabets for validation: every choice (recipe,
# hyperparameter, checkpoint, model) is made on them, never on the test
# alphabets, which only report. Those of them among a split's train
# alphabets are its validation alphabets: on the offline copy Early_Aramaic
# (22 characters, 440 images), with the full background archive all five
# (5 of its 30 alphabets).
VALIDATION_ALPHABETS = ("Early_Aramaic", "Bengali", "Futurama", "Hebrew", "Tifinagh")

_MEMBER = re.compile(r"[^/]+/([^/]+)/(character\d+)/(\d+)_(\d+)\.png")


@dataclasses.dataclass(frozen=True)
class _Member:
  archive: pathlib.Path
  name: str  # Path inside the archive.
  alphabet: str
  character: str  # "characterNN", the folder name.
  label: int  # Global character id - 1.
  evaluation: bool  # From an images_evaluation archive.


def find_archives(folder: pathlib.Path) -> List[pathlib.Path]:
  """Omniglot archives in `folder`: background ones first, then evaluation."""
  folder = pathlib.Path(folder)
  if not folder.is_dir():
    return []
  return (sorted(folder.glob(BACKGROUND_GLOB)) +
          sorted(folder.glob(EVALUATION_GLOB)))


def _missing_error(folder: pathlib.Path) -> FileNotFoundError:
  return FileNotFoundError(
      f"expected Omniglot zip archives {BACKGROUND_GLOB} (and optionally "
      f"{EVALUATION_GLOB}) in {folder}.")


def _scan(folder: pathlib.Path) -> List[_Member]:
  """Lists the distinct PNG members of all archives, without decoding."""
  archives = find_archives(folder)
  if not archives:
    raise _missing_error(folder)
  members: Dict[str, _Member] = {}
  for archive in archives:
    try:
      with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as e:
      raise ValueError(f"{archive}: not a readable zip archive ({e}); "
                       "expected an original Omniglot archive.") from e
    evaluation = archive.match(EVALUATION_GLOB)
    for name in names:
      match = _MEMBER.fullmatch(name)
      if match is None:
        continue  # Folder entries, or files that are not character drawings.
      alphabet, character, char_id, drawer = match.groups()
      key = f"{alphabet}/{character}/{char_id}_{drawer}"
      # First archive wins: background is scanned before evaluation.
      members.setdefault(key, _Member(archive, name, alphabet, character,
                                      int(char_id) - 1, evaluation))
  if not members:
    raise ValueError(f"no <root>/<Alphabet>/characterNN/<id>_<drawer>.png "
                     f"members in {[str(a) for a in archives]}.")
  # Labels must identify characters one-to-one, else correlated batches
  # (Appendix A.7) would mix characters.
  folders: Dict[int, Tuple[str, str]] = {}
  for m in members.values():
    where = folders.setdefault(m.label, (m.alphabet, m.character))
    if where != (m.alphabet, m.character):
      raise ValueError(f"character id {m.label + 1} is used by both "
                       f"{where[0]}/{where[1]} and {m.alphabet}/{m.character}"
                       f" in {folder}; the archives are inconsistent.")
  return [members[k] for k in sorted(members)]


def list_alphabets(folder: pathlib.Path) -> Dict[str, bool]:
  """Alphabet name -> True if it comes from an images_evaluation archive."""
  result: Dict[str, bool] = {}
  for m in _scan(pathlib.Path(folder)):
    result[m.alphabet] = m.evaluation
  return dict(sorted(result.items()))


def default_alphabet_split(
    folder: pathlib.Path) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
  """(train alphabets, test alphabets) of the archives in `folder`.

  With an images_evaluation archive present this is the canonical split of
  Lake et al. (background alphabets train, evaluation alphabets test), the
  "canonical train split" of Section 4. Otherwise the alphabets in
  `HELD_OUT_ALPHABETS` are test and all others train; on the offline copy
  that is train = Balinese, Early_Aramaic, Greek, Japanese_(katakana), Latin,
  Sanskrit (3,700 images) and test = Korean, Tagalog (1,140 images).

  Raises:
    ValueError: if there is no evaluation archive and none of the held-out
      alphabets, so that no split can be made without an explicit list.
  """
  alphabets = list_alphabets(folder)
  if any(alphabets.values()):
    return (tuple(a for a, ev in alphabets.items() if not ev),
            tuple(a for a, ev in alphabets.items() if ev))
  test = tuple(a for a in alphabets if a in HELD_OUT_ALPHABETS)
  train = tuple(a for a in alphabets if a not in HELD_OUT_ALPHABETS)
  if not test or not train:
    raise ValueError(
        f"cannot make a default train/test alphabet split of {folder}: no "
        f"{EVALUATION_GLOB} archive and the alphabets {list(alphabets)} do "
        f"not both include and exceed {list(HELD_OUT_ALPHABETS)}; pass the "
        "alphabets explicitly.")
  return train, test


def hold_out_validation(
    train: Sequence[str]) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
  """(train alphabets without the validation ones, validation alphabets):
  `VALIDATION_ALPHABETS` among `train` (none present: `train`, ())."""
  validation = tuple(a for a in train if a in VALIDATION_ALPHABETS)
  return tuple(a for a in train if a not in validation), validation


def _decode_png(data: bytes, where: str) -> np.ndarray:
  """PNG bytes -> uint8 ink [105, 105] (255 = ink; the PNGs draw ink black)."""
  # Pillow comes with matplotlib, a project dependency; imported here so the
  # other readers do not need it.
  # pylint: disable-next=g-import-not-at-top
  from PIL import Image, UnidentifiedImageError
  try:
    with Image.open(io.BytesIO(data)) as image:
      if image.mode == "1":  # The originals: 1-bit, read without converting.
        gray = np.where(np.asarray(image), 255, 0).astype(np.uint8)
      else:
        gray = np.asarray(image.convert("L"), dtype=np.uint8)
  except (UnidentifiedImageError, OSError, ValueError) as e:
    raise ValueError(f"{where}: not a readable PNG ({e}).") from e
  if gray.shape != (IMAGE_SIZE, IMAGE_SIZE):
    raise ValueError(f"{where}: expected a {IMAGE_SIZE}x{IMAGE_SIZE} image, "
                     f"got {gray.shape}.")
  return 255 - gray


def read_omniglot(
    folder: pathlib.Path
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Decodes every distinct image of the archives in `folder`.

  Images are ordered by alphabet, character and drawer, independent of the
  order or number of archives.

  Returns:
    ink: uint8 [N, 105, 105], 255 where the stroke is.
    labels: int32 [N], global character id - 1 (unique across alphabets).
    alphabets: str [N], the alphabet name of each image.

  Raises:
    FileNotFoundError: if `folder` holds no Omniglot archive.
    ValueError: naming the archive (and member) if one is corrupt.
  """
  folder = pathlib.Path(folder)
  members = _scan(folder)
  ink = np.empty((len(members), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
  by_archive: Dict[pathlib.Path, List[int]] = {}
  for i, m in enumerate(members):
    by_archive.setdefault(m.archive, []).append(i)
  for archive, indices in by_archive.items():
    try:
      with zipfile.ZipFile(archive) as zf:
        for i in indices:
          where = f"{archive}:{members[i].name}"
          ink[i] = _decode_png(zf.read(members[i].name), where)
    except (zipfile.BadZipFile, EOFError, OSError) as e:
      raise ValueError(f"{archive}: corrupt zip archive ({e}); expected an "
                       "original Omniglot archive.") from e
  labels = np.array([m.label for m in members], np.int32)
  alphabets = np.array([m.alphabet for m in members])
  return ink, labels, alphabets


def select_alphabets(alphabets: np.ndarray, wanted: Sequence[str],
                     available: Sequence[str]) -> np.ndarray:
  """Boolean [N] of images in `wanted` alphabets; unknown names raise."""
  if isinstance(wanted, str):
    raise TypeError(f"alphabets must be a sequence of names, got the string "
                    f"{wanted!r}.")
  unknown = sorted(set(wanted) - set(available))
  if unknown:
    raise ValueError(f"unknown Omniglot alphabets {unknown}; available: "
                     f"{sorted(available)}.")
  return np.isin(alphabets, list(wanted))
