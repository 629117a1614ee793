"""Tests of the one budget-to-size search (`ebmm_jax/core/budget.py`) against
brute force over every size, and of each of its callers' results."""
import itertools

import pytest

from ebmm_jax.baselines import image_memories
from ebmm_jax.baselines import kanerva
from ebmm_jax.core import budget
from ebmm_jax.energies import rnn

# Non-decreasing memories: affine (EBMM, Memory Networks, MANN), quadratic
# (the Kanerva Machine's rows), with plateaus, and one whose slope at the
# start is misleading (the first probe overshoots, then undershoots).
FLOATS = {
    "affine": lambda v: 257 * v + 3,
    "linear": lambda v: 1154 * v,
    "quadratic": lambda v: v * 16 + v * v,
    "plateaus": lambda v: 10 * (v // 3) + v,
    "convex": lambda v: 2 ** min(v, 40) + v,
    "concave": lambda v: int(1000 * v ** 0.5) + v,
}
BUDGETS = (0, 1, 2, 100, 257, 260, 1000, 1154, 4096, 4330, 8256, 12288, 50000)


def _brute_largest(floats_of, budget_floats, lo, hi):
  fitting = [v for v in range(lo, hi + 1) if floats_of(v) <= budget_floats]
  return max(fitting) if fitting else None


def _brute_closest(floats_of, budget_floats, lo, hi):
  return min(range(lo, hi + 1), key=lambda v: (abs(floats_of(v) - budget_floats), v))


@pytest.mark.parametrize("name", sorted(FLOATS))
def test_search_matches_brute_force(name):
  floats_of = FLOATS[name]
  for budget_floats, (lo, hi) in itertools.product(
      BUDGETS, [(1, 1), (1, 2), (1, 64), (0, 300), (5, 9), (3, 1000)]):
    where = (name, budget_floats, lo, hi)
    assert budget.largest_within(floats_of, budget_floats, lo, hi) == _brute_largest(
        floats_of, budget_floats, lo, hi), where
    assert budget.closest(floats_of, budget_floats, lo, hi) == _brute_closest(
        floats_of, budget_floats, lo, hi), where
    # No upper end: the same as a bound far above the answer.
    if budget_floats <= floats_of(900):
      assert budget.largest_within(floats_of, budget_floats, lo) == _brute_largest(
          floats_of, budget_floats, lo, 1000), where
      assert budget.closest(floats_of, budget_floats, lo) == _brute_closest(
          floats_of, budget_floats, lo, 1000), where


def test_ties_go_to_the_smaller_size_and_bad_ranges_are_refused():
  assert budget.closest(lambda v: 10 * v, 15) == 1  # 10 and 20 are as near.
  assert budget.closest(lambda v: 10 * v, 16) == 2
  assert budget.closest(lambda v: 10 * v, 5000, hi=7) == 7  # Capped at the end.
  with pytest.raises(ValueError, match="must grow with the size"):
    budget.closest(lambda v: 5, 100)
  with pytest.raises(ValueError, match="hi=2 < lo=3"):
    budget.largest_within(lambda v: v, 100, lo=3, hi=2)


def test_callers_keep_their_results():
  # Appendix C.1: (D - 1) // 2 writable units for every input size.
  for d in range(1, 300):
    assert rnn.dynamic_size_for_budget(d) == (d - 1) // 2, d
  assert rnn.dynamic_size_for_budget(128) == 63
  # Kanerva: the rows nearest the budget, ties to fewer rows.
  for budget_floats in (1, 200, 1000, 4096, 8256, 12288, 50000):
    for code in (16, 64, 128, 256):
      best = _brute_closest(lambda r: kanerva.memory_floats(r, code), budget_floats, 1, 600)
      assert kanerva.rows_for_budget(budget_floats, code) == best
  # The image memories' slot or word size, any affine memory.
  for budget_floats in BUDGETS[1:]:
    floats_of = lambda v: 64 * (v + 1)  # noqa: E731 (a Memory Network's slots)
    assert image_memories.closest_size(floats_of, budget_floats) == _brute_closest(
        floats_of, budget_floats, 1, 2000)
