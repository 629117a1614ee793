r"""The variational autoencoder of Table 2 (Appendix A.3), read by attractor
dynamics: a memory-less image baseline.

Appendix A.3: "a Variational Auto-encoder (VAE) model with 256 latent
Gaussian variables and Bernoulli likelihood. VAE defines an energy equal to
the negative joint log-likelihood"

    E(x, z) = -log N(z | 0, I) - log p(x | z).

Model (`model.*` of `configs/vae.py`):
  * q(z | x) = N(μ(x), diag σ(x)²): the image encoder of Appendix C.2
    (`blocks.Encoder`, a `code_size`-unit code), then two linear heads for μ
    and log σ (`code_size` latents each; the paper: 256).
  * p(x | z): the transposed encoder (`blocks.Decoder`, sigmoid output in
    [0, 1]) gives the pixel means. Bernoulli for binary images (Omniglot, the
    paper's), Gaussian N(x | mean(z), s²) for RGB (the paper does not say;
    `s` learned, one scalar, or fixed by `model.gaussian_scale`).
    `model.likelihood = "auto"` chooses by the task's score (Hamming error:
    binary images).

Training: the negative ELBO of the clean stored patterns, one reparameterised
sample, averaged over the memory's images (nats per image). The distortion
plays no part in training (in contrast to the DAE, the VAE "cannot adapt to a
particular noise pattern"); the training log's `score` is that of the
attractor read (`model.log_iterations` steps, few, to keep the step cheap) of
distorted queries, through `models.iterate_metrics` like every model's.

Reading, Appendix A.3 ("attractor dynamics similar to the one used by Wu et
al. (2018)"):

    x(0) = query,  z(0) = μ(query)
    z(t+1) = z(t) - γ ∇_z E(x(t), z(t))                     (γ: model.step_size)
    x(t+1) = argmin_x E(x, z(t+1))

For the factorised Bernoulli likelihood the exact minimiser over x in [0, 1]
is the mode of p(x | z), the decoder's mean thresholded at 1/2; for the
Gaussian it is the mean (`model.x_update = "mode"`, the paper's exact
update; `"mean"` uses the decoder's mean for both). Known entries (`known`,
never given for images) are clamped to the query's, which keeps the x update
an exact minimisation under that constraint. Each step is a coordinate
descent step on E, so E falls for a small enough γ.

A property of this scheme worth knowing: the likelihood's z gradient at
x(t) = mean(z(t)) is zero (the mean maximises the Gaussian likelihood, and
p maximises the Bernoulli likelihood of x = p). So with the Gaussian (RGB)
or with `x_update = "mean"`, only the first step sees the query; after it
z(t) = (1 - γ)^(t-1) z(1) shrinks towards the prior's mode. With the
Bernoulli mode (x in {0, 1}, the paper's Omniglot setting) the likelihood
keeps pulling z towards more confident reconstructions.

`model.iterations` steps (the paper: 50 Omniglot, 100 CIFAR, 200 ImageNet),
in `lax.scan`. The read returns at most `model.max_iterates` (default 10)
evenly spaced iterates, the last one included (`scan_evenly`): all 200
iterates of an evaluation batch of 64 ImageNet images would be 200 x 64 x
64 x 64 x 3 floats (630 MB) per memory; the evaluator scores x(K), and its
per-iterate curve has a point every K / 10 steps.

γ: the paper "perform[s] a grid search for the learning rate γ";
`grid_search_step_size` scores a few γ on a few training batches (the mean
task score of the final read) and returns the best. γ only changes reading,
not training: search it on the trained parameters, then evaluate with
`model.step_size` set to it (see the function's docstring).

The memory has 0 floats: `write` stores nothing.
"""
import math
import time
from typing import Callable, Dict, NamedTuple, Sequence, Tuple

from absl import logging
import haiku as hk
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ebmm_jax.core import models
from ebmm_jax.core import progress
from ebmm_jax.core import tasks
from ebmm_jax.energies import blocks

NAME = "VAE"
LIKELIHOODS = ("auto", "bernoulli", "gaussian")
X_UPDATES = ("mode", "mean")
# γ values `grid_search_step_size` tries by default (log-spaced).
STEP_SIZE_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
# Bernoulli probabilities are kept in [eps, 1 - eps] inside the logarithms:
# the decoder ends in a sigmoid, and log(0) would make E infinite.
_EPS = 1e-6
# log σ(x) of q(z | x) is clipped to this range (a 256-dimensional Gaussian
# whose scale overflows would make the ELBO non-finite).
_LOG_SIGMA_RANGE = (-10.0, 5.0)
_LOG_2PI = math.log(2.0 * math.pi)


# -----------------------------------------------------------------------------
# Scans that keep a few evenly spaced iterates.


def segment_lengths(length: int, num_kept: int) -> Tuple[int, ...]:
  """Steps between kept iterates: min(num_kept, length) segments that sum to
  `length`, the longer ones (one step more) first."""
  if length < 1 or num_kept < 1:
    raise ValueError(f"length={length} and num_kept={num_kept} must be >= 1.")
  r = min(num_kept, length)
  q, extra = divmod(length, r)
  return (q + 1,) * extra + (q,) * (r - extra)


def kept_steps(length: int, num_kept: int) -> Tuple[int, ...]:
  """The (1-based) steps whose iterates `scan_evenly` returns; the last is
  `length`."""
  return tuple(int(s) for s in np.cumsum(segment_lengths(length, num_kept)))


def scan_evenly(step: Callable, carry, length: int, num_kept: int,
                output: Callable):
  """Runs `carry = step(carry)` `length` times in `lax.scan`; returns the
  final carry and `output(carry)` after each of `kept_steps(length,
  num_kept)`, stacked on a new leading axis (at most `num_kept`, the last
  step's included).

  Only the kept outputs are stored: a nested scan per run of equal segment
  lengths (at most two).
  """
  lengths = segment_lengths(length, num_kept)
  runs = []  # (segment length, count)
  for n in lengths:
    if runs and runs[-1][0] == n:
      runs[-1] = (n, runs[-1][1] + 1)
    else:
      runs.append((n, 1))
  outs = []
  for n, count in runs:
    def segment(c, _, n=n):
      c, _ = jax.lax.scan(lambda c, _: (step(c), None), c, None, length=n)
      return c, output(c)
    carry, ys = jax.lax.scan(segment, carry, None, length=count)
    outs.append(ys)
  if len(outs) == 1:
    return carry, outs[0]
  return carry, jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *outs)


# -----------------------------------------------------------------------------
# The model.


def likelihood_of(config: ml_collections.ConfigDict, task: tasks.Task) -> str:
  """"bernoulli" or "gaussian": `model.likelihood`, or for "auto" Bernoulli
  when the task scores binary images (Hamming error), Gaussian otherwise."""
  name = config.model.get("likelihood", "auto")
  if name not in LIKELIHOODS:
    raise ValueError(f"model.likelihood={name!r} must be one of {list(LIKELIHOODS)}.")
  if name != "auto":
    return name
  binary = task.score is tasks.hamming_error or task.score_name == "Hamming error"
  return "bernoulli" if binary else "gaussian"


class Vae(NamedTuple):
  """The VAE's pure functions (params first), shared by `build`, the grid
  search and the tests."""
  init: Callable  # key -> params
  encode: Callable  # (params, x [N, ...]) -> (μ [N, Z], log σ [N, Z])
  means: Callable  # (params, z [N, Z]) -> decoder means [N, ...] in [0, 1]
  mode: Callable  # (params, z) -> argmin_x E(x, z) [N, ...] (or the mean)
  log_likelihood: Callable  # (params, x, z) -> log p(x | z) [N]
  energy: Callable  # (params, x, z) -> E(x, z) [N]
  negative_elbo: Callable  # (params, x, key) -> (-ELBO, KL, -E_q log p(x|z)) [N] each
  attract: Callable  # (params, queries, known, step_size, iterations, num_kept)
  likelihood: str


def make_vae(config: ml_collections.ConfigDict, task: tasks.Task) -> Vae:
  """The VAE of `config.model` for `task`'s images."""
  m = config.model
  shape: Tuple[int, int, int] = tuple(task.pattern_shape)
  channels, code_size = m.get("channels", 32), m.get("code_size", 256)
  multipliers = tuple(m.get("channel_multipliers", (1, 2, 3)))
  likelihood = likelihood_of(config, task)
  fixed_scale = float(m.get("gaussian_scale", 0.0))
  x_update = m.get("x_update", "mode")
  if x_update not in X_UPDATES:
    raise ValueError(f"model.x_update={x_update!r} must be one of {list(X_UPDATES)}.")
  if fixed_scale < 0:
    raise ValueError(f"model.gaussian_scale={fixed_scale} must be >= 0 (0: learned).")
  learned_scale = likelihood == "gaussian" and fixed_scale == 0.0
  scale_init = float(m.get("gaussian_scale_init", 0.1))

  def networks():
    encoder = blocks.Encoder(channels, multipliers, code_size)
    mu_head = hk.Linear(code_size, w_init=blocks.he_init(), name="mu")
    # Zero-initialised: σ(x) = 1 at first, the prior's scale.
    log_sigma_head = hk.Linear(code_size, w_init=jnp.zeros, name="log_sigma")
    decoder = blocks.Decoder(shape, channels, multipliers)

    def encode(x):
      h = encoder(x)
      return mu_head(h), jnp.clip(log_sigma_head(h), *_LOG_SIGMA_RANGE)

    def log_scale():
      # One learned scalar s of the Gaussian likelihood (RGB images).
      return hk.get_parameter("log_scale", (), jnp.float32,
                              init=hk.initializers.Constant(math.log(scale_init)))

    def init(x):
      mu, _ = encode(x)
      out = decoder(mu)
      return (out, log_scale()) if learned_scale else out

    return init, (encode, decoder, log_scale)

  net = hk.without_apply_rng(hk.multi_transform(networks))
  encode_fn, decode_fn, log_scale_fn = net.apply

  @jax.jit  # One program: run op by op, the init compiles every random draw.
  def init(key):
    return net.init(key, jnp.zeros((1, *shape), jnp.float32))

  def encode(params, x):
    return encode_fn(params, x)

  def means(params, z):
    return decode_fn(params, z)

  def gaussian_log_scale(params):
    if learned_scale:
      return log_scale_fn(params)
    return jnp.asarray(math.log(fixed_scale), jnp.float32)

  axes = tuple(range(1, 1 + len(shape)))

  def log_likelihood_of_means(params, x, mean):
    if likelihood == "bernoulli":
      p = jnp.clip(mean, _EPS, 1.0 - _EPS)
      return jnp.sum(x * jnp.log(p) + (1.0 - x) * jnp.log1p(-p), axis=axes)
    log_s = gaussian_log_scale(params)
    return jnp.sum(-0.5 * jnp.square((x - mean) * jnp.exp(-log_s)) - log_s
                   - 0.5 * _LOG_2PI, axis=axes)

  def log_likelihood(params, x, z):
    return log_likelihood_of_means(params, x, means(params, z))

  def log_prior(z):
    return -0.5 * jnp.sum(jnp.square(z) + _LOG_2PI, axis=-1)

  def energy(params, x, z):
    """E(x, z) = -log N(z | 0, I) - log p(x | z), per image [N] (nats)."""
    return -log_prior(z) - log_likelihood(params, x, z)

  def mode(params, z):
    mean = means(params, z)
    if likelihood == "bernoulli" and x_update == "mode":
      # argmax_x of sum x log p + (1 - x) log (1 - p) over [0, 1]: a vertex.
      return (mean > 0.5).astype(mean.dtype)
    return mean  # The Gaussian's mode (or `x_update = "mean"`).

  def negative_elbo(params, x, key):
    mu, log_sigma = encode(params, x)
    z = mu + jnp.exp(log_sigma) * jax.random.normal(key, mu.shape, mu.dtype)
    nll = -log_likelihood(params, x, z)
    kl = 0.5 * jnp.sum(jnp.square(mu) + jnp.exp(2.0 * log_sigma) - 1.0
                       - 2.0 * log_sigma, axis=-1)
    return nll + kl, kl, nll

  def attract(params, queries, known, step_size, iterations, num_kept):
    """Appendix A.3's attractor dynamics from x(0) = query, z(0) = μ(query).

    Returns:
      iterates [R, N, ...]: x(t) at `kept_steps(iterations, num_kept)`
        (R = min(num_kept, iterations), x(iterations) last), known entries
        clamped;
      energies [R + 1, N]: E(x(0), z(0)), then E(x(t), z(t)) at those steps.
    """
    z0, _ = encode(params, queries)
    grad_z = jax.grad(lambda z, x: jnp.sum(energy(params, x, z)))

    def clamp(x):
      return x if known is None else jnp.where(known, queries, x)

    def step(carry):
      x, z = carry
      z = z - step_size * grad_z(z, x)
      return clamp(mode(params, z)), z

    def output(carry):
      x, z = carry
      return x, energy(params, x, z)

    _, (xs, es) = scan_evenly(step, (queries, z0), iterations, num_kept, output)
    e0 = energy(params, queries, z0)
    return xs, jnp.concatenate([e0[None], es])

  return Vae(init=init, encode=encode, means=means, mode=mode,
             log_likelihood=log_likelihood, energy=energy,
             negative_elbo=negative_elbo, attract=attract, likelihood=likelihood)


def _reading_options(config: ml_collections.ConfigDict) -> Tuple[int, float, int, int]:
  m = config.model
  iterations = m.get("iterations", 50)
  step_size = m.get("step_size", 1e-2)
  num_kept = m.get("max_iterates", 10)
  log_iterations = m.get("log_iterations", 5)
  for field, value in (("iterations", iterations), ("max_iterates", num_kept),
                       ("log_iterations", log_iterations)):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ValueError(f"model.{field}={value!r} must be an integer >= 1.")
  if not step_size >= 0:
    raise ValueError(f"model.step_size={step_size!r} must be >= 0.")
  return iterations, float(step_size), num_kept, log_iterations


def build(config: ml_collections.ConfigDict, task: tasks.Task) -> models.MemoryModel:
  """The VAE of `config.model` for `task`'s images, as a `MemoryModel`."""
  vae = make_vae(config, task)
  iterations, step_size, num_kept, log_iterations = _reading_options(config)

  def write(params, patterns):
    del params, patterns
    return ()  # No memory.

  def read(params, state, queries, known):
    del state
    return vae.attract(params, queries, known, step_size, iterations, num_kept)[0]

  def loss(params, patterns, key, step=None):
    del step
    k_sample, k_distort = jax.random.split(key)
    neg_elbo, kl, nll = vae.negative_elbo(params, patterns, k_sample)
    # Logged only (no gradient): a short attractor read of distorted queries.
    queries, known = task.distort(k_distort, patterns)
    xs, _ = vae.attract(jax.lax.stop_gradient(params), queries, known, step_size,
                        log_iterations, log_iterations)
    metrics = models.iterate_metrics(task.score, xs, patterns, queries)
    metrics.update(kl=jnp.mean(kl), nll=jnp.mean(nll))
    return jnp.mean(neg_elbo), metrics  # Nats per image.

  return models.MemoryModel(name=NAME, init=vae.init, write=write, read=read,
                            loss=loss, count_memory_floats=lambda: 0)


def with_step_size(config: ml_collections.ConfigDict,
                   step_size: float) -> ml_collections.ConfigDict:
  """A copy of `config` with `model.step_size` = γ (locked like `config`)."""
  c = ml_collections.ConfigDict(config.to_dict())
  c.model.step_size = float(step_size)
  if config.is_locked:
    c.lock()
  return c


def grid_search_step_size(config: ml_collections.ConfigDict, task: tasks.Task,
                          params, batches: jax.Array, key: jax.Array,
                          step_sizes: Sequence[float] = STEP_SIZE_GRID
                          ) -> Tuple[float, Dict[float, float]]:
  """Appendix A.3's grid search for γ on training batches.

  Each batch is distorted by `task.distort` (keys folded from `key`), read by
  the attractor dynamics of `config.model` (its iterations) with each γ,
  and scored by `task.score` at the last iterate. One compilation: γ is an
  argument of the jitted read.

  Args:
    config: the VAE's config.
    task: its task.
    params: trained VAE parameters.
    batches: [B, N, H, W, C] training images (e.g. `exp.sample_train(k, 4, N)`).
    key: distortion key.
    step_sizes: the γ to try.

  Returns:
    (the best γ, {γ: mean score over every query of every batch}); a γ whose
    score is not finite never wins.

  Example (then evaluate with the best γ; training does not use γ):

    exp = setups.build(training.load_config(workdir))
    params = training.load_meta_params(exp.config, workdir)
    batches = exp.sample_train(jax.random.PRNGKey(0), 4, exp.config.data.num_patterns)
    best, scores = vae.grid_search_step_size(exp.config, exp.task, params,
                                             batches, jax.random.PRNGKey(1))
    tuned = dataclasses.replace(exp, model=vae.build(
        vae.with_step_size(exp.config, best), exp.task))
    evaluation.evaluate(tuned, params, ...)
  """
  if not step_sizes:
    raise ValueError("step_sizes is empty.")
  vae = make_vae(config, task)
  iterations, _, _, _ = _reading_options(config)

  @jax.jit
  def mean_score(params, gamma, patterns, k):
    queries, known = task.distort(k, patterns)
    xs, _ = vae.attract(params, queries, known, gamma, iterations, 1)
    return jnp.mean(task.score(xs[-1], patterns))

  scores, start = {}, time.time()
  for i, gamma in enumerate(step_sizes, 1):
    per_batch = [mean_score(params, jnp.float32(gamma), batches[b], jax.random.fold_in(key, b))
                 for b in range(batches.shape[0])]
    scores[float(gamma)] = float(np.mean(jax.device_get(per_batch)))
    logging.info("γ grid search: %d/%d, γ = %g scores %.4g  ETA %s", i, len(step_sizes),
                 gamma, scores[float(gamma)], progress.format_eta(
                     (time.time() - start) / i * (len(step_sizes) - i)))
  finite = {g: s for g, s in scores.items() if np.isfinite(s)}
  if not finite:
    raise ValueError(f"no step size gave a finite score: {scores}.")
  return min(finite, key=finite.get), scores


__all__ = ["NAME", "LIKELIHOODS", "X_UPDATES", "STEP_SIZE_GRID", "Vae", "build",
           "grid_search_step_size", "kept_steps", "likelihood_of", "make_vae",
           "scan_evenly", "segment_lengths", "with_step_size"]
