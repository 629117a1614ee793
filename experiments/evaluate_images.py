r"""Evaluates a trained image memory on random test batches (Section 4, App. A).

  python -m experiments.evaluate_images --workdir=runs/omniglot_conv \
      --figure=docs/omniglot_retrieval.png

Prints a Markdown table: dataset and distortion, memory size in floats, N,
the mean error of the retrieved image x(K) per image over every query of
--num_batches random test batches (with the 5th and 95th percentiles), the
distorted query's own error, and the paper's reference numbers where the
paper gives any (Table 2's non-memory baselines, Table 3). A second row scores
the same model with writing switched off (T = 0, --writing_off, on by
default) on the same batches and queries: if the two rows agree, retrieval
does not use the memory. --figure writes a
Figure-2-like PNG: originals, distorted queries and every read iterate, each
with its energy.

Transfer without fine-tuning (Appendix A.6): --config replaces the data and
distortion of the workdir's config (the energy, the image size and every
meta-learned parameter stay the workdir's):

  python -m experiments.evaluate_images --config=configs/mnist_transfer.py \
      --config.data.data_dir=DATA_DIR --workdir=runs/omniglot_conv

An empty data_dir in --config falls back to the workdir's; --data_dir
overrides both (e.g. on another machine).
"""
import dataclasses
import time

import jax
import ml_collections
from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from ebmm_jax.reporting import evaluation
from ebmm_jax import setups
from ebmm_jax.setups import images as image_setups
from ebmm_jax.training import metrics as metrics_lib
from ebmm_jax.reporting import paper
from ebmm_jax.reporting import plotting
from ebmm_jax.reporting import runs
from ebmm_jax.reporting import tables
from ebmm_jax import training
from ebmm_jax.experiments import cli

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir of the model.")
_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Optional config whose data section replaces the workdir's "
    "(e.g. configs/mnist_transfer.py).", lock_config=True)
_DATA_DIR = flags.DEFINE_string("data_dir", "", "Overrides data.data_dir.")
_NUM_BATCHES = flags.DEFINE_integer("num_batches", 1000, "Random test batches.")
_NUM_PATTERNS = flags.DEFINE_integer("num_patterns", 0,
                                     "N per memory (0: the config's).")
_SEED = flags.DEFINE_integer("seed", 12345, "Evaluation seed (batches and queries).")
_FIGURE = flags.DEFINE_string("figure", "", "Also write a Figure-2-like PNG here.")
_FIGURE_EXAMPLES = flags.DEFINE_integer("figure_examples", 8,
                                        "Stored images shown in --figure.")
_OUTPUT = flags.DEFINE_string("output", "", "Also write the Markdown table here.")
_JSON = flags.DEFINE_string("json", "", "Also write all numbers here as JSON.")
_WRITING_OFF = flags.DEFINE_bool(
    "writing_off", True, "Also score the same model with writing switched off "
    "(T = 0: the weights stay θ̄), on the same batches and queries: the gap "
    "between the two rows is what the written memory adds.")
flags.mark_flags_as_required(["workdir"])


def evaluation_config(trained: ml_collections.ConfigDict,
                      override: ml_collections.ConfigDict | None = None,
                      data_dir: str = "") -> ml_collections.ConfigDict:
  """The workdir's config with its data section replaced by `override`'s.

  The model fixes the energy and the image size (its dense layers see the
  trunk's grid), so those stay the workdir's whatever `override` says.
  """
  config = ml_collections.ConfigDict(trained.to_dict())
  if override is not None:
    data = override.data.to_dict()
    if not data["data_dir"]:
      data["data_dir"] = trained.data.data_dir
    if data.get("image_size", 0) != trained.data.get("image_size", 0):
      logging.warning("Using the model's data.image_size=%s, not %s.",
                      trained.data.get("image_size", 0), data.get("image_size", 0))
      data["image_size"] = trained.data.get("image_size", 0)
    if override.energy.to_dict() != trained.energy.to_dict():
      logging.warning("--config's energy differs from the workdir's; the "
                      "workdir's (the trained model) is used.")
    config.data = ml_collections.ConfigDict(data)
  if data_dir:
    config.data.data_dir = data_dir
  return config


def paper_references(config: ml_collections.ConfigDict) -> str:
  """The paper's numbers for this protocol, or "-" where it gives none."""
  d = config.data
  h, w, _ = image_setups.image_shape(config)
  refs = []
  if (d.name == "omniglot" and d.num_patterns == 32 and d.distortion == "block"
      and "energy" in config and config.energy.name == "resnet_lowlevel_conv"):
    row = "2 classes" if d.batch_classes == 2 else "uniform"
    if d.batch_classes in (0, 2):
      cells = ", ".join(f"{v:g} at {m}" for m, v in
                        zip(paper.TABLE3_MEMORY, paper.TABLE3[row]))
      refs.append(f"EBMM, {row} (Table 3): {cells}")
  if d.distortion == "block":
    matches = d.block_size ** 2 == paper.TABLE2_BLOCK_FRACTION * h * w
  else:
    matches = abs(d.noise_rate - paper.TABLE2_NOISE_RATE) < 1e-9
  # Table 2 is at the datasets' own sizes (32x32, 64x64).
  native = (h, w) == image_setups.NATIVE_SHAPES[d.name][:2]
  baselines = paper.TABLE2.get((d.distortion, d.name))
  if matches and native and baselines:
    refs.append("no memory (Table 2): " +
                ", ".join(f"{k} {v:g}" for k, v in sorted(baselines.items())))
  return "; ".join(refs) or "-"


def results_table(config, name: str, memory_floats: int, num_patterns: int, out,
                  writing_off=None) -> str:
  """A Markdown row of `evaluation.evaluate`'s output `out`, and one of the
  same model with writing switched off when `writing_off` (its output) is
  given."""
  d = config.data
  if d.distortion == "block":
    distortion = f"{d.block_size}x{d.block_size} block, {d.fill}"
  else:
    distortion = f"{d.noise_rate:.0%} salt-and-pepper"
  sampling = "uniform" if not d.batch_classes else f"{d.batch_classes} classes"
  header = ["model", "dataset", "distortion", "batches", "memory (floats)", "N",
            "x(K) [p5, p95]", "query [p5, p95]", "paper"]
  row = lambda name, o, refs: [name, d.name, distortion, sampling, memory_floats,
                               num_patterns, tables.cell(o["summary"]),
                               tables.cell(o["query"]), refs]
  rows = [row(name, out, paper_references(config))]
  if writing_off is not None:
    rows.append(row(f"{name}, writing off (T = 0)", writing_off, "-"))
  return tables.markdown(header, rows)


def writing_gain(out, writing_off) -> float:
  """The fraction of the unwritten model's error that writing removes."""
  off = writing_off["summary"]["mean"]
  return 1.0 - out["summary"]["mean"] / off if off else 0.0


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  workdir = _WORKDIR.value
  config = evaluation_config(training.load_config(workdir), _CONFIG.value,
                             _DATA_DIR.value)
  if config.data.name not in setups.IMAGE_DATASETS:
    raise app.UsageError(f"{workdir} holds a {config.data.name} model; use "
                         "experiments.evaluate for binary strings.")
  exp = setups.build(config)
  step, meta_params = training.load_latest(exp, workdir)
  memory_floats = exp.model.memory_floats
  n = _NUM_PATTERNS.value or config.data.num_patterns
  evaluate = lambda e: evaluation.evaluate(e, meta_params, n, _NUM_BATCHES.value,
                                           config.eval.batches_per_call, _SEED.value)
  start = time.time()
  out = evaluate(exp)
  off, unwritten = None, setups.writing_off(exp)
  if _WRITING_OFF.value and unwritten is not None:
    off = evaluate(dataclasses.replace(exp, model=unwritten))
  seconds = time.time() - start
  table = results_table(config, exp.model.name, memory_floats, n, out, off)
  per_iterate = ", ".join(f"{v:.2f}" for v in out["per_iterate"])
  train_seconds = runs.training_seconds(workdir)
  note = (f"\n{exp.task.score_name} per image: mean [5th, 95th percentile] over "
          f"every query of {_NUM_BATCHES.value} random test batches (seed "
          f"{_SEED.value}); model {exp.model.name} from {workdir} after "
          f"{step} meta-steps ({train_seconds:.0f} s of training); mean error at "
          f"x(1..K): {per_iterate}.")
  if off is not None:
    note += (f" Writing removes {writing_gain(out, off):.0%} of the unwritten "
             "model's error.")
  note += f" {seconds:.0f} s of evaluation on {jax.devices()[0].platform}."
  record = dict(model=exp.model.name, dataset=config.data.name, workdir=workdir, step=step,
                train_seconds=round(train_seconds, 1),
                memory_floats=memory_floats, num_patterns=n,
                num_batches=_NUM_BATCHES.value, seed=_SEED.value,
                summary=out["summary"], query=out["query"],
                per_iterate=out["per_iterate"].tolist(),
                paper=paper_references(config))
  if off is not None:
    record.update(writing_off=dict(summary=off["summary"],
                                   per_iterate=off["per_iterate"].tolist()),
                  writing_gain=writing_gain(out, off))
  metrics_lib.report(table + note, _OUTPUT.value, _JSON.value, record)
  if _FIGURE.value:
    trace = image_setups.retrieval_trace(
        exp, meta_params, jax.random.PRNGKey(_SEED.value), n)
    plotting.retrieval_figure(
        _FIGURE.value, trace, _FIGURE_EXAMPLES.value,
        title=f"{config.data.name}, {memory_floats} floats, N = {n}, "
              f"step {step}", score_name=exp.task.score_name)
    logging.info("Wrote %s", _FIGURE.value)


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
