r"""The Dynamic Kanerva Machine (Wu et al., 2018) on Omniglot (Appendix A.4).

`ebmm_jax/baselines/kanerva.py`: the shared image encoder (Appendix C.2) to a
C = 256 code, a matrix-normal memory of K_r rows (mean R [K_r, C], row
covariance U [K_r, K_r]: K_r * C + K_r^2 floats) written by the Kanerva
Machine's Bayesian update, read by K = 5 attractor iterations through the
decoder. Meta-trained on Eq. (2) against the distortion (a simplification of
the DKM's variational objective, see the module). Appendix A.4 compares the
DKM with EBMM only on Omniglot, on batches of 16 images with 15%
salt-and-pepper noise: the defaults.

  python -m experiments.train --config=configs/kanerva.py:cpu \
      --config.data.data_dir=DATA_DIR --workdir=runs/kanerva_omniglot
  python -m experiments.evaluate_images --workdir=runs/kanerva_omniglot

Arguments after the colon select variants, comma-separated:
  mem=K      the K_r whose state floats are closest to K (e.g. mem=12k; the
             builder recomputes it from `model.memory_budget` and the code
             size, overriding `model.rows`), Figure 7's x-axis.
  block      the 16x16 block of {0, 1} noise of Section 4.1 instead of
             salt-and-pepper (Figure 8, bottom); half the side on smaller
             images.
  n=K        images per batch (default 16, Appendix A.4).
  data=NAME  another dataset (cifar10, imagenet64), as every image baseline.
  cpu        half the widths (ResBlocks 16, 32, 48), AdamW 1e-3, 20 minutes
             of training on the seconds clock (`image_base.recipe`).
  gpu        the paper's widths, AdamW 1e-3, 4 hours of training.
  runlocal   smoke run (widths 4, code 16, 8 rows, 2 iterations, N = 4,
             16x16 images, 20 steps).

Default memory: K_r = 41 rows at C = 256, 12,177 floats (Figure 8's "12K
memory" model). Paper (Figure 7): the DKM's Hamming error stays well above
EBMM's and does not improve consistently with memory size.
"""
import math

import ml_collections

from ebmm_jax.configs import image_base


def rows_for_budget(budget: int, code_size: int) -> int:
  """The rows K_r >= 1 whose K_r * C + K_r^2 floats are closest to `budget`
  (ties: fewer rows); `ebmm_jax.baselines.kanerva.rows_for_budget`, which the
  builder applies, computes the same."""
  root = (-code_size + math.sqrt(code_size * code_size + 4 * budget)) / 2
  return min(sorted({max(1, math.floor(root)), max(1, math.ceil(root))}),
             key=lambda r: abs(r * code_size + r * r - budget))


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = image_base.baseline_config("kanerva", code_size=256)  # C: the encoder's code.
  c.model.rows = 41  # K_r: memory rows; 41 * 256 + 41^2 = 12,177 floats (Figure 8).
  c.model.memory_budget = 0  # Floats (0: use rows); >0 picks rows, see `mem=K`.
  c.model.iterations = 5  # K: attractor iterations at reading (EBMM's K = 5).
  c.model.ridge = 0.1  # lambda of the ridge addressing (||r_k||^2 ~ C = 256).
  c.model.noise_init = 0.1  # sigma_xi^2 at init (learned).
  c.model.write_addressing = "posterior"  # Or "prior": every code addressed by R0.
  c.data.num_patterns = 16  # Appendix A.4: batches of 16 images.
  c.data.distortion = "salt_and_pepper"  # Appendix A.4: 15% salt and pepper.
  c.data.noise_rate = 0.15

  def block(c):
    c.data.distortion = "block"
    c.data.fill = "binary"
    c.data.block_size = c.data.image_size // 2 if c.data.image_size else 16

  c = image_base.apply_baseline_variants(
      c, arg, "configs/kanerva.py", runlocal_model={"rows": 8, "iterations": 2},
      extra={"block": block})
  if c.model.memory_budget:  # After every variant: the final code size.
    c.model.rows = rows_for_budget(c.model.memory_budget, c.model.code_size)
  return c
