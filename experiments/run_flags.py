"""Flags shared by the launchers that train-or-load several models and
evaluate each (`sweep`, `correlated`, `noise_generalisation`).

Each launcher imports the flags it uses from here, so the budget flags are
spelled, documented and defaulted the same everywhere.
"""
from absl import flags

TRAIN_SECONDS = flags.DEFINE_float("train_seconds", 0.0,
                                   "Training time per model (0: no limit).")
TRAIN_STEPS = flags.DEFINE_integer(
    "train_steps", 0, "Train each model to this many meta-steps (0: the "
    "config's). With both budgets 0 the models are only loaded.")
NUM_BATCHES = flags.DEFINE_integer("num_batches", 1000,
                                   "Random test batches per model and cell.")
SEED = flags.DEFINE_integer("seed", 12345, "Evaluation seed.")
