"""Training across N with padded batches: a pattern mask that write, read and
the meta-loss respect, drawn per memory, one compiled meta-step."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ebmm_jax import setups
from ebmm_jax import training
from ebmm_jax.core import memory as memory_lib
from ebmm_jax.core import meta
from ebmm_jax.core import models
from ebmm_jax.data import binary_strings
from ebmm_jax.setups import curriculum
from ebmm_jax.training import parallel
from ebmm_jax.training import optimizer as optimizer_lib
from ebmm_jax.training import step as step_lib
from tests import helpers

N_MAX = 6


def _padded(n, key=0):
  """n real patterns followed by N_MAX - n rows of other patterns (padding)."""
  x = binary_strings.sample_patterns(jax.random.PRNGKey(key), N_MAX, 16)
  return x, jnp.arange(N_MAX) < n


@pytest.mark.parametrize("n_scaling", ["mean", "sum", "learned"])
def test_masked_write_equals_the_unpadded_write(n_scaling):
  exp = helpers.tiny_experiment(**{"memory.n_scaling": n_scaling,
                                   "data.num_patterns": N_MAX})
  mp = exp.model.init(jax.random.PRNGKey(0))
  if n_scaling == "learned":  # A non-zero exponent, so n matters.
    mp = mp._replace(write=mp.write._replace(n_exponent=jnp.array([0.7, -0.4, 0.3])))
  rule = exp.model.rule
  write = jax.jit(lambda x, mask: meta.write(exp.model.network.apply, mp, x, rule=rule, mask=mask))
  for n in (1, 3, N_MAX):
    x, mask = _padded(n)
    padded, losses = write(x, mask)
    alone, alone_losses = meta.write(exp.model.network.apply, mp, x[:n], rule=rule)
    chex.assert_trees_all_close(padded, alone, rtol=2e-5, atol=1e-6)
    chex.assert_trees_all_close(losses, alone_losses, rtol=2e-5, atol=1e-6)
  # The padding is really ignored: other padding rows, the same memory.
  x2 = x.at[3:].set(-x[3:])
  mask3 = jnp.arange(N_MAX) < 3
  chex.assert_trees_all_close(write(x, mask3)[0], write(x2, mask3)[0], rtol=1e-6, atol=1e-7)
  # ... and the write depends on n (not vacuous): 3 real patterns differ from 6.
  assert not np.allclose(jax.tree_util.tree_leaves(write(x, mask3)[0])[0],
                         jax.tree_util.tree_leaves(write(x, jnp.ones(N_MAX, bool))[0])[0])


def test_n_scaling_sum_and_mean_agree_at_the_reference_n_only():
  exp = helpers.tiny_experiment(**{"data.num_patterns": N_MAX})
  mp = exp.model.init(jax.random.PRNGKey(0))
  x, _ = _padded(N_MAX)
  w = lambda rule, n: meta.write(exp.model.network.apply, mp, x[:n], rule=rule)[0]
  mean, total = exp.model.rule, exp.model.rule._replace(n_scaling="sum")
  chex.assert_trees_all_close(w(mean, N_MAX), w(total, N_MAX), rtol=1e-6)
  # Below n_ref the sum's data terms are scaled by n / n_ref: a hand check of
  # the factors, and a different memory.
  np.testing.assert_allclose(memory_lib.n_scale(mp.write, 3, total), [0.5, 0.5, 1.0])
  assert not np.allclose(jax.tree_util.tree_leaves(w(mean, 3))[0],
                         jax.tree_util.tree_leaves(w(total, 3))[0])


def test_masked_meta_loss_and_metrics_ignore_padding():
  exp = helpers.tiny_experiment(**{"data.num_patterns": N_MAX})
  mp = exp.model.init(jax.random.PRNGKey(0))
  n = 4
  x, mask = _padded(n)
  queries, known = exp.task.distort(jax.random.PRNGKey(5), x)
  xs, _, _ = meta.write_and_read(exp.model.network.apply, mp, x, queries, known, exp.task.box,
                                 rule=exp.model.rule, mask=mask)
  xs_alone, _, _ = meta.write_and_read(exp.model.network.apply, mp, x[:n], queries[:n],
                                       known[:n], exp.task.box, rule=exp.model.rule)
  np.testing.assert_allclose(xs[:, :n], xs_alone, rtol=2e-5, atol=1e-6)
  masked = models.iterate_metrics(exp.task.score, xs, x, queries, mask)
  alone = models.iterate_metrics(exp.task.score, xs_alone, x[:n], queries[:n])
  chex.assert_trees_all_close(masked, alone, rtol=2e-5, atol=1e-6)


def test_one_compiled_step_trains_every_n_and_devices_agree():
  devices = jax.devices()[:4]
  assert len(devices) == 4, "conftest provides 4 CPU devices"
  exp = helpers.tiny_experiment(**{"data.num_patterns": N_MAX,
                                   "data.num_patterns_per_memory": "uniform",
                                   "memory.n_scaling": "learned",
                                   "train.meta_batch_size": 4})
  finals = []
  for mesh_devices in (devices[:1], devices):
    mesh = parallel.make_mesh(mesh_devices)
    state = jax.device_put(training.initial_state(exp), parallel.replicated(mesh))
    step_fn = training.make_train_step(exp, mesh)
    sample = training.make_sampler(exp, mesh)
    _, k_data, k_distort = training.run_keys(exp.config.seed)
    drawn = set()
    for i in range(4):
      counts = sample.counts(i)
      drawn.update(np.asarray(counts).tolist())
      state, metrics = step_fn(state, sample(jax.random.fold_in(k_data, i)),
                               jax.random.fold_in(k_distort, i), 1.0, counts)
    assert len(drawn) > 2  # Several n were drawn ...
    assert step_fn.jitted._cache_size() == 1  # ... by one compiled step.
    assert "write_n_exponent" in metrics
    finals.append(jax.device_get(state.meta_params))
  chex.assert_trees_all_close(finals[0], finals[1], rtol=1e-5, atol=1e-6)
  init = training.initial_state(exp).meta_params
  assert not np.allclose(np.asarray(init.write.n_exponent), finals[1].write.n_exponent)


def test_the_learned_exponent_is_a_rate_of_the_recipe_optimiser():
  # The `cpu` recipe gives the rates their own learning rate (optax.multi_transform):
  # the exponent must be labelled with them.
  exp = helpers.tiny_experiment(**{"memory.n_scaling": "learned",
                                   "optim.rate_learning_rate": 3e-2})
  mp = exp.model.init(jax.random.PRNGKey(0))
  labels = optimizer_lib.meta_param_labels(mp)
  assert labels.write.n_exponent == optimizer_lib.RATE_LABEL
  state = step_lib.init_train_state(mp, optimizer_lib.for_config(exp.config))
  grads = jax.tree_util.tree_map(jnp.ones_like, mp)
  updates, _ = optimizer_lib.for_config(exp.config).update(grads, state.opt_state, mp)
  assert float(jnp.max(jnp.abs(updates.write.n_exponent))) > 0


def test_counts_are_drawn_per_memory_deterministically():
  c = helpers.tiny_config(**{"data.num_patterns": 96,
                             "data.num_patterns_per_memory": "16:1,64:3"})
  a = curriculum.counts_at(c, 7, 0, 400)
  assert set(a.tolist()) == {16, 64}
  assert 0.65 < np.mean(a == 64) < 0.85  # Weights 1:3.
  # Memory m's n does not depend on which slice of the meta-batch asks.
  np.testing.assert_array_equal(curriculum.counts_at(c, 7, 100, 50), a[100:150])
  assert not np.array_equal(curriculum.counts_at(c, 8, 0, 400), a)
  assert curriculum.trained_ns(c) == [16, 64]
  assert curriculum.parse_distribution("uniform:3-5", 8) == [(3, 1 / 3), (4, 1 / 3),
                                                             (5, 1 / 3)]


def test_loguniform_draws_each_n_in_proportion_to_one_over_n():
  dist = dict(curriculum.parse_distribution("loguniform", 8))
  assert sorted(dist) == list(range(1, 9))
  harmonic = sum(1 / n for n in range(1, 9))
  for n, p in dist.items():
    assert p == pytest.approx(1 / (n * harmonic))
  assert sorted(dict(curriculum.parse_distribution("loguniform:4-6", 8))) == [4, 5, 6]


def test_padded_sizes_pick_the_smallest_size_that_holds_the_step_s_largest_n():
  c = helpers.tiny_config(**{"data.num_patterns": 96,
                             "data.num_patterns_per_memory": "loguniform",
                             "data.padded_sizes": "16,32,64,96"})
  seen = set()
  for step in range(60):
    size = curriculum.padded_size_at(c, step, 3)
    largest = curriculum.counts_at(c, step, 0, 3).max()
    # Literal reference: the first listed size at or above the largest n.
    assert size == next(s for s in (16, 32, 64, 96) if s >= largest)
    seen.add(size)
  assert len(seen) >= 3  # Small steps really are padded less.
  # Without padded_sizes every step is padded to num_patterns.
  plain = helpers.tiny_config(**{"data.num_patterns": 96,
                                 "data.num_patterns_per_memory": "loguniform"})
  assert {curriculum.padded_size_at(plain, s, 3) for s in range(20)} == {96}


def test_padded_steps_compile_once_per_size_and_match_the_full_padding():
  # A step padded to 4 gives the same meta-gradient as the same memories
  # padded to N_MAX: the padding never matters, only its cost.
  exp = helpers.tiny_experiment(**{"data.num_patterns": N_MAX,
                                   "data.num_patterns_per_memory": "uniform:1-3",
                                   "memory.n_scaling": "learned",
                                   "memory.n_exponent_init": 1.0,
                                   "train.meta_batch_size": 2})
  mesh = parallel.make_mesh(jax.devices()[:1])
  state = jax.device_put(training.initial_state(exp), parallel.replicated(mesh))
  np.testing.assert_allclose(state.meta_params.write.n_exponent, [1.0, 1.0, 0.0])
  step_fn = training.make_train_step(exp, mesh)
  counts = jnp.array([3, 2], jnp.int32)
  x = jnp.stack([_padded(3, key=k)[0] for k in (1, 2)])  # [2, N_MAX, D]
  key = jax.random.PRNGKey(5)
  copy = lambda s: jax.tree_util.tree_map(jnp.array, s)
  small, _ = step_fn(copy(state), x[:, :4], key, 1.0, counts)
  full, _ = step_fn(copy(state), x, key, 1.0, counts)
  assert step_fn.jitted._cache_size() == 2  # One compilation per padded size.
  chex.assert_trees_all_close(small.meta_params, full.meta_params, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("overrides, message", [
    ({"data.num_patterns_per_memory": "uniform:1-200"}, "above data.num_patterns"),
    ({"data.num_patterns_per_memory": "uniform", "data.padded_sizes": "4,2"},
     "data.padded_sizes"),
    ({"data.padded_sizes": "2,4"}, "needs data.num_patterns_per_memory"),
    ({"data.num_patterns_per_memory": "16;32"}, "must be 'uniform'"),
    ({"data.num_patterns_per_memory": "uniform", "data.train_num_patterns": "4,8"},
     "cannot both be set"),
    ({"memory.n_scaling": "median"}, "memory.n_scaling"),
    ({"train.seconds": "gpu"}, "train.seconds"),
])
def test_bad_across_n_configs_are_refused(overrides, message):
  with pytest.raises(ValueError, match=message):
    setups.build(helpers.tiny_config(**overrides))


def test_baselines_refuse_training_across_n():
  from ebmm_jax.setups import specs
  c = specs.load("memnet:runlocal", ["data.num_patterns_per_memory=uniform"])
  with pytest.raises(ValueError, match="EBMM only"):
    setups.build(c)


def test_capacity_curves_read_results_and_saved_rows():
  from ebmm_jax.reporting import table1
  summary = lambda m: dict(mean=m, p5=m - 1, p95=m + 1, count=10)
  results = {"EBMM (ebmm-jax)": {16: summary(1.0), 4: summary(0.5)},
             "Hopfield Hebb (ebmm-jax)": {"16": summary(0.3)}}
  saved = {"Memory Networks (ebmm-jax)": {"16": {"mean": 0.0, "p5": 0, "p95": 0}}}
  curves = table1.capacity_curves(results, saved, ["Memory Networks (ebmm-jax)"])
  assert [n for n, _ in curves["EBMM (ebmm-jax)"]] == [4, 16]
  assert curves["Memory Networks (ebmm-jax), saved"][0][1]["mean"] == 0.0
  with pytest.raises(ValueError, match="No row 'MANN'"):
    table1.capacity_curves(results, saved, ["MANN"])


@pytest.mark.slow
def test_one_workdir_fills_the_row_without_asterisks(tmp_path):
  import json
  from tests.experiments import test_launchers
  config = helpers.tiny_config(**{"data.num_patterns": 8, "train.num_steps": 3,
                                  "data.num_patterns_per_memory": "uniform",
                                  "train.log_every": 1,
                                  "train.checkpoint_every_secs": 0.0})
  workdir = str(tmp_path / "all_n")
  training.train(config, workdir, parallel.make_mesh(jax.devices()[:1]))
  rows = [json.loads(l) for l in open(f"{workdir}/metrics.jsonl")]
  assert all(1 <= r["mean_num_patterns"] <= 8 for r in rows)
  out_json, figure = tmp_path / "table1.json", tmp_path / "capacity.png"
  saved = tmp_path / "saved.json"
  saved.write_text(json.dumps({"Memory Networks (ebmm-jax)": {"2": {"mean": 0.0}}}))
  stdout = test_launchers._run([
      "-m", "experiments.evaluate", f"--workdir={workdir}", "--ns=2,8", "--num_batches=2",
      "--hopfield=hebb", "--nomodern_hopfield", f"--json={out_json}", f"--figure={figure}",
      f"--saved={saved}", "--saved_rows=Memory Networks (ebmm-jax)"])
  results = json.loads(out_json.read_text())
  (label,) = [k for k in results if k.startswith("EBMM")]
  assert [results[label][n]["trained_at"] for n in ("2", "8")] == [2, 8]
  row = next(l for l in stdout.splitlines() if l.startswith(f"| {label}"))
  assert "*" not in row
  assert any(l.startswith(f"| {label} | 1-8 (every N) |") for l in stdout.splitlines())
  assert figure.stat().st_size > 10_000


def test_the_config_s_n_scaling_reaches_the_model_s_loss():
  x, mask = _padded(2)
  losses = {}
  for scaling in ("mean", "sum"):
    exp = helpers.tiny_experiment(**{"data.num_patterns": N_MAX, "memory.n_scaling": scaling,
                                     "memory.write_lr_init": 0.5})
    mp = exp.model.init(jax.random.PRNGKey(0))
    losses[scaling] = float(exp.model.loss(mp, x, jax.random.PRNGKey(1), mask=mask)[0])
    full = float(exp.model.loss(mp, x, jax.random.PRNGKey(1), mask=jnp.ones(N_MAX, bool))[0])
    losses[scaling + "_full"] = full
  assert losses["mean"] != pytest.approx(losses["sum"], rel=1e-4)  # n = 2 < n_ref = 6.
  assert losses["mean_full"] == pytest.approx(losses["sum_full"], rel=1e-5)  # n = n_ref.
