"""Config validation: a typo or a size mismatch fails here, with the fix named,
instead of as a shape error deep inside a jitted step."""
import ml_collections

from ebmm_jax.setups import curriculum as curriculum_lib
from ebmm_jax.setups import registry

# The outer optimiser's learning-rate schedules (`training.optimizer`):
# "cosine" decays to final_fraction over the horizon; "drop" keeps the peak
# for the first drop_at of it, then final_fraction (RESULTS.md: a late step
# down beats a cosine at the same budget).
LR_SCHEDULES = ("constant", "cosine", "drop")
# What a schedule's horizon is measured in: meta-steps (`decay_steps`, default
# train.num_steps) or training seconds (train.max_seconds; `seconds_fraction`).
SCHEDULE_CLOCKS = ("steps", "seconds")

# On the seconds clock a step budget this large counts as unbounded: the time
# budget (train.max_seconds), not train.num_steps, ends the run (the recipes
# set 10,000,000 or more). Steps per second are not known before a run, so a
# smaller step budget could end it before its schedule does, and is refused.
UNBOUNDED_STEPS = 10_000_000


def validate(c: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the field when a config is inconsistent."""
  def need(cond, msg):
    if not cond:
      raise ValueError(f"Invalid config: {msg}")

  spec = registry.spec_of(c)  # Refuses an unknown `model.name`.
  need(c.data.num_patterns >= 1, f"data.num_patterns={c.data.num_patterns} must be >= 1.")
  spec.validate(c, need)  # The model's own sections (`memory`, `energy`, `model`).
  need(c.optim.learning_rate > 0, "optim.learning_rate must be > 0.")
  need(c.optim.clip_global_norm > 0, "optim.clip_global_norm must be > 0.")
  _validate_schedule(c, need, spec)
  need(c.train.num_steps >= 1, "train.num_steps must be >= 1.")
  need(c.train.meta_batch_size >= 0,
       "train.meta_batch_size must be >= 0 (0: one memory per device).")
  need(c.train.log_every >= 1, "train.log_every must be >= 1.")
  need(c.train.keep_checkpoints >= 1, "train.keep_checkpoints must be >= 1.")
  need(c.train.get("keep_every_steps", 0) >= 0,
       f"train.keep_every_steps={c.train.get('keep_every_steps')} must be >= 0 (0: none).")
  need(c.train.max_nonfinite_steps >= 1, "train.max_nonfinite_steps must be >= 1.")
  need(c.eval.num_batches >= 1 and c.eval.batches_per_call >= 1,
       "eval.num_batches and eval.batches_per_call must be >= 1.")


def _validate_schedule(c: ml_collections.ConfigDict, need, spec) -> None:
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
  horizon = o.get("horizon_seconds", 0.0)
  need(horizon >= 0, f"optim.horizon_seconds={horizon:g} must be >= 0 (0: train.max_seconds).")
  need(not horizon or clock == "seconds",
       f"optim.horizon_seconds={horizon:g} is the seconds clock's horizon; with "
       "optim.clock='steps' the horizon is optim.decay_steps.")
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
  need(not per_memory or spec.trains_across_n,
       "data.num_patterns_per_memory (training across N with padded batches) is "
       f"supported by EBMM only; {spec.name!r} trains at one N.")
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
  run first (e.g. before a drop at `optim.drop_at` of the seconds): refused,
  as is a horizon (`optim.horizon_seconds`) beyond `train.max_seconds`.
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
    horizon = o.get("horizon_seconds", 0.0)
    need(horizon <= t.max_seconds,
         f"optim.horizon_seconds={horizon:g} > train.max_seconds={t.max_seconds:g}: the "
         f"run would end before its {schedule!r} schedule does; set "
         "optim.horizon_seconds <= train.max_seconds (0: train.max_seconds).")
    need(t.num_steps >= UNBOUNDED_STEPS,
         f"train.num_steps={t.num_steps} with optim.clock='seconds' and "
         f"optim.schedule={schedule!r} over train.max_seconds={t.max_seconds:g}: the "
         "step budget could end the run before its schedule does (e.g. before the "
         f"drop at optim.drop_at={o.get('drop_at', 0.8):g} of the seconds), since "
         f"steps per second are not known in advance; set train.num_steps >= "
         f"{UNBOUNDED_STEPS:,} (unbounded: the time ends the run), or "
         "optim.clock='steps' with optim.decay_steps <= train.num_steps.")
