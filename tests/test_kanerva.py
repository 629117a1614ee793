"""The Dynamic Kanerva Machine baseline (`ebmm_jax/baselines/kanerva.py`):
its memory update against the Bayesian closed form, write/read shapes and
memory accounting, and one real meta-step on Omniglot. Tiny configs; one
compilation per function."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ebmm_jax import setups
from ebmm_jax.baselines import kanerva
from ebmm_jax.baselines import registry
from ebmm_jax.configs import kanerva as kanerva_config
from ebmm_jax.setups import configuration
from ebmm_jax.setups import specs

# Data is read lazily (on the first batch), so a model built for shapes only
# never opens this folder.
UNUSED_DATA_DIR = "/nonexistent-data-dir"


# --- The memory's pure functions (the Kanerva Machine's update) -----------------

def _random_problem(rng, rows, code, n):
  mean0 = rng.normal(size=(rows, code))
  cov0 = np.diag(rng.uniform(0.5, 2.0, size=rows))  # A learned diagonal U0.
  return mean0, cov0, rng.normal(size=(n, rows)), rng.normal(size=(n, code))


@pytest.mark.parametrize("n", [1, 3, 9])  # Fewer and more observations than rows.
def test_sequential_update_is_the_batch_posterior(n):
  """Folding N observations z_t = w_t^T M + noise in one at a time gives the
  Bayesian linear-regression posterior of Z = W M + noise."""
  rng = np.random.default_rng(n)
  mean0, cov0, w, z = _random_problem(rng, rows=5, code=4, n=n)
  noise_var = 0.3
  with jax.enable_x64(True):
    mean, cov = kanerva.sequential_posterior(jnp.asarray(mean0), jnp.asarray(cov0),
                                             jnp.asarray(w), jnp.asarray(z),
                                             jnp.asarray(noise_var))
    mean, cov = np.asarray(mean), np.asarray(cov)
  assert mean.dtype == np.float64
  prior_precision = np.linalg.inv(cov0)
  cov_post = np.linalg.inv(prior_precision + w.T @ w / noise_var)
  mean_post = cov_post @ (prior_precision @ mean0 + w.T @ z / noise_var)
  np.testing.assert_allclose(cov, cov_post, rtol=1e-5, atol=1e-8)
  np.testing.assert_allclose(mean, mean_post, rtol=1e-5, atol=1e-8)
  # The update really moved the memory (the prior is not the posterior).
  assert np.abs(mean - mean0).max() > 1e-2 and np.abs(cov - cov0).max() > 1e-2


def test_ridge_addressing_and_float32_update():
  rng = np.random.default_rng(0)
  mean0, cov0, w, z = _random_problem(rng, rows=6, code=10, n=4)
  got = np.asarray(kanerva.address(jnp.asarray(z), jnp.asarray(mean0), 0.1))
  expected = np.linalg.solve(mean0 @ mean0.T + 0.1 * np.eye(6), mean0 @ z.T).T
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
  # float32 (the model's dtype) matches the float64 closed form to ~1e-4.
  mean, cov = kanerva.sequential_posterior(*(jnp.asarray(a, jnp.float32)
                                             for a in (mean0, cov0, w, z)), 0.3)
  prior_precision = np.linalg.inv(cov0)
  cov_post = np.linalg.inv(prior_precision + w.T @ w / 0.3)
  np.testing.assert_allclose(np.asarray(cov), cov_post, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(
      np.asarray(mean), cov_post @ (prior_precision @ mean0 + w.T @ z / 0.3),
      rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("addressing", kanerva.WRITE_ADDRESSING)
def test_written_codes_are_retrieved_by_addressing(addressing):
  """With little observation noise the written codes are (near) fixed points
  of one read step z -> w(z; R)^T R; a code never written is not (K_r < C,
  so the rows do not span the code space)."""
  rng = np.random.default_rng(1)
  mean0, cov0, _, codes = _random_problem(rng, rows=6, code=12, n=3)
  with jax.enable_x64(True):
    mean, cov = kanerva.write_codes(jnp.asarray(mean0), jnp.asarray(cov0),
                                    jnp.asarray(codes), jnp.asarray(1e-6), 1e-6,
                                    addressing)
    read = lambda z: np.asarray(kanerva.address(jnp.asarray(z), mean, 1e-6) @ mean)
    unwritten = rng.normal(size=(3, 12))
    stored, other = read(codes), read(unwritten)
    cov = np.asarray(cov)
  np.testing.assert_allclose(stored, codes, atol=1e-3)
  assert np.abs(other - unwritten).max() > 0.1
  np.testing.assert_allclose(cov, cov.T, atol=1e-10)
  assert np.linalg.eigvalsh(cov).min() > 0  # Still a covariance.
  with pytest.raises(ValueError, match="addressing must be one of"):
    kanerva.write_codes(jnp.asarray(mean0), jnp.asarray(cov0), jnp.asarray(codes),
                        1e-6, 1e-6, "nearest")


# --- Config, accounting and shapes ----------------------------------------------

def _load(variants="runlocal", overrides=()):
  return specs.load(f"configs/kanerva.py:{variants}",
                    [f"data.data_dir={UNUSED_DATA_DIR}", *overrides])


def test_registered_and_configs():
  assert registry.BUILDERS["kanerva"] is kanerva.build
  assert "kanerva" in configuration.BASELINES and "kanerva" in configuration.IMAGE_BASELINES
  c = kanerva_config.get_config()
  assert (c.data.name, c.data.num_patterns, c.data.distortion, c.data.noise_rate) == (
      "omniglot", 16, "salt_and_pepper", 0.15)  # Appendix A.4.
  assert kanerva.memory_floats(c.model.rows, c.model.code_size) == 12177  # "12K".
  c = kanerva_config.get_config("block,n=32")
  assert (c.data.distortion, c.data.block_size, c.data.fill, c.data.num_patterns) == (
      "block", 16, "binary", 32)
  assert kanerva_config.get_config("runlocal,block").data.block_size == 8
  assert kanerva_config.get_config("cpu").model.channels == 16
  # Table 1's budget: 64 rows at C = 64 and 47 at C = 128 fit 8,256 floats.
  assert kanerva.rows_for_budget(8256, 64) == 64 and kanerva.memory_floats(64, 64) == 8192
  assert kanerva.rows_for_budget(8256, 128) == 47 and kanerva.memory_floats(47, 128) == 8225
  for budget in (1, 200, 1000, 4096, 8256, 12288, 50000):
    for code in (16, 256):
      best = min(range(1, 400), key=lambda r: (abs(kanerva.memory_floats(r, code) - budget), r))
      assert kanerva.rows_for_budget(budget, code) == best
      assert kanerva_config.rows_for_budget(budget, code) == best
  with pytest.raises(ValueError, match="Unknown variant 'fast' of configs/kanerva.py"):
    kanerva_config.get_config("fast")
  with pytest.raises(ValueError, match=r"model.rows=0 must be an integer >= 1"):
    setups.build(_load(overrides=["model.rows=0"]))
  with pytest.raises(ValueError, match=r"model.write_addressing='x' must be one of"):
    setups.build(_load(overrides=["model.write_addressing=x"]))


def test_memory_budget_variant_sets_rows():
  """mem=K: the rows whose state is closest to K floats, for the final code
  size (runlocal's C = 16 after mem=1000), in the config and in the model."""
  for variants in ("mem=1000,runlocal", "runlocal,mem=1000"):
    config = _load(variants)
    assert config.model.rows == 25  # 25 * 16 + 25^2 = 1,025 (24 rows: 960).
    assert setups.build(config).model.memory_floats == 1025
  # The builder recomputes from the budget: a later code size is followed.
  exp = setups.build(_load("runlocal,mem=1000", ["model.code_size=32"]))
  assert exp.model.memory_floats == kanerva.memory_floats(
      kanerva.rows_for_budget(1000, 32), 32) == 19 * 32 + 19 ** 2


@pytest.fixture(scope="module")
def tiny():
  exp = setups.build(_load())
  params = jax.jit(exp.model.init)(jax.random.PRNGKey(0))
  return exp, params, jax.jit(exp.model.write), jax.jit(exp.model.read)


def _images(seed, n=4):
  return jax.random.bernoulli(jax.random.PRNGKey(seed), 0.3, (n, 16, 16, 1)).astype(
      jnp.float32)


def test_write_read_shapes_and_memory_accounting(tiny):
  exp, params, write, read = tiny
  m = exp.config.model
  rows, code = m.rows, m.code_size
  assert (rows, code, m.iterations) == (8, 16, 2)
  assert exp.model.memory_floats == rows * code + rows ** 2 == 192
  assert exp.model.memory_floats == kanerva.memory_floats(rows, code)
  assert exp.model.name == kanerva.NAME and exp.energy is None
  patterns = _images(1, n=6)  # N != data.num_patterns: the state does not grow.
  mean, cov = write(params, patterns)
  assert mean.shape == (rows, code) and cov.shape == (rows, rows)
  cov = np.asarray(cov)
  np.testing.assert_allclose(cov, cov.T, atol=1e-5)
  prior_cov = np.diag(np.exp(np.asarray(params["kanerva_prior"]["log_scale"])) +
                      kanerva.MIN_VARIANCE)
  # Writing only removes variance: U_N <= U0, and stays positive definite.
  assert np.linalg.eigvalsh(prior_cov - cov).min() > -1e-5
  assert np.linalg.eigvalsh(cov).min() > 0
  queries = jnp.where(_images(2, n=6) > 0, 1.0 - patterns, patterns)  # Some flipped.
  known = jax.random.bernoulli(jax.random.PRNGKey(3), 0.5, patterns.shape)
  out = np.asarray(read(params, (mean, cov), queries, known))
  assert out.shape == (2, 6, 16, 16, 1)
  assert np.all((out >= 0) & (out <= 1))
  k = np.asarray(known)
  np.testing.assert_array_equal(out[:, k], np.broadcast_to(np.asarray(queries)[k],
                                                           out[:, k].shape))
  # The written memory is used: another batch written, another retrieval.
  other = np.asarray(read(params, write(params, _images(4, n=6)), queries, known))
  assert np.abs(other - out).max() > 1e-4


# --- One real meta-step on Omniglot ---------------------------------------------
