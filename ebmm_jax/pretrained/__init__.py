"""Trained memories shipped with the package: one folder each (config.json,
meta_params.npz, evaluation.json), loaded by `ebmm_jax.api.Memory.pretrained`
and usable as a starting point for training (`train.init_from=omniglot-n4`)."""
import os
from typing import Optional

# "binary": one memory for every N from 1 to 96 (`configs/binary.py:cpu,all_n`,
# after four legs of its training, 227 CPU minutes; docs/pretrained.md).
# "binary-stream": 64 strings as 4 chunks of 16, each chunk superposed on the
# forgotten memory (`configs/binary_stream.py`, `memory.stream_composition=
# "superposed"`); its forgetting curve is in evaluation.json.
NAMES = ("binary", "binary-n16", "binary-n64", "omniglot-n4", "omniglot-n64", "binary-stream")
CONFIG_FILE = "config.json"
PARAMS_FILE = "meta_params.npz"


def directory(name: str) -> str:
  """The folder of the shipped memory `name`; ValueError for an unknown name."""
  if name not in NAMES:
    raise ValueError(f"No pretrained memory {name!r}; known: {', '.join(NAMES)}.")
  return os.path.join(os.path.dirname(os.path.abspath(__file__)), name)


def saved_params(source: str) -> Optional[str]:
  """The meta-parameter file of `source` if it names a shipped memory or a
  folder saved by `Memory.save`; None otherwise (e.g. a training workdir)."""
  folder = directory(source) if source in NAMES else source
  path = os.path.join(folder, PARAMS_FILE)
  return path if os.path.isfile(path) else None
