"""Forgetting curves: the error on each chunk of a stream after the whole stream.

A memory is written with N patterns that arrive in C chunks, oldest first;
after the last chunk every pattern is queried (the binary task's distortion)
and scored (wrong bits). The curve is the mean error of each chunk's
patterns, oldest to newest, with its standard error over the test batches
(the queries of one batch share a memory, so batches, not queries, are the
independent draws). A memory that forgets has its oldest chunks worst.

Every model is scored on the same batches and queries (`stream_batches`,
the evaluation seed's keys of `evaluation.evaluate`), and each writes the
stream incrementally, chunk by chunk or pattern by pattern:

  EBMM               `model.write_stream` with the given chunks: the learned
                     forgetting before each chunk after the first, then T
                     writing steps (Eq. 4). A model trained without streams
                     has no forgetting parameter and appends (λ = 1: each
                     chunk written from the memory the previous ones left).
  Hopfield Hebb      W += X_c^T X_c / D per chunk (`hopfield.hebb(initial=)`);
                     a sum, so the order does not matter and the curve is flat.
  Hopfield Storkey   pattern by pattern from the previous chunk's W
                     (`hopfield.storkey(initial=)`).
  Modern Hopfield    a ring buffer of C rows written in order: the last C
                     patterns are kept verbatim, older ones overwritten.
  learned baselines  (Memory Networks, MANN, LSTM, plasticity, Kanerva, from a
                     trained workdir) their write consumes the patterns in
                     order (a ring of slots or a recurrent scan), so writing
                     the ordered stream is writing it chunk by chunk.

Not incremental: the Hopfield pseudo-inverse rule (a projection onto the span
of all patterns, computed from all of them at once; `NOT_INCREMENTAL`).

Images (e.g. Omniglot, 64 = 4 x 16): the task's distortion (a block of noise
whose position is not revealed) and score (Hamming error); the ring of the
modern Hopfield network is sized to the EBMM model's memory (C (D + 1)
floats within it, `ring_capacity`), and the Hopfield rules, whose D (D - 1) / 2
weights are many times that memory for D pixels, are listed, not run
(`hopfield_not_at_budget`). Two controls without memory are scored on the
same queries (`control_curves`): the query itself, and the query with the
distorted pixels erased where they are (told the block; the image
protocols' erase control).
"""
import dataclasses
import math
from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from ebmm_jax import setups
from ebmm_jax.baselines import hopfield
from ebmm_jax.baselines import modern_hopfield
from ebmm_jax.core import memory as memory_lib

# Models the package has that cannot write a stream incrementally, and why.
NOT_INCREMENTAL = {
    hopfield.RULE_NAMES["pseudo_inverse"]:
        "not incremental: its weights are the projection onto the span of all "
        "patterns, computed from all of them at once",
}
# Hopfield rules that append a chunk to written weights.
INCREMENTAL_RULES = ("hebb", "storkey")


class StreamBatches(NamedTuple):
  """The test memories every model is scored on, in stream order."""
  patterns: np.ndarray  # [B, N, D]
  queries: np.ndarray  # [B, N, D]
  known: Optional[np.ndarray]  # [B, N, D] bool, the undistorted entries; None for images.
  erased: Optional[np.ndarray] = None  # [B, N, ...] the erase control (tasks with one).


def stream_batches(exp: setups.Experiment, num_patterns: int, num_batches: int,
                   seed: int = 12345, batches_per_call: int = 50) -> StreamBatches:
  """`num_batches` test memories of `num_patterns` patterns and their queries,
  drawn with the keys `evaluation.evaluate` uses for the same seed; for a
  task with an erase control (images), the erased queries (the same keys)."""
  if num_batches < 1:
    raise ValueError(f"num_batches must be >= 1, got {num_batches}.")
  per_call = min(batches_per_call, num_batches)
  erase = exp.task.erase

  @jax.jit
  def draw(keys, patterns):
    queries, known = jax.vmap(exp.task.distort)(keys, patterns)
    erased = None if erase is None else jax.vmap(erase)(keys, patterns)
    return queries, known, erased

  base = jax.random.PRNGKey(seed)
  out = [], [], [], []
  done = 0
  while done < num_batches:
    k_data, k_distort = jax.random.split(jax.random.fold_in(base, done))
    patterns = exp.sample_test(k_data, per_call, num_patterns)  # [B, N, ...]
    take = min(per_call, num_batches - done)
    drawn = draw(jax.random.split(k_distort, per_call), patterns)
    for lst, value in zip(out, (patterns, *drawn)):
      if value is not None:
        lst.append(np.asarray(value)[:take])
    done += take
  return StreamBatches(*(np.concatenate(v) if v else None for v in out))


def pattern_size(batches: StreamBatches) -> int:
  """D: the entries of one pattern (bits, or an image's pixels)."""
  return math.prod(batches.patterns.shape[2:])


def check_stream(chunks: Sequence[int], num_patterns: int) -> Tuple[int, ...]:
  """The chunk sizes as a tuple; raises ValueError unless they are positive
  and sum to the memories' `num_patterns`."""
  return memory_lib.check_chunks(chunks, num_patterns)


def chunk_means(scores: np.ndarray, chunks: Sequence[int]) -> np.ndarray:
  """Per-pattern scores [B, N] -> each chunk's mean [B, C], oldest first."""
  edges = np.cumsum((0,) + tuple(chunks))
  return np.stack([scores[:, a:b].mean(axis=1) for a, b in zip(edges[:-1], edges[1:])],
                  axis=1)


def curve(scores: np.ndarray, chunks: Sequence[int]) -> Dict[str, object]:
  """The forgetting curve of per-pattern scores [B, N]: `mean` and `sem` (the
  standard error over batches, 0 for one) per chunk, oldest first, and the
  number of batches."""
  per_batch = chunk_means(np.asarray(scores, np.float64), chunks)  # [B, C]
  num_batches = per_batch.shape[0]
  sem = (per_batch.std(axis=0, ddof=1) / np.sqrt(num_batches) if num_batches > 1
         else np.zeros(per_batch.shape[1]))
  return dict(mean=per_batch.mean(axis=0).tolist(), sem=sem.tolist(),
              chunks=list(chunks), num_batches=num_batches)


def _score(exp: setups.Experiment, retrieved, patterns) -> np.ndarray:
  """The task's score of every retrieved pattern, [B, N]."""
  return np.asarray(jax.vmap(exp.task.score)(jnp.asarray(retrieved, jnp.float32),
                                              jnp.asarray(patterns, jnp.float32)))


def _in_calls(fn, batches: StreamBatches, per_call: int) -> np.ndarray:
  """fn(patterns, queries, known) on groups of `per_call` memories (one
  compiled size: the last group is padded with its first memory)."""
  total = batches.patterns.shape[0]
  per_call = min(per_call, total)
  out = []
  inputs = (batches.patterns, batches.queries, batches.known)  # known: None for images.
  for start in range(0, total, per_call):
    group = [None if v is None else np.asarray(v[start:start + per_call]) for v in inputs]
    take = group[0].shape[0]
    if take < per_call:
      group = [None if g is None else
               np.concatenate([g, np.repeat(g[:1], per_call - take, axis=0)]) for g in group]
    out.append(np.asarray(fn(*group))[:take])
  return np.concatenate(out)


def model_curve(exp: setups.Experiment, params, batches: StreamBatches,
                chunks: Optional[Sequence[int]] = None,
                batches_per_call: int = 50) -> Dict[str, object]:
  """A trained model's forgetting curve: `stream_curve` for a model that
  writes streams with its own forgetting (`model.write_stream`, EBMM), else
  `sequential_curve` (a learned baseline whose write takes patterns in order)."""
  if exp.model.write_stream is not None:
    return stream_curve(exp, params, batches, chunks, batches_per_call)
  if chunks is None:
    raise ValueError(f"{exp.model.name} writes no stream of its own: give the chunks.")
  return sequential_curve(exp, params, batches, chunks, batches_per_call)


def stream_curve(exp: setups.Experiment, meta_params, batches: StreamBatches,
                 chunks: Optional[Sequence[int]] = None,
                 batches_per_call: int = 50) -> Dict[str, object]:
  """The forgetting curve of a model that writes streams (EBMM): each memory
  written as a stream of `chunks` (default the model's `memory.stream_chunks`)
  by `model.write_stream`, every query read after the last chunk (x(K)
  scored).

  An EBMM model trained without streams has no forgetting parameter: it
  appends, each chunk written from the memory the previous ones left (λ = 1).
  """
  num = batches.patterns.shape[1]
  if chunks is None:
    chunks = setups.ebmm.stream_chunks(exp.config)
    if chunks is None:
      raise ValueError("This EBMM model was trained without a stream "
                       "(memory.stream_chunks): give the chunks to write it in.")
  chunks = check_stream(chunks, num)
  model = exp.model

  @jax.jit
  def retrieve(patterns, queries, known):
    def one(args):
      p, q, k = args
      written = model.write_stream(meta_params, p, chunks)
      return model.read(meta_params, written, q, k)[-1]
    # One memory after another, like the evaluator (a vmap would batch θ).
    return jax.lax.map(one, (patterns, queries, known))

  retrieved = _in_calls(retrieve, batches, batches_per_call)
  out = curve(_score(exp, retrieved, batches.patterns), chunks)
  out.update(memory_floats=model.memory_floats,
             writes="stream write, learned forgetting" if meta_params.write.forgetting
             is not None else "appends chunk by chunk (no forgetting parameter)")
  return out


def hopfield_stream_weights(rule: str, patterns: np.ndarray,
                            chunks: Sequence[int]) -> np.ndarray:
  """Hopfield weights [B, D, D] after writing each memory's stream chunk by
  chunk (`rule` "hebb" or "storkey", each chunk appended to the weights the
  previous ones left)."""
  if rule not in INCREMENTAL_RULES:
    name = hopfield.RULE_NAMES.get(rule, rule)
    raise ValueError(f"Hopfield rule {rule!r} cannot write a stream chunk by chunk"
                     f"{': ' + NOT_INCREMENTAL[name] if name in NOT_INCREMENTAL else ''}; "
                     f"incremental rules: {list(INCREMENTAL_RULES)}.")
  chunks = check_stream(chunks, patterns.shape[1])
  write = hopfield.hebb if rule == "hebb" else hopfield.storkey
  weights = None
  edges = np.cumsum((0,) + chunks)
  for a, b in zip(edges[:-1], edges[1:]):
    weights = write(patterns[:, a:b], initial=weights)
  return weights


def hopfield_curve(rule: str, batches: StreamBatches, chunks: Sequence[int],
                   seed: int = 12345) -> Dict[str, object]:
  """A Hopfield rule's forgetting curve: weights written chunk by chunk
  (`hopfield_stream_weights`), then the asynchronous clamped retrieval of
  Table 1 (`hopfield.retrieve`, update orders from a generator seeded with
  `seed`), scored by wrong bits."""
  weights = hopfield_stream_weights(rule, batches.patterns, chunks)
  result = hopfield.retrieve(weights, batches.queries, batches.known,
                             np.random.default_rng(seed))
  errors = hopfield.error_bits(result.states, batches.patterns)  # [B, N]
  out = curve(errors, chunks)
  out.update(memory_floats=hopfield.memory_size(batches.patterns.shape[-1]),
             writes="chunk by chunk (" + ("sum of outer products" if rule == "hebb"
                                          else "pattern by pattern") + ")")
  return out


def modern_hopfield_capacity(dim: int) -> int:
  """Rows C of a modern Hopfield memory at the Hopfield budget (Appendix
  A.2): C (D + 1) <= D (D - 1) / 2 + D, i.e. 64 for D = 128."""
  return hopfield.memory_size(dim) // (dim + 1)


def ring_capacity(dim: int, memory_floats: int) -> int:
  """Rows C of a modern Hopfield memory within `memory_floats`: C (D + 1)
  <= memory_floats (7 for 1,024-pixel images in 8,092 floats)."""
  return memory_floats // (dim + 1)


def hopfield_not_at_budget(dim: int, memory_floats: int) -> str:
  """Why the Hopfield rules are not run on D-entry patterns beside a memory of
  `memory_floats`: their weights alone are many times that memory."""
  weights = hopfield.memory_size(dim)
  return (f"not run: on {dim:,}-entry patterns its weights are {weights:,} floats, "
          f"{weights / memory_floats:.0f}x the memory budget ({memory_floats:,})")


def control_curves(exp: setups.Experiment, batches: StreamBatches,
                   chunks: Sequence[int]) -> Dict[str, Dict[str, object]]:
  """The curves of the controls without memory, on the same queries: the
  query itself, and (tasks with an erase control) the query with its
  distorted entries erased where they are, told where (0 floats of memory)."""
  chunks = check_stream(chunks, batches.patterns.shape[1])
  out = {"Query (no memory)": batches.queries}
  if batches.erased is not None:
    out["Erase the distortion, told where (control)"] = batches.erased
  curves = {}
  for label, values in out.items():
    c = curve(_score(exp, values, batches.patterns), chunks)
    c.update(memory_floats=0, writes="nothing written (a control)")
    curves[label] = c
  return curves


def modern_hopfield_curve(batches: StreamBatches, chunks: Sequence[int],
                          beta: float, capacity: int,
                          exp: setups.Experiment) -> Dict[str, object]:
  """The modern Hopfield network's forgetting curve: the stream written in
  order into a ring buffer of `capacity` rows (the last `capacity` patterns
  kept, as chunk-by-chunk appending would keep them), one softmax step at
  inverse temperature `beta`. `exp` gives the task's score."""
  chunks = check_stream(chunks, batches.patterns.shape[1])

  @jax.jit
  def retrieve(patterns, queries, known):
    def one(p, q, k):
      state = modern_hopfield.write(capacity, p)
      return modern_hopfield.read(jnp.float32(beta), state, q, k)[-1]
    return jax.vmap(one)(patterns, queries, known)

  retrieved = _in_calls(retrieve, batches, 50)
  out = curve(_score(exp, retrieved, batches.patterns), chunks)
  dim = pattern_size(batches)
  out.update(memory_floats=modern_hopfield.memory_floats(capacity, dim), beta=beta,
             capacity=capacity, writes=f"in order into a ring of {capacity} rows")
  return out


def tuned_beta(num_patterns: int, dim: int, capacity: int, beta_batches: int = 100,
               seed: int = 0, images: Optional[setups.Experiment] = None
               ) -> Dict[str, object]:
  """The modern Hopfield β picked on training batches at this N, D and
  capacity (`modern_hopfield.tune_beta`, as Table 1 does): on random binary
  strings, or on the training images and distortion of `images`."""
  from ebmm_jax.setups import specs  # pylint: disable=g-import-not-at-top
  config = specs.load("modern_hopfield", [
      f"data.num_patterns={num_patterns}", f"data.pattern_dim={dim}",
      f"model.capacity={capacity}"])
  exp = (setups.build(config) if images is None else  # The same ring on the images.
         dataclasses.replace(images, config=config,
                             model=modern_hopfield.build(config, images.task)))
  return modern_hopfield.tune_beta(exp, num_patterns, num_batches=beta_batches,
                                   seed=seed)


def sequential_curve(exp: setups.Experiment, params, batches: StreamBatches,
                     chunks: Sequence[int], batches_per_call: int = 50
                     ) -> Dict[str, object]:
  """A learned baseline's forgetting curve (`exp.model`, e.g. Memory Networks
  or MANN from a trained workdir): its write consumes the patterns in order
  (a ring of slots or a recurrent scan), so the ordered stream is written
  chunk by chunk; x(K) scored."""
  chunks = check_stream(chunks, batches.patterns.shape[1])
  model = exp.model

  @jax.jit
  def retrieve(patterns, queries, known):
    return jax.lax.map(lambda a: model.retrieve(params, *a)[-1], (patterns, queries, known))

  retrieved = _in_calls(retrieve, batches, batches_per_call)
  out = curve(_score(exp, retrieved, batches.patterns), chunks)
  out.update(memory_floats=model.memory_floats, writes="in order (sequential write)")
  return out


def markdown(curves: Dict[str, Dict[str, object]], chunks: Sequence[int],
             not_incremental: Optional[Dict[str, str]] = None) -> str:
  """A table: one row per model, one column per chunk (oldest first), each
  cell the mean error ± its standard error over batches."""
  header = ["model", "memory floats"] + [f"chunk {c + 1}" for c in range(len(chunks))]
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for label, c in curves.items():
    cells = [f"{m:.2f} ± {s:.2f}" for m, s in zip(c["mean"], c["sem"])]
    lines.append("| " + " | ".join([label, f"{c['memory_floats']:,}"] + cells) + " |")
  for label, why in (not_incremental or {}).items():
    lines.append(f"\n{label}: {why}.")
  return "\n".join(lines)


def figure(path: str, curves: Dict[str, Dict[str, object]], title: str = "",
           score_name: str = "error bits") -> str:
  """Error per chunk, one line per model, bars ± one standard error."""
  from ebmm_jax.reporting import plotting  # pylint: disable=g-import-not-at-top
  points = {}
  for label, c in curves.items():
    points[label] = [(i + 1, dict(mean=m, p5=m - s, p95=m + s))
                     for i, (m, s) in enumerate(zip(c["mean"], c["sem"]))]
  num_chunks = max(len(c["mean"]) for c in curves.values())
  # Controls (no memory written) dashed in grey, the models in colour.
  controls = [label for label, c in curves.items() if c.get("memory_floats") == 0]
  return plotting.error_curves(
      path, points, xlabel="chunk of the stream (1 = oldest, written first)",
      ylabel=f"{score_name} after the whole stream (mean ± s.e.)", title=title,
      dashed=controls, x_ticks=range(1, num_chunks + 1), legend_below=True)

