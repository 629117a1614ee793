r"""Differentiable plasticity (Miconi et al., 2018) on random binary strings (Table 1).

One neuron per bit with Hebbian plastic recurrent weights, as in Miconi et
al.'s pattern memorisation (`ebmm_jax/baselines/plasticity.py`); the
symmetrised trace is the memory, 128 x 129 / 2 = 8,256 floats (Appendix
A.2's budget). N = 64, AdamW 5e-5 (Appendix A).

  python -m experiments.train --config=configs/plasticity.py:cpu,n=64 --workdir=runs/plasticity_n64

Variants (comma-separated): runlocal, cpu, n=K (configs/table1_baselines.py).
Expected: the paper reports 3.0 / 13.2 / 20.8 / 26.3 / 34.9 error bits at
N = 16 / 32 / 48 / 64 / 96; RESULTS.md has what 3 CPU minutes per N reach.
"""
import ml_collections

from ebmm_jax.configs import table1_baselines


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = table1_baselines.baseline_config("plasticity")
  c.model.present_steps = 2  # Steps each pattern is presented for while writing.
  c.model.read_steps = 3  # Steps each query is presented for while reading (K).
  c.model.eta_init = 0.01  # η, the trace's rate, at init.
  return table1_baselines.apply_variants(
      c, arg, "configs/plasticity.py", runlocal=dict(read_steps=2))
