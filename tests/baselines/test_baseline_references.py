"""The learned Table 1 baselines against NumPy references from their papers.

Each reference is written from the baseline's paper (and the equations its
module docstring commits to), in float64 NumPy with plain loops over the
patterns written, and reads the weights from the model's own parameters,
perturbed at random so that no bias is zero and no rate sits at its
initial value. Tiny sizes (D = 16) as in tests/baselines/test_baselines.py.
"""
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ebmm_jax import setups
from ebmm_jax.baselines import common
from ebmm_jax.data import binary_strings
from tests.baselines import test_baselines

DIM = test_baselines.DIM


def sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def softplus(x):
  return np.logaddexp(0.0, x)


def softmax(x):
  e = np.exp(x - np.max(x))
  return e / e.sum()


def _build(name, num_patterns, key=0, scale=0.3, **model_fields):
  """The tiny baseline, its parameters (each leaf + N(0, scale²) noise) as
  jax arrays and as float64 NumPy, and a batch of patterns and queries."""
  exp = setups.build(test_baselines.tiny_config(name, num_patterns, **model_fields))
  params = exp.model.init(jax.random.PRNGKey(key))
  rng = np.random.default_rng(key)
  params = jax.tree_util.tree_map(
      lambda x: x + jnp.asarray(scale * rng.standard_normal(np.shape(x)), x.dtype), params)
  as_np = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), params)
  patterns, queries, known = binary_strings.sample_batch(
      jax.random.PRNGKey(key + 1), num_patterns, DIM)
  return exp, params, as_np, patterns, queries, known


def _np(*arrays):
  return [np.asarray(a, np.float64) for a in arrays]


def _retrieval(logits, queries, known):
  """The baselines' retrieval: E[bit] = tanh(logit / 2), known bits clamped."""
  return np.where(known, queries, np.tanh(logits / 2.0))


def _masked(queries, known):
  return np.where(known, queries, 0.0)  # The replaced bits are zeroed.


# --- LSTM (Hochreiter & Schmidhuber, 1997) ------------------------------------

def lstm_step(w_x, w_h, b, x, h, c, w_e=None, e=None):
  """One LSTM step, gates in Haiku's order (input i, cell g, forget f, output
  o) with a forget-gate bias of +1:

    i, g, f, o = x W_x [+ e W_e] + h W_h + b
    c' = σ(f + 1) c + σ(i) tanh(g),   h' = σ(o) tanh(c')
  """
  gates = x @ w_x + h @ w_h + b
  if w_e is not None:
    gates = gates + e @ w_e
  i, g, f, o = np.split(gates, 4, axis=-1)
  c = sigmoid(f + 1.0) * c + sigmoid(i) * np.tanh(g)
  return sigmoid(o) * np.tanh(c), c


def test_lstm_cell_matches_numpy_and_haikus_lstm():
  exp, params, p, patterns, queries, known = _build("lstm", 6)
  x, q, k = _np(patterns, queries, known)
  k = k.astype(bool)
  cell, out = p["lstm_memory/~/cell"], p["lstm_memory/~read/output"]
  hidden = cell["w_h"].shape[0]
  h = c = np.zeros(hidden)
  for x_t in x:  # Writing: [x_t, 1], one pattern after another.
    h, c = lstm_step(cell["w_x"], cell["w_h"], cell["b"], np.append(x_t, 1.0), h, c)
  state = exp.model.write(params, patterns)
  np.testing.assert_allclose(np.asarray(state.h), h, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(np.asarray(state.c), c, rtol=1e-4, atol=1e-5)
  # Reading: one more step from the written state with [masked query, 0].
  inputs = np.concatenate([_masked(q, k), np.zeros((len(q), 1))], axis=-1)
  h_read, _ = lstm_step(cell["w_x"], cell["w_h"], cell["b"], inputs, h, c)
  expected = _retrieval(h_read @ out["w"] + out["b"], q, k)[None]
  np.testing.assert_allclose(np.asarray(exp.model.read(params, state, queries, known)),
                             expected, rtol=1e-4, atol=1e-5)

  # The cell is Haiku's own LSTM: one Linear on [x, h] with the same weights.
  core = hk.without_apply_rng(hk.transform(lambda x, s: hk.LSTM(hidden)(x, s)))
  haiku_params = {"lstm/linear": {"w": jnp.concatenate([params["lstm_memory/~/cell"]["w_x"],
                                                        params["lstm_memory/~/cell"]["w_h"]]),
                                  "b": params["lstm_memory/~/cell"]["b"]}}
  s = hk.LSTMState(jnp.zeros(hidden), jnp.zeros(hidden))
  for x_t in patterns:
    _, s = core.apply(haiku_params, jnp.append(x_t, 1.0), s)
  np.testing.assert_allclose(np.asarray(state.h), np.asarray(s.hidden), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(np.asarray(state.c), np.asarray(s.cell), rtol=1e-5, atol=1e-6)


# --- MANN (Santoro et al., 2016) ----------------------------------------------

def cosine(key, memory):
  """K(k, M_i) = k . M_i / (|k| |M_i|) for every row (0 for an empty row)."""
  norms = np.linalg.norm(memory, axis=-1) * np.linalg.norm(key)
  dots = memory @ key
  return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def test_mann_matches_cosine_addressing_and_lru_writes():
  """Santoro et al. (2016), Section 3.1 and the LRUA paragraph, with the
  module's controller output o = [h, x] and NTM key strength β > 0:

    w_r(t) = softmax(β K(k_t, M_t(i))),  r_t = Σ_i w_r(t)(i) M_t(i)
    w_lu(t-1) = one_hot(argmin_i w_u(t-1))
    w_w(t) = σ(α) w_r(t-1) + (1 - σ(α)) w_lu(t-1)
    M_t(i) = M_{t-1}(i) (1 - w_lu(t-1)(i)) + w_w(t)(i) a_t
    w_u(t) = γ w_u(t-1) + w_r(t) + w_w(t)

  Six patterns into four slots, so that least-used slots are erased."""
  slots, word = 4, 8
  exp, params, p, patterns, queries, known = _build("mann", 6)
  x, q, k = _np(patterns, queries, known)
  k = k.astype(bool)
  ctrl, out = p["mann/~/controller"], p["mann/~read/output"]
  heads_w, heads_b = p["mann"]["heads_w"], p["mann"]["heads_b"]
  gamma = sigmoid(p["mann"]["usage_decay_logit"])
  hidden = ctrl["w_h"].shape[0]

  def controller(x_t, read, h, c):
    return lstm_step(ctrl["w_x"], ctrl["w_h"], ctrl["b"], x_t, h, c, ctrl["w_e"], read)

  def heads(o):
    z = o @ heads_w + heads_b
    return z[:word], z[word:2 * word], softplus(z[2 * word]), sigmoid(z[2 * word + 1])

  def read_weights(key, strength, memory):
    return softmax(strength * cosine(key, memory))

  memory, usage = np.zeros((slots, word)), np.zeros(slots)
  w_r, r, h, c = np.zeros(slots), np.zeros(word), np.zeros(hidden), np.zeros(hidden)
  for x_t in x:
    h, c = controller(x_t, r, h, c)
    key, add, strength, gate = heads(np.concatenate([h, x_t]))
    least_used = np.eye(slots)[np.argmin(usage)]
    w_w = gate * w_r + (1.0 - gate) * least_used
    memory = memory * (1.0 - least_used)[:, None] + np.outer(w_w, add)
    w_r = read_weights(key, strength, memory)
    r = w_r @ memory
    usage = gamma * usage + w_r + w_w

  state = exp.model.write(params, patterns)
  for name, expected in [("memory", memory), ("usage", usage), ("read_weights", w_r),
                         ("read", r)]:
    np.testing.assert_allclose(np.asarray(getattr(state, name)), expected, rtol=1e-4,
                               atol=1e-5, err_msg=name)
  np.testing.assert_allclose(np.asarray(state.controller.h), h, rtol=1e-4, atol=1e-5)
  # Not vacuous: every slot was written and the least used one was erased.
  assert np.all(np.abs(memory).sum(axis=1) > 1e-2)

  # Reading: each query alone, one controller step from the written state.
  logits = []
  for q_i in _masked(q, k):
    h_i, _ = controller(q_i, r, h, c)
    o = np.concatenate([h_i, q_i])
    key, _, strength, _ = heads(o)
    r_i = read_weights(key, strength, memory) @ memory
    logits.append(np.concatenate([o, r_i]) @ out["w"] + out["b"])
  np.testing.assert_allclose(np.asarray(exp.model.read(params, state, queries, known)),
                             _retrieval(np.stack(logits), q, k)[None], rtol=1e-4, atol=1e-5)


# --- Differentiable plasticity (Miconi et al., 2018) ---------------------------

def test_plasticity_matches_the_hebbian_write_and_read_loop():
  """Miconi et al. (2018) Eq. (1)-(2), trace symmetrised (module docstring):

    y(s) = tanh(g x + b + y(s-1) (w + α ⊙ Hebb))
    Hebb <- (1 - η) Hebb + η sym(y(s-1)^T y(s)),  y(0) = 0 for each pattern;
  reading presents the masked query with Hebb frozen; iterate k is y(k)."""
  exp, params, p, patterns, queries, known = _build("plasticity", 5, scale=0.2)
  x, q, k = _np(patterns, queries, known)
  k = k.astype(bool)
  w = p["plastic_rnn"]
  eta = sigmoid(w["eta_logit"])
  present, read_steps = exp.config.model.present_steps, exp.config.model.read_steps
  hebb = np.zeros((DIM, DIM))
  for x_t in x:
    y = np.zeros(DIM)
    for _ in range(present):
      new_y = np.tanh(w["gain"] * x_t + w["b"] + y @ (w["w"] + w["alpha"] * hebb))
      outer = np.outer(y, new_y)
      hebb = (1.0 - eta) * hebb + eta * 0.5 * (outer + outer.T)
      y = new_y
  assert np.abs(hebb).max() > 1e-2  # The trace holds something.
  state = exp.model.write(params, patterns)
  rows, cols = np.triu_indices(DIM)
  np.testing.assert_allclose(np.asarray(state.hebb), hebb[rows, cols], rtol=1e-4, atol=1e-6)

  iterates = []
  for q_i in _masked(q, k):
    y, ys = np.zeros(DIM), []
    for _ in range(read_steps):
      y = np.tanh(w["gain"] * q_i + w["b"] + y @ (w["w"] + w["alpha"] * hebb))
      ys.append(y)
    iterates.append(ys)
  expected = np.where(k, q, np.transpose(np.asarray(iterates), (1, 0, 2)))
  np.testing.assert_allclose(np.asarray(exp.model.read(params, state, queries, known)),
                             expected, rtol=1e-4, atol=1e-5)


# --- Memory Networks (Weston et al., 2014; Sukhbaatar et al., 2015) ------------

@pytest.mark.parametrize("num_patterns", [3, 6])
def test_memory_network_attention_matches_numpy(num_patterns):
  """Slots m_i = A x_i (ring buffer of S = 4), u(0) = A q, p = softmax_i(β
  u·m_i) over the written slots only, u(k+1) = u(k) + Σ_i p_i m_i, logits
  W u(k+1) + b: with N = 3 < S one slot is empty and must get no attention;
  with N = 6 > S the oldest two are overwritten."""
  exp, params, p, patterns, queries, known = _build("memory_networks", num_patterns)
  x, q, k = _np(patterns, queries, known)
  k = k.astype(bool)
  embed, out = p["memory_network/~/embed"], p["memory_network/~read/output"]
  beta = np.exp(p["memory_network"]["log_inverse_temperature"])
  slots = [None] * 4
  for i, x_i in enumerate(x):
    slots[i % 4] = x_i @ embed["w"] + embed["b"]
  written = np.stack([s for s in slots if s is not None])
  hops = []
  for q_i in _masked(q, k):
    u, logits = q_i @ embed["w"] + embed["b"], []
    for _ in range(exp.config.model.hops):
      u = u + softmax(beta * (written @ u)) @ written
      logits.append(u @ out["w"] + out["b"])
    hops.append(logits)
  expected = _retrieval(np.transpose(np.asarray(hops), (1, 0, 2)), q, k)
  actual = exp.model.read(params, exp.model.write(params, patterns), queries, known)
  np.testing.assert_allclose(np.asarray(actual), expected, rtol=1e-4, atol=1e-5)


# --- The baselines' loss (common.bit_losses) ----------------------------------

def reference_bit_losses(logits, patterns, queries, known, loss):
  """Per iterate: Σ over the replaced bits of the Bernoulli cross-entropy of
  y = (x + 1) / 2, mean over queries; or Eq. (2) on the clamped retrieval."""
  out = []
  for l_k in logits:
    per_query = []
    for l, x, q, m in zip(l_k, patterns, queries, known):
      if loss == "cross_entropy":
        y = (x + 1.0) / 2.0
        ce = -(y * np.log(sigmoid(l)) + (1.0 - y) * np.log(1.0 - sigmoid(l)))
        per_query.append(np.sum(ce[~m]))
      else:
        per_query.append(np.sum((x - _retrieval(l, q, m)) ** 2))
    out.append(np.mean(per_query))
  return np.asarray(out)


@pytest.mark.parametrize("loss", common.LOSSES)
def test_bit_losses_match_their_definitions(loss):
  rng = np.random.default_rng(3)
  patterns, queries, known = binary_strings.sample_batch(jax.random.PRNGKey(4), 5, DIM)
  logits = rng.normal(0.0, 3.0, (3, 5, DIM))
  x, q, k = _np(patterns, queries, known)
  expected = reference_bit_losses(logits, x, q, k.astype(bool), loss)
  actual = common.bit_losses(jnp.asarray(logits, jnp.float32), patterns, queries, known, loss)
  assert actual.shape == (3,)
  np.testing.assert_allclose(np.asarray(actual), expected, rtol=1e-4)


@pytest.mark.parametrize("loss", common.LOSSES)
def test_model_loss_is_the_sum_of_bit_losses_over_hops(loss):
  """`MemoryModel.loss` of a baseline (Memory Networks, 2 hops) on its own
  distortion: Σ_k of the bit loss of the NumPy attention's logits."""
  exp, params, p, patterns, _, _ = _build("memory_networks", 3, loss=loss)
  key = jax.random.PRNGKey(9)
  queries, known = exp.task.distort(key, patterns)
  x, q, k = _np(patterns, queries, known)
  k = k.astype(bool)
  embed, out = p["memory_network/~/embed"], p["memory_network/~read/output"]
  beta = np.exp(p["memory_network"]["log_inverse_temperature"])
  written = x @ embed["w"] + embed["b"]
  u = _masked(q, k) @ embed["w"] + embed["b"]  # [N, E]
  logits = []
  for _ in range(2):
    u = u + np.stack([softmax(beta * (written @ u_i)) for u_i in u]) @ written
    logits.append(u @ out["w"] + out["b"])
  per_hop = reference_bit_losses(np.asarray(logits), x, q, k, loss)
  total, metrics = exp.model.loss(params, patterns, key)
  np.testing.assert_allclose(np.asarray(metrics["bit_loss"]), per_hop, rtol=1e-4)
  np.testing.assert_allclose(float(total), per_hop.sum(), rtol=1e-4)
