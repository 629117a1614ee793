"""Multi-process training and a run killed mid-way: nothing lost, nothing changed."""
import importlib.util
import os
import signal
import socket
import subprocess
import sys

import chex
import jax
import pytest

from ebmm_jax.training import checkpoint
from ebmm_jax.training import parallel
from ebmm_jax import training
from ebmm_jax.training import workdir as workdir_lib
from tests import helpers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _env(num_devices):
  env = dict(os.environ)
  env["XLA_FLAGS"] = (f"--xla_force_host_platform_device_count={num_devices} "
                      "--xla_backend_optimization_level=0 "
                      "--xla_llvm_disable_expensive_passes=true")
  env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
  return env


def _launch(workdir, flags, num_devices):
  return subprocess.Popen(
      [sys.executable, "-m", "experiments.train", f"--workdir={workdir}", *flags],
      cwd=ROOT, env=_env(num_devices), stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True)


def _final_params(workdir, config):
  return training.load_meta_params(config, workdir)


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one_process_with_four_devices(tmp_path):
  overrides = {"train.meta_batch_size": 4, "train.num_steps": 3,
               "train.checkpoint_every_secs": 0.0}
  config = helpers.tiny_config(**overrides)
  reference = training.train(config, str(tmp_path / "one"),
                             parallel.make_mesh(jax.devices()[:4]))
  port = _free_port()
  workdir = tmp_path / "two"
  # Process 1 gets a workdir of its own only to show that it writes nothing.
  silent = tmp_path / "process1"
  procs = [_launch(workdir if i == 0 else silent, helpers.tiny_flags(**overrides) + [
      f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2",
      f"--process_id={i}"], num_devices=2) for i in range(2)]
  outputs = [p.communicate(timeout=300)[0] for p in procs]
  for p, out in zip(procs, outputs):
    assert p.returncode == 0, out[-3000:]
  assert "Trained 3 meta-steps" in outputs[0]
  chex.assert_trees_all_close(jax.device_get(reference.meta_params),
                              _final_params(str(workdir), config), rtol=1e-5, atol=1e-6)
  # Only process 0 writes files.
  # (TensorBoard's `tb` only where the optional tensorboardX is installed.)
  tb = ["tb"] if importlib.util.find_spec("tensorboardX") else []
  assert sorted(os.listdir(workdir)) == [workdir_lib.LOCK_FILE, "checkpoints", "config.json",
                                         "metrics.jsonl", *tb]
  assert not silent.exists()


# Runs experiments.train, killing itself with SIGKILL right after checkpoint
# `kill_after` is on disk: a crash at a known step, not after a wall time.
_KILL_AFTER_CHECKPOINT = """
import os, signal, sys
from ebmm_jax.training import checkpoint
_save = checkpoint.save
def save(directory, step, *args, **kwargs):
  path = _save(directory, step, *args, **kwargs)
  if step == {kill_after}:
    os.kill(os.getpid(), signal.SIGKILL)
  return path
checkpoint.save = save
from absl import app
from ebmm_jax.experiments import train
sys.argv[0] = "train"
app.run(train.main)
"""


@pytest.mark.slow
def test_sigkill_mid_run_then_restart_equals_uninterrupted(tmp_path):
  overrides = {"train.num_steps": 25, "train.checkpoint_every_secs": 0.0,
               "train.log_every": 1}
  config = helpers.tiny_config(**overrides)
  straight = training.train(config, str(tmp_path / "straight"),
                            parallel.make_mesh(jax.devices()[:1]))
  workdir = tmp_path / "killed"
  proc = subprocess.Popen(
      [sys.executable, "-c", _KILL_AFTER_CHECKPOINT.format(kill_after=8),
       f"--workdir={workdir}", *helpers.tiny_flags(**overrides)],
      cwd=ROOT, env=_env(1), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  out = proc.communicate(timeout=300)[0]
  assert proc.returncode == -signal.SIGKILL, out[-3000:]
  ckpt_dir = training.checkpoint_dir(str(workdir))
  assert max(s for s, _ in checkpoint.list_checkpoints(ckpt_dir)) == 8
  proc = _launch(workdir, helpers.tiny_flags(**overrides), num_devices=1)
  out = proc.communicate(timeout=300)[0]
  assert proc.returncode == 0, out[-3000:]
  assert "Resumed from checkpoint at step 8" in out
  chex.assert_trees_all_equal(jax.device_get(straight.meta_params),
                              _final_params(str(workdir), config))


def test_sigterm_saves_the_step_reached_then_passes_the_signal_on(tmp_path, monkeypatch):
  """A SIGTERM during step 5 (a scheduler's preemption): the loop checkpoints
  step 5, equal to a run that was asked for 5 steps, and then hands the
  signal to the handler that was there before (which, by default, ends the
  process)."""
  from ebmm_jax.training import loop
  overrides = {"train.num_steps": 40, "train.checkpoint_every_secs": 1e9,
               "train.log_every": 100}
  mesh = parallel.make_mesh(jax.devices()[:1])
  five = training.train(helpers.tiny_config(**{**overrides, "train.num_steps": 5}),
                        str(tmp_path / "five"), mesh)
  received = []
  previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
  check = loop._check_finite

  def preempt_at_step_5(state, step, t):
    if step == 5:
      os.kill(os.getpid(), signal.SIGTERM)
    return check(state, step, t)

  monkeypatch.setattr(loop, "_check_finite", preempt_at_step_5)
  try:
    workdir = str(tmp_path / "preempted")
    stopped = training.train(helpers.tiny_config(**overrides), workdir, mesh)
    after = signal.getsignal(signal.SIGTERM)
  finally:
    signal.signal(signal.SIGTERM, previous)
  assert received == [signal.SIGTERM]  # passed on once, after the save
  assert after is not None and after.__name__ == "<lambda>"  # handler restored
  assert int(stopped.step) == 5
  saved = checkpoint.list_checkpoints(training.checkpoint_dir(workdir))
  assert [s for s, _ in saved] == [5]
  chex.assert_trees_all_equal(jax.device_get(five.meta_params),
                              _final_params(workdir, helpers.tiny_config(**overrides)))
