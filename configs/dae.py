r"""The denoising autoencoder of Table 2 (Appendix A.3), a memory-less baseline.

The image encoder of Appendix C.2 (ResBlocks 32, 64, 96; a 256-unit code)
and its transposed version as decoder, trained by the meta-training loop on
Eq. (2) against the evaluation's own distortion; its memory has 0 floats.

  python -m experiments.train --config=configs/dae.py:cpu \
      --config.data.data_dir=DATA_DIR --workdir=runs/dae_omniglot
  python -m experiments.evaluate_images --workdir=runs/dae_omniglot

Arguments after the colon select variants, comma-separated:
  data=NAME  omniglot (default; 16x16 block of {0, 1} noise), cifar10 or
             imagenet64 (a block of uniform noise covering 25% of the image).
  salt       15% salt-and-pepper noise instead of the block (Table 2's
             second half).
  n=K        images per batch (default 64, as EBMM's).
  cpu        half the widths (ResBlocks 16, 32, 48), AdamW 1e-3, 20 minutes
             of training; the schedule of the EBMM `cpu` recipe.
  gpu        the paper's widths, AdamW 1e-3, 4 hours of training.
  runlocal   smoke run (widths 4, code 16, N = 4, 16x16 images, 20 steps).

Paper (Table 2, up to 2e6 steps on a GPU): block noise 36.08 (Omniglot,
Hamming), 24.66 (CIFAR-10, squared error), 141.07 (ImageNet 64x64);
salt-and-pepper 9.57, 8.82, 69.20.
"""
import ml_collections

from ebmm_jax.configs import base
from ebmm_jax.configs import image_base

# Table 2: the block covers 25% of the image (16x16 on 32x32, 32x32 on 64x64).
_BLOCK = {"omniglot": (16, "binary"), "cifar10": (16, "uniform"),
          "imagenet64": (32, "uniform")}


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = image_base.get_image_config("omniglot", "")
  del c["energy"]  # EBMM's energy and writing/reading options: not used.
  del c["memory"]
  c.model = ml_collections.ConfigDict()
  c.model.name = "dae"
  c.model.channels = 32  # Encoder ResBlocks 32, 64, 96 (Appendix C.2).
  c.model.code_size = 256  # Table 2: a 256-unit bottleneck.
  c.optim.learning_rate = 1e-3
  c.data.num_patterns = 64
  c.data.block_size, c.data.fill = _BLOCK["omniglot"]

  def dataset(c, name):
    if name not in _BLOCK:
      raise ValueError(f"data={name!r}: expected one of {sorted(_BLOCK)}.")
    c.data.name = name
    c.data.block_size, c.data.fill = _BLOCK[name]

  def salt(c):
    c.data.distortion = "salt_and_pepper"

  def cpu(c):
    c.model.channels = 16
    image_base.recipe(c, seconds=1200.0)
    c.train.log_every = 25
    c.train.checkpoint_every_secs = 120.0

  def gpu(c):
    image_base.recipe(c, seconds=4 * 3600.0)
    c.train.log_every = 100
    c.train.checkpoint_every_secs = 600.0

  def runlocal(c):
    base.runlocal(c)
    c.model.channels = 4
    c.model.code_size = 16
    c.data.num_patterns = 4
    c.data.image_size = 16
    c.data.block_size = 8
    c.eval.num_batches = 4
    c.eval.batches_per_call = 2

  return base.apply_variants(
      c, arg, "configs/dae.py",
      {"salt": salt, "cpu": cpu, "gpu": gpu, "runlocal": runlocal},
      {"data": dataset, "n": base.integer("data", "num_patterns")})
