"""The training loop: checkpoints, resume, determinism, non-finite guard, configs."""
import dataclasses
import os
import pathlib
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from etils import epath

from ebmm_jax.core import progress
from ebmm_jax.training import checkpoint
from ebmm_jax.setups import configuration
from ebmm_jax import setups
from ebmm_jax.training import metrics
from ebmm_jax.training import parallel
from ebmm_jax import training
from ebmm_jax.training import workdir as workdir_lib
from tests import helpers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(num_steps, **overrides):
  return helpers.tiny_config(**{"train.num_steps": num_steps, "train.log_every": 1,
                                "train.checkpoint_every_secs": 0.0, **overrides})


@pytest.fixture(scope="module")
def one_device_mesh():
  return parallel.make_mesh(jax.devices()[:1])


def test_progress_eta_is_hours_minutes_seconds_past_a_day():
  assert progress.format_eta(0) == "0:00:00"
  assert progress.format_eta(-5.0) == "0:00:00"  # A passed deadline.
  assert progress.format_eta(3599.9) == "0:59:59"
  assert progress.format_eta(25 * 3600 + 61) == "25:01:01"  # Not wrapped at 24 h.


def test_train_checkpoints_resumes_and_is_deterministic(tmp_path, one_device_mesh):
  straight = training.train(_config(4), str(tmp_path / "straight"), one_device_mesh)
  # Same seed, interrupted after 2 steps and resumed: exactly the same result.
  workdir = str(tmp_path / "resumed")
  training.train(_config(2), workdir, one_device_mesh)
  assert [s for s, _ in checkpoint.list_checkpoints(training.checkpoint_dir(workdir))] == [1, 2]
  resumed = training.train(_config(4), workdir, one_device_mesh)
  assert int(resumed.step) == 4
  chex.assert_trees_all_equal(jax.device_get(straight.meta_params),
                              jax.device_get(resumed.meta_params))
  rows = metrics.read_metrics(workdir)
  assert [r["step"] for r in rows] == [1, 2, 3, 4]
  assert all(np.isfinite(r["meta_loss"]) and len(r["score"]) == 2 for r in rows)
  assert os.path.exists(os.path.join(workdir, "config.json"))
  assert training.load_config(workdir).data.num_patterns == 4
  # keep_checkpoints=3 prunes the oldest.
  assert [s for s, _ in checkpoint.list_checkpoints(training.checkpoint_dir(workdir))] == [2, 3, 4]


def test_checkpoints_kept_for_good_every_period_besides_the_newest(tmp_path):
  tree = {"a": np.arange(3.0)}
  steps = [3, 7, 12, 15, 18, 21, 25]
  for step in steps:
    checkpoint.save(str(tmp_path / "rotating"), step, tree, keep=2)
    checkpoint.save(str(tmp_path / "periods"), step, tree, keep=2, keep_every=10)
  listed = lambda d: [s for s, _ in checkpoint.list_checkpoints(str(tmp_path / d))]
  assert listed("rotating") == [21, 25]
  # The first of each 10 steps (3, 12, 21) for good, then the newest two.
  assert listed("periods") == [3, 12, 18, 21, 25]


def test_the_trainer_keeps_a_checkpoint_every_period(tmp_path, one_device_mesh):
  workdir = str(tmp_path / "run")
  training.train(_config(6, **{"train.keep_checkpoints": 1, "train.keep_every_steps": 4}),
                 workdir, one_device_mesh)
  # A checkpoint every step; kept: the first of steps 0-3 and of 4-7, and the newest.
  assert [s for s, _ in checkpoint.list_checkpoints(training.checkpoint_dir(workdir))] == [
      1, 4, 6]
  with pytest.raises(ValueError, match="train.keep_every_steps=-1 must be >= 0"):
    configuration.validate(_config(6, **{"train.keep_every_steps": -1}))


def test_nonfinite_steps_stop_training_naming_the_step(tmp_path, one_device_mesh, monkeypatch):
  build = setups.build

  def poisoned(config):
    exp = build(config)
    nan_sampler = lambda key, m, n: jnp.full((m, n, 16), jnp.nan)
    return dataclasses.replace(exp, sample_train=nan_sampler)

  monkeypatch.setattr(setups, "build", poisoned)
  with pytest.raises(training.NonFiniteError, match="at step 2"):
    training.train(_config(10, **{"train.max_nonfinite_steps": 3}), str(tmp_path),
                   one_device_mesh)


def test_truncated_newest_checkpoint_falls_back_with_warning(tmp_path, caplog):
  tree = {"a": np.arange(6.0).reshape(2, 3), "b": {"c": np.int32(7)}}
  checkpoint.save(str(tmp_path), 1, tree)
  newer = jax.tree_util.tree_map(lambda x: x + 1, tree)
  path = checkpoint.save(str(tmp_path), 2, newer)
  helpers.corrupt_checkpoint(path)
  with caplog.at_level("WARNING"):
    step, restored = checkpoint.restore_latest(str(tmp_path), tree)
  assert step == 1
  chex.assert_trees_all_equal(restored, tree)
  assert f"Skipping unreadable checkpoint {path}" in caplog.text
  # A checkpoint of another model (wrong shapes) is not silently loaded either.
  with pytest.raises(ValueError, match="shape"):
    checkpoint.load(os.path.join(tmp_path, "1"), {"a": np.zeros(3), "b": {"c": 0}})


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
  checkpoint.save(str(tmp_path), 1, {"a": np.ones(3)})
  ocp = checkpoint._ocp()

  def crash(*args, **kwargs):
    raise KeyboardInterrupt  # The process dies mid-write.

  monkeypatch.setattr(ocp.StandardCheckpointHandler, "async_save", crash)
  with pytest.raises(KeyboardInterrupt):
    checkpoint.save(str(tmp_path), 2, {"a": np.zeros(3)})
  # What the crash left is not a checkpoint: restore still finds step 1.
  assert [s for s, _ in checkpoint.list_checkpoints(str(tmp_path))] == [1]
  assert checkpoint.restore_latest(str(tmp_path), {"a": np.zeros(3)})[0] == 1


def test_checkpoints_in_a_relative_folder_save_and_restore(tmp_path, monkeypatch):
  """A workdir given relative to the working directory (`--workdir=runs/x`)."""
  monkeypatch.chdir(tmp_path)
  tree = {"a": np.arange(3.0, dtype=np.float32)}
  path = checkpoint.save("runs/x/checkpoints", 7, tree)
  assert os.path.isdir(tmp_path / "runs" / "x" / "checkpoints" / "7"), path
  step, restored = checkpoint.restore_latest("runs/x/checkpoints", tree)
  assert step == 7
  chex.assert_trees_all_equal(restored, tree)


def test_checkpoints_of_earlier_versions_still_load(tmp_path):
  """A workdir of an earlier version holds `ckpt_<step>.npz` files: they are
  listed and read with the new ones, newest first."""
  tree = {"a": np.arange(3.0, dtype=np.float32), "b": {"c": np.int32(7)}}
  checkpoint.save_tree(os.path.join(tmp_path, "ckpt_4.npz"), tree)
  assert checkpoint.list_checkpoints(str(tmp_path)) == [(4, os.path.join(tmp_path, "ckpt_4.npz"))]
  step, restored = checkpoint.restore_latest(str(tmp_path), tree)
  assert step == 4
  chex.assert_trees_all_equal(restored, tree)
  newer = jax.tree_util.tree_map(lambda x: x + 1, tree)
  checkpoint.save(str(tmp_path), 6, newer)
  assert [s for s, _ in checkpoint.list_checkpoints(str(tmp_path))] == [4, 6]
  chex.assert_trees_all_equal(checkpoint.restore_latest(str(tmp_path), tree)[1], newer)


@pytest.mark.parametrize("overrides, match", [
    ({"energy.input_size": 32}, "energy.input_size=32 must equal data.pattern_dim=16"),
    ({"energy.dynamic_size": 8}, "energy.dynamic_size=8 must be in"),
    ({"data.num_patterns": 0}, "data.num_patterns=0"),
    ({"memory.read_step_decay_init": 1.5}, "memory.read_step_decay_init"),
    ({"memory.meta_loss_iterates": "first"}, "meta_loss_iterates"),
])
def test_inconsistent_configs_are_rejected(overrides, match):
  with pytest.raises(ValueError, match=match):
    configuration.validate(helpers.tiny_config(**overrides))


def test_locked_config_rejects_unknown_keys():
  c = helpers.tiny_config()
  with pytest.raises(AttributeError, match="num_pattern"):
    c.data.num_pattern = 3


def _train_launcher(*args, cwd=ROOT):
  return subprocess.run([sys.executable, "-m", "ebmm_jax.experiments.train", *args],
                        cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, message", [
    (["--config=configs/binary.py:runlocal", "--config.data.num_pattern=3"],
     "error: the config has no field 'data.num_pattern'; did you mean data.num_patterns"),
    (["--config=binary:fast"], "Unknown variant 'fast' of configs/binary.py; known: "
     "runlocal, cpu, paper, all_n, n=K."),
    (["--config=binari:runlocal"], "error: config 'binari' is neither a file nor an "
     "installed config; did you mean binary?"),
    (["--config=binary:runlocal", "--config.train.num_steps=many"],
     "error: flag --config.train.num_steps=many: invalid literal for int()"),
    (["--config=binary:runlocal", "--config.energy.hidden_size=32"],
     "error: Invalid config: energy.dynamic_size=63 must be in (0, energy.hidden_size=32)."),
])
def test_launcher_user_errors_are_one_line(tmp_path, args, message):
  proc = _train_launcher(*args, f"--workdir={tmp_path / 'w'}", cwd=tmp_path)
  assert proc.returncode == 2, proc.stderr[-2000:]
  last = proc.stderr.strip().splitlines()[-1]
  assert message in last and "Traceback" not in proc.stderr
  assert not (tmp_path / "w" / "checkpoints").exists()
  verbose = _train_launcher(*args, f"--workdir={tmp_path / 'w'}", "--verbose", cwd=tmp_path)
  assert verbose.returncode != 0 and "Traceback" in verbose.stderr


def test_launcher_help_lists_its_flags_and_exits_0(tmp_path):
  proc = _train_launcher("--help", cwd=tmp_path)
  assert proc.returncode == 0
  for flag in ("--config:", "--workdir:", "--[no]restart:", "--[no]verbose:"):
    assert flag in proc.stdout


def test_unknown_config_variant_is_rejected():
  from ebmm_jax.configs import binary
  with pytest.raises(ValueError, match="Unknown variant 'fast'"):
    binary.get_config("fast")


def test_the_default_meta_batch_is_one_memory_per_device(tmp_path):
  """The default config runs unchanged on any device count: this process has
  4 devices, so each meta-step writes 4 memories, one per device."""
  config = helpers.tiny_config(**{"train.num_steps": 2, "train.log_every": 1})
  assert config.train.meta_batch_size == 0  # The default.
  state = training.train(config, str(tmp_path))
  assert int(state.step) == 2 and len(jax.devices()) == 4
  saved = training.load_config(str(tmp_path))
  assert saved.train.meta_batch_size == 4
  # Resuming with the same (default) config is the same run, not a mismatch.
  more = helpers.tiny_config(**{"train.num_steps": 3, "train.log_every": 1})
  assert int(training.train(more, str(tmp_path)).step) == 3
  one = parallel.make_mesh(jax.devices()[:1])
  assert parallel.with_meta_batch(config, one).train.meta_batch_size == 1
  with pytest.raises(ValueError, match="multiple of the number of devices"):
    parallel.with_meta_batch(helpers.tiny_config(**{"train.meta_batch_size": 3}),
                             parallel.make_mesh(jax.devices()[:2]))


def test_a_cloud_workdir_without_its_client_is_refused_before_anything_is_written(
    tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  monkeypatch.setitem(sys.modules, "gcsfs", None)  # As on a machine without it.
  with pytest.raises(ValueError, match="cannot be reached.*gcsfs"):
    training.train(helpers.tiny_config(), "gs://bucket/run")
  assert not os.listdir(tmp_path)  # No local folder named "gs:".


def test_run_files_go_through_the_filesystem_layer_so_cloud_workdirs_work(tmp_path):
  """config.json, metrics.jsonl and moving a run aside use etils.epath: with
  gs:// mapped onto a local folder (a fake bucket), they land in the bucket
  and nothing is written under a local folder named "gs:"."""
  bucket = tmp_path / "bucket"
  to_local = lambda p: str(p).replace("gs://bucket", str(bucket))

  def redirect(fn, path, *args, **kwargs):
    return fn(to_local(path), *args, **kwargs)

  def redirect2(fn, src, dst, *args, **kwargs):
    return fn(to_local(src), to_local(dst), *args, **kwargs)

  def listdir(fn, path):
    return fn(to_local(path))

  config = helpers.tiny_config()
  with epath.testing.mock_epath(
      exists=redirect, isdir=redirect, listdir=listdir, makedirs=redirect, mkdir=redirect,
      open=redirect, remove=redirect, rename=redirect2, replace=redirect2,
      rmtree=redirect, stat=redirect, glob=redirect, walk=redirect):
    workdir = "gs://bucket/run"
    epath.Path(workdir).mkdir(parents=True)  # What train() does first.
    workdir_lib.write_config(workdir, config)
    workdir_lib.check_config(workdir, config)  # Reads it back: no mismatch.
    writer = metrics.MetricWriter(workdir, tensorboard=False)
    for step in (1, 2):
      writer.write(step, {"meta_loss": float(step)})
    writer.close()
    assert [r["step"] for r in metrics.read_metrics(workdir)] == [1, 2]
    moved = workdir_lib.move_aside(workdir)
  assert moved.startswith("gs://bucket/run/previous_")
  moved_local = pathlib.Path(to_local(moved))
  assert sorted(p.name for p in moved_local.iterdir()) == ["config.json", "metrics.jsonl"]
  assert not (tmp_path / "gs:").exists() and not pathlib.Path("gs:").exists()


def test_the_log_shows_progress_against_the_budget_and_one_line_per_checkpoint(
    tmp_path, caplog):
  import logging as std_logging
  config = helpers.tiny_config(**{"train.num_steps": 1_000_000, "train.max_seconds": 3600.0,
                                  "train.log_every": 2, "train.checkpoint_every_secs": 0.0})
  config.unlock()
  config.train.num_steps = 4  # The steps end the run first: progress in steps.
  config.lock()
  with caplog.at_level(std_logging.INFO):
    training.train(config, str(tmp_path / "a"), parallel.make_mesh(jax.devices()[:1]))
  lines = [r.getMessage() for r in caplog.records]
  progress = [l for l in lines if l.startswith("step ")]
  assert progress and progress[-1].startswith("step 4/4 (100%)  ETA"), progress
  assert "lr x1" in progress[-1]
  saves = [l for l in lines if l.startswith("Checkpoint at step")]
  assert len(saves) == 4  # checkpoint_every_secs = 0: one save per step, one line each.
  # The checkpoint library's own INFO lines are not in the log.
  assert not [r for r in caplog.records
              if "orbax" in r.pathname and r.levelno < std_logging.WARNING]


def test_progress_is_measured_against_the_budget_that_ends_the_run():
  from ebmm_jax.training import loop
  t = helpers.tiny_config(**{"train.num_steps": 10_000_000, "train.max_seconds": 600.0,
                             "train.seconds": "cpu"}).train
  line = loop._progress(100, 150.0, 5.0, t)
  assert line == "step 100  150/600 CPU s (25%)  ETA 0:07:30", line
  t2 = helpers.tiny_config(**{"train.num_steps": 200, "train.max_seconds": 600.0}).train
  assert loop._progress(100, 150.0, 5.0, t2).startswith("step 100/200 (50%)  ETA 0:00:20")


def test_non_finite_metrics_stay_in_the_json_and_out_of_tensorboard(tmp_path):
  """An overflowing meta-gradient norm is kept in metrics.jsonl; TensorBoard,
  which cannot draw it, gets only the finite points (and the log stays free
  of its library's warnings)."""
  writer = metrics.MetricWriter(str(tmp_path))
  sent = []
  writer._tb = type("Recorder", (), {"add_scalar": lambda self, k, v, s: sent.append((k, v)),
                                     "close": lambda self: None, "flush": lambda self: None})()
  writer.write(3, dict(grad_norm=float("inf"), meta_loss=2.5,
                       score=np.array([1.0, float("nan"), 3.0])))
  writer.close()
  assert sent == [("meta_loss", 2.5), ("score/1", 1.0), ("score/3", 3.0)]
  row = metrics.read_metrics(str(tmp_path))[0]
  assert row["grad_norm"] == float("inf") and row["meta_loss"] == 2.5
