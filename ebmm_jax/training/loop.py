"""The meta-training loop: jitted data-parallel meta-steps, resumable.

`train(config, workdir)` meta-trains an experiment, resuming from the newest
checkpoint in `workdir/checkpoints`. Data and distortion keys are derived from
(seed, step), so a resumed run sees exactly the batches an uninterrupted run
would have seen.
"""
import contextlib
import json
import os
import signal
import threading
import time
from typing import Any, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from etils import epath
from jax.experimental import multihost_utils
from jax.sharding import PartitionSpec

from ebmm_jax.training import checkpoint
from ebmm_jax.setups import configuration
from ebmm_jax.setups import curriculum
from ebmm_jax import setups
from ebmm_jax import pretrained
from ebmm_jax.core import meta
from ebmm_jax.core import progress
from ebmm_jax.training import metrics as metrics_lib
from ebmm_jax.training import optimizer as optimizer_lib
from ebmm_jax.training import parallel
from ebmm_jax.training import step as step_lib
from ebmm_jax.core import params as params_lib
from ebmm_jax.training import workdir as workdir_lib


class NonFiniteError(FloatingPointError):
  """Raised after too many consecutive non-finite meta-steps."""


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(workdir, "checkpoints")


# Jitted meta-steps by (config, devices): a process that trains the same config
# again (a resumed run, a notebook cell run twice) reuses the compilation.
_STEP_CACHE = {}


def make_train_step(exp: setups.Experiment, mesh, first_order: bool = False):
  """The jitted meta-step: state replicated, meta-batch split over `mesh`.

  `first_order`: the meta-gradient holds the inner (writing) gradients
  constant (`MemoryModel.first_order`), for the first
  `memory.first_order_steps` meta-steps of a run (MAML++'s derivative-order
  annealing).
  """
  c = exp.config  # Only these fields change the step's computation.
  cache_key = (tuple(c[k].to_json() for k in ("energy", "model", "data", "memory", "optim")
                     if k in c),
               c.train.meta_batch_size, tuple(d.id for d in mesh.devices.flat),
               first_order)
  if cache_key not in _STEP_CACHE:
    _STEP_CACHE[cache_key] = _make_train_step(exp, mesh, first_order)
  return _STEP_CACHE[cache_key]


def _make_train_step(exp: setups.Experiment, mesh, first_order: bool):
  optimizer = optimizer_lib.for_config(exp.config)
  model = exp.model
  if first_order:
    if model.first_order is None:
      raise ValueError(f"{model.name} has no first-order meta-gradients "
                       "(memory.first_order_steps must be 0).")
    model = model.first_order()

  def step(state, patterns, key, lr_scale, counts):
    # EBMM and every baseline: the same step on the model's own loss, told
    # the meta-step (MAML++'s annealed multi-step loss uses it) and, when
    # memories hold different n (padded batches), each one's pattern mask.
    loss = lambda p, x, k, **mask: model.loss(p, x, k, step=state.step, **mask)
    return step_lib.meta_step(loss, optimizer, state, patterns, key,
                              axis_name=parallel.DATA_AXIS,
                              schedules_fn=model.schedules, lr_scale=lr_scale,
                              counts=counts)

  # Each device meta-learns on its share of the memories; the meta-gradient
  # is averaged over the `data` axis inside the step (pmean), so the update
  # is the same replicated computation on every device.
  split = PartitionSpec(parallel.DATA_AXIS)
  step = jax.shard_map(step, mesh=mesh,
                       in_specs=(PartitionSpec(), split, PartitionSpec(), PartitionSpec(),
                                 split),
                       out_specs=(PartitionSpec(), PartitionSpec()))
  repl, data = parallel.replicated(mesh), parallel.data_sharded(mesh)
  jitted = jax.jit(step, in_shardings=(repl, data, repl, repl, data),
                   out_shardings=(repl, repl), donate_argnums=0)

  def train_step(state, patterns, key, lr_scale=1.0, counts=None):
    """(state, patterns [M, N, ...], key[, lr_scale][, counts [M]]) ->
    (state, metrics); `lr_scale` multiplies both learning rates (the seconds
    clock, `optim.clock`); `counts`: memory m holds its first counts[m]
    patterns (None: all N)."""
    return jitted(state, patterns, key, jnp.asarray(lr_scale, jnp.float32), counts)

  train_step.jitted = jitted  # Its compilations can be counted (`_cache_size`).
  # Ahead-of-time lowering with the same arguments (the benchmark's cost analysis).
  train_step.lower = lambda state, patterns, key, lr_scale=1.0, counts=None: jitted.lower(
      state, patterns, key, jnp.asarray(lr_scale, jnp.float32), counts)
  return train_step


def make_sampler(exp: setups.Experiment, mesh):
  """(key, N=data.num_patterns) -> a meta-batch of training patterns [M, N, ...],
  split over `mesh`; `sample.counts(step, N)` -> each memory's n [M], split
  alike, when memories draw their own n (`data.num_patterns_per_memory`;
  None otherwise).

  Memory m of the meta-batch is sampled with key `fold_in(key, m)`, m counted
  over the whole meta-batch: each process samples only its own memories (its
  host's share, which its own devices hold), and any split over processes and
  devices gives the same data.
  """
  c = exp.config
  sharding = parallel.data_sharded(mesh)
  per_process = parallel.meta_batch_size(c.train.meta_batch_size, mesh) // jax.process_count()
  first = jax.process_index() * per_process

  def sample(key, num_patterns=None):
    num_patterns = c.data.num_patterns if num_patterns is None else num_patterns
    local = [exp.sample_train(jax.random.fold_in(key, first + i), 1, num_patterns)
             for i in range(per_process)]
    if jax.process_count() == 1:  # No trip through the host.
      return jax.device_put(jnp.concatenate(local), sharding)
    return jax.make_array_from_process_local_data(
        sharding, np.concatenate([np.asarray(x) for x in local]))

  def counts(step):
    if not c.data.get("num_patterns_per_memory", ""):
      return None
    local = curriculum.counts_at(c, step, first, per_process)
    if jax.process_count() == 1:
      return jax.device_put(local, sharding)
    return jax.make_array_from_process_local_data(sharding, local)

  sample.counts = counts
  return sample


def run_keys(seed: int):
  """(init, data, distortion) keys of a run."""
  k_init, k_data, k_distort = jax.random.split(jax.random.PRNGKey(seed), 3)
  return k_init, k_data, k_distort


def initial_state(exp: setups.Experiment) -> step_lib.TrainState:
  k_init, _, _ = run_keys(exp.config.seed)
  return step_lib.init_train_state(exp.model.init(k_init),
                                   optimizer_lib.for_config(exp.config))


class CheckpointError(RuntimeError):
  """A workdir holds checkpoints, none of which can be read."""


def train(config: ml_collections.ConfigDict, workdir: str, mesh=None,
          restart: bool = False) -> step_lib.TrainState:
  """Meta-trains `config` in `workdir`; returns the final TrainState.

  A workdir with checkpoints is resumed, and only with the config it was
  trained with (budget fields may change: `workdir.RESUMABLE_FIELDS`);
  otherwise `workdir.ConfigMismatchError` names the differing fields. With
  `restart`, the old run's files are first moved into
  `WORKDIR/previous_<time>/` and a new run starts. One trainer at a time:
  a second one on a live workdir raises `workdir.WorkdirBusyError`.
  """
  _check_reachable(workdir)
  mesh = parallel.make_mesh() if mesh is None else mesh
  config = parallel.with_meta_batch(config, mesh)
  exp = setups.build(config)
  # No budget that would end the run before its schedule (one-line error).
  configuration.validate_training_budget(config)
  is_writer = jax.process_index() == 0
  if is_writer:
    epath.Path(workdir).mkdir(parents=True, exist_ok=True)
  guard = workdir_lib.lock(workdir) if is_writer else contextlib.nullcontext()
  with guard:
    return _train(exp, workdir, mesh, is_writer, restart)


def _check_reachable(workdir: str) -> None:
  """A cloud workdir (gs://, s3://) needs its filesystem's client library:
  say which, before anything is written."""
  if "://" not in workdir:
    return
  try:
    epath.Path(workdir).exists()
  except ImportError as e:
    raise ValueError(f"workdir={workdir!r} cannot be reached: {e} (or install "
                     "TensorFlow, whose file system reads cloud paths).") from None


# Optional leaves of the writing rule that a model may add to a saved one
# (`WriteParams`): fine-tuning a memory trained at one N across N, or as a stream.
_NEW_WRITE_LEAVES = ("n_exponent", "forgetting")


def _load_with_new_leaves(params_file, template, source: str):
  """(meta-parameters of `params_file`, names of the leaves that start at
  their init): the saved memory's parameters, and where this config's model
  adds one of `_NEW_WRITE_LEAVES` that the saved one lacks, that leaf from
  `template` (the new model's init)."""
  try:
    return checkpoint.load(params_file, template), []
  except ValueError as first_error:
    error = first_error
  present = [f for f in _NEW_WRITE_LEAVES if getattr(template.write, f, None) is not None]
  if present:
    older = template._replace(write=template.write._replace(**{f: None for f in present}))
    try:
      loaded = checkpoint.load(params_file, older)
    except ValueError:
      pass
    else:
      return loaded._replace(write=loaded.write._replace(
          **{f: getattr(template.write, f) for f in present})), present
  raise CheckpointError(f"train.init_from={source!r}: its meta-parameters do not fit "
                        f"this config's model ({error}).") from None


def _initialised_from(source: str, state: step_lib.TrainState) -> step_lib.TrainState:
  """`state` with the meta-parameters of `source` (`train.init_from`: fine-tune
  another model with a new recipe or batch size, in a new workdir, leaving the
  source untouched); step and optimiser start afresh. `source` is a training
  workdir (its newest readable checkpoint), a folder saved by `Memory.save`,
  or the name of a shipped memory (e.g. `omniglot-n4`)."""
  template = jax.tree_util.tree_map(np.asarray, state)
  params_file = pretrained.saved_params(source)
  if params_file is not None:
    meta_params, fresh = _load_with_new_leaves(params_file, template.meta_params, source)
    logging.info("Initialised from the saved memory %s (new optimiser, step 0)%s.",
                 source, f"; new, at their init: {', '.join(fresh)}" if fresh else "")
    return state._replace(meta_params=meta_params)
  restored = checkpoint.restore_latest(checkpoint_dir(source), template)
  if restored is None:
    raise CheckpointError(
        f"train.init_from={source!r}: no checkpoint there fits this config's model "
        "(missing, unreadable, or other parameter shapes).")
  logging.info("Initialised from %s, checkpoint at step %d (new optimiser, step 0).",
               source, restored[0])
  return state._replace(meta_params=restored[1].meta_params)


def _train(exp, workdir, mesh, is_writer, restart) -> step_lib.TrainState:
  config, t = exp.config, exp.config.train
  state, resumed = _restore_or_init(exp, workdir, is_writer, restart)
  state = jax.device_put(state, parallel.replicated(mesh))
  step = start_step = int(parallel.to_host(state.step))
  step_fn_at = _step_functions(exp, mesh)
  sample = make_sampler(exp, mesh)
  _, k_data, k_distort = run_keys(config.seed)
  global_batch = parallel.meta_batch_size(t.meta_batch_size, mesh)
  log = _Log(exp, workdir, is_writer)
  clock = _Clock(config, workdir if resumed else None, step)
  lr_scale = _LearningRateScale(config)
  log.mark(step, clock.start_time)
  last_checkpoint = clock.seconds
  stop = _StopRequest(log_every=t.log_every)
  # A stop asked for (SIGTERM, Ctrl-C) ends the loop at the step reached,
  # after checkpointing it; the signal is then passed on.
  try:
    with stop:
      while step < t.num_steps:
        num_patterns = curriculum.padded_size_at(config, step, global_batch)
        patterns = sample(jax.random.fold_in(k_data, step), num_patterns)
        counts = sample.counts(step)
        state, metrics = step_fn_at(step)(state, patterns, jax.random.fold_in(k_distort, step),
                                          lr_scale.array(clock.seconds), counts)
        step += 1
        if step == start_step + 1:  # Rates and ETA exclude the compilation.
          jax.block_until_ready(state)
          log.mark(step, time.time())
        _check_finite(state, step, t)
        now = time.time()
        seconds = clock.read()
        stopping = stop.requested(step)
        done = step >= t.num_steps or (t.max_seconds > 0 and seconds >= t.max_seconds)
        if step % t.log_every == 0 or done or stopping:
          log.write(step, now, state, metrics, num_patterns, counts, lr_scale.value, clock)
        # Every process takes part in a save (orbax), at the same steps: the
        # clock and the stop are agreed.
        if done or stopping or seconds - last_checkpoint >= t.checkpoint_every_secs:
          _save(workdir, step, state, t)
          last_checkpoint = seconds
        if stopping:
          logging.warning("Stopped by %s at meta-step %d, its checkpoint saved; the same "
                          "command resumes the run.", stop.name, step)
        if done or stopping:
          break
  finally:
    log.close()
  logging.info("Trained %d meta-steps in %.1f s.", step - start_step,
               time.time() - clock.start_time)
  stop.pass_on()
  return state


class _StopRequest:
  """SIGTERM or SIGINT (a scheduler's preemption, `kill`, Ctrl-C) during
  training: the loop saves a checkpoint at the step it reached and ends, and
  then the signal takes its usual course (`pass_on`: the process ends, or
  KeyboardInterrupt), so no work since the last checkpoint is lost.

  With several processes, the stop is agreed every `log_every` steps (the
  step saved is the same everywhere). Handlers are installed only from the
  main thread, and the previous ones restored on exit."""

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self, log_every: int):
    self._log_every = max(1, int(log_every))
    self._previous = {}
    self.signum = None

  @property
  def name(self) -> str:
    return signal.Signals(self.signum).name if self.signum is not None else ""

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in self.SIGNALS:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    return False

  def _handle(self, signum, frame):
    del frame
    if self.signum is not None:  # A second signal: stop now, as without us.
      self.__exit__()
      signal.raise_signal(signum)
      return
    self.signum = signum
    logging.warning("%s received: saving a checkpoint after this meta-step.", self.name)

  def requested(self, step: int) -> bool:
    if jax.process_count() == 1:
      return self.signum is not None
    if step % self._log_every:
      return False
    flags = multihost_utils.process_allgather(np.int32(self.signum is not None))
    if np.any(flags) and self.signum is None:
      self.signum = signal.SIGTERM
    return bool(np.any(flags))

  def pass_on(self) -> None:
    """After the checkpoint: the signal that stopped training, delivered
    again to the handler that was there before."""
    if self.signum is not None and self._previous:
      signal.raise_signal(self.signum)


def _restore_or_init(exp, workdir, is_writer, restart) -> Tuple[step_lib.TrainState, bool]:
  """(state, resumed): the newest checkpoint of `workdir`'s run (whose config
  must match), else a new run's state, from `train.init_from` or freshly
  initialised. With `restart` an earlier run is first moved aside. Process 0
  writes the run's config.json."""
  config = exp.config
  saved = checkpoint.list_checkpoints(checkpoint_dir(workdir))
  has_run = bool(saved) or (epath.Path(workdir) / workdir_lib.CONFIG_FILE).exists()
  if restart and has_run:
    if is_writer:
      logging.warning("Restarting: the previous run was moved to %s.",
                      workdir_lib.move_aside(workdir))
    saved = []
  elif saved:
    workdir_lib.check_config(workdir, config)
  if is_writer:
    workdir_lib.write_config(workdir, config)

  state = initial_state(exp)
  logging.info("%s: memory size %d floats (writable state); %d meta-parameters.",
               exp.model.name, exp.model.memory_floats,
               params_lib.count_floats(state.meta_params))
  if not saved:
    if config.train.get("init_from", ""):
      state = _initialised_from(config.train.init_from, state)
    return state, False
  restored = checkpoint.restore_latest(checkpoint_dir(workdir), state)
  if restored is None:
    raise CheckpointError(
        f"None of the checkpoints in {checkpoint_dir(workdir)} can be read "
        f"(steps {', '.join(epath.Path(p).name for _, p in saved)}); refusing to start "
        "over and lose the run. Move them away to start a new run, or pass --restart.")
  logging.info("Resumed from checkpoint at step %d.", restored[0])
  return restored[1], True


def _step_functions(exp: setups.Experiment, mesh):
  """meta-step -> the jitted step that makes it: first-order for the first
  `memory.first_order_steps` steps, then the full meta-gradient."""
  config = exp.config
  first_order_steps = (config.memory.get("first_order_steps", 0)
                       if exp.model.first_order is not None else 0)
  step_fns = {fo: make_train_step(exp, mesh, fo)
              for fo in ({False, True} if first_order_steps else {False})}
  return lambda step: step_fns[step < first_order_steps]


class _Clock:
  """The training budget's seconds (`train.seconds`: wall time, or this
  process's CPU time), read once per step and agreed by every process.

  On the seconds clock (`optim.clock`), `train.max_seconds` is the whole
  run's budget and its schedule's horizon, resumes included: the clock starts
  at the earlier sessions' seconds. Also keeps the run's wall and CPU seconds
  for the metrics.
  """

  def __init__(self, config: ml_collections.ConfigDict, resumed_workdir, step: int):
    """`resumed_workdir`: the workdir of a resumed run, whose metrics hold the
    earlier sessions' seconds up to `step`; None for a new run."""
    cpu = config.train.get("seconds", "wall") == "cpu"
    on_seconds = optimizer_lib.optimizer_config(config).clock == "seconds"
    # Training seconds of the run so far (wall time, and CPU time).
    self.prior_wall = self.prior_cpu = 0.0
    if resumed_workdir is not None:
      self.prior_wall = _trained_seconds(resumed_workdir, step)
      self.prior_cpu = _trained_seconds(resumed_workdir, step, "train_cpu_seconds")
    self._now = time.process_time if cpu else time.time
    self.start_time, self.start_cpu = time.time(), time.process_time()
    self._start = self._now()
    self._offset = (self.prior_cpu if cpu else self.prior_wall) if on_seconds else 0.0
    self.seconds = _agreed(self._offset)

  def read(self) -> float:
    """The budget's seconds now (every process must call it, at the same step)."""
    self.seconds = _agreed(self._offset + self._now() - self._start)
    return self.seconds

  def train_seconds(self, now: float) -> float:
    """Wall seconds of every session until `now`."""
    return self.prior_wall + now - self.start_time

  def train_cpu_seconds(self) -> float:
    """CPU seconds of every session (all threads of the process, compilation
    included): the budget that the machine's other jobs do not change."""
    return self.prior_cpu + time.process_time() - self.start_cpu


class _LearningRateScale:
  """The factor on both learning rates: the seconds clock's schedule at the
  budget's seconds (`optim.clock`) over its horizon (`optim.horizon_seconds`,
  0: `train.max_seconds`), 1 on the steps clock."""

  def __init__(self, config: ml_collections.ConfigDict):
    self._optim = optimizer_lib.optimizer_config(config)
    self._horizon = self._optim.horizon_seconds or config.train.max_seconds
    self.value, self._array = None, None

  def array(self, seconds: float) -> jax.Array:
    """The scale at `seconds`, as the device scalar the step takes."""
    scale = (optimizer_lib.seconds_fraction(self._optim, seconds / self._horizon)
             if self._optim.clock == "seconds" else 1.0)
    if scale != self.value:  # A device scalar only when the scale changes.
      self.value, self._array = scale, jnp.asarray(scale, jnp.float32)
    return self._array


def _check_finite(state: step_lib.TrainState, step: int, t) -> None:
  """Warns of a skipped non-finite meta-step (`step` - 1); raises
  NonFiniteError after `train.max_nonfinite_steps` of them in a row."""
  in_a_row = int(parallel.to_host(state.nonfinite_in_a_row))
  if not in_a_row:
    return
  logging.warning("Meta-step %d was not finite and was skipped (%d in a row).",
                  step - 1, in_a_row)
  if in_a_row >= t.max_nonfinite_steps:
    raise NonFiniteError(
        f"{in_a_row} consecutive non-finite meta-steps, the last at step "
        f"{step - 1}; stopping (train.max_nonfinite_steps="
        f"{t.max_nonfinite_steps}).")


class _Log:
  """A session's metrics rows (metrics.jsonl, written by process 0) and
  progress lines."""

  def __init__(self, exp: setups.Experiment, workdir: str, is_writer: bool):
    self._exp = exp
    self._writer = metrics_lib.MetricWriter(workdir, enabled=is_writer)
    # The optimiser's own schedule at peak 1 (warm-up; the decay on the steps
    # clock): times `lr_scale` (the seconds clock) it is the learning rate /
    # peak that the progress line and `lr_fraction` show.
    self._peak_fraction = optimizer_lib.learning_rate_schedule(
        1.0, optimizer_lib.optimizer_config(exp.config))
    self._step, self._time = None, None

  def mark(self, step: int, now: float) -> None:
    """Steps per second are counted from (`step`, `now`)."""
    self._step, self._time = step, now

  def write(self, step, now, state, metrics, num_patterns, counts, lr_scale,
            clock: _Clock) -> None:
    """Logs the meta-step just made (`step` - 1): one metrics row, one line."""
    t = self._exp.config.train
    m = metrics_lib.to_python(parallel.to_host(metrics))
    m["nonfinite_total"] = int(parallel.to_host(state.nonfinite_total))
    m["num_patterns"] = num_patterns  # The padded size N_max when n is drawn.
    if counts is not None:
      m["mean_num_patterns"] = float(np.mean(parallel.to_host(counts)))
    rate = (step - self._step) / max(now - self._time, 1e-9)
    m["steps_per_sec"] = rate
    # Wall time of this run (a resumed run is a new session), for tables.
    m["session_started"], m["session_seconds"] = clock.start_time, now - clock.start_time
    m["train_seconds"], m["lr_scale"] = clock.train_seconds(now), lr_scale
    m["train_cpu_seconds"] = clock.train_cpu_seconds()
    # The learning rate of the step just made, as a fraction of the peak.
    peak = self._peak_fraction
    m["lr_fraction"] = lr_scale * float(peak(step - 1) if callable(peak) else peak)
    self._writer.write(step, m)
    logging.info("%s  meta-loss %.3f  %s %.2f (query %.2f)  lr x%.3g  %.2f steps/s",
                 _progress(step, clock.seconds, rate, t), m["meta_loss"],
                 self._exp.task.score_name, m["score"][-1], m["query_score"],
                 m["lr_fraction"], rate)
    self.mark(step, now)

  def close(self) -> None:
    self._writer.close()


def _save(workdir: str, step: int, state: step_lib.TrainState, t) -> None:
  checkpoint.save(checkpoint_dir(workdir), step, parallel.to_host(state),
                  keep=t.keep_checkpoints, keep_every=t.get("keep_every_steps", 0))
  logging.info("Checkpoint at step %d saved.", step)


def _progress(step: int, clock: float, rate: float, t) -> str:
  """Progress against the budget that will end the run, and its ETA: the
  seconds budget (`train.max_seconds`, on its clock) when it ends the run
  before `train.num_steps` at the current rate, else the steps."""
  steps_left = (t.num_steps - step) / max(rate, 1e-9)
  unit = "CPU s" if t.get("seconds", "wall") == "cpu" else "s"
  if t.max_seconds > 0 and t.max_seconds - clock < steps_left:
    remaining = t.max_seconds - clock
    return (f"step {step}  {clock:.0f}/{t.max_seconds:.0f} {unit} "
            f"({100 * clock / t.max_seconds:.0f}%)  ETA {progress.format_eta(remaining)}")
  return (f"step {step}/{t.num_steps} ({100 * step / t.num_steps:.0f}%)  "
          f"ETA {progress.format_eta(steps_left)}")


def _trained_seconds(workdir: str, step: int, key: str = "train_seconds") -> float:
  """Training seconds logged at the last step <= `step` (`train_seconds`: wall
  time of every session; `train_cpu_seconds`: their CPU time); 0 for a run
  logged before they were."""
  seconds = 0.0
  for row in metrics_lib.read_metrics(workdir):
    if row["step"] <= step and key in row:
      seconds = row[key]
  return float(seconds)


def _agreed(seconds: float) -> float:
  """Process 0's value on every process: the time budget and the seconds
  clock must stop and scale every process's replicated step alike."""
  if jax.process_count() == 1:
    return seconds
  return float(multihost_utils.broadcast_one_to_all(np.float64(seconds)))


def load_latest(exp: setups.Experiment, workdir: str) -> Tuple[int, Any]:
  """(meta-steps, meta-parameters) of the newest readable checkpoint in
  `workdir`; raises FileNotFoundError naming the folder if there is none."""
  restored = checkpoint.restore_latest(checkpoint_dir(workdir), initial_state(exp))
  if restored is None:
    raise FileNotFoundError(f"No readable checkpoint in {checkpoint_dir(workdir)}.")
  return restored[0], restored[1].meta_params


def load_meta_params(config: ml_collections.ConfigDict, workdir: str) -> meta.MetaParams:
  """Meta-parameters of the newest checkpoint in `workdir` (raises if none)."""
  return load_latest(setups.build(config), workdir)[1]


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a workdir was trained with (its config.json)."""
  path = epath.Path(workdir) / workdir_lib.CONFIG_FILE
  if not path.exists():
    raise FileNotFoundError(f"{path} not found: is {workdir} a training workdir?")
  return ml_collections.ConfigDict(json.loads(path.read_text()))
