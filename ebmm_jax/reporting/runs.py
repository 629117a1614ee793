"""Families of runs for the analysis launchers: train-or-load, then score.

A sweep (Figure 3's distortion-rate curve, Table 3's four models, Figure 9's
noise levels) is a set of points, each a config and a workdir. `evaluate_points`
trains each point for a wall-time budget (resuming whatever its workdir holds)
or only loads it, then scores it on the same random test batches as every
other point, so the rows can be compared and put next to the paper's.
"""
import dataclasses
import hashlib
import json
import os
import time
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import jax
import ml_collections
from absl import logging

from ebmm_jax.configs import image_base
from ebmm_jax.reporting import analysis
from ebmm_jax.reporting import evaluation
from ebmm_jax.reporting import tables
from ebmm_jax import setups
from ebmm_jax.core import meta
from ebmm_jax.setups import specs
from ebmm_jax import training
from ebmm_jax.training import checkpoint
from ebmm_jax.training import metrics as metrics_lib


@dataclasses.dataclass(frozen=True)
class Point:
  """One run of a sweep."""
  label: str  # e.g. "mem=4k" or "2 classes, 4K".
  config: ml_collections.ConfigDict
  workdir: str


def train_or_load(config: ml_collections.ConfigDict, workdir: str,
                  train_seconds: float = 0.0, train_steps: int = 0
                  ) -> Tuple[meta.MetaParams, int]:
  """Trains `workdir` (resuming it), or only loads it when both budgets are 0.

  Args:
    train_seconds: train at most this much longer (0: no time limit).
    train_steps: train until the run has made this many meta-steps in all
      (0: the config's `train.num_steps`). A step budget makes points
      comparable when the machine's load varies; a time budget bounds cost.

  Returns:
    (meta-params, meta-steps done).
  """
  if train_seconds < 0 or train_steps < 0:
    raise ValueError(f"Budgets must be >= 0, got train_seconds={train_seconds}, "
                     f"train_steps={train_steps}.")
  if train_seconds > 0 or train_steps > 0:
    c = ml_collections.ConfigDict(config.to_dict())
    c.train.max_seconds = float(train_seconds)
    if train_steps:
      c.train.num_steps = int(train_steps)
    state = training.train(c, workdir)
    return state.meta_params, int(jax.device_get(state.step))
  if not os.path.exists(training.checkpoint_dir(workdir)):
    raise FileNotFoundError(
        f"{workdir} has no checkpoints and no training budget was given: "
        "train it first or point at a trained workdir.")
  step, meta_params = training.load_latest(setups.build(config), workdir)
  return meta_params, step


def training_seconds(workdir: str) -> float:
  """Seconds a workdir's logged meta-steps took, all resumptions together
  (from each metric row's step count and rate: compilation and the gaps
  between resumptions are excluded); 0 if nothing was logged."""
  seconds = checkpoint_seconds(workdir)
  return max(seconds.values()) if seconds else 0.0


def training_record(workdir: str) -> Dict[str, object]:
  """Meta-steps and wall time of a workdir's training, from `metrics.jsonl`.

  A resumed run has one session per start (`session_started`); its time is
  the sum of each session's last `session_seconds`. Runs logged before those
  fields existed report the time between their first and last metric line
  (None if there is one line).
  """
  rows = metrics_lib.read_metrics(workdir)
  if not rows:
    return dict(steps=0, seconds=None)
  steps = int(rows[-1]["step"])
  # The training process's CPU seconds over every leg (`train.seconds="cpu"`
  # runs and every run since it was logged); None before.
  cpu = rows[-1].get("train_cpu_seconds")
  if not all("session_seconds" in r for r in rows):
    return dict(steps=steps, cpu_seconds=cpu,
                seconds=rows[-1]["time"] - rows[0]["time"] if len(rows) > 1 else None)
  sessions = {}
  for r in rows:
    start = r.get("session_started")
    sessions[start] = max(sessions.get(start, 0.0), r["session_seconds"])
  return dict(steps=steps, seconds=sum(sessions.values()), cpu_seconds=cpu)


def evaluate_points(points: Sequence[Point], train_seconds: float,
                    num_batches: int, seed: int = 12345,
                    num_patterns: Optional[int] = None,
                    train_steps: int = 0) -> List[Dict[str, object]]:
  """Trains or loads every point, then scores it on `num_batches` random test
  batches (the same batches for every point with the same data config).

  Returns:
    one row per point: label, memory_floats, num_patterns, mean, p5, p95 of
    the final iterate's error, query_mean (the distorted query's own error),
    steps, train_seconds (logged wall time of the run), workdir, and
    `summary`/`query` dicts for plotting. Evaluations are cached in each
    workdir (`evaluate_cached`).
  """
  rows = []
  for p in points:
    meta_params, step = train_or_load(p.config, p.workdir, train_seconds,
                                      train_steps)
    n = num_patterns or p.config.data.num_patterns
    row = evaluate_cached(p, meta_params, step, n, num_batches, seed)
    rows.append(dict(row, label=p.label, workdir=p.workdir,
                     train_seconds=round(training_seconds(p.workdir), 1)))
  return rows


def cache_path(workdir: str, config, step: int, n: int, num_batches: int,
               seed: int, kind: str = "") -> str:
  """One file per (kind of result, checkpoint step, data and distortion, N,
  batches, seed, and a baseline's reading options, e.g. the VAE's γ), in the
  workdir's `evaluations/`."""
  parts = [config.data.to_dict(), step, n, num_batches, seed]
  options = setups.registry.spec_of(config).reading_options(config)
  if options is not None:
    parts.append(options)
  key = json.dumps(parts, sort_keys=True)
  digest = hashlib.sha1(key.encode()).hexdigest()[:12]
  return os.path.join(workdir, "evaluations", f"{kind}step{step}_n{n}_b{num_batches}_"
                      f"s{seed}_{digest}.json")


def write_json(path: str, record) -> None:
  """`record` as JSON at `path`, atomically (a temporary file, then a rename)."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(record, f, indent=2)
  os.replace(tmp, path)


def evaluate_cached(point: Point, meta_params, step: int, n: int,
                    num_batches: int, seed: int) -> Dict[str, object]:
  """`evaluation.evaluate` of a point, kept in its workdir: a sweep run again
  (a point added, a plot redrawn) re-scores only what changed. The cache is
  keyed by the checkpoint's step, the data config, N, batches, seed and
  a baseline's `model` section."""
  path = cache_path(point.workdir, point.config, step, n, num_batches, seed)
  if os.path.exists(path):
    with open(path) as f:
      logging.info("%s: evaluation of step %d read from %s", point.label, step, path)
      return json.load(f)
  exp = setups.build(point.config)
  start = time.time()
  # The erase control costs no model call: every image point gets it.
  out = evaluation.evaluate(exp, meta_params, n, num_batches,
                            point.config.eval.batches_per_call, seed,
                            controls=("erase",) if exp.task.erase else False)
  floats = exp.model.memory_floats
  logging.info("%s (%d floats, step %d): %s; query %s (%.0f s)", point.label,
               floats, step, out["summary"], out["query"], time.time() - start)
  row = dict(memory_floats=floats, num_patterns=n, mean=out["summary"]["mean"],
             p5=out["summary"]["p5"], p95=out["summary"]["p95"],
             query_mean=out["query"]["mean"], steps=step, summary=out["summary"],
             query=out["query"], per_iterate=[float(v) for v in out["per_iterate"]],
             num_batches=num_batches, seed=seed,
             evaluation_seconds=round(time.time() - start, 1))
  if "split" in out:  # Image experiments: the split scored (data.eval_split).
    row["split"] = out["split"]
  if "controls" in out:  # Erasing the distortion where it is, told where.
    row["controls"] = out["controls"]
  write_json(path, row)
  return row


CSV_FIELDS = ("label", "memory_floats", "num_patterns", "mean", "p5", "p95",
              "query_mean", "steps", "train_seconds", "workdir")


def csv_rows(rows: Sequence[Mapping[str, object]]) -> List[Dict[str, object]]:
  return [{k: r[k] for k in CSV_FIELDS} for r in rows]


def checkpoint_seconds(workdir: str) -> Dict[int, float]:
  """Training seconds (compilation and pauses excluded) at every logged step."""
  out, last, total = {}, 0, 0.0
  for row in metrics_lib.read_metrics(workdir):
    if row["step"] > last and row.get("steps_per_sec", 0) > 0:
      total += (row["step"] - last) / row["steps_per_sec"]
    last = row["step"]
    out[row["step"]] = total
  return out


def evaluate_checkpoints(workdir: str, num_batches: int, seed: int = 12345,
                         num_patterns: Optional[int] = None) -> List[Dict[str, object]]:
  """Scores every checkpoint kept in `workdir` on the same test batches: a
  run's evaluation curve (does it still improve, or has it plateaued?).

  Returns one row per checkpoint, oldest first: step, train_seconds (at the
  nearest logged step), mean, p5, p95, query_mean, num_batches, seed.
  """
  config = training.load_config(workdir)
  exp = setups.build(config)
  template = training.initial_state(exp)
  seconds = checkpoint_seconds(workdir)
  n = num_patterns or config.data.num_patterns
  rows = []
  for step, path in checkpoint.list_checkpoints(training.checkpoint_dir(workdir)):
    state = checkpoint.load(path, template)
    out = evaluation.evaluate(exp, state.meta_params, n, num_batches,
                              config.eval.batches_per_call, seed)
    near = min(seconds, key=lambda s: abs(s - step)) if seconds else None
    rows.append(dict(step=step, train_seconds=round(seconds[near], 1) if near else None,
                     mean=out["summary"]["mean"], p5=out["summary"]["p5"],
                     p95=out["summary"]["p95"], query_mean=out["query"]["mean"],
                     num_patterns=n, num_batches=num_batches, seed=seed,
                     **({"split": out["split"]} if "split" in out else {})))
    logging.info("checkpoint %d: %s", step, rows[-1])
  return rows


def compared_configs(specs_list, data_dir: str):
  """(name, config) of each --compare spec, e.g. "memnet_images:cpu"; the
  items of a comma-split flag, whose variants follow their config
  (`specs.group_specs`: "memnet_images:cpu", "n=4", "mann_images:cpu")."""
  overrides = [f"data.data_dir={data_dir}"] if data_dir else []
  return [(spec.partition(":")[0].split("/")[-1].removesuffix(".py"),
           specs.load(spec, overrides)) for spec in specs.group_specs(specs_list)]


def sweep_points(config, mems, dynamic_sizes, root):
  """The points of a sweep of `config`: one per memory size in `mems` (the
  `mem=K` variant: `energy.memory_budget` for EBMM, `model.memory_budget` for a
  memory baseline), in `<root>/mem_<K>`, or one per `energy.dynamic_size` in
  `dynamic_sizes`, in `<root>/d_<size>`."""
  if bool(mems) == bool(dynamic_sizes):
    raise ValueError("Give exactly one of mems and dynamic_sizes.")
  points = []
  # EBMM's budget is `energy.memory_budget`, a memory baseline's `model.memory_budget`.
  section = setups.registry.spec_of(config).budget_section
  for m in mems:
    c = specs.with_overrides(
        config, [f"{section}.memory_budget={image_base.parse_memory_budget(m)}"])
    points.append(Point(f"mem={m}", c, os.path.join(root, f"mem_{m}")))
  for d in dynamic_sizes:
    c = specs.with_overrides(config, [f"energy.dynamic_size={d}"])
    points.append(Point(f"d={d}", c, os.path.join(root, f"d_{d}")))
  return points


def sweep(models, mems, dynamic_sizes, root: str, train_seconds: float,
          num_batches: int, seed: int, train_steps: int = 0):
  """Figure 3's distortion-rate sweep of several models at the same points.

  Args:
    models: [(name, config)]: name None for the swept model itself (its points
      in `root`), else a compared model (its points in `root/name`).
    mems, dynamic_sizes, root: the points (`sweep_points`).
    train_seconds, num_batches, seed, train_steps: as `evaluate_points`.

  Returns:
    (curves, rows, score_name): `curves[label]` = [(memory floats, summary)]
    per model, labelled by its model (and energy) name; `rows`: every point's
    row (`evaluate_points`) with its "model" label.
  """
  curves, all_rows, score_name = {}, [], ""
  for name, c in models:
    points = sweep_points(c, mems, dynamic_sizes,
                          root if name is None else os.path.join(root, name))
    rows = evaluate_points(points, train_seconds, num_batches, seed,
                           train_steps=train_steps)
    exp = setups.build(points[0].config)
    score_name = score_name or exp.task.score_name
    label = setups.registry.label(c, exp.model)
    for r in rows:
      r["model"] = label
    curves[label] = [(r["memory_floats"], r["summary"]) for r in rows]
    all_rows += rows
  return curves, all_rows, score_name


def sweep_markdown(rows, score_name: str) -> str:
  """The sweep's rows (`sweep`) as a Markdown table."""
  header = ["model", "point", "memory (floats)", "N", f"{score_name} x(K) [p5, p95]",
            "query", "meta-steps", "training (s)"]
  return tables.markdown(header, [
      [r.get("model", "EBMM"), r["label"], r["memory_floats"], r["num_patterns"],
       tables.cell(r),
       f"{r['query_mean']:.2f}", r["steps"], f"{r['train_seconds']:.0f}"]
      for r in rows])


def noise_generalisation(models, distortion: str, levels: Sequence[float],
                         num_batches: int, seed: int):
  """Figure 9: each trained model read at every level of `distortion`.

  Args:
    models: [(label, trained level, config, workdir)]: models already
      trained (or to be loaded as they are).
    distortion: "block" or "salt_and_pepper" (`analysis.with_distortion`).
    levels: the levels read at, e.g. block sides in pixels.
    num_batches, seed: the same random test batches for every cell.

  Returns:
    (rows, curves, query_curve): one row per model and level;
    `curves[label]` = [(level, summary)]; `query_curve[level]`: the distorted
    queries' own error (the same queries for every model).
  """
  rows, curves, query_curve = [], {}, {}
  for label, trained_level, config, workdir in models:
    meta_params, step = train_or_load(config, workdir)
    for level in levels:
      c = analysis.with_distortion(config, distortion, level)
      # Cached in the workdir per (step, distortion, level, batches, seed):
      # adding a model or a level re-scores only the new cells.
      out = evaluate_cached(Point(f"{label}, read at {level:g}", c, workdir),
                            meta_params, step, c.data.num_patterns, num_batches, seed)
      rows.append(dict(model=label, trained_level=trained_level, level=level,
                       mean=out["mean"], p5=out["p5"], p95=out["p95"],
                       query_mean=out["query_mean"], steps=step, workdir=workdir))
      curves.setdefault(label, []).append((level, out["summary"]))
      query_curve[level] = out["query"]
  return rows, curves, query_curve
