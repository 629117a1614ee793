r"""The Dynamic Kanerva Machine (Wu et al., 2018) on random binary strings
(Table 1's protocol, Appendix A.2).

`ebmm_jax/baselines/kanerva.py` (`BinaryKanervaMachine`): an MLP encoder
(128 -> 256 -> C = 128, LayerNorm-ed codes), a matrix-normal memory of
K_r = 47 rows (mean R [47, 128], row covariance U [47, 47]; fewer rows than
the code size, or the read-out returns the query's own code) written by the
Kanerva Machine's Bayesian update, read by K = 5 attractor iterations through
an MLP decoder (128 -> 256 -> 128 bit logits), the known bits clamped. The
written state (R, U) is 47 * 128 + 47^2 = 8,225 floats (budget 8,256,
Appendix A.2); N = 64, AdamW 5e-5 (Appendix A), meta-trained on the
cross-entropy of the replaced bits like the other Table 1 baselines. No data
to download: the patterns are random.

  python -m experiments.train --config=configs/kanerva_binary.py:cpu,n=64 \
      --workdir=runs/kanerva_binary_n64
  python -m experiments.evaluate --workdir=runs/kanerva_binary_n64

Variants (comma-separated): runlocal, cpu, n=K (configs/table1_baselines.py);
`cpu` here trains at AdamW 1e-3, not the other baselines' 3e-3.
`--config.model.memory_budget=K` (K > 0) makes the builder pick the K_r whose
K_r * C + K_r^2 floats are closest to K, overriding `model.rows`.
Expected: not in the paper (Table 1 has no DKM row; Appendix A.4 compares it
with EBMM on Omniglot only); Table 1 prints its row without a paper row,
labelled "not in the paper".
"""
import ml_collections

from ebmm_jax.configs import table1_baselines


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = table1_baselines.baseline_config("kanerva_binary")
  c.model.code_size = 128  # C: the encoder's code, LayerNorm-ed.
  c.model.rows = 47  # K_r < C: memory rows; 47 * 128 + 47^2 = 8,225 floats.
  c.model.memory_budget = 0  # Floats (0: use rows); >0 makes the builder pick rows.
  c.model.hidden_size = 256  # H: hidden layer of the encoder and of the decoder.
  c.model.iterations = 5  # K: attractor iterations at reading (EBMM's K = 5).
  c.model.ridge = 0.1  # lambda of the ridge addressing (||r_k||^2 ~ C = 128).
  c.model.noise_init = 0.1  # sigma_xi^2 at init (learned).
  c.model.write_addressing = "posterior"  # Or "prior": every code addressed by R0.
  def cpu(c):
    table1_baselines.cpu(c)
    # 3e-3, the other baselines' CPU rate, drives this model's logits to 0 in
    # its first 25 steps and it stays at chance; at 1e-3 it learns.
    c.optim.learning_rate = 1e-3

  return table1_baselines.apply_variants(
      c, arg, "configs/kanerva_binary.py",
      runlocal=dict(code_size=16, rows=8, hidden_size=64, iterations=2),
      extra={"cpu": cpu})
