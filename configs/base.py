"""Defaults shared by every experiment (paper, Appendix A and B), and the one
parser of config variants.

Experiment files call `get_base_config()`, override what differs, and parse
their variants with `apply_variants`. Every field carries a comment;
`ebmm_jax.setups.configuration.validate` checks a built config.
"""
from typing import Callable, Mapping, Optional

import ml_collections

Variant = Callable[[ml_collections.ConfigDict], None]
KeyedVariant = Callable[[ml_collections.ConfigDict, str], None]


def apply_variants(c: ml_collections.ConfigDict, arg: str, config_file: str,
                   variants: Mapping[str, Variant],
                   keyed: Optional[Mapping[str, KeyedVariant]] = None
                   ) -> ml_collections.ConfigDict:
  """Applies the comma-separated variants of `arg` in order, then locks `c`.

  A bare name calls `variants[name](c)`; `key=value` calls
  `keyed[key](c, value)`. Anything else raises ValueError naming the file and
  every known variant.
  """
  keyed = dict(keyed or {})
  for v in (a.strip() for a in arg.split(",") if a.strip()):
    key, sep, value = v.partition("=")
    if sep and key in keyed:
      keyed[key](c, value)
    elif not sep and v in variants:
      variants[v](c)
    else:
      known = ", ".join([*variants, *(f"{k}=K" for k in keyed)])
      raise ValueError(f"Unknown variant {v!r} of {config_file}; known: {known}.")
  c.lock()
  return c


def number(section: str, field: str, minimum: float = 1, kind: type = int) -> KeyedVariant:
  """A `key=K` variant that sets the field `section.field` to K, an `int`
  (`kind`) or a `float`, at least `minimum`."""
  expected = "an integer" if kind is int else "a number"

  def set_field(c: ml_collections.ConfigDict, text: str) -> None:
    try:
      value = kind(text)
    except ValueError:
      raise ValueError(f"{section}.{field}: expected {expected}, got {text!r}.") from None
    if value < minimum:
      raise ValueError(f"{section}.{field}={value:g} must be >= {minimum:g}.")
    c[section][field] = value

  return set_field


def integer(section: str, field: str, minimum: int = 1) -> KeyedVariant:
  """A `key=K` variant that sets the integer field `section.field` to K."""
  return number(section, field, minimum, int)


def real(section: str, field: str, minimum: float = 0.0) -> KeyedVariant:
  """A `key=X` variant that sets the float field `section.field` to X."""
  return number(section, field, minimum, float)


def get_base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0  # Seeds parameters, data and distortions.

  c.energy = ml_collections.ConfigDict()
  c.energy.name = ""  # Energy model: "gated_rnn" (C.1), or an image ResNet (C.2-C.5).
  # Network library of the energy: "haiku", "nnx" (Flax NNX; extra `flax`) or
  # "equinox" (extra `equinox`); the gated RNN exists in all three (docs/energies.md),
  # the image energies in Haiku only.
  c.energy.library = "haiku"

  c.data = ml_collections.ConfigDict()
  c.data.name = ""  # "binary_strings", "omniglot", "cifar10", "imagenet64", "mnist".
  c.data.num_patterns = 64  # N: patterns written into one memory.
  c.data.data_dir = ""  # Where the data's files live (images only).
  c.data.curriculum = ""  # Training N over meta-steps, "n@STEP,...", e.g. "16@0,N@2000" (N: num_patterns).
  c.data.train_num_patterns = ""  # Train on several N, e.g. "16,32,64" (one per step).
  # Train across N in every meta-step (EBMM): each memory draws its own n <=
  # num_patterns (then the padded size N_max), e.g. "uniform" (1..N_max),
  # "uniform:8-96", "loguniform" (P(n) ~ 1/n), "16,32,64" or weighted
  # "16:1,64:3"; one compiled step.
  c.data.num_patterns_per_memory = ""
  # With num_patterns_per_memory: pad each meta-step's batches to the
  # smallest of these sizes that holds its largest n, e.g. "16,32,64,96"
  # (the last must be num_patterns): one compilation per size, and small-n
  # steps cost what their size costs; "" pads every step to num_patterns.
  c.data.padded_sizes = ""

  c.memory = ml_collections.ConfigDict()
  c.memory.write_steps = 5  # T of Eq. (4) (Section 4: T = 5).
  c.memory.read_steps = 5  # K of Eq. (1) (Section 4: K = 5).
  c.memory.write_lr_init = 1e-4  # Initial writing rate, each step/layer/term (Appendix D).
  c.memory.grad_penalty_init = 1.0  # alpha of Eq. (3) at init.
  c.memory.prior_penalty_init = 1.0  # beta of Eq. (3) at init.
  c.memory.rates = "softplus"  # Rates, alpha, beta, γ(1) from raw: "softplus" (D) or "log".
  # How the writing rates depend on the n patterns written: "mean" (Eq. 3,
  # the paper), "sum" (data terms x n / N_max), "learned" ((n / N_max)^p, p
  # meta-learned per term of Eq. 3, started at 0).
  c.memory.n_scaling = "mean"
  # "learned": p's start on the data terms (0: the mean, 1: the sum).
  c.memory.n_exponent_init = 0.0
  c.memory.write_rate_sharing = "per_step_tensor"  # Or "per_step", "per_tensor", "shared".
  # Write each memory as a stream: its N patterns arrive in chunks of these
  # sizes (summing to data.num_patterns, oldest first), e.g. "16,16,16,16";
  # before each chunk after the first the memory decays towards θ̄,
  # θ <- θ̄ + λ (θ - θ̄), λ meta-learned per writable tensor; every query is
  # read after the last chunk. "": one write (the paper).
  c.memory.stream_chunks = ""
  c.memory.forget_init = 0.9  # λ at init (streams only), in (0, 1).
  # Streams: each chunk's weight in the meta-loss, "uniform" (every pattern
  # alike) or one positive number per chunk, oldest first, e.g. "1,1,2,4".
  c.memory.stream_loss_weights = "uniform"
  # Streams: >0 moves the chunk weights linearly from stream_loss_weights to
  # uniform over these meta-steps (e.g. from the newest chunk to all).
  c.memory.stream_weights_anneal_steps = 0
  # Streams: "full" meta-gradient through every chunk's write, or "truncated"
  # (each chunk starts from a constant memory; no gradient through the chunks
  # before it).
  c.memory.stream_gradient = "full"
  # A write that starts from a written memory (append, a stream's chunks):
  # Eq. (3)'s prior term pulls towards "init" (θ̄, the paper's) or "start"
  # (the memory the write starts from, after the stream's forgetting).
  c.memory.write_prior = "init"
  # Streams: a chunk "chained" (Eq. 4 from the forgotten memory) or
  # "superposed" (written from θ̄ on its own, its displacement θ - θ̄ added
  # to the forgotten memory).
  c.memory.stream_composition = "chained"
  c.memory.read_step_size_init = 1.0  # γ(1), Appendix B.3.
  c.memory.read_step_decay_init = 0.9  # σ(η(k)): γ(k) = γ(k-1) σ(η(k)) at init.
  c.memory.read_momentum_init = 0.5  # ψ(1), Nesterov momentum (B.2).
  c.memory.read_momentum_decay_init = 0.9  # ψ(k) = ψ(k-1) σ(.) at init.
  c.memory.read_start = "query"  # x(0): "query", or "center" (unknown entries at 0).
  c.memory.projection_gradient = "clip"  # Or "straight_through" (identity derivative).
  c.memory.meta_loss_iterates = "all"  # "all": step-wise loss (B.4); "last": x(K) only.
  c.memory.iterate_anneal_steps = 0  # >0: x(1..K-1)'s weight falls 1 -> 0 over these steps.
  c.memory.first_order_steps = 0  # First meta-steps with first-order meta-gradients.
  c.memory.remat = False  # Recompute write/read steps in the backward pass.
  # Unroll the write and read loops (same values; a resumed run may switch
  # it). Compiles slower; on a 2-core CPU no faster (BENCHMARKS.md).
  c.memory.unroll = False

  c.optim = ml_collections.ConfigDict()
  c.optim.learning_rate = 5e-5  # AdamW (Appendix A).
  c.optim.weight_decay = 1e-6  # AdamW (Appendix A).
  c.optim.clip_global_norm = 0.05  # Meta-gradient clipping (Appendix A).
  c.optim.rate_learning_rate = 0.0  # Own lr for rates and step sizes (0: learning_rate).
  # Own lr for the static (non-writable) energy weights (< 0: learning_rate;
  # 0: frozen at initialisation, a random-feature energy whose θ̄, rates and
  # step sizes are still meta-learned).
  c.optim.static_learning_rate = -1.0
  c.optim.warmup_steps = 0  # Linear learning-rate warm-up.
  # "constant"; "cosine" (to final_fraction over the horizon); "drop" (the
  # peak for drop_at of the horizon, then final_fraction of it).
  c.optim.schedule = "constant"
  c.optim.decay_steps = 0  # Horizon in meta-steps, warm-up included (0: train.num_steps).
  c.optim.final_fraction = 0.0  # Final learning rate / peak.
  c.optim.drop_at = 0.8  # "drop": fraction of the horizon at the peak.
  # "steps" (decay_steps) or "seconds": the horizon is train.max_seconds of
  # training, which then is the run's whole budget (resumes included).
  c.optim.clock = "steps"
  # Seconds clock: the horizon in training seconds when it is not the budget
  # (0: train.max_seconds); resumable. A leg that continues a finished run at
  # its low rate sets it to the earlier budget and raises train.max_seconds.
  c.optim.horizon_seconds = 0.0

  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 2_000_000  # Meta-steps (Appendix A: 2e6 or a week).
  c.train.max_seconds = 0.0  # Stop after this many training seconds (0: no limit); resumable.
  # What train.max_seconds and the seconds clock count: "wall" time, or this
  # process's "cpu" time (a budget that other jobs on the machine do not eat).
  c.train.seconds = "wall"
  c.train.meta_batch_size = 0  # Memories per meta-step, split over devices (0: one per device).
  c.train.log_every = 50  # Meta-steps between metric lines.
  c.train.checkpoint_every_secs = 300.0  # Wall time between checkpoints.
  c.train.keep_checkpoints = 3  # Newest checkpoints kept on disk.
  # Also kept for good: the first checkpoint at or after each multiple of
  # this many meta-steps (0: none), to go back to if a long run diverges.
  c.train.keep_every_steps = 0
  c.train.max_nonfinite_steps = 10  # Consecutive non-finite meta-steps before failing.
  c.train.init_from = ""  # A workdir whose newest meta-parameters start this run.

  c.eval = ml_collections.ConfigDict()
  c.eval.num_batches = 1000  # Random test batches (Appendix A: 1,000).
  c.eval.batches_per_call = 50  # Batches evaluated per jitted call.
  c.eval.seed = 12345  # Evaluation data and distortions; differs from training's.
  return c


# A step budget no time-budgeted run reaches: the seconds end it.
UNBOUNDED_STEPS = 100_000_000


def recipe(c: ml_collections.ConfigDict, seconds: float) -> None:
  """The meta-training recipe of the recipe study (docs/results/recipe.md),
  shared by every `cpu`/`gpu` variant, for a `seconds` training budget:
  EBMM's writing rates, alpha, beta and read step sizes in log space with
  their own learning rate 3e-2; both learning rates at their peak for 80% of
  the budget, then 10x lower, on the seconds clock (a slower machine makes
  fewer steps but always ends at the low rate: a constant rate stops falling
  at its noise floor, and a late drop beat a cosine at the same budget)."""
  if "memory" in c:  # EBMM's rates (a baseline has none).
    c.memory.rates = "log"
    c.optim.rate_learning_rate = 3e-2
  c.optim.schedule = "drop"
  c.optim.drop_at = 0.8
  c.optim.final_fraction = 0.1
  c.optim.clock = "seconds"
  c.train.max_seconds = float(seconds)
  c.train.num_steps = UNBOUNDED_STEPS  # The time budget ends the run.


def runlocal(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks a config to a seconds-scale run (tests, smoke checks)."""
  c.train.num_steps = 20
  c.train.log_every = 5
  c.train.checkpoint_every_secs = 0.0
  c.eval.num_batches = 20
  c.eval.batches_per_call = 10
  return c
