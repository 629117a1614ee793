"""Write (Eq. 3-4) and read (Eq. 1, Appendix B): the inner loops."""
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ebmm_jax.core import memory
from ebmm_jax.core import params as params_lib
from ebmm_jax.data import binary_strings
from tests import helpers


@pytest.fixture(scope="module")
def setup():
  exp = helpers.tiny_experiment()
  meta_params = exp.model.init(jax.random.PRNGKey(0))
  patterns = binary_strings.sample_patterns(jax.random.PRNGKey(1), 4, 16)
  return exp, meta_params, patterns


def test_memory_split_and_size(setup):
  exp, meta_params, _ = setup
  params = hk.data_structures.merge(meta_params.static, meta_params.write.init_memory)
  # Linear(16 -> 3): 16 * 3 weights + 3 biases are writable, nothing else.
  assert params_lib.memory_size(params) == 16 * 3 + 3
  assert set(meta_params.write.init_memory) == {"gated_rnn_energy/memory"}
  assert all("memory" not in k for k in meta_params.static)


def test_paper_memory_size():
  from ebmm_jax.energies import rnn
  energy = hk.without_apply_rng(hk.transform(rnn.make_gated_rnn_energy(1024, 63, 5)))
  shapes = jax.eval_shape(energy.init, jax.random.PRNGKey(0), jnp.zeros((1, 128)))
  assert params_lib.memory_size(shapes) == 8127  # Appendix C.1.


def test_writing_gradients_match_autodiff_of_each_term(setup):
  exp, meta_params, patterns = setup
  init = meta_params.write.init_memory
  # Evaluate away from θ̄ so that the prior term has a non-zero gradient.
  memory_ = jax.tree_util.tree_map(lambda w: w + 0.1 * jnp.ones_like(w), init)
  grads, loss = memory.writing_gradients(exp.model.network.apply, meta_params.static,
                                         memory_, init, patterns)
  for i, term in enumerate(memory.WRITING_TERMS):
    expected = jax.grad(lambda m: getattr(memory.writing_loss(
        exp.model.network.apply, meta_params.static, m, init, patterns), term))(memory_)
    chex_tree_close(grads[i], expected, rtol=1e-4, atol=1e-6)
  direct = memory.writing_loss(exp.model.network.apply, meta_params.static, memory_, init, patterns)
  np.testing.assert_allclose(np.array(loss), np.array(direct), rtol=1e-5)


def chex_tree_close(a, b, rtol, atol):
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def test_writing_lowers_the_writing_loss(setup):
  exp, meta_params, patterns = setup
  written, losses = jax.jit(memory.write, static_argnums=0)(
      exp.model.network.apply, meta_params.static, meta_params.write, patterns)
  alpha, beta = memory.penalty_weights(meta_params.write.penalties)
  before = memory.writing_loss(exp.model.network.apply, meta_params.static,
                               meta_params.write.init_memory,
                               meta_params.write.init_memory, patterns).total(alpha, beta)
  after = memory.writing_loss(exp.model.network.apply, meta_params.static, written,
                              meta_params.write.init_memory, patterns).total(alpha, beta)
  assert float(after) < float(before)
  # The scan reports the loss before each step; the first is θ̄'s.
  np.testing.assert_allclose(float(losses.total(alpha, beta)[0]), float(before), rtol=1e-5)
  assert not np.allclose(np.asarray(written["gated_rnn_energy/memory"]["w"]),
                         np.asarray(meta_params.write.init_memory["gated_rnn_energy/memory"]["w"]))


def test_reading_lowers_energy_stays_in_box_and_keeps_clamped_entries(setup):
  exp, meta_params, patterns = setup
  params = hk.data_structures.merge(meta_params.static, meta_params.write.init_memory)
  queries, known = binary_strings.corrupt_half(jax.random.PRNGKey(2), patterns)
  # Small steps without momentum: plain projected gradient descent must not
  # increase the energy of any pattern.
  read_params = memory.ReadParams(
      step_sizes=jnp.asarray([float(memory.inverse_softplus(0.05)), 5.0, 5.0, 5.0]),
      momentum=jnp.asarray([-30.0, 0.0, 0.0, 0.0]))
  iterates = memory.read(exp.model.network.apply, params, read_params, queries, known,
                         box=(-1.0, 1.0))
  assert iterates.shape == (4, *queries.shape)
  energies = jnp.stack([exp.model.network.apply(params, x) for x in [queries, *iterates]])
  assert np.all(np.diff(np.asarray(energies), axis=0) <= 1e-6)
  assert float(energies[-1].sum()) < float(energies[0].sum())
  assert np.all(np.abs(np.asarray(iterates)) <= 1.0)
  known_b = np.broadcast_to(np.asarray(known), iterates.shape)
  np.testing.assert_array_equal(np.asarray(iterates)[known_b],
                                np.broadcast_to(np.asarray(queries), iterates.shape)[known_b])
  # And the unknown entries do move.
  assert np.any(np.asarray(iterates[-1])[~np.asarray(known)] !=
                np.asarray(queries)[~np.asarray(known)])


def test_step_sizes_and_momentum_are_non_increasing():
  raw = jnp.asarray([0.3, -2.0, 4.0, 0.0, 10.0])
  for schedule in (memory.step_size_schedule, memory.momentum_schedule):
    s = np.asarray(schedule(raw))
    assert np.all(s > 0) and np.all(np.diff(s) <= 0)
  assert np.all(np.asarray(memory.momentum_schedule(raw)) < 1)
  np.testing.assert_allclose(float(memory.step_size_schedule(raw)[0]),
                             np.log1p(np.exp(0.3)), rtol=1e-6)


@pytest.mark.parametrize("bad, match", [
    (np.ones((4,), np.float32), r"batch \[N, \.\.\.\]"),
    (np.ones((0, 16), np.float32), "empty batch"),
    (np.ones((4, 16), np.int32), "floating point"),
    (np.full((4, 16), 2.0, np.float32), "outside the data's box"),
    (np.full((4, 16), np.nan, np.float32), "non-finite"),
])
def test_read_rejects_bad_queries(setup, bad, match):
  exp, meta_params, _ = setup
  params = hk.data_structures.merge(meta_params.static, meta_params.write.init_memory)
  with pytest.raises(ValueError, match=match):
    memory.read(exp.model.network.apply, params, meta_params.read, bad, box=(-1.0, 1.0))


def test_read_rejects_bad_mask(setup):
  exp, meta_params, patterns = setup
  params = hk.data_structures.merge(meta_params.static, meta_params.write.init_memory)
  with pytest.raises(ValueError, match="known has shape"):
    memory.read(exp.model.network.apply, params, meta_params.read, patterns,
                np.ones((4, 8), bool), box=(-1.0, 1.0))
  with pytest.raises(ValueError, match="bool mask"):
    memory.read(exp.model.network.apply, params, meta_params.read, patterns,
                np.ones((4, 16), np.float32), box=(-1.0, 1.0))


def test_write_rejects_bad_patterns(setup):
  exp, meta_params, _ = setup
  with pytest.raises(ValueError, match="empty batch"):
    memory.write(exp.model.network.apply, meta_params.static, meta_params.write,
                 np.ones((0, 16), np.float32))
  with pytest.raises(ValueError, match="wrong|shape|one scalar per pattern|16"):
    # 12 features into a model built for 16.
    memory.write(exp.model.network.apply, meta_params.static, meta_params.write,
                 np.ones((4, 12), np.float32))


def test_energy_must_be_per_pattern():
  energy = hk.without_apply_rng(hk.transform(
      lambda x: jnp.sum(hk.Linear(2, name="memory")(x))))  # a scalar, not [N].
  p = energy.init(jax.random.PRNGKey(0), jnp.zeros((3, 4)))
  with pytest.raises(ValueError, match="one scalar per pattern"):
    memory.input_gradients(energy.apply, p, jnp.zeros((3, 4)))
