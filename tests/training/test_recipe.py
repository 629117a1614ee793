"""The meta-training recipe's choices: rate parametrisation and sharing, where
reading starts, the projection's derivative, first-order meta-gradients, the
optimiser's groups and schedules, and N per meta-step."""
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ebmm_jax import setups
from ebmm_jax.setups import configuration
from ebmm_jax.setups import curriculum
from ebmm_jax.core import memory
from ebmm_jax.core import meta
from ebmm_jax.data import binary_strings
from ebmm_jax.training import optimizer as optimizer_lib
from ebmm_jax.training import step as step_lib
from tests import helpers


def _flat(tree):
  return jnp.concatenate([jnp.ravel(x) for x in jax.tree_util.tree_leaves(tree)])


def _loss_fn(exp, patterns, key, rule=None):
  rule = exp.model.rule if rule is None else rule
  return lambda mp: meta.meta_loss(exp.model.network.apply, exp.task, mp, patterns, key,
                                   rule=rule)[0]


def _x64_setup(exp):
  mp = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64),
                              exp.model.init(jax.random.PRNGKey(0)))
  patterns = binary_strings.sample_patterns(jax.random.PRNGKey(3), 4, 16).astype(jnp.float64)
  return mp, patterns, jax.random.PRNGKey(4)


@pytest.mark.parametrize("overrides", [
    {"memory.rates": "log", "memory.write_rate_sharing": "shared",
     "memory.read_start": "center"},
    {"memory.rates": "log", "memory.write_rate_sharing": "per_step"},
    {"memory.write_rate_sharing": "per_tensor"},
])
def test_meta_gradient_of_the_recipe_matches_finite_differences(overrides):
  exp = helpers.tiny_experiment(**overrides)
  with jax.enable_x64(True):
    mp, patterns, key = _x64_setup(exp)
    loss = jax.jit(_loss_fn(exp, patterns, key))
    grads = jax.jit(jax.grad(loss))(mp)
    for part in (grads.write.learning_rates, grads.write.penalties, grads.read.step_sizes):
      assert float(jnp.linalg.norm(_flat(part))) > 0
    rng = np.random.default_rng(0)
    eps = 1e-5
    for _ in range(3):
      d = jax.tree_util.tree_map(lambda x: jnp.asarray(rng.standard_normal(x.shape)), mp)
      plus = jax.tree_util.tree_map(lambda p, v: p + eps * v, mp, d)
      minus = jax.tree_util.tree_map(lambda p, v: p - eps * v, mp, d)
      numeric = (float(loss(plus)) - float(loss(minus))) / (2 * eps)
      analytic = float(jnp.vdot(_flat(grads), _flat(d)))
      np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-6)


def test_log_rates_give_the_same_memory_as_softplus_rates_of_equal_value():
  soft = helpers.tiny_experiment()
  log = helpers.tiny_experiment(**{"memory.rates": "log"})
  mp_soft = soft.model.init(jax.random.PRNGKey(0))
  mp_log = log.model.init(jax.random.PRNGKey(0))
  # Different raw values, the same rates.
  assert not np.allclose(_flat(mp_soft.write.learning_rates), _flat(mp_log.write.learning_rates))
  patterns = binary_strings.sample_patterns(jax.random.PRNGKey(1), 4, 16)
  queries, known = binary_strings.corrupt_half(jax.random.PRNGKey(2), patterns)
  xs_soft = soft.model.retrieve(mp_soft, patterns, queries, known)
  xs_log = log.model.retrieve(mp_log, patterns, queries, known)
  np.testing.assert_allclose(np.asarray(xs_soft), np.asarray(xs_log), rtol=1e-5, atol=1e-5)


def test_shared_rates_are_one_array_broadcast_over_steps_and_tensors():
  exp = helpers.tiny_experiment(**{"memory.write_rate_sharing": "shared"})
  mp = exp.model.init(jax.random.PRNGKey(0))
  assert mp.write.learning_rates.shape == (1, 3)
  rates = memory.writing_rates(mp.write, 2, "softplus")
  assert set(rates) == set(mp.write.init_memory)
  for leaf in jax.tree_util.tree_leaves(rates):
    assert leaf.shape == (2, 3)
    np.testing.assert_allclose(np.asarray(leaf), 0.05, rtol=1e-5)  # TINY's write_lr_init.
  # A memory written with rates shared over steps is the one written with
  # the same rate repeated at every step and for every tensor.
  full = mp.write._replace(learning_rates=jax.tree_util.tree_map(
      lambda _: jnp.broadcast_to(mp.write.learning_rates, (2, 3)), mp.write.init_memory))
  patterns = binary_strings.sample_patterns(jax.random.PRNGKey(1), 4, 16)
  shared, _ = memory.write(exp.model.network.apply, mp.static, mp.write, patterns, rule=exp.model.rule)
  per_step, _ = memory.write(exp.model.network.apply, mp.static, full, patterns)
  for a, b in zip(jax.tree_util.tree_leaves(shared), jax.tree_util.tree_leaves(per_step)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


def test_shared_over_steps_without_the_step_count_is_refused():
  exp = helpers.tiny_experiment(**{"memory.write_rate_sharing": "shared"})
  mp = exp.model.init(jax.random.PRNGKey(0))
  bad = mp.write._replace(learning_rates=jnp.zeros((3, 3)))
  patterns = binary_strings.sample_patterns(jax.random.PRNGKey(1), 4, 16)
  with pytest.raises(ValueError, match="writing rates have 3 steps"):
    memory.write(exp.model.network.apply, mp.static, bad, patterns, rule=exp.model.rule)


def test_center_start_moves_only_unknown_entries_to_the_box_centre():
  q = jnp.asarray([[1.0, -1.0, 1.0, -1.0]])
  known = jnp.asarray([[True, False, True, False]])
  x0 = memory.read_start(q, known, (-1.0, 1.0), "center")
  np.testing.assert_array_equal(np.asarray(x0), [[1.0, 0.0, 1.0, 0.0]])
  np.testing.assert_array_equal(np.asarray(memory.read_start(q, None, (0.0, 1.0), "center")),
                                np.asarray(q))
  np.testing.assert_array_equal(np.asarray(memory.read_start(q, known, (-1.0, 1.0), "query")),
                                np.asarray(q))


def test_straight_through_projection_has_the_clip_value_and_the_identity_derivative():
  x = jnp.asarray([-2.0, -0.5, 0.3, 1.7])
  st = lambda v: memory.project(v, (-1.0, 1.0), "straight_through")
  clip = lambda v: memory.project(v, (-1.0, 1.0), "clip")
  np.testing.assert_array_equal(np.asarray(st(x)), np.asarray(clip(x)))
  np.testing.assert_array_equal(np.asarray(jax.grad(lambda v: jnp.sum(st(v) * 3.0))(x)),
                                [3.0, 3.0, 3.0, 3.0])
  np.testing.assert_array_equal(np.asarray(jax.grad(lambda v: jnp.sum(clip(v) * 3.0))(x)),
                                [0.0, 3.0, 3.0, 0.0])


def test_straight_through_reads_the_same_iterates_with_another_meta_gradient():
  exp = helpers.tiny_experiment()
  st = exp.model.rule._replace(projection_gradient="straight_through")
  mp = exp.model.init(jax.random.PRNGKey(0))
  # Large steps: the projection is active.
  mp = mp._replace(read=mp.read._replace(
      step_sizes=mp.read.step_sizes.at[0].set(float(memory.inverse_softplus(50.0)))))
  patterns = binary_strings.sample_patterns(jax.random.PRNGKey(3), 4, 16)
  key = jax.random.PRNGKey(4)
  np.testing.assert_allclose(float(_loss_fn(exp, patterns, key)(mp)),
                             float(_loss_fn(exp, patterns, key, st)(mp)), rtol=1e-6)
  g_clip = jax.grad(_loss_fn(exp, patterns, key))(mp)
  g_st = jax.grad(_loss_fn(exp, patterns, key, st))(mp)
  assert not np.allclose(_flat(g_clip), _flat(g_st))


def test_first_order_drops_exactly_the_second_order_part_of_the_meta_gradient():
  exp = helpers.tiny_experiment()
  fo = exp.model.rule._replace(first_order=True)
  with jax.enable_x64(True):
    mp, patterns, key = _x64_setup(exp)
    full = jax.grad(_loss_fn(exp, patterns, key))(mp)
    first = jax.grad(_loss_fn(exp, patterns, key, fo))(mp)
    # The same loss value.
    np.testing.assert_allclose(float(_loss_fn(exp, patterns, key, fo)(mp)),
                               float(_loss_fn(exp, patterns, key)(mp)))
    # Read step sizes see the written memory only through its value: equal.
    np.testing.assert_allclose(np.asarray(first.read.step_sizes),
                               np.asarray(full.read.step_sizes), rtol=1e-10)
    # Through the write, first order differs (θ̄'s gradient is the read's
    # gradient at θ(T), as if dθ(T)/dθ̄ = I).
    assert not np.allclose(_flat(first.write.init_memory), _flat(full.write.init_memory))

    # Closed form: with ∇_θ W held constant, θ(T) = θ̄ - Σ_t η(t) g(t), so
    # d loss / d θ̄ equals d loss / d θ(T).
    def loss_of_written(written):
      params = {**mp.static, **written}
      queries, known = exp.task.distort(key, patterns)
      xs = memory.read(exp.model.network.apply, params, mp.read, queries, known, exp.task.box)
      return jnp.sum(jnp.mean(jnp.sum((xs - patterns[None]) ** 2, -1), -1))

    written, _ = memory.write(exp.model.network.apply, mp.static, mp.write, patterns)
    g_written = jax.grad(loss_of_written)(written)
    for a, b in zip(jax.tree_util.tree_leaves(first.write.init_memory),
                    jax.tree_util.tree_leaves(g_written)):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-8, atol=1e-12)


def test_rates_get_their_own_learning_rate():
  exp = helpers.tiny_experiment(**{"optim.rate_learning_rate": 0.1,
                                   "optim.learning_rate": 1e-3,
                                   "optim.clip_global_norm": 1e9,
                                   "optim.weight_decay": 0.0})
  mp = exp.model.init(jax.random.PRNGKey(0))
  labels = optimizer_lib.meta_param_labels(mp)
  assert set(jax.tree_util.tree_leaves(labels.static)) == {optimizer_lib.WEIGHT_LABEL}
  assert set(jax.tree_util.tree_leaves(labels.write.init_memory)) == {optimizer_lib.WEIGHT_LABEL}
  assert set(jax.tree_util.tree_leaves((labels.write.learning_rates, labels.write.penalties,
                                        labels.read))) == {optimizer_lib.RATE_LABEL}
  opt = optimizer_lib.for_config(exp.config)
  grads = jax.tree_util.tree_map(jnp.ones_like, mp)
  updates, _ = opt.update(grads, opt.init(mp), mp)
  # Adam's first step moves every parameter by its learning rate.
  np.testing.assert_allclose(np.asarray(_flat(updates.read)), -0.1, rtol=1e-4)
  np.testing.assert_allclose(np.asarray(_flat(updates.static)), -1e-3, rtol=1e-4)


@pytest.mark.parametrize("static_lr, rate_lr", [(0.0, 0.1), (1e-2, 0.0)])
def test_static_weights_get_their_own_learning_rate_or_stay_frozen(static_lr, rate_lr):
  exp = helpers.tiny_experiment(**{"optim.static_learning_rate": static_lr,
                                   "optim.rate_learning_rate": rate_lr,
                                   "optim.learning_rate": 1e-3,
                                   "optim.clip_global_norm": 1e9,
                                   "optim.weight_decay": 0.0})
  mp = exp.model.init(jax.random.PRNGKey(0))
  opt = optimizer_lib.for_config(exp.config)
  grads = jax.tree_util.tree_map(jnp.ones_like, mp)
  updates, _ = opt.update(grads, opt.init(mp), mp)
  # Adam's first step moves every parameter by its learning rate (0: frozen).
  np.testing.assert_allclose(np.asarray(_flat(updates.static)), -static_lr, rtol=1e-4)
  np.testing.assert_allclose(np.asarray(_flat(updates.write.init_memory)), -1e-3, rtol=1e-4)
  np.testing.assert_allclose(np.asarray(_flat(updates.read)), -(rate_lr or 1e-3), rtol=1e-4)


def test_warmup_and_cosine_schedule_follow_their_closed_form():
  o = optimizer_lib.OptimizerConfig(learning_rate=1.0, warmup_steps=10, schedule="cosine",
                           decay_steps=110, final_fraction=0.1)
  f = optimizer_lib.learning_rate_schedule(1.0, o)
  np.testing.assert_allclose(float(f(5)), 0.5, rtol=1e-6)
  np.testing.assert_allclose(float(f(10)), 1.0, rtol=1e-6)
  t = 60  # Half-way through the cosine: (1 + cos(pi/2)) / 2 = 0.5 of the span.
  np.testing.assert_allclose(float(f(t)), 0.1 + 0.9 * 0.5, rtol=1e-5)
  np.testing.assert_allclose(float(f(110)), 0.1, rtol=1e-5)
  warm = optimizer_lib.learning_rate_schedule(2.0, optimizer_lib.OptimizerConfig(warmup_steps=4))
  np.testing.assert_allclose([float(warm(s)) for s in (0, 2, 4, 100)], [0, 1, 2, 2])


def test_the_drop_schedule_steps_down_once_at_its_fraction_of_the_run():
  o = optimizer_lib.OptimizerConfig(schedule="drop", decay_steps=100, drop_at=0.8, final_fraction=0.1)
  f = optimizer_lib.learning_rate_schedule(2.0, o)
  np.testing.assert_allclose([float(f(s)) for s in (0, 79, 80, 100, 1000)],
                             [2, 2, 0.2, 0.2, 0.2], rtol=1e-6)
  warm = optimizer_lib.learning_rate_schedule(2.0, o._replace(warmup_steps=10))
  np.testing.assert_allclose([float(warm(s)) for s in (0, 5, 10, 79, 80, 100)],
                             [0, 1, 2, 2, 0.2, 0.2], rtol=1e-6)
  # A run's config without decay_steps drops at drop_at of train.num_steps.
  exp = helpers.tiny_experiment(**{"optim.schedule": "drop", "train.num_steps": 50})
  assert optimizer_lib.optimizer_config(exp.config).decay_steps == 50


def test_number_of_patterns_per_step():
  c = helpers.tiny_config(**{"data.curriculum": "4@0,6@10,8@20", "data.num_patterns": 8})
  assert [curriculum.num_patterns_at(c, s) for s in (0, 9, 10, 19, 20, 1000)] == [
      4, 4, 6, 6, 8, 8]
  # "N" is data.num_patterns, and no stage writes more than it.
  c = helpers.tiny_config(**{"data.curriculum": "6@0,N@10", "data.num_patterns": 8})
  assert [curriculum.num_patterns_at(c, s) for s in (0, 10)] == [6, 8]
  c = helpers.tiny_config(**{"data.curriculum": "6@0,N@10", "data.num_patterns": 4})
  assert [curriculum.num_patterns_at(c, s) for s in (0, 10)] == [4, 4]
  assert curriculum.trained_ns(c) == [4]
  c = helpers.tiny_config(**{"data.train_num_patterns": "3,5"})
  ns = [curriculum.num_patterns_at(c, s) for s in range(200)]
  assert set(ns) == {3, 5} and 60 < ns.count(3) < 140
  assert ns == [curriculum.num_patterns_at(c, s) for s in range(200)]  # Deterministic.
  assert curriculum.num_patterns_at(helpers.tiny_config(), 7) == 4


@pytest.mark.parametrize("overrides, match", [
    ({"memory.rates": "exp"}, "memory.rates='exp' must be one of"),
    ({"memory.write_rate_sharing": "per_layer"}, "memory.write_rate_sharing"),
    ({"memory.read_start": "zero"}, "memory.read_start"),
    ({"memory.projection_gradient": "identity"}, "memory.projection_gradient"),
    ({"memory.first_order_steps": -1}, "memory.first_order_steps"),
    ({"optim.rate_learning_rate": -1.0}, "optim.rate_learning_rate"),
    ({"optim.schedule": "linear"}, "optim.schedule"),
    ({"optim.schedule": "cosine", "optim.decay_steps": 5, "optim.warmup_steps": 5},
     "decay_steps"),
    ({"optim.clock": "hours"}, "optim.clock='hours' must be one of"),
    ({"optim.schedule": "drop", "optim.drop_at": 1.0}, "optim.drop_at=1.0 must be in"),
    ({"optim.clock": "seconds", "train.max_seconds": 0.0}, "needs train.max_seconds > 0"),
    ({"data.curriculum": "16@5"}, "steps must start at 0"),
    ({"data.curriculum": "16-0"}, "each item must be N@STEP"),
    ({"data.train_num_patterns": "16,x"}, "comma-separated integers"),
    ({"data.curriculum": "4@0", "data.train_num_patterns": "4,6"}, "cannot both be set"),
])
def test_invalid_recipe_fields_are_named(overrides, match):
  with pytest.raises(ValueError, match=match):
    configuration.validate(helpers.tiny_config(**overrides))


def test_annealed_multi_step_loss_is_the_weighted_sum_of_eq_2():
  exp = helpers.tiny_experiment(**{"memory.read_steps": 3, "memory.iterate_anneal_steps": 100})
  mp = exp.model.init(jax.random.PRNGKey(0))
  patterns = binary_strings.sample_patterns(jax.random.PRNGKey(3), 4, 16)
  key = jax.random.PRNGKey(4)
  queries, known = exp.task.distort(key, patterns)
  xs = exp.model.retrieve(mp, patterns, queries, known)  # [3, 4, 16]
  per_iterate = np.mean(np.sum((np.asarray(xs) - np.asarray(patterns)[None]) ** 2, -1), -1)
  for step, w in ((0, 1.0), (25, 0.75), (100, 0.0), (1000, 0.0)):
    loss, _ = exp.model.loss(mp, patterns, key, step=jnp.asarray(step))
    np.testing.assert_allclose(float(loss), w * per_iterate[:2].sum() + per_iterate[2],
                               rtol=1e-5)
  # Without a step (evaluation, the API) the paper's step-wise loss.
  np.testing.assert_allclose(float(exp.model.loss(mp, patterns, key)[0]), per_iterate.sum(),
                             rtol=1e-5)


def test_training_with_annealing_and_first_order_steps_runs_and_switches(tmp_path):
  from ebmm_jax.training import parallel  # pylint: disable=g-import-not-at-top
  from ebmm_jax import training  # pylint: disable=g-import-not-at-top
  config = helpers.tiny_config(**{"memory.iterate_anneal_steps": 2,
                                  "memory.first_order_steps": 2, "train.num_steps": 4,
                                  "train.log_every": 1, "data.train_num_patterns": "3,4"})
  state = training.train(config, str(tmp_path), parallel.make_mesh(jax.devices()[:1]))
  assert int(state.step) == 4
  from ebmm_jax.training import metrics as metrics_lib  # pylint: disable=g-import-not-at-top
  rows = metrics_lib.read_metrics(str(tmp_path))
  assert [r["step"] for r in rows] == [1, 2, 3, 4]
  assert {r["num_patterns"] for r in rows} <= {3, 4}


def test_a_cosine_without_decay_steps_follows_the_run():
  exp = helpers.tiny_experiment(**{"optim.schedule": "cosine", "train.num_steps": 10,
                                   "optim.learning_rate": 1.0, "optim.weight_decay": 0.0,
                                   "optim.clip_global_norm": 1e9})
  mp = exp.model.init(jax.random.PRNGKey(0))
  opt = optimizer_lib.for_config(exp.config)
  state = opt.init(mp)
  grads = jax.tree_util.tree_map(jnp.ones_like, mp)
  moves = []
  for _ in range(11):
    updates, state = opt.update(grads, state, mp)
    moves.append(float(jnp.abs(_flat(updates.static)[0])))
  # Adam's unit step times the schedule: a one-step warm-up, then a cosine
  # from step 1 to train.num_steps = 10.
  expected = [0.0] + [0.5 * (1 + np.cos(np.pi * (t - 1) / 9)) for t in range(1, 11)]
  np.testing.assert_allclose(moves, expected, rtol=1e-4, atol=1e-7)


def test_the_seconds_clock_follows_the_cosine_closed_form():
  o = optimizer_lib.OptimizerConfig(schedule="cosine", final_fraction=0.1, clock="seconds")
  got = [optimizer_lib.seconds_fraction(o, p) for p in (-1.0, 0.0, 0.25, 0.5, 1.0, 2.0)]
  expected = [1.0, 1.0, 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi / 4)), 0.55, 0.1, 0.1]
  np.testing.assert_allclose(got, expected, rtol=1e-12)
  assert optimizer_lib.seconds_fraction(o._replace(schedule="constant"), 0.7) == 1.0
  drop = o._replace(schedule="drop", drop_at=0.8)
  assert [optimizer_lib.seconds_fraction(drop, p) for p in (0.0, 0.79, 0.8, 1.0)] == [1, 1, 0.1, 0.1]
  # On the seconds clock the optimiser itself keeps its peak.
  assert optimizer_lib.learning_rate_schedule(2.0, o) == 2.0


def test_lr_scale_is_the_same_step_as_a_scaled_learning_rate():
  overrides = {"optim.weight_decay": 1e-2, "optim.rate_learning_rate": 0.05}
  patterns = binary_strings.sample_patterns(jax.random.PRNGKey(1), 4, 16, (1,))
  key = jax.random.PRNGKey(2)
  results = []
  for lr, rate_lr, scale in ((1e-2, 0.05, 0.3), (3e-3, 0.015, None)):
    exp = helpers.tiny_experiment(**{**overrides, "optim.learning_rate": lr,
                                     "optim.rate_learning_rate": rate_lr})
    opt = optimizer_lib.for_config(exp.config)
    state = step_lib.init_train_state(exp.model.init(jax.random.PRNGKey(0)), opt)
    state, _ = step_lib.meta_step(exp.model.loss, opt, state, patterns, key,
                                    lr_scale=scale)
    results.append(state.meta_params)
  start = helpers.tiny_experiment().model.init(jax.random.PRNGKey(0))
  moved = jax.tree_util.tree_map(lambda a, b: float(jnp.max(jnp.abs(a - b))), results[0], start)
  assert max(jax.tree_util.tree_leaves(moved)) > 1e-4  # The step did move them.
  for a, b in zip(jax.tree_util.tree_leaves(results[0]), jax.tree_util.tree_leaves(results[1])):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


class _FakeClock:
  """time.time() that advances one second per call: a deterministic budget."""

  def __init__(self):
    self.now = 1e9

  def __call__(self):
    self.now += 1.0
    return self.now


def test_the_seconds_clock_decays_over_the_run_budget_across_a_resume(tmp_path, monkeypatch):
  from ebmm_jax.training import metrics as metrics_lib  # pylint: disable=g-import-not-at-top
  from ebmm_jax.training import parallel  # pylint: disable=g-import-not-at-top
  from ebmm_jax import training  # pylint: disable=g-import-not-at-top
  # Only the training loop's clock (time.time elsewhere keeps real time).
  from ebmm_jax.training import loop  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(loop, "time", types.SimpleNamespace(time=_FakeClock(),
                                                          process_time=time.process_time))
  # A first session cut short (as a killed one would be) by a step budget,
  # which validation refuses on the seconds clock unless it is unbounded.
  monkeypatch.setattr(configuration, "UNBOUNDED_STEPS", 1)
  mesh = parallel.make_mesh(jax.devices()[:1])
  overrides = {"optim.schedule": "cosine", "optim.clock": "seconds",
               "optim.final_fraction": 0.0, "train.max_seconds": 40.0,
               "train.num_steps": 1000, "train.log_every": 1,
               "train.checkpoint_every_secs": 1e9}
  first = helpers.tiny_config(**{**overrides, "train.num_steps": 5})
  state = training.train(first, str(tmp_path), mesh)  # Stopped early, by its steps.
  rows = metrics_lib.read_metrics(str(tmp_path))
  # At least one clock second per step (each step reads the fake clock), within budget.
  assert int(state.step) == 5 and 5.0 <= rows[-1]["train_seconds"] < 40.0
  # Resumed (num_steps is a budget field): the clock goes on from the
  # seconds already trained, not from zero, and stops at the budget.
  state = training.train(helpers.tiny_config(**overrides), str(tmp_path), mesh)
  rows = metrics_lib.read_metrics(str(tmp_path))
  seconds = np.array([r["train_seconds"] for r in rows])
  scales = np.array([r["lr_scale"] for r in rows])
  assert np.all(np.diff(seconds) > 0) and 40.0 <= seconds[-1] < 50.0
  assert np.all(np.diff(scales) <= 1e-12) and scales[0] > 0.9 and scales[-1] < 0.05
  np.testing.assert_allclose(  # Each logged scale is the cosine at its time.
      scales, [optimizer_lib.seconds_fraction(optimizer_lib.optimizer_config(first), p)
               for p in (seconds - 1.0) / 40.0], atol=0.1)


def test_writing_off_reads_with_theta_bar_and_writing_changes_the_read():
  """`ebmm_model(writing=False)`, the control of the image evaluations, reads
  with θ̄ itself; the written model reads the same queries differently."""
  exp = setups.build(helpers.tiny_config(**{"memory.write_lr_init": 1.0}))
  mp = exp.model.init(jax.random.PRNGKey(0))
  patterns = exp.sample_test(jax.random.PRNGKey(1), 1, exp.config.data.num_patterns)[0]
  queries, known = exp.task.distort(jax.random.PRNGKey(2), patterns)
  off = exp.model.writing_off()
  assert off.name == "EBMM, writing off"
  jax.tree_util.tree_map(np.testing.assert_array_equal, off.write(mp, patterns),
                         mp.write.init_memory)
  params = {**mp.static, **mp.write.init_memory}
  expected = memory.read(exp.model.network.apply, params, mp.read, queries, known,
                         box=exp.task.box, rule=exp.model.rule)
  np.testing.assert_allclose(off.retrieve(mp, patterns, queries, known), expected,
                             rtol=1e-6, atol=1e-6)
  written = exp.model.retrieve(mp, patterns, queries, known)
  assert float(jnp.max(jnp.abs(written[-1] - expected[-1]))) > 1e-3


def test_a_cpu_seconds_budget_counts_the_process_cpu_time_across_a_resume(
    tmp_path, monkeypatch):
  """train.seconds='cpu': train.max_seconds and the seconds clock count this
  process's CPU time (here a fake one), resumes included; wall time is logged
  beside it but does not end the run."""
  import time  # pylint: disable=g-import-not-at-top
  from ebmm_jax.training import metrics as metrics_lib  # pylint: disable=g-import-not-at-top
  from ebmm_jax.training import parallel  # pylint: disable=g-import-not-at-top
  from ebmm_jax import training  # pylint: disable=g-import-not-at-top
  from ebmm_jax.training import loop  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(loop, "time", types.SimpleNamespace(time=time.time,
                                                          process_time=_FakeClock()))
  mesh = parallel.make_mesh(jax.devices()[:1])
  overrides = {"train.seconds": "cpu", "train.max_seconds": 12.0, "train.num_steps": 1000,
               "train.log_every": 1, "train.checkpoint_every_secs": 1e9}
  training.train(helpers.tiny_config(**{**overrides, "train.num_steps": 3}), str(tmp_path), mesh)
  state = training.train(helpers.tiny_config(**overrides), str(tmp_path), mesh)
  rows = metrics_lib.read_metrics(str(tmp_path))
  cpu = np.array([r["train_cpu_seconds"] for r in rows])
  # The fake clock ticks at every read (the budget's and the log's): 2-3 s a step.
  assert np.all(np.diff(cpu) > 0) and 12.0 <= cpu[-1] < 30.0
  assert 3 < int(state.step) < 12  # Stopped by the fake CPU clock, not by the steps.


@pytest.mark.parametrize("horizon, expected_first", [(20.0, 0.1), (0.0, 1.0)])
def test_a_leg_past_the_horizon_trains_on_at_the_schedules_end(tmp_path, monkeypatch,
                                                                horizon, expected_first):
  """A finished drop run resumed with a larger `train.max_seconds`: with
  `optim.horizon_seconds` at the first leg's budget the new leg stays at the
  low rate; without it (0: the budget) the schedule stretches back to its peak."""
  from ebmm_jax.training import metrics as metrics_lib  # pylint: disable=g-import-not-at-top
  from ebmm_jax.training import parallel  # pylint: disable=g-import-not-at-top
  from ebmm_jax import training  # pylint: disable=g-import-not-at-top
  from ebmm_jax.training import loop  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(loop, "time", types.SimpleNamespace(time=_FakeClock(),
                                                          process_time=time.process_time))
  mesh = parallel.make_mesh(jax.devices()[:1])
  overrides = {"optim.schedule": "drop", "optim.clock": "seconds", "optim.drop_at": 0.8,
               "optim.final_fraction": 0.1, "train.max_seconds": 20.0,
               "train.num_steps": configuration.UNBOUNDED_STEPS, "train.log_every": 1,
               "train.checkpoint_every_secs": 1e9}
  training.train(helpers.tiny_config(**overrides), str(tmp_path), mesh)
  first = len(metrics_lib.read_metrics(str(tmp_path)))
  assert metrics_lib.read_metrics(str(tmp_path))[-1]["lr_scale"] == pytest.approx(0.1)
  training.train(helpers.tiny_config(**{**overrides, "train.max_seconds": 40.0,
                                        "optim.horizon_seconds": horizon}),
                 str(tmp_path), mesh)
  rows = metrics_lib.read_metrics(str(tmp_path))[first:]
  scales = np.array([r["lr_scale"] for r in rows])
  seconds = np.array([r["train_seconds"] for r in rows])
  assert len(rows) >= 5 and seconds[-1] >= 40.0
  assert scales[0] == pytest.approx(expected_first)
  assert scales[-1] == pytest.approx(0.1) and np.all(np.diff(scales) <= 0)
  # The drop comes at 80% of the horizon in force (within a step's seconds):
  # never in the new leg past a 20-s horizon, at 32 s of a 40-s one.
  if horizon:
    np.testing.assert_allclose(scales, 0.1)
  else:
    assert 31.0 <= seconds[np.argmax(scales < 0.5)] <= 34.0
