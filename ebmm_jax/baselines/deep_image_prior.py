r"""Deep Image Prior (Ulyanov et al., 2018) as a Table 2 baseline (Appendix A.3).

Appendix A.3: "a method that can be seen as a very special case of the
energy-based model which also iteratively adapts parameters of a
convolutional network to generate the most plausible reconstruction. We used
the network provided by the authors and performed 2000 Adam updates for each
of the images. Similarly to how it was implemented in the paper, the network
was instructed about location of the occluded block" (Table 2's *).

Reading one query x~ (every query of a batch independently, `vmap`):

    g_θ(c):  the shared transposed encoder (`blocks.Decoder`, Appendix C.2)
             from a fixed random code c, sigmoid output in [0, 1]; θ starts
             at a fixed random initialisation θ0 (not the authors' hourglass
             network: the project's decoder, as every image baseline's)
    θ ← Adam step on  L(θ) = Σ_{known pixels} (g_θ(c) - x~)²,  `model.fit_steps`
             times (the paper: 2,000) at `model.fit_learning_rate`
    x = g_θ(c), known pixels clamped to the query's (as for every model)

Only the known pixels enter L (the query's other pixels are replaced by 0
before the fit, then masked out of the loss, so not even a NaN there could
reach a gradient): the block's content never reaches the output. With `known` None (salt-and-pepper, Table 2's second half has no
*) every pixel is fitted: DIP's denoising use, where the fixed number of
steps is the only regulariser.

Being told where the block is. The image tasks reveal the block only to a
config with `model.told_block=True` (the default for block noise):
`setups.images.make_task` then returns `known = ~mask`, the pixels outside
the block, and the evaluator passes it to `read`, as in the paper (its Table 2
marks DIP's cell with *). EBMM and the other baselines are never told.

Parameters: DIP is not meta-trained. `init` returns θ0 and c from
`model.seed` (the loop's key is ignored: DIP is defined by its config, not
by the training seed), and `loss` is a constant 0 (its gradient is exactly
zero) with the usual metrics of the read (`models.iterate_metrics`) and the
final fitting loss (`fit_loss`). The meta-training loop copes with this:
the parameters must not be an empty tree (the loop's finiteness check
stacks the leaves), they are not; with zero gradients AdamW's moments stay
zero and its update is exactly 0, and with `optim.weight_decay = 0` (set by
`configs/deep_image_prior.py`) θ0 stays bit-for-bit what `init` made, step
after step. A "training run" is one step (the `cpu`/`gpu` variants): it
writes the config and the checkpoint the evaluator loads, and logs the score
of one batch.

The memory has 0 floats: `write` stores nothing.
"""
from typing import Callable, NamedTuple, Tuple

import haiku as hk
import jax
import jax.numpy as jnp
import ml_collections
import optax

from ebmm_jax.baselines import vae as vae_lib
from ebmm_jax.core import models
from ebmm_jax.core import tasks
from ebmm_jax.energies import blocks

NAME = "Deep Image Prior"


def reveals_block(task: tasks.Task) -> bool:
  """Whether `task.distort` returns a `known` mask (traced on shapes only)."""
  patterns = jax.ShapeDtypeStruct((1, *task.pattern_shape), jnp.float32)
  _, known = jax.eval_shape(task.distort, jax.random.PRNGKey(0), patterns)
  return known is not None


class Dip(NamedTuple):
  """DIP's pure functions, shared by `build` and the tests."""
  init: Callable  # key (ignored) -> {"generator": θ0, "code": c [1, code_size]}
  generate: Callable  # (generator params, code) -> image [H, W, C]
  fit: Callable  # (params, queries [N, ...], known or None) -> (iterates, losses)


def make_dip(config: ml_collections.ConfigDict, task: tasks.Task) -> Dip:
  m = config.model
  shape: Tuple[int, int, int] = tuple(task.pattern_shape)
  channels, code_size = m.get("channels", 32), m.get("code_size", 32)
  multipliers = tuple(m.get("channel_multipliers", (1, 2, 3)))
  fit_steps, num_kept = m.get("fit_steps", 2000), m.get("max_iterates", 10)
  learning_rate, seed = m.get("fit_learning_rate", 0.01), m.get("seed", 0)
  for field, value in (("fit_steps", fit_steps), ("max_iterates", num_kept)):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ValueError(f"model.{field}={value!r} must be an integer >= 1.")
  if not learning_rate > 0:
    raise ValueError(f"model.fit_learning_rate={learning_rate!r} must be > 0.")

  net = hk.without_apply_rng(hk.transform(
      lambda code: blocks.Decoder(shape, channels, multipliers)(code)))
  optimizer = optax.adam(learning_rate)

  @jax.jit  # One program: run op by op, the init compiles every random draw.
  def _init():
    k_net, k_code = jax.random.split(jax.random.PRNGKey(seed))
    code = jax.random.normal(k_code, (1, code_size), jnp.float32)
    return {"generator": net.init(k_net, code), "code": code}

  def init(key):
    del key  # θ0 and c are fixed by `model.seed`.
    return _init()

  def generate(theta, code):
    return net.apply(theta, code)[0]

  def fit_one(params, query, known):
    """One query's fit: iterates [R, H, W, C], fitting losses [R + 1]."""
    code = params["code"]
    # The block's pixels never enter: zeroed in the target (so that not even
    # a NaN there reaches a gradient) and masked out of the loss.
    target = jnp.where(known, query, 0.0)

    def fit_loss(theta):
      error = jnp.square(generate(theta, code) - target)
      return jnp.sum(jnp.where(known, error, 0.0))  # Known pixels only.

    def step(carry):
      theta, opt_state = carry
      grads = jax.grad(fit_loss)(theta)
      updates, opt_state = optimizer.update(grads, opt_state, theta)
      return optax.apply_updates(theta, updates), opt_state

    def output(carry):
      return generate(carry[0], code), fit_loss(carry[0])

    theta0 = params["generator"]
    _, (xs, losses) = vae_lib.scan_evenly(step, (theta0, optimizer.init(theta0)),
                                          fit_steps, num_kept, output)
    return xs, jnp.concatenate([fit_loss(theta0)[None], losses])

  def fit(params, queries, known):
    """Fits a generator to every query.

    Returns:
      iterates [R, N, ...]: g_θ(c) after `vae.kept_steps(fit_steps,
        max_iterates)` Adam steps (R = min(max_iterates, fit_steps), the last
        after `fit_steps`), known pixels clamped to the query's;
      losses [R + 1, N]: the fitting loss before the first step, then at those
        steps.
    """
    mask = jnp.ones_like(queries, bool) if known is None else known
    xs, losses = jax.vmap(fit_one, in_axes=(None, 0, 0))(params, queries, mask)
    xs, losses = jnp.swapaxes(xs, 0, 1), jnp.swapaxes(losses, 0, 1)
    if known is not None:
      xs = jnp.where(known[None], queries[None], xs)
    return xs, losses

  return Dip(init=init, generate=generate, fit=fit)


def build(config: ml_collections.ConfigDict, task: tasks.Task) -> models.MemoryModel:
  """Deep Image Prior for `task`'s images (see the module docstring)."""
  dip = make_dip(config, task)
  if config.model.get("told_block", False) and not reveals_block(task):
    raise ValueError("Deep Image Prior: model.told_block=True, but the task does not "
                     "reveal the block (block noise reveals it to told models).")
  loss_task = task

  def write(params, patterns):
    del params, patterns
    return ()  # No memory.

  def read(params, state, queries, known):
    del state
    return dip.fit(params, queries, known)[0]

  def loss(params, patterns, key, step=None):
    del step
    # The training log shows one query's fit: fitting the whole batch (2,000
    # updates per query) would make the one "training" step cost as much as
    # scoring a test batch, and its gradient is zero anyway.
    patterns = patterns[:1]
    queries, known = loss_task.distort(key, patterns)
    xs, losses = dip.fit(jax.lax.stop_gradient(params), queries, known)
    metrics = models.iterate_metrics(task.score, xs, patterns, queries)
    metrics["fit_loss"] = jnp.mean(losses[-1])
    # Not meta-trained: a constant loss, whose gradient is exactly zero.
    return jnp.zeros((), jnp.float32), metrics

  return models.MemoryModel(name=NAME, init=dip.init, write=write, read=read,
                            loss=loss, count_memory_floats=lambda: 0)
