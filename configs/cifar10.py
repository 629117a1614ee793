r"""CIFAR-10 with convolutional memory (Section 4.2, Appendix C.3; Figure 3b).

RGB 32x32 images in [0, 1], N = 64 per memory, one 16x16 block (a quarter of
the image) replaced by uniform [0, 1] noise at a random position (the model is
not told where), squared error per image summed over pixels and channels.
The Omniglot C.3 network on 3 channels: 1,154 d writable floats (d = 8: 9,232).

  python -m experiments.train --config=configs/cifar10.py \
      --config.data.data_dir=DATA_DIR --workdir=runs/cifar10
  python -m experiments.evaluate_images --workdir=runs/cifar10 \
      --figure=docs/cifar10_retrieval.png

Arguments after the colon select variants, comma-separated:
  runlocal  smoke run (tiny widths, one hop, N = 4, 16x16 images, 20 steps).
  gpu, recipe  as in every image config (`configs/image_base.py`): the
            paper's sizes for an accelerator; the binary-strings recipe.
  mem=K     the dynamic_size whose memory is closest to K floats (Figure 3b
            sweeps memory size; e.g. mem=10k: d = 9, 10,386 floats, as Figure 4).
  zeros     fill the block with zeros instead of uniform noise.
  cpu       a CPU-hours model, as `omniglot_conv.py:cpu` (half widths:
            578 d floats; recurrent state 64, tanh layer 256, 2 hops, AdamW
            1e-3, writing rates from 1e-2). `cpu,mem=10k` is d = 18, 10,404
            floats, the "10K memory" of Figure 4.

Data: train = the data_batch_* files present (offline: data_batch_1, 10,000
images), test = test_batch (10,000).

Expected time: not measured; like omniglot_conv's meta-step (same network
and sizes, 3 input channels: minutes per full-size step on a CPU, so train
on a GPU). Expected result: the query's own squared error is about 112 (the
mean of (u - x)^2 over the test pixels, times 16 * 16 * 3); the paper
reports EBMM only as a plot (Figure 3b); Table 2's non-memory baselines
under 25% block noise: DAE 24.66, VAE 544.72.
"""
import ml_collections

from ebmm_jax.configs import image_base


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = image_base.get_image_config("cifar10", "resnet_conv")
  c.energy.dynamic_size = 8  # Writable channels per bottleneck: 9,232 floats.
  c.energy.channels = 32  # As for Omniglot (Section 4.2: "the same network").
  c.energy.hidden_size = 128  # Channels of the 4x4 recurrent state (C.3).
  c.energy.output_hidden_size = 1024  # tanh layer under Linear(1).
  c.energy.hops = 3  # Recurrence steps (C.3).

  c.data.num_patterns = 64  # Figure 3: batches of 64.
  c.data.block_size = 16  # A quarter of the image (docs/protocols.md).
  c.data.fill = "uniform"  # RGB: uniform [0, 1] noise (docs/protocols.md).

  def zeros(c):
    c.data.fill = "zeros"
  return image_base.apply_variants(
      c, arg, "configs/cifar10.py",
      extra={"zeros": zeros,
             "cpu": lambda c: image_base.cpu(c, hidden_size=64)})
