"""The smoke test every model runs: EBMM and each registered baseline
(`setups/registry.py`) go through the same interface (`MemoryModel`):
init, meta-training with a checkpoint, a restore, finite losses, and an
evaluation. Binary-strings models on tiny configs (D = 16); the image
baselines (Table 2) on real Omniglot (runlocal). The model lists are read
from the registry, so a newly registered baseline runs it too."""
import jax
import numpy as np
import pytest

from ebmm_jax import setups
from ebmm_jax import training
from ebmm_jax.setups import registry
from ebmm_jax.reporting import evaluation
from ebmm_jax.setups import configuration
from ebmm_jax.setups import specs
from ebmm_jax.training import checkpoint
from ebmm_jax.training import metrics
from ebmm_jax.training import parallel
from tests import helpers
from tests.baselines import test_baselines

# Every memory the binary-strings setup builds: EBMM and Table 1's baselines;
# and the image baselines (Table 2), on real data.
MODELS = ["ebmm", *sorted(set(registry.BASELINES) - set(registry.IMAGE_BASELINES))]
IMAGE_MODELS = sorted(registry.IMAGE_BASELINES)


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
  assert set(MODELS) | set(IMAGE_MODELS) == {"ebmm", *registry.MODELS}


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


# Image baselines without memory (Table 2); the others hold a memory.
MEMORY_LESS = {"dae", "vae", "deep_image_prior"}
# Those that, after 30 tiny steps, restore better than the query itself: the
# VAE's attractor and the Kanerva Machine's reads do not (the paper: they
# fail under these distortions), nor does a 5-step Deep Image Prior fit.
RESTORES = {"dae", "memnet_images", "mann_images"}


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_image_baseline_trains_resumes_evaluates_on_real_data(name, data_dir, tmp_path):
  """The image baselines through the same loop and evaluator on real
  Omniglot: training lowers the meta-loss (Deep Image Prior has none), a
  resume continues, the memory is counted."""
  mesh = parallel.make_mesh(jax.devices()[:1])
  overrides = [f"data.data_dir={data_dir}", "train.log_every=1",
               "train.checkpoint_every_secs=0.0", "train.meta_batch_size=1"]
  config = specs.load(f"{name}:runlocal", overrides + ["train.num_steps=30"])
  training.train(config, str(tmp_path), mesh)
  state = training.train(specs.load(f"{name}:runlocal", overrides + ["train.num_steps=31"]),
                         str(tmp_path), mesh)
  assert int(state.step) == 31
  saved = checkpoint.list_checkpoints(training.checkpoint_dir(str(tmp_path)))
  assert [s for s, _ in saved][-1] == 31
  rows = metrics.read_metrics(str(tmp_path))
  assert [r["step"] for r in rows] == list(range(1, 32))
  assert all(np.isfinite(r["meta_loss"]) for r in rows)
  first, last = np.mean([r["meta_loss"] for r in rows[:5]]), np.mean(
      [r["meta_loss"] for r in rows[-5:]])
  if name == "deep_image_prior":  # Not meta-trained: it fits each query anew.
    assert first == last == 0.0
  else:
    assert last < 0.9 * first  # It learns.
  exp = setups.build(config)
  params = training.load_meta_params(config, str(tmp_path))
  # Every parameter learned (none for Deep Image Prior; the MANN's usage decay
  # only moves an argmin, which has no gradient).
  initial = jax.tree_util.tree_flatten_with_path(training.initial_state(exp).meta_params)[0]
  trained = jax.tree_util.tree_leaves(params)
  unchanged = [jax.tree_util.keystr(p) for (p, a), b in zip(initial, trained)
               if np.array_equal(np.asarray(a), np.asarray(b))]
  if name == "deep_image_prior":
    assert len(unchanged) == len(initial)
  else:
    assert all("usage_decay" in u for u in unchanged), unchanged
  out = evaluation.evaluate(exp, params, config.data.num_patterns, num_batches=2,
                            batches_per_call=2)
  assert out["summary"]["count"] == 2 * config.data.num_patterns
  assert 0 <= out["summary"]["mean"]
  if name in RESTORES:
    assert out["summary"]["mean"] < out["query"]["mean"]
  assert (exp.model.memory_floats == 0) == (name in MEMORY_LESS)
  assert not isinstance(exp.model, setups.ebmm.EBMM)
  assert exp.model.writing_off is None  # No meta-learned initial memory.
