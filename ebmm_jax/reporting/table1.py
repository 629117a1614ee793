"""Table 1 (random binary strings, Appendix A.2) as Markdown: every memory
next to the paper's numbers. `experiments/evaluate.py` is its launcher.

Rows: trained memories from their workdirs (EBMM or any Table 1 baseline; a
workdir trained at N serves column N, another of the same row is used and
marked * otherwise; workdirs of one model with different memory sizes make
separate rows; a model the paper's Table 1 does not have, such as the
Dynamic Kanerva Machine, is labelled "not in the paper" and has no paper
row), the classical Hopfield rules, and the modern Hopfield network with β
tuned per N on training batches. Each cell is the mean number of wrong bits
over every query of `num_batches` random test batches, with the 5th and 95th
percentiles; all models see the same batches (`seed`).
"""
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import ml_collections
from absl import logging

from ebmm_jax.setups import curriculum
from ebmm_jax.reporting import evaluation
from ebmm_jax import setups
from ebmm_jax.training import metrics as metrics_lib
from ebmm_jax.reporting import paper
from ebmm_jax.reporting import runs
from ebmm_jax import training
from ebmm_jax.baselines import hopfield
from ebmm_jax.baselines import modern_hopfield
from ebmm_jax.data import binary_strings
from ebmm_jax.reporting import tables

# Row order of the learned memories (Table 1 lists them in no particular order).
_ORDER = ("EBMM", "Memory Networks", "MANN", "LSTM", "Differentiable plasticity")
# Below this share of the budget a row is labelled with its memory size.
_BELOW_BUDGET = 0.9

Row = Tuple[str, str, List[str]]  # (name, memory floats, cells)


def _cell(summary, marked=False) -> str:
  return tables.cell(summary, pct_digits=0, mark="*" if marked else "")


def _ns_text(ns: Sequence[int]) -> str:
  """"16/32/64", or "1-96" for a model trained across a range of N."""
  ns = sorted(ns)
  if len(ns) > 3 and ns == list(range(ns[0], ns[-1] + 1)):
    return f"{ns[0]}-{ns[-1]} (every N)"
  return "/".join(str(n) for n in ns)


def _paper_row(name: str, ns: Sequence[int]) -> Row:
  # The paper gives every baseline the Hopfield network's memory (A.2).
  size = "8127" if name == "EBMM" else str(binary_strings.MEMORY_BUDGET)
  cell = lambda n: f"{paper.table1_cell(name, n):g}" if n in paper.TABLE1_NS else "-"
  return (f"{name} (paper)", size, [cell(n) for n in ns])


def _load(workdirs: Sequence[str]):
  """(row name, memory floats) -> [(trained N, workdir, exp, params)]."""
  groups = {}
  for workdir in workdirs:
    config = training.load_config(workdir)
    exp = setups.build(config)
    params = training.load_meta_params(config, workdir)
    floats = exp.model.memory_floats
    groups.setdefault((exp.model.name, floats), []).append(
        (curriculum.trained_ns(config), workdir, exp, params))
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
    if name not in paper.TABLE1:  # E.g. the Dynamic Kanerva Machine.
      label += ", not in the paper"
    if floats < _BELOW_BUDGET * binary_strings.MEMORY_BUDGET:
      label += f", {floats:,}-float memory (below the budget)"
    cells = []
    for n in ns:
      match = [m for m in models if n in m[0]]
      trained_ns, workdir, exp, params = (match or models)[0]
      trained_n = n if n in trained_ns else trained_ns[-1]
      start = time.time()
      out = evaluation.evaluate(exp, params, n, num_batches,
                                exp.config.eval.batches_per_call, seed)
      logging.info("%s N=%d (trained at N=%s, %s): %s in %.1f s; query %s", label, n,
                   _ns_text(trained_ns), workdir, out["summary"], time.time() - start, out["query"])
      results.setdefault(label, {})[n] = dict(
          out["summary"], trained_at=trained_n, workdir=workdir, memory_floats=floats,
          query=out["query"], per_iterate=out["per_iterate"].tolist(),
          training=runs.training_record(workdir))
      cells.append(_cell(out["summary"], marked=trained_n != n))
    rows.append((label, str(floats), cells))
    if name in paper.TABLE1 and name not in printed:
      rows.append(_paper_row(name, ns))
      printed.add(name)
    for trained_ns, workdir, _, _ in sorted(models, key=lambda m: m[0]):
      record = runs.training_record(workdir)
      seconds = "n/a" if record["seconds"] is None else f"{record['seconds']:.0f}"
      training_rows.append((label, _ns_text(trained_ns),
                            [f"{record['steps']:,}", seconds, workdir]))
  return rows, training_rows


def hopfield_rows(ns: Sequence[int], results: dict, rules: Sequence[str],
                  num_batches: int, seed: int) -> List[Row]:
  rows = []
  for rule in rules:
    if rule not in hopfield.RULES:
      raise ValueError(f"Unknown Hopfield rule {rule!r}; known: {list(hopfield.RULES)}.")
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
    rows.append((f"{name} (paper)", budget, [
        f"{paper.table1_cell(name, n):g}" if n in paper.TABLE1_NS else "-" for n in ns]))
  return rows


def modern_hopfield_rows(ns: Sequence[int], results: dict, num_batches: int, seed: int,
                         beta_batches: int,
                         make_config: Callable[[int], ml_collections.ConfigDict]
                         ) -> List[Row]:
  """The modern Hopfield network, β tuned per N on training batches.

  Args:
    make_config: N -> the network's config (`configs/modern_hopfield.py`).
  """
  cells, sizes = [], set()
  for n in ns:
    exp = setups.build(make_config(n))
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


def capacity_curves(results: dict, saved: Optional[dict] = None,
                    saved_rows: Sequence[str] = ()) -> Dict[str, List[tuple]]:
  """Error against N, one curve per row of `results` (a Table 1 run's JSON:
  label -> {N: summary}) and per row of `saved` named in `saved_rows` (an
  earlier run's JSON, e.g. trained baselines), labelled "(saved)".

  Returns:
    label -> [(N, summary with mean, p5, p95)], N increasing.
  """
  def points(cells):
    out = []
    for n, cell in cells.items():
      if isinstance(cell, dict) and "mean" in cell:
        out.append((int(n), {k: float(cell.get(k, cell["mean"])) for k in
                             ("mean", "p5", "p95")}))
    return sorted(out)

  curves = {label: points(cells) for label, cells in results.items()}
  for label in saved_rows:
    if saved is None or label not in saved:
      known = sorted(saved) if saved else []
      raise ValueError(f"No row {label!r} in the saved results; rows: {known}.")
    curves[f"{label}, saved"] = points(saved[label])
  return {label: pts for label, pts in curves.items() if pts}


def _markdown(header: Sequence[str], rows: Sequence[Row]) -> str:
  return tables.markdown(header, [[name, size, *cells] for name, size, cells in rows])


def table1(ns: Sequence[int], results: dict, workdirs: Sequence[str] = (),
           rules: Sequence[str] = tuple(hopfield.RULES),
           modern_config: Optional[Callable[[int], ml_collections.ConfigDict]] = None,
           num_batches: int = 1000, seed: int = 12345, beta_batches: int = 100) -> str:
  """Table 1 as Markdown (and the training table when models were given);
  fills `results` with every number.

  Args:
    modern_config: N -> the modern Hopfield network's config; None leaves its
      row out.
  """
  rows, training_rows = learned_rows(ns, results, workdirs, num_batches, seed)
  rows += hopfield_rows(ns, results, rules, num_batches, seed)
  if modern_config is not None:
    rows += modern_hopfield_rows(ns, results, num_batches, seed, beta_batches,
                                 modern_config)
  text = _markdown(["model", "memory (floats)", *[f"N = {n}" for n in ns]], rows)
  if training_rows:
    text += "\n\nTraining of the learned rows:\n\n" + _markdown(
        ["model", "trained at N", "meta-steps", "training time (s)", "workdir"],
        training_rows)
  return text
