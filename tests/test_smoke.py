"""One smoke test over every registered memory: EBMM and each Table 1
baseline go through the same interface (`MemoryModel`): init, meta-training
with a save and a restore, and an evaluation. Tiny configs (D = 16)."""
import jax
import numpy as np
import pytest

from ebmm_jax import setups
from ebmm_jax import training
from ebmm_jax.baselines import registry
from ebmm_jax.reporting import evaluation
from ebmm_jax.training import checkpoint
from ebmm_jax.training import metrics
from ebmm_jax.training import parallel
from tests import helpers
from tests import test_baselines

# Every memory the binary-strings setup builds: EBMM and the registry's baselines.
MODELS = ["ebmm", *sorted(registry.BUILDERS)]


def _config(name, **overrides):
  base = {"train.num_steps": 2, "train.log_every": 1, "train.checkpoint_every_secs": 0.0,
          "train.meta_batch_size": 1}
  if name == "ebmm":
    return helpers.tiny_config(**{**base, **overrides})
  fields = {**base, **overrides}
  c = test_baselines.tiny_config(name)
  c.unlock()
  for key, value in fields.items():
    section, field = key.split(".")
    c[section][field] = value
  c.lock()
  return c


def test_every_registered_baseline_is_in_the_smoke_test():
  assert set(MODELS) == {"ebmm", *registry.BUILDERS}


@pytest.mark.parametrize("name", MODELS)
def test_init_train_resume_evaluate(name, tmp_path):
  mesh = parallel.make_mesh(jax.devices()[:1])
  config = _config(name)
  state = training.train(config, str(tmp_path), mesh)
  assert int(state.step) == 2
  assert [s for s, _ in checkpoint.list_checkpoints(training.checkpoint_dir(str(tmp_path)))][-1] == 2
  # Resumed: the restored state continues to step 3, and what it saved loads.
  state = training.train(_config(name, **{"train.num_steps": 3}), str(tmp_path), mesh)
  assert int(state.step) == 3
  params = training.load_meta_params(config, str(tmp_path))
  for a, b in zip(jax.tree_util.tree_leaves(jax.device_get(state.meta_params)),
                  jax.tree_util.tree_leaves(params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  rows = metrics.read_metrics(str(tmp_path))
  assert [r["step"] for r in rows] == [1, 2, 3]
  assert all(np.isfinite(r["meta_loss"]) for r in rows)
  exp = setups.build(config)
  out = evaluation.evaluate(exp, params, config.data.num_patterns, num_batches=2,
                            batches_per_call=2)
  assert out["summary"]["count"] == 2 * config.data.num_patterns
  assert 0 <= out["summary"]["mean"] <= config.data.pattern_dim
  assert exp.model.memory_floats > 0
