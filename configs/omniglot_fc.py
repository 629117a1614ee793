r"""Omniglot with fully-connected memory (Section 4.1, Appendix C.2; Figure 3a).

Same protocol as `omniglot_conv.py` (32x32 binarized Omniglot, N = 64, one
16x16 block of {0, 1} noise, Hamming error per image), with the C.2 energy: a
3-block ResNet encoder to a 256-dim code, then a 512-unit representation layer
of which `dynamic_size` units are writable, (256 + 1) * d floats (d = 32:
8,224), and a 3-hop gated recurrence.

  python -m experiments.train --config=configs/omniglot_fc.py \
      --config.data.data_dir=DATA_DIR --workdir=runs/omniglot_fc
  python -m experiments.evaluate_images --workdir=runs/omniglot_fc

Arguments after the colon select variants, comma-separated:
  runlocal  smoke run (tiny widths, one hop, N = 4, 16x16 images, 20 steps).
  gpu, recipe  as in every image config (`configs/image_base.py`): the
            paper's sizes for an accelerator; the binary-strings recipe.
  mem=K     the dynamic_size whose memory is closest to K floats (e.g. mem=4k:
            d = 16, 4,112 floats).

Expected time: not measured; of the order of omniglot_conv's meta-step (same
images and batch: minutes per full-size step on a CPU, so train on a GPU).
runlocal takes about 2 min on a CPU, mostly compiling. Expected result: the
query's own Hamming error is about 128; the paper (Figure 3a, plot only)
finds FC memory less efficient than convolutional memory of equal size.
"""
import ml_collections

from ebmm_jax.configs import image_base


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = image_base.get_image_config("omniglot", "resnet_fc")
  c.energy.dynamic_size = 32  # Writable units of the representation: 8,224 floats.
  c.energy.channels = 32  # Encoder ResBlocks 32, 64, 96 (C.2).
  c.energy.channel_multipliers = (1, 2, 3)  # Encoder widths in units of channels.
  c.energy.code_size = 256  # Encoder output, Linear(256) + LayerNorm.
  c.energy.representation_size = 512  # Memory + static units.
  c.energy.hidden_size = 512  # Gated recurrence state.
  c.energy.output_hidden_size = 1024  # tanh layer under Linear(1).
  c.energy.hops = 3  # Recurrence steps (C.2).

  c.data.num_patterns = 64  # Figure 3: batches of 64.
  c.data.block_size = 16  # Section 4.1: 16x16 block.
  c.data.fill = "binary"

  def runlocal(c):
    image_base.runlocal(c)
    c.energy.code_size = 8
    c.energy.representation_size = 8
  return image_base.apply_variants(c, arg, "configs/omniglot_fc.py",
                                   runlocal_fn=runlocal)
