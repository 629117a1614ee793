r"""Omniglot -> MNIST transfer, without fine-tuning (Appendix A.6; Figure 10).

Evaluates a model meta-trained with `omniglot_conv.py` on MNIST test digits,
upscaled to 32x32 (bilinear) and binarized at 0.5 (digit = 1, like an
Omniglot stroke): N = 64 per memory, 16x16 block of {0, 1} noise, Hamming
error per image. The energy and every meta-learned parameter (including the
reading step sizes) come from the Omniglot workdir; only the data changes.

  python -m experiments.evaluate_images --config=configs/mnist_transfer.py \
      --config.data.data_dir=DATA_DIR --workdir=runs/omniglot_conv \
      --figure=docs/mnist_transfer.png

(--config.data.data_dir may be left out when the Omniglot run's data_dir also
holds mnist/.) This config is for evaluation, not training: only the MNIST
test split is available offline.

Arguments after the colon select variants, comma-separated: those of
`omniglot_conv.py` (`runlocal`, `mem=K`); give the ones the Omniglot model
was trained with (the workdir's energy is used regardless).

Expected time: not measured end to end; writing and reading one batch of
64 costs about 3.5 s on a busy 2-core CPU (5 write steps of 0.45 s, 5 read
steps of 0.25 s, omniglot_conv's full-size model), so 1,000 batches take
about an hour there (--num_batches=100 for a first look). Expected result:
the paper shows MNIST retrievals only as images (Figure 10: "clearly
recognizable" with some artifacts); the query's own error is about 128.
"""
import ml_collections

from ebmm_jax.configs import omniglot_conv


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = omniglot_conv.get_config(arg)
  c.unlock()
  c.data.name = "mnist"  # Test digits, 32x32, binarized (Appendix A.6).
  c.data.eval_split = "test"  # MNIST has no validation split (only transfer).
  c.lock()
  return c
