"""Evaluation on random test batches (Appendix A: 1,000 batches, 5th/95th pct).

The evaluation is jitted on one copy of the meta-parameters: it writes and
reads `batches_per_call` independent memories per call (a vmap), with data and
distortion keys derived from the evaluation seed, so any two models are scored
on exactly the same batches and queries.

Image results come with their controls (docs/protocols.md, "Common to all"),
computed on the same batches and queries as the model's score
(`controls=True`):
  query        the distorted query itself.
  erase        the query with the distorted pixels set to one constant, told
               where they are (`tasks.Task.erase`; the constant is defined in
               `setups.images.erase_value`: 0, the background, for binary
               images; 0.5 for RGB).
  other_batch  the same model with its memory written with another batch of
               N images of the same split (disjoint from the stored batch
               where the split allows), then read from the same queries: what
               the stored content adds.
  writing_off  the same model with writing switched off (T = 0: the weights
               stay θ̄, `model.writing_off`); models with an initial memory (EBMM).
"""
import functools
import time
from typing import Dict, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from ebmm_jax import setups
from ebmm_jax.core import progress
from ebmm_jax.setups import images as image_setups
from ebmm_jax.training import metrics as metrics_lib


CONTROLS = ("erase", "other_batch", "writing_off")


def _evaluate_call(exp: setups.Experiment, unwritten, erase: bool, meta_params,
                   patterns: jax.Array, others, k_distort: jax.Array):
  """Scores of every iterate [B, K, N], of the queries [B, N] and of the
  controls asked for, {name: [B, N]} (writing off per iterate [B, K, N]):
  `erase`; another batch when `others` (one per memory, [B, N, ...]) is
  given; writing off when `unwritten` (the model with T = 0) is."""
  score_all = jax.vmap(exp.task.score, in_axes=(0, None))  # [K, N]

  def one(p, other, k):
    queries, known = exp.task.distort(k, p)
    # EBMM (write, Eq. 4, then read, Eq. 1) or any memory of Table 1.
    xs = exp.model.retrieve(meta_params, p, queries, known)
    controls = {}
    if erase:
      controls["erase"] = exp.task.score(exp.task.erase(k, p), p)
    if other is not None:
      # The same queries, read from a memory that stores another batch.
      controls["other_batch"] = exp.task.score(
          exp.model.retrieve(meta_params, other, queries, known)[-1], p)
    if unwritten is not None:
      controls["writing_off"] = score_all(
          unwritten.retrieve(meta_params, p, queries, known), p)
    return score_all(xs, p), exp.task.score(queries, p), controls

  keys = jax.random.split(k_distort, patterns.shape[0])
  # One memory after another, like the meta-step (`training.step.batched_loss`):
  # a vmap would batch the written weights and every matmul with them.
  return jax.lax.map(lambda args: one(*args), (patterns, others, keys))


def other_batches(exp: setups.Experiment, key: jax.Array, indices, num_batches: int,
                  num_patterns: int) -> Tuple[jax.Array, bool]:
  """For each of `num_batches` memories, another batch of `num_patterns`
  images of the evaluation split, drawn with `key`: (images [B, N, ...],
  disjoint). Disjoint from the memory's own batch (`indices` [B, N] into the
  split) when the split has 2N images and batches are uniform; otherwise an
  independent draw (class-correlated batches of Appendix A.7 would need 2N
  drawings of a class), which may share an image with it by chance."""
  sampler = exp.sample_test
  size = getattr(sampler, "images", None)
  size = 0 if size is None else size.shape[0]
  uniform = not exp.config.data.get("batch_classes", 0)
  if indices is None or not uniform or size < 2 * num_patterns:
    return sampler(key, num_batches, num_patterns), False
  candidates, cand_indices = sampler.sample_with_indices(key, num_batches,
                                                         2 * num_patterns)
  return _disjoint(candidates, cand_indices, indices, num_patterns), True


@functools.partial(jax.jit, static_argnums=3)
def _disjoint(candidates, cand_indices, indices, num_patterns):
  """The first `num_patterns` candidates (of 2N distinct ones) not in
  `indices`: at most N of them are, so N always remain."""
  clash = jnp.any(cand_indices[:, :, None] == indices[:, None, :], axis=-1)  # [B, 2N]
  order = jnp.argsort(clash, axis=1, stable=True)[:, :num_patterns]  # [B, N]
  order = order.reshape(order.shape + (1,) * (candidates.ndim - 2))
  return jnp.take_along_axis(candidates, order, axis=1)


def evaluate(exp: setups.Experiment, meta_params,
             num_patterns: int, num_batches: int, batches_per_call: int = 50,
             seed: int = 12345, progress_secs: float = 60.0,
             controls: bool | Sequence[str] = False) -> Dict[str, object]:
  """Scores `num_batches` random test memories of `num_patterns` patterns.

  `meta_params` are EBMM's `meta.MetaParams` or a baseline's parameters
  (`exp.model`).

  Progress (batches done, rate, ETA) is logged every `progress_secs`.

  Returns:
    dict with `final` (score of x(K), per query, [num_batches * N]),
    `per_iterate` (mean score at each x(k), [K]), `query` (the distorted
    queries' own score, summary), and `summary` (mean, p5, p95 of `final`,
    and `batch_sem`: the standard error of the mean over the test batches,
    std of the per-batch means / sqrt(num_batches), 0 for one batch; queries
    of one batch share a memory, so they are not counted as independent),
    and `split`, the split the batches come from (image experiments). With
    `controls` (True: all of `CONTROLS`; or some of their names, e.g.
    ("erase",), the one that costs no model call), also `controls`: {name:
    summary (with `batch_sem`)} for each control asked for that the model
    has, the writing-off one with its `per_iterate` means, and with the
    other batch `other_batch_disjoint` (whether the other batches never share
    an image with the stored ones).
  """
  if num_batches < 1:
    raise ValueError(f"num_batches must be >= 1, got {num_batches}.")
  if getattr(exp.sample_test, "split", None) == "validation":
    seen = image_setups.validation_seen_in_training(exp.config)
    if seen:  # Every evaluator (sweeps, studies, launchers) comes through here.
      raise ValueError(f"Cannot score the validation split: this model may have "
                       f"seen its images in training: {seen}. Set "
                       "data.eval_split='test'.")
  wanted = CONTROLS if controls is True else tuple(controls or ())
  unknown = sorted(set(wanted) - set(CONTROLS))
  if unknown:
    raise ValueError(f"Unknown controls {unknown}; known: {list(CONTROLS)}.")
  per_call = min(batches_per_call, num_batches)
  unwritten = None  # Writing off: a control for models with an initial memory.
  if "writing_off" in wanted and exp.model.writing_off is not None:
    unwritten = exp.model.writing_off()
  erase = "erase" in wanted and exp.task.erase is not None
  fn = jax.jit(functools.partial(_evaluate_call, exp, unwritten, erase))
  base = jax.random.PRNGKey(seed)
  finals, iterates, queries = [], [], []
  control_scores: Dict[str, list] = {}
  off_iterates, disjoint = [], True
  done, start, last_log = 0, time.time(), time.time()
  while done < num_batches:
    # Fixed-size calls (one compilation); the last one's surplus is dropped.
    k_data, k_distort = jax.random.split(jax.random.fold_in(base, done))
    others = None
    if "other_batch" in wanted:
      # The same batches as without controls; the other batches from a key
      # of their own.
      sampler = exp.sample_test
      if hasattr(sampler, "sample_with_indices"):
        patterns, indices = sampler.sample_with_indices(k_data, per_call, num_patterns)
      else:
        patterns, indices = sampler(k_data, per_call, num_patterns), None
      others, apart = other_batches(exp, jax.random.fold_in(k_data, 1), indices,
                                    per_call, num_patterns)
      disjoint = disjoint and apart
    else:
      patterns = exp.sample_test(k_data, per_call, num_patterns)  # [B, N, ...]
    scores, query, extra = jax.device_get(fn(meta_params, patterns, others, k_distort))
    take = min(per_call, num_batches - done)
    finals.append(scores[:take, -1].ravel())
    iterates.append(scores[:take].mean(axis=(0, 2)) * take)
    queries.append(query[:take].ravel())
    for name, value in extra.items():
      if name == "writing_off":
        off_iterates.append(value[:take].mean(axis=(0, 2)) * take)
        value = value[:, -1]
      control_scores.setdefault(name, []).append(value[:take].ravel())
    done += take
    now = time.time()
    if now - last_log >= progress_secs or done == num_batches:
      rate = done / max(now - start, 1e-9)
      logging.info("evaluated %d/%d batches (N=%d)  %.2f batches/s  ETA %s",
                   done, num_batches, num_patterns, rate,
                   progress.format_eta((num_batches - done) / rate))
      last_log = now
  final = np.concatenate(finals)
  out = dict(final=final,
             per_iterate=np.sum(iterates, axis=0) / num_batches,
             query=metrics_lib.summarize(np.concatenate(queries)),
             summary=_summary(final, num_batches))
  split = getattr(exp.sample_test, "split", None)
  if split is not None:
    out["split"] = split
  if wanted:
    out["controls"] = {name: _summary(np.concatenate(v), num_batches)
                       for name, v in control_scores.items()}
    if off_iterates:
      out["controls"]["writing_off"]["per_iterate"] = (
          np.sum(off_iterates, axis=0) / num_batches).tolist()
    if "other_batch" in wanted:
      out["other_batch_disjoint"] = disjoint
  return out


def _summary(scores: np.ndarray, num_batches: int) -> Dict[str, float]:
  """mean, p5, p95, count of per-query `scores`, and `batch_sem`: the
  standard error of the mean over the test batches (0 for one batch)."""
  summary = metrics_lib.summarize(scores)
  batch_means = scores.reshape(num_batches, -1).mean(axis=1)
  summary["batch_sem"] = (float(batch_means.std(ddof=1) / np.sqrt(num_batches))
                          if num_batches > 1 else 0.)
  return summary
