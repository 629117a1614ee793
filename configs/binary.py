r"""Random binary strings with the gated-RNN energy (Appendix A.2, C.1; Table 1).

Paper-size model: 128-dim ±1 patterns, N = 64 per memory, hidden 1024, 5 hops,
writable Linear(128 -> 63) = 8,127 floats, T = K = 5, AdamW 5e-5.

  python -m experiments.train --config=configs/binary.py --workdir=/tmp/ebmm_binary

Arguments after the colon select variants, comma-separated:
  runlocal  seconds-scale smoke run (hidden 64, N = 16, 20 steps).
  cpu       the README's main job: a 10-minute CPU budget, with the recipe
            of the recipe study (RESULTS.md): hidden 256 (the memory, 8,127
            floats, is the paper's), AdamW 3e-3 for the weights; writing
            rates, alpha, beta and the first read step size in log space with
            their own learning rate 3e-2, started at 1.0 (rates) and 10 (γ(1));
            for N > 16, 1,000 meta-steps at N = 16 first (`data.curriculum`);
            10 minutes of training (`train.max_seconds`), the learning rates
            at their peak for the first 8 and 10x lower for the last 2
            (`optim.schedule='drop'` on the seconds clock).
  paper     the paper's meta-training recipe (also the default), spelled out.
  all_n     one model for every N: each training memory stores its own n,
            uniform over 1..96 (`data.num_patterns_per_memory`), padded to 96
            with a pattern mask (one compiled step), and writing rates scaled
            by (n / 96)^p with p meta-learned per term of Eq. (3), started at 0
            (`memory.n_scaling`); `:cpu,all_n` is the README's main job.
  n=K       store K patterns per memory (default 64), e.g. `:cpu,n=32`; after
            `all_n`, the largest n (the padded size).

`--config.energy.library=nnx` (or `equinox`) trains the same energy written in
Flax NNX (or Equinox) instead of Haiku: docs/energies.md.

Expected: the paper reaches 0.5 error bits at N = 64 after up to 2e6 steps on a
GPU; see RESULTS.md for what the `cpu` variant reaches in 10 minutes.
The first `cpu` recipe (softplus rates at 1e-2 moved by the weights' learning
rate) is the study's `old_cpu` variant (`configs/recipe_study.py`).
"""
import ml_collections

from ebmm_jax.configs import base


def paper(c: ml_collections.ConfigDict) -> None:
  """The paper's meta-training recipe (Appendix A, B, D), stated explicitly."""
  c.memory.rates = "softplus"
  c.memory.write_lr_init = 1e-4
  c.memory.write_rate_sharing = "per_step_tensor"
  c.memory.read_start = "query"
  c.memory.projection_gradient = "clip"
  c.memory.meta_loss_iterates = "all"
  c.memory.first_order_steps = 0
  c.memory.iterate_anneal_steps = 0
  c.optim.learning_rate = 5e-5
  c.optim.rate_learning_rate = 0.0
  c.optim.weight_decay = 1e-6
  c.optim.clip_global_norm = 0.05
  c.optim.warmup_steps = 0
  c.optim.schedule = "constant"


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  c = base.get_base_config()
  c.energy.name = "gated_rnn"
  c.energy.input_size = 128  # D: must equal data.pattern_dim.
  c.energy.hidden_size = 1024  # Recurrent state (Appendix C.1).
  c.energy.dynamic_size = 63  # (D - 1) // 2 writable outputs: 8,127 floats.
  c.energy.hops = 5  # Recurrent steps (Appendix C.1).

  c.data.name = "binary_strings"
  c.data.pattern_dim = 128
  c.data.num_patterns = 64

  return base.apply_variants(
      c, arg, "configs/binary.py",
      {"runlocal": runlocal, "cpu": cpu, "paper": paper, "all_n": all_n},
      {"n": base.integer("data", "num_patterns")})


def runlocal(c: ml_collections.ConfigDict) -> None:
  """Seconds-scale smoke run: hidden 64, 2 hops, N = 16, 20 steps."""
  base.runlocal(c)
  c.energy.hidden_size = 64
  c.energy.hops = 2
  c.data.num_patterns = 16


def cpu(c: ml_collections.ConfigDict) -> None:
  """The README's main job: the recipe study's recipe in 10 CPU minutes."""
  c.energy.hidden_size = 256
  c.optim.learning_rate = 3e-3
  # The recipe (configs/base.py): rates in log space with their own, 10x
  # larger learning rate; both at their peak for 80% of the 10 minutes, then
  # 10x lower, on the seconds clock.
  base.recipe(c, seconds=600.0)
  # Rates started near where training takes them (the recipe study).
  c.memory.write_lr_init = 1.0
  c.memory.read_step_size_init = 10.0
  c.train.log_every = 25
  c.train.checkpoint_every_secs = 60.0
  # Learn to write at N = 16 first (4x cheaper steps), then at N (N stands
  # for data.num_patterns, also when it is overridden; N <= 16: N throughout).
  c.data.curriculum = "16@0,N@1000"


def all_n(c: ml_collections.ConfigDict) -> None:
  """One model for every N up to 96 (Table 1's whole row)."""
  c.data.num_patterns = 96  # N_max: the padded batch size.
  c.data.num_patterns_per_memory = "uniform"  # n ~ U{1..N_max}, per memory.
  c.memory.n_scaling = "learned"
