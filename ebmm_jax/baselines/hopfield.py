"""Classical Hopfield networks: the three baselines of Table 1 (Appendix A.2).

The paper compares EBMM against a Hopfield network (Hopfield, 1982) written by
three rules (Hebb, Storkey, pseudo-inverse) on random binary strings, but gives
neither the exact form of the rules nor the retrieval schedule. This module
fixes them as follows; `docs/hopfield.md` has the measured table.

Protocol (docs/protocols.md, "Random binary strings"): patterns x in {-1, +1}^D,
D = 128; a query replaces a random half of the positions (exactly D/2, chosen
afresh per query) by fresh random -1/+1 values, the other half is known and
clamped; the score is the number of wrong bits of sign(retrieved) over all D.

Writing rules. X is [N, D], one stored pattern per row; every rule returns a
symmetric [D, D] matrix W with zero diagonal (docs/protocols.md: "Zero diagonal").

* Hebb:            W = X^T X / D, then W_ii = 0.
* Storkey:         patterns written one at a time from W = 0 (Storkey, 1997;
                   Storkey & Valabregue, 1999):
                     h = W x                    (h_i = sum_{k != i} W_ik x_k)
                     W <- W + (x x^T - x h^T - h x^T) / D,   then W_ii = 0.
                   This is the matrix form of the rule, whose local field
                   h_ij = sum_{k != i} W_ik x_k keeps the k = j term. The
                   published formula drops it, h_ij = sum_{k != i, j} W_ik x_k,
                   which for +-1 patterns and symmetric W is the same update
                   plus 2 W / D; it is `local_field="exclude_ij"` (rule
                   "storkey_exclude_ij" in `VARIANT_RULES`). The matrix form is
                   the default because it is the one that reproduces Table 1
                   (within 0.5 bits in every cell); the published form recalls
                   *better* at N = 32..64 (2.5 instead of the paper's 6.3 bits
                   at N = 48, outside the 3-bit tolerance) and worse at N = 96
                   (19.5 instead of 17.1).
* Pseudo-inverse:  W = P - diag(P), P = X^T (X X^T)^+ X the orthogonal
                   projection onto the span of the patterns (Personnaz et al.,
                   1985; Kanter & Sompolinsky, 1987). The diagonal is zeroed
                   like the other rules': P_ii ~ N / D is a self-coupling that
                   freezes the random initial bits once N is large (keeping it,
                   "pseudo_inverse_keep_diagonal", gives 18.3 error bits at
                   N = 48 against the paper's 0.3), while with it zeroed
                   N = 96 > D/2 lands at the paper's 22.5 bits (23.0).

The "frequency vector" the paper counts in the memory budget (a bias per unit,
Appendix A.2) is supported by `retrieve` (`bias`), but the Table 1 rules leave
it at zero: with equiprobable bits there is no frequency to store. Writing it
as the weights to an always-on unit (`write_with_bias_unit`, `evaluate(...,
bias_unit=True)`) moves every Table 1 cell by at most 0.63 bits and keeps all
of them within the tolerances. The budget is the paper's either way,
`memory_size(128) = 8,256` floats. All numbers: docs/hopfield.md, 1,000
batches per cell.

Retrieval (`retrieve`): asynchronous sign updates of the unknown bits only,
known bits clamped to their true values. Each sweep visits every unknown bit
once, in a fresh uniformly random order per query and per sweep; a visited bit
becomes sign(h_i), h_i = sum_j W_ij s_j + b_i, and stays as it is when h_i = 0
(the energy does not decrease by flipping it, so this tie rule guarantees that
the dynamics stop). Sweeps repeat until a sweep changes no bit (the state is
then a fixed point) or `max_sweeps` (default 100) is reached. With symmetric,
zero-diagonal W every accepted flip strictly lowers the energy
-s^T W s / 2 - b^T s, so the bound is only a safeguard: on the protocol the
queries take 2.5 to 5.2 sweeps on average (the last one changing nothing),
25 at most, and none has ever reached the bound.

Everything is NumPy (float64): the updates are inherently sequential, and
vectorising one update step across thousands of queries is simplest and fast
enough here (1,000 batches of a Table 1 cell take 1 to 40 s on one busy core).
"""
from typing import Callable, Dict, NamedTuple, Tuple

import numpy as np

PATTERN_DIM = 128
DEFAULT_MAX_SWEEPS = 100
# Batches written and retrieved together in `evaluate`. Fixed (not an argument)
# so that the result is a function of (rule, num_patterns, num_batches, seed).
_BATCHES_PER_CHUNK = 50

# Display names, as in Table 1 (Appendix A.2).
RULE_NAMES = {"hebb": "Hopfield Hebb", "storkey": "Hopfield Storkey",
              "pseudo_inverse": "Hopfield pseudo-inverse"}
STORKEY_LOCAL_FIELDS = ("full", "exclude_ij")


def memory_size(dim: int) -> int:
  """Floats in a Hopfield memory: symmetric zero-diagonal matrix plus a vector.

  Appendix A.2: 128 * (128 - 1) / 2 + 128 = 8,256 for D = 128.
  """
  if dim < 1:
    raise ValueError(f"dim must be >= 1, got {dim}.")
  return dim * (dim - 1) // 2 + dim


def _check_pm1(array, name: str) -> np.ndarray:
  """Returns `array` as float64 after checking it is a [..., N, D] +-1 array."""
  array = np.asarray(array)
  if array.ndim < 2:
    raise ValueError(f"{name} must have shape [..., N, D] with ndim >= 2, got "
                     f"ndim {array.ndim} (shape {array.shape}).")
  if array.size == 0 or array.shape[-2] == 0 or array.shape[-1] == 0:
    raise ValueError(f"{name} is empty: got shape {array.shape}; need at least "
                     "one pattern of at least one bit.")
  if not np.issubdtype(array.dtype, np.number) or np.issubdtype(
      array.dtype, np.complexfloating):
    raise ValueError(f"{name} must be a real numeric array of -1/+1 entries, "
                     f"got dtype {array.dtype}.")
  bad = (array != 1) & (array != -1)
  if np.any(bad):
    raise ValueError(f"{name} must contain only -1 and +1 entries; found "
                     f"{array[bad].flat[0]!r} (and {int(bad.sum()) - 1} more).")
  return array.astype(np.float64)


def _zero_diagonal(weights: np.ndarray) -> np.ndarray:
  """Zeroes W_ii in place on a [..., D, D] array and returns it."""
  dim = weights.shape[-1]
  weights[..., np.arange(dim), np.arange(dim)] = 0.0
  return weights


def _check_initial(initial, x: np.ndarray) -> np.ndarray:
  """The weights a write appends to: zeros for None, else `initial` as
  float64 [..., D, D] matching the patterns' leading shape."""
  shape = x.shape[:-2] + (x.shape[-1], x.shape[-1])
  if initial is None:
    return np.zeros(shape)
  initial = np.asarray(initial, np.float64)
  if initial.shape != shape:
    raise ValueError(f"initial weights have shape {initial.shape}; patterns of shape "
                     f"{x.shape} need {shape}.")
  return initial


def hebb(patterns, initial=None) -> np.ndarray:
  """Hebb rule: W = X^T X / D with zero diagonal (Hopfield, 1982).

  The 1/D scale is the one the Storkey rule uses for its Hebbian term, so the
  two rules agree after one pattern; retrieval is invariant to it (no bias).

  Args:
    patterns: [..., N, D] array of -1/+1 entries, N patterns per memory.
    initial: optional [..., D, D] weights of a memory already written: the
      patterns are added to it (Hebb's rule is a sum, so writing a stream
      chunk by chunk gives the weights of writing it at once).

  Returns:
    float64 [..., D, D] symmetric weights, zero diagonal.
  """
  x = _check_pm1(patterns, "patterns")
  weights = np.einsum("...ni,...nj->...ij", x, x) / x.shape[-1]
  if initial is not None:
    weights = _check_initial(initial, x) + weights
  return _zero_diagonal(weights)


def storkey(patterns, local_field: str = "full", initial=None) -> np.ndarray:
  """Storkey rule (Storkey, 1997; Storkey & Valabregue, 1999), zero diagonal.

  Starting from W = 0, for each pattern x in order (incremental, one pass):
    h_ij = sum_{k != i} W_ik x_k               (local_field="full", default)
    h_ij = sum_{k != i, j} W_ik x_k            (local_field="exclude_ij")
    W_ij <- W_ij + (x_i x_j - x_i h_ji - h_ij x_j) / D   for i != j,
  and W_ii stays 0. "full" is the matrix form W += (x x^T - x h^T - h x^T) / D
  with h = W x and the one that reproduces Table 1; "exclude_ij" is the
  formula as published, equal to "full" plus 2 W / D for +-1 patterns (see the
  module docstring for why the default is "full").

  Args:
    patterns: [..., N, D] array of -1/+1 entries, written in the order of N.
    local_field: "full" or "exclude_ij", see above.
    initial: optional [..., D, D] symmetric zero-diagonal weights of a memory
      already written, to go on from instead of W = 0 (appending a chunk of
      a stream; the rule is incremental, so chunk by chunk equals at once).

  Returns:
    float64 [..., D, D] symmetric weights, zero diagonal.
  """
  if local_field not in STORKEY_LOCAL_FIELDS:
    raise ValueError(f"Unknown Storkey local_field {local_field!r}; valid: "
                     f"{', '.join(STORKEY_LOCAL_FIELDS)}.")
  x = _check_pm1(patterns, "patterns")
  dim = x.shape[-1]
  weights = _check_initial(initial, x).copy()
  for n in range(x.shape[-2]):
    xn = x[..., n, :]  # [..., D]
    # The diagonal is zero, so (W x)_i = sum_{k != i} W_ik x_k.
    field = np.einsum("...ij,...j->...i", weights, xn)  # [..., D]
    outer_xx = xn[..., :, None] * xn[..., None, :]
    outer_xh = xn[..., :, None] * field[..., None, :]
    update = outer_xx - outer_xh - np.swapaxes(outer_xh, -1, -2)
    if local_field == "exclude_ij":
      # Dropping k = j from h_ij (and k = i from h_ji) adds back
      # x_i W_ji x_i + W_ij x_j x_j = 2 W_ij for +-1 entries.
      update = update + 2.0 * weights
    weights = _zero_diagonal(weights + update / dim)
  return weights


def projection(patterns) -> np.ndarray:
  """Orthogonal projection onto the span of the patterns, P = X^T (X X^T)^+ X.

  Linearly independent patterns (random ones with N <= D, almost surely) use a
  linear solve with the Gram matrix X X^T; when that fails or does not
  reproduce the patterns (repeated patterns, N > D) the projection comes from
  the SVD of X instead (singular values below 1e-10 of the largest count as
  zero), i.e. onto the span actually reached. The solve comes first because it
  is much faster on this project's shared CPUs (0.4 s instead of 6.6 s for 50
  memories of 96 patterns).

  Args:
    patterns: [..., N, D] array of -1/+1 entries.

  Returns:
    float64 [..., D, D] symmetric idempotent P with P x = x for every pattern.
  """
  x = _check_pm1(patterns, "patterns")
  num_patterns, dim = x.shape[-2:]
  if num_patterns <= dim:
    gram = np.einsum("...ni,...mi->...nm", x, x)  # [..., N, N]
    try:
      coeffs = np.linalg.solve(gram, x)  # (X X^T)^{-1} X, [..., N, D]
    except np.linalg.LinAlgError:
      coeffs = None
    if coeffs is not None and np.all(np.isfinite(coeffs)):
      proj = np.einsum("...ni,...nj->...ij", x, coeffs)
      proj = 0.5 * (proj + np.swapaxes(proj, -1, -2))  # Exact symmetry.
      # A near-singular Gram matrix passes the solve but breaks P x = x.
      if np.allclose(np.einsum("...ij,...nj->...ni", proj, x), x, atol=1e-8):
        return proj
  _, singular, vt = np.linalg.svd(x, full_matrices=False)  # vt: [..., K, D]
  keep = singular > 1e-10 * singular[..., :1]  # [..., K]
  return np.einsum("...ki,...k,...kj->...ij", vt, keep.astype(np.float64), vt)


def pseudo_inverse(patterns) -> np.ndarray:
  """Pseudo-inverse (projection) rule: W = P - diag(P), P from `projection`.

  (Personnaz et al., 1985; Kanter & Sompolinsky, 1987.) Every stored pattern
  satisfies P x = x, so W x = (1 - P_ii) x_i componentwise and each stored
  pattern is a fixed point of the sign dynamics while P_ii < 1 (N < D).

  Args:
    patterns: [..., N, D] array of -1/+1 entries.

  Returns:
    float64 [..., D, D] symmetric weights, zero diagonal.
  """
  return _zero_diagonal(projection(patterns))


RULES: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "hebb": hebb,
    "storkey": storkey,
    "pseudo_inverse": pseudo_inverse,
}


# Alternatives measured in docs/hopfield.md, not used for Table 1.
VARIANT_RULES: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    # Storkey's h_ij as published (k != i, j).
    "storkey_exclude_ij": lambda x: storkey(x, local_field="exclude_ij"),
    # The projection itself, self-couplings P_ii kept.
    "pseudo_inverse_keep_diagonal": projection,
}


def get_rule(rule: str) -> Callable[[np.ndarray], np.ndarray]:
  """The writing rule called `rule`, one of `RULES` or `VARIANT_RULES`."""
  if rule in RULES:
    return RULES[rule]
  if rule in VARIANT_RULES:
    return VARIANT_RULES[rule]
  raise ValueError(f"Unknown Hopfield rule {rule!r}; valid rules: "
                   f"{', '.join(RULES)} (Table 1), "
                   f"{', '.join(VARIANT_RULES)} (variants).")


def write_with_bias_unit(write: Callable[[np.ndarray], np.ndarray], patterns
                         ) -> Tuple[np.ndarray, np.ndarray]:
  """Writes a bias ("frequency") vector as the weights to an always-on unit.

  The patterns get a constant +1 entry D and `write` runs on the D + 1 units;
  a symmetric zero-diagonal (D + 1)-unit matrix has exactly the paper's
  D (D - 1) / 2 + D floats. For Hebb this gives b = sum_mu x^mu / (D + 1).

  Args:
    write: a writing rule, e.g. `hebb`.
    patterns: [..., N, D] array of -1/+1 entries.

  Returns:
    weights: [..., D, D], the rule's weights among the D pattern units.
    bias: [..., D], the rule's weights from the always-on unit.
  """
  x = _check_pm1(patterns, "patterns")
  dim = x.shape[-1]
  weights = write(np.concatenate([x, np.ones(x.shape[:-1] + (1,))], axis=-1))
  return weights[..., :dim, :dim], weights[..., :dim, dim]


class Retrieval(NamedTuple):
  states: np.ndarray     # [..., Q, D] float64 -1/+1, final network states.
  sweeps: np.ndarray     # [..., Q] int, sweeps run (the last changed nothing
                         # when converged).
  converged: np.ndarray  # [..., Q] bool, True when a full sweep changed no bit.


def retrieve(weights, queries, known, rng: np.random.Generator,
             bias=None, max_sweeps: int = DEFAULT_MAX_SWEEPS) -> Retrieval:
  """Asynchronous, clamped sign dynamics from each query to a fixed point.

  Each sweep visits every unknown bit of a query once, in a fresh random order
  (its own per query and per sweep), setting s_i = sign(sum_j W_ij s_j + b_i)
  and leaving s_i unchanged when the field is exactly 0. Known bits are never
  visited, so they keep their query values (by the protocol, the true ones).
  A query stops after the first sweep that changes none of its bits, or after
  `max_sweeps`. Local fields are computed once and then updated incrementally
  (one column of W per flip); with Hebb weights (multiples of 1/D) this is
  exact, with the others the float64 rounding is far below the fields met.

  Args:
    weights: [..., D, D] weights, one memory per leading index.
    queries: [..., Q, D] -1/+1 initial states, Q queries per memory.
    known: [..., Q, D] bool, True where the bit is known and clamped.
    rng: NumPy generator for the update orders.
    bias: optional [..., D] bias (frequency) vector; zeros when None.
    max_sweeps: maximum number of sweeps, >= 1.

  Returns:
    `Retrieval` with the final states, the sweeps run and convergence flags.
  """
  queries = _check_pm1(queries, "queries")
  known = np.asarray(known)
  if known.shape != queries.shape:
    raise ValueError(f"known mask shape {known.shape} does not match queries "
                     f"shape {queries.shape}.")
  if known.dtype != np.bool_:
    raise ValueError(f"known mask must be boolean, got dtype {known.dtype}.")
  lead, (num_queries, dim) = queries.shape[:-2], queries.shape[-2:]
  weights = np.asarray(weights, dtype=np.float64)
  if weights.shape != lead + (dim, dim):
    raise ValueError(f"weights shape {weights.shape} does not match queries "
                     f"shape {queries.shape}: expected {lead + (dim, dim)}.")
  bias = (np.zeros(lead + (dim,)) if bias is None
          else np.asarray(bias, dtype=np.float64))
  if bias.shape != lead + (dim,):
    raise ValueError(f"bias shape {bias.shape} does not match queries shape "
                     f"{queries.shape}: expected {lead + (dim,)}.")
  if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(bias))):
    raise ValueError("weights and bias must be finite.")
  if max_sweeps < 1:
    raise ValueError(f"max_sweeps must be >= 1, got {max_sweeps}.")

  num_memories = int(np.prod(lead, dtype=np.int64))
  w = weights.reshape(num_memories, dim, dim)
  b = bias.reshape(num_memories, dim)
  # columns[m, i] = W[m, :, i], contiguous: the field change of a flip of s_i.
  columns = np.ascontiguousarray(np.swapaxes(w, -1, -2))
  states = queries.reshape(num_memories, num_queries, dim).copy()
  flat_states = states.reshape(-1, dim)  # A view: updates land in `states`.
  flat_known = known.reshape(-1, dim)
  owner = np.repeat(np.arange(num_memories), num_queries)  # Query -> memory.
  sweeps = np.zeros(flat_states.shape[0], dtype=np.int64)
  # A query with nothing to update is trivially at its fixed point.
  converged = flat_known.all(axis=-1)
  active = np.flatnonzero(~converged)
  # Local fields h = W s + b of every query, [Q_total, D], computed once and
  # then updated by one column of W per flip. einsum, not a stacked matmul:
  # multithreaded BLAS on many tiny products was ~30x slower on a busy CPU.
  all_fields = (np.einsum("mij,mqj->mqi", w, states).reshape(-1, dim)
                + b[owner])

  for _ in range(max_sweeps):
    if active.size == 0:
      break
    fields = all_fields[active]
    state = flat_states[active]
    clamped = flat_known[active]
    mem = owner[active]
    rows = np.arange(active.size)
    # A uniformly random order of the unknown bits: known bits get keys above
    # every uniform in [0, 1), so they sort last and are skipped.
    keys = rng.random(state.shape)
    keys[clamped] = 2.0
    num_unknown = (~clamped).sum(-1)
    order = np.argsort(keys, axis=-1)[:, :int(num_unknown.max())]
    # Queries with fewer unknown bits reach known bits at the tail of `order`;
    # on the protocol every query has D // 2, so the check is skipped.
    ragged = num_unknown.min() != num_unknown.max()
    changed = np.zeros(active.size, dtype=bool)
    for step in range(order.shape[1]):
      bit = order[:, step]
      field = fields[rows, bit]
      current = state[rows, bit]
      # s_i <- sign(h_i), kept when h_i = 0: a bit flips iff h_i s_i < 0.
      opposed = field * current < 0
      if ragged:
        opposed &= ~clamped[rows, bit]
      flip = np.flatnonzero(opposed)
      if flip.size:
        flipped_bit, old = bit[flip], current[flip]
        state[flip, flipped_bit] = -old
        # s_i: old -> -old changes every field h_k by -2 old W_ki.
        fields[flip] -= (2.0 * old)[:, None] * columns[mem[flip], flipped_bit]
        changed[flip] = True
    flat_states[active] = state
    all_fields[active] = fields
    sweeps[active] += 1
    converged[active[~changed]] = True
    active = active[changed]

  shape = lead + (num_queries,)
  return Retrieval(states.reshape(queries.shape), sweeps.reshape(shape),
                   converged.reshape(shape))


def sample_batch(rng: np.random.Generator, num_memories: int,
                 num_patterns: int, dim: int = PATTERN_DIM
                 ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """The binary-strings protocol in NumPy (as ebmm_jax.data.binary_strings).

  Returns:
    patterns: [M, N, D] float64, i.i.d. equiprobable -1/+1 entries.
    queries: [M, N, D] float64, each pattern with exactly D // 2 positions,
      a uniformly random subset chosen afresh per query, replaced by fresh
      equiprobable -1/+1 values.
    known: [M, N, D] bool, True at the D - D // 2 untouched positions.
  """
  shape = (num_memories, num_patterns, dim)
  patterns = 2.0 * rng.integers(0, 2, size=shape) - 1.0
  # The first D // 2 entries of a uniformly random permutation per query.
  corrupted = np.argsort(rng.random(shape), axis=-1)[..., :dim // 2]
  known = np.ones(shape, dtype=bool)
  np.put_along_axis(known, corrupted, False, axis=-1)
  noise = 2.0 * rng.integers(0, 2, size=shape) - 1.0
  queries = np.where(known, patterns, noise)
  return patterns, queries, known


def error_bits(retrieved: np.ndarray, patterns: np.ndarray) -> np.ndarray:
  """Table 1's score: wrong bits of sign(retrieved) per pattern, [...]."""
  # sign(0) counts as wrong, as in ebmm_jax.data.binary_strings.error_bits.
  return np.sum(np.sign(retrieved) != patterns, axis=-1)


def evaluate(rule: str, num_patterns: int, num_batches: int, seed: int,
             dim: int = PATTERN_DIM, max_sweeps: int = DEFAULT_MAX_SWEEPS,
             bias_unit: bool = False) -> np.ndarray:
  """Error bits of every query over `num_batches` fresh batches (Table 1).

  Each batch: N fresh random patterns are written by `rule`, every one of them
  is corrupted by the protocol and retrieved with `retrieve`, and its wrong
  bits over all D positions are counted.

  Args:
    rule: one of `RULES` ("hebb", "storkey", "pseudo_inverse") for Table 1,
      or of `VARIANT_RULES`.
    num_patterns: N, patterns per batch (memory), >= 1.
    num_batches: number of batches, >= 1.
    seed: seed of the NumPy generator (patterns, corruption, update orders).
    dim: pattern dimension D (128 in the paper), >= 2.
    max_sweeps: bound on retrieval sweeps.
    bias_unit: also write a bias vector, `write_with_bias_unit` (a variant;
      Table 1 is measured without).

  Returns:
    int [num_batches, num_patterns] error bits per query.
  """
  return _evaluate(rule, num_patterns, num_batches, seed, dim, max_sweeps,
                   bias_unit)[0]


def _evaluate(rule: str, num_patterns: int, num_batches: int, seed: int,
              dim: int = PATTERN_DIM, max_sweeps: int = DEFAULT_MAX_SWEEPS,
              bias_unit: bool = False
              ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """`evaluate`, also returning the `Retrieval` sweeps and converged flags."""
  write = get_rule(rule)
  for name, value, low in (("num_patterns", num_patterns, 1),
                           ("num_batches", num_batches, 1), ("dim", dim, 2)):
    if int(value) != value or value < low:
      raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
  rng = np.random.default_rng(seed)
  errors, sweeps, converged = [], [], []
  for start in range(0, num_batches, _BATCHES_PER_CHUNK):
    num_memories = min(_BATCHES_PER_CHUNK, num_batches - start)
    patterns, queries, known = sample_batch(rng, num_memories, num_patterns,
                                            dim)
    if bias_unit:
      weights, bias = write_with_bias_unit(write, patterns)
    else:
      weights, bias = write(patterns), None
    result = retrieve(weights, queries, known, rng, bias=bias,
                      max_sweeps=max_sweeps)
    errors.append(error_bits(result.states, patterns))
    sweeps.append(result.sweeps)
    converged.append(result.converged)
  return tuple(np.concatenate(v, axis=0) for v in (errors, sweeps, converged))
