r"""Says whether a data folder holds what the image loaders need, per dataset.

  python -m experiments.check_data --data_dir=DATA_DIR
  python -m experiments.check_data --data_dir=DATA_DIR --datasets=omniglot,mnist

Prints one line per dataset: `ok` with the files (or the tensorflow-datasets
folder) found for each split the experiments read, `missing` with the exact
file names expected, where they are looked for and where they come from (the
original source, or the `tfds build` command), or `unreadable` when a file is
there but the loader cannot read it. Exit status 0 when every requested
dataset is usable, 1 otherwise.

The check asks the loaders of `ebmm_jax.data` themselves: the same file names,
the same folders (DATA_DIR and its known subfolders, e.g. DATA_DIR/omniglot or
DATA_DIR/cifar-10-batches-py), the same readers (every original file found is
opened and parsed; Omniglot's PNGs are listed, not decoded), and the same
choice as `data.source="auto"`: a split without original files is read from a
tfds dataset prepared in DATA_DIR in a random-access format (array_record).
Which splits are needed: train and test of Omniglot, CIFAR-10 and ImageNet
64x64; only test of MNIST (the Omniglot -> MNIST transfer test reads no other).
See docs/data.md for how to get the files.
"""
from absl import app
from absl import flags

from ebmm_jax.data import check
from ebmm_jax.data import images as images_lib
from ebmm_jax.experiments import cli
from ebmm_jax.experiments import run_flags

_DATA_DIR = run_flags.data_dir(
    "The data folder to check (what --config.data.data_dir gets).", default=None,
    required=True)
_DATASETS = flags.DEFINE_list(
    "datasets", list(images_lib.DATASETS),
    f"Datasets to check, comma-separated, from {', '.join(images_lib.DATASETS)}.")


def main(argv):
  del argv  # Unused.
  datasets = [d.strip() for d in _DATASETS.value if d.strip()]
  if not datasets:
    raise app.UsageError("--datasets is empty.")
  checks = check.check_all(_DATA_DIR.value, datasets)
  width = max(len(d) for d in datasets)
  for name, result in zip(datasets, checks):
    print(f"{name:<{width}}  {result.status:<10}  {result.text}", flush=True)
  return 0 if all(c.status == check.OK for c in checks) else 1  # The exit status.


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
