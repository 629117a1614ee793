"""Table 2 (Appendix A.3) as Markdown: the non-memory image baselines next to
the paper's numbers. `experiments/table2.py` is its launcher.

A cell is one (model, dataset, noise): the model's config with the variants
`data=DATASET` and, for salt-and-pepper, `salt`, trained (or loaded) in its
own workdir `<root>/<config>_<dataset>_<noise>` and scored on random test
batches with the image protocols of Section 4 (Hamming error per image for
Omniglot, squared error per image for CIFAR-10 and ImageNet 64x64). The VAE's
attractor step size γ is grid-searched on training batches before it is
scored, as the paper does. The VAE is trained on clean images (Appendix
A.3: the distortion only enters its reading), so one VAE per dataset serves
both noises: the salt-and-pepper cell reads with the block cell's trained
model (`<root>/vae_<dataset>_block`) and keeps its own evaluations there
(they are keyed by the distortion). Deep Image Prior is not meta-trained:
its one "training" step only writes the checkpoint of its fixed random
generator.
"""
import dataclasses
import json
import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import jax
from absl import logging

from ebmm_jax import setups
from ebmm_jax import training
from ebmm_jax.baselines import vae
from ebmm_jax.reporting import paper
from ebmm_jax.reporting import runs
from ebmm_jax.reporting import tables
from ebmm_jax.setups import specs

DATASETS = ("omniglot", "cifar10", "imagenet64")
NOISES = ("block", "salt_and_pepper")
# Table 2's rows: the paper's name of each model and its config.
MODELS = {"vae": "VAE", "dae": "DAE", "deep_image_prior": "Deep Image Prior"}
# Models that are not meta-trained: one step writes their checkpoint.
UNTRAINED = ("deep_image_prior",)
# Models whose training never sees the distortion: every noise's cell reads
# with the model trained in the block cell's workdir.
TRAINED_WITHOUT_NOISE = ("vae",)
VAE_CONFIG = "vae"  # The `model.name` whose γ is grid-searched.
# Training batches of the VAE's grid search for γ.
GRID_SEARCH_BATCHES = 4

Key = Tuple[str, str, str]  # (model config, dataset, noise)


@dataclasses.dataclass(frozen=True)
class Cell:
  """A cell: `point` is what is scored (the cell's config and the workdir
  holding its evaluations); `trained` is what is trained or loaded, the same
  point except for `TRAINED_WITHOUT_NOISE` models under another noise than
  the block (then the block cell's point)."""
  key: Key
  point: runs.Point
  trained: runs.Point


def cells(models: Sequence[str], datasets: Sequence[str], noises: Sequence[str],
          variant: str, root: str, overrides: Sequence[str] = ()) -> List[Cell]:
  """One cell per (model, dataset, noise), each with its config and workdir.

  Args:
    models: keys of `MODELS` (config names).
    datasets: of `DATASETS`.
    noises: of `NOISES`.
    variant: the configs' size variant, e.g. "cpu", "gpu" or "runlocal".
    root: the parent folder of the cells' workdirs.
    overrides: "section.field=value" applied to every cell (e.g. the data
      folder).
  """
  for name, known in (("model", MODELS), ("dataset", DATASETS), ("noise", NOISES)):
    values = {"model": models, "dataset": datasets, "noise": noises}[name]
    unknown = [v for v in values if v not in known]
    if unknown or not values:
      raise ValueError(f"{name}s {list(values)}: expected some of {list(known)}.")
  def point(model, dataset, noise):
    variants = [v for v in (variant, f"data={dataset}",
                            "salt" if noise == "salt_and_pepper" else "") if v]
    return runs.Point(f"{model}, {dataset}, {noise}",
                      specs.load(f"{model}:{','.join(variants)}", overrides),
                      os.path.join(root, f"{model}_{dataset}_{noise}"))

  out = []
  for model in models:
    for dataset in datasets:
      for noise in noises:
        scored = trained = point(model, dataset, noise)
        if model in TRAINED_WITHOUT_NOISE and noise != "block":
          trained = point(model, dataset, "block")
          scored = dataclasses.replace(scored, workdir=trained.workdir)
        out.append(Cell((model, dataset, noise), scored, trained))
  return out


def tune_step_size(point: runs.Point, params, seed: int, step: Optional[int] = None,
                   num_batches: int = GRID_SEARCH_BATCHES
                   ) -> Tuple[runs.Point, Dict[float, float]]:
  """The VAE's point with γ set by Appendix A.3's grid search on training
  batches (with its trained `params`); other models' points as they are.

  With the checkpoint's `step`, the search's scores are kept in the point's
  workdir (`evaluations/`, keyed like its evaluations) and read back when
  the same search is asked again. `num_batches`: the training batches the
  search scores each γ on."""
  if point.config.model.name != VAE_CONFIG:
    return point, {}
  n = point.config.data.num_patterns
  path = (runs.cache_path(point.workdir, point.config, step, n, num_batches,
                          seed, kind="step_size_") if step is not None else None)
  if path and os.path.exists(path):
    with open(path) as f:
      record = json.load(f)
    best, scores = record["best"], {float(k): v for k, v in record["scores"].items()}
  else:
    exp = setups.build(point.config)
    batches = exp.sample_train(jax.random.PRNGKey(seed), num_batches, n)
    best, scores = vae.grid_search_step_size(point.config, exp.task, params, batches,
                                             jax.random.PRNGKey(seed + 1))
    if path:
      runs.write_json(path, dict(best=best, scores={str(k): v for k, v in scores.items()}))
  logging.info("%s: γ = %g by grid search (%s)", point.label, best, scores)
  return dataclasses.replace(point, config=vae.with_step_size(point.config, best)), scores


def run_cells(table: Sequence[Cell], train_seconds: float, train_steps: int,
              num_batches: int, seed: int,
              num_batches_for: Optional[Mapping[str, int]] = None,
              num_patterns_for: Optional[Mapping[str, int]] = None,
              grid_search_batches: int = GRID_SEARCH_BATCHES
              ) -> Dict[Key, Dict[str, object]]:
  """Trains (or loads) and scores every cell.

  Args:
    train_seconds, train_steps: each meta-trained cell's budget (both 0: only
      load); untrained models make their one step when they have no checkpoint.
    num_batches: test batches per cell; `num_batches_for[model]` replaces it
      for a model (Deep Image Prior fits a network to every query).
    num_patterns_for: {model: images per test batch} replacing a model's
      config N when scoring it; for the models without memory, whose reads
      of one batch's queries are independent, it only sets how many queries
      a batch holds (Deep Image Prior scored on fewer queries).
    grid_search_batches: training batches of the VAE's search for γ.

  Returns:
    {key: `runs.evaluate_cached`'s row with label, workdir, train_seconds,
    step_size and the VAE's grid-search `step_size_scores`}.
  """
  results, done = {}, {}  # done: workdir -> (params, step) trained in this call.
  for c in table:
    model, workdir = c.key[0], c.trained.workdir
    seconds, steps = train_seconds, train_steps
    if model in UNTRAINED:
      has_checkpoint = os.path.exists(training.checkpoint_dir(workdir))
      seconds, steps = 0.0, (0 if has_checkpoint else 1)
    batches = (num_batches_for or {}).get(model, num_batches)
    if workdir not in done:  # A model shared by several cells trains once.
      done[workdir] = runs.train_or_load(c.trained.config, workdir, seconds, steps)
    params, step = done[workdir]
    point, scores = tune_step_size(c.point, params, seed, step, grid_search_batches)
    n = (num_patterns_for or {}).get(model) or point.config.data.num_patterns
    row = runs.evaluate_cached(point, params, step, n, batches, seed)
    results[c.key] = dict(row, label=point.label, workdir=point.workdir,
                          train_seconds=round(runs.training_seconds(point.workdir), 1),
                          step_size_scores=scores,
                          step_size=point.config.model.get("step_size"))
  return results


def load_saved(path: str, variant: str) -> Dict[Key, Dict[str, object]]:
  """The cells an earlier call wrote to `path` (a `table2.json`; {} when there
  is none), so a call for some cells adds them to the table instead of
  replacing it. Raises ValueError when that table holds another size variant."""
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    saved = json.load(f)
  if saved.get("variant") != variant:
    raise ValueError(f"{path} holds the {saved.get('variant')!r} cells, not "
                     f"{variant!r}: give another --output_dir (or --root).")
  return {tuple(k.split(" / ")): v for k, v in saved["cells"].items()}


def record(results: Mapping[Key, Mapping[str, object]], variant: str) -> Dict[str, object]:
  """`table2.json`'s content: every cell's numbers with the paper's beside."""
  return dict(variant=variant, cells={" / ".join(k): dict(v, paper=paper_cell(*k))
                                      for k, v in results.items()})


def present(results: Mapping[Key, object]) -> Tuple[List[str], List[str], List[str]]:
  """The models, datasets and noises of `results`' cells, in Table 2's order."""
  return tuple([x for x in known if any(k[i] == x for k in results)]
               for i, known in enumerate((list(MODELS), DATASETS, NOISES)))


def paper_cell(model: str, dataset: str, noise: str) -> str:
  """The paper's number for a cell ("-" where it gives none; "*": the model
  is told where the block is)."""
  row = paper.TABLE2.get((noise, dataset), {})
  name = MODELS[model]
  for label in (name, name + "*"):
    if label in row:
      return f"{row[label]:g}" + ("*" if label.endswith("*") else "")
  return "-"


def markdown(results: Mapping[Key, Mapping[str, object]], models: Sequence[str],
             datasets: Sequence[str], noises: Sequence[str]) -> str:
  """Table 2's layout: a column per (noise, dataset), a row per model
  measured here and one with the paper's numbers under it."""
  columns = [(n, d) for n in noises for d in datasets]
  header = ["model"] + [f"{'block' if n == 'block' else 'salt-and-pepper'}, {d}"
                        for n, d in columns]
  rows = []
  for m in models:
    ours = [tables.cell(results[(m, d, n)]["summary"]) if (m, d, n) in results else "-"
            for n, d in columns]
    rows.append([f"{MODELS[m]} (here)"] + ours)
    rows.append([f"{MODELS[m]} (paper)"] + [paper_cell(m, d, n) for n, d in columns])
  return tables.markdown(header, rows)


def details(results: Mapping[Key, Mapping[str, object]]) -> str:
  """What each measured cell cost: meta-steps, training seconds, batches, and
  the distorted query's own error."""
  header = ["model", "dataset", "noise", "N", "meta-steps", "training (s)",
            "test batches", "query's own error", "VAE γ"]
  rows = [[MODELS[m], d, n, r["num_patterns"], r["steps"], f"{r['train_seconds']:.0f}",
           r["num_batches"], f"{r['query_mean']:.2f}",
           f"{r['step_size']:g}" if r.get("step_size_scores") else "-"]
          for (m, d, n), r in results.items()]
  return tables.markdown(header, rows)


__all__ = ["Cell", "DATASETS", "MODELS", "NOISES", "TRAINED_WITHOUT_NOISE", "UNTRAINED", "cells", "details",
           "load_saved", "markdown", "paper_cell", "present", "record", "run_cells",
           "tune_step_size"]
