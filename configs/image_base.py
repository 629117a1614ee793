"""Defaults shared by the image experiments (Section 4, Appendices A.5-A.7, C.2-C.5).

Each image config (`omniglot_conv.py`, `cifar10.py`, ...) starts from
`get_image_config`, sets its energy's architecture, and parses its variants
with `apply_variants` (`runlocal`, `gpu`, `recipe`, `mem=K` and its own):
  gpu     for an accelerator: the paper's widths, hops and N, AdamW 1e-3,
          with `recipe`'s schedule over 4 hours of training.
  recipe  the binary-strings recipe (RESULTS.md): log-space rates with their
          own learning rate 3e-2; the learning rates 10x lower for the last
          20% of 1 hour of training, on the seconds clock (e.g. `cpu,recipe`;
          --config.train.max_seconds changes the hour). The experiment
builder (`ebmm_jax.setups.images`) validates the config and turns a memory
budget (`energy.memory_budget`, the `mem=K` variant) into the energy's
`dynamic_size`.
"""
from typing import Callable, Dict, Optional

import ml_collections

from ebmm_jax.configs import base


def get_image_config(dataset: str, energy_name: str) -> ml_collections.ConfigDict:
  c = base.get_base_config()
  c.energy.name = energy_name
  c.energy.dynamic_size = 8  # Writable channels/units per memory layer (C.2-C.5).
  # Floats of memory (0: none); when set, the builder picks the dynamic_size
  # whose memory is closest to it, overriding energy.dynamic_size.
  c.energy.memory_budget = 0

  c.data.name = dataset
  c.data.source = "auto"  # "files" (original archives), "tfds", or "auto".
  c.data.image_size = 0  # Resize to this side (0: the dataset's, 32 or 64).
  c.data.max_examples = 0  # tfds only: at most this many images per split (0: all).
  c.data.distortion = "block"  # "block" (Section 4) or "salt_and_pepper" (A.5).
  c.data.block_size = 16  # Side of the noise block (4.1: 16 on 32x32 images).
  c.data.fill = "binary"  # Block noise: "binary" {0, 1}, "uniform" [0, 1], "zeros".
  c.data.noise_rate = 0.15  # Salt-and-pepper rate p (Appendix A.4-A.5: 15%).
  c.data.batch_classes = 0  # 0: uniform batches; c: exactly c classes each (A.7).
  # Train without the validation split (Omniglot: whole alphabets; CIFAR-10,
  # ImageNet: a tenth / a fifth of the train images; `ebmm_jax.data.images`).
  c.data.hold_out_validation = True
  # What evaluations score: "validation" for every choice (recipe, model,
  # checkpoint), "test" only for reported numbers (evaluators: --split).
  c.data.eval_split = "validation"
  return c


def parse_memory_budget(text: str) -> int:
  """'4096', '4k' or '4K' -> floats."""
  t = text.strip().lower()
  scale = 1024 if t.endswith("k") else 1
  try:
    value = int(float(t.rstrip("k")) * scale)
  except ValueError as e:
    raise ValueError(f"mem={text!r}: expected a number of floats such as "
                     "mem=4096 or mem=4k.") from e
  if value < 1:
    raise ValueError(f"mem={text!r} must be a positive number of floats.")
  return value


def runlocal(c: ml_collections.ConfigDict) -> None:
  """Shrink shared by the image configs: tiny widths, one hop, N = 4, 16x16
  images with a quarter-area (8x8) block, 20 steps. The step runs in well
  under a second; compiling it takes one to two minutes on a CPU."""
  base.runlocal(c)
  c.energy.dynamic_size = 2
  c.energy.channels = 4
  c.energy.hidden_size = 8
  c.energy.output_hidden_size = 16
  c.energy.hops = 1  # Each hop is unrolled: fewer hops, faster compilation.
  c.data.num_patterns = 4
  c.data.image_size = 16
  c.data.block_size = 8
  c.eval.num_batches = 4
  c.eval.batches_per_call = 2


def cpu(c: ml_collections.ConfigDict, hidden_size: int,
        channels: int = 16) -> None:
  """The `cpu` variant's shrink, for models trained in CPU-hours (RESULTS.md):
  half the paper's widths (ResBlocks from `channels`), a `hidden_size`
  recurrent state, a 256-unit tanh layer, 2 hops, AdamW 1e-3 and writing rates
  initialised at 1e-2 (the paper's 5e-5 and 1e-4 are tuned for 2e6 steps).
  Data, N and the distortion stay the paper's."""
  c.energy.channels = channels
  c.energy.hidden_size = hidden_size
  c.energy.output_hidden_size = 256
  c.energy.hops = 2
  c.optim.learning_rate = 1e-3
  c.memory.write_lr_init = 1e-2
  c.train.log_every = 10
  c.train.checkpoint_every_secs = 120.0


# The binary-strings recipe, written once (configs/base.py).
recipe = base.recipe


def gpu(c: ml_collections.ConfigDict) -> None:
  """The `gpu` variant: the paper's widths, hops, N and distortion, AdamW
  1e-3 with writing rates initialised at 1e-2 (as `cpu`), and the recipe
  over 4 hours of training (`--config.train.max_seconds` changes it)."""
  c.optim.learning_rate = 1e-3
  c.memory.write_lr_init = 1e-2
  recipe(c, seconds=4 * 3600.0)
  c.train.log_every = 100
  c.train.checkpoint_every_secs = 600.0


# Table 2: the block covers 25% of the image (16x16 on 32x32, 32x32 on 64x64),
# {0, 1} noise on binary Omniglot, uniform noise on RGB.
TABLE2_BLOCKS = {"omniglot": (16, "binary"), "cifar10": (16, "uniform"),
                 "imagenet64": (32, "uniform")}

Variant = Callable[[ml_collections.ConfigDict], None]


def baseline_config(name: str, code_size: int = 256) -> ml_collections.ConfigDict:
  """What every image baseline's config starts from (Table 2, Figures 3, 5a
  and 7): no EBMM sections; a `model` section naming the baseline, with the
  shared encoder/decoder's widths (Appendix C.2: ResBlocks 32, 64, 96 and a
  `code_size` code); AdamW 1e-3; Omniglot, N = 64 and Table 2's block."""
  c = get_image_config("omniglot", "")
  del c["energy"]  # EBMM's energy and writing/reading options: not used.
  del c["memory"]
  c.model = ml_collections.ConfigDict()
  c.model.name = name  # A key of ebmm_jax.setups.registry.MODELS.
  c.model.channels = 32  # Encoder ResBlocks 32, 64, 96 (Appendix C.2).
  c.model.code_size = code_size
  c.optim.learning_rate = 1e-3
  c.data.num_patterns = 64
  c.data.block_size, c.data.fill = TABLE2_BLOCKS["omniglot"]
  return c


def set_dataset(c: ml_collections.ConfigDict, name: str) -> None:
  """The `data=NAME` variant of the baselines: the dataset and its Table 2
  block (a quarter of a resized image, e.g. runlocal's)."""
  if name not in TABLE2_BLOCKS:
    raise ValueError(f"data={name!r}: expected one of {sorted(TABLE2_BLOCKS)}.")
  c.data.name = name
  c.data.block_size, c.data.fill = TABLE2_BLOCKS[name]
  if c.data.image_size:
    c.data.block_size = c.data.image_size // 2


def apply_baseline_variants(
    c: ml_collections.ConfigDict, arg: str, config_file: str,
    runlocal_model: Optional[Dict[str, object]] = None,
    extra: Optional[Dict[str, Variant]] = None,
    parametric: Optional[Dict[str, Callable[[ml_collections.ConfigDict, str], None]]] = None
) -> ml_collections.ConfigDict:
  """The variants every image baseline knows, then a file's own (`extra`,
  `parametric`: they replace a shared one of the same name):
    data=NAME  omniglot, cifar10 or imagenet64 with Table 2's block.
    salt       15% salt-and-pepper noise instead of the block.
    n=K        N images per memory.
    mem=K      `model.memory_budget` (configs that have one).
    cpu        half the widths (ResBlocks 16, 32, 48) and the recipe over
               20 minutes of training.
    gpu        the paper's widths and the recipe over 4 hours.
    runlocal   smoke run: widths 4, code 16, N = 4, 16x16 images with an 8x8
               block, 20 steps, and `runlocal_model`'s fields.
  """
  def salt(c):
    c.data.distortion = "salt_and_pepper"

  def cpu(c):
    c.model.channels = 16
    recipe(c, seconds=1200.0)
    c.train.log_every = 25
    c.train.checkpoint_every_secs = 120.0

  def gpu(c):
    recipe(c, seconds=4 * 3600.0)
    c.train.log_every = 100
    c.train.checkpoint_every_secs = 600.0

  def small(c):
    base.runlocal(c)
    c.model.channels = 4
    c.model.code_size = 16
    for field, value in (runlocal_model or {}).items():
      c.model[field] = value
    c.data.num_patterns = 4
    c.data.image_size = 16
    c.data.block_size = 8
    c.eval.num_batches = 4
    c.eval.batches_per_call = 2

  def memory_budget(c, text):
    c.model.memory_budget = parse_memory_budget(text)

  shared = {"data": set_dataset, "n": base.integer("data", "num_patterns")}
  if "memory_budget" in c.model:
    shared["mem"] = memory_budget
  return base.apply_variants(
      c, arg, config_file,
      {"salt": salt, "cpu": cpu, "gpu": gpu, "runlocal": small, **(extra or {})},
      {**shared, **(parametric or {})})


def apply_variants(c: ml_collections.ConfigDict, arg: str, config_file: str,
                   extra: Optional[Dict[str, Callable[[ml_collections.ConfigDict], None]]] = None,
                   runlocal_fn: Optional[Callable[[ml_collections.ConfigDict], None]] = None
                   ) -> ml_collections.ConfigDict:
  """Applies comma-separated variants, then locks the config.

  Known everywhere: `runlocal`, `gpu` (the paper's sizes with the recipe, for
  an accelerator), `recipe` (the binary recipe over 1 hour of training, e.g.
  `cpu,recipe`), `mem=K` (`energy.memory_budget`: the builder
  takes the dynamic_size closest to K floats, e.g. mem=4096 or mem=4k, for
  the final architecture, so it sizes the tiny model when both are given). `extra` maps a file's own variant names to
  functions that edit the config.
  """
  def memory_budget(c, text):
    c.energy.memory_budget = parse_memory_budget(text)

  return base.apply_variants(
      c, arg, config_file,
      {"runlocal": runlocal_fn or runlocal, "gpu": gpu,
       "recipe": lambda c: recipe(c, seconds=3600.0), **(extra or {})},
      {"mem": memory_budget})
