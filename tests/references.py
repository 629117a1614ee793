"""Literal references for EBMM's core, written from the paper's text.

Each reference is a plain loop over what the paper indexes (write steps t,
writable tensors, the three terms of Eq. (3), patterns i; read steps k) in
float64 NumPy. Only the energy of ONE pattern and its derivatives come from
JAX (`jax.grad` of the energy model itself); nothing here calls
`ebmm_jax.core.memory` or `ebmm_jax.core.meta`, so a wrong rule there cannot be copied
into its reference. Run them under `jax.enable_x64(True)` for float64
derivatives.

Tensors are nested dicts like Haiku's parameters, {module: {name: array}}.
"""
import functools
from typing import Dict, List, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

Tree = Dict[str, Dict[str, np.ndarray]]


def softplus(x):
  return np.logaddexp(0.0, np.asarray(x, np.float64))


def sigmoid(x):
  return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def positive(raw, rates: str = "softplus"):
  """A rate from its raw parameter: softplus (Appendix D) or exp (log-rates)."""
  if rates == "softplus":
    return softplus(raw)
  if rates == "log":
    return np.exp(np.asarray(raw, np.float64))
  raise ValueError(rates)


def raw_of(rate, rates: str = "softplus"):
  """The raw parameter of a positive rate (inverse of `positive`)."""
  rate = np.asarray(rate, np.float64)
  return np.log(np.expm1(rate)) if rates == "softplus" else np.log(rate)


def logit(p):
  p = np.asarray(p, np.float64)
  return np.log(p) - np.log1p(-p)


def to_numpy(tree) -> Tree:
  return {m: {n: np.array(v, np.float64) for n, v in leaves.items()}
          for m, leaves in tree.items()}


def tensors(tree) -> List[Tuple[str, str]]:
  """(module, name) of every tensor, in a fixed order."""
  return [(m, n) for m in sorted(tree) for n in sorted(tree[m])]


@functools.lru_cache(maxsize=None)
def _one_pattern_derivatives(energy_apply):
  """Jitted E, ∇_θ E, ||∇_x E||², ∇_θ ||∇_x E||² and ∇_x E of one pattern x."""

  def energy(static, memory, x):
    return energy_apply({**static, **memory}, x[None])[0]

  def grad_x_norm(static, memory, x):  # ||∇_x E(x; θ)||² of Eq. (3).
    return jnp.sum(jnp.square(jax.grad(energy, argnums=2)(static, memory, x)))

  def input_gradient(params, x):
    return jax.grad(lambda x_: energy_apply(params, x_[None])[0])(x)

  return (jax.jit(jax.value_and_grad(energy, argnums=1)),
          jax.jit(jax.value_and_grad(grad_x_norm, argnums=1)),
          jax.jit(input_gradient))


def _rates_of(raw_rates, module: str, name: str) -> np.ndarray:
  """A tensor's raw rates [T or 1, 3]: its own leaf, or the one shared array."""
  if isinstance(raw_rates, dict):
    return np.asarray(raw_rates[module][name], np.float64)
  return np.asarray(raw_rates, np.float64)


def write(energy_apply, static, init_memory, raw_rates, raw_penalties,
          patterns, rates: str = "softplus", write_steps: Optional[int] = None):
  """Eq. (4) with one rate per step, per writable tensor and per term of
  Eq. (3) (Appendix D), from θ(0) = θ̄:

    θ(t+1) = θ(t) - η_E(t) ∇_θ (1/N) Σ_i E(x_i; θ(t))
                  - η_G(t) α ∇_θ (1/N) Σ_i ||∇_x E(x_i; θ(t))||²
                  - η_P(t) β ∇_θ ||θ(t) - θ̄||²

  Args:
    raw_rates: like `init_memory` with leaves [T, 3] (or [1, 3], shared over
      `write_steps` steps), or one such array shared by every tensor; the
      last axis is (energy, grad_penalty, prior_penalty).
    raw_penalties: raw (alpha, beta).

  Returns:
    thetas: [θ(0), ..., θ(T)], NumPy trees like `init_memory`.
    losses: [T] tuples (energy, grad_penalty, prior_penalty), the terms of
      Eq. (3) averaged over the batch at θ(0), ..., θ(T-1).
  """
  value_and_grad_energy, value_and_grad_penalty, _ = _one_pattern_derivatives(
      energy_apply)
  alpha = positive(raw_penalties[0], rates)
  beta = positive(raw_penalties[1], rates)
  theta_bar = to_numpy(init_memory)
  names = tensors(theta_bar)
  steps = _rates_of(raw_rates, *names[0]).shape[0]
  num_steps = write_steps or steps
  patterns = np.asarray(patterns, np.float64)
  n = patterns.shape[0]

  theta = to_numpy(theta_bar)
  thetas, losses = [theta], []
  for t in range(num_steps):
    energy = grad_penalty = 0.0
    g_energy = {m: {k: 0.0 for k in theta[m]} for m in theta}
    g_penalty = {m: {k: 0.0 for k in theta[m]} for m in theta}
    for i in range(n):  # The batch average (1/N) Σ_i of Eq. (4).
      e, ge = value_and_grad_energy(static, theta, patterns[i])
      p, gp = value_and_grad_penalty(static, theta, patterns[i])
      energy += float(e) / n
      grad_penalty += float(p) / n
      for m, k in names:
        g_energy[m][k] = g_energy[m][k] + np.asarray(ge[m][k], np.float64) / n
        g_penalty[m][k] = g_penalty[m][k] + np.asarray(gp[m][k], np.float64) / n
    prior = sum(float(np.sum((theta[m][k] - theta_bar[m][k]) ** 2)) for m, k in names)
    losses.append((energy, grad_penalty, prior))
    new = {m: {} for m in theta}
    for m, k in names:
      eta = positive(_rates_of(raw_rates, m, k)[t if steps > 1 else 0], rates)  # [3]
      g_prior = 2.0 * (theta[m][k] - theta_bar[m][k])  # ∇_θ ||θ - θ̄||².
      new[m][k] = (theta[m][k] - eta[0] * g_energy[m][k]
                   - eta[1] * alpha * g_penalty[m][k] - eta[2] * beta * g_prior)
    theta = new
    thetas.append(theta)
  return thetas, losses


def read_schedules(raw_step_sizes, raw_momentum, rates: str = "softplus"):
  """Appendix B.3: γ(1) = softplus(raw), γ(k) = γ(k-1) σ(η(k)); the momentum
  rates ψ likewise from ψ(1) = σ(raw)."""
  gammas = [float(positive(raw_step_sizes[0], rates))]
  psis = [float(sigmoid(raw_momentum[0]))]
  for k in range(1, len(raw_step_sizes)):
    gammas.append(gammas[-1] * float(sigmoid(raw_step_sizes[k])))
    psis.append(psis[-1] * float(sigmoid(raw_momentum[k])))
  return gammas, psis


def read(energy_apply, params, raw_step_sizes, raw_momentum, queries,
         known=None, box=(0.0, 1.0), rates: str = "softplus", start: str = "query"):
  """K projected Nesterov steps on the energy, Appendix B.1-B.3, v(0) = 0:

    x̂(k) = proj(x(k-1) + ψ(k) v(k-1))
    v(k)  = ψ(k) v(k-1) - γ(k) ∇_x E(x̂(k))
    x(k)  = proj(x(k-1) + v(k))

  (B.2 prints x(k) = proj(v(k)); v is a displacement, so x(k-1) is added.)
  Entries where `known` is True are set to the query's value after every
  projection and get no gradient.

  Returns:
    iterates [K, N, ...] and diagnostics: `clipped`, how many free entries
    the box moved (look-aheads and steps together), and `lookahead`, the
    largest |x̂(k) - x(k-1)| (0 when the momentum does nothing).
  """
  _, _, input_gradient = _one_pattern_derivatives(energy_apply)
  gammas, psis = read_schedules(raw_step_sizes, raw_momentum, rates)
  low, high = box
  q = np.asarray(queries, np.float64)
  known = None if known is None else np.asarray(known, bool)
  free = np.ones(q.shape, bool) if known is None else ~known

  def clamp(x):
    return x if known is None else np.where(known, q, x)

  def project(x):  # Appendix B.1: clip to the data's box.
    outside = free & ((x < low) | (x > high))
    return np.clip(x, low, high), int(outside.sum())

  x = q.copy()
  if start == "center" and known is not None:
    x = np.where(known, q, 0.5 * (low + high))
  v = np.zeros_like(q)
  iterates, clipped, lookahead = [], 0, 0.0
  for k in range(len(gammas)):
    ahead, c1 = project(x + psis[k] * v)
    ahead = clamp(ahead)
    lookahead = max(lookahead, float(np.max(np.abs(ahead - x))))
    grad = np.stack([np.asarray(input_gradient(params, a), np.float64) for a in ahead])
    grad = np.where(free, grad, 0.0)
    v = psis[k] * v - gammas[k] * grad
    x, c2 = project(x + v)
    x = clamp(x)
    clipped += c1 + c2
    iterates.append(x)
  return np.stack(iterates), dict(clipped=clipped, lookahead=lookahead)


def reconstruction_losses(iterates, patterns) -> np.ndarray:
  """Eq. (2) at every iterate: (1/N) Σ_i ||x_i - x_i(k)||², [K]."""
  iterates = np.asarray(iterates, np.float64)
  patterns = np.asarray(patterns, np.float64)
  out = []
  for x_k in iterates:
    out.append(np.mean([np.sum((patterns[i] - x_k[i]) ** 2)
                        for i in range(patterns.shape[0])]))
  return np.asarray(out)


def meta_loss(per_iterate: Sequence[float], iterates: str) -> float:
  """Appendix B.4: the sum over k of Eq. (2) ("all"), or Eq. (2) at x(K)."""
  return float(np.sum(per_iterate)) if iterates == "all" else float(per_iterate[-1])


def error_bits(x, patterns) -> np.ndarray:
  """Table 1's score: wrong signs per pattern (sign 0 counts as wrong)."""
  return np.sum(np.sign(np.asarray(x)) != np.asarray(patterns), axis=-1)


def retrieve(energy_apply, static, write_params, read_params, patterns, queries,
             known, box, rates: str = "softplus", writing: bool = True):
  """Write (Eq. 4), then read (Appendix B) with the written memory: iterates
  [K, N, ...] from the references above; `write_params` and `read_params`
  are the library's WriteParams and ReadParams (only their arrays are used).
  `writing=False` reads with θ̄ itself (T = 0)."""
  if writing:
    thetas, _ = write(energy_apply, static, write_params.init_memory,
                      write_params.learning_rates, np.asarray(write_params.penalties),
                      patterns, rates)
    memory = thetas[-1]
  else:
    memory = to_numpy(write_params.init_memory)
  params = {**to_numpy(static), **memory}
  iterates, _ = read(energy_apply, params, np.asarray(read_params.step_sizes),
                     np.asarray(read_params.momentum), queries, known, box, rates)
  return iterates
