"""What the Table 1 baseline configs share (Appendix A.2, docs/protocols.md).

A baseline config is the base config (`configs/base.py`: data, optim, train,
eval) without EBMM's `energy` and `memory` sections, plus a `model` section
naming the baseline (`model.name`, `ebmm_jax.setups.registry`) and its
sizes. Every baseline config takes the same variants after the colon:

  runlocal  seconds-scale smoke run (N = 16, small model, 20 steps).
  cpu       a 3-minute CPU budget per run, AdamW 3e-3 instead of the paper's
            5e-5 (as `configs/binary.py:cpu` does for EBMM).
  n=K       store K patterns per memory (default 64).
"""
from typing import Callable, Dict, Mapping, Optional

import ml_collections

from ebmm_jax.configs import base

PATTERN_DIM = 128
# Appendix A.2: 128 * (128 - 1) / 2 + 128 floats, the Hopfield network's.
MEMORY_BUDGET = PATTERN_DIM * (PATTERN_DIM - 1) // 2 + PATTERN_DIM


def baseline_config(name: str) -> ml_collections.ConfigDict:
  """The base config for baseline `name`, binary strings, N = 64."""
  c = base.get_base_config()
  del c["energy"]  # EBMM's energy and writing/reading options: not used.
  del c["memory"]
  c.model = ml_collections.ConfigDict()
  c.model.name = name  # A key of ebmm_jax.setups.registry.MODELS.
  c.model.loss = "cross_entropy"  # Meta-loss: "cross_entropy" of the replaced bits, or "squared" (Eq. 2).
  c.data.name = "binary_strings"
  c.data.pattern_dim = PATTERN_DIM
  c.data.num_patterns = 64
  return c


def apply_variants(c: ml_collections.ConfigDict, arg: str, filename: str,
                   runlocal: Mapping[str, object],
                   extra: Optional[Dict[str, Callable[[ml_collections.ConfigDict], None]]] = None
                   ) -> ml_collections.ConfigDict:
  """Applies the comma-separated variants of `arg` and locks the config.

  Args:
    runlocal: `model` fields of the seconds-scale variant.
    extra: the config file's own variants, name -> function editing `c`.
  """
  def runlocal_variant(c):
    base.runlocal(c)
    c.data.num_patterns = 16
    for field, value in runlocal.items():
      c.model[field] = value

  return base.apply_variants(
      c, arg, filename, {"runlocal": runlocal_variant, "cpu": cpu, **(extra or {})},
      {"n": base.integer("data", "num_patterns")})


def cpu(c: ml_collections.ConfigDict) -> None:
  """Table 1's CPU budget for a baseline: AdamW 3e-3, 180 s."""
  c.optim.learning_rate = 3e-3
  c.train.max_seconds = 180.0
  c.train.log_every = 25
  c.train.checkpoint_every_secs = 60.0
