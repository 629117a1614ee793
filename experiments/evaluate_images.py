r"""Evaluates a trained image memory on random test batches (Section 4, App. A).

  python -m experiments.evaluate_images --workdir=runs/omniglot_conv \
      --figure=docs/omniglot_retrieval.png

Prints a Markdown table: dataset and distortion, the split scored, memory
size in floats, N, the mean error of the retrieved image x(K) per image over
every query of --num_batches random batches (with the 5th and 95th
percentiles), the distorted query's own error, and the paper's reference
numbers where the paper gives any (Table 2's non-memory baselines, Table 3).

--split picks the batches: "validation" (held out of training; every choice
of recipe, checkpoint or model is made there) or "test" (only for reported
numbers); by default the config's `data.eval_split` ("test" for models
trained before the validation split, which trained on its images: they
cannot be scored on it). The split is in the table, the note and the JSON.

With --controls (on by default), rows below the model's score the controls of
docs/protocols.md on the same batches and queries (`reporting.evaluation`):
erasing the distorted pixels at their true position (told where they are,
set to the background 0 for binary images, 0.5 for RGB); the same memory
written with another batch of N images of the split (what the stored
content adds); writing switched off (T = 0; EBMM). --figure writes a
Figure-2-like PNG: originals, distorted queries and every read iterate, each
with its energy.

Transfer without fine-tuning (Appendix A.6): --config replaces the data and
distortion of the workdir's config (the energy, the image size and every
meta-learned parameter stay the workdir's):

  python -m experiments.evaluate_images --config=configs/mnist_transfer.py \
      --config.data.data_dir=DATA_DIR --workdir=runs/omniglot_conv

An empty data_dir in --config falls back to the workdir's; --data_dir
overrides both (e.g. on another machine). --workdir may also name a shipped
memory (docs/pretrained.md) or a folder saved by `Memory.save`, whose config
holds no data folder (give --data_dir):

  python -m experiments.evaluate_images --workdir=omniglot-n4 --data_dir=DATA_DIR \
      --split=test --num_batches=100
"""
import time

import jax
from absl import flags
from absl import logging

from ebmm_jax import pretrained
from ebmm_jax import setups
from ebmm_jax.experiments import cli
from ebmm_jax.experiments import run_flags
from ebmm_jax.reporting import evaluation
from ebmm_jax.reporting import image_table
from ebmm_jax.reporting import plotting
from ebmm_jax.reporting import runs
from ebmm_jax.setups import images as image_setups
from ebmm_jax.training import metrics as metrics_lib

_WORKDIR = run_flags.workdir(
    "Training workdir of the model, or a shipped memory's name "
    "(e.g. omniglot-n4) or a folder saved by Memory.save (give --data_dir).",
    required=True)
_CONFIG = run_flags.config(
    "Optional config whose data section replaces the workdir's "
    "(e.g. configs/mnist_transfer.py).")
_DATA_DIR = run_flags.data_dir("Overrides data.data_dir.")
_NUM_BATCHES = run_flags.num_batches("Random test batches.")
_NUM_PATTERNS = flags.DEFINE_integer("num_patterns", 0,
                                     "N per memory (0: the config's).")
_SEED = run_flags.seed("Evaluation seed (batches and queries).")
_FIGURE = flags.DEFINE_string("figure", "", "Also write a Figure-2-like PNG here.")
_FIGURE_EXAMPLES = flags.DEFINE_integer("figure_examples", 8,
                                        "Stored images shown in --figure.")
_OUTPUT = run_flags.output("Also write the Markdown table here.")
_JSON = flags.DEFINE_string("json", "", "Also write all numbers here as JSON.")
_SPLIT = run_flags.split()
_CONTROLS = flags.DEFINE_bool(
    "controls", True, "Also score the controls on the same batches and "
    "queries: erasing the distortion at its true position, the memory written "
    "with another batch, writing switched off (T = 0).")


def main(argv):
  del argv  # Unused.
  workdir = _WORKDIR.value
  config = image_table.evaluation_config(image_table.load_trained_config(workdir),
                                         _CONFIG.value, _DATA_DIR.value)
  if config.data.name not in setups.IMAGE_DATASETS:
    raise ValueError(f"{workdir} holds a {config.data.name} model; use "
                     "experiments.evaluate for binary strings.")
  config = image_table.with_split(config, _SPLIT.value)
  exp = setups.build(config)
  step, meta_params = image_table.load_model(exp, workdir)
  n = _NUM_PATTERNS.value or config.data.num_patterns
  start = time.time()
  out = evaluation.evaluate(exp, meta_params, n, _NUM_BATCHES.value,
                            config.eval.batches_per_call, _SEED.value,
                            controls=_CONTROLS.value)
  seconds = time.time() - start
  shipped = pretrained.saved_params(workdir) is not None
  text, record = image_table.report(
      exp, workdir, step, out, n, _NUM_BATCHES.value, _SEED.value,
      None if shipped else runs.training_seconds(workdir), seconds,
      jax.devices()[0].platform)
  metrics_lib.report(text, _OUTPUT.value, _JSON.value, record)
  if _FIGURE.value:
    trace = image_setups.retrieval_trace(
        exp, meta_params, jax.random.PRNGKey(_SEED.value), n)
    plotting.retrieval_figure(
        _FIGURE.value, trace, _FIGURE_EXAMPLES.value,
        title=f"{config.data.name}, {exp.model.memory_floats} floats, N = {n}, "
              f"step {step}", score_name=exp.task.score_name)
    logging.info("Wrote %s", _FIGURE.value)


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
