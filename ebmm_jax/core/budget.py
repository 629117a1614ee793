"""The one search from a memory budget (floats) to a model's size.

Section 4 compares models at equal *memory size*, "the number of float32
numbers used to represent a modifiable part of the model"; each model sets
it with one integer (EBMM's `dynamic_size`, a Memory Network's slot size,
MANN's word size, the Kanerva Machine's rows, C.1's writable units). Given
`floats_of(size)`, non-decreasing in `size`, a budget and the sizes there
are ([lo, hi]; hi=None: no upper end):

  largest_within(floats_of, budget)  the largest size whose memory fits in
                                     the budget (C.1's (D - 1) // 2 units,
                                     `resnet.dynamic_size_for_budget`).
  closest(floats_of, budget)         the size whose memory is nearest to it,
                                     the smaller on a tie (the `mem=K`
                                     variants: "4K" memory is a round label).

The first probe follows the slope at `lo`, exact for every memory that is
affine in its size (all but the Kanerva Machine's, quadratic in its rows);
bisection finds the rest.
"""
from typing import Callable, Optional

FloatsOf = Callable[[int], int]  # size -> floats of memory.


def largest_within(floats_of: FloatsOf, budget: int, lo: int = 1,
                   hi: Optional[int] = None) -> Optional[int]:
  """The largest size in [lo, hi] with floats_of(size) <= budget.

  Returns:
    That size, or None when even `lo` needs more than `budget` floats.

  Raises:
    ValueError: if hi < lo, or if the memory does not grow from lo to lo + 1
      (the search would not end without an upper bound).
  """
  if hi is not None and hi < lo:
    raise ValueError(f"no sizes to search: hi={hi} < lo={lo}.")
  at_lo = floats_of(lo)
  if at_lo > budget:
    return None
  # floats_of(good) <= budget < floats_of(bad); bad = hi + 1 is past the end.
  good, bad = lo, (None if hi is None else hi + 1)

  def narrow(size: int) -> None:
    nonlocal good, bad
    if good < size and (bad is None or size < bad):
      if floats_of(size) <= budget:
        good = size
      else:
        bad = size

  if bad is None or lo + 1 < bad:
    slope = floats_of(lo + 1) - at_lo
    if slope <= 0:
      raise ValueError(f"the memory must grow with the size: {at_lo} floats at "
                       f"size {lo}, {at_lo + slope} at size {lo + 1}.")
    guess = lo + (budget - at_lo) // slope
    narrow(guess)
    narrow(guess + 1)
  while bad is None:  # No upper end yet: double the distance from lo.
    narrow(2 * good - lo + 1)
  while bad - good > 1:
    narrow((good + bad) // 2)
  return good


def closest(floats_of: FloatsOf, budget: int, lo: int = 1,
            hi: Optional[int] = None) -> int:
  """The size in [lo, hi] whose floats_of(size) is nearest to `budget`; on a
  tie the smaller; `lo` when even it needs more than `budget` floats.

  The largest size that fits, or the next one up when that is nearer (e.g.
  "4K" for the C.5 energy: 4,330 floats at d = 5 rather than 3,464 at d = 4).
  Raises ValueError as `largest_within`.
  """
  below = largest_within(floats_of, budget, lo, hi)
  if below is None:
    return lo
  candidates = [below] if hi is not None and below == hi else [below, below + 1]
  return min(candidates, key=lambda size: (abs(floats_of(size) - budget), size))
