r"""Table 2 (Appendix A.3): the non-memory image baselines next to the paper's.

Trains (or loads) the VAE, the denoising autoencoder and Deep Image Prior on
each dataset under each noise of Table 2 (a block over 25% of the image;
15% salt-and-pepper), one workdir per cell in --root, scores every cell on
--num_batches random test batches, and prints the table as Markdown with the
paper's row under each model. The VAE's attractor step size γ is chosen by
the paper's grid search on training batches first.

  python -m experiments.table2 --root=runs/table2 --data_dir=DATA_DIR \
      --variant=cpu --train_seconds=1200 --num_batches=100

--train_seconds / --train_steps bound each cell's training (resuming its
workdir; both 0: only load). Deep Image Prior fits a fresh network to every
query with 2,000 Adam updates, so it is scored on --dip_num_batches batches of
--dip_num_queries queries;
the VAE's 50-200 attractor iterations per read make it slow too, so
--vae_num_batches can score it on fewer batches than the others (and
--vae_grid_batches search γ on fewer training batches). The VAE
never sees the distortion in training: one VAE per dataset (the block cell's)
serves both noises.
Writes `table2.md` (the table and what each cell cost) and `table2.json`
(every number, with meta-steps and training seconds) into --output_dir
(default --root), with the cells of earlier calls there kept: a call for
one cell adds it to the table.
"""
import json
import os

from absl import app
from absl import flags

from ebmm_jax.experiments import cli
from ebmm_jax.experiments import run_flags
from ebmm_jax.reporting import table2

_ROOT = run_flags.root("Parent folder of the cells' workdirs.", required=True)
_OUTPUT_DIR = run_flags.output_dir("Where results go (default --root).")
_DATA_DIR = run_flags.data_dir("Sets data.data_dir of every cell.")
_TRAIN_SECONDS, _TRAIN_STEPS = run_flags.training_budget()
_NUM_BATCHES = run_flags.num_batches("Random test batches per model and cell.")
_SEED = run_flags.seed()
_MODELS = flags.DEFINE_list("models", list(table2.MODELS),
                            f"Configs of the rows, of {list(table2.MODELS)}.")
_DATASETS = flags.DEFINE_list("datasets", list(table2.DATASETS),
                              f"Columns' datasets, of {list(table2.DATASETS)}.")
_NOISES = flags.DEFINE_list("noises", list(table2.NOISES),
                            f"Columns' noises, of {list(table2.NOISES)}.")
_VARIANT = flags.DEFINE_string("variant", "cpu",
                               "Size variant of every config: cpu, gpu or runlocal.")
_DIP_NUM_BATCHES = flags.DEFINE_integer(
    "dip_num_batches", 2, "Test batches for Deep Image Prior (a network fit per query).")
_DIP_NUM_QUERIES = flags.DEFINE_integer(
    "dip_num_queries", 0, "Queries per Deep Image Prior test batch (0: the "
    "dataset's N); each query is fitted on its own, so fewer cost less.")
_VAE_GRID_BATCHES = flags.DEFINE_integer(
    "vae_grid_batches", table2.GRID_SEARCH_BATCHES,
    "Training batches the VAE's grid search scores each step size γ on.")
_VAE_NUM_BATCHES = flags.DEFINE_integer(
    "vae_num_batches", 0, "Test batches for the VAE (0: --num_batches).")


def main(argv):
  del argv  # Unused.
  if (_DIP_NUM_BATCHES.value < 1 or _VAE_NUM_BATCHES.value < 0
      or _DIP_NUM_QUERIES.value < 0 or _VAE_GRID_BATCHES.value < 1):
    raise app.UsageError(
        f"--dip_num_batches={_DIP_NUM_BATCHES.value} and --vae_grid_batches="
        f"{_VAE_GRID_BATCHES.value} must be >= 1, "
        f"--vae_num_batches={_VAE_NUM_BATCHES.value} >= 0 (0: --num_batches) and "
        f"--dip_num_queries={_DIP_NUM_QUERIES.value} >= 0 (0: the dataset's N).")
  out = _OUTPUT_DIR.value or _ROOT.value
  saved_path = os.path.join(out, "table2.json")
  try:  # Checked before any training: the earlier table must be of this variant.
    table2.load_saved(saved_path, _VARIANT.value)
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  overrides = [f"data.data_dir={_DATA_DIR.value}"] if _DATA_DIR.value else []
  cells = table2.cells(_MODELS.value, _DATASETS.value, _NOISES.value,
                       _VARIANT.value, _ROOT.value, overrides)
  results = table2.run_cells(
      cells, _TRAIN_SECONDS.value, _TRAIN_STEPS.value,
      _NUM_BATCHES.value, _SEED.value,
      num_batches_for={"deep_image_prior": _DIP_NUM_BATCHES.value,
                       "vae": _VAE_NUM_BATCHES.value or _NUM_BATCHES.value},
      num_patterns_for={"deep_image_prior": _DIP_NUM_QUERIES.value},
      grid_search_batches=_VAE_GRID_BATCHES.value)
  # Read again now: another call may have added cells while this one ran.
  earlier = table2.load_saved(saved_path, _VARIANT.value)
  results = {**earlier, **results}  # This call's cells replace the same earlier ones.
  text = (table2.markdown(results, *table2.present(results))
          + "\n\n" + table2.details(results) + "\n\n"
          f"Mean error per image [5th, 95th percentile] over every query of the "
          f"test batches (seed {_SEED.value}); configs `MODEL:"
          f"{_VARIANT.value},data=DATASET[,salt]`; the paper's models train up to "
          "2e6 steps on a GPU. *: told where the block is.\n")
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, "table2.md"), "w") as f:
    f.write(text)
  with open(saved_path, "w") as f:
    json.dump(table2.record(results, _VARIANT.value), f, indent=2)
  print(text)


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
