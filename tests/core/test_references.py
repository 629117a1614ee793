"""The core rules against literal references written from the paper's text.

`tests/references.py` restates the write (Eq. 3-4 with Appendix D's rates),
the read (Appendix B.1-B.3) and the meta-loss (Eq. 2, Appendix B.4) as plain
float64 loops. Every comparison here uses values that make a wrong rule
visible: alpha != beta, a distinct random rate per write step, tensor and
term, momentum 0.5-0.9 with K >= 3 decaying step sizes and momentum rates,
and queries on the box's edge so that the projection is active.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ebmm_jax.core import memory
from ebmm_jax.core import meta
from ebmm_jax.data import binary_strings
from tests import helpers
from tests import references

WRITE_STEPS, READ_STEPS = 3, 4
BOX = (-1.0, 1.0)
RTOL, ATOL = 1e-9, 1e-11  # float64 on both sides: only the summation order differs.


def _f64(tree):
  return jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64), tree)


@pytest.fixture(scope="module")
def tiny():
  """The tiny gated-RNN energy of tests/helpers.py, its θ̄ and static weights
  (float64), and 4 stored patterns."""
  exp = helpers.tiny_experiment()
  with jax.enable_x64(True):
    mp = _f64(exp.model.init(jax.random.PRNGKey(0)))
    patterns = binary_strings.sample_patterns(
        jax.random.PRNGKey(1), 4, 16).astype(jnp.float64)
  return exp, mp, patterns


def _random_rates(init_memory, rng, steps, rates, low=0.03, high=0.4):
  """Raw writing rates like θ̄ with leaves [steps, 3]: a distinct rate per
  step, tensor and term."""
  return {m: {n: jnp.asarray(references.raw_of(rng.uniform(low, high, (steps, 3)), rates))
              for n in leaves} for m, leaves in init_memory.items()}


def _penalties(rates, alpha=0.6, beta=1.7):
  return jnp.asarray(references.raw_of([alpha, beta], rates))


def _assert_trees_close(actual, expected, rtol=RTOL, atol=ATOL):
  for m, n in references.tensors(expected):
    np.testing.assert_allclose(np.asarray(actual[m][n]), expected[m][n], rtol=rtol,
                               atol=atol, err_msg=f"{m}/{n}")


def _assert_losses_close(losses, expected):
  for j, term in enumerate(memory.WRITING_TERMS):
    np.testing.assert_allclose(np.asarray(getattr(losses, term)),
                               [e[j] for e in expected], rtol=RTOL, atol=ATOL,
                               err_msg=term)


# --- Write: Eq. (3)-(4), Appendix D -------------------------------------------

@pytest.mark.parametrize("rates", ["softplus", "log"])
def test_write_matches_the_literal_loop_at_every_step(tiny, rates):
  """θ(t) and the three writing-loss terms at every t, with per-step,
  per-tensor and per-term rates and alpha = 0.6 != beta = 1.7."""
  exp, mp, patterns = tiny
  rng = np.random.default_rng(10)
  with jax.enable_x64(True):
    raw_rates = _random_rates(mp.write.init_memory, rng, WRITE_STEPS, rates)
    penalties = _penalties(rates)
    thetas, losses = references.write(exp.model.network.apply, mp.static, mp.write.init_memory,
                                      raw_rates, np.asarray(penalties), patterns, rates)
    rule = memory.Rule(rates=rates)
    for t in range(1, WRITE_STEPS + 1):  # θ(t) is the write with the first t steps.
      params = memory.WriteParams(mp.write.init_memory,
                                  jax.tree_util.tree_map(lambda r: r[:t], raw_rates),
                                  penalties)
      written, lib_losses = memory.write(exp.model.network.apply, mp.static, params, patterns,
                                         rule=rule)
      _assert_trees_close(written, thetas[t])
      _assert_losses_close(lib_losses, losses[:t])
  # Not vacuous: every step moves θ, and from t = 1 on the prior term pulls.
  for t in range(WRITE_STEPS):
    step = max(np.max(np.abs(thetas[t + 1][m][n] - thetas[t][m][n]))
               for m, n in references.tensors(thetas[t]))
    assert step > 1e-2
  assert all(l[2] > 1e-4 for l in losses[1:])


@pytest.mark.parametrize("sharing", ["one_array", "shared_over_steps", "one_rate_triple"])
def test_write_with_shared_rates_matches_the_literal_loop(tiny, sharing):
  """Writing rates shared by every tensor ([T, 3]), over steps (leaves [1, 3]
  with Rule.write_steps = T) or both ([1, 3]): θ(T) and every loss term.
  First-order meta-gradients (Rule.first_order) must not change the values."""
  exp, mp, patterns = tiny
  rng = np.random.default_rng(11)
  with jax.enable_x64(True):
    if sharing == "one_array":
      raw_rates = jnp.asarray(references.raw_of(rng.uniform(0.03, 0.4, (WRITE_STEPS, 3))))
    elif sharing == "shared_over_steps":
      raw_rates = _random_rates(mp.write.init_memory, rng, 1, "softplus")
    else:
      raw_rates = jnp.asarray(references.raw_of(rng.uniform(0.03, 0.4, (1, 3))))
    penalties = _penalties("softplus", alpha=1.4, beta=0.3)
    thetas, losses = references.write(exp.model.network.apply, mp.static, mp.write.init_memory,
                                      raw_rates, np.asarray(penalties), patterns,
                                      write_steps=WRITE_STEPS)
    written, lib_losses = memory.write(
        exp.model.network.apply, mp.static,
        memory.WriteParams(mp.write.init_memory, raw_rates, penalties), patterns,
        rule=memory.Rule(write_steps=WRITE_STEPS, first_order=True))
  assert len(losses) == WRITE_STEPS
  _assert_trees_close(written, thetas[-1])
  _assert_losses_close(lib_losses, losses)


# --- Read: Appendix B.1-B.3 ---------------------------------------------------

def _read_params(rng, rates, gamma1=2.0, psi1=0.8):
  """K = 4 raw step sizes and momentum rates: γ(1) = gamma1, ψ(1) = psi1 and
  distinct decays σ(η(k)) in (0.55, 0.95) (Appendix B.3)."""
  decays = lambda: references.logit(rng.uniform(0.55, 0.95, READ_STEPS - 1))
  step_sizes = np.concatenate([[references.raw_of(gamma1, rates)], decays()])
  momentum = np.concatenate([[references.logit(psi1)], decays()])
  return step_sizes, momentum


@pytest.mark.parametrize("masked, start, rates", [
    (True, "query", "softplus"),
    (False, "query", "softplus"),
    (True, "center", "log"),
])
def test_read_matches_the_literal_loop_at_every_iterate(tiny, masked, start, rates):
  """Every iterate x(1..K) of projected Nesterov reading, with momentum 0.8
  decaying, K = 4 decaying step sizes, the box clip active and (with a mask)
  the known entries clamped."""
  exp, mp, patterns = tiny
  rng = np.random.default_rng(12)
  with jax.enable_x64(True):
    # A memory away from θ̄, as after writing.
    written = jax.tree_util.tree_map(
        lambda w: w + 0.3 * jnp.asarray(rng.standard_normal(w.shape)), mp.write.init_memory)
    params = {**mp.static, **written}
    queries, known = binary_strings.corrupt_half(jax.random.PRNGKey(2), patterns)
    known = known if masked else None
    step_sizes, momentum = _read_params(rng, rates)
    expected, diagnostics = references.read(exp.model.network.apply, params, step_sizes,
                                            momentum, queries, known, BOX, rates, start)
    iterates = memory.read(
        exp.model.network.apply, params,
        memory.ReadParams(jnp.asarray(step_sizes), jnp.asarray(momentum)),
        queries, known, box=BOX,
        rule=memory.Rule(rates=rates, read_start=start,
                         projection_gradient="straight_through" if start == "center"
                         else "clip"))
  assert iterates.shape == (READ_STEPS, *patterns.shape)
  np.testing.assert_allclose(np.asarray(iterates), expected, rtol=RTOL, atol=ATOL)
  # Not vacuous: the box clips, the look-ahead leaves x(k-1), and reading moves.
  assert diagnostics["clipped"] > 0
  assert diagnostics["lookahead"] > 0.05
  assert np.max(np.abs(expected[-1] - expected[0])) > 0.05
  if masked:
    np.testing.assert_array_equal(
        expected[:, np.asarray(known)],
        np.broadcast_to(np.asarray(queries)[np.asarray(known)],
                        expected[:, np.asarray(known)].shape))


# --- Meta-loss: Eq. (2) and Appendix B.4 -------------------------------------

def test_meta_loss_is_the_sum_of_eq2_over_iterates_or_the_last(tiny):
  """meta_loss(iterates="all") is Σ_k (1/N) Σ_i ||x_i - x_i(k)||² of the
  reference write-then-read; "last" is its k = K term; the metrics are the
  per-iterate losses, scores and writing terms."""
  exp, mp, patterns = tiny
  rng = np.random.default_rng(13)
  key = jax.random.PRNGKey(5)
  with jax.enable_x64(True):
    step_sizes, momentum = _read_params(rng, "softplus", gamma1=1.5, psi1=0.6)
    mp = mp._replace(
        write=mp.write._replace(
            learning_rates=_random_rates(mp.write.init_memory, rng, WRITE_STEPS, "softplus"),
            penalties=_penalties("softplus", alpha=0.8, beta=2.5)),
        read=memory.ReadParams(jnp.asarray(step_sizes), jnp.asarray(momentum)))
    queries, known = binary_strings.corrupt_half(key, patterns)  # The task's distortion.
    thetas, write_losses = references.write(
        exp.model.network.apply, mp.static, mp.write.init_memory, mp.write.learning_rates,
        np.asarray(mp.write.penalties), patterns)
    iterates, _ = references.read(exp.model.network.apply, {**mp.static, **thetas[-1]},
                                  step_sizes, momentum, queries, known, BOX)
    per_iterate = references.reconstruction_losses(iterates, patterns)
    results = {mode: meta.meta_loss(exp.model.network.apply, exp.task, mp, patterns, key,
                                    iterates=mode)
               for mode in meta.META_LOSS_ITERATES}
  # Distinct per-iterate losses: the sum, the last and the first all differ.
  assert np.min(np.abs(np.diff(per_iterate))) > 1e-3
  for mode, (loss, metrics) in results.items():
    np.testing.assert_allclose(float(loss), references.meta_loss(per_iterate, mode),
                               rtol=1e-9)
    np.testing.assert_allclose(np.asarray(metrics["reconstruction"]), per_iterate,
                               rtol=1e-9)
    np.testing.assert_allclose(
        np.asarray(metrics["score"]),
        [references.error_bits(x, patterns).mean() for x in iterates])
    np.testing.assert_allclose(float(metrics["query_score"]),
                               references.error_bits(queries, patterns).mean())
    for j, term in enumerate(memory.WRITING_TERMS):
      np.testing.assert_allclose(np.asarray(metrics[f"writing_{term}"]),
                                 [l[j] for l in write_losses], rtol=1e-9)


@pytest.mark.parametrize("rates", ["softplus", "log"])
def test_schedules_are_the_closed_forms(tiny, rates):
  """meta.schedules logs γ(k) = γ(1) Π_{j<=k} σ(η(j)), ψ(k) likewise, alpha,
  beta and the mean writing rate of each term over steps and tensors."""
  _, mp, _ = tiny
  rng = np.random.default_rng(14)
  raw_rates = {m: {n: rng.normal(-1.0, 1.0, (WRITE_STEPS, 3)) for n in leaves}
               for m, leaves in mp.write.init_memory.items()}
  step_sizes, momentum = rng.normal(0, 1.5, READ_STEPS), rng.normal(0, 1.5, READ_STEPS)
  penalties = np.array([0.3, -0.7])
  mp = mp._replace(
      write=mp.write._replace(learning_rates=jax.tree_util.tree_map(jnp.asarray, raw_rates),
                              penalties=jnp.asarray(penalties)),
      read=memory.ReadParams(jnp.asarray(step_sizes), jnp.asarray(momentum)))
  out = meta.schedules(mp, memory.Rule(rates=rates))
  pos = lambda x: references.positive(x, rates)
  gammas = [pos(step_sizes[0]) * np.prod(references.sigmoid(step_sizes[1:k + 1]))
            for k in range(READ_STEPS)]
  psis = [references.sigmoid(momentum[0]) * np.prod(references.sigmoid(momentum[1:k + 1]))
          for k in range(READ_STEPS)]
  np.testing.assert_allclose(np.asarray(out["read_step_sizes"]), gammas, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(out["read_momentum"]), psis, rtol=1e-5)
  np.testing.assert_allclose(float(out["grad_penalty"]), pos(penalties[0]), rtol=1e-5)
  np.testing.assert_allclose(float(out["prior_penalty"]), pos(penalties[1]), rtol=1e-5)
  all_rates = np.stack([pos(raw_rates[m][n]) for m, n in references.tensors(raw_rates)])
  np.testing.assert_allclose(np.asarray(out["write_lr_mean"]),
                             all_rates.reshape(-1, 3).mean(axis=0), rtol=1e-5)


# --- The binary-strings distortion (Appendix A.2) ------------------------------

def test_corrupt_half_replaces_exactly_half_with_a_fresh_mask_per_query():
  patterns = binary_strings.sample_patterns(jax.random.PRNGKey(0), 32, 128, (4,))
  queries, known = binary_strings.corrupt_half(jax.random.PRNGKey(1), patterns)
  x, q, k = np.asarray(patterns), np.asarray(queries), np.asarray(known)
  assert q.shape == k.shape == x.shape and k.dtype == bool
  np.testing.assert_array_equal(k.sum(axis=-1), 64)  # Exactly D/2 known per query.
  np.testing.assert_array_equal(q[k], x[k])  # Known bits are the pattern's.
  assert set(np.unique(q)) == {-1.0, 1.0}
  # A fresh mask for every query: all 128 masks differ (C(128, 64) choices).
  masks = {row.tobytes() for row in k.reshape(-1, 128)}
  assert len(masks) == 128
  # The replaced bits are fresh fair coins: about half equal the pattern's.
  same = np.mean(q[~k] == x[~k])  # 8,192 bits: std 0.0055.
  assert 0.47 < same < 0.53
  # Every position is replaced about half of the time.
  per_position = (~k).reshape(-1, 128).mean(axis=0)  # 128 queries each: std 0.044.
  assert per_position.min() > 0.25 and per_position.max() < 0.75
  # Another key, other masks; the count is configurable.
  _, other = binary_strings.corrupt_half(jax.random.PRNGKey(2), patterns)
  assert np.mean(np.asarray(other) != k) > 0.4
  _, few = binary_strings.corrupt_half(jax.random.PRNGKey(1), patterns, num_corrupted=5)
  np.testing.assert_array_equal((~np.asarray(few)).sum(axis=-1), 5)
