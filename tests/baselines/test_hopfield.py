"""Tests of the classical Hopfield baselines (ebmm_jax/baselines/hopfield.py)."""
import numpy as np
import pytest

from ebmm_jax.baselines import hopfield
from ebmm_jax.reporting import paper
from ebmm_jax.data import binary_strings

RULE_NAMES = tuple(hopfield.RULES)


def _patterns(rng, *shape):
  return 2.0 * rng.integers(0, 2, size=shape) - 1.0


def _slow_storkey(patterns, exclude_j):
  """Storkey (1997) as published, entry by entry, from W = 0, W_ii = 0.

  W_ij += (x_i x_j - x_i h_ji - h_ij x_j) / D for i != j, with
  h_ij = sum_{k != i, j} W_ik x_k (exclude_j) or sum_{k != i} W_ik x_k.
  """
  dim = patterns.shape[1]
  weights = np.zeros((dim, dim))

  def local_field(w, x, i, j):
    return sum(w[i, k] * x[k] for k in range(dim)
               if k != i and (k != j or not exclude_j))

  for x in patterns:
    new = weights.copy()
    for i in range(dim):
      for j in range(dim):
        if i != j:
          new[i, j] += (x[i] * x[j] - x[i] * local_field(weights, x, j, i)
                        - local_field(weights, x, i, j) * x[j]) / dim
    weights = new
  return weights


def test_memory_size_is_the_paper_budget():
  assert hopfield.memory_size(128) == 8256
  assert hopfield.memory_size(128) == binary_strings.MEMORY_BUDGET
  assert hopfield.memory_size(3) == 6


def test_rules_and_paper_table_cover_the_same_rules():
  assert set(hopfield.RULES) == set(hopfield.RULE_NAMES)
  for name in hopfield.RULE_NAMES.values():
    assert len(paper.TABLE1[name]) == len(paper.TABLE1_NS) == 5


@pytest.mark.parametrize("rule", RULE_NAMES)
def test_written_matrix_is_symmetric_with_zero_diagonal(rule):
  weights = hopfield.RULES[rule](_patterns(np.random.default_rng(0), 3, 10, 32))
  assert weights.shape == (3, 32, 32)
  np.testing.assert_allclose(weights, np.swapaxes(weights, -1, -2), atol=1e-12)
  np.testing.assert_array_equal(np.diagonal(weights, axis1=-2, axis2=-1), 0.0)
  assert np.abs(weights).max() > 0.01


def test_storkey_published_variant_is_symmetric_with_zero_diagonal():
  weights = hopfield.storkey(_patterns(np.random.default_rng(1), 10, 32),
                             local_field="exclude_ij")
  np.testing.assert_allclose(weights, weights.T, atol=1e-12)
  np.testing.assert_array_equal(np.diag(weights), 0.0)


def test_hebb_is_the_normalised_outer_product_sum():
  x = _patterns(np.random.default_rng(2), 5, 12)
  expected = sum(np.outer(p, p) for p in x) / 12
  np.fill_diagonal(expected, 0.0)
  np.testing.assert_allclose(hopfield.hebb(x), expected, atol=1e-12)


@pytest.mark.parametrize("local_field,exclude_j", [("full", False),
                                                   ("exclude_ij", True)])
def test_storkey_matches_a_slow_loop_of_the_formula(local_field, exclude_j):
  x = _patterns(np.random.default_rng(3), 4, 7)
  np.testing.assert_allclose(hopfield.storkey(x, local_field=local_field),
                             _slow_storkey(x, exclude_j), atol=1e-12)


def test_storkey_variants_differ():
  # Guards the loop test above: the two local fields are not the same rule.
  x = _patterns(np.random.default_rng(4), 4, 7)
  assert not np.allclose(hopfield.storkey(x, local_field="full"),
                         hopfield.storkey(x, local_field="exclude_ij"))


def test_storkey_batched_equals_one_memory_at_a_time():
  x = _patterns(np.random.default_rng(5), 3, 6, 16)
  batched = hopfield.storkey(x)
  for m in range(3):
    np.testing.assert_allclose(batched[m], hopfield.storkey(x[m]), atol=1e-12)


def test_pseudo_inverse_projects_onto_the_span():
  x = _patterns(np.random.default_rng(6), 20, 64)
  proj = hopfield.projection(x)
  np.testing.assert_allclose(proj @ x.T, x.T, atol=1e-9)  # P x = x.
  np.testing.assert_allclose(proj @ proj, proj, atol=1e-9)
  np.testing.assert_allclose(proj, proj.T, atol=1e-12)
  np.testing.assert_allclose(np.trace(proj), 20.0, atol=1e-9)
  weights = hopfield.pseudo_inverse(x)
  np.testing.assert_allclose(weights, proj - np.diag(np.diag(proj)), atol=1e-12)
  # W x = (1 - P_ii) x_i with P_ii < 1: every stored pattern is a fixed point.
  np.testing.assert_array_equal(np.sign(weights @ x.T), x.T)


@pytest.mark.parametrize("num_patterns", [200, 21])
def test_projection_handles_dependent_patterns(num_patterns):
  rng = np.random.default_rng(7)
  x = _patterns(rng, num_patterns, 64)
  if num_patterns < 64:
    x[-1] = x[0]  # A repeated pattern: the Gram matrix is singular.
  proj = hopfield.projection(x)
  np.testing.assert_allclose(proj @ x.T, x.T, atol=1e-8)
  np.testing.assert_allclose(proj @ proj, proj, atol=1e-8)
  assert round(np.trace(proj)) == np.linalg.matrix_rank(x)


@pytest.mark.parametrize("rule", RULE_NAMES)
def test_rules_restore_stored_patterns_at_small_n(rule):
  rng = np.random.default_rng(8)
  patterns, queries, known = hopfield.sample_batch(rng, 10, 4)
  weights = hopfield.RULES[rule](patterns)
  # Stored patterns are fixed points even with every bit free...
  from_pattern = hopfield.retrieve(weights, patterns,
                                   np.zeros_like(known), rng)
  np.testing.assert_array_equal(from_pattern.states, patterns)
  np.testing.assert_array_equal(from_pattern.sweeps, 1)
  # ...and a half-corrupted query falls back onto its pattern.
  assert hopfield.error_bits(queries, patterns).mean() > 20
  result = hopfield.retrieve(weights, queries, known, rng)
  np.testing.assert_array_equal(result.states, patterns)
  assert result.converged.all()


def _hard_case(rule, num_patterns, seed, num_memories=4):
  rng = np.random.default_rng(seed)
  patterns, queries, known = hopfield.sample_batch(rng, num_memories,
                                                   num_patterns)
  return rng, patterns, queries, known, hopfield.RULES[rule](patterns)


@pytest.mark.parametrize("rule", RULE_NAMES)
def test_retrieval_never_changes_known_bits(rule):
  rng, _, queries, _, weights = _hard_case(rule, 64, 9)
  # Ragged masks (a different number of known bits per query) as well as the
  # protocol's half: known bits hold whatever the query says, even wrong ones.
  known = rng.random(queries.shape) < rng.uniform(0.2, 0.8, queries.shape[:-1]
                                                  + (1,))
  result = hopfield.retrieve(weights, queries, known, rng)
  np.testing.assert_array_equal(result.states[known], queries[known])
  # The unknown bits did move: the test is not vacuous.
  assert np.any(result.states[~known] != queries[~known])


@pytest.mark.parametrize("rule,num_patterns", [("hebb", 96), ("storkey", 64),
                                               ("pseudo_inverse", 96)])
def test_retrieval_ends_at_a_fixed_point(rule, num_patterns):
  rng, _, queries, known, weights = _hard_case(rule, num_patterns, 10)
  bias = 0.1 * rng.standard_normal(weights.shape[:-1])
  result = hopfield.retrieve(weights, queries, known, rng, bias=bias)
  assert result.converged.all()
  assert result.sweeps.max() > 2  # The dynamics did work to get there.
  # No unknown bit disagrees with the sign of its exact local field...
  fields = np.einsum("mij,mqj->mqi", weights, result.states) + bias[:, None]
  assert not np.any((fields * result.states < 0) & ~known)
  # ...so one more sweep changes nothing.
  again = hopfield.retrieve(weights, result.states, known, rng, bias=bias,
                            max_sweeps=1)
  np.testing.assert_array_equal(again.states, result.states)
  np.testing.assert_array_equal(again.sweeps, 1)
  assert again.converged.all()


def test_max_sweeps_bounds_the_dynamics():
  rng, _, queries, known, weights = _hard_case("hebb", 96, 11)
  result = hopfield.retrieve(weights, queries, known, rng, max_sweeps=1)
  np.testing.assert_array_equal(result.sweeps, 1)
  # One sweep is not enough for most queries (they need ~5-15).
  assert not result.converged.all()


def test_ties_keep_the_current_bit():
  # With W = 0 every field is 0: nothing may move, and one sweep says so.
  rng = np.random.default_rng(12)
  queries = _patterns(rng, 1, 3, 8)
  known = np.zeros(queries.shape, dtype=bool)
  result = hopfield.retrieve(np.zeros((1, 8, 8)), queries, known, rng)
  np.testing.assert_array_equal(result.states, queries)
  np.testing.assert_array_equal(result.sweeps, 1)


def test_sample_batch_follows_the_protocol():
  rng = np.random.default_rng(13)
  patterns, queries, known = hopfield.sample_batch(rng, 20, 16)
  assert patterns.shape == queries.shape == known.shape == (20, 16, 128)
  np.testing.assert_array_equal(known.sum(-1), 64)
  np.testing.assert_array_equal(queries[known], patterns[known])
  assert set(np.unique(queries)) == {-1.0, 1.0}
  assert set(np.unique(patterns)) == {-1.0, 1.0}
  # Fresh random values: about half of the replaced bits are wrong.
  assert 0.47 < np.mean(queries[~known] != patterns[~known]) < 0.53
  assert 0.47 < np.mean(patterns == 1.0) < 0.53
  # A new random subset per query, not one shared mask.
  assert len({tuple(row) for row in known.reshape(-1, 128)}) == 320


def test_evaluate_is_deterministic_and_shaped():
  first = hopfield.evaluate("hebb", 8, 60, seed=3)
  assert first.shape == (60, 8)
  np.testing.assert_array_equal(first, hopfield.evaluate("hebb", 8, 60, seed=3))
  assert not np.array_equal(hopfield.evaluate("hebb", 32, 60, seed=3),
                            hopfield.evaluate("hebb", 32, 60, seed=4))


def test_hebb_at_16_patterns_is_near_the_paper():
  errors = hopfield.evaluate("hebb", 16, 200, seed=0)
  # Paper, Table 1: 0.4 bits (1,000 batches give 0.38, docs/hopfield.md).
  assert 0.1 < errors.mean() < 1.0


def test_high_load_ordering_matches_the_paper():
  # Table 1 at N = 96: pseudo-inverse (22.5) is worse than Storkey (17.1) and
  # Hebb (16.5); at N = 32 it is the best (0.0 < 0.9 < 5.0).
  at_96 = {rule: hopfield.evaluate(rule, 96, 10, seed=1).mean()
           for rule in RULE_NAMES}
  assert at_96["pseudo_inverse"] > at_96["storkey"] + 2
  assert at_96["pseudo_inverse"] > at_96["hebb"] + 2
  at_32 = {rule: hopfield.evaluate(rule, 32, 30, seed=1).mean()
           for rule in RULE_NAMES}
  assert at_32["pseudo_inverse"] < 0.2 < at_32["storkey"] < 2.5 < at_32["hebb"]


@pytest.mark.parametrize("call,match", [
    (lambda: hopfield.evaluate("oja", 16, 1, 0),
     "Unknown Hopfield rule 'oja'; valid rules: hebb, storkey, pseudo_inverse "
     r"\(Table 1\), storkey_exclude_ij, pseudo_inverse_keep_diagonal"),
    (lambda: hopfield.get_rule("Hebb"), "valid rules"),
    (lambda: hopfield.hebb(np.full((4, 8), 0.5)), r"only -1 and \+1"),
    (lambda: hopfield.storkey(np.zeros((4, 8))), r"only -1 and \+1"),
    (lambda: hopfield.pseudo_inverse(np.ones(8)), "ndim >= 2, got ndim 1"),
    (lambda: hopfield.hebb(np.ones((0, 8))), "patterns is empty"),
    (lambda: hopfield.hebb(np.ones((3, 0, 8))), "patterns is empty"),
    (lambda: hopfield.hebb(np.array([["a", "b"]])), "real numeric"),
    (lambda: hopfield.storkey(np.ones((2, 8)), local_field="j"),
     "Unknown Storkey local_field 'j'; valid: full, exclude_ij"),
    (lambda: hopfield.retrieve(np.zeros((8, 8)), np.ones((2, 8)),
                               np.ones((2, 7), bool), None),
     r"known mask shape \(2, 7\) does not match queries shape \(2, 8\)"),
    (lambda: hopfield.retrieve(np.zeros((8, 8)), np.ones((2, 8)),
                               np.ones((2, 8)), None), "known mask must be boolean"),
    (lambda: hopfield.retrieve(np.zeros((1, 8, 8)), np.ones((2, 8)),
                               np.ones((2, 8), bool), None),
     r"weights shape \(1, 8, 8\) does not match"),
    (lambda: hopfield.retrieve(np.zeros((8, 8)), np.ones((2, 8)),
                               np.ones((2, 8), bool), None, bias=np.zeros(7)),
     "bias shape"),
    (lambda: hopfield.retrieve(np.full((8, 8), np.nan), np.ones((2, 8)),
                               np.ones((2, 8), bool), None), "finite"),
    (lambda: hopfield.retrieve(np.zeros((8, 8)), np.ones((2, 8)),
                               np.ones((2, 8), bool), None, max_sweeps=0),
     "max_sweeps must be >= 1"),
    (lambda: hopfield.retrieve(np.zeros((8, 8)), 2 * np.ones((2, 8)),
                               np.ones((2, 8), bool), None),
     r"queries must contain only -1 and \+1"),
    (lambda: hopfield.evaluate("hebb", 0, 1, 0), "num_patterns must be"),
    (lambda: hopfield.evaluate("hebb", 4, 0, 0), "num_batches must be"),
    (lambda: hopfield.evaluate("hebb", 4, 1, 0, dim=1), "dim must be"),
    (lambda: hopfield.memory_size(0), "dim must be >= 1"),
])
def test_bad_inputs_raise_value_errors_naming_the_problem(call, match):
  with pytest.raises(ValueError, match=match):
    call()


def test_variant_rules_are_the_documented_alternatives():
  x = _patterns(np.random.default_rng(14), 6, 16)
  np.testing.assert_allclose(hopfield.get_rule("storkey_exclude_ij")(x),
                             hopfield.storkey(x, local_field="exclude_ij"))
  keep = hopfield.get_rule("pseudo_inverse_keep_diagonal")(x)
  np.testing.assert_allclose(keep, hopfield.projection(x))
  assert np.all(np.diag(keep) > 0)
  assert hopfield.get_rule("hebb") is hopfield.hebb


def test_bias_unit_writes_the_weights_to_an_always_on_unit():
  x = _patterns(np.random.default_rng(15), 5, 12)
  weights, bias = hopfield.write_with_bias_unit(hopfield.hebb, x)
  # Hebb on [x, 1]: W among pattern units as Hebb with 1 / (D + 1), and
  # b_i = sum_mu x_i^mu / (D + 1).
  np.testing.assert_allclose(weights, hopfield.hebb(x) * 12 / 13, atol=1e-12)
  np.testing.assert_allclose(bias, x.sum(0) / 13, atol=1e-12)
  # (D + 1)-unit zero-diagonal symmetric matrix = the paper's budget.
  assert 13 * 12 // 2 == hopfield.memory_size(12)


def test_bias_unit_evaluation_differs_but_stays_near_the_paper():
  plain = hopfield.evaluate("storkey", 32, 30, seed=2)
  biased = hopfield.evaluate("storkey", 32, 30, seed=2, bias_unit=True)
  assert not np.array_equal(plain, biased)
  assert biased.mean() < 2.5  # Paper: 0.9.
