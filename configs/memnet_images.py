r"""Memory Networks on images (Figures 3a, 3b, 5a: error against memory size).

The image encoder of Appendix C.2 (ResBlocks 32, 64, 96; Linear(256),
LayerNorm) writes each image's code into a slot [A code, 1] of E + 1 floats,
one slot per stored image; a query's code reads the slots by attention and
the transposed encoder decodes the read code (`ebmm_jax/baselines/
image_memories.py`). Trained on Eq. (2) by the meta-training loop, like EBMM
and the DAE. Memory: 64 slots x (256 + 1) = 16,448 floats by default;
`mem=K` sets the slot size E closest to K floats (64 (E + 1): 2k is E = 31).

  python -m experiments.train --config=configs/memnet_images.py:cpu,mem=4k \
      --config.data.data_dir=DATA_DIR --workdir=runs/memnet_omniglot_4k
  python -m experiments.evaluate_images --workdir=runs/memnet_omniglot_4k

Arguments after the colon select variants, comma-separated:
  data=NAME  omniglot (default; 16x16 block of {0, 1} noise, N = 64),
             cifar10 (16x16 block of uniform noise, N = 64) or imagenet64
             (32x32 block, N = 32 as Section 4.3, the 4-block encoder);
             give n=K after it to change N.
  salt       15% salt-and-pepper noise instead of the block.
  n=K        images per memory (default 64).
  mem=K      memory size: the slot size (`model.budget_field`, or the
             number of slots) whose memory is closest to K floats, e.g.
             mem=4k; resolved when the model is built, so it sizes the
             final architecture (runlocal's too).
  cpu        half the widths (ResBlocks 16, 32, 48), AdamW 1e-3, 20 minutes
             of training on the schedule of the EBMM `cpu` recipe.
  gpu        the paper's widths, AdamW 1e-3, 4 hours of training.
  runlocal   smoke run (widths 4, code 16, slots of 8 + 1, N = 4, 16x16
             images, 20 steps).

Paper: Figure 3a (Omniglot): Memory Networks retrieve "almost perfectly"
beyond a critical memory size; Figures 3b and 5a: above EBMM's error at
every size. Expected here: not measured.
"""
from typing import Callable, Dict, Mapping, Optional

import ml_collections

from ebmm_jax.configs import image_base

# data=NAME: (block side, block fill, N, encoder channel multipliers). Table 2
# and Section 4: the block covers 25% of the image; ImageNet: N = 32 and a
# 4-block version of the CIFAR network (Section 4.3).
DATASETS = {"omniglot": (16, "binary", 64, (1, 2, 3)),
            "cifar10": (16, "uniform", 64, (1, 2, 3)),
            "imagenet64": (32, "uniform", 32, (1, 2, 3, 4))}


def image_memory_config(name: str, config_file: str, arg: str,
                        sizes: Mapping[str, object],
                        runlocal_sizes: Mapping[str, object], budget_field: str,
                        extra: Optional[Dict[str, Callable[[ml_collections.ConfigDict], None]]] = None
                        ) -> ml_collections.ConfigDict:
  """The config of image memory `name` (`image_memories.CORES`) with the
  variants of this file's docstring, shared by `configs/mann_images.py`.

  Args:
    sizes: the core's `model` size fields (slots 0: one per stored image).
    runlocal_sizes: those of the smoke run.
    budget_field: the field `mem=K` sets by default.
  """
  c = image_base.baseline_config(name, code_size=256)  # The C.2 encoder's Linear(256).
  c.model.channel_multipliers = DATASETS["omniglot"][3]
  for field, value in sizes.items():
    c.model[field] = value
  c.model.memory_budget = 0  # Floats (0: the sizes above); the `mem=K` variant.
  c.model.budget_field = budget_field  # The size `memory_budget` sets.

  def dataset(c, data_name):
    if data_name not in DATASETS:
      raise ValueError(f"data={data_name!r}: expected one of {sorted(DATASETS)}.")
    c.data.name = data_name
    c.data.block_size, c.data.fill, c.data.num_patterns, multipliers = DATASETS[data_name]
    c.model.channel_multipliers = multipliers

  return image_base.apply_baseline_variants(
      c, arg, config_file, runlocal_model=dict(runlocal_sizes), extra=extra,
      parametric={"data": dataset})


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  return image_memory_config(
      "memnet_images", "configs/memnet_images.py", arg,
      sizes=dict(slots=0,  # S (0: one per stored image, data.num_patterns).
                 embedding_size=256,  # E: a slot holds E + 1 floats (with its flag).
                 hops=1),  # Attention hops at reading (K iterates).
      runlocal_sizes=dict(embedding_size=8), budget_field="embedding_size")
