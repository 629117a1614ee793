r"""Energy analysis (Figure 6): which patterns does a written memory make likely?

For --num_batches random test batches, writes N patterns into a fresh memory
and records the energies of: the stored patterns, N other test patterns
(non-stored), the stored patterns distorted as at retrieval, and N
out-of-distribution images (--ood; for a binary memory such as Omniglot, RGB
images binarized as in Figure 6). Writes into --output_dir (default the
workdir): `energy_histograms.png` and `energy_analysis.json` (the ROC AUC of
telling stored from each other population by energy, pooled and per batch,
the energies' percentiles, and the write kernel's identification of the
stored items: `analysis.write_kernel_identification`, on up to 20 batches).

  python -m experiments.energy_analysis --workdir=runs/omniglot_conv_cpu_2k \
      --ood=cifar10 --data_dir=DATA_DIR
"""
import json
import os

import jax
import numpy as np
from absl import app
from absl import flags

from ebmm_jax.reporting import analysis
from ebmm_jax.reporting import image_table
from ebmm_jax import setups
from ebmm_jax.setups import images as image_setups
from ebmm_jax.reporting import plotting
from ebmm_jax.reporting import runs
from ebmm_jax import training
from ebmm_jax.data import images as images_lib
from ebmm_jax.experiments import cli
from ebmm_jax.experiments import run_flags

_WORKDIR = run_flags.workdir("Training workdir of the model.", required=True)
_NUM_BATCHES = run_flags.num_batches("Written memories.", default=100)
_OOD = flags.DEFINE_string("ood", "cifar10", "Dataset of the out-of-distribution "
                           "images (its test split), or '' for none.")
_DATA_DIR = run_flags.data_dir("Overrides data.data_dir (and is "
                               "where --ood is read from).")
_SEED = run_flags.seed()
_SPLIT = run_flags.split()
_OUTPUT_DIR = run_flags.output_dir("Default: the workdir.")


def main(argv):
  del argv  # Unused.
  workdir = _WORKDIR.value
  config = training.load_config(workdir)
  if _DATA_DIR.value:
    config.data.data_dir = _DATA_DIR.value
  image_memory = config.data.name in setups.IMAGE_DATASETS
  if image_memory:  # Refuses the validation split of a model that trained on it.
    config = image_table.with_split(config, _SPLIT.value)
  elif _SPLIT.value:
    raise app.UsageError(f"--split picks image batches; {config.data.name} has none.")
  exp = setups.build(config)
  meta_params, step = runs.train_or_load(config, workdir)
  sample_ood = None
  if _OOD.value:
    if not image_memory:
      raise app.UsageError("--ood needs an image memory; pass --ood='' for "
                           f"{config.data.name}.")
    images, _ = images_lib.load_dataset(_OOD.value, "test", config.data.data_dir,
                                        config.data.get("source", "auto"))
    binary = config.data.name in image_setups.BINARY_DATASETS
    sample_ood = analysis.out_of_distribution_sampler(
        images, exp.task.pattern_shape, binarize=binary)
  populations = analysis.energy_populations(
      exp, meta_params, _NUM_BATCHES.value, sample_ood, seed=_SEED.value)
  aucs = analysis.energy_aucs(populations)
  out = _OUTPUT_DIR.value or workdir
  ood_label = ""
  if _OOD.value:
    ood_label = f"; out of distribution: {_OOD.value}" + (
        " binarized" if config.data.name in image_setups.BINARY_DATASETS else "")
  plotting.energy_histograms(
      os.path.join(out, "energy_histograms.png"), populations, aucs,
      title=f"{config.data.name}, {config.energy.name}, step {step}, "
            f"{_NUM_BATCHES.value} memories of N = {config.data.num_patterns}"
            f"{ood_label}")
  kernel = analysis.write_kernel_identification(
      exp, meta_params, min(_NUM_BATCHES.value, 20), seed=_SEED.value)
  result = dict(
      workdir=workdir, step=step, training=runs.training_record(workdir),
      num_batches=_NUM_BATCHES.value,
      num_patterns=config.data.num_patterns, seed=_SEED.value, ood=_OOD.value,
      split=config.data.eval_split if image_memory else None,
      roc_auc_vs_stored=aucs, write_kernel=kernel,
      energy_percentiles={k: dict(zip(("p5", "p50", "p95"),
                                      np.percentile(v, [5, 50, 95]).tolist()))
                          for k, v in populations.items()},
      device=jax.devices()[0].platform)
  with open(os.path.join(out, "energy_analysis.json"), "w") as f:
    json.dump(result, f, indent=2)
  print("ROC AUC of telling stored patterns from each population by energy "
        "(lower energy = stored):")
  for name, a in aucs.items():
    print(f"  {name:22s} pooled {a['pooled']:.3f}  per batch {a['per_batch_mean']:.3f} "
          f"[{a['per_batch_p5']:.3f}, {a['per_batch_p95']:.3f}]")
  print(f"Write kernel (first order, {kernel['num_batches']} memories): a query's "
        f"gradient is closest to its own stored pattern's for "
        f"{kernel['identification']:.1%} of queries (chance {kernel['chance']:.1%}); "
        f"cosine to its own {kernel['cos_own']:.3f}, to the others {kernel['cos_other']:.3f}")
  print(f"Wrote {out}/energy_analysis.json and energy_histograms.png")


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
