r"""MANN (Santoro et al., 2016) on random binary strings (Table 1).

An LSTM controller (H = 64) with a content-based read head and a
least-recently-used write head over M [61, 128] (`ebmm_jax/baselines/mann.py`).
Writable state: M, usage, read weights, read vector and controller state,
7,808 + 61 + 61 + 128 + 128 = 8,186 floats (budget 8,256, Appendix A.2);
N = 64, AdamW 5e-5 (Appendix A).

  python -m experiments.train --config=configs/mann.py:cpu,n=64 --workdir=runs/mann_n64

Variants (comma-separated): runlocal, cpu, n=K (configs/table1_baselines.py).
Expected: the paper reports 0.1 / 0.2 / 1.8 / 4.25 / 9.6 error bits at
N = 16 / 32 / 48 / 64 / 96; RESULTS.md has what 3 CPU minutes per N reach.
"""
import ml_collections

from ebmm_jax.configs import table1_baselines


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = table1_baselines.baseline_config("mann")
  c.model.slots = 61  # R: memory rows.
  c.model.word_size = 128  # W: memory width.
  c.model.controller_size = 64  # H: LSTM controller.
  return table1_baselines.apply_variants(
      c, arg, "configs/mann.py", runlocal=dict(slots=16, word_size=32, controller_size=16))
