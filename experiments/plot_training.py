r"""Plots training curves of one or more workdirs into a PNG: by default the
final iterate's training score with the query's dotted, per meta-step; with
--metric any other logged scalar (a list-valued one by its last entry), e.g.
the meta-gradient norm before clipping.

  python -m experiments.plot_training --workdir=runs/a --workdir=runs/b --output=curves.png
  python -m experiments.plot_training --workdir=runs/a --metric=grad_norm --log_y --smooth=1
  python -m experiments.plot_training --workdir=runs/a --x=cpu_hours   # a run trained in legs

--x picks the horizontal axis: meta-steps, or the training hours of every
session so far (`cpu_hours`: the process's CPU time; `wall_hours`).
"""
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np
from absl import app
from absl import flags

from ebmm_jax.training import metrics as metrics_lib
from ebmm_jax.experiments import cli
from ebmm_jax.experiments import run_flags

_WORKDIRS = run_flags.workdirs("Training workdirs.")
_LABELS = flags.DEFINE_list("labels", [], "One label per workdir (default: its name).")
_OUTPUT = run_flags.output("PNG to write.", default="training.png")
_SMOOTH = flags.DEFINE_integer("smooth", 10, "Moving-average window over logged points.")
_METRIC = flags.DEFINE_string(
    "metric", "score", "Logged metric to draw: score (x(K)'s, with the query's dotted) or "
    "another key of metrics.jsonl (a list by its last entry).")
_LOG_Y = flags.DEFINE_boolean("log_y", False, "Logarithmic y axis.")
# Horizontal axes: the metrics.jsonl key and its scale to the axis unit.
X_AXES = {"step": ("step", 1.0, "meta-step"),
          "cpu_hours": ("train_cpu_seconds", 1 / 3600, "training CPU hours (all sessions)"),
          "wall_hours": ("train_seconds", 1 / 3600, "training hours (all sessions)")}
_X = flags.DEFINE_enum("x", "step", list(X_AXES), "Horizontal axis.")

SCORE = "score"


def _last(value):
  return value[-1] if isinstance(value, (list, tuple)) else value


def _smooth(values, window):
  if window <= 1 or len(values) < window:
    return np.asarray(values)
  return np.convolve(values, np.ones(window) / window, mode="valid")


def main(argv):
  del argv
  if not _WORKDIRS.value:
    raise app.UsageError("Give at least one --workdir.")
  labels = _LABELS.value or [os.path.basename(w.rstrip("/")) for w in _WORKDIRS.value]
  if len(labels) != len(_WORKDIRS.value):
    raise app.UsageError(f"{len(labels)} labels for {len(_WORKDIRS.value)} workdirs.")
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for workdir, label in zip(_WORKDIRS.value, labels):
    rows = metrics_lib.read_metrics(workdir)
    if not rows:
      raise app.UsageError(f"No metrics.jsonl rows in {workdir}.")
    x_key, x_scale, x_label = X_AXES[_X.value]
    rows = [r for r in rows if _METRIC.value in r and x_key in r]
    if not rows:
      raise app.UsageError(f"{workdir}/metrics.jsonl logs no {_METRIC.value!r} with "
                           f"{x_key!r} (runs logged before it was cannot use --x={_X.value}).")
    steps = np.asarray([r[x_key] * x_scale for r in rows])
    values = _smooth([_last(r[_METRIC.value]) for r in rows], _SMOOTH.value)
    line, = ax.plot(steps[len(steps) - len(values):], values, label=label)
    if _METRIC.value == SCORE:
      query = _smooth([r["query_score"] for r in rows], _SMOOTH.value)
      ax.plot(steps[len(steps) - len(query):], query, ls=":", color=line.get_color(), lw=1)
  ax.set_xlabel(X_AXES[_X.value][2])
  ax.set_ylabel("training error of x(K) (dotted: the query's)" if _METRIC.value == SCORE
                else _METRIC.value)
  if _LOG_Y.value:
    ax.set_yscale("log")
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(_OUTPUT.value, dpi=120)
  print(f"Wrote {_OUTPUT.value}")


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
