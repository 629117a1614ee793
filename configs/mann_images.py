r"""MANN on images (Figures 3a, 3b, 5a: error against memory size).

The image encoder of Appendix C.2 (ResBlocks 32, 64, 96; Linear(256),
LayerNorm) turns each image into a code; the MANN of Table 1 (an LSTM
controller, H = 64, with a least-recently-used write head and a
content-based read head over M [R, W]) writes the codes one after another
and reads one word per query's code, which the transposed encoder decodes
(`ebmm_jax/baselines/image_memories.py`). Trained on Eq. (2) by the
meta-training loop, like EBMM and the DAE. Memory: M, usage, read weights,
read vector and controller state, R W + 2R + W + 2H floats; by default
R = 64 rows (one per stored image) of W = 256: 16,896 floats. `mem=K` sets
the word size W closest to K floats (65 W + 256 at R = H = 64: 2k is W = 28,
2,076 floats).

  python -m experiments.train --config=configs/mann_images.py:cpu,mem=4k \
      --config.data.data_dir=DATA_DIR --workdir=runs/mann_omniglot_4k
  python -m experiments.evaluate_images --workdir=runs/mann_omniglot_4k

Variants (comma-separated), as in configs/memnet_images.py: data=NAME
(omniglot, cifar10, imagenet64), salt, n=K, mem=K (the word size, or with
--config.model.budget_field=slots the number of rows, closest to K floats),
cpu, gpu, runlocal (widths 4, code 16, R = N = 4 rows of W = 8, H = 4).

Paper: Figure 3a (Omniglot): MANN "has been able to learn the most efficient
compression strategy, but could not make use of larger memory"; Figure 5a:
better than Memory Networks at small memory sizes. Expected here: not
measured.
"""
import ml_collections

from ebmm_jax.configs import memnet_images


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  return memnet_images.image_memory_config(
      "mann_images", "configs/mann_images.py", arg,
      sizes=dict(slots=0,  # R: memory rows (0: one per stored image).
                 word_size=256,  # W: memory width.
                 controller_size=64),  # H: the LSTM controller (Table 1's).
      runlocal_sizes=dict(word_size=8, controller_size=4), budget_field="word_size")
