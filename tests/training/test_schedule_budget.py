"""No silent schedule traps: a budget that would end a run before its
learning-rate schedule is refused by the trainer, naming the fields (a model
trained so still loads); the training log shows the learning rate's fraction
of its peak at every logged step."""
import json
import logging
import pathlib

import jax
import numpy as np
import pytest

from ebmm_jax.setups import configuration
from ebmm_jax.setups import specs
from tests import helpers

_PRETRAINED = pathlib.Path(__file__).resolve().parents[2] / "ebmm_jax" / "pretrained"


def test_a_step_budget_on_the_seconds_clock_is_refused_naming_the_fields():
  # The shipped `omniglot-n4` run: the drop at 80% of 3,600 s (2,880 s) was
  # never reached, because 3,706 steps took about 2,700 s.
  config = helpers.tiny_config(**{
      "optim.schedule": "drop", "optim.clock": "seconds", "optim.drop_at": 0.8,
      "train.max_seconds": 3600.0, "train.num_steps": 3706})
  with pytest.raises(ValueError) as e:
    configuration.validate_training_budget(config)
  message = str(e.value)
  assert "\n" not in message
  for field in ("train.num_steps=3706", "optim.clock='seconds'",
                "optim.schedule='drop'", "train.max_seconds=3600", "optim.drop_at=0.8"):
    assert field in message
  # Unbounded steps: the time budget ends the run, after the drop.
  configuration.validate_training_budget(helpers.tiny_config(**{
      "optim.schedule": "drop", "optim.clock": "seconds", "train.max_seconds": 3600.0,
      "train.num_steps": configuration.UNBOUNDED_STEPS}))


def test_the_shipped_n4_config_is_refused_and_the_recipes_are_not():
  saved = json.loads((_PRETRAINED / "omniglot-n4" / "config.json").read_text())
  import ml_collections  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match="train.num_steps=3706 with optim.clock='seconds'"):
    configuration.validate_training_budget(ml_collections.ConfigDict(saved))
  configuration.validate(ml_collections.ConfigDict(saved))  # It still loads.
  for spec in ("binary:cpu", "omniglot_conv:cpu,recipe", "omniglot_conv:gpu",
               "cifar10:cpu,recipe", "dae:cpu", "kanerva:cpu"):
    configuration.validate_training_budget(specs.load(spec))


@pytest.mark.parametrize("overrides, fields", [
    ({"optim.schedule": "drop", "optim.decay_steps": 100, "train.num_steps": 20},
     ("optim.decay_steps=100", "train.num_steps=20")),
    ({"optim.schedule": "cosine", "optim.decay_steps": 21, "train.num_steps": 20},
     ("optim.decay_steps=21", "train.num_steps=20")),
    ({"optim.warmup_steps": 20, "train.num_steps": 20},
     ("optim.warmup_steps=20", "train.num_steps=20")),
])
def test_a_steps_clock_schedule_longer_than_the_run_is_refused(overrides, fields):
  with pytest.raises(ValueError) as e:
    configuration.validate_training_budget(helpers.tiny_config(**overrides))
  assert all(f in str(e.value) for f in fields)
  # The same schedule over exactly the run is accepted.
  fits = dict(overrides)
  fits["optim.decay_steps" if "optim.decay_steps" in fits else "optim.warmup_steps"] = (
      20 if "optim.decay_steps" in fits else 19)
  configuration.validate_training_budget(helpers.tiny_config(**fits))


def test_the_trainer_refuses_the_budget_before_writing_anything(tmp_path):
  from ebmm_jax import training  # pylint: disable=g-import-not-at-top
  config = helpers.tiny_config(**{
      "optim.schedule": "drop", "optim.clock": "seconds", "train.max_seconds": 60.0,
      "train.num_steps": 100})
  with pytest.raises(ValueError, match="train.num_steps=100 with optim.clock='seconds'"):
    training.train(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def test_the_training_log_shows_the_learning_rate_fraction(tmp_path, caplog):
  from ebmm_jax import training  # pylint: disable=g-import-not-at-top
  from ebmm_jax.training import metrics as metrics_lib  # pylint: disable=g-import-not-at-top
  from ebmm_jax.training import parallel  # pylint: disable=g-import-not-at-top
  config = helpers.tiny_config(**{
      "optim.schedule": "drop", "optim.drop_at": 0.5, "optim.final_fraction": 0.1,
      "train.num_steps": 6, "train.log_every": 1, "train.checkpoint_every_secs": 1e9})
  caplog.set_level(logging.INFO)
  training.train(config, str(tmp_path), parallel.make_mesh(jax.devices()[:1]))
  rows = metrics_lib.read_metrics(str(tmp_path))
  # Steps 1-3 are made at the peak, 4-6 after the drop at step 3 (50% of 6).
  np.testing.assert_allclose([r["lr_fraction"] for r in rows], [1, 1, 1, .1, .1, .1],
                             rtol=1e-6)
  lines = [r.getMessage() for r in caplog.records if "meta-loss" in r.getMessage()]
  assert len(lines) == 6 and "lr x1 " in lines[0] and "lr x0.1 " in lines[-1]


def test_a_horizon_is_checked_against_the_budget_and_the_clock():
  drop = {"optim.schedule": "drop", "optim.clock": "seconds", "train.max_seconds": 600.0,
          "train.num_steps": configuration.UNBOUNDED_STEPS}
  with pytest.raises(ValueError) as e:  # The run would end before its schedule.
    configuration.validate_training_budget(helpers.tiny_config(
        **drop, **{"optim.horizon_seconds": 900.0}))
  assert "\n" not in str(e.value)
  assert "optim.horizon_seconds=900 > train.max_seconds=600" in str(e.value)
  configuration.validate_training_budget(helpers.tiny_config(
      **drop, **{"optim.horizon_seconds": 400.0}))  # A leg past its horizon.
  with pytest.raises(ValueError, match="optim.horizon_seconds=400 is the seconds clock's"):
    configuration.validate(helpers.tiny_config(**{"optim.horizon_seconds": 400.0}))
  with pytest.raises(ValueError, match="optim.horizon_seconds=-1 must be >= 0"):
    configuration.validate(helpers.tiny_config(**{**drop, "optim.horizon_seconds": -1.0}))
