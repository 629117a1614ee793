"""The Dynamic Kanerva Machine baseline (`ebmm_jax/baselines/kanerva.py`):
its memory update against the Bayesian closed form, write/read shapes and
memory accounting on images (its meta-training on Omniglot is in
tests/setups/test_smoke.py), and the binary-strings DKM of Table 1 against a NumPy
reference, its budget, and its meta-training. Tiny configs; one compilation
per function."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ebmm_jax import setups
from ebmm_jax.baselines import kanerva
from ebmm_jax.setups import registry
from ebmm_jax import training
from ebmm_jax.configs import kanerva as kanerva_config
from ebmm_jax.configs import kanerva_binary as kanerva_binary_config
from ebmm_jax.data import binary_strings
from ebmm_jax.reporting import table1
from ebmm_jax.setups import configuration
from ebmm_jax.setups import specs
from ebmm_jax.training import metrics
from ebmm_jax.training import parallel

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
  assert registry.MODELS["kanerva"].build is kanerva.build
  assert "kanerva" in registry.BASELINES and "kanerva" in registry.IMAGE_BASELINES
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
  size (runlocal's C = 16 after mem=300), in the config and in the model; a
  budget that needs as many rows as code units is refused."""
  for variants in ("mem=300,runlocal", "runlocal,mem=300"):
    config = _load(variants)
    assert config.model.rows == 11  # 11 * 16 + 11^2 = 297 (12 rows: 336).
    assert setups.build(config).model.memory_floats == 297
  with pytest.raises(ValueError, match=r"25 memory rows >= model.code_size=16"):
    setups.build(_load("runlocal,mem=1000"))  # 25 * 16 + 25^2 = 1,025.
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
  assert exp.model.name == kanerva.NAME and not isinstance(exp.model, setups.ebmm.EBMM)
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



# --- Binary strings (Table 1) ---------------------------------------------------

BUDGET = 8256  # Appendix A.2: 128 * 127 / 2 + 128.


def test_binary_config_fits_table1_budget():
  """The default binary DKM: C = 128, K_r = 47, its state (R, U) 8,225
  floats for every N of Table 1, within 8,256; as many rows as code units is
  refused (the read-out would bypass the memory)."""
  assert registry.MODELS["kanerva_binary"].build is kanerva.build_binary
  assert "kanerva_binary" in registry.BASELINES
  assert "kanerva_binary" not in registry.IMAGE_BASELINES
  c = kanerva_binary_config.get_config()
  assert (c.data.name, c.data.pattern_dim, c.data.num_patterns) == ("binary_strings", 128, 64)
  assert (c.model.code_size, c.model.rows, c.model.hidden_size, c.model.iterations) == (
      128, 47, 256, 5)
  for n in (16, 96):
    exp = setups.build(kanerva_binary_config.get_config(f"n={n}"))
    assert exp.model.name == kanerva.NAME and not isinstance(exp.model, setups.ebmm.EBMM)
    assert exp.model.memory_floats == kanerva.memory_floats(47, 128) == 8225 <= BUDGET
  # A budget picks the rows (the builder's, overriding model.rows).
  exp = setups.build(specs.load("kanerva_binary", ["model.memory_budget=8256",
                                                   "model.code_size=128"]))
  assert exp.model.memory_floats == kanerva.memory_floats(47, 128) == 8225
  runlocal = kanerva_binary_config.get_config("runlocal,cpu")
  # Its own CPU rate: at the other baselines' 3e-3 the C = 128 model stays at chance.
  assert (runlocal.data.num_patterns, runlocal.optim.learning_rate) == (16, 1e-3)
  with pytest.raises(ValueError, match="Unknown variant 'fast' of configs/kanerva_binary.py"):
    kanerva_binary_config.get_config("fast")
  with pytest.raises(ValueError, match=r"64 memory rows >= model.code_size=64"):
    setups.build(specs.load("kanerva_binary", ["model.code_size=64", "model.rows=64"]))
  with pytest.raises(ValueError, match=r"memory rows >= model.code_size=16"):
    setups.build(specs.load("kanerva_binary", ["model.code_size=16",
                                               "model.memory_budget=8256"]))
  for field, value, message in (("rows", 0, r"model.rows=0 must be an integer >= 1"),
                                ("hidden_size", 0, r"model.hidden_size=0 must be >= 1"),
                                ("ridge", 0.0, r"model.ridge=0.0 must be > 0"),
                                ("write_addressing", "x", r"model.write_addressing='x'")):
    with pytest.raises(ValueError, match=message):
      setups.build(specs.load("kanerva_binary:runlocal", [f"model.{field}={value}"]))


def _np_encode(p, x):
  """The encoder in float64 NumPy: LayerNorm(Linear(relu(Linear(x))))."""
  h = np.maximum(x @ p["encoder_hidden"]["w"] + p["encoder_hidden"]["b"], 0.0)
  c = h @ p["encoder_code"]["w"] + p["encoder_code"]["b"]
  c = (c - c.mean(-1, keepdims=True)) / np.sqrt(c.var(-1, keepdims=True) + 1e-5)
  return c * p["code_norm"]["scale"] + p["code_norm"]["offset"]


def _np_decode(p, z):
  h = np.maximum(z @ p["decoder_hidden"]["w"] + p["decoder_hidden"]["b"], 0.0)
  return h @ p["decoder_logits"]["w"] + p["decoder_logits"]["b"]


def _np_address(z, mean, ridge):
  return np.linalg.solve(mean @ mean.T + ridge * np.eye(mean.shape[0]), mean @ z.T).T


def _binary(addressing):
  """The runlocal binary DKM (D = 128, C = 16, K_r = 16, K = 2), its
  parameters perturbed (no bias zero, U0 not the identity) as jax arrays and
  float64 NumPy (module path stripped), and a batch of 16 patterns."""
  exp = setups.build(specs.load("kanerva_binary:runlocal",
                                [f"model.write_addressing={addressing}"]))
  params = exp.model.init(jax.random.PRNGKey(0))
  rng = np.random.default_rng(0)
  params = jax.tree_util.tree_map(
      lambda x: x + jnp.asarray(0.3 * rng.standard_normal(np.shape(x)), x.dtype), params)
  as_np = {k.split("/")[-1]: jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), v)
           for k, v in params.items()}
  batch = binary_strings.sample_batch(jax.random.PRNGKey(1), 16, 128)
  return exp, params, as_np, batch


@pytest.fixture(scope="module")
def binary():
  return _binary("posterior")


def test_binary_read_is_the_attractor_iteration_with_clamping(binary):
  """Write/read shapes ([K, N, 128] iterates), known bits clamped in every
  iterate, only the known bits seen, and the iterates against a float64
  NumPy reference of the attractor iterations on the written state."""
  exp, params, p, (patterns, queries, known) = binary
  m = exp.config.model
  state = jax.jit(exp.model.write)(params, patterns)
  mean, cov = state
  assert mean.shape == (m.rows, m.code_size) and cov.shape == (m.rows, m.rows)
  read = jax.jit(exp.model.read)
  out = np.asarray(read(params, state, queries, known))
  assert out.shape == (m.iterations, 16, 128) == (2, 16, 128)
  assert np.all(np.abs(out) <= 1.0)
  k, q = np.asarray(known), np.asarray(queries)
  np.testing.assert_array_equal(out[:, k], np.broadcast_to(q[k], out[:, k].shape))
  other = jnp.where(known, queries, -queries)  # Other values at the replaced bits.
  np.testing.assert_allclose(np.asarray(read(params, state, other, known)), out,
                             rtol=1e-6, atol=1e-6)
  # The reference: x(0) the masked query; each iterate clamped, then fed back.
  r = np.asarray(mean, np.float64)
  x = masked = np.where(k, q, 0.0)
  expected = []
  for _ in range(m.iterations):
    logits = _np_decode(p, _np_address(_np_encode(p, x), r, m.ridge) @ r)
    x = np.where(masked != 0, masked, np.tanh(logits / 2.0))
    expected.append(x)
  np.testing.assert_allclose(out, np.stack(expected), atol=2e-4)
  assert np.abs(out[1] - out[0]).max() > 1e-3  # The second iteration moves.
  # The written memory is used: other patterns written, another retrieval.
  written = jax.jit(exp.model.write)(params, -patterns)
  assert np.abs(np.asarray(read(params, written, queries, known)) - out).max() > 1e-2


def test_binary_prior_addressed_write_is_the_batch_posterior():
  """With write_addressing="prior", the written (R, U) is the Bayesian
  linear-regression posterior of the encoded patterns Z = W M + noise,
  W = w(Z; R0) (module doc), computed in float64 from the parameters."""
  exp, params, p, (patterns, _, _) = _binary("prior")
  mean, cov = jax.jit(exp.model.write)(params, patterns)
  prior = p["kanerva_prior"]
  ridge = exp.config.model.ridge
  mean0 = prior["mean"]
  prior_precision = np.diag(1.0 / (np.exp(prior["log_scale"]) + kanerva.MIN_VARIANCE))
  noise_var = np.exp(prior["log_noise_var"]) + kanerva.MIN_VARIANCE
  z = _np_encode(p, np.asarray(patterns, np.float64))
  w = _np_address(z, mean0, ridge)
  cov_post = np.linalg.inv(prior_precision + w.T @ w / noise_var)
  mean_post = cov_post @ (prior_precision @ mean0 + w.T @ z / noise_var)
  np.testing.assert_allclose(np.asarray(cov), cov_post, atol=1e-4)
  np.testing.assert_allclose(np.asarray(mean), mean_post, atol=1e-3)
  assert np.abs(mean_post - mean0).max() > 0.1  # The patterns were written.


@pytest.fixture(scope="module")
def one_device_mesh():
  return parallel.make_mesh(jax.devices()[:1])


def test_binary_meta_step_is_finite_and_moves_every_parameter(binary, one_device_mesh):
  """The training loop's jitted, sharded step on binary strings: a finite
  loss and meta-gradient, and every parameter (encoder, decoder, R0, U0,
  sigma_xi^2) updated."""
  exp = binary[0]
  state = jax.device_put(training.initial_state(exp), parallel.replicated(one_device_mesh))
  before = jax.device_get(state.meta_params)
  step = training.make_train_step(exp, one_device_mesh)
  patterns = training.make_sampler(exp, one_device_mesh)(jax.random.PRNGKey(5))
  state, out = step(state, patterns, jax.random.PRNGKey(6))
  assert bool(out["finite"]) and np.isfinite(float(out["meta_loss"]))
  assert float(out["grad_norm"]) > 0
  assert np.asarray(out["score"]).shape == (exp.config.model.iterations,)
  after = jax.device_get(state.meta_params)
  unchanged = [jax.tree_util.keystr(path) for (path, a), b in zip(
      jax.tree_util.tree_flatten_with_path(before)[0], jax.tree_util.tree_leaves(after))
               if np.array_equal(np.asarray(a), np.asarray(b))]
  assert not unchanged, unchanged


def test_binary_runlocal_training_lowers_the_loss(one_device_mesh, tmp_path):
  """30 meta-steps of the tiny `runlocal` model (N = 16, C = 16) at AdamW
  3e-3 (fast enough for 30 steps at its size): the meta-loss (cross-entropy
  of the replaced bits) goes down; Table 1 prints the workdir's row,
  labelled as not in the paper, with no paper row."""
  config = specs.load("kanerva_binary:cpu,runlocal", [
      "train.num_steps=30", "train.log_every=1", "train.checkpoint_every_secs=1000.0",
      "train.meta_batch_size=1", "optim.learning_rate=3e-3"])
  training.train(config, str(tmp_path), one_device_mesh)
  rows = metrics.read_metrics(str(tmp_path))
  assert [r["step"] for r in rows] == list(range(1, 31))
  losses = [r["meta_loss"] for r in rows]
  assert np.all(np.isfinite(losses))
  assert np.mean(losses[-5:]) < 0.95 * np.mean(losses[:5])
  results = {}
  text = table1.table1([16], results, [str(tmp_path)], rules=(), modern_config=None,
                       num_batches=2, seed=0)
  label = ("Dynamic Kanerva Machine (ebmm-jax), not in the paper, 192-float memory "
           "(below the budget)")  # 8 rows of C = 16: 8 * 16 + 8^2.
  assert any(line.startswith(f"| {label} | 192 |") for line in text.splitlines())
  assert "Kanerva Machine (paper)" not in text
  assert results[label][16]["count"] == 2 * 16
  assert 0 <= results[label][16]["mean"] <= 64  # Only the 64 replaced bits can be wrong.
