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
from ml_collections import config_flags

from ebmm_jax.setups import specs
from ebmm_jax.reporting import analysis
from ebmm_jax import setups
from ebmm_jax.reporting import plotting
from ebmm_jax.reporting import runs
from ebmm_jax import training
from ebmm_jax.experiments import run_flags
from ebmm_jax.experiments import cli
from ebmm_jax.reporting import tables

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file and variants to train one model per "
    "--train_levels value (--config.FIELD=VALUE overrides a field).", lock_config=True)
_TRAIN_LEVELS = flags.DEFINE_list("train_levels", [], "Training noise levels.")
_ROOT = flags.DEFINE_string("root", "", "Parent of the trained models' workdirs.")
_WORKDIRS = flags.DEFINE_multi_string("workdir", [], "Or: trained workdirs.")
_DISTORTION = flags.DEFINE_enum("distortion", "block", ["block", "salt_and_pepper"],
                                "Noise of the evaluation (and of training with --config).")
_LEVELS = flags.DEFINE_list("levels", [], "Evaluation levels: block sides in "
                            "pixels, or salt-and-pepper rates.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "", "Default: --root, or the first workdir.")
_DATA_DIR = flags.DEFINE_string("data_dir", "", "With --workdir: where this machine "
                                "keeps the data (overrides their data.data_dir).")


def training_level(config, distortion: str) -> float:
  if config.data.distortion != distortion:
    raise app.UsageError(f"A model trained with {config.data.distortion} noise "
                         f"cannot be placed on a {distortion} axis.")
  return (config.data.block_size if distortion == "block"
          else config.data.noise_rate)


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
      runs.train_or_load(config, workdir, run_flags.TRAIN_SECONDS.value,
                         run_flags.TRAIN_STEPS.value)
      out.append((f"trained at {level}", float(level), config, workdir))
  for workdir in _WORKDIRS.value:
    config = training.load_config(workdir)
    if _DATA_DIR.value:
      config = specs.with_overrides(config, [f"data.data_dir={_DATA_DIR.value}"])
    level = training_level(config, d)
    out.append((f"trained at {level:g}", level, config, workdir))
  return out


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if not _LEVELS.value:
    raise app.UsageError("Give the evaluation --levels.")
  levels = [float(v) for v in _LEVELS.value]
  rows, curves, query_curve = [], {}, {}
  for label, trained_level, config, workdir in models():
    meta_params, step = runs.train_or_load(config, workdir)
    for level in levels:
      c = analysis.with_distortion(config, _DISTORTION.value, level)
      # Cached in the workdir per (step, distortion, level, batches, seed):
      # adding a model or a level re-scores only the new cells.
      out = runs.evaluate_cached(
          runs.Point(f"{label}, read at {level:g}", c, workdir), meta_params,
          step, c.data.num_patterns, run_flags.NUM_BATCHES.value,
          run_flags.SEED.value)
      rows.append(dict(model=label, trained_level=trained_level, level=level,
                       mean=out["mean"], p5=out["p5"], p95=out["p95"],
                       query_mean=out["query_mean"], steps=step, workdir=workdir))
      curves.setdefault(label, []).append((level, out["summary"]))
      query_curve[level] = out["query"]  # The same queries for every model.
  # The score's name is the same at every level; one build, not one per cell.
  score_name = setups.build(config).task.score_name
  output = _OUTPUT_DIR.value or _ROOT.value or _WORKDIRS.value[0]
  analysis.write_csv(os.path.join(output, "noise_generalisation.csv"), rows)
  axis = "block side (pixels)" if _DISTORTION.value == "block" else "salt-and-pepper rate"
  plotting.error_curves(
      os.path.join(output, "noise_generalisation.png"),
      {**curves, "distorted query": sorted(query_curve.items())},
      dashed=["distorted query"], xlabel=axis,
      ylabel=f"{score_name} per pattern",
      title=f"Noise generalisation ({_DISTORTION.value}), "
            f"{run_flags.NUM_BATCHES.value} test batches per point")
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
