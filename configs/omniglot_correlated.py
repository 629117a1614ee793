r"""Omniglot with correlated batches (Appendix A.7, C.5; Table 3).

Batches of N = 32 Omniglot images with exactly 2 characters (16 drawings of
each), 16x16 block of {0, 1} noise, Hamming error per image. The C.5 energy
keeps its writable convolutions in the second residual block, (27 * 32 + 2) * d
= 866 d floats; the default d = 5 (4,330 floats) is the "4K memory" column of
Table 3, `mem=5k` (d = 6, 5,196 floats) the "5K" one.

  python -m experiments.train --config=configs/omniglot_correlated.py \
      --config.data.data_dir=DATA_DIR --workdir=runs/omniglot_2class_4k
  python -m experiments.train --config=configs/omniglot_correlated.py:uniform \
      --config.data.data_dir=DATA_DIR --workdir=runs/omniglot_uniform_4k
  python -m experiments.evaluate_images --workdir=runs/omniglot_2class_4k

Arguments after the colon select variants, comma-separated:
  runlocal  smoke run (tiny widths, one hop, N = 4 of 2 classes, 16x16
            images, 20 steps).
  uniform   uniform batches, the uncorrelated row of Table 3.
  cpu       a CPU-minutes model (RESULTS.md): half the widths (blocks 16,
            32, 64 channels, so 434 d floats: `mem=4k` is d = 9, 3,906
            floats; `mem=5k` d = 12, 5,208), recurrent state 128, tanh
            layer 256, 2 hops, AdamW 1e-3, writing rates initialised at 1e-2.
  gpu, recipe  as in every image config (`configs/image_base.py`): the
            paper's sizes for an accelerator; the binary-strings recipe.
  mem=K     the dynamic_size whose memory is closest to K floats.

Test batches are drawn like training batches (2 classes each, from the test
alphabets). Expected time: not measured; a meta-step at N = 32 should cost
about half of omniglot_conv's at N = 64 (minutes on a CPU: train on a GPU).
Expected result (paper, Table 3, Hamming error): 2 classes 6.22 at 4K, 2.57
at 5K; uniform 7.18 at 4K, 5.37 at 5K.
"""
import ml_collections

from ebmm_jax.configs import image_base


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = image_base.get_image_config("omniglot", "resnet_lowlevel_conv")
  c.energy.dynamic_size = 5  # Writable channels per 3x3 conv: 4,330 floats ("4K").
  c.energy.channels = 32  # Blocks of 32, 64, 128 channels (C.5).
  c.energy.hidden_size = 256  # Channels of the 4x4 recurrent state (C.5).
  c.energy.output_hidden_size = 1024  # tanh layer under Linear(1).
  c.energy.hops = 3  # Recurrence steps (C.5).

  c.data.num_patterns = 32  # Table 3: batches of 32.
  c.data.batch_classes = 2  # Appendix A.7: exactly two characters per batch.
  c.data.block_size = 16  # Section 4.1: 16x16 block.
  c.data.fill = "binary"

  def uniform(c):
    c.data.batch_classes = 0

  def runlocal(c):
    batch_classes = c.data.batch_classes
    image_base.runlocal(c)
    c.data.batch_classes = batch_classes
  return image_base.apply_variants(c, arg, "configs/omniglot_correlated.py",
                                   extra={"uniform": uniform,
                                          "cpu": lambda c: image_base.cpu(c, 128)},
                                   runlocal_fn=runlocal)
