r"""Random binary strings written as a stream: a memory's patterns arrive in
chunks, with a meta-learned forgetting between them (`memory.stream_chunks`).

The `binary.py:cpu` recipe (hidden 256, the paper's 8,127-float memory, rates
in log space with their own learning rate, 10 CPU minutes with a late drop),
with each memory's N = 64 patterns written as 4 chunks of 16, one after
another: before each chunk after the first the memory decays towards θ̄,
θ <- θ̄ + λ (θ - θ̄), with λ meta-learned per writable tensor (started at
0.9), then the chunk gets the usual T = 5 writing steps (Eq. 4). Every query
is read after the last chunk, and the meta-loss weighs all patterns alike.
A stream costs what one write of N costs (4 x 5 steps over 16 patterns).

  python -m experiments.train --config=configs/binary_stream.py \
      --workdir=/tmp/ebmm_binary_stream
  python -m experiments.forgetting --workdir=/tmp/ebmm_binary_stream \
      --json=/tmp/forgetting.json --figure=/tmp/forgetting.png

Arguments after the colon select variants, comma-separated:
  runlocal       seconds-scale smoke run: hidden 64, 2 hops, N = 16 as 4
                 chunks of 4, 20 steps on the steps clock.
  past_capacity  N = 128 as 8 chunks of 16: twice the patterns the one-write
                 model holds at N = 64, where what is kept and what is
                 forgotten matters.

The `cpu` recipe's curriculum (N = 16 first) is switched off: a stream
splits one fixed N into its chunks.

Expected: per-chunk error after the whole stream falling from the oldest
chunk to the newest (the forgetting curve of `experiments/forgetting.py`);
not yet measured at the full budget.
"""
import ml_collections

from ebmm_jax.configs import base
from ebmm_jax.configs import binary


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = binary.get_config("cpu")
  c.data.curriculum = ""  # A stream splits one fixed N.
  c.data.num_patterns = 64
  c.memory.stream_chunks = "16,16,16,16"  # N = 4 x 16, oldest first.
  c.memory.forget_init = 0.9  # λ at init: 90% of θ - θ̄ kept per chunk.
  c.memory.stream_loss_weights = "uniform"  # Every pattern alike.
  return base.apply_variants(
      c, arg, "configs/binary_stream.py",
      {"runlocal": runlocal, "past_capacity": past_capacity})


def past_capacity(c: ml_collections.ConfigDict) -> None:
  """N = 128 = 8 x 16: past what one write of 64 holds."""
  c.data.num_patterns = 128
  c.memory.stream_chunks = ",".join(["16"] * 8)


def runlocal(c: ml_collections.ConfigDict) -> None:
  """Seconds-scale smoke run: hidden 64, 2 hops, 16 = 4 x 4, 20 steps."""
  base.runlocal(c)
  c.energy.hidden_size = 64
  c.energy.hops = 2
  c.data.num_patterns = 16
  c.memory.stream_chunks = "4,4,4,4"
  # 20 meta-steps on the steps clock: the recipe's 10-minute seconds clock
  # and drop would refuse so short a step budget.
  c.optim.clock = "steps"
  c.optim.schedule = "constant"
  c.train.max_seconds = 0.0
