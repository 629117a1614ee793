r"""ImageNet 64x64 with convolutional memory (Section 4.3, Appendix C.4; Figure 5).

RGB 64x64 images in [0, 1], N = 32 per memory (Section 4.3: "we also had to
decrease the batch size to 32"), one 32x32 block (a quarter of the image) of
uniform [0, 1] noise, squared error per image. The 4-block C.4 network with
d = 8 writable channels per bottleneck: 2 * (9 * 128 + 1) * 8 = 18,448 floats
(Figure 5b's "about 18K memory").

  python -m experiments.train --config=configs/imagenet64.py \
      --config.data.data_dir=DATA_DIR --workdir=runs/imagenet64
  python -m experiments.evaluate_images --workdir=runs/imagenet64 \
      --figure=docs/imagenet64_retrieval.png

Arguments after the colon select variants, comma-separated:
  runlocal  smoke run (tiny widths, one hop, N = 4, images downscaled to
            16x16 with an 8x8 block, 20 steps).
  gpu, recipe  as in every image config (`configs/image_base.py`): the
            paper's sizes for an accelerator; the binary-strings recipe.
  mem=K     the dynamic_size whose memory is closest to K floats (Figure 5a).
  cpu       a CPU-hours model: the C.4 network at half width (ResBlocks 32,
            64; bottlenecks 128 via 64, so 1,154 d floats), recurrent state
            128, tanh layer 256, 2 hops, AdamW 1e-3, writing rates from 1e-2.
            `cpu,mem=18k` is d = 16, 18,464 floats, Figure 5b's "about 18K".

Data: offline, the 1,000 Tiny-ImageNet 64x64 images of
DATA_DIR/tinyimagenet64 (600 train / 200 validation / 200 test, see
`ebmm_jax.data.imagenet64`) stand in for ImageNet; with tfds,
`imagenet_resized/64x64` (train / validation; bound memory with
--config.data.max_examples). Expected time: not measured; several times
omniglot_conv's meta-step (4x the pixels, twice the width, half the batch),
so a GPU run. Expected result: the query's own squared error is about 503
on the offline test images; the paper plots EBMM (Figure 5a);
Table 2's non-memory baselines, 25% block noise: DAE 141.07, VAE 1889.79.
"""
import ml_collections

from ebmm_jax.configs import image_base


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = image_base.get_image_config("imagenet64", "resnet_imagenet")
  c.energy.dynamic_size = 8  # C.4: 8 writable channels per bottleneck, 18,448 floats.
  c.energy.channels = 64  # ResBlocks 64, 128; bottlenecks 256 via 128 (C.4).
  c.energy.hidden_size = 256  # Channels of the 4x4 recurrent state (C.4).
  c.energy.output_hidden_size = 1024  # tanh layer under Linear(1).
  c.energy.hops = 3  # Recurrence steps (C.4).

  c.data.num_patterns = 32  # Section 4.3: batch size 32.
  c.data.block_size = 32  # Section 4.3: 32x32 masks, a quarter of the image.
  c.data.fill = "uniform"  # RGB: uniform [0, 1] noise (docs/protocols.md).
  return image_base.apply_variants(
      c, arg, "configs/imagenet64.py",
      extra={"cpu": lambda c: image_base.cpu(c, hidden_size=128, channels=32)})
