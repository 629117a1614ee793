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

from absl import flags

from ebmm_jax.experiments import cli
from ebmm_jax.experiments import run_flags
from ebmm_jax.reporting import analysis
from ebmm_jax.reporting import runs
from ebmm_jax.reporting import table3

_CONFIG = run_flags.config(
    "The C.5 config and variants "
    "(2-class batches; the uniform row sets data.batch_classes=0); "
    "--config.FIELD=VALUE overrides a field of every model.",
    default="omniglot_correlated")
_MEMS = flags.DEFINE_list("mems", ["4k", "5k"], "Memory sizes (Table 3: 4K, 5K).")
_ROOT = run_flags.root("Parent folder of the four workdirs.", required=True)
_OUTPUT_DIR = run_flags.output_dir("Default: --root.")
_TRAIN_SECONDS, _TRAIN_STEPS = run_flags.training_budget()
_NUM_BATCHES = run_flags.num_batches("Random test batches per model and cell.")
_SEED = run_flags.seed()


def main(argv):
  del argv  # Unused.
  pts = table3.points(_CONFIG.value, _MEMS.value, _ROOT.value)
  rows = runs.evaluate_points(pts, _TRAIN_SECONDS.value, _NUM_BATCHES.value,
                              _SEED.value, train_steps=_TRAIN_STEPS.value)
  out = _OUTPUT_DIR.value or _ROOT.value
  analysis.write_csv(os.path.join(out, "table3.csv"), runs.csv_rows(rows))
  text = (table3.table(rows, _MEMS.value) + f"\n\nHamming error per image, mean [5th, "
          f"95th percentile] over every query of {_NUM_BATCHES.value} "
          f"random test batches of N = {rows[0]['num_patterns']} (seed "
          f"{_SEED.value}); meta-steps: "
          + ", ".join(f"{r['label']} {r['steps']}" for r in rows) + ".")
  with open(os.path.join(out, "table3.md"), "w") as f:
    f.write(text + "\n")
  print(text)


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
