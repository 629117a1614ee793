r"""Memory Networks (Weston et al., 2014) on random binary strings (Table 1).

A slot memory read by attention (`ebmm_jax/baselines/memory_networks.py`):
64 slots of a 128-float embedding plus an occupancy flag, 64 x 129 = 8,256
floats (Appendix A.2's budget), N = 64, AdamW 5e-5 (Appendix A).

  python -m experiments.train --config=configs/memnet.py:cpu,n=64 --workdir=runs/memnet_n64

Variants (comma-separated): runlocal, cpu, n=K (configs/table1_baselines.py).
Expected: the paper reports 0.0 error bits up to N = 64 and 10.5 at N = 96;
RESULTS.md has what the `cpu` variant reaches in 3 minutes per N.
"""
import ml_collections

from ebmm_jax.configs import table1_baselines


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = table1_baselines.baseline_config("memory_networks")
  c.model.slots = 64  # S: slots; a ring buffer, so N > S overwrites the oldest.
  c.model.embedding_size = 128  # E: a slot holds E + 1 floats (with its flag).
  c.model.hops = 1  # Attention hops at reading (K).
  return table1_baselines.apply_variants(
      c, arg, "configs/memnet.py", runlocal=dict(slots=16, embedding_size=32))
