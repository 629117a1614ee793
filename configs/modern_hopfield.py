r"""A modern Hopfield network (Ramsauer et al., 2020) on random binary strings.

Not trained: it stores up to 64 patterns verbatim, 64 x (128 + 1) = 8,256
floats with the occupancy flags (Appendix A.2's budget), and retrieves in one
softmax step whose inverse temperature β is tuned on training batches
(`ebmm_jax/baselines/modern_hopfield.py`). Table 1 prints it by default:

  python -m experiments.evaluate                 # tunes β per N, then evaluates

Variants (comma-separated): runlocal, cpu, n=K (configs/table1_baselines.py;
only n=K matters here). Expected: 0 error bits while N <= 64, about 10.7 at
N = 96 (32 of 96 patterns overwritten).
"""
import ml_collections

from ebmm_jax.configs import table1_baselines


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = table1_baselines.baseline_config("modern_hopfield")
  c.model.capacity = 64  # C: patterns stored; the last C written are kept.
  c.model.beta = 1.0  # Inverse temperature before tuning.
  return table1_baselines.apply_variants(
      c, arg, "configs/modern_hopfield.py", runlocal=dict(capacity=16))
