"""How many patterns each training memory holds, meta-step by meta-step.

A model is trained at one N (`data.num_patterns`, the paper), on a curriculum
over N (`data.curriculum`), on a mix of N (`data.train_num_patterns`, one N
per meta-step, one compilation per N), or across N within every meta-step
(`data.num_patterns_per_memory`): each memory draws its own n <= N_max =
`data.num_patterns` and its batch is padded to N_max with a pattern mask that
writing, reading and the meta-loss respect, so one compiled step trains every
N. The writing loss (Eq. 3) averages over the batch, so one set of
meta-parameters can write batches of any size.
"""
import ml_collections
import numpy as np


def num_patterns_at(config: ml_collections.ConfigDict, step: int) -> int:
  """N of training meta-step `step`: `data.num_patterns`, or the curriculum's
  (`data.curriculum`, "N@STEP,..." : N from that step on), or one of
  `data.train_num_patterns` ("16,32,64": a pseudo-random choice per step,
  the same on every process and on resume)."""
  d = config.data
  curriculum = parse_curriculum(d.get("curriculum", ""), d.num_patterns)
  if curriculum:
    n = curriculum[0][0]
    for n_k, start in curriculum:
      if step >= start:
        n = n_k
    return n
  mix = parse_num_patterns(d.get("train_num_patterns", ""))
  if mix:
    return mix[int(np.random.default_rng([config.seed, step]).integers(len(mix)))]
  return d.num_patterns


def parse_distribution(spec: str, num_patterns: int):
  """`data.num_patterns_per_memory` -> [(n, probability)], n increasing; [] if unset.

    "uniform"        every n in 1..num_patterns, equally likely
    "uniform:A-B"    every n in A..B
    "loguniform"     every n in 1..num_patterns, P(n) ~ 1/n (each octave
                     of n equally likely); also "loguniform:A-B"
    "16,32,64"       one of these, equally likely
    "16:1,64:3"      with these relative weights
  """
  spec = (spec or "").strip()
  if not spec:
    return []
  error = (f"data.num_patterns_per_memory={spec!r} must be 'uniform', 'uniform:A-B', "
           "'loguniform', 'loguniform:A-B', a list '16,32,64' or weighted '16:1,64:3'")
  try:
    kind = spec.partition(":")[0]
    if kind in ("uniform", "loguniform"):
      low, high = 1, num_patterns
      if spec != kind:
        low, high = (int(v) for v in spec[len(kind) + 1:].split("-"))
      weights = {n: (1.0 if kind == "uniform" else 1.0 / n) for n in range(low, high + 1)}
    else:
      weights = {}
      for item in (v.strip() for v in spec.split(",") if v.strip()):
        n, _, w = item.partition(":")
        weights[int(n)] = weights.get(int(n), 0.0) + (float(w) if w else 1.0)
  except ValueError:
    raise ValueError(error + ".") from None
  if not weights or min(weights) < 1 or any(w <= 0 for w in weights.values()):
    raise ValueError(error + ", with every n >= 1 and every weight > 0.")
  if max(weights) > num_patterns:
    raise ValueError(f"data.num_patterns_per_memory={spec!r} draws n up to "
                     f"{max(weights)}, above data.num_patterns={num_patterns} (the "
                     "padded batch size N_max); raise data.num_patterns.")
  total = sum(weights.values())
  return [(n, weights[n] / total) for n in sorted(weights)]


def counts_at(config: ml_collections.ConfigDict, step: int, first: int,
              count: int) -> np.ndarray:
  """int32 [count]: n of training memories first..first+count-1 at meta-step
  `step`, drawn from `data.num_patterns_per_memory` (restricted to n <= the
  step's padded size). Memory m's draw depends only on (seed, step, m), so any
  split of the meta-batch over processes and devices, and a resumed run,
  draw the same n."""
  d = config.data
  size = num_patterns_at(config, step)  # The padded size N_max (a curriculum stage caps it).
  dist = [(n, p) for n, p in parse_distribution(d.num_patterns_per_memory,
                                                 d.num_patterns) if n <= size]
  if not dist:  # A curriculum stage below every n of the distribution.
    return np.full((count,), size, np.int32)
  ns = np.array([n for n, _ in dist])
  ps = np.array([p for _, p in dist])
  ps = ps / ps.sum()
  return np.array([ns[np.random.default_rng([config.seed, step, m]).choice(len(ns), p=ps)]
                   for m in range(first, first + count)], np.int32)


def parse_padded_sizes(spec: str, num_patterns: int):
  """`data.padded_sizes` "16,32,64,96" -> [16, 32, 64, 96]; "" -> [num_patterns]."""
  try:
    sizes = [int(v) for v in (spec or "").split(",") if v.strip()]
  except ValueError:
    raise ValueError(f"data.padded_sizes={spec!r} must be comma-separated integers, "
                     "e.g. '16,32,64,96'.") from None
  if not sizes:
    return [num_patterns]
  if sizes != sorted(set(sizes)) or sizes[0] < 1 or sizes[-1] != num_patterns:
    raise ValueError(f"data.padded_sizes={spec!r} must increase, start at >= 1 and "
                     f"end at data.num_patterns={num_patterns} (the largest n).")
  return sizes


def padded_size_at(config: ml_collections.ConfigDict, step: int,
                   meta_batch_size: int) -> int:
  """The size every memory of meta-step `step` is padded to: the step's N
  (`num_patterns_at`), or with `data.padded_sizes` the smallest of them that
  holds the largest n drawn for the whole meta-batch (every process computes
  the same from (seed, step))."""
  size = num_patterns_at(config, step)
  d = config.data
  if not d.get("num_patterns_per_memory", "") or not d.get("padded_sizes", ""):
    return size
  largest = int(counts_at(config, step, 0, meta_batch_size).max())
  return min([s for s in parse_padded_sizes(d.padded_sizes, d.num_patterns)
              if s >= largest] + [size])


def parse_num_patterns(spec: str):
  """"16,32,64" -> [16, 32, 64]; "" -> []."""
  try:
    out = [int(v) for v in spec.split(",") if v.strip()]
  except ValueError:
    raise ValueError(f"data.train_num_patterns={spec!r} must be comma-separated "
                     "integers, e.g. '16,32,64'.") from None
  if any(n < 1 for n in out):
    raise ValueError(f"data.train_num_patterns={spec!r}: every N must be >= 1.")
  return out


def parse_curriculum(spec: str, num_patterns: int = 0):
  """"16@0,32@1000" -> [(16, 0), (32, 1000)] (steps increasing, the first 0).

  "N" stands for `num_patterns` (data.num_patterns), and with `num_patterns`
  given no stage writes more: "16@0,N@1000" is 16 then N for N > 16, and N
  throughout for N <= 16.
  """
  out = []
  for item in (v.strip() for v in spec.split(",")):
    if not item:
      continue
    try:
      n_text, start_text = item.split("@")
      n = num_patterns if n_text.strip() == "N" and num_patterns else int(n_text)
      start = int(start_text)
    except ValueError:
      raise ValueError(f"data.curriculum={spec!r}: each item must be N@STEP, "
                       "e.g. '16@0,32@1000,64@3000'.") from None
    out.append((min(n, num_patterns) if num_patterns else n, start))
  if out and (out[0][1] != 0 or any(b[1] <= a[1] for a, b in zip(out, out[1:]))
              or any(n < 1 for n, _ in out)):
    raise ValueError(f"data.curriculum={spec!r}: steps must start at 0 and "
                     "increase, and every N must be >= 1.")
  return out


def trained_ns(config: ml_collections.ConfigDict) -> list:
  """Every N a config trains at, increasing (the last is where it ends)."""
  d = config.data
  dist = parse_distribution(d.get("num_patterns_per_memory", ""), d.num_patterns)
  if dist:
    return [n for n, _ in dist]
  ns = ([n for n, _ in parse_curriculum(d.get("curriculum", ""), d.num_patterns)][-1:] or
        parse_num_patterns(d.get("train_num_patterns", "")) or [d.num_patterns])
  return sorted(set(ns))
