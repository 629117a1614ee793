r"""LSTM (Hochreiter & Schmidhuber, 1997) on random binary strings (Table 1).

The patterns are fed one after another; the state (h, c) is the memory
(`ebmm_jax/baselines/lstm.py`). H = 4,128: 2 x 4,128 = 8,256 floats, Appendix
A.2's budget; its gate matrix has 70.3 M weights (Appendix A.1: the paper's
LSTM failed to train because of it): a meta-step takes 7-10 s on this
project's 2-core CPU (RESULTS.md). N = 64, AdamW 5e-5 (Appendix A).

  python -m experiments.train --config=configs/lstm.py:cpu,n=64 --workdir=runs/lstm_n64
  python -m experiments.train --config=configs/lstm.py:small,cpu,n=64 --workdir=runs/lstm_small_n64

Variants (comma-separated): runlocal, cpu, n=K (configs/table1_baselines.py),
  small  H = 512, a 1,024-float state: NOT the budget, a trainable reference.
Expected: the paper reports 30 / 58 / 63 / 64 / 64 error bits at
N = 16 / 32 / 48 / 64 / 96. Of the 64 replaced bits a random guess gets 32
wrong; 64 is every one of them wrong (or undecided: sign(0) counts as wrong).
"""
import ml_collections

from ebmm_jax.configs import table1_baselines


def _small(c: ml_collections.ConfigDict) -> None:
  c.model.hidden_size = 512


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = table1_baselines.baseline_config("lstm")
  c.model.hidden_size = 4128  # H: the memory is h and c, 2H floats.
  c.eval.batches_per_call = 10  # Memories per evaluation call (~5 s each on 2 CPU cores).
  return table1_baselines.apply_variants(
      c, arg, "configs/lstm.py", runlocal=dict(hidden_size=64), extra={"small": _small})
