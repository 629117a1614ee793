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

--compare=SPEC,... sweeps other models' configs at the same --mems, each into
`<root>/<config name>/mem_<K>` and drawn as its own curve beside EBMM's: the
memory baselines of Figures 3a (Omniglot), 3b (CIFAR-10) and 5a (ImageNet),
and the Kanerva Machine of Figure 7, e.g.

  python -m experiments.sweep --config=configs/omniglot_conv.py:cpu \
      --compare=memnet_images:cpu,mann_images:cpu --mems=2k,4k,8k \
      --data_dir=DATA_DIR --root=runs/figure3a --train_seconds=1200
"""
import os

from absl import app
from absl import flags
from ml_collections import config_flags

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
_COMPARE = flags.DEFINE_list(
    "compare", [], "Other models' configs (names or files, with variants) swept at "
    "the same --mems, one curve each, e.g. memnet_images:cpu,mann_images:cpu; "
    "a config's further variants follow it: memnet_images:cpu,n=4,mann_images:cpu,n=4.")
_DATA_DIR = flags.DEFINE_string("data_dir", "", "Sets data.data_dir of every model.")
flags.mark_flags_as_required(["config", "root"])


def markdown(rows, score_name: str) -> str:
  header = ["model", "point", "memory (floats)", "N", f"{score_name} x(K) [p5, p95]",
            "query", "meta-steps", "training (s)"]
  return tables.markdown(header, [
      [r.get("model", "EBMM"), r["label"], r["memory_floats"], r["num_patterns"],
       tables.cell(r),
       f"{r['query_mean']:.2f}", r["steps"], f"{r['train_seconds']:.0f}"]
      for r in rows])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  config = _CONFIG.value
  if _DATA_DIR.value:
    config = specs.with_overrides(config, [f"data.data_dir={_DATA_DIR.value}"])
  models = [(None, config)] + runs.compared_configs(_COMPARE.value, _DATA_DIR.value)
  if _COMPARE.value and not _MEMS.value:
    raise app.UsageError("--compare needs --mems: models are compared at equal memory.")
  curves, all_rows, score_name = {}, [], ""
  for name, c in models:
    root = _ROOT.value if name is None else os.path.join(_ROOT.value, name)
    if bool(_MEMS.value) == bool(_DYNAMIC_SIZES.value):
      raise app.UsageError("Give exactly one of --mems and --dynamic_sizes.")
    points = runs.sweep_points(c, _MEMS.value, _DYNAMIC_SIZES.value, root)
    rows = runs.evaluate_points(
        points, run_flags.TRAIN_SECONDS.value, run_flags.NUM_BATCHES.value,
        run_flags.SEED.value, train_steps=run_flags.TRAIN_STEPS.value)
    exp = setups.build(points[0].config)
    score_name = score_name or exp.task.score_name
    label = exp.model.name + (f" ({c.energy.name})" if "energy" in c else "")
    for r in rows:
      r["model"] = label
    curves[label] = [(r["memory_floats"], r["summary"]) for r in rows]
    all_rows += rows
  out = _OUTPUT_DIR.value or _ROOT.value
  rows = all_rows
  analysis.write_csv(os.path.join(out, "distortion_rate.csv"),
                     [dict(model=r["model"], **c) for r, c in zip(rows, runs.csv_rows(rows))])
  query = sum(r["query_mean"] for r in rows) / len(rows)
  plotting.error_curves(
      os.path.join(out, "distortion_rate.png"), curves,
      xlabel="memory size (floats)", ylabel=f"{score_name} per pattern",
      title=f"{config_flags.get_config_filename(flags.FLAGS['config'])}: {config.data.name}, "
            f"{analysis.distortion_name(config.data)}, N = {rows[0]['num_patterns']}, "
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
