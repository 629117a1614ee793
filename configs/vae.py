r"""The variational autoencoder of Table 2 (Appendix A.3), read by attractor
dynamics: a memory-less baseline (`ebmm_jax.baselines.vae`).

The image encoder of Appendix C.2 (ResBlocks 32, 64, 96) with μ and log σ
heads of 256 latent Gaussian variables, its transposed version as decoder
(Bernoulli likelihood for Omniglot, Gaussian with a learned scale for RGB),
trained on the negative ELBO of the clean images (the distortion is not
used in training). Reading: the attractor dynamics of Appendix A.3,
`model.iterations` alternating steps on z (step size γ = `model.step_size`)
and x (exact minimisation); 10 evenly spaced iterates are returned. Its
memory has 0 floats.

  python -m experiments.train --config=configs/vae.py:cpu \
      --config.data.data_dir=DATA_DIR --workdir=runs/vae_omniglot
  python -m experiments.evaluate_images --workdir=runs/vae_omniglot

γ: the paper grid-searches it; `vae.grid_search_step_size` scores a few γ
on training batches with the trained parameters (its docstring shows how to
evaluate with the best one). γ does not change training.

Arguments after the colon select variants, comma-separated:
  data=NAME  omniglot (default; 16x16 block of {0, 1} noise, 50 iterations),
             cifar10 (100 iterations) or imagenet64 (200 iterations), with a
             block of uniform noise covering 25% of the image.
  salt       15% salt-and-pepper noise instead of the block (Table 2's
             second half).
  n=K        images per batch (default 64, as EBMM's).
  cpu        half the widths (ResBlocks 16, 32, 48), AdamW 1e-3, 20 minutes
             of training; the schedule of the EBMM `cpu` recipe.
  gpu        the paper's widths, AdamW 1e-3, 4 hours of training.
  runlocal   smoke run (widths 4, 16 latents, N = 4, 16x16 images, 20
             steps, 5 attractor iterations).

Paper (Table 2): block noise 109.08 (Omniglot, Hamming), 544.72 (CIFAR-10,
squared error), 1889.79 (ImageNet 64x64); salt-and-pepper 84.08, 430.33,
1385.29.
"""
import ml_collections

from ebmm_jax.configs import base
from ebmm_jax.configs import image_base

# Table 2: the block covers 25% of the image (16x16 on 32x32, 32x32 on 64x64).
_BLOCK = {"omniglot": (16, "binary"), "cifar10": (16, "uniform"),
          "imagenet64": (32, "uniform")}
# Appendix A.3: "50, 100 and 200 iterations for Omniglot, CIFAR and ImageNet".
_ITERATIONS = {"omniglot": 50, "cifar10": 100, "imagenet64": 200}


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = image_base.get_image_config("omniglot", "")
  del c["energy"]  # EBMM's energy and writing/reading options: not used.
  del c["memory"]
  c.model = ml_collections.ConfigDict()
  c.model.name = "vae"
  c.model.channels = 32  # Encoder ResBlocks 32, 64, 96 (Appendix C.2).
  c.model.code_size = 256  # Appendix A.3: 256 latent Gaussian variables.
  # "auto": Bernoulli for binary images (the paper's), Gaussian for RGB.
  c.model.likelihood = "auto"
  c.model.gaussian_scale = 0.0  # Gaussian likelihood's std (0: learned scalar).
  c.model.gaussian_scale_init = 0.1  # Its initial value when learned.
  c.model.iterations = _ITERATIONS["omniglot"]  # Attractor steps at reading.
  c.model.step_size = 1e-2  # γ of the z steps (grid-search it, Appendix A.3).
  c.model.x_update = "mode"  # Exact argmin_x E (the paper's), or "mean".
  c.model.max_iterates = 10  # Evenly spaced iterates a read returns (last incl.).
  c.model.log_iterations = 5  # Attractor steps of the training log's score.
  c.optim.learning_rate = 1e-3
  c.data.num_patterns = 64
  c.data.block_size, c.data.fill = _BLOCK["omniglot"]

  def dataset(c, name):
    if name not in _BLOCK:
      raise ValueError(f"data={name!r}: expected one of {sorted(_BLOCK)}.")
    # The paper's count, unless a variant (runlocal) already changed it.
    if c.model.iterations == _ITERATIONS[c.data.name]:
      c.model.iterations = _ITERATIONS[name]
    c.data.name = name
    c.data.block_size, c.data.fill = _BLOCK[name]
    if c.data.image_size:  # Resized (runlocal): still a quarter of the image.
      c.data.block_size = c.data.image_size // 2

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
    c.model.iterations = 5
    c.data.num_patterns = 4
    c.data.image_size = 16
    c.data.block_size = 8
    c.eval.num_batches = 4
    c.eval.batches_per_call = 2

  return base.apply_variants(
      c, arg, "configs/vae.py",
      {"salt": salt, "cpu": cpu, "gpu": gpu, "runlocal": runlocal},
      {"data": dataset, "n": base.integer("data", "num_patterns")})
