"""Meta-learning the memory: the meta-parameters and the meta-loss (Eq. 5, B.4).

The inner problem (write the batch, then read every distorted query) lives in
`ebmm_jax.core.memory`; this module owns what is learned across batches — θ̄, the
static weights, the writing rates and penalties, the reading step sizes, a
stream write's forgetting — and the meta-loss whose gradient (`jax.grad`
through write and read) learns them.
The optimiser, its schedules and the meta-step that applies it to any
model's loss live in `ebmm_jax.training` (`optimizer`, `step`).
"""
from typing import Dict, NamedTuple, Optional, Tuple, Union

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from ebmm_jax.core import energy as energy_lib
from ebmm_jax.core import memory as memory_lib
from ebmm_jax.core import models
from ebmm_jax.core.tasks import Task

META_LOSS_ITERATES = ("all", "last")


class MetaParams(NamedTuple):
  """Everything meta-learned by Eq. (5)."""
  static: hk.Params  # the energy's non-writable weights.
  write: memory_lib.WriteParams  # θ̄, writing rates, alpha and beta.
  read: memory_lib.ReadParams  # reading step sizes and momentum.


# How the writing rates are shared (Appendix D: per step, tensor and term).
WRITE_RATE_SHARING = ("per_step_tensor", "per_step", "per_tensor", "shared")


class Init(NamedTuple):
  """Initial values of the learned rates (config section `memory`)."""
  write_steps: int = 5  # T.
  read_steps: int = 5  # K.
  write_lr_init: float = 1e-4  # every writing rate η (Appendix D).
  grad_penalty_init: float = 1.0  # alpha.
  prior_penalty_init: float = 1.0  # beta.
  read_step_size_init: float = 1.0  # γ(1).
  read_step_decay_init: float = 0.9  # σ(η(k)) of B.3.
  read_momentum_init: float = 0.5  # ψ(1).
  read_momentum_decay_init: float = 0.9
  write_rate_sharing: str = "per_step_tensor"  # WRITE_RATE_SHARING.
  rates: str = "softplus"  # memory_lib.RATE_PARAMETRISATIONS.
  n_scaling: str = "mean"  # memory_lib.N_SCALINGS; "learned" adds WriteParams.n_exponent.
  # "learned": p's start on the two data terms of Eq. (3) (0: the mean, 1: the
  # sum); the prior term's p starts at 0.
  n_exponent_init: float = 0.0
  # A stream write's chunk sizes, e.g. "16,16,16,16" (`parse_chunks`); two or
  # more chunks add WriteParams.forgetting. "": one write (the paper).
  stream_chunks: str = ""
  forget_init: float = 0.9  # λ of the forgetting at init (streams only), in (0, 1).


def parse_chunks(text: str) -> Tuple[int, ...]:
  """A stream's chunk sizes: "16,16,16,16" -> (16, 16, 16, 16); "" -> ()
  (one write). Raises ValueError unless every size is a positive integer."""
  items = [t.strip() for t in str(text).split(",") if t.strip()]
  try:
    chunks = tuple(int(t) for t in items)
  except ValueError:
    chunks = ()
  if len(chunks) != len(items) or any(c < 1 for c in chunks):
    raise ValueError(f"stream_chunks={text!r} must be comma-separated positive "
                     "integers, e.g. '16,16,16,16'.")
  return chunks


# The meta-loss's weighting of a stream's chunks: "uniform" (every pattern
# alike, the mean of Eq. 2) or one positive weight per chunk.
UNIFORM_CHUNKS = "uniform"


def parse_chunk_weights(text: str, num_chunks: int) -> Optional[Tuple[float, ...]]:
  """The meta-loss's weight of each chunk's patterns: None for "uniform" (or
  ""), else one positive number per chunk, e.g. "1,1,2,4" (oldest first)."""
  text = str(text).strip()
  if text in ("", UNIFORM_CHUNKS):
    return None
  try:
    weights = tuple(float(t) for t in text.split(","))
  except ValueError:
    weights = ()
  if not weights or any(not np.isfinite(w) or w <= 0 for w in weights):
    raise ValueError(f"stream_loss_weights={text!r} must be 'uniform' or positive "
                     "numbers, one per chunk, e.g. '1,1,2,4'.")
  if len(weights) != num_chunks:
    raise ValueError(f"stream_loss_weights={text!r} gives {len(weights)} weights for "
                     f"{num_chunks} chunks: give one per chunk.")
  return weights


def init_meta_params(key: jax.Array, energy: Union[energy_lib.Energy, hk.Transformed],
                     pattern_shape: Tuple[int, ...], init: Init = Init()) -> MetaParams:
  """He-initialised energy weights (Appendix A) and the learned rates' inits.

  `energy` is any library's `energy_lib.Energy` (an `hk.Transformed` is
  read as a Haiku energy); its `split` gives θ̄ and the static weights."""
  if init.write_steps < 1 or init.read_steps < 1:
    raise ValueError(f"write_steps and read_steps must be >= 1, got "
                     f"{init.write_steps} and {init.read_steps}.")
  if init.write_rate_sharing not in WRITE_RATE_SHARING:
    raise ValueError(f"write_rate_sharing={init.write_rate_sharing!r} is not one of "
                     f"{WRITE_RATE_SHARING}.")
  example = jnp.zeros((1, *pattern_shape), jnp.float32)
  energy = energy_lib.as_energy(energy)
  params = energy.init(key, example)
  init_memory, static = energy.split(params)
  energy_lib.check_writable(init_memory, params)  # Raises if nothing is writable.
  f32 = lambda v: jnp.asarray(v, jnp.float32)
  positive_inv = lambda y: memory_lib.inverse_positive(y, init.rates)
  steps = init.write_steps if init.write_rate_sharing in ("per_step_tensor",
                                                           "per_step") else 1
  # One buffer per leaf: the meta-step donates its input state.
  raw_lr = lambda: jnp.full((steps, len(memory_lib.WRITING_TERMS)),
                            float(positive_inv(init.write_lr_init)), jnp.float32)
  if init.write_rate_sharing in ("per_step_tensor", "per_tensor"):
    learning_rates = jax.tree_util.tree_map(lambda _: raw_lr(), init_memory)
  else:
    learning_rates = raw_lr()
  penalties = f32(positive_inv([init.grad_penalty_init, init.prior_penalty_init]))
  step_sizes = f32(np.concatenate([
      positive_inv([init.read_step_size_init]),
      np.full(init.read_steps - 1, memory_lib.logit(init.read_step_decay_init))]))
  momentum = f32(np.concatenate([
      memory_lib.logit([init.read_momentum_init]),
      np.full(init.read_steps - 1, memory_lib.logit(init.read_momentum_decay_init))]))
  # p = 0 is the paper's mean over patterns, whatever n; p = 1 on the data
  # terms is their sum (each pattern written as strongly at every n).
  n_exponent = (f32([init.n_exponent_init, init.n_exponent_init, 0.0])
                if init.n_scaling == "learned" else None)
  # λ = sigmoid(raw) per writable tensor, only where a stream has chunks to
  # forget between (one chunk is the plain write: no leaf).
  forgetting = None
  if len(parse_chunks(init.stream_chunks)) > 1:
    raw_forget = float(memory_lib.logit(init.forget_init))
    forgetting = jax.tree_util.tree_map(lambda _: jnp.full((), raw_forget, jnp.float32),
                                        init_memory)
  return MetaParams(
      static=static,
      write=memory_lib.WriteParams(init_memory, learning_rates, penalties, n_exponent,
                                   forgetting),
      read=memory_lib.ReadParams(step_sizes, momentum))


def write(energy_apply: memory_lib.EnergyApply, meta: MetaParams, patterns: jax.Array,
          loops: memory_lib.Loops = memory_lib.Loops(),
          rule: memory_lib.Rule = memory_lib.Rule(),
          mask: Optional[jax.Array] = None, memory: Optional[hk.Params] = None):
  """Writes `patterns` [N, ...] from θ̄, or from a written `memory` (Eq. 4):
  (written memory, writing-loss terms [T]). `mask` [N]: the real patterns of
  a padded batch (`memory_lib.write`)."""
  return memory_lib.write(energy_apply, meta.static, meta.write, patterns, loops, rule,
                          mask=mask, memory=memory)


def write_into(energy_apply: memory_lib.EnergyApply, meta: MetaParams, memory: hk.Params,
               patterns: jax.Array, loops: memory_lib.Loops = memory_lib.Loops(),
               rule: memory_lib.Rule = memory_lib.Rule()) -> hk.Params:
  """`patterns` added to the written `memory` (a stream's next chunk,
  `memory_lib.write_into`): the memory after forgetting and writing."""
  return memory_lib.write_into(energy_apply, meta.static, meta.write, memory, patterns,
                               loops, rule)[0]


def stream_write(energy_apply: memory_lib.EnergyApply, meta: MetaParams,
                 patterns: jax.Array, chunks,
                 loops: memory_lib.Loops = memory_lib.Loops(),
                 rule: memory_lib.Rule = memory_lib.Rule(),
                 mask: Optional[jax.Array] = None):
  """Writes `patterns` [N, ...] arriving in chunks of sizes `chunks`, the
  meta-learned forgetting between them (`memory_lib.stream_write`): (written
  memory, writing-loss terms [C, T])."""
  return memory_lib.stream_write(energy_apply, meta.static, meta.write, patterns, chunks,
                                 loops, rule, mask=mask)


def chunk_scores(score_fn, x: jax.Array, patterns: jax.Array, chunks,
                 mask: Optional[jax.Array] = None) -> jax.Array:
  """The task's score of the retrieved `x` [N, ...] per chunk of the stream,
  [C] (mean over the chunk's real patterns; 0 for a chunk of padding only)."""
  member = np.zeros((len(chunks), patterns.shape[0]), np.float32)  # [C, N]
  for c, start in enumerate(np.cumsum((0,) + tuple(chunks[:-1]))):
    member[c, start:start + chunks[c]] = 1.0
  member = jnp.asarray(member)
  if mask is not None:
    member = member * jnp.asarray(mask, jnp.float32)[None]
  scores = score_fn(x, patterns).astype(jnp.float32)  # [N]
  return (member @ scores) / jnp.maximum(jnp.sum(member, axis=1), 1.0)


def _chunk_weighted_losses(iterates: jax.Array, patterns: jax.Array, chunks,
                           weights, mask: Optional[jax.Array]) -> jax.Array:
  """Eq. (2) per iterate, [K], a mean over patterns weighted by their chunk's
  weight: sum_i w_c(i) ||x_i - x_i(k)||² / sum_i w_c(i) (real patterns only)."""
  w = jnp.repeat(jnp.asarray(weights, jnp.float32), np.asarray(chunks),
                 total_repeat_length=int(sum(chunks)))  # [N]
  if mask is not None:
    w = w * jnp.asarray(mask, jnp.float32)
  axes = tuple(range(2, iterates.ndim))
  per_pattern = jnp.sum(jnp.square(iterates - patterns[None]), axis=axes)  # [K, N]
  return (per_pattern @ w) / jnp.maximum(jnp.sum(w), 1e-12)


def written_params(meta: MetaParams, written: hk.Params) -> hk.Params:
  """The energy's parameters under a written memory: static weights and θ."""
  return energy_lib.merge(meta.static, written)


def read(energy_apply: memory_lib.EnergyApply, meta: MetaParams, written: hk.Params,
         queries: jax.Array, known: Optional[jax.Array], box,
         loops: memory_lib.Loops = memory_lib.Loops(),
         rule: memory_lib.Rule = memory_lib.Rule()) -> jax.Array:
  """Reads every query [N, ...] under the written memory (Eq. 1, Appendix B):
  iterates [K, N, ...]."""
  return memory_lib.read(energy_apply, written_params(meta, written), meta.read,
                         queries, known, box=box, loops=loops, rule=rule)


def write_and_read(energy_apply: memory_lib.EnergyApply, meta: MetaParams,
                   patterns: jax.Array, queries: jax.Array,
                   known: Optional[jax.Array], box,
                   loops: memory_lib.Loops = memory_lib.Loops(),
                   rule: memory_lib.Rule = memory_lib.Rule(),
                   mask: Optional[jax.Array] = None):
  """Writes `patterns` [N, ...] (the real ones, `mask`, of a padded batch),
  then reads every query [N, ...]. Reading is per pattern (the energy has no
  interaction between examples), so padded rows do not change the real ones.

  Returns:
    iterates [K, N, ...], the written memory, the writing-loss terms [T].
  """
  written, write_losses = write(energy_apply, meta, patterns, loops, rule, mask=mask)
  iterates = read(energy_apply, meta, written, queries, known, box, loops, rule)
  return iterates, written, write_losses


def meta_loss(energy_apply: memory_lib.EnergyApply, task: Task, meta: MetaParams,
              patterns: jax.Array, key: jax.Array, *, iterates: str = "all",
              loops: memory_lib.Loops = memory_lib.Loops(),
              rule: memory_lib.Rule = memory_lib.Rule(),
              early_weight: Optional[jax.Array] = None,
              mask: Optional[jax.Array] = None,
              chunks: Optional[Tuple[int, ...]] = None,
              chunk_weights: Optional[Tuple[float, ...]] = None
              ) -> Tuple[jax.Array, Dict[str, jax.Array]]:
  """The meta-loss of one memory batch `patterns` [N, ...].

  Args:
    iterates: "all" for the step-wise loss of Appendix B.4 (the sum over k of
      Eq. (2) at x(k)), "last" for Eq. (2) at x(K) only.
    early_weight: with iterates="all", the weight of x(1..K-1)'s terms (x(K)'s
      stays 1): MAML++'s multi-step loss, annealed towards "last" over
      training (`iterate_weight`). None: 1.
    mask: optional bool [N]: the memory holds only the patterns where it is
      True (a batch padded to a fixed size, so that one compiled meta-step
      trains every N); writing, the loss and the metrics ignore the rest.
    chunks: optional chunk sizes of a stream write (`stream_write`), two or
      more: the patterns arrive in these chunks, with the learned forgetting
      between them, and every query is read after the last chunk. None (or
      one chunk): one write.
    chunk_weights: with a stream, one positive weight per chunk for its
      patterns' terms of Eq. (2) (e.g. to stress the oldest; a tuple, or a
      [C] array such as `chunk_weights_at`'s); None: uniform over patterns
      (the plain mean).

  Returns:
    (loss, metrics); metrics hold per-iterate reconstruction loss and score
    ([K]), the query's score, and the writing-loss terms ([T]; for a stream
    their mean over chunks, and `stream_chunk_score` [C], the last iterate's
    score per chunk, oldest first).
  """
  if iterates not in META_LOSS_ITERATES:
    raise ValueError(f"iterates must be one of {META_LOSS_ITERATES}, got {iterates!r}.")
  stream = chunks is not None and len(chunks) > 1
  if chunk_weights is not None and (not stream or len(chunk_weights) != len(chunks)):
    raise ValueError(f"chunk_weights {chunk_weights} need a stream of as many chunks "
                     f"(chunks={chunks}).")
  queries, known = task.distort(key, patterns)
  if stream:
    written, write_losses = stream_write(energy_apply, meta, patterns, chunks, loops,
                                         rule, mask)
    # Every pattern's query, read after the last chunk.
    xs = read(energy_apply, meta, written, queries, known, task.box, loops, rule)
    write_losses = jax.tree_util.tree_map(lambda l: jnp.mean(l, axis=0), write_losses)
  else:
    xs, _, write_losses = write_and_read(energy_apply, meta, patterns, queries,
                                         known, task.box, loops, rule, mask)
  metrics = models.iterate_metrics(task.score, xs, patterns, queries, mask)
  per_iterate = metrics["reconstruction"]  # [K]
  if stream:
    metrics["stream_chunk_score"] = chunk_scores(task.score, xs[-1], patterns, chunks,
                                                 mask)
    if chunk_weights is not None:
      per_iterate = _chunk_weighted_losses(xs, patterns, chunks, chunk_weights, mask)
  if iterates == "last":
    loss = per_iterate[-1]
  elif early_weight is None:
    loss = jnp.sum(per_iterate)
  else:
    loss = early_weight * jnp.sum(per_iterate[:-1]) + per_iterate[-1]
  metrics.update(
      writing_energy=write_losses.energy,
      writing_grad_penalty=write_losses.grad_penalty,
      writing_prior_penalty=write_losses.prior_penalty)
  return loss, metrics


def chunk_weights_at(step: jax.Array, start: Tuple[float, ...],
                     anneal_steps: int) -> jax.Array:
  """A stream's chunk weights at meta-step `step`, [C]: `start` at step 0
  (e.g. the newest chunk only), moving linearly to uniform (all ones) at
  `anneal_steps`: a curriculum from the newest chunk to all of them."""
  kept = iterate_weight(step, anneal_steps)  # The same linear anneal, 1 -> 0.
  return kept * jnp.asarray(start, jnp.float32) + (1.0 - kept)


def iterate_weight(step: jax.Array, anneal_steps: int) -> jax.Array:
  """The early iterates' weight at meta-step `step`: 1 at step 0, falling
  linearly to 0 at `anneal_steps` (MAML++, Antoniou et al. 2019)."""
  return jnp.clip(1.0 - step / anneal_steps, 0.0, 1.0)


def schedules(meta: MetaParams, rule: memory_lib.Rule = memory_lib.Rule()
              ) -> Dict[str, jax.Array]:
  """The learned rates, in their constrained form, for logging."""
  alpha, beta = memory_lib.penalty_weights(meta.write.penalties, rule.rates)
  rates = jnp.stack([memory_lib.positive(r, rule.rates) for r in
                     jax.tree_util.tree_leaves(meta.write.learning_rates)])
  extra = {}
  if meta.write.n_exponent is not None:  # [3]: p of (n / n_ref)^p, per term.
    extra["write_n_exponent"] = meta.write.n_exponent
  if meta.write.forgetting is not None:  # [L]: λ of each writable tensor.
    extra["write_forgetting"] = jnp.stack(jax.tree_util.tree_leaves(
        memory_lib.forgetting_factors(meta.write)))
  return dict(extra,
      read_step_sizes=memory_lib.step_size_schedule(meta.read.step_sizes, rule.rates),
      read_momentum=memory_lib.momentum_schedule(meta.read.momentum),
      grad_penalty=alpha, prior_penalty=beta,
      write_lr_mean=jnp.mean(rates, axis=(0, 1)),  # [3]: per writing term.
  )
