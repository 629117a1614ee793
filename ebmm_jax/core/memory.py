"""EBMM writing and reading as pure functions: Eq. (1), (3), (4) and Appendix B.

An energy model (`ebmm_jax.core.energy.Energy`: Haiku, Flax NNX or Equinox)
is a pure function `E(x; θ)` mapping a batch of patterns `x: [N, ...]` to
energies `[N]`, with no interaction between examples, so that
`∇_x sum_i E(x_i)` holds every per-pattern input gradient. Its parameters split
into the writable `memory` θ (Appendix C: modules named `memory`) and the
static rest, two nested dicts that `energy.merge` joins. Writing (Eq. 4) runs
T gradient steps on the writing loss (Eq. 3) from the meta-learned θ̄; reading (Eq. 1, Appendix B) runs K projected Nesterov
steps on the energy from the query. Both are `lax.scan`s, so meta-gradients
(Eq. 5) flow through them with `jax.grad`.

A stream write (`stream_write`, not in the paper) stores patterns that arrive
in chunks: Eq. (4) per chunk, each started from the memory the previous
chunks left after a meta-learned forgetting towards θ̄ (`forget`).
"""
from typing import Any, Callable, NamedTuple, Optional, Tuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from ebmm_jax.core import energy as energy_lib

# (params, x: [N, ...]) -> energies [N].
EnergyApply = Callable[[hk.Params, jax.Array], jax.Array]
Box = Tuple[float, float]

# The writing loss's three terms, in the order of Eq. (3): the per-term
# learning rates (Appendix D) index this axis.
WRITING_TERMS = ("energy", "grad_penalty", "prior_penalty")


# How raw meta-parameters become positive rates (writing rates, alpha, beta,
# the first read step size): the paper's softplus (Appendix D), or exp of a
# log-rate, which Adam moves multiplicatively (a 10x change in ~ln(10)/lr steps).
RATE_PARAMETRISATIONS = ("softplus", "log")
# Where reading starts for the unknown entries: the distorted query (the
# paper), or the box's centre (0 for ±1 strings), off the box's edge.
READ_STARTS = ("query", "center")
# The derivative of the read's box projection (Appendix B.1): the clip's own
# (zero outside the box), or the identity (straight-through estimator).
PROJECTION_GRADIENTS = ("clip", "straight_through")
# How the writing rates depend on the number n of patterns written (the
# paper writes one N; a memory trained across N needs a choice): "mean" keeps
# Eq. (3)'s mean over patterns (the paper), "sum" scales the data terms by
# n / n_ref (a sum over patterns, equal to the mean at n_ref), "learned"
# multiplies each term's rates by (n / n_ref)^p with p meta-learned per term
# (`WriteParams.n_exponent`, started at 0: the mean).
N_SCALINGS = ("mean", "sum", "learned")


# How the meta-gradient flows between the chunks of a stream (`Rule.stream_gradient`).
STREAM_GRADIENTS = ("full", "truncated")
# Where the prior term of Eq. (3) pulls a write that starts from a written
# memory (`Rule.write_prior`): "init", θ̄ (the paper's prior, whatever the
# start); "start", the memory the write starts from (after a stream's
# forgetting), so that writing a new chunk is held near what is stored.
WRITE_PRIORS = ("init", "start")
# How a stream's chunk enters a written memory (`Rule.stream_composition`):
# "chained", Eq. (4) started from the (forgotten) memory; "superposed", the
# chunk written from θ̄ on its own and its displacement added to the
# forgotten memory (no chain of writes for the meta-gradient to go through).
STREAM_COMPOSITIONS = ("chained", "superposed")


class Rule(NamedTuple):
  """Choices of the write and read rules that change their result.

  The defaults are the paper's. `first_order` treats the writing gradients
  ∇_θ W(X, θ(t)) as constants in the meta-gradient (first-order MAML,
  Finn et al. 2017; annealed by MAML++): no second-order term flows through
  the write, which makes a meta-step cheaper.
  """
  rates: str = "softplus"
  read_start: str = "query"
  projection_gradient: str = "clip"
  first_order: bool = False
  write_steps: int = 0  # T when the writing rates are shared over steps; 0: their shape's.
  n_scaling: str = "mean"  # N_SCALINGS: how the writing rates depend on n.
  reference_n: int = 0  # n_ref of "sum" and "learned" (the largest N trained); 0: 1.
  # STREAM_GRADIENTS: "full" differentiates through every chunk's write;
  # "truncated" holds the memory a chunk starts from constant (the
  # meta-gradient of chunk c's write reaches θ̄ and λ through its forgetting,
  # not through the chunks before it), like truncated backpropagation
  # through time.
  stream_gradient: str = "full"
  # WRITE_PRIORS: the centre of Eq. (3)'s prior term when a write starts
  # from a written memory (`write(memory=)`: append, a stream's chunks).
  write_prior: str = "init"
  # STREAM_COMPOSITIONS: how a chunk is written into a written memory.
  stream_composition: str = "chained"

  def check(self) -> "Rule":
    for name, value, known in (("rates", self.rates, RATE_PARAMETRISATIONS),
                               ("read_start", self.read_start, READ_STARTS),
                               ("projection_gradient", self.projection_gradient,
                                PROJECTION_GRADIENTS),
                               ("n_scaling", self.n_scaling, N_SCALINGS),
                               ("stream_gradient", self.stream_gradient,
                                STREAM_GRADIENTS),
                               ("write_prior", self.write_prior, WRITE_PRIORS),
                               ("stream_composition", self.stream_composition,
                                STREAM_COMPOSITIONS)):
      if value not in known:
        raise ValueError(f"Rule.{name}={value!r} is not one of {known}.")
    return self


def positive(raw: jax.Array, rates: str = "softplus") -> jax.Array:
  """A positive rate from its raw parameter (`Rule.rates`)."""
  if rates == "softplus":
    return jax.nn.softplus(raw)
  if rates == "log":
    return jnp.exp(raw)
  raise ValueError(f"rates={rates!r} is not one of {RATE_PARAMETRISATIONS}.")


def inverse_positive(y, rates: str = "softplus") -> np.ndarray:
  """The raw parameter whose `positive(raw, rates)` is y (> 0)."""
  if rates == "softplus":
    return inverse_softplus(y)
  y = np.asarray(y, np.float64)
  if np.any(y <= 0):
    raise ValueError(f"a rate must be positive, got {y}.")
  if rates == "log":
    return np.log(y)
  raise ValueError(f"rates={rates!r} is not one of {RATE_PARAMETRISATIONS}.")


class Loops(NamedTuple):
  """How the write and read scans are compiled; never changes their result."""
  remat: bool = False  # Recompute each step in the backward pass: memory for time.
  unroll: bool = False  # Unroll the scans (e.g. for XLA's FLOP count).


class WriteParams(NamedTuple):
  """Meta-learned parameters of the writing rule, Eq. (4)."""
  init_memory: hk.Params  # θ̄: the writable weights before writing.
  # raw η (`Rule.rates` maps them to rates): like init_memory with leaves
  # [T, 3] (per step, tensor and term: the paper) or [1, 3] (shared over
  # steps); or one array [T, 3] / [1, 3] shared by every tensor.
  learning_rates: Any
  penalties: jax.Array  # raw [2] -> (alpha=grad_penalty, beta=prior_penalty).
  # raw [3] exponents p of (n / n_ref)^p per writing term (Rule.n_scaling
  # "learned"); None otherwise (no leaf: older checkpoints load unchanged).
  n_exponent: Optional[jax.Array] = None
  # raw logits of the forgetting λ = sigmoid(raw) of a stream write
  # (`stream_write`): like init_memory with scalar leaves [], one per
  # writable tensor; None when memories are written in one go (no leaf:
  # older checkpoints load unchanged).
  forgetting: Optional[Any] = None


class ReadParams(NamedTuple):
  """Meta-learned step sizes of the reading rule, Appendix B.2-B.3."""
  step_sizes: jax.Array  # raw [K]: softplus(raw[0]) = γ(1); raw[1:] logits of decay.
  momentum: jax.Array  # raw [K]: sigmoid(raw[0]) = ψ(1); raw[1:] logits of decay.


def inverse_softplus(y) -> np.ndarray:
  y = np.asarray(y, np.float64)
  if np.any(y <= 0):
    raise ValueError(f"softplus only reaches positive values, got {y}.")
  return np.log(np.expm1(y))


def logit(p) -> np.ndarray:
  p = np.asarray(p, np.float64)
  if np.any((p <= 0) | (p >= 1)):
    raise ValueError(f"a probability in (0, 1) is needed, got {p}.")
  return np.log(p) - np.log1p(-p)


def _non_increasing(first: jax.Array, decay_logits: jax.Array) -> jax.Array:
  # Appendix B.3: γ(k) = γ(k-1) σ(η(k)), k > 1.
  return first * jnp.concatenate(
      [jnp.ones((1,), first.dtype), jnp.cumprod(jax.nn.sigmoid(decay_logits))])


def step_size_schedule(raw: jax.Array, rates: str = "softplus") -> jax.Array:
  """Non-increasing read step sizes γ(1..K) from their raw parameters [K]."""
  return _non_increasing(positive(raw[0], rates), raw[1:])


def momentum_schedule(raw: jax.Array) -> jax.Array:
  """Non-increasing Nesterov momentum rates ψ(1..K) in (0, 1), parametrised like
  the step sizes (Appendix B.3); ψ(1) = sigmoid(raw[0]) keeps every rate < 1."""
  return _non_increasing(jax.nn.sigmoid(raw[0]), raw[1:])


def penalty_weights(raw: jax.Array, rates: str = "softplus"
                    ) -> Tuple[jax.Array, jax.Array]:
  """(alpha, beta) of Eq. (3), both positive."""
  return positive(raw[0], rates), positive(raw[1], rates)


def writing_rates(write_params: WriteParams, write_steps: int,
                  rates: str = "softplus") -> hk.Params:
  """The writing rates η, a tree like θ̄ with leaves [T, 3] (Appendix D),
  from the raw parameters, shared ones broadcast over steps or tensors."""
  raw = write_params.learning_rates
  if hasattr(raw, "shape"):  # One array shared by every tensor.
    raw = jax.tree_util.tree_map(lambda _: raw, write_params.init_memory)
  return jax.tree_util.tree_map(
      lambda r: jnp.broadcast_to(positive(r, rates), (write_steps, r.shape[-1])), raw)


def _is_concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


def check_patterns(name: str, x, box: Optional[Box] = None) -> None:
  """Raises ValueError naming `name` unless x is a non-empty float batch [N, ...]
  (inside `box`, and finite, when its values are known outside a trace)."""
  shape = np.shape(x)
  if len(shape) < 2:
    raise ValueError(f"{name} must be a batch [N, ...] of patterns, got shape {shape}.")
  if shape[0] == 0:
    raise ValueError(f"{name} is an empty batch (shape {shape}): write or read "
                     "at least one pattern.")
  dtype = jnp.result_type(x)
  if not jnp.issubdtype(dtype, jnp.floating):
    raise ValueError(f"{name} must be floating point, got dtype {dtype}.")
  if _is_concrete(x):
    values = np.asarray(x)
    if not np.all(np.isfinite(values)):
      raise ValueError(f"{name} holds non-finite values.")
    if box is not None and (values.min() < box[0] or values.max() > box[1]):
      raise ValueError(f"{name} has values in [{values.min()}, {values.max()}], "
                       f"outside the data's box [{box[0]}, {box[1]}].")


def _check_energies(energies: jax.Array, num: int) -> None:
  if energies.shape != (num,):
    raise ValueError(f"The energy model must return one scalar per pattern, shape "
                     f"({num},); it returned {energies.shape}.")


def input_gradients(energy_apply: EnergyApply, params: hk.Params,
                    x: jax.Array) -> Tuple[jax.Array, jax.Array]:
  """Energies [N] and their per-pattern input gradients ∇_x E(x_i) [N, ...]."""
  energies, vjp = jax.vjp(lambda x_: energy_apply(params, x_), x)
  _check_energies(energies, x.shape[0])
  (grad_x,) = vjp(jnp.ones_like(energies))
  return energies, grad_x


def pattern_weights(mask: Optional[jax.Array], energies: jax.Array):
  """(w [N], n): each pattern's weight in a mean over the real patterns, 1/n for
  the n entries where `mask` is True and 0 for padding; without a mask 1/N
  (w has the energies' type, so it can be their cotangent)."""
  num = energies.shape[0]
  if mask is None:
    return jnp.full_like(energies, 1.0 / num), num
  if np.shape(mask) != (num,):
    raise ValueError(f"mask has shape {np.shape(mask)}, expected ({num},): one "
                     "entry per pattern.")
  m = jnp.asarray(mask, energies.dtype)
  n = jnp.maximum(jnp.sum(m), 1.0)
  return m / n, n


def _weighted_mean(values: jax.Array, w: jax.Array, mask) -> jax.Array:
  return jnp.mean(values) if mask is None else jnp.sum(w * values)


def _sq_norm(tree) -> jax.Array:
  return sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree_util.tree_leaves(tree))


class WritingLoss(NamedTuple):
  """The three terms of Eq. (3), each averaged over the batch's real patterns."""
  energy: jax.Array  # mean_i E(x_i; θ)
  grad_penalty: jax.Array  # mean_i ||∇_x E(x_i; θ)||²
  prior_penalty: jax.Array  # ||θ - θ̄||²

  def total(self, alpha, beta) -> jax.Array:
    """W(X, θ) of Eq. (3) averaged over the batch."""
    return self.energy + alpha * self.grad_penalty + beta * self.prior_penalty


def writing_loss(energy_apply: EnergyApply, static: hk.Params, memory: hk.Params,
                 init_memory: hk.Params, patterns: jax.Array,
                 mask: Optional[jax.Array] = None) -> WritingLoss:
  """Eq. (3)'s terms for the batch `patterns` [N, ...] under θ = `memory`,
  averaged over the patterns where `mask` [N] is True (all without one)."""
  params = energy_lib.merge(static, memory)
  energies, grad_x = input_gradients(energy_apply, params, patterns)
  w, _ = pattern_weights(mask, energies)
  if mask is None:
    grad_penalty = jnp.sum(jnp.square(grad_x)) / patterns.shape[0]
  else:
    grad_penalty = jnp.sum(w * jnp.sum(jnp.square(grad_x).reshape(w.shape[0], -1), axis=1))
  return WritingLoss(
      energy=_weighted_mean(energies, w, mask),
      grad_penalty=grad_penalty,
      prior_penalty=_sq_norm(jax.tree_util.tree_map(jnp.subtract, memory, init_memory)))


def writing_gradients(energy_apply: EnergyApply, static: hk.Params,
                      memory: hk.Params, init_memory: hk.Params,
                      patterns: jax.Array, mask: Optional[jax.Array] = None):
  """The gradient of each term of Eq. (3) w.r.t. θ, separately.

  One forward pass, one backward pass that yields both ∇_θ mean E and ∇_x E
  (the latter feeds the gradient penalty), and one double-backward pass for
  ∇_θ mean ||∇_x E||²; the prior term's gradient is analytic, 2 (θ - θ̄).
  With `mask` [N] (a batch padded to a fixed size), the means run over the
  patterns where it is True; padding contributes nothing.

  Returns:
    (grads, loss): grads is a tuple of three trees like `memory`, in the order
    of WRITING_TERMS; loss the WritingLoss at θ = `memory`.
  """
  num = patterns.shape[0]

  def grad_penalty(memory_):
    energies, vjp = jax.vjp(lambda m, x: energy_apply(
        energy_lib.merge(static, m), x), memory_, patterns)
    _check_energies(energies, num)
    w, n = pattern_weights(mask, energies)
    grad_energy, grad_x = vjp(w)
    # grad_x holds w_i ∇_x E_i = ∇_x E_i / n for real patterns (0 for
    # padding); rescale to mean_i ||∇_x E_i||².
    penalty = jnp.sum(jnp.square(grad_x)) * n
    return penalty, (grad_energy, _weighted_mean(energies, w, mask))

  (penalty, (grad_energy, mean_energy)), grad_grad_penalty = jax.value_and_grad(
      grad_penalty, has_aux=True)(memory)
  delta = jax.tree_util.tree_map(jnp.subtract, memory, init_memory)
  grad_prior = jax.tree_util.tree_map(lambda d: 2.0 * d, delta)
  loss = WritingLoss(mean_energy, penalty, _sq_norm(delta))
  return (grad_energy, grad_grad_penalty, grad_prior), loss


def n_scale(write_params: WriteParams, n: jax.Array, rule: Rule = Rule()) -> jax.Array:
  """[3] factors of the writing rates, per term of Eq. (3), for n patterns
  (`Rule.n_scaling`): 1 for the mean (the paper), (n / n_ref) on the data
  terms for a sum, (n / n_ref)^p with learned p."""
  ratio = jnp.asarray(n, jnp.float32) / max(rule.reference_n, 1)
  if rule.n_scaling == "mean":
    return jnp.ones((len(WRITING_TERMS),), jnp.float32)
  if rule.n_scaling == "sum":  # The prior term does not depend on the patterns.
    return jnp.stack([ratio, ratio, jnp.ones_like(ratio)])
  if write_params.n_exponent is None:
    raise ValueError("Rule.n_scaling='learned' needs WriteParams.n_exponent "
                     "(init_meta_params with Init.n_scaling='learned').")
  return jnp.exp(write_params.n_exponent * jnp.log(ratio))


def write(energy_apply: EnergyApply, static: hk.Params, write_params: WriteParams,
          patterns: jax.Array, loops: Loops = Loops(),
          rule: Rule = Rule(), mask: Optional[jax.Array] = None,
          memory: Optional[hk.Params] = None) -> Tuple[hk.Params, WritingLoss]:
  """Stores `patterns` [N, ...] in the writable weights: Eq. (4).

    θ(0) = θ̄,  θ(t+1) = θ(t) - Σ_j η_j(t) ∇_θ W_j(X, θ(t))

  with one learned rate per step t, per writable parameter tensor and per term j
  of Eq. (3) (Appendix D), the penalty terms weighted by alpha and beta.
  T is the rates' first axis, or `rule.write_steps` when they are shared over
  steps (first axis 1).

  Args:
    mask: optional bool [N], True for the real patterns of a batch padded to a
      fixed size (one compiled write serves every n <= N); Eq. (3)'s means run
      over the real patterns only, and n (for `Rule.n_scaling`) is their count.
    memory: optional written memory to start from instead of θ̄ (writing into
      a written memory); the prior term of Eq. (3) pulls towards θ̄, or
      towards `memory` itself with `rule.write_prior="start"`.

  Returns:
    The written memory θ(T) (like `write_params.init_memory`) and the writing
    loss's terms at θ(0), ..., θ(T-1), each [T].
  """
  check_patterns("patterns", patterns)
  rule.check()
  alpha, beta = penalty_weights(write_params.penalties, rule.rates)
  init_memory = write_params.init_memory
  if memory is not None and (jax.tree_util.tree_structure(memory) !=
                             jax.tree_util.tree_structure(init_memory)):
    raise ValueError("memory must be a written memory of this model (the tree of "
                     "its writable weights).")
  # The prior's centre (Eq. 3): θ̄, or the written memory the write starts from.
  prior_center = memory if memory is not None and rule.write_prior == "start" else init_memory
  steps = jax.tree_util.tree_leaves(write_params.learning_rates)[0].shape[0]
  write_steps = rule.write_steps or steps
  if steps not in (1, write_steps):
    raise ValueError(f"The writing rates have {steps} steps; Rule.write_steps="
                     f"{write_steps} needs {write_steps} or 1 (shared over steps).")
  rates = writing_rates(write_params, write_steps, rule.rates)
  if rule.n_scaling != "mean":
    # At least 1: a stream's chunk may hold padding only (`stream_write`
    # discards its write), and (n / n_ref)^p must stay finite there.
    n = patterns.shape[0] if mask is None else jnp.maximum(
        jnp.sum(jnp.asarray(mask, jnp.float32)), 1.0)
    scale = n_scale(write_params, n, rule)
    rates = jax.tree_util.tree_map(lambda r: r * scale, rates)

  def step(memory, rates_t):  # rates_t: leaves [3], this step's rates.
    grads, loss = writing_gradients(energy_apply, static, memory, prior_center, patterns,
                                    mask)
    if rule.first_order:  # First-order meta-gradient: ∇_θ W held constant.
      grads = jax.lax.stop_gradient(grads)
    g_energy, g_penalty, g_prior = grads
    memory = jax.tree_util.tree_map(
        lambda m, r, ge, gp, gq: m - r[0] * ge - r[1] * alpha * gp - r[2] * beta * gq,
        memory, rates_t, g_energy, g_penalty, g_prior)
    return memory, loss

  if loops.remat:
    step = jax.checkpoint(step)
  start = init_memory if memory is None else memory
  memory, losses = jax.lax.scan(step, start, rates, unroll=loops.unroll)
  return memory, losses


def forgetting_factors(write_params: WriteParams) -> hk.Params:
  """λ = sigmoid(raw) in (0, 1), one per writable tensor: a tree like θ̄
  with scalar leaves (`WriteParams.forgetting`)."""
  if write_params.forgetting is None:
    raise ValueError("A stream write needs WriteParams.forgetting: build the "
                     "meta-parameters with Init.stream_chunks of two or more chunks.")
  return jax.tree_util.tree_map(jax.nn.sigmoid, write_params.forgetting)


def forget(write_params: WriteParams, memory: hk.Params) -> hk.Params:
  """The meta-learned forgetting before a stream's next chunk:

    θ ← θ̄ + λ ⊙ (θ − θ̄),   λ = sigmoid(raw), one scalar per writable tensor.

  Why this form. What writing stores is the displacement θ − θ̄ from the
  meta-learned initial memory (Eq. 4 starts at θ̄, and Eq. (3)'s prior term
  measures the same displacement), so forgetting shrinks that displacement
  and nothing else: λ = 1 keeps the memory (writing into it, as
  `write(memory=)` does), λ = 0 resets it to θ̄, the memory that has stored
  nothing and that θ̄'s training made a good starting point; in between, a
  chunk written c chunks ago keeps about λ^c of its trace, an exponential
  forgetting whose rate is learned. One scalar per tensor keeps it a rate
  (it gets the rates' learning rate) and lets layers keep different amounts.

  Considered and not taken: decay towards 0 (θ ← λθ), which also erases θ̄,
  the part of the weights that is not memory; a λ per chunk index, which
  would not carry over to streams longer than the trained one; a λ per
  weight (as many parameters as the memory, a gate the writing rates
  already can be); forgetting through a per-chunk prior penalty β (Eq. 3),
  which acts only through the T writing steps and is coupled to the rates.
  Without any λ (λ = 1) the prior term of Eq. (3) still pulls every chunk's
  write towards θ̄: the forgetting learned here is on top of that.
  """
  lam = forgetting_factors(write_params)
  return jax.tree_util.tree_map(lambda m, m0, l: m0 + l * (m - m0),
                                memory, write_params.init_memory, lam)


def write_into(energy_apply: EnergyApply, static: hk.Params, write_params: WriteParams,
               memory: hk.Params, patterns: jax.Array, loops: Loops = Loops(),
               rule: Rule = Rule(), mask: Optional[jax.Array] = None
               ) -> Tuple[hk.Params, WritingLoss]:
  """Adds `patterns` to a written `memory`: a stream's next chunk.

  The memory is first forgotten (`forget`, where the model has a learned λ;
  else kept as is), then, by `rule.stream_composition`:

    "chained":     θ ← write(X) started from forget(θ)              (Eq. 4)
    "superposed":  θ ← forget(θ) + (write(X) from θ̄ − θ̄)

  Superposed, each chunk is written on its own, as one write of the paper,
  and what it adds to θ̄ is summed into the memory, like the Hebb rule's
  outer products; chained, the chunk's write starts where the memory is. A
  stream of superposed chunks has no chain of writes for the meta-gradient
  to go through: the memory after C chunks depends on an earlier one only
  through λ.

  Returns the memory and the chunk's writing-loss terms, each [T].
  """
  if write_params.forgetting is not None:
    memory = forget(write_params, memory)
  if rule.stream_composition == "superposed":
    fresh, losses = write(energy_apply, static, write_params, patterns, loops, rule,
                          mask=mask)
    return jax.tree_util.tree_map(lambda m, f, m0: m + (f - m0), memory, fresh,
                                  write_params.init_memory), losses
  return write(energy_apply, static, write_params, patterns, loops, rule, mask=mask,
               memory=memory)


def check_chunks(chunks, num: int) -> Tuple[int, ...]:
  """The chunk sizes as a tuple of ints; raises ValueError unless they are
  positive and sum to the batch's `num` patterns."""
  chunks = tuple(int(c) for c in chunks)
  if not chunks or min(chunks) < 1:
    raise ValueError(f"A stream needs one or more positive chunk sizes, got {chunks}.")
  if sum(chunks) != num:
    raise ValueError(f"The chunks {chunks} hold {sum(chunks)} patterns; the batch has "
                     f"{num}.")
  return chunks


def chunk_rows(chunks: Tuple[int, ...]) -> Tuple[np.ndarray, np.ndarray]:
  """(rows [C, S], valid [C, S]): chunk c's rows of the batch, S = the
  largest chunk; a smaller chunk repeats its last row, marked not valid."""
  size = max(chunks)
  starts = np.cumsum((0,) + chunks[:-1])
  sizes = np.asarray(chunks)[:, None]
  offsets = np.arange(size)[None]
  return starts[:, None] + np.minimum(offsets, sizes - 1), offsets < sizes


def stream_write(energy_apply: EnergyApply, static: hk.Params,
                 write_params: WriteParams, patterns: jax.Array, chunks,
                 loops: Loops = Loops(), rule: Rule = Rule(),
                 mask: Optional[jax.Array] = None) -> Tuple[hk.Params, WritingLoss]:
  """Stores `patterns` [N, ...] arriving as a stream of chunks, in order.

    θ = θ̄;  for each chunk X_c:  θ ← write(X_c) from forget(θ)   (Eq. 4)

  where forget(θ) = θ̄ + λ ⊙ (θ − θ̄) (`forget`; before the first chunk
  θ = θ̄, so it changes nothing; `write_into`, which with
  `rule.stream_composition="superposed"` adds the chunk's own write to the
  forgotten memory instead) and each chunk gets the usual T writing
  steps, the prior term of Eq. (3) pulling towards θ̄ (or, with
  `rule.write_prior="start"`, towards the forgotten memory the chunk starts
  from). Equal chunks are a
  `lax.scan` over [C, S, ...] (one compiled chunk write); unequal ones are
  padded to the largest with a chunk mask.

  Args:
    chunks: C chunk sizes summing to N; chunk c is the next chunks[c] rows.
      One chunk is `write` itself (the same result, bit for bit).
    mask: optional bool [N], the real patterns of a padded batch (training
      across N): chunk c writes its real rows only, and a chunk with none
      (the memory's n patterns ended earlier) changes nothing, neither
      forgetting nor writing, so the memory is the one its real chunks wrote.

  Returns:
    The written memory after the last chunk and the writing loss's terms
    per chunk and step, each [C, T].
  """
  check_patterns("patterns", patterns)
  chunks = check_chunks(chunks, patterns.shape[0])
  if len(chunks) == 1:
    memory, losses = write(energy_apply, static, write_params, patterns, loops, rule,
                           mask=mask)
    return memory, jax.tree_util.tree_map(lambda l: l[None], losses)
  forgetting_factors(write_params)  # Raises without a forgetting parameter.
  size = max(chunks)
  rows, valid = chunk_rows(chunks)
  if all(c == size for c in chunks):
    xs = patterns.reshape((len(chunks), size) + patterns.shape[1:])  # [C, S, ...]
  else:
    xs = patterns[rows]
  masks = None
  if mask is not None or not valid.all():
    masks = jnp.asarray(valid)
    if mask is not None:
      if np.shape(mask) != (patterns.shape[0],):
        raise ValueError(f"mask has shape {np.shape(mask)}, expected "
                         f"({patterns.shape[0]},): one entry per pattern.")
      masks = jnp.logical_and(masks, jnp.asarray(mask)[rows])  # [C, S]

  def chunk_write(memory, inputs):
    x, m = inputs if masks is not None else (inputs, None)
    if rule.stream_gradient == "truncated":
      memory = jax.lax.stop_gradient(memory)
    written, losses = write_into(energy_apply, static, write_params, memory, x, loops,
                                 rule, mask=m)
    if m is not None:  # Padding only: nothing arrived, nothing is forgotten.
      arrived = jnp.any(m)
      written = jax.tree_util.tree_map(lambda a, b: jnp.where(arrived, a, b),
                                       written, memory)
    return written, losses

  inputs = xs if masks is None else (xs, masks)
  return jax.lax.scan(chunk_write, write_params.init_memory, inputs)


def project(x: jax.Array, box: Box, gradient: str = "clip") -> jax.Array:
  """Appendix B.1: clip to the data's box. With gradient="straight_through"
  the forward value is the same and the derivative is the identity."""
  clipped = jnp.clip(x, box[0], box[1])
  if gradient == "straight_through":
    return x + jax.lax.stop_gradient(clipped - x)
  return clipped


def read_start(queries: jax.Array, known: Optional[jax.Array], box: Box,
               start: str = "query") -> jax.Array:
  """x(0): the query, or (start="center") the query with its unknown entries
  at the box's centre. Without a mask (the reader is not told which entries
  are distorted) the query is kept."""
  if start == "query" or known is None:
    return queries
  return jnp.where(known, queries, jnp.asarray(0.5 * (box[0] + box[1]), queries.dtype))


def read(energy_apply: EnergyApply, params: hk.Params, read_params: ReadParams,
         queries: jax.Array, known: Optional[jax.Array] = None,
         box: Box = (0.0, 1.0), loops: Loops = Loops(),
         rule: Rule = Rule()) -> jax.Array:
  """Retrieves patterns from `queries` [N, ...]: K projected Nesterov steps.

  Appendix B.2, with v(0) = 0 and x(0) the query:
    x̂(k) = proj(x(k-1) + ψ(k) v(k-1))
    v(k)  = ψ(k) v(k-1) - γ(k) ∇_x E(x̂(k))
    x(k)  = proj(x(k-1) + v(k))
  (the appendix prints x(k) = proj(v(k)), which drops x(k-1): a typo, since
  v(k) is a displacement). Entries where `known` is True are clamped to the
  query's values: their gradient is zeroed and they never move.

  Args:
    energy_apply: the energy function.
    params: all energy parameters (the written memory merged with the static).
    read_params: the step-size and momentum parameters; K = len(step_sizes).
    queries: [N, ...] distorted patterns, inside `box`.
    known: optional bool [N, ...], True for entries to clamp.
    box: the data's range, (low, high).
    loops: remat / unroll options of the scan.
    rule: the step sizes' parametrisation, where reading starts
      (`read_start`) and the projection's derivative (`project`).

  Returns:
    Iterates x(1), ..., x(K): [K, N, ...].
  """
  check_patterns("queries", queries, box)
  if known is not None:
    if np.shape(known) != np.shape(queries):
      raise ValueError(f"known has shape {np.shape(known)}, expected the queries' "
                       f"shape {np.shape(queries)}.")
    if jnp.result_type(known) != jnp.bool_:
      raise ValueError(f"known must be a bool mask, got dtype {jnp.result_type(known)}.")
  rule.check()
  gammas = step_size_schedule(read_params.step_sizes, rule.rates)
  psis = momentum_schedule(read_params.momentum)
  free = None if known is None else jnp.logical_not(known).astype(queries.dtype)
  proj = lambda x: project(x, box, rule.projection_gradient)

  def clamp(x):
    return x if known is None else jnp.where(known, queries, x)

  def step(carry, rates):
    x, v = carry
    gamma, psi = rates
    lookahead = clamp(proj(x + psi * v))
    _, grad_x = input_gradients(energy_apply, params, lookahead)
    if free is not None:
      grad_x = grad_x * free
    v = psi * v - gamma * grad_x
    x = clamp(proj(x + v))
    return (x, v), x

  if loops.remat:
    step = jax.checkpoint(step)
  x0 = read_start(queries, known, box, rule.read_start)
  _, iterates = jax.lax.scan(step, (x0, jnp.zeros_like(queries)), (gammas, psis),
                             unroll=loops.unroll)
  return iterates
