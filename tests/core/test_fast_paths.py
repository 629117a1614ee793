"""Fast paths compute what the plain path computes, and the step compiles once."""
import chex
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ebmm_jax.core import memory
from ebmm_jax.core import meta
from ebmm_jax.training import parallel
from ebmm_jax import training
from ebmm_jax.training import loop
from ebmm_jax.data import binary_strings
from ebmm_jax.energies import rnn
from ebmm_jax.training import step as step_lib
from tests import helpers


def _loss_and_grads(exp, mp, patterns, key, loops):
  fn = lambda p: meta.meta_loss(exp.model.network.apply, exp.task, p, patterns, key, loops=loops)[0]
  return jax.jit(jax.value_and_grad(fn))(mp)


@pytest.mark.parametrize("loops", [memory.Loops(remat=True), memory.Loops(unroll=True)])
def test_remat_and_unroll_match_the_plain_scans(loops):
  exp = helpers.tiny_experiment()
  mp = exp.model.init(jax.random.PRNGKey(0))
  patterns = binary_strings.sample_patterns(jax.random.PRNGKey(1), 4, 16)
  key = jax.random.PRNGKey(2)
  plain_loss, plain_grads = _loss_and_grads(exp, mp, patterns, key, memory.Loops())
  loss, grads = _loss_and_grads(exp, mp, patterns, key, loops)
  np.testing.assert_allclose(float(loss), float(plain_loss), rtol=1e-5)
  for a, b in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(plain_grads)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def test_sequential_memories_match_vmap():
  """batched_meta_loss maps over memories one by one; vmap is the reference."""
  exp = helpers.tiny_experiment()
  mp = exp.model.init(jax.random.PRNGKey(0))
  patterns = binary_strings.sample_patterns(jax.random.PRNGKey(1), 4, 16, (3,))
  key = jax.random.PRNGKey(2)

  def vmapped(p):
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(3))
    losses, _ = jax.vmap(lambda x, k: meta.meta_loss(exp.model.network.apply, exp.task, p, x, k))(
        patterns, keys)
    return jnp.mean(losses)

  mapped = lambda p: step_lib.batched_loss(exp.model.loss, p, patterns, key)[0]
  (l1, g1), (l2, g2) = [jax.jit(jax.value_and_grad(f))(mp) for f in (mapped, vmapped)]
  np.testing.assert_allclose(float(l1), float(l2), rtol=1e-5)
  for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def _literal_c1_energy(params, x, hidden, dynamic, hops):
  """Appendix C.1 written as printed: every Linear applied to concat(x, state)
  at every hop, built from the fast module's weights."""
  p = {k.split("/")[-1]: v for k, v in params.items()}
  static_size = hidden - dynamic
  w_in, b_in = p["input_projection"]["w"], p["input_projection"]["b"]
  w_rec = p["recurrent"]["w"]
  w_static = jnp.concatenate([w_in[:, :static_size], w_rec[:, :static_size]])  # [D+H, H-dyn]
  w_gate = jnp.concatenate([w_in[:, static_size:], w_rec[:, static_size:]])  # [D+H, H]
  b_static, b_gate = b_in[:static_size], b_in[static_size:]
  state = jnp.zeros((x.shape[0], hidden))
  for _ in range(hops):
    z = jnp.concatenate([x, state], axis=-1)
    dynamic_part = x @ p["memory"]["w"] + p["memory"]["b"]
    static_part = z @ w_static + b_static
    c = jnp.tanh(jnp.concatenate([dynamic_part, static_part], axis=-1))
    u = jax.nn.sigmoid(z @ w_gate + b_gate)
    state = u * c + (1 - u) * state
  return (state @ p["energy"]["w"] + p["energy"]["b"])[:, 0]


def test_gated_rnn_equals_the_literal_pseudocode():
  hidden, dynamic, hops = 12, 5, 3
  energy = hk.without_apply_rng(hk.transform(rnn.make_gated_rnn_energy(hidden, dynamic, hops)))
  x = binary_strings.sample_patterns(jax.random.PRNGKey(0), 6, 10)
  params = energy.init(jax.random.PRNGKey(1), x)
  fast = lambda x: energy.apply(params, x)
  slow = lambda x: _literal_c1_energy(params, x, hidden, dynamic, hops)
  np.testing.assert_allclose(np.asarray(fast(x)), np.asarray(slow(x)), rtol=1e-5, atol=1e-6)
  g_fast = jax.grad(lambda x: fast(x).sum())(x)
  g_slow = jax.grad(lambda x: slow(x).sum())(x)
  np.testing.assert_allclose(np.asarray(g_fast), np.asarray(g_slow), rtol=1e-4, atol=1e-6)


def test_the_training_step_is_traced_once(monkeypatch):
  """The training loop's jitted step, guarded by chex: new data and keys at
  every step must reuse the one compilation."""
  chex.clear_trace_counter()
  monkeypatch.setattr(loop.step_lib, "meta_step",
                      chex.assert_max_traces(step_lib.meta_step, n=1))
  exp = helpers.tiny_experiment(**{"data.num_patterns": 3})
  mesh = parallel.make_mesh(jax.devices()[:1])
  step = loop._make_train_step(exp, mesh, False)  # Uncached: traced here first.
  sample = training.make_sampler(exp, mesh)
  state = jax.device_put(training.initial_state(exp), parallel.replicated(mesh))
  for i in range(3):
    state, _ = step(state, sample(jax.random.PRNGKey(i)), jax.random.PRNGKey(i))
  assert int(state.step) == 3
  # The guard is live: a meta-batch of another shape needs a new trace.
  bigger = jnp.concatenate([sample(jax.random.PRNGKey(9))] * 2)
  with pytest.raises(AssertionError, match="traced"):
    step(state, bigger, jax.random.PRNGKey(9))
  chex.clear_trace_counter()
