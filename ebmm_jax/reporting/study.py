"""A recipe study: named variants of one config, each meta-trained under the
same wall-time budget, one after another, then compared.

A study config (`configs/recipe_study.py`) names a base config spec
("configs/binary.py:cpu,n=16") and variants, each a list of
"section.field=value" overrides. Every variant trains in its own folder of
the study's workdir, resuming what is there: a study stopped at any point
and run again continues where it stopped and never retrains a finished
variant. The comparison is made from each run's own `metrics.jsonl` (the
training error of x(K) against training seconds and meta-steps) and from an
evaluation of its final checkpoint on fresh test batches.
"""
import csv
import json
import os
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np
from absl import logging

from ebmm_jax.setups import specs
from ebmm_jax.training import metrics as metrics_lib
from ebmm_jax.reporting import runs
from ebmm_jax import training
from ebmm_jax.setups import configuration
from ebmm_jax import setups
from ebmm_jax.reporting import tables

DONE_FILE = "study_done.json"  # Written in a variant's folder when it finished.


def variant_config(base_spec: str, overrides: Sequence[str], budget_secs: float):
  """The base config with a variant's overrides (checked: unknown fields and
  invalid values fail here, naming the field)."""
  config = specs.load(base_spec, overrides)
  config.unlock()
  config.train.max_seconds = float(budget_secs)
  config.lock()
  configuration.validate(config)
  return config


def curve(workdir: str) -> Dict[str, np.ndarray]:
  """A run's logged training curve: meta-step, training seconds (compilation
  and pauses excluded, resumptions added up), error of x(K) and the query's."""
  rows = metrics_lib.read_metrics(workdir)
  seconds = runs.checkpoint_seconds(workdir)
  steps = [row["step"] for row in rows]
  secs = [seconds[s] for s in steps]
  score = [row["score"][-1] for row in rows]
  query = [row["query_score"] for row in rows]
  return dict(step=np.asarray(steps), seconds=np.asarray(secs),
              score=np.asarray(score, float), query=np.asarray(query, float))


def error_at(c: Mapping[str, np.ndarray], seconds: float,
             window: float = 0.2) -> float:
  """Mean training error of x(K) over the logged steps in the last `window`
  fraction of the first `seconds` of training (NaN if the run is shorter)."""
  if not len(c["seconds"]) or c["seconds"][-1] < seconds * 0.98:
    return float("nan")
  sel = (c["seconds"] <= seconds) & (c["seconds"] >= seconds * (1 - window))
  return float(np.mean(c["score"][sel])) if np.any(sel) else float("nan")


def error_at_step(c: Mapping[str, np.ndarray], step: int, window: float = 0.2) -> float:
  """Mean training error of x(K) over the logged steps in the last `window`
  fraction of the first `step` meta-steps (NaN if the run is shorter):
  unlike `error_at`, independent of how busy the machine was."""
  if not len(c["step"]) or c["step"][-1] < step * 0.98:
    return float("nan")
  sel = (c["step"] <= step) & (c["step"] >= step * (1 - window))
  return float(np.mean(c["score"][sel])) if np.any(sel) else float("nan")


def run_variant(name: str, config, workdir: str, budget_secs: float,
                eval_batches: int, eval_seed: int) -> Dict[str, object]:
  """Trains a variant to its budget (resuming), evaluates its last checkpoint."""
  done_path = os.path.join(workdir, DONE_FILE)
  if os.path.exists(done_path):
    with open(done_path) as f:
      logging.info("%s: finished earlier (%s).", name, done_path)
      return json.load(f)
  step = 0
  on_seconds = config.optim.get("clock", "steps") == "seconds"
  if on_seconds:
    # The trainer keeps this budget itself (`train.max_seconds` is the whole
    # run's, resumes included, and its schedule's horizon): one call trains
    # the rest of it, or only loads a finished run. Its clock includes the
    # compilation, so these variants train a little less than the others.
    meta_params, step = runs.train_or_load(config, workdir, train_seconds=budget_secs)
  # Otherwise the budget counts training seconds (compilation excluded): a
  # call whose wall-time limit the compilation ate is followed by another
  # (the step is compiled once per process).
  while not on_seconds:
    remaining = budget_secs - runs.training_seconds(workdir)
    trained = os.path.exists(training.checkpoint_dir(workdir))
    if trained and (remaining <= 0.02 * budget_secs or step >= config.train.num_steps):
      meta_params, step = runs.train_or_load(config, workdir)  # Load only.
      break
    logging.info("%s: training %.0f s more (budget %.0f s).", name, remaining, budget_secs)
    meta_params, step = runs.train_or_load(config, workdir,
                                           train_seconds=max(remaining, 1.0))
  point = runs.Point(name, config, workdir)
  row = runs.evaluate_cached(point, meta_params, step, config.data.num_patterns,
                             eval_batches, eval_seed)
  row = dict(row, variant=name, train_seconds=round(runs.training_seconds(workdir), 1),
             workdir=workdir)
  tmp = done_path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(row, f, indent=2)
  os.replace(tmp, done_path)
  return row


def table(names: Sequence[str], curves: Mapping[str, Mapping[str, np.ndarray]],
          evals: Mapping[str, Mapping[str, object]], budgets: Sequence[float],
          score_name: str, steps: Sequence[int] = ()) -> Tuple[str, List[Dict[str, object]]]:
  """Markdown and CSV rows: training error of x(K) at each budget of seconds
  and of meta-steps (mean over the last 20% of it) and the final evaluation."""
  header = (["variant"] + [f"train, {b:g} s" for b in budgets] +
            [f"train, step {s:,}" for s in steps] +
            ["meta-steps", "train s", f"eval {score_name} [p5, p95]", "eval batches"])
  lines, rows = [], []
  for name in names:
    c, e = curves[name], evals.get(name)
    at = [error_at(c, b) for b in budgets]
    at_steps = [error_at_step(c, s) for s in steps]
    cells = [name] + [("-" if np.isnan(v) else f"{v:.2f}") for v in at + at_steps]
    if e:
      cells += [str(e["steps"]), f"{e['train_seconds']:.0f}",
                tables.cell(e, pct_digits=0), str(e["num_batches"])]
    else:
      cells += ["-"] * 4
    lines.append(cells)
    rows.append(dict(variant=name, **{f"train_{b:g}s": v for b, v in zip(budgets, at)},
                     **{f"train_step{s}": v for s, v in zip(steps, at_steps)},
                     steps=e["steps"] if e else "", train_seconds=e["train_seconds"] if e else "",
                     eval_mean=e["mean"] if e else "", eval_p5=e["p5"] if e else "",
                     eval_p95=e["p95"] if e else "", eval_batches=e["num_batches"] if e else ""))
  return tables.markdown(header, lines) + "\n", rows


def write_csv(path: str, rows: Sequence[Mapping[str, object]]) -> None:
  if not rows:
    return
  with open(path, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
    w.writeheader()
    w.writerows(rows)


def plot(path: str, curves: Mapping[str, Mapping[str, np.ndarray]], score_name: str,
         title: str, smooth: int = 10) -> str:
  """Error of x(K) (solid) and the query's (dotted, grey) against training
  seconds and meta-steps, one colour per variant."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
  sm = lambda v: (np.convolve(v, np.ones(smooth) / smooth, mode="valid")
                  if len(v) >= smooth > 1 else v)
  colours = plt.get_cmap("tab20").colors
  for i, (name, c) in enumerate(curves.items()):
    if not len(c["score"]):
      continue
    y = sm(c["score"])
    off = len(c["score"]) - len(y)
    # 20 colours, every other in a dashed line: each variant reads apart.
    style = dict(color=colours[(2 * i) % 20 + (i // 10) % 2], lw=1.3,
                 ls="-" if i % 2 == 0 else "--")
    axes[0].plot(c["seconds"][off:], y, label=name, **style)
    axes[1].plot(c["step"][off:], y, **style)
  for ax, xlabel in zip(axes, ["training seconds (CPU)", "meta-step"]):
    any_curve = next((c for c in curves.values() if len(c["query"])), None)
    if any_curve is not None:
      ax.axhline(float(np.mean(any_curve["query"])), color="grey", ls=":", lw=1,
                 label="distorted query" if ax is axes[0] else None)
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3)
  axes[0].set_ylabel(f"training {score_name} of x(K) (moving mean of {smooth})")
  axes[0].legend(fontsize=7)
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def subsample_metrics(workdir: str, path: str, max_rows: int = 400) -> str:
  """Every k-th row of a run's metrics.jsonl (and its last), at most ~max_rows."""
  rows = metrics_lib.read_metrics(workdir)
  k = max(1, int(np.ceil(len(rows) / max_rows)))
  keep = rows[::k] + ([rows[-1]] if rows and (len(rows) - 1) % k else [])
  with open(path, "w") as f:
    for r in keep:
      f.write(json.dumps(r) + "\n")
  return path


def score_name_of(config) -> str:
  return setups.build(config).task.score_name


def export(workdir: str, names: Sequence[str], dest: str) -> str:
  """Copies a study's table, plot, and each variant's evaluation and
  subsampled metrics into `dest` (e.g. a results folder to commit)."""
  import shutil  # pylint: disable=g-import-not-at-top
  os.makedirs(dest, exist_ok=True)
  for name in ("table.md", "table.csv", "curves.png"):
    if os.path.exists(os.path.join(workdir, name)):
      shutil.copy(os.path.join(workdir, name), os.path.join(dest, name))
  for name in names:
    src = os.path.join(workdir, name)
    if not os.path.isdir(src):
      continue
    os.makedirs(os.path.join(dest, name), exist_ok=True)
    subsample_metrics(src, os.path.join(dest, name, "metrics_subsampled.jsonl"))
    for f in (DONE_FILE, "config.json"):
      if os.path.exists(os.path.join(src, f)):
        shutil.copy(os.path.join(src, f), os.path.join(dest, name, f))
  return dest
