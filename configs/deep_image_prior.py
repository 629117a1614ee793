r"""Deep Image Prior (Ulyanov et al., 2018) as a Table 2 baseline (Appendix A.3,
`ebmm_jax.baselines.deep_image_prior`): no training, no memory.

Each query is read by fitting a freshly initialised generator (the shared
transposed encoder of Appendix C.2, from a fixed random code) to the query's
pixels by `model.fit_steps` Adam updates (the paper: 2,000) on the squared
error over the pixels outside the block only: as in the paper (Table 2's *),
DIP is told where the block is (`model.told_block`). Salt-and-pepper queries
are fitted on every pixel (the paper's cell has no *).

Telling the evaluator: the image tasks do not reveal the block; the model's
training-log metrics use its own told task, and `setups.images.make_task`
must return `known = ~mask` for `model.told_block` configs for the evaluator
to tell DIP too (see the module docstring; the builder warns until then).

DIP is not meta-trained: its loss is a constant 0 and, with
`optim.weight_decay = 0`, its parameters (the generator's fixed random
initialisation) never change. A "training" run is one step, which writes the
checkpoint the evaluator loads:

  python -m experiments.train --config=configs/deep_image_prior.py:cpu,data=imagenet64 \
      --config.data.data_dir=DATA_DIR --workdir=runs/dip_imagenet64
  python -m experiments.evaluate_images --workdir=runs/dip_imagenet64

Arguments after the colon select variants, comma-separated:
  data=NAME  omniglot (default; 16x16 block of {0, 1} noise), cifar10 or
             imagenet64 (a block of uniform noise covering 25% of the image).
  salt       15% salt-and-pepper noise instead of the block, not told.
  n=K        images per batch (default 64).
  cpu        half the widths (decoder ResBlocks 48, 32, 16, 16); one step.
  gpu        the decoder's full widths; one step.
  runlocal   smoke run (widths 4, code 16, N = 4, 16x16 images, 5 Adam
             steps per query).

Paper (Table 2): 170.36* with the block revealed and 467.92 under
salt-and-pepper; each row has a single cell, by its size the ImageNet 64x64
column (squared error; the text extraction loses the column).
"""
import ml_collections

from ebmm_jax.configs import image_base


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  # The fixed random code the generator maps to an image; decoder widths
  # 96, 64, 32, 32 (Appendix C.2's transpose).
  c = image_base.baseline_config("deep_image_prior", code_size=32)
  c.model.fit_steps = 2000  # Adam updates per query (Appendix A.3: 2,000).
  c.model.fit_learning_rate = 0.01  # Their learning rate (Ulyanov et al.'s).
  c.model.max_iterates = 10  # Evenly spaced fit outputs a read returns (last incl.).
  c.model.told_block = True  # Fit only the pixels outside the block (Table 2's *).
  c.model.seed = 0  # The generator's initialisation and code.
  # Not meta-trained: zero gradients and no weight decay leave the parameters
  # exactly as initialised; one step writes the checkpoint the evaluator loads.
  c.optim.weight_decay = 0.0
  c.train.num_steps = 1
  c.train.log_every = 1

  def salt(c):
    c.data.distortion = "salt_and_pepper"
    c.model.told_block = False  # Table 2's salt-and-pepper cell has no *.

  def cpu(c):
    c.model.channels = 16
    c.train.num_steps = 1
    c.train.checkpoint_every_secs = 120.0

  def gpu(c):
    c.train.num_steps = 1
    c.train.checkpoint_every_secs = 600.0

  return image_base.apply_baseline_variants(
      c, arg, "configs/deep_image_prior.py", runlocal_model={"fit_steps": 5},
      extra={"salt": salt, "cpu": cpu, "gpu": gpu})
