"""Evaluation on random test batches (Appendix A: 1,000 batches, 5th/95th pct).

The evaluation is jitted on one copy of the meta-parameters: it writes and
reads `batches_per_call` independent memories per call (a vmap), with data and
distortion keys derived from the evaluation seed, so any two models are scored
on exactly the same batches and queries.
"""
import functools
import time
from typing import Dict

import jax
import numpy as np
from absl import logging

from ebmm_jax import setups
from ebmm_jax.core import progress
from ebmm_jax.training import metrics as metrics_lib


def _evaluate_call(exp: setups.Experiment, meta_params,
                   patterns: jax.Array, k_distort: jax.Array):
  """Scores of every iterate [B, K, N] and of the queries [B, N]."""

  def one(p, k):
    queries, known = exp.task.distort(k, p)
    # EBMM (write, Eq. 4, then read, Eq. 1) or any memory of Table 1.
    xs = exp.model.retrieve(meta_params, p, queries, known)
    scores = jax.vmap(exp.task.score, in_axes=(0, None))(xs, p)  # [K, N]
    return scores, exp.task.score(queries, p)

  keys = jax.random.split(k_distort, patterns.shape[0])
  # One memory after another, like the meta-step (`training.step.batched_loss`):
  # a vmap would batch the written weights and every matmul with them.
  return jax.lax.map(lambda args: one(*args), (patterns, keys))


def evaluate(exp: setups.Experiment, meta_params,
             num_patterns: int, num_batches: int, batches_per_call: int = 50,
             seed: int = 12345, progress_secs: float = 60.0) -> Dict[str, object]:
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
    of one batch share a memory, so they are not counted as independent).
  """
  if num_batches < 1:
    raise ValueError(f"num_batches must be >= 1, got {num_batches}.")
  per_call = min(batches_per_call, num_batches)
  fn = jax.jit(functools.partial(_evaluate_call, exp))
  base = jax.random.PRNGKey(seed)
  finals, iterates, queries = [], [], []
  done, start, last_log = 0, time.time(), time.time()
  while done < num_batches:
    # Fixed-size calls (one compilation); the last one's surplus is dropped.
    k_data, k_distort = jax.random.split(jax.random.fold_in(base, done))
    patterns = exp.sample_test(k_data, per_call, num_patterns)  # [B, N, ...]
    scores, query = jax.device_get(fn(meta_params, patterns, k_distort))
    take = min(per_call, num_batches - done)
    finals.append(scores[:take, -1].ravel())
    iterates.append(scores[:take].mean(axis=(0, 2)) * take)
    queries.append(query[:take].ravel())
    done += take
    now = time.time()
    if now - last_log >= progress_secs or done == num_batches:
      rate = done / max(now - start, 1e-9)
      logging.info("evaluated %d/%d batches (N=%d)  %.2f batches/s  ETA %s",
                   done, num_batches, num_patterns, rate,
                   progress.format_eta((num_batches - done) / rate))
      last_log = now
  final = np.concatenate(finals)
  summary = metrics_lib.summarize(final)
  batch_means = final.reshape(num_batches, -1).mean(axis=1)
  summary["batch_sem"] = (float(batch_means.std(ddof=1) / np.sqrt(num_batches))
                          if num_batches > 1 else 0.)
  return dict(final=final,
              per_iterate=np.sum(iterates, axis=0) / num_batches,
              query=metrics_lib.summarize(np.concatenate(queries)),
              summary=summary)
