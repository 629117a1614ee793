r"""Correlated batches (Appendix A.7, Table 3): uniform vs 2-class batches.

Trains (or loads) the C.5 model (`configs/omniglot_correlated.py`) at each
memory size with uniform batches and with batches of exactly 2 characters,
evaluates each on test batches drawn like its training batches, and writes
`table3.md` and `table3.csv` into --output_dir (default --root), next to the
paper's Table 3.

  python -m experiments.correlated --config=configs/omniglot_correlated.py:cpu \
      --mems=4k,5k --config.data.data_dir=DATA_DIR \
      --root=runs/table3 --train_seconds=600

Workdirs: `<root>/uniform_mem_<K>` and `<root>/2class_mem_<K>`; with
--train_seconds=0 they are only loaded.
"""
import os

from absl import app
from absl import flags
from ml_collections import config_flags

from ebmm_jax.configs import image_base
from ebmm_jax.setups import specs
from ebmm_jax.reporting import analysis
from ebmm_jax.reporting import paper
from ebmm_jax.reporting import runs
from ebmm_jax.experiments import run_flags
from ebmm_jax.experiments import cli
from ebmm_jax.reporting import tables

_CONFIG = config_flags.DEFINE_config_file(
    "config", specs.resolve("omniglot_correlated"), "The C.5 config and variants "
    "(2-class batches; the uniform row sets data.batch_classes=0); "
    "--config.FIELD=VALUE overrides a field of every model.", lock_config=True)
_MEMS = flags.DEFINE_list("mems", ["4k", "5k"], "Memory sizes (Table 3: 4K, 5K).")
_ROOT = flags.DEFINE_string("root", None, "Parent folder of the four workdirs.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "", "Default: --root.")
flags.mark_flags_as_required(["root"])

# Table 3's rows: (name, data.batch_classes, workdir prefix).
SAMPLINGS = (("uniform", 0, "uniform"), ("2 classes", 2, "2class"))


def points(config, mems, root):
  if config.data.batch_classes != 2:
    raise app.UsageError(f"The config gives data.batch_classes="
                         f"{config.data.batch_classes}; Table 3's correlated row needs 2.")
  out = []
  for name, classes, prefix in SAMPLINGS:
    for m in mems:
      c = specs.with_overrides(config, [
          f"data.batch_classes={classes}",
          f"energy.memory_budget={image_base.parse_memory_budget(m)}"])
      out.append(runs.Point(f"{name}, mem={m}", c, os.path.join(root, f"{prefix}_mem_{m}")))
  return out


def table(rows, mems) -> str:
  header = (["batches"] + [f"ebmm-jax, mem={m}" for m in mems]
            + [f"paper, {m}" for m in paper.TABLE3_MEMORY])
  lines = []
  for i, (name, _, _) in enumerate(SAMPLINGS):
    mine = rows[i * len(mems):(i + 1) * len(mems)]
    cells = [f"{tables.cell(r, pct_digits=0)} ({r['memory_floats']} "
             f"floats, query {r['query_mean']:.1f})" for r in mine]
    lines.append([name] + cells + [f"{v:g}" for v in paper.TABLE3[name]])
  return tables.markdown(header, lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  pts = points(_CONFIG.value, _MEMS.value, _ROOT.value)
  rows = runs.evaluate_points(
      pts, run_flags.TRAIN_SECONDS.value, run_flags.NUM_BATCHES.value,
      run_flags.SEED.value, train_steps=run_flags.TRAIN_STEPS.value)
  out = _OUTPUT_DIR.value or _ROOT.value
  analysis.write_csv(os.path.join(out, "table3.csv"), runs.csv_rows(rows))
  text = (table(rows, _MEMS.value) + f"\n\nHamming error per image, mean [5th, "
          f"95th percentile] over every query of {run_flags.NUM_BATCHES.value} "
          f"random test batches of N = {rows[0]['num_patterns']} (seed "
          f"{run_flags.SEED.value}); meta-steps: "
          + ", ".join(f"{r['label']} {r['steps']}" for r in rows) + ".")
  with open(os.path.join(out, "table3.md"), "w") as f:
    f.write(text + "\n")
  print(text)


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
