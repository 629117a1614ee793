r"""Evaluates every checkpoint a workdir kept, on the same test batches: the
run's evaluation curve against meta-steps and training seconds.

  python -m experiments.checkpoint_curve --workdir=runs/binary_n64 \
      --num_batches=200 --output=curve.json --figure=curve.png

Keep more checkpoints while training to get more points
(--config.train.keep_checkpoints=50 --config.train.checkpoint_every_secs=300).
"""
import json
import os

from absl import app
from absl import flags

from ebmm_jax.reporting import runs
from ebmm_jax import training
from ebmm_jax.experiments import cli
from ebmm_jax.experiments import run_flags

_WORKDIR = run_flags.workdir("A training workdir.", required=True)
_NUM_BATCHES = run_flags.num_batches("Test batches per checkpoint.", default=200)
_SEED = run_flags.seed()
_OUTPUT = run_flags.output("Write the rows here as JSON.")
_FIGURE = flags.DEFINE_string("figure", "", "Draw the curve into this PNG.")


def plot(rows, path: str, title: str) -> None:
  """Test error (mean, 5th-95th percentile) against training seconds and steps."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
  for ax, key, label in ((axes[0], "train_seconds", "training seconds"),
                         (axes[1], "step", "meta-step")):
    x = [r[key] for r in rows]
    ax.plot(x, [r["mean"] for r in rows], "o-", label="x(K), mean")
    ax.fill_between(x, [r["p5"] for r in rows], [r["p95"] for r in rows], alpha=0.2,
                    label="5th-95th percentile")
    ax.set_xlabel(label)
    ax.grid(alpha=0.3)
  axes[0].set_ylabel(f"test error, {rows[0]['num_batches']} batches")
  axes[0].legend()
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main(argv):
  del argv  # Unused.
  rows = runs.evaluate_checkpoints(_WORKDIR.value, _NUM_BATCHES.value, _SEED.value)
  if not rows:
    raise app.UsageError(f"{_WORKDIR.value} has no checkpoints.")
  if _OUTPUT.value:
    with open(_OUTPUT.value, "w") as f:
      json.dump(dict(workdir=_WORKDIR.value,
                     config=training.load_config(_WORKDIR.value).to_dict(),
                     checkpoints=rows), f, indent=2)
  if _FIGURE.value:
    plot(rows, _FIGURE.value, os.path.basename(os.path.normpath(_WORKDIR.value)))
  for r in rows:
    print(f"step {r['step']:>8}  {r['train_seconds']!s:>8} s  {r['mean']:.2f} "
          f"[{r['p5']:.0f}, {r['p95']:.0f}]")


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
