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

from ebmm_jax.configs import image_base

# Appendix A.3: "50, 100 and 200 iterations for Omniglot, CIFAR and ImageNet".
_ITERATIONS = {"omniglot": 50, "cifar10": 100, "imagenet64": 200}


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = image_base.baseline_config("vae", code_size=256)  # A.3: 256 latent Gaussians.
  # "auto": Bernoulli for binary images (the paper's), Gaussian for RGB.
  c.model.likelihood = "auto"
  c.model.gaussian_scale = 0.0  # Gaussian likelihood's std (0: learned scalar).
  c.model.gaussian_scale_init = 0.1  # Its initial value when learned.
  c.model.iterations = _ITERATIONS["omniglot"]  # Attractor steps at reading.
  c.model.step_size = 1e-2  # γ of the z steps (grid-search it, Appendix A.3).
  c.model.x_update = "mode"  # Exact argmin_x E (the paper's), or "mean".
  c.model.max_iterates = 10  # Evenly spaced iterates a read returns (last incl.).
  c.model.log_iterations = 5  # Attractor steps of the training log's score.

  def dataset(c, name):
    # The paper's count, unless a variant (runlocal) already changed it.
    if c.model.iterations == _ITERATIONS.get(c.data.name):
      c.model.iterations = _ITERATIONS.get(name, c.model.iterations)
    image_base.set_dataset(c, name)

  return image_base.apply_baseline_variants(
      c, arg, "configs/vae.py", runlocal_model={"iterations": 5},
      parametric={"data": dataset})
