r"""Meta-trains an EBMM experiment.

  python -m experiments.train --config=configs/binary.py:runlocal --workdir=/tmp/ebmm
  ebmm-train --config=binary:runlocal --workdir=/tmp/ebmm   # installed, from anywhere

Writes `config.json`, `metrics.jsonl`, TensorBoard summaries (`tb/`) and
checkpoints (`checkpoints/`) under --workdir, and resumes from the newest
checkpoint there, only with the config it was trained with (budget fields
such as --config.train.max_seconds may change; --restart moves the old run
aside and starts anew). Override any config field with --config.FIELD=VALUE.

Multi-host (the same command on every host): --distributed. On TPU pods and
SLURM clusters the processes find each other; elsewhere also pass
--coordinator_address=HOST:PORT --num_processes=P --process_id=I.
Only process 0 writes files.
"""
from absl import flags
from absl import logging

from ebmm_jax.training import parallel
from ebmm_jax import training
from ebmm_jax.experiments import cli
from ebmm_jax.experiments import run_flags

_CONFIG = run_flags.config("Experiment config file.", required=True)
_WORKDIR = run_flags.workdir("Where the run writes everything.", required=True)
_DISTRIBUTED = flags.DEFINE_bool("distributed", False,
                                 "Start a multi-process job (jax.distributed).")
_COORDINATOR = flags.DEFINE_string("coordinator_address", "",
                                   "HOST:PORT of process 0 (empty: auto-detect).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", 0, "Processes in the job.")
_PROCESS_ID = flags.DEFINE_integer("process_id", -1, "This process's index.")
_RESTART = flags.DEFINE_bool(
    "restart", False, "Start a new run in a workdir that holds one: the old run's "
    "files are moved into WORKDIR/previous_<time>/ first (nothing is deleted).")


def main(argv):
  del argv  # Unused.
  if _DISTRIBUTED.value or _COORDINATOR.value:
    parallel.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value,
                                    _PROCESS_ID.value)
  logging.info("Config:\n%s", _CONFIG.value)
  training.train(_CONFIG.value, _WORKDIR.value, restart=_RESTART.value)


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
