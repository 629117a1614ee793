r"""Noise generalisation (Figure 9): models trained at one noise level, read
at others.

Each model (one per training level) is evaluated at every --levels value of
--distortion on the same --num_batches random test batches. Writes into
--output_dir: `noise_generalisation.csv` (one row per model and level),
`noise_generalisation.md` (models x levels) and `noise_generalisation.png`
(error against the level, one line per model, 5th-95th percentile bars).

Train (or resume) one model per training level, then evaluate:

  python -m experiments.noise_generalisation \
      --config=configs/omniglot_conv.py:cpu,mem=2k \
      --config.data.data_dir=DATA_DIR --distortion=block \
      --train_levels=8,16 --levels=4,8,12,16,20 --root=runs/noise \
      --train_seconds=1200

or evaluate workdirs trained elsewhere (their configs say their level):

  python -m experiments.noise_generalisation --workdir=runs/a --workdir=runs/b \
      --distortion=salt_and_pepper --levels=0.05,0.1,0.15,0.2 --output_dir=runs \
      --data_dir=DATA_DIR
"""
import os

from absl import app
from absl import flags

from ebmm_jax import setups
from ebmm_jax import training
from ebmm_jax.experiments import cli
from ebmm_jax.experiments import run_flags
from ebmm_jax.reporting import analysis
from ebmm_jax.reporting import plotting
from ebmm_jax.reporting import runs
from ebmm_jax.reporting import tables
from ebmm_jax.setups import specs

_CONFIG = run_flags.config(
    "Config file and variants to train one model per "
    "--train_levels value (--config.FIELD=VALUE overrides a field).")
_TRAIN_LEVELS = flags.DEFINE_list("train_levels", [], "Training noise levels.")
_ROOT = run_flags.root("Parent of the trained models' workdirs.", default="")
_WORKDIRS = run_flags.workdirs("Or: trained workdirs.")
_DISTORTION = flags.DEFINE_enum("distortion", "block", ["block", "salt_and_pepper"],
                                "Noise of the evaluation (and of training with --config).")
_LEVELS = flags.DEFINE_list("levels", [], "Evaluation levels: block sides in "
                            "pixels, or salt-and-pepper rates.")
_OUTPUT_DIR = run_flags.output_dir("Default: --root, or the first workdir.")
_DATA_DIR = run_flags.data_dir("With --workdir: where this machine "
                               "keeps the data (overrides their data.data_dir).")
_TRAIN_SECONDS, _TRAIN_STEPS = run_flags.training_budget()
_NUM_BATCHES = run_flags.num_batches("Random test batches per model and cell.")
_SEED = run_flags.seed()


def models():
  """[(label, level, config, workdir)] to evaluate, training them if asked."""
  d = _DISTORTION.value
  if (_CONFIG.value is not None) == bool(_WORKDIRS.value):
    raise app.UsageError("Give either --config (with --train_levels and --root) "
                         "or --workdir.")
  out = []
  if _CONFIG.value is not None:
    if not (_TRAIN_LEVELS.value and _ROOT.value):
      raise app.UsageError("--config needs --train_levels and --root.")
    for level in _TRAIN_LEVELS.value:
      config = analysis.with_distortion(_CONFIG.value, d, float(level))
      workdir = os.path.join(_ROOT.value, f"{d}_{level}")
      runs.train_or_load(config, workdir, _TRAIN_SECONDS.value, _TRAIN_STEPS.value)
      out.append((f"trained at {level}", float(level), config, workdir))
  for workdir in _WORKDIRS.value:
    config = training.load_config(workdir)
    if _DATA_DIR.value:
      config = specs.with_overrides(config, [f"data.data_dir={_DATA_DIR.value}"])
    level = analysis.training_level(config, d)
    out.append((f"trained at {level:g}", level, config, workdir))
  return out


def main(argv):
  del argv  # Unused.
  if not _LEVELS.value:
    raise app.UsageError("Give the evaluation --levels.")
  levels = [float(v) for v in _LEVELS.value]
  trained = models()
  rows, curves, query_curve = runs.noise_generalisation(
      trained, _DISTORTION.value, levels, _NUM_BATCHES.value, _SEED.value)
  # The score's name is the same at every level; one build, not one per cell.
  score_name = setups.build(trained[-1][2]).task.score_name
  output = _OUTPUT_DIR.value or _ROOT.value or _WORKDIRS.value[0]
  analysis.write_csv(os.path.join(output, "noise_generalisation.csv"), rows)
  axis = "block side (pixels)" if _DISTORTION.value == "block" else "salt-and-pepper rate"
  plotting.error_curves(
      os.path.join(output, "noise_generalisation.png"),
      {**curves, "distorted query": sorted(query_curve.items())},
      dashed=["distorted query"], xlabel=axis,
      ylabel=f"{score_name} per pattern",
      title=f"Noise generalisation ({_DISTORTION.value}), "
            f"{_NUM_BATCHES.value} test batches per point")
  table = tables.markdown(
      ["model"] + [f"{v:g}" for v in levels],
      [[label] + [tables.cell(s, pct_digits=0) for _, s in curves[label]]
       for label in curves]
      + [["distorted query"] + [f"{query_curve[v]['mean']:.2f}" for v in levels]])
  with open(os.path.join(output, "noise_generalisation.md"), "w") as f:
    f.write(f"{score_name}, read at each {axis}:\n\n{table}\n")
  print(table)
  print(f"Wrote {output}/noise_generalisation.{{csv,md,png}}")


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
