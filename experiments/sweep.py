r"""Distortion-rate sweep (Figures 3a, 5a): error against memory size.

Trains (or loads) one model per memory size of a config, evaluates each on the
same --num_batches random test batches, and writes into --output_dir (default
--root): `distortion_rate.csv`, `distortion_rate.png` (error vs memory size in
floats, 5th-95th percentile bars, the distorted query's own error dashed) and
`distortion_rate.md`.

  python -m experiments.sweep --config=configs/omniglot_conv.py:cpu \
      --mems=2k,8k --config.data.data_dir=DATA_DIR \
      --root=runs/omniglot_conv_cpu --train_seconds=0

Each memory size K trains in `<root>/mem_<K>` (`energy.memory_budget`, as the
config's `mem=K` variant sets it; image configs). --dynamic_sizes=4,8 sweeps `energy.dynamic_size` directly
instead, into `<root>/d_<size>` (any config, e.g. binary strings).
--train_seconds > 0 trains every point that much longer (resuming its
workdir); 0 only loads what the workdirs hold.
"""
import os

from absl import app
from absl import flags
from ml_collections import config_flags

from ebmm_jax.configs import image_base
from ebmm_jax.setups import specs
from ebmm_jax.reporting import analysis
from ebmm_jax.reporting import plotting
from ebmm_jax.reporting import runs
from ebmm_jax.experiments import run_flags
from ebmm_jax.experiments import cli
from ebmm_jax import setups
from ebmm_jax.reporting import tables

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file and variants, e.g. configs/omniglot_conv.py:cpu; "
    "--config.FIELD=VALUE overrides a field of every point.", lock_config=True)
_MEMS = flags.DEFINE_list("mems", [], "Memory sizes (the `mem=K` variant), e.g. 2k,8k.")
_DYNAMIC_SIZES = flags.DEFINE_list("dynamic_sizes", [],
                                   "Or: values of energy.dynamic_size.")
_ROOT = flags.DEFINE_string("root", None, "Parent folder of the points' workdirs.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "", "Where results go (default --root).")
flags.mark_flags_as_required(["config", "root"])


def sweep_points(config, mems, dynamic_sizes, root):
  if bool(mems) == bool(dynamic_sizes):
    raise app.UsageError("Give exactly one of --mems and --dynamic_sizes.")
  points = []
  for m in mems:
    c = specs.with_overrides(
        config, [f"energy.memory_budget={image_base.parse_memory_budget(m)}"])
    points.append(runs.Point(f"mem={m}", c, os.path.join(root, f"mem_{m}")))
  for d in dynamic_sizes:
    c = specs.with_overrides(config, [f"energy.dynamic_size={d}"])
    points.append(runs.Point(f"d={d}", c, os.path.join(root, f"d_{d}")))
  return points


def markdown(rows, score_name: str) -> str:
  header = ["point", "memory (floats)", "N", f"{score_name} x(K) [p5, p95]",
            "query", "meta-steps", "training (s)"]
  return tables.markdown(header, [
      [r["label"], r["memory_floats"], r["num_patterns"], tables.cell(r),
       f"{r['query_mean']:.2f}", r["steps"], f"{r['train_seconds']:.0f}"]
      for r in rows])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  points = sweep_points(_CONFIG.value, _MEMS.value, _DYNAMIC_SIZES.value, _ROOT.value)
  rows = runs.evaluate_points(
      points, run_flags.TRAIN_SECONDS.value, run_flags.NUM_BATCHES.value,
      run_flags.SEED.value, train_steps=run_flags.TRAIN_STEPS.value)
  out = _OUTPUT_DIR.value or _ROOT.value
  config = points[0].config
  score_name = setups.build(config).task.score_name
  analysis.write_csv(os.path.join(out, "distortion_rate.csv"), runs.csv_rows(rows))
  query = sum(r["query_mean"] for r in rows) / len(rows)
  plotting.error_curves(
      os.path.join(out, "distortion_rate.png"),
      {f"EBMM ({config.energy.name})": [(r["memory_floats"], r["summary"]) for r in rows]},
      xlabel="memory size (floats)", ylabel=f"{score_name} per pattern",
      title=f"{config_flags.get_config_filename(flags.FLAGS['config'])}: {config.data.name}, N = {rows[0]['num_patterns']}, "
            f"{run_flags.NUM_BATCHES.value} test batches per point",
      reference={"distorted query": query})
  table = markdown(rows, score_name)
  with open(os.path.join(out, "distortion_rate.md"), "w") as f:
    f.write(table + "\n")
  print(table)
  print(f"Wrote {out}/distortion_rate.{{csv,png,md}}")


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
