r"""Trains a recipe study's variants one after another under one budget each,
then draws their curves and tabulates them.

  python -m experiments.recipe_study --study=configs/recipe_study.py:n=16 \
      --workdir=runs/study_n16

Each variant trains in WORKDIR/VARIANT (resumed if it is there; skipped if
it finished). Writes WORKDIR/curves.png (error of x(K) against training
seconds and meta-steps), WORKDIR/table.md and table.csv (training error at
the study's budgets and the final evaluation), and each variant's
metrics_subsampled.jsonl. --variants runs a subset; --budget_secs and
--eval_batches override the study's.
"""
import json
import os

from absl import app
from absl import flags
from absl import logging

from ebmm_jax.reporting import study
from ebmm_jax.experiments import cli
from ebmm_jax.experiments import run_flags

_STUDY = run_flags.config("Study config file.", name="study", required=True, lock=False)
_WORKDIR = run_flags.workdir("The study's folder.", required=True)
_VARIANTS = flags.DEFINE_list("variants", [], "Train only these variants (default: all).")
_BUDGET = flags.DEFINE_float("budget_secs", 0.0, "Training seconds per variant "
                             "(0: the study's budget_secs).")
_EVAL_BATCHES = flags.DEFINE_integer("eval_batches", 0, "Test batches per variant "
                                     "(0: the study's eval_batches).")
_EXPORT = flags.DEFINE_string(
    "export_dir", "", "Also copy the table, plot and each variant's evaluation, "
    "config and subsampled metrics here (e.g. a results folder).")
_DATA_DIR = run_flags.data_dir(
    "The data folder of an image study (sets data.data_dir in "
    "every variant).")
_REPORT_ONLY = flags.DEFINE_bool("report_only", False,
                                 "Only redraw the plot and table from what is trained.")


def main(argv):
  del argv  # Unused.
  s = _STUDY.value
  variants = dict((name, list(overrides)) for name, overrides in s.variants)
  unknown = [v for v in _VARIANTS.value if v not in variants]
  if unknown:
    raise app.UsageError(f"Unknown variants {unknown}; the study has {list(variants)}.")
  names = _VARIANTS.value or list(variants)
  budget = _BUDGET.value or s.budget_secs
  eval_batches = _EVAL_BATCHES.value or s.eval_batches
  if _DATA_DIR.value:
    variants = {n: o + [f"data.data_dir={_DATA_DIR.value}"] for n, o in variants.items()}
  configs = {n: study.variant_config(s.base, variants[n], budget) for n in names}
  os.makedirs(_WORKDIR.value, exist_ok=True)
  evals = {}
  for i, name in enumerate(names):
    workdir = os.path.join(_WORKDIR.value, name)
    if _REPORT_ONLY.value:
      done = os.path.join(workdir, study.DONE_FILE)
      if os.path.exists(done):
        with open(done) as f:
          evals[name] = json.load(f)
      continue
    logging.info("Variant %d/%d: %s  %s", i + 1, len(names), name, variants[name])
    evals[name] = study.run_variant(name, configs[name], workdir, budget,
                                    eval_batches, s.eval_seed)
    study.subsample_metrics(workdir, os.path.join(workdir, "metrics_subsampled.jsonl"))
  curves = {n: study.curve(os.path.join(_WORKDIR.value, n)) for n in names}
  score_name = study.score_name_of(configs[names[0]])
  markdown, rows = study.table(names, curves, evals, s.table_secs, score_name,
                               s.get("table_steps", ()))
  with open(os.path.join(_WORKDIR.value, "table.md"), "w") as f:
    f.write(f"Base config `{s.base}`, {budget:g} s per variant; training error is "
            f"the mean over the last 20% of each budget (seconds, or meta-steps).\n\n"
            + markdown)
  study.write_csv(os.path.join(_WORKDIR.value, "table.csv"), rows)
  study.plot(os.path.join(_WORKDIR.value, "curves.png"), curves, score_name,
             f"{s.base}, {budget:g} s per variant")
  if _EXPORT.value:
    study.export(_WORKDIR.value, names, _EXPORT.value)
  print(markdown)


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
