"""Config validation: a typo or a size mismatch fails here, with the fix named,
instead of as a shape error deep inside a jitted step."""
import ml_collections

from ebmm_jax.core import energy as energy_lib
from ebmm_jax.core import memory as memory_lib
from ebmm_jax.core import meta
from ebmm_jax.setups import curriculum as curriculum_lib

# The outer optimiser's learning-rate schedules (`training.optimizer`):
# "cosine" decays to final_fraction over the horizon; "drop" keeps the peak
# for the first drop_at of it, then final_fraction (RESULTS.md: a late step
# down beats a cosine at the same budget).
LR_SCHEDULES = ("constant", "cosine", "drop")
# What a schedule's horizon is measured in: meta-steps (`decay_steps`, default
# train.num_steps) or training seconds (train.max_seconds; `seconds_fraction`).
SCHEDULE_CLOCKS = ("steps", "seconds")

EBMM = "ebmm"
# The baselines that store images: Table 2's non-memory models and the image
# memories of Figures 3, 5a and 7; the others store binary strings (Table 1).
IMAGE_BASELINES = ("dae", "vae", "deep_image_prior", "memnet_images", "mann_images",
                   "kanerva")
# Every baseline a config's `model.name` may name (`ebmm_jax.baselines`).
BASELINES = ("memory_networks", "mann", "lstm", "plasticity", "modern_hopfield",
             "kanerva_binary", *IMAGE_BASELINES)
# On the seconds clock a step budget this large counts as unbounded: the time
# budget (train.max_seconds), not train.num_steps, ends the run (the recipes
# set 10,000,000 or more). Steps per second are not known before a run, so a
# smaller step budget could end it before its schedule does, and is refused.
UNBOUNDED_STEPS = 10_000_000
# Size fields of a baseline's `model` section; each must be >= 1 when present.
_BASELINE_SIZES = ("slots", "embedding_size", "hops", "hidden_size", "word_size",
                   "controller_size", "present_steps", "read_steps", "capacity")


def model_name(c: ml_collections.ConfigDict) -> str:
  """Which memory a config trains: "ebmm" (configs without a `model` section,
  every config written before the baselines) or `model.name`."""
  return c.model.name if "model" in c else EBMM


def validate(c: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the field when a config is inconsistent."""
  def need(cond, msg):
    if not cond:
      raise ValueError(f"Invalid config: {msg}")

  name = model_name(c)
  need(name in (EBMM,) + BASELINES,
       f"model.name={name!r} is not a known memory; known: {list(BASELINES)} "
       "(or no `model` section for EBMM).")
  need(c.data.num_patterns >= 1, f"data.num_patterns={c.data.num_patterns} must be >= 1.")
  if name == EBMM:
    _validate_ebmm_memory(c, need)
  else:
    _validate_baseline(c, need)
  need(c.optim.learning_rate > 0, "optim.learning_rate must be > 0.")
  need(c.optim.clip_global_norm > 0, "optim.clip_global_norm must be > 0.")
  _validate_schedule(c, need)
  need(c.train.num_steps >= 1, "train.num_steps must be >= 1.")
  need(c.train.meta_batch_size >= 0,
       "train.meta_batch_size must be >= 0 (0: one memory per device).")
  need(c.train.log_every >= 1, "train.log_every must be >= 1.")
  need(c.train.keep_checkpoints >= 1, "train.keep_checkpoints must be >= 1.")
  need(c.train.max_nonfinite_steps >= 1, "train.max_nonfinite_steps must be >= 1.")
  need(c.eval.num_batches >= 1 and c.eval.batches_per_call >= 1,
       "eval.num_batches and eval.batches_per_call must be >= 1.")
  if name == EBMM:
    _validate_ebmm_energy(c, need)


def _validate_ebmm_memory(c: ml_collections.ConfigDict, need) -> None:
  need(c.memory.write_steps >= 1, f"memory.write_steps={c.memory.write_steps} must be >= 1.")
  need(c.memory.read_steps >= 1, f"memory.read_steps={c.memory.read_steps} must be >= 1.")
  need(c.memory.meta_loss_iterates in ("all", "last"),
       f"memory.meta_loss_iterates={c.memory.meta_loss_iterates!r} must be 'all' or 'last'.")
  for field in ("write_lr_init", "grad_penalty_init", "prior_penalty_init",
                "read_step_size_init"):
    need(c.memory[field] > 0, f"memory.{field}={c.memory[field]} must be > 0.")
  m = c.memory
  for field, known in (("rates", memory_lib.RATE_PARAMETRISATIONS),
                       ("write_rate_sharing", meta.WRITE_RATE_SHARING),
                       ("read_start", memory_lib.READ_STARTS),
                       ("projection_gradient", memory_lib.PROJECTION_GRADIENTS),
                       ("n_scaling", memory_lib.N_SCALINGS),
                       ("stream_gradient", memory_lib.STREAM_GRADIENTS)):
    if field in m:
      need(m[field] in known, f"memory.{field}={m[field]!r} must be one of {list(known)}.")
  need(m.get("iterate_anneal_steps", 0) >= 0,
       f"memory.iterate_anneal_steps={m.get('iterate_anneal_steps')} must be >= 0.")
  need(m.get("first_order_steps", 0) >= 0,
       f"memory.first_order_steps={m.get('first_order_steps')} must be >= 0.")
  for field in ("read_step_decay_init", "read_momentum_init", "read_momentum_decay_init"):
    need(0 < c.memory[field] < 1, f"memory.{field}={c.memory[field]} must be in (0, 1).")
  _validate_stream(c, need)


def _validate_stream(c: ml_collections.ConfigDict, need) -> None:
  """A stream write (`memory.stream_chunks`): chunks that fill N, a λ in
  (0, 1), one loss weight per chunk, and a fixed N to split."""
  m, d = c.memory, c.data
  text = m.get("stream_chunks", "")
  try:
    chunks = meta.parse_chunks(text)
  except ValueError as e:
    need(False, f"memory.{e}")
  weights = m.get("stream_loss_weights", meta.UNIFORM_CHUNKS)
  if not chunks:
    need(str(weights).strip() in ("", meta.UNIFORM_CHUNKS),
         f"memory.stream_loss_weights={weights!r} needs memory.stream_chunks "
         "(a stream to weight).")
    return
  need(sum(chunks) == d.num_patterns,
       f"memory.stream_chunks={text!r} holds {sum(chunks)} patterns: the chunks must "
       f"sum to data.num_patterns={d.num_patterns}.")
  forget_init = m.get("forget_init", 0.9)
  need(0 < forget_init < 1, f"memory.forget_init={forget_init} must be in (0, 1).")
  try:
    meta.parse_chunk_weights(weights, len(chunks))
  except ValueError as e:
    need(False, f"memory.{e}")
  for field in ("curriculum", "train_num_patterns", "padded_sizes"):
    need(not d.get(field, ""),
         f"memory.stream_chunks splits a fixed N into chunks; data.{field}="
         f"{d.get(field)!r} changes the batch size: set it to ''.")


def _validate_schedule(c: ml_collections.ConfigDict, need) -> None:
  o, d = c.optim, c.data
  need(o.get("rate_learning_rate", 0.0) >= 0,
       f"optim.rate_learning_rate={o.get('rate_learning_rate')} must be >= 0 "
       "(0: optim.learning_rate).")
  need(o.get("warmup_steps", 0) >= 0, f"optim.warmup_steps={o.get('warmup_steps')} must be >= 0.")
  schedule = o.get("schedule", "constant")
  need(schedule in LR_SCHEDULES,
       f"optim.schedule={schedule!r} must be one of {list(LR_SCHEDULES)}.")
  clock = o.get("clock", "steps")
  need(clock in SCHEDULE_CLOCKS,
       f"optim.clock={clock!r} must be one of {list(SCHEDULE_CLOCKS)}.")
  if clock == "seconds":
    need(c.train.max_seconds > 0,
         "optim.clock='seconds' measures the schedule in training seconds: it "
         f"needs train.max_seconds > 0 (got {c.train.max_seconds}).")
  elif schedule != "constant":
    decay = o.decay_steps or c.train.num_steps
    need(decay > o.warmup_steps,
         f"optim.schedule={schedule!r} needs optim.decay_steps={o.decay_steps} (0: "
         f"train.num_steps={c.train.num_steps}) > optim.warmup_steps={o.warmup_steps}.")
  need(0 < o.get("drop_at", 0.8) < 1,
       f"optim.drop_at={o.get('drop_at')} must be in (0, 1).")
  need(0 <= o.get("final_fraction", 0.0) <= 1,
       f"optim.final_fraction={o.get('final_fraction')} must be in [0, 1].")
  try:
    curriculum = curriculum_lib.parse_curriculum(d.get("curriculum", ""), d.num_patterns)
    mix = curriculum_lib.parse_num_patterns(d.get("train_num_patterns", ""))
  except ValueError as e:
    need(False, str(e))
  need(not (curriculum and mix),
       "data.curriculum and data.train_num_patterns cannot both be set.")
  try:
    per_memory = curriculum_lib.parse_distribution(
        d.get("num_patterns_per_memory", ""), d.num_patterns)
  except ValueError as e:
    need(False, str(e))
  try:
    curriculum_lib.parse_padded_sizes(d.get("padded_sizes", ""), d.num_patterns)
  except ValueError as e:
    need(False, str(e))
  need(not d.get("padded_sizes", "") or per_memory,
       "data.padded_sizes needs data.num_patterns_per_memory (batches of several n).")
  need(not (per_memory and mix),
       "data.num_patterns_per_memory and data.train_num_patterns cannot both be set.")
  need(not per_memory or "memory" in c,
       "data.num_patterns_per_memory (training across N with padded batches) is "
       "supported for EBMM only; baselines train at one N.")
  need(c.train.get("seconds", "wall") in ("wall", "cpu"),
       f"train.seconds={c.train.get('seconds')!r} must be 'wall' or 'cpu'.")


def validate_training_budget(c: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the fields when a budget could end a training
  run before its learning-rate schedule has run out.

  Called by the trainer (`training.train`) before a run starts or resumes,
  not by `validate`: a model trained before this check still loads and is
  evaluated (e.g. the shipped `omniglot-n4`, whose step budget ended its run
  before the drop).

  Steps clock: the schedule's horizon `optim.decay_steps` must fit in
  `train.num_steps` (`train.max_seconds` there bounds one session, and a
  resumed run goes on with the schedule, so it skips nothing). Seconds clock:
  the horizon is `train.max_seconds`, and since a run's steps per second are
  not known in advance, any step budget below `UNBOUNDED_STEPS` could end the
  run first (e.g. before a drop at `optim.drop_at` of the seconds): refused.
  On both clocks the warm-up (in steps) must end within `train.num_steps`.
  """
  def need(cond, msg):
    if not cond:
      raise ValueError(f"Invalid config: {msg}")

  o, t = c.optim, c.train
  schedule = o.get("schedule", "constant")
  clock = o.get("clock", "steps")
  warmup = o.get("warmup_steps", 0)
  need(warmup < t.num_steps,
       f"optim.warmup_steps={warmup} must be < train.num_steps={t.num_steps}: the "
       "run would end before its learning rate reaches the peak.")
  if schedule == "constant":
    return
  if clock == "steps":
    need(o.decay_steps <= t.num_steps,
         f"optim.decay_steps={o.decay_steps} > train.num_steps={t.num_steps}: the run "
         f"would end before its {schedule!r} schedule does; set optim.decay_steps <= "
         "train.num_steps (0: train.num_steps).")
  else:
    need(t.num_steps >= UNBOUNDED_STEPS,
         f"train.num_steps={t.num_steps} with optim.clock='seconds' and "
         f"optim.schedule={schedule!r} over train.max_seconds={t.max_seconds:g}: the "
         "step budget could end the run before its schedule does (e.g. before the "
         f"drop at optim.drop_at={o.get('drop_at', 0.8):g} of the seconds), since "
         f"steps per second are not known in advance; set train.num_steps >= "
         f"{UNBOUNDED_STEPS:,} (unbounded: the time ends the run), or "
         "optim.clock='steps' with optim.decay_steps <= train.num_steps.")


def _validate_ebmm_energy(c: ml_collections.ConfigDict, need) -> None:
  library = c.energy.get("library", "haiku")
  need(library in energy_lib.LIBRARIES,
       f"energy.library={library!r} must be one of {list(energy_lib.LIBRARIES)}.")
  need(library == "haiku" or c.energy.name == "gated_rnn",
       f"energy.library={library!r}: energy.name={c.energy.name!r} exists in Haiku only "
       "(the gated RNN also in 'nnx' and 'equinox').")
  if c.energy.name == "gated_rnn":
    need(c.data.name == "binary_strings",
         f"energy.name='gated_rnn' is the binary-strings energy; data.name={c.data.name!r}.")
    need(c.energy.input_size == c.data.pattern_dim,
         f"energy.input_size={c.energy.input_size} must equal data.pattern_dim="
         f"{c.data.pattern_dim}.")
    need(0 < c.energy.dynamic_size < c.energy.hidden_size,
         f"energy.dynamic_size={c.energy.dynamic_size} must be in (0, energy.hidden_size="
         f"{c.energy.hidden_size}).")
    need(c.energy.hops >= 1, f"energy.hops={c.energy.hops} must be >= 1.")
  need(c.energy.name != "", "energy.name is empty: an experiment config must set it.")
  need(c.data.name != "", "data.name is empty: an experiment config must set it.")


def _validate_baseline(c: ml_collections.ConfigDict, need) -> None:
  """The fields of a baseline's config (`configs/memnet.py`, `configs/dae.py`...)."""
  if c.model.name in IMAGE_BASELINES:
    need(c.data.name != "binary_strings",
         f"model.name={c.model.name!r} is an image baseline (Table 2); "
         f"data.name={c.data.name!r}.")
    for field in ("channels", "code_size"):
      if field in c.model:
        need(isinstance(c.model[field], int) and c.model[field] >= 1,
             f"model.{field}={c.model[field]!r} must be an integer >= 1.")
    return
  need(c.data.name == "binary_strings",
       f"model.name={c.model.name!r} is a binary-strings baseline (Table 1); "
       f"data.name={c.data.name!r}.")
  need(c.data.pattern_dim >= 2, f"data.pattern_dim={c.data.pattern_dim} must be >= 2.")
  loss = c.model.get("loss", "cross_entropy")
  need(loss in ("cross_entropy", "squared"),
       f"model.loss={loss!r} must be 'cross_entropy' or 'squared'.")
  for field in _BASELINE_SIZES:
    if field in c.model:
      need(c.model[field] >= 1, f"model.{field}={c.model[field]} must be >= 1.")
