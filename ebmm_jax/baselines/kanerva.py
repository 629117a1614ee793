r"""The Dynamic Kanerva Machine (DKM; Wu, Wayne, Gregor & Lillicrap, NeurIPS
2018, "Learning attractor dynamics for generative memory"), the image
baseline of Appendix A.4 / Figures 7-8, and a binary-strings version for
Table 1's protocol (`build_binary`, below).

Images are encoded by the shared image encoder of Appendix C.2
(`blocks.Encoder`, Section 4: "all models use the same encoder (and decoder,
when applicable)") to codes z in R^C, and decoded by its transpose
(`blocks.Decoder`, a sigmoid mean in [0, 1]). The memory is a matrix-normal
distribution over M in R^{K_r x C} (K_r = `model.rows`):

    M ~ MN(R, U, I_C)       mean R [K_r, C], row covariance U [K_r, K_r],
                            column covariance the identity (as in the DKM)
    prior:  R = R0 (learned), U = U0 = diag(u0), u0 = exp(learned, init 0) = 1
    z | w, M ~ N(w^T M, sigma_xi^2 I_C),  sigma_xi^2 = exp(learned) > 0

Addressing (as in the DKM, where w is the least-squares solution of
z ~ w^T M, here against the memory mean and regularised): for a code z,

    w(z; R) = argmin_w ||z - w^T R||^2 + lambda ||w||^2
            = (R R^T + lambda I)^{-1} R z                (`address`, ridge)

with lambda = `model.ridge` (fixed, small next to ||r_k||^2 ~ C, since the
codes are LayerNorm-ed).

Writing (the Bayesian update of the Kanerva Machine, Wu, Wayne, Graves &
Lillicrap, ICLR 2018, which the DKM keeps; `posterior_update`): the N codes
z_t = Encoder(x_t) are written one at a time (`lax.scan`), each addressed by
w_t = w(z_t; R_{t-1}) (Sigma_c^T Delta and Sigma_c^T Sigma_c are outer
products):

    Delta   = z - w^T R                   prediction error       [C]
    Sigma_c = w^T U                        cross-covariance       [K_r]
    sigma_z = w^T U w + sigma_xi^2         predictive variance    []
    R <- R + Sigma_c^T Delta / sigma_z
    U <- U - Sigma_c^T Sigma_c / sigma_z

For fixed addressing weights W [N, K_r] this is exactly the Bayesian
linear-regression posterior of Z = W M + noise (tested):

    U_N = (U0^{-1} + W^T W / sigma_xi^2)^{-1}
    R_N = U_N (U0^{-1} R0 + W^T Z / sigma_xi^2).

`model.write_addressing` = "posterior" (default) addresses each code against
the current mean R_{t-1}; "prior" addresses every code against R0 (the batch
form, where the scan is exactly the closed form above).

Reading (the DKM's attractor dynamics, Wu et al., NeurIPS 2018): K =
`model.iterations` iterations from x(0) = the query,

    z = Encoder(x(k-1));  w = w(z; R);  z_read = w^T R;  x(k) = Decoder(z_read)

each iteration an iterate [K, N, H, W, C]; known pixels (when `known` is
given; the image tasks give none) are clamped to the query. Reading uses the
posterior mean R (not a sample of M).

Memory size (Section 4: "the number of float32 numbers used to represent a
modifiable part of the model"): the state `write` returns is (R, U), whose
floats are K_r * C + K_r^2 (`memory_floats`). U is counted in full, K_r^2,
although it is symmetric (K_r (K_r + 1) / 2 would suffice): it is the array
the update writes and the state holds. Reading does not use U, but every
write does (it weighs each update), so it is a modifiable part of the memory.
`model.memory_budget` > 0 (the config's `mem=K`) picks the K_r whose floats
are closest to the budget (`rows_for_budget`), overriding `model.rows`.

Binary strings (Table 1, `build_binary`, registered as "kanerva_binary",
`configs/kanerva_binary.py`): the same memory and the same pure functions
(`address`, `write_codes`, `posterior_update`, `KanervaPrior`), with an MLP
encoder and decoder in place of the image ones (`BinaryKanervaMachine`):

    Encoder(x) = LayerNorm(Linear_C(relu(Linear_H(x))))    [D] -> [C]
    Decoder(z) = Linear_D(relu(Linear_H(z)))               [C] -> D bit logits

Writing encodes the N patterns and writes their codes into the learned prior
(`write_codes`). Reading runs K = `model.iterations` attractor iterations
from the masked query q (Appendix A.2: the replaced bits at 0, the known bits
at ±1, `common.masked_queries`), x(0) = q:

    z = Encoder(x(k-1));  z_read = w(z; R)^T R;  logits(k) = Decoder(z_read)
    x(k) = tanh(logits(k) / 2), the known bits (q != 0) clamped to q

and returns every iteration's logits [K, N, D]; `common.haiku_model` turns
the module into a model scored, clamped and meta-trained like the other
Table 1 baselines (the Bernoulli cross-entropy of the replaced bits, not the
DKM's variational objective; see Training below).

Table 1's 8,256-float budget (binary strings, 128-bit patterns): with C = 128
(a code as wide as the pattern), K_r = 47 gives 47 * 128 + 47^2 = 8,225
floats <= 8,256 (the binary config's default). C = 64 with K_r = 64 would
also fit (8,192), but K_r must stay below C (`resolved_rows`). The paper has
no DKM row in Table 1.
Figure 8's "12K memory" model at C = 256 is K_r = 41: 41 * 256 + 41^2 =
12,177 floats (the image config's default).

Training (a documented simplification): the DKM is trained by maximising
its variational lower bound (reconstruction likelihood with KL terms for the
memory and the addressing weights, with sampled M and w), not against a
distortion. Here it is meta-trained by the project's loop like the DAE and
EBMM: on Eq. (2), the squared error of every read iterate against the stored
patterns, summed over the K iterates, for queries under the config's
distortion (15% salt-and-pepper by default, Appendix A.4), with the means of
M and w instead of samples. This trains the same write/read machinery
(encoder, decoder, R0, U0, sigma_xi^2) for the retrieval task the paper
scores; it gives the DKM the knowledge of the noise that Appendix A.1 says
its own objective lacks ("agnostic to the noise model"). On binary strings
the meta-loss is the other Table 1 baselines' (`common.bit_losses`): the
Bernoulli cross-entropy of the replaced bits, summed over the K iterates
(`model.loss = "squared"`: Eq. (2) on the clamped retrieval).
"""
import math
from typing import Tuple

import haiku as hk
import jax
import jax.numpy as jnp
import ml_collections

from ebmm_jax.core import budget as budget_lib
from ebmm_jax.core import models
from ebmm_jax.core import tasks
from ebmm_jax.baselines import common
from ebmm_jax.energies import blocks

NAME = "Dynamic Kanerva Machine"
WRITE_ADDRESSING = ("posterior", "prior")
# Floor on sigma_xi^2 and the prior scales, so the updates never divide by ~0.
MIN_VARIANCE = 1e-4


def variance(log_value: jax.Array) -> jax.Array:
  """A learned variance from its log parameter, floored at `MIN_VARIANCE`."""
  return jnp.exp(log_value) + MIN_VARIANCE


def memory_floats(rows: int, code_size: int) -> int:
  """Floats of a written state (R [rows, C], U [rows, rows])."""
  return rows * code_size + rows * rows


def rows_for_budget(budget: int, code_size: int) -> int:
  """The K_r >= 1 whose `memory_floats` is closest to `budget` (ties: fewer;
  `core.budget.closest`)."""
  if budget < 1 or code_size < 1:
    raise ValueError(f"budget={budget} and code_size={code_size} must be >= 1.")
  return budget_lib.closest(lambda rows: memory_floats(rows, code_size), budget)


def resolved_rows(m: ml_collections.ConfigDict, code_size: int = 256) -> int:
  """`model.rows`, or the budget's rows when `model.memory_budget` > 0
  (`code_size`: C when the config has no `model.code_size`).

  Raises ValueError when K_r >= C: the ridge read-out w(z; R)^T R projects a
  code onto the rows' span, which is then all of R^C, so reading returns the
  query's own code and writing changes nothing (its prediction error
  Delta = z - w^T R is about 0): the memory would be bypassed."""
  budget, code_size = m.get("memory_budget", 0), m.get("code_size", code_size)
  rows = rows_for_budget(budget, code_size) if budget else m.rows
  if rows >= code_size:
    raise ValueError(f"Invalid config: {rows} memory rows >= model.code_size={code_size}: "
                     "the read-out would return every code unchanged; use fewer rows "
                     "than the code size (model.rows or model.memory_budget).")
  return rows


# --- The memory's pure functions (tested on their own) -------------------------

def address(z: jax.Array, mean: jax.Array, ridge: float) -> jax.Array:
  """Ridge addressing weights w = (R R^T + lambda I)^{-1} R z.

  Args:
    z: codes [B, C].
    mean: the memory mean R [K_r, C].
    ridge: lambda > 0.

  Returns:
    w [B, K_r], the minimisers of ||z - w^T R||^2 + lambda ||w||^2.
  """
  rows = mean.shape[0]
  gram = mean @ mean.T + ridge * jnp.eye(rows, dtype=mean.dtype)
  factor = jax.scipy.linalg.cho_factor(gram, lower=True)
  return jax.scipy.linalg.cho_solve(factor, mean @ z.T).T


def posterior_update(mean: jax.Array, cov: jax.Array, w: jax.Array, z: jax.Array,
                     noise_var: jax.Array) -> Tuple[jax.Array, jax.Array]:
  """One observation z = w^T M + N(0, sigma_xi^2 I) folded into MN(R, U, I).

  The Kanerva Machine's update (Wu et al., ICLR 2018; kept by the DKM):
  Delta = z - w^T R, Sigma_c = w^T U, sigma_z = w^T U w + sigma_xi^2,
  R + Sigma_c^T Delta / sigma_z, U - Sigma_c^T Sigma_c / sigma_z.

  Args:
    mean: R [K_r, C].
    cov: U [K_r, K_r], symmetric positive definite.
    w: addressing weights [K_r].
    z: the code [C].
    noise_var: sigma_xi^2 > 0.

  Returns:
    The posterior (R, U).
  """
  delta = z - w @ mean  # [C]
  sigma_c = w @ cov  # [K_r] (= U w: U is symmetric)
  sigma_z = w @ sigma_c + noise_var  # []
  mean = mean + jnp.outer(sigma_c, delta) / sigma_z
  cov = cov - jnp.outer(sigma_c, sigma_c) / sigma_z
  return mean, cov


def sequential_posterior(mean: jax.Array, cov: jax.Array, weights: jax.Array,
                         codes: jax.Array, noise_var: jax.Array
                         ) -> Tuple[jax.Array, jax.Array]:
  """`posterior_update` over N observations with fixed weights W [N, K_r]
  and codes Z [N, C], in order: the batch posterior (module doc)."""
  def step(state, wz):
    return posterior_update(*state, *wz, noise_var), None

  return jax.lax.scan(step, (mean, cov), (weights, codes))[0]


def write_codes(mean: jax.Array, cov: jax.Array, codes: jax.Array,
                noise_var: jax.Array, ridge: float, addressing: str = "posterior"
                ) -> Tuple[jax.Array, jax.Array]:
  """Writes codes [N, C] into the prior (R0, U0): the state (R, U).

  addressing: "posterior" (each code addressed by the current mean, in
  order) or "prior" (every code addressed by R0).
  """
  if addressing == "prior":
    return sequential_posterior(mean, cov, address(codes, mean, ridge), codes, noise_var)
  if addressing != "posterior":
    raise ValueError(f"addressing must be one of {WRITE_ADDRESSING}, got {addressing!r}.")

  def step(state, z):
    w = address(z[None], state[0], ridge)[0]
    return posterior_update(*state, w, z, noise_var), None

  return jax.lax.scan(step, (mean, cov), codes)[0]


# --- The model ------------------------------------------------------------------

class KanervaPrior(hk.Module):
  """The learned prior MN(R0, diag(u0), I) and observation noise sigma_xi^2."""

  def __init__(self, rows: int, code_size: int, noise_init: float,
               name: str = "kanerva_prior"):
    super().__init__(name=name)
    self.rows, self.code_size, self.noise_init = rows, code_size, noise_init

  def __call__(self) -> Tuple[jax.Array, jax.Array, jax.Array]:
    """(R0 [K_r, C], U0 [K_r, K_r], sigma_xi^2 [])."""
    # Codes are LayerNorm-ed (unit scale per unit): so is the prior mean.
    mean = hk.get_parameter("mean", (self.rows, self.code_size), jnp.float32,
                            init=hk.initializers.RandomNormal(1.0))
    log_scale = hk.get_parameter("log_scale", (self.rows,), jnp.float32, init=jnp.zeros)
    log_noise = hk.get_parameter(
        "log_noise_var", (), jnp.float32,
        init=hk.initializers.Constant(math.log(self.noise_init)))
    return mean, jnp.diag(variance(log_scale)), variance(log_noise)


def _check(m: ml_collections.ConfigDict) -> None:
  def need(cond, msg):
    if not cond:
      raise ValueError(f"Invalid config: {msg}")

  for field in ("rows", "iterations", "channels", "code_size", "hidden_size"):
    if field in m:
      need(isinstance(m[field], int) and m[field] >= 1,
           f"model.{field}={m[field]!r} must be an integer >= 1.")
  need(m.get("memory_budget", 0) >= 0,
       f"model.memory_budget={m.get('memory_budget')} must be >= 0 (0: model.rows).")
  for field in ("ridge", "noise_init"):
    if field in m:
      need(m[field] > 0, f"model.{field}={m[field]} must be > 0.")
  addressing = m.get("write_addressing", "posterior")
  need(addressing in WRITE_ADDRESSING,
       f"model.write_addressing={addressing!r} must be one of {list(WRITE_ADDRESSING)}.")


def build(config: ml_collections.ConfigDict, task: tasks.Task) -> models.MemoryModel:
  """The DKM of `config.model` (`channels`, `code_size`, `rows` or
  `memory_budget`, `iterations`, `ridge`, `noise_init`, `write_addressing`)
  for `task`'s images."""
  m = config.model
  _check(m)
  shape: Tuple[int, int, int] = tuple(task.pattern_shape)
  channels, code_size = m.get("channels", 32), m.get("code_size", 256)
  multipliers = tuple(m.get("channel_multipliers", (1, 2, 3)))
  rows, iterations = resolved_rows(m), m.get("iterations", 5)
  ridge, addressing = float(m.get("ridge", 0.1)), m.get("write_addressing", "posterior")
  noise_init = float(m.get("noise_init", 0.1))

  def transformed():
    encoder = blocks.Encoder(channels, multipliers, code_size)
    decoder = blocks.Decoder(shape, channels, multipliers)
    prior = KanervaPrior(rows, code_size, noise_init)

    def init(x):
      prior()
      return decoder(encoder(x))

    return init, (encoder, decoder, prior)

  net = hk.without_apply_rng(hk.multi_transform(transformed))
  encode, decode, prior_of = net.apply

  def init(key):
    return net.init(key, jnp.zeros((1, *shape), jnp.float32))

  def write(params, patterns):
    mean, cov, noise_var = prior_of(params)
    return write_codes(mean, cov, encode(params, patterns), noise_var, ridge, addressing)

  def read(params, state, queries, known):
    mean, _ = state

    def iteration(x, _):
      z = encode(params, x)
      z_read = address(z, mean, ridge) @ mean  # w^T R
      x = decode(params, z_read)
      if known is not None:  # Known pixels stay the query's, as for every model.
        x = jnp.where(known, queries, x)
      return x, x

    return jax.lax.scan(iteration, queries, None, length=iterations)[1]  # [K, N, ...]

  def loss(params, patterns, key, step=None):
    del step
    queries, known = task.distort(key, patterns)
    xs = read(params, write(params, patterns), queries, known)
    metrics = models.iterate_metrics(task.score, xs, patterns, queries)
    return jnp.sum(metrics["reconstruction"]), metrics  # Eq. (2), every iterate.

  def schedules(params):
    mean, cov, noise_var = prior_of(params)
    del mean
    return dict(noise_variance=noise_var, prior_scale=jnp.mean(jnp.diag(cov)))

  return models.MemoryModel(
      name=NAME, init=init, write=write, read=read, loss=loss,
      count_memory_floats=models.lazy_count(lambda: models.state_floats(
          write, init, shape, config.data.num_patterns)),
      schedules=schedules)


# --- Binary strings (Table 1) ---------------------------------------------------

class BinaryKanervaMachine(hk.Module):
  """The DKM on binary strings: MLP encoder and decoder around the matrix-normal
  memory, with the `common.haiku_model` write/read interface (module doc).

  Args:
    pattern_dim: D, the pattern's bits.
    code_size: C, the code the memory stores.
    hidden_size: H, the hidden layer of the encoder and of the decoder.
    rows: K_r, the memory's rows.
    iterations: K, attractor iterations at reading (iterates returned).
    ridge: lambda of the ridge addressing.
    noise_init: sigma_xi^2 at initialisation (learned).
    write_addressing: "posterior" or "prior" (`write_codes`).
  """

  def __init__(self, pattern_dim: int = 128, code_size: int = 64, hidden_size: int = 256,
               rows: int = 64, iterations: int = 5, ridge: float = 0.1,
               noise_init: float = 0.1, write_addressing: str = "posterior",
               name: str = "kanerva_machine"):
    super().__init__(name=name)
    if min(pattern_dim, code_size, hidden_size, rows, iterations) < 1:
      raise ValueError(f"pattern_dim, code_size, hidden_size, rows and iterations must "
                       f"be >= 1, got {pattern_dim}, {code_size}, {hidden_size}, "
                       f"{rows}, {iterations}.")
    self.iterations, self.ridge, self.addressing = iterations, ridge, write_addressing
    linear = lambda size, name, scale=2.0: hk.Linear(
        size, name=name, w_init=common.he_init(scale))
    self.encoder_hidden = linear(hidden_size, "encoder_hidden")
    self.encoder_code = linear(code_size, "encoder_code", 1.0)
    # Codes are LayerNorm-ed, as the image encoder's (`blocks.Encoder`).
    self.code_norm = hk.LayerNorm(axis=-1, create_scale=True, create_offset=True,
                                  name="code_norm")
    self.decoder_hidden = linear(hidden_size, "decoder_hidden")
    self.decoder_logits = linear(pattern_dim, "decoder_logits", 1.0)
    self.prior = KanervaPrior(rows, code_size, noise_init)

  def encode(self, x: jax.Array) -> jax.Array:
    """Patterns or iterates [N, D] -> codes z [N, C]."""
    return self.code_norm(self.encoder_code(jax.nn.relu(self.encoder_hidden(x))))

  def decode(self, z: jax.Array) -> jax.Array:
    """Codes [N, C] -> bit logits [N, D]."""
    return self.decoder_logits(jax.nn.relu(self.decoder_hidden(z)))

  def write(self, patterns: jax.Array) -> Tuple[jax.Array, jax.Array]:
    """patterns [N, D], written in order: the posterior (R [K_r, C], U [K_r, K_r])."""
    mean, cov, noise_var = self.prior()
    return write_codes(mean, cov, self.encode(patterns), noise_var, self.ridge,
                       self.addressing)

  def read(self, state: Tuple[jax.Array, jax.Array], queries: jax.Array) -> jax.Array:
    """queries [N, D] (replaced bits zeroed) -> logits [K, N, D] of the K
    attractor iterations, each from the last one's clamped expectation."""
    mean, _ = state
    known = queries != 0
    x, logits = queries, []
    for _ in range(self.iterations):
      z_read = address(self.encode(x), mean, self.ridge) @ mean  # w^T R
      logits.append(self.decode(z_read))
      x = jnp.where(known, queries, jnp.tanh(logits[-1] / 2.0))
    return jnp.stack(logits)


def _binary_schedules(params: hk.Params):
  prior = params["kanerva_machine/~/kanerva_prior"]
  return dict(noise_variance=variance(prior["log_noise_var"]),
              prior_scale=jnp.mean(variance(prior["log_scale"])))


def build_binary(config: ml_collections.ConfigDict, task: tasks.Task) -> models.MemoryModel:
  """The DKM of `config.model` (`code_size`, `hidden_size`, `rows` or
  `memory_budget`, `iterations`, `ridge`, `noise_init`, `write_addressing`,
  `loss`) for `task`'s binary strings (Table 1)."""
  m = config.model
  _check(m)
  code_size = m.get("code_size", 64)

  def make_module():
    return BinaryKanervaMachine(
        config.data.pattern_dim, code_size, m.get("hidden_size", 256),
        resolved_rows(m, code_size), m.get("iterations", 5), float(m.get("ridge", 0.1)),
        float(m.get("noise_init", 0.1)), m.get("write_addressing", "posterior"))

  return common.haiku_model(NAME, make_module, task, config, _binary_schedules)
