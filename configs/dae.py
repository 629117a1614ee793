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

from ebmm_jax.configs import image_base


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = image_base.baseline_config("dae", code_size=256)  # Table 2: a 256-unit bottleneck.
  return image_base.apply_baseline_variants(c, arg, "configs/dae.py")
