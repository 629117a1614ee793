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
gives the training of each learned row: meta-steps and wall time.
"""
import time
from typing import Dict, List, Sequence, Tuple

import jax
from absl import app
from absl import flags
from absl import logging

from configs import modern_hopfield as modern_hopfield_config
from ebmm_jax import evaluation
from ebmm_jax import experiment as experiment_lib
from ebmm_jax import metrics as metrics_lib
from ebmm_jax import paper
from ebmm_jax import training
from ebmm_jax.baselines import hopfield
from ebmm_jax.baselines import modern_hopfield
from ebmm_jax.data import binary_strings

_WORKDIRS = flags.DEFINE_multi_string(
    "workdir", [], "Training workdir(s) of any model (EBMM or a Table 1 baseline).")
_NS = flags.DEFINE_list("ns", [str(n) for n in paper.TABLE1_NS], "Patterns per memory.")
_NUM_BATCHES = flags.DEFINE_integer("num_batches", 1000, "Random test batches per cell.")
_HOPFIELD = flags.DEFINE_list("hopfield", list(hopfield.RULES),
                              "Hopfield rules to evaluate (empty: none).")
_MODERN_HOPFIELD = flags.DEFINE_bool(
    "modern_hopfield", True, "Add the modern Hopfield network (Ramsauer et al., 2020).")
_BETA_BATCHES = flags.DEFINE_integer(
    "beta_batches", 100, "Training batches on which the modern Hopfield β is tuned.")
_SEED = flags.DEFINE_integer("seed", 12345, "Evaluation seed.")
_OUTPUT = flags.DEFINE_string("output", "", "Also write the Markdown table here.")
_JSON = flags.DEFINE_string("json", "", "Also write all numbers here as JSON.")

# Row order of the learned memories (Table 1 lists them in no particular order).
_ORDER = ("EBMM", "Memory Networks", "MANN", "LSTM", "Differentiable plasticity")
# Below this share of the budget a row is labelled with its memory size.
_BELOW_BUDGET = 0.9

Row = Tuple[str, str, List[str]]  # (name, memory floats, cells)


def _cell(summary, marked=False) -> str:
  star = "*" if marked else ""
  return f"{summary['mean']:.2f}{star} [{summary['p5']:.0f}, {summary['p95']:.0f}]"


def _paper_row(name: str, ns: Sequence[int]) -> Row:
  # The paper gives every baseline the Hopfield network's memory (A.2).
  size = "8127" if name == "EBMM" else str(binary_strings.MEMORY_BUDGET)
  return (f"{name} (paper)", size, [f"{paper.table1_cell(name, n):g}" for n in ns])


def training_record(workdir: str) -> Dict[str, object]:
  """Meta-steps and wall time of a workdir's training, from `metrics.jsonl`.

  A resumed run has one session per start; its time is the sum of each
  session's last `session_seconds`. Runs logged before that field existed
  report the time between their first and last metric line (None if one).
  """
  rows = metrics_lib.read_metrics(workdir)
  if not rows:
    return dict(steps=0, seconds=None)
  seconds, session, previous = 0.0, 0.0, -1.0
  timed = all("session_seconds" in r for r in rows)
  for r in rows:
    if timed:
      if r["session_seconds"] < previous:  # A new session started.
        seconds += session
      session = previous = r["session_seconds"]
  if timed:
    seconds += session
  else:
    seconds = rows[-1]["time"] - rows[0]["time"] if len(rows) > 1 else None
  return dict(steps=int(rows[-1]["step"]), seconds=seconds)


def _load(workdirs: Sequence[str]):
  """(row name, memory floats) -> [(trained N, workdir, exp, params)]."""
  groups = {}
  for workdir in workdirs:
    config = training.load_config(workdir)
    exp = experiment_lib.build(config)
    params = training.load_meta_params(config, workdir)
    floats = exp.model.memory_floats
    groups.setdefault((exp.model.name, floats), []).append(
        (config.data.num_patterns, workdir, exp, params))
  # Paper order, then the budget-size model before smaller ones of its kind.
  order = lambda key: (_ORDER.index(key[0]) if key[0] in _ORDER else len(_ORDER),
                       key[0], -key[1])
  return {key: groups[key] for key in sorted(groups, key=order)}


def learned_rows(ns: Sequence[int], results: dict, workdirs: Sequence[str],
                 num_batches: int, seed: int) -> Tuple[List[Row], List[Row]]:
  """Rows of the trained memories (and the paper's), and their training."""
  rows, training_rows, printed = [], [], set()
  for (name, floats), models in _load(workdirs).items():
    label = f"{name} (ebmm-jax)"
    if floats < _BELOW_BUDGET * binary_strings.MEMORY_BUDGET:
      label += f", {floats:,}-float memory (below the budget)"
    cells = []
    for n in ns:
      match = [m for m in models if m[0] == n]
      trained_n, workdir, exp, params = (match or models)[0]
      start = time.time()
      out = evaluation.evaluate(exp, params, n, num_batches,
                                exp.config.eval.batches_per_call, seed)
      logging.info("%s N=%d (trained at N=%d, %s): %s in %.1f s; query %s", label, n,
                   trained_n, workdir, out["summary"], time.time() - start, out["query"])
      results.setdefault(label, {})[n] = dict(
          out["summary"], trained_at=trained_n, workdir=workdir, memory_floats=floats,
          query=out["query"], per_iterate=out["per_iterate"].tolist(),
          training=training_record(workdir))
      cells.append(_cell(out["summary"], marked=trained_n != n))
    rows.append((label, str(floats), cells))
    if name in paper.TABLE1 and name not in printed:
      rows.append(_paper_row(name, ns))
      printed.add(name)
    for trained_n, workdir, _, _ in sorted(models, key=lambda m: m[0]):
      record = training_record(workdir)
      seconds = "n/a" if record["seconds"] is None else f"{record['seconds']:.0f}"
      training_rows.append((label, str(trained_n), [f"{record['steps']:,}", seconds, workdir]))
  return rows, training_rows


def hopfield_rows(ns: Sequence[int], results: dict, rules: Sequence[str],
                  num_batches: int, seed: int) -> List[Row]:
  rows = []
  for rule in rules:
    if rule not in hopfield.RULES:
      raise app.UsageError(f"Unknown Hopfield rule {rule!r}; known: {list(hopfield.RULES)}.")
    name = hopfield.RULE_NAMES[rule]
    cells = []
    for n in ns:
      start = time.time()
      errors = hopfield.evaluate(rule, n, num_batches, seed)
      summary = metrics_lib.summarize(errors)
      logging.info("%s N=%d: %s in %.1f s", name, n, summary, time.time() - start)
      results.setdefault(f"{name} (ebmm-jax)", {})[n] = summary
      cells.append(_cell(summary))
    budget = str(hopfield.memory_size(128))
    rows.append((f"{name} (ebmm-jax)", budget, cells))
    rows.append((f"{name} (paper)", budget, [f"{paper.table1_cell(name, n):g}" for n in ns]))
  return rows


def modern_hopfield_rows(ns: Sequence[int], results: dict, num_batches: int, seed: int,
                         beta_batches: int) -> List[Row]:
  """The modern Hopfield network, β tuned per N on training batches."""
  cells, sizes = [], set()
  for n in ns:
    exp = experiment_lib.build(modern_hopfield_config.get_config(f"n={n}"))
    tuned = modern_hopfield.tune_beta(exp, n, num_batches=beta_batches,
                                      seed=exp.config.seed)
    start = time.time()
    out = evaluation.evaluate(exp, modern_hopfield.params_for(tuned["beta"]), n,
                              num_batches, exp.config.eval.batches_per_call, seed)
    logging.info("Modern Hopfield N=%d, β=%g: %s in %.1f s", n, tuned["beta"],
                 out["summary"], time.time() - start)
    results.setdefault(f"{modern_hopfield.NAME} (ebmm-jax)", {})[n] = dict(
        out["summary"], beta=tuned["beta"], beta_errors=tuned["errors"],
        beta_squared_errors=tuned["squared_errors"],
        beta_batches=beta_batches, memory_floats=exp.model.memory_floats)
    cells.append(_cell(out["summary"]) + f" β={tuned['beta']:g}")
    sizes.add(exp.model.memory_floats)
  size = "/".join(str(s) for s in sorted(sizes))
  return [(f"{modern_hopfield.NAME} (ebmm-jax), not in the paper", size, cells)]


def _markdown(header: Sequence[str], rows: Sequence[Row]) -> str:
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += [f"| {name} | {size} | " + " | ".join(cells) + " |" for name, size, cells in rows]
  return "\n".join(lines)


def table1(ns: Sequence[int], results: dict, workdirs: Sequence[str] = (),
           rules: Sequence[str] = tuple(hopfield.RULES), modern: bool = True,
           num_batches: int = 1000, seed: int = 12345, beta_batches: int = 100) -> str:
  """Table 1 as Markdown (and the training table when models were given);
  fills `results` with every number."""
  rows, training_rows = learned_rows(ns, results, workdirs, num_batches, seed)
  rows += hopfield_rows(ns, results, rules, num_batches, seed)
  if modern:
    rows += modern_hopfield_rows(ns, results, num_batches, seed, beta_batches)
  text = _markdown(["model", "memory (floats)", *[f"N = {n}" for n in ns]], rows)
  if training_rows:
    text += "\n\nTraining of the learned rows:\n\n" + _markdown(
        ["model", "trained at N", "meta-steps", "training time (s)", "workdir"],
        training_rows)
  return text


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  ns = [int(n) for n in _NS.value]
  results = {}
  table = table1(ns, results, _WORKDIRS.value, _HOPFIELD.value, _MODERN_HOPFIELD.value,
                 _NUM_BATCHES.value, _SEED.value, _BETA_BATCHES.value)
  note = (f"\nError bits: mean [5th, 95th percentile] over every query of "
          f"{_NUM_BATCHES.value} random batches (seed {_SEED.value}); * = model "
          f"trained at another N. Devices: {jax.devices()[0].platform}.")
  metrics_lib.report(table + note, _OUTPUT.value, _JSON.value, results)


if __name__ == "__main__":
  app.run(main)
