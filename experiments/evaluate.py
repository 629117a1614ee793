r"""Prints Table 1 (random binary strings): EBMM and the Hopfield rules next to
the paper's numbers, as a Markdown table.

  python -m experiments.evaluate --workdir=/tmp/ebmm_binary

Each cell is the mean number of wrong bits over every query of --num_batches
random test batches, with the 5th and 95th percentiles in brackets. An EBMM
workdir trained at N is used for that column; a column with no model trained
at its N uses the first --workdir and is marked with * (the learned writing
rule averages over the batch, so it applies to any N).
"""
import time

import jax
from absl import app
from absl import flags
from absl import logging

from ebmm_jax import evaluation
from ebmm_jax import experiment as experiment_lib
from ebmm_jax import metrics as metrics_lib
from ebmm_jax import paper
from ebmm_jax import params as params_lib
from ebmm_jax import training
from ebmm_jax.baselines import hopfield

_WORKDIRS = flags.DEFINE_multi_string("workdir", [], "EBMM training workdir(s).")
_NS = flags.DEFINE_list("ns", [str(n) for n in paper.TABLE1_NS], "Patterns per memory.")
_NUM_BATCHES = flags.DEFINE_integer("num_batches", 1000, "Random test batches per cell.")
_HOPFIELD = flags.DEFINE_list("hopfield", list(hopfield.RULES),
                              "Hopfield rules to evaluate (empty: none).")
_SEED = flags.DEFINE_integer("seed", 12345, "Evaluation seed.")
_OUTPUT = flags.DEFINE_string("output", "", "Also write the Markdown table here.")
_JSON = flags.DEFINE_string("json", "", "Also write all numbers here as JSON.")

def _cell(summary, marked=False) -> str:
  star = "*" if marked else ""
  return f"{summary['mean']:.2f}{star} [{summary['p5']:.0f}, {summary['p95']:.0f}]"


def _ebmm_rows(ns, results):
  if not _WORKDIRS.value:
    return []
  models = []
  for workdir in _WORKDIRS.value:
    config = training.load_config(workdir)
    exp = experiment_lib.build(config)
    meta_params = training.load_meta_params(config, workdir)
    models.append((config.data.num_patterns, workdir, exp, meta_params))
  cells, sizes = [], set()
  for n in ns:
    match = [m for m in models if m[0] == n]
    trained_n, workdir, exp, meta_params = (match or models)[0]
    start = time.time()
    out = evaluation.evaluate(exp, meta_params, n, _NUM_BATCHES.value,
                              exp.config.eval.batches_per_call, _SEED.value)
    sizes.add(params_lib.count_floats(meta_params.write.init_memory))
    logging.info("EBMM N=%d (model trained at N=%d, %s): %s in %.1f s; query %s",
                 n, trained_n, workdir, out["summary"], time.time() - start, out["query"])
    results.setdefault("EBMM (ebmm-jax)", {})[n] = dict(
        out["summary"], trained_at=trained_n, workdir=workdir,
        query=out["query"], per_iterate=out["per_iterate"].tolist())
    cells.append(_cell(out["summary"], marked=trained_n != n))
  size = "/".join(str(s) for s in sorted(sizes))
  return [("EBMM (ebmm-jax)", size, cells),
          ("EBMM (paper)", "8127", [f"{paper.table1_cell('EBMM', n):g}" for n in ns])]


def _hopfield_rows(ns, results):
  rows = []
  for rule in _HOPFIELD.value:
    if rule not in hopfield.RULES:
      raise app.UsageError(f"Unknown Hopfield rule {rule!r}; known: {list(hopfield.RULES)}.")
    name = hopfield.RULE_NAMES[rule]
    cells = []
    for n in ns:
      start = time.time()
      errors = hopfield.evaluate(rule, n, _NUM_BATCHES.value, _SEED.value)
      summary = metrics_lib.summarize(errors)
      logging.info("%s N=%d: %s in %.1f s", name, n, summary, time.time() - start)
      results.setdefault(f"{name} (ebmm-jax)", {})[n] = summary
      cells.append(_cell(summary))
    budget = str(hopfield.memory_size(128))
    rows.append((f"{name} (ebmm-jax)", budget, cells))
    rows.append((f"{name} (paper)", budget, [f"{paper.table1_cell(name, n):g}" for n in ns]))
  return rows


def table1(ns, results) -> str:
  rows = _ebmm_rows(ns, results) + _hopfield_rows(ns, results)
  header = "| model | memory (floats) | " + " | ".join(f"N = {n}" for n in ns) + " |"
  lines = [header, "|" + "---|" * (len(ns) + 2)]
  lines += [f"| {name} | {size} | " + " | ".join(cells) + " |" for name, size, cells in rows]
  return "\n".join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  ns = [int(n) for n in _NS.value]
  results = {}
  table = table1(ns, results)
  note = (f"\nError bits: mean [5th, 95th percentile] over every query of "
          f"{_NUM_BATCHES.value} random batches (seed {_SEED.value}); * = EBMM "
          f"model trained at another N. Devices: {jax.devices()[0].platform}.")
  metrics_lib.report(table + note, _OUTPUT.value, _JSON.value, results)


if __name__ == "__main__":
  app.run(main)
