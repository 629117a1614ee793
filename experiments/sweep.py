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

from ebmm_jax.experiments import cli
from ebmm_jax.experiments import run_flags
from ebmm_jax.reporting import analysis
from ebmm_jax.reporting import plotting
from ebmm_jax.reporting import runs
from ebmm_jax.setups import specs

_CONFIG = run_flags.config(
    "Config file and variants, e.g. configs/omniglot_conv.py:cpu; "
    "--config.FIELD=VALUE overrides a field of every point.", required=True)
_MEMS = flags.DEFINE_list("mems", [], "Memory sizes (the `mem=K` variant), e.g. 2k,8k.")
_DYNAMIC_SIZES = flags.DEFINE_list("dynamic_sizes", [],
                                   "Or: values of energy.dynamic_size.")
_ROOT = run_flags.root("Parent folder of the points' workdirs.", required=True)
_OUTPUT_DIR = run_flags.output_dir("Where results go (default --root).")
_COMPARE = flags.DEFINE_list(
    "compare", [], "Other models' configs (names or files, with variants) swept at "
    "the same --mems, one curve each, e.g. memnet_images:cpu,mann_images:cpu; "
    "a config's further variants follow it: memnet_images:cpu,n=4,mann_images:cpu,n=4.")
_DATA_DIR = run_flags.data_dir("Sets data.data_dir of every model.")
_TRAIN_SECONDS, _TRAIN_STEPS = run_flags.training_budget()
_NUM_BATCHES = run_flags.num_batches("Random test batches per model and cell.")
_SEED = run_flags.seed()


def main(argv):
  del argv  # Unused.
  config = _CONFIG.value
  if _DATA_DIR.value:
    config = specs.with_overrides(config, [f"data.data_dir={_DATA_DIR.value}"])
  models = [(None, config)] + runs.compared_configs(_COMPARE.value, _DATA_DIR.value)
  if _COMPARE.value and not _MEMS.value:
    raise app.UsageError("--compare needs --mems: models are compared at equal memory.")
  if bool(_MEMS.value) == bool(_DYNAMIC_SIZES.value):
    raise app.UsageError("Give exactly one of --mems and --dynamic_sizes.")
  curves, rows, score_name = runs.sweep(
      models, _MEMS.value, _DYNAMIC_SIZES.value, _ROOT.value, _TRAIN_SECONDS.value,
      _NUM_BATCHES.value, _SEED.value, train_steps=_TRAIN_STEPS.value)
  out = _OUTPUT_DIR.value or _ROOT.value
  analysis.write_csv(os.path.join(out, "distortion_rate.csv"),
                     [dict(model=r["model"], **c) for r, c in zip(rows, runs.csv_rows(rows))])
  query = sum(r["query_mean"] for r in rows) / len(rows)
  plotting.error_curves(
      os.path.join(out, "distortion_rate.png"), curves,
      xlabel="memory size (floats)", ylabel=f"{score_name} per pattern",
      title=f"{run_flags.spec_name(_CONFIG)}: {config.data.name}, "
            f"{analysis.distortion_name(config.data)}, N = {rows[0]['num_patterns']}, "
            f"{_NUM_BATCHES.value} test batches per point",
      reference={"distorted query": query})
  table = runs.sweep_markdown(rows, score_name)
  with open(os.path.join(out, "distortion_rate.md"), "w") as f:
    f.write(table + "\n")
  print(table)
  print(f"Wrote {out}/distortion_rate.{{csv,png,md}}")


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
