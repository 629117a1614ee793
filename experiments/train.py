r"""Meta-trains an EBMM experiment.

  python -m experiments.train --config=configs/binary.py:runlocal --workdir=/tmp/ebmm

Writes `config.json`, `metrics.jsonl`, TensorBoard summaries (`tb/`) and
checkpoints (`checkpoints/`) under --workdir, and resumes from the newest
checkpoint there. Override any config field with --config.FIELD=VALUE.
"""
from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from ebmm_jax import training

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where the run writes everything.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.info("Config:\n%s", _CONFIG.value)
  training.train(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
