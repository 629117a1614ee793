"""Meta-gradients (Eq. 5) and the data-parallel meta-step."""
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ebmm_jax.core import meta
from ebmm_jax.training import parallel
from ebmm_jax import training
from ebmm_jax.data import binary_strings
from ebmm_jax.training import optimizer as optimizer_lib
from ebmm_jax.training import step as step_lib
from tests import helpers


def _flat(tree):
  return jnp.concatenate([jnp.ravel(x) for x in jax.tree_util.tree_leaves(tree)])


def test_meta_gradient_matches_central_finite_differences():
  exp = helpers.tiny_experiment()
  with jax.enable_x64(True):
    meta_params = jax.tree_util.tree_map(
        lambda x: jnp.asarray(x, jnp.float64), exp.model.init(jax.random.PRNGKey(0)))
    patterns = binary_strings.sample_patterns(jax.random.PRNGKey(3), 4, 16).astype(jnp.float64)
    key = jax.random.PRNGKey(4)

    def loss(mp):
      return meta.meta_loss(exp.model.network.apply, exp.task, mp, patterns, key)[0]

    loss = jax.jit(loss)
    grads = jax.jit(jax.grad(loss))(meta_params)
    # The learned rates must receive meta-gradient, not only the weights.
    for part in (grads.write.learning_rates, grads.write.penalties,
                 grads.read.step_sizes, grads.write.init_memory, grads.static):
      assert float(jnp.linalg.norm(_flat(part))) > 0
    rng = np.random.default_rng(0)
    eps = 1e-5
    for _ in range(3):  # Random directions through all meta-parameters.
      direction = jax.tree_util.tree_map(
          lambda x: jnp.asarray(rng.standard_normal(x.shape)), meta_params)
      plus = jax.tree_util.tree_map(lambda p, d: p + eps * d, meta_params, direction)
      minus = jax.tree_util.tree_map(lambda p, d: p - eps * d, meta_params, direction)
      numeric = (float(loss(plus)) - float(loss(minus))) / (2 * eps)
      analytic = float(jnp.vdot(_flat(grads), _flat(direction)))
      np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def four_devices():
  devices = jax.devices()
  if len(devices) < 4:
    pytest.fail(f"conftest should provide 4 CPU devices, found {len(devices)}.")
  return devices[:4]


def _steps(exp, mesh, num_steps):
  state = jax.device_put(training.initial_state(exp), parallel.replicated(mesh))
  step_fn = training.make_train_step(exp, mesh)
  sample = training.make_sampler(exp, mesh)
  _, k_data, k_distort = training.run_keys(exp.config.seed)
  for i in range(num_steps):
    state, metrics = step_fn(state, sample(jax.random.fold_in(k_data, i)),
                             jax.random.fold_in(k_distort, i))
  return state, metrics


def test_four_devices_give_the_same_meta_step_as_one(four_devices):
  exp = helpers.tiny_experiment(**{"train.meta_batch_size": 4})
  one, m1 = _steps(exp, parallel.make_mesh(four_devices[:1]), 2)
  four, m4 = _steps(exp, parallel.make_mesh(four_devices), 2)
  assert int(one.step) == int(four.step) == 2
  chex.assert_trees_all_close(jax.device_get(one.meta_params),
                              jax.device_get(four.meta_params), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(float(m1["meta_loss"]), float(m4["meta_loss"]), rtol=1e-5)
  # The step really changed the parameters (the comparison is not vacuous).
  init = training.initial_state(exp).meta_params
  assert not np.allclose(np.asarray(_flat(init)), np.asarray(_flat(jax.device_get(four.meta_params))))
  # The parameters stay replicated over the mesh.
  leaf = jax.tree_util.tree_leaves(four.meta_params)[0]
  assert len(leaf.sharding.device_set) == 4


def test_meta_batch_must_divide_devices(four_devices):
  with pytest.raises(ValueError, match="multiple of the number of devices"):
    parallel.check_meta_batch(6, parallel.make_mesh(four_devices))


def test_nonfinite_step_is_skipped_and_counted():
  exp = helpers.tiny_experiment()
  state = training.initial_state(exp)
  step = jax.jit(functools.partial(step_lib.meta_step, exp.model.loss,
                                   optimizer_lib.for_config(exp.config)))
  patterns = binary_strings.sample_patterns(jax.random.PRNGKey(0), 4, 16, (1,))
  bad = state._replace(meta_params=state.meta_params._replace(
      read=state.meta_params.read._replace(
          step_sizes=state.meta_params.read.step_sizes.at[0].set(jnp.nan))))
  new, metrics = step(bad, patterns, jax.random.PRNGKey(1))
  assert not bool(metrics["finite"])
  assert int(new.nonfinite_in_a_row) == 1 and int(new.nonfinite_total) == 1
  chex.assert_trees_all_equal(jax.device_get(new.meta_params), jax.device_get(bad.meta_params))
  good, metrics = step(state, patterns, jax.random.PRNGKey(1))
  assert bool(metrics["finite"]) and int(good.nonfinite_in_a_row) == 0


def test_unknown_meta_loss_iterates_is_rejected():
  exp = helpers.tiny_experiment()
  mp = exp.model.init(jax.random.PRNGKey(0))
  patterns = binary_strings.sample_patterns(jax.random.PRNGKey(0), 4, 16)
  with pytest.raises(ValueError, match="iterates must be one of"):
    meta.meta_loss(exp.model.network.apply, exp.task, mp, patterns, jax.random.PRNGKey(0),
                   iterates="first")
