r"""Prints Table 1 (random binary strings, Appendix A.2): every memory next to
the paper's numbers, as a Markdown table.

  python -m experiments.evaluate --workdir=/tmp/ebmm_binary
  python -m experiments.evaluate --workdir=runs/memnet_n16 --workdir=runs/mann_n16 ...

--workdir takes training workdirs of any model (EBMM, `configs/memnet.py`,
`mann.py`, `lstm.py`, `plasticity.py`); each row is named by the model in
the workdir's config. A workdir trained at N is used for column N; a column
with no model of that row trained at its N uses the row's first workdir and
is marked with * (the model is written with a number of patterns it was not
trained with). Workdirs of one model with different memory sizes (e.g.
`lstm.py:small`) make separate rows.

Without training, the three classical Hopfield rules (--hopfield) and the
modern Hopfield network (--modern_hopfield; its inverse temperature tuned per
N on --beta_batches training batches, then recorded) are added.

Each cell is the mean number of wrong bits over every query of --num_batches
random test batches, with the 5th and 95th percentiles in brackets; every
model is scored on the same batches and queries (--seed). A second table
gives the training of each learned row: meta-steps and wall time. The table
is built by `ebmm_jax.reporting.table1`.

--figure draws the capacity curve: error against N for every row (a model
trained across N, `data.num_patterns_per_memory`, serves every N up to its
padded size with one set of meta-parameters), with rows of an earlier run's
JSON(s) added by --saved and --saved_rows (e.g. trained Memory Networks, or
the Hopfield rows of a run without workdirs):

  python -m experiments.evaluate --workdir=runs/binary_all_n \
      --ns=1,4,8,16,32,48,64,96,128 --figure=capacity.png \
      --saved=docs/results/table1_baselines.json \
      --saved_rows="Memory Networks (ebmm-jax)"
"""
import json

import jax
from absl import app
from absl import flags

from ebmm_jax.training import metrics as metrics_lib
from ebmm_jax.reporting import paper
from ebmm_jax.reporting import table1 as table1_lib
from ebmm_jax.baselines import hopfield
from ebmm_jax.experiments import cli
from ebmm_jax.setups import specs
from ebmm_jax.experiments import run_flags

_WORKDIRS = run_flags.workdirs(
    "Training workdir(s) of any model (EBMM or a Table 1 baseline).")
_NS = flags.DEFINE_list("ns", [str(n) for n in paper.TABLE1_NS], "Patterns per memory.")
_NUM_BATCHES = run_flags.num_batches("Random test batches per cell.")
_HOPFIELD = flags.DEFINE_list("hopfield", list(hopfield.RULES),
                              "Hopfield rules to evaluate (empty: none).")
_MODERN_HOPFIELD = flags.DEFINE_bool(
    "modern_hopfield", True, "Add the modern Hopfield network (Ramsauer et al., 2020).")
_BETA_BATCHES = flags.DEFINE_integer(
    "beta_batches", 100, "Training batches on which the modern Hopfield β is tuned.")
_SEED = run_flags.seed()
_OUTPUT = run_flags.output("Also write the Markdown table here.")
_JSON = flags.DEFINE_string("json", "", "Also write all numbers here as JSON.")
_FIGURE = flags.DEFINE_string("figure", "", "Also draw error against N (a PNG) here.")
_SAVED = flags.DEFINE_multi_string("saved", [], "JSON file(s) written by --json whose "
                                   "rows --saved_rows adds to the figure.")
_SAVED_ROWS = flags.DEFINE_list("saved_rows", [], "Rows of --saved to draw.")


def main(argv):
  del argv  # Unused.
  ns = [int(n) for n in _NS.value]
  unknown = [r for r in _HOPFIELD.value if r not in hopfield.RULES]
  if unknown:
    raise app.UsageError(f"Unknown Hopfield rule(s) {unknown}; known: {list(hopfield.RULES)}.")
  saved = None
  if _SAVED_ROWS.value:
    if not _SAVED.value:
      raise app.UsageError("--saved_rows needs --saved (a JSON written by --json).")
    saved = {}
    for path in _SAVED.value:
      with open(path) as f:
        saved.update(json.load(f))
    table1_lib.capacity_curves({}, saved, _SAVED_ROWS.value)  # Unknown rows: fail now.
  modern = None
  if _MODERN_HOPFIELD.value:
    modern = lambda n: specs.load(f"modern_hopfield:n={n}")
  results = {}
  table = table1_lib.table1(ns, results, _WORKDIRS.value, _HOPFIELD.value, modern,
                            _NUM_BATCHES.value, _SEED.value, _BETA_BATCHES.value)
  note = (f"\nError bits: mean [5th, 95th percentile] over every query of "
          f"{_NUM_BATCHES.value} random batches (seed {_SEED.value}); * = model "
          f"trained at another N. Devices: {jax.devices()[0].platform}.")
  metrics_lib.report(table + note, _OUTPUT.value, _JSON.value, results)
  if _FIGURE.value:
    from ebmm_jax.reporting import plotting
    plotting.error_curves(
        _FIGURE.value, table1_lib.capacity_curves(results, saved, _SAVED_ROWS.value),
        xlabel="patterns per memory N", ylabel="error bits (mean, 5th-95th pct.)",
        title=f"Capacity: 128-bit strings, half the bits distorted "
              f"({_NUM_BATCHES.value} batches per point)", log_x=True)


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
