"""How many patterns each training memory holds, meta-step by meta-step.

A model is trained at one N (`data.num_patterns`, the paper), on a curriculum
over N (`data.curriculum`), or on a mix of N (`data.train_num_patterns`): the
writing loss (Eq. 3) averages over the batch, so one set of meta-parameters
can write batches of any size.
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
  ns = ([n for n, _ in parse_curriculum(d.get("curriculum", ""), d.num_patterns)][-1:] or
        parse_num_patterns(d.get("train_num_patterns", "")) or [d.num_patterns])
  return sorted(set(ns))
