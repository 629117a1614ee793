r"""Omniglot with convolutional memory (Section 4.1, Appendix C.3; Figure 3a).

32x32 binarized Omniglot (stroke = 1), N = 64 images per memory, one 16x16
block of random {0, 1} noise per query at a random position (the model is not
told where), Hamming error per image. 3-block ResNet whose two bottleneck 3x3
convolutions have `dynamic_size` writable output channels each:
2 * (9 * 64 + 1) * d = 1,154 d floats (d = 8: 9,232). T = K = 5, AdamW 5e-5.

  python -m experiments.train --config=configs/omniglot_conv.py \
      --config.data.data_dir=DATA_DIR --workdir=runs/omniglot_conv
  python -m experiments.evaluate_images --workdir=runs/omniglot_conv \
      --figure=docs/omniglot_retrieval.png

Arguments after the colon select variants, comma-separated:
  runlocal  smoke run (widths 4-16, one hop, N = 4, 16x16 images with an 8x8
            block, 20 steps of about 0.1 s; about 2 min on a busy 2-core CPU,
            almost all of it compiling the meta-step).
  cpu       a CPU-hours model (RESULTS.md): half the widths (ResBlocks
            16, 32; bottlenecks 64 via 32, so 578 d floats), recurrent state
            64, tanh layer 256, 2 hops, AdamW 1e-3 and writing rates
            initialised at 1e-2 (the paper's 5e-5 and 1e-4 need its 2e6
            steps). Data, N = 64 and the 16x16 block are the paper's.
  gpu, recipe  as in every image config (`configs/image_base.py`): the
            paper's sizes for an accelerator; the binary-strings recipe.
  mem=K     the dynamic_size whose memory is closest to K floats, e.g.
            `mem=4k` (d = 4, 4,616 floats) or `mem=8k` (d = 7, 8,078) for the
            distortion/rate sweep of Figure 3a.
  stream    the 64 images arrive as 4 chunks of 16, each written from θ̄ on
            its own and added to the memory after a learned forgetting λ
            (`memory.stream_composition="superposed"`, as `binary-stream`);
            no curriculum. E.g. `cpu,recipe,mem=8k,stream` with
            --config.train.init_from=omniglot-n64 (docs/results/streams.md).

Data: the offline copy (DATA_DIR/omniglot, 8 alphabets) is split by
alphabet: train = Balinese, Greek, Japanese_(katakana), Latin, Sanskrit
(3,260 images); validation = Early_Aramaic (440 images), for every choice;
test = Korean, Tagalog (1,140 images), only for reported numbers; neither
seen in training. With the full archives or tfds: the canonical 30/20
split, five of the 30 background alphabets held out for validation.
Evaluations score `data.eval_split` (validation; `test` for reported
numbers, e.g. `evaluate_images --split=test`).

Expected time: the paper trains for up to 2e6 meta-steps on a GPU. On a
busy 2-core CPU a full-size meta-step (meta-batch 1, N = 64, T = K = 5)
takes about 27 s after ~2 minutes of compilation (BENCHMARKS.md; 195-270 s
before the convolutions were written as slices + matmul): a CPU can run only
a few hundred full-size steps a day; bound a run with
--config.train.max_seconds (it resumes from its workdir).

Expected result: the distorted query itself has a Hamming error of about 128
(half of the block's 256 pixels); the paper reports EBMM's errors only as a
plot (Figure 3a); Table 2's non-memory baselines: DAE 36.08, VAE 109.08.
"""
import ml_collections

from ebmm_jax.configs import image_base


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = image_base.get_image_config("omniglot", "resnet_conv")
  c.energy.dynamic_size = 8  # Writable channels per bottleneck: 9,232 floats.
  c.energy.channels = 32  # ResBlocks 32, 64; bottlenecks 128 via 64 (C.3).
  c.energy.hidden_size = 128  # Channels of the 4x4 recurrent state (C.3).
  c.energy.output_hidden_size = 1024  # tanh layer under Linear(1).
  c.energy.hops = 3  # Recurrence steps (C.3).

  c.data.num_patterns = 64  # Figure 3: batches of 64.
  c.data.block_size = 16  # Section 4.1: 16x16 block.
  c.data.fill = "binary"  # Random {0, 1} pixels in the block.

  return image_base.apply_variants(
      c, arg, "configs/omniglot_conv.py",
      extra={"cpu": lambda c: image_base.cpu(c, hidden_size=64), "stream": stream})


def stream(c: ml_collections.ConfigDict) -> None:
  """N = 64 as 4 chunks of 16, superposed, with a learned forgetting."""
  c.data.curriculum = ""  # A stream splits one fixed N.
  c.memory.stream_chunks = ",".join(["16"] * 4)
  c.memory.stream_composition = "superposed"
  c.memory.forget_init = 0.9  # λ at init.
  c.memory.stream_loss_weights = "uniform"
