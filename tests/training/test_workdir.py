"""A run never loses work: config changes on resume, unreadable checkpoints,
retention, and two trainers on one workdir."""
import json
import os
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from ebmm_jax.training import checkpoint
from ebmm_jax.training import parallel
from ebmm_jax import training
from ebmm_jax.training import workdir as workdir_lib
from tests import helpers

STEPS = {"train.num_steps": 2, "train.checkpoint_every_secs": 0.0}


def _train(path, restart=False, **overrides):
  return training.train(helpers.tiny_config(**{**STEPS, **overrides}), str(path),
                        parallel.make_mesh(jax.devices()[:1]), restart=restart)


def test_resuming_with_another_config_is_refused_and_names_the_fields(tmp_path):
  _train(tmp_path)
  with pytest.raises(workdir_lib.ConfigMismatchError,
                     match=r"energy.hidden_size: 8 -> 9.*--restart"):
    _train(tmp_path, **{"energy.hidden_size": 9})
  # A change that keeps every shape is refused too (it would silently
  # continue the old model under another config).
  with pytest.raises(workdir_lib.ConfigMismatchError, match="optim.learning_rate"):
    _train(tmp_path, **{"optim.learning_rate": 0.5})
  saved = json.load(open(tmp_path / "config.json"))
  assert saved["energy"]["hidden_size"] == 8  # Not overwritten.
  # Budget fields may change: the run continues from step 2 to 4.
  state = _train(tmp_path, **{"train.num_steps": 4, "train.log_every": 1})
  assert int(state.step) == 4


def test_a_run_resumes_with_its_loops_unrolled_and_learns_the_same(tmp_path):
  # memory.unroll changes how the step is computed, not what it computes: a
  # run may switch it on resume, and continues as if it had not.
  _train(tmp_path / "switched")
  switched = _train(tmp_path / "switched", **{"train.num_steps": 4, "memory.unroll": True})
  rolled = _train(tmp_path / "rolled", **{"train.num_steps": 4})
  assert int(switched.step) == int(rolled.step) == 4
  pairs = zip(jax.tree_util.tree_leaves(switched.meta_params),
                    jax.tree_util.tree_leaves(rolled.meta_params))
  for a, b in pairs:
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
  # The workdir's config records the newest leg's choice, as for budgets.
  assert json.load(open(tmp_path / "switched" / "config.json"))["memory"]["unroll"] is True


def test_restart_moves_the_old_run_aside(tmp_path):
  _train(tmp_path)
  old = checkpoint.list_checkpoints(training.checkpoint_dir(str(tmp_path)))
  state = _train(tmp_path, restart=True, **{"energy.hidden_size": 9})
  assert int(state.step) == 2
  previous = [d for d in os.listdir(tmp_path) if d.startswith("previous_")]
  assert len(previous) == 1
  moved = checkpoint.list_checkpoints(str(tmp_path / previous[0] / "checkpoints"))
  assert [s for s, _ in moved] == [s for s, _ in old]
  assert json.load(open(tmp_path / previous[0] / "config.json"))["energy"]["hidden_size"] == 8
  assert json.load(open(tmp_path / "config.json"))["energy"]["hidden_size"] == 9


def test_a_config_written_before_a_field_existed_means_its_default(tmp_path):
  _train(tmp_path)
  path = tmp_path / "config.json"
  saved = json.load(open(path))
  del saved["memory"]["rates"], saved["optim"]["rate_learning_rate"]
  json.dump(saved, open(path, "w"))
  assert int(_train(tmp_path, **{"train.num_steps": 3}).step) == 3
  with pytest.raises(workdir_lib.ConfigMismatchError, match="memory.rates: 'softplus' -> 'log'"):
    _train(tmp_path, **{"memory.rates": "log", "train.num_steps": 4})


def test_a_corrupt_config_file_is_refused(tmp_path):
  _train(tmp_path)
  (tmp_path / "config.json").write_text("{not json")
  with pytest.raises(workdir_lib.ConfigMismatchError, match="unreadable"):
    _train(tmp_path)


def test_unreadable_checkpoints_fall_back_or_refuse_naming_the_files(tmp_path):
  _train(tmp_path, **{"train.num_steps": 3, "train.log_every": 1})
  ckpts = checkpoint.list_checkpoints(training.checkpoint_dir(str(tmp_path)))
  assert [s for s, _ in ckpts] == [1, 2, 3]
  helpers.corrupt_checkpoint(ckpts[-1][1])
  # The newest is unreadable: resume from step 2, train to 4.
  assert int(_train(tmp_path, **{"train.num_steps": 4}).step) == 4
  ckpts = checkpoint.list_checkpoints(training.checkpoint_dir(str(tmp_path)))
  for _, p in ckpts:
    helpers.corrupt_checkpoint(p)
  with pytest.raises(training.CheckpointError, match=r"steps 2, 3, 4\); refusing to start over"):
    _train(tmp_path, **{"train.num_steps": 5})
  # Nothing was removed.
  assert checkpoint.list_checkpoints(training.checkpoint_dir(str(tmp_path))) == ckpts


def test_retention_never_deletes_the_checkpoint_just_written(tmp_path):
  tree = {"w": np.zeros(3, np.float32)}
  for step in (10, 20, 30):
    checkpoint.save(str(tmp_path), step, tree, keep=2)
  assert [s for s, _ in checkpoint.list_checkpoints(str(tmp_path))] == [20, 30]
  path = checkpoint.save(str(tmp_path), 5, tree, keep=2)  # Lower than the others.
  assert os.path.exists(path)
  assert [s for s, _ in checkpoint.list_checkpoints(str(tmp_path))] == [5, 30]


def test_a_second_trainer_is_refused(tmp_path):
  with workdir_lib.lock(str(tmp_path)):
    with pytest.raises(workdir_lib.WorkdirBusyError, match=f"process {os.getpid()}"):
      _train(tmp_path)
  assert int(_train(tmp_path).step) == 2  # Released on exit.


def test_a_killed_trainer_does_not_leave_the_workdir_locked(tmp_path):
  code = ("import sys, time; from ebmm_jax.training import workdir as w\n"
          "with w.lock(sys.argv[1]):\n  print('locked', flush=True); time.sleep(600)\n")
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=root,
                          stdout=subprocess.PIPE, text=True)
  try:
    assert proc.stdout.readline().strip() == "locked"
    with pytest.raises(workdir_lib.WorkdirBusyError, match=f"process {proc.pid}"):
      with workdir_lib.lock(str(tmp_path)):
        pass
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  with workdir_lib.lock(str(tmp_path)):
    pass


def test_init_from_starts_a_new_run_from_another_runs_parameters(tmp_path):
  source = tmp_path / "source"
  trained = _train(source, **{"train.num_steps": 3})
  before = sorted(os.listdir(source / "checkpoints"))
  state = _train(tmp_path / "tuned", **{"train.num_steps": 1, "optim.learning_rate": 1e-9,
                                        "optim.weight_decay": 0.0,
                                        "train.init_from": str(source)})
  assert int(state.step) == 1  # Its own step count, from 0.
  # One step at a learning rate of 1e-9 leaves the source's parameters.
  for a, b in zip(jax.tree_util.tree_leaves(jax.device_get(state.meta_params)),
                  jax.tree_util.tree_leaves(jax.device_get(trained.meta_params))):
    np.testing.assert_allclose(a, b, atol=1e-6)
  assert sorted(os.listdir(source / "checkpoints")) == before  # Untouched.
  with pytest.raises(training.CheckpointError, match="init_from"):
    _train(tmp_path / "bad", **{"train.init_from": str(source), "energy.hidden_size": 9})


def test_init_from_a_saved_memory_or_a_shipped_one(tmp_path):
  from ebmm_jax import api
  from ebmm_jax import pretrained
  config = helpers.tiny_config(**STEPS)
  memory = api.Memory.from_config(config)
  # Parameters no fresh initialisation gives: 1 + the initial ones.
  saved = jax.tree_util.tree_map(lambda v: np.asarray(v) + 1., memory.meta_params)
  api.Memory(config, saved).save(str(tmp_path / "saved"))
  state = _train(tmp_path / "tuned", **{"train.num_steps": 1, "optim.learning_rate": 1e-9,
                                        "optim.weight_decay": 0.0,
                                        "train.init_from": str(tmp_path / "saved")})
  for a, b in zip(jax.tree_util.tree_leaves(jax.device_get(state.meta_params)),
                  jax.tree_util.tree_leaves(saved)):
    np.testing.assert_allclose(a, b, atol=1e-6)
  with pytest.raises(training.CheckpointError, match="do not fit"):
    _train(tmp_path / "bad", **{"train.init_from": str(tmp_path / "saved"),
                                "energy.hidden_size": 9})
  # A model that adds a learned n-scaling and a stream's forgetting to the
  # saved one: the saved leaves load, the new ones start at their init.
  tuned = _train(tmp_path / "stream", **{"train.num_steps": 1, "optim.learning_rate": 1e-9,
                                         "optim.weight_decay": 0.0,
                                         "memory.n_scaling": "learned",
                                         "memory.n_exponent_init": 1.0,
                                         "memory.stream_chunks": "2,2",
                                         "memory.forget_init": 0.75,
                                         "train.init_from": str(tmp_path / "saved")})
  mp = jax.device_get(tuned.meta_params)
  np.testing.assert_allclose(mp.write.n_exponent, [1.0, 1.0, 0.0], atol=1e-6)
  np.testing.assert_allclose(jax.nn.sigmoid(np.stack(jax.tree_util.tree_leaves(
      mp.write.forgetting))), 0.75, atol=1e-5)
  for a, b in zip(jax.tree_util.tree_leaves(mp.static), jax.tree_util.tree_leaves(saved.static)):
    np.testing.assert_allclose(a, b, atol=1e-6)
  # A shipped memory is found by its name.
  assert pretrained.saved_params("omniglot-n4") == os.path.join(
      pretrained.directory("omniglot-n4"), pretrained.PARAMS_FILE)
  assert os.path.isfile(pretrained.saved_params("omniglot-n4"))
  assert pretrained.saved_params(str(tmp_path / "tuned")) is None  # A workdir.


def test_a_checkpoint_from_before_an_optional_field_existed_still_loads(tmp_path):
  # Models gain optional meta-parameters that are None when switched off
  # (WriteParams.n_exponent, .forgetting): checkpoints written before the
  # field existed must still resume and evaluate.
  from typing import NamedTuple, Optional, Any  # pylint: disable=g-import-not-at-top

  class Old(NamedTuple):
    a: Any
    b: Any

  class New(NamedTuple):
    a: Any
    b: Any
    c: Optional[Any] = None

  saved = {"p": Old(np.arange(3.0, dtype=np.float32), {"w": np.ones((2, 2), np.float32)}),
           "step": np.asarray(7, np.int32)}
  path = checkpoint.save(tmp_path / "ckpt", 7, saved)
  template = {"p": New(np.zeros(3, np.float32), {"w": np.zeros((2, 2), np.float32)}),
              "step": np.asarray(0, np.int32)}
  loaded = checkpoint.load(path, template)
  assert isinstance(loaded["p"], New) and loaded["p"].c is None
  np.testing.assert_array_equal(loaded["p"].a, [0.0, 1.0, 2.0])
  np.testing.assert_array_equal(loaded["p"].b["w"], np.ones((2, 2)))
  assert int(loaded["step"]) == 7
  # A model that really needs an array the checkpoint lacks is refused.
  needs_c = {"p": New(np.zeros(3, np.float32), {"w": np.zeros((2, 2), np.float32)},
                      np.zeros(1, np.float32)), "step": np.asarray(0, np.int32)}
  with pytest.raises(ValueError):
    checkpoint.load(path, needs_c)
