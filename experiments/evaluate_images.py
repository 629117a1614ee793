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
import json
import os
import time

import jax
import ml_collections
from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from ebmm_jax import pretrained
from ebmm_jax.reporting import evaluation
from ebmm_jax.training import checkpoint
from ebmm_jax import setups
from ebmm_jax.setups import images as image_setups
from ebmm_jax.training import metrics as metrics_lib
from ebmm_jax.reporting import paper
from ebmm_jax.reporting import plotting
from ebmm_jax.reporting import runs
from ebmm_jax.reporting import tables
from ebmm_jax import training
from ebmm_jax.experiments import cli

_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Training workdir of the model, or a shipped memory's name "
    "(e.g. omniglot-n4) or a folder saved by Memory.save (give --data_dir).")
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
_SPLIT = flags.DEFINE_enum(
    "split", "", ["", *image_setups.EVAL_SPLITS],
    "Split of the batches: validation (choices) or test (reported numbers); "
    "empty: the config's data.eval_split.")
_CONTROLS = flags.DEFINE_bool(
    "controls", True, "Also score the controls on the same batches and "
    "queries: erasing the distortion at its true position, the memory written "
    "with another batch, writing switched off (T = 0).")
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


def with_split(config: ml_collections.ConfigDict, split: str) -> ml_collections.ConfigDict:
  """`config` scoring `split` ("": its own `data.eval_split`). The validation
  split is refused, naming why, for a model that may have trained on it."""
  split = split or image_setups.eval_split_of(config)
  if split == "validation":
    seen = image_setups.validation_seen_in_training(config)
    if seen:
      raise app.UsageError(f"--split=validation: this model may have seen the "
                           f"validation images in training: {seen}. Use --split=test.")
  config = ml_collections.ConfigDict(config.to_dict())
  config.data.eval_split = split
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


# The control rows of the table, in order, and their names there.
CONTROL_ROWS = (("erase", "control: erase the distortion where it is (told)"),
                ("other_batch", "control: memory written with another batch"),
                ("writing_off", "control: writing off (T = 0)"))


def results_table(config, name: str, memory_floats: int, num_patterns: int,
                  out) -> str:
  """A Markdown row of `evaluation.evaluate`'s output `out`, and one per
  control it holds (`out["controls"]`), on the same batches and queries."""
  d = config.data
  if d.distortion == "block":
    distortion = f"{d.block_size}x{d.block_size} block, {d.fill}"
  else:
    distortion = f"{d.noise_rate:.0%} salt-and-pepper"
  sampling = "uniform" if not d.batch_classes else f"{d.batch_classes} classes"
  split = out.get("split", image_setups.eval_split_of(config))
  header = ["model", "dataset", "split", "distortion", "batches", "memory (floats)",
            "N", "x(K) [p5, p95]", "query [p5, p95]", "paper"]
  row = lambda name, summary, refs: [name, d.name, split, distortion, sampling,
                                     memory_floats, num_patterns,
                                     tables.cell(summary), tables.cell(out["query"]),
                                     refs]
  rows = [row(name, out["summary"], paper_references(config))]
  for key, label in CONTROL_ROWS:
    if key in out.get("controls", {}):
      rows.append(row(f"{name}, {label}", out["controls"][key], "-"))
  return tables.markdown(header, rows)


def writing_gain(out, writing_off) -> float:
  """The fraction of the unwritten model's error that writing removes
  (`writing_off`: a summary, the writing-off control's)."""
  off = writing_off["mean"]
  return 1.0 - out["summary"]["mean"] / off if off else 0.0


def load_model(exp, workdir: str):
  """(meta-steps, meta-parameters) of a training workdir's newest checkpoint,
  or of a shipped or saved memory (its evaluation.json's step, if any)."""
  params = pretrained.saved_params(workdir)
  if params is None:
    return training.load_latest(exp, workdir)
  meta_params = checkpoint.load(params, training.initial_state(exp).meta_params)
  saved = os.path.join(os.path.dirname(params), "evaluation.json")
  step = json.load(open(saved)).get("step", 0) if os.path.isfile(saved) else 0
  return step, meta_params


def load_trained_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a workdir, a shipped memory or a saved memory was trained with."""
  params = pretrained.saved_params(workdir)
  if params is None:
    return training.load_config(workdir)
  with open(os.path.join(os.path.dirname(params), pretrained.CONFIG_FILE)) as f:
    return ml_collections.ConfigDict(json.load(f))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  workdir = _WORKDIR.value
  config = evaluation_config(load_trained_config(workdir), _CONFIG.value,
                             _DATA_DIR.value)
  if config.data.name not in setups.IMAGE_DATASETS:
    raise app.UsageError(f"{workdir} holds a {config.data.name} model; use "
                         "experiments.evaluate for binary strings.")
  config = with_split(config, _SPLIT.value)
  split = config.data.eval_split
  exp = setups.build(config)
  step, meta_params = load_model(exp, workdir)
  memory_floats = exp.model.memory_floats
  n = _NUM_PATTERNS.value or config.data.num_patterns
  start = time.time()
  out = evaluation.evaluate(exp, meta_params, n, _NUM_BATCHES.value,
                            config.eval.batches_per_call, _SEED.value,
                            controls=_CONTROLS.value)
  seconds = time.time() - start
  table = results_table(config, exp.model.name, memory_floats, n, out)
  per_iterate = ", ".join(f"{v:.2f}" for v in out["per_iterate"])
  shipped = pretrained.saved_params(workdir) is not None
  train_seconds = 0.0 if shipped else runs.training_seconds(workdir)
  trained = ("a shipped or saved memory" if shipped
             else f"{train_seconds:.0f} s of training")
  controls = out.get("controls", {})
  off = controls.get("writing_off")
  note = (f"\n{exp.task.score_name} per image: mean [5th, 95th percentile] over "
          f"every query of {_NUM_BATCHES.value} random {split} batches (seed "
          f"{_SEED.value}); model {exp.model.name} from {workdir} after "
          f"{step} meta-steps ({trained}); mean error at "
          f"x(1..K): {per_iterate}.")
  if controls:
    note += (" Controls on the same batches and queries: erase sets the distorted "
             f"pixels to {image_setups.erase_value(config):g}, told where they are; "
             "another batch is N other images of the split"
             + ("" if out.get("other_batch_disjoint", True) else " (drawn independently: it may "
                "share an image with the stored batch)") + ".")
  if off is not None:
    note += (f" Writing removes {writing_gain(out, off):.0%} of the unwritten "
             "model's error.")
  note += f" {seconds:.0f} s of evaluation on {jax.devices()[0].platform}."
  record = dict(model=exp.model.name, dataset=config.data.name, workdir=workdir, step=step,
                split=split, train_seconds=round(train_seconds, 1),
                memory_floats=memory_floats, num_patterns=n,
                num_batches=_NUM_BATCHES.value, seed=_SEED.value,
                summary=out["summary"], query=out["query"],
                per_iterate=out["per_iterate"].tolist(),
                paper=paper_references(config))
  if controls:
    record.update(controls=controls, other_batch_disjoint=out.get("other_batch_disjoint"),
                  erase_value=image_setups.erase_value(config))
  if off is not None:
    record.update(writing_off=dict(summary={k: v for k, v in off.items()
                                            if k != "per_iterate"},
                                   per_iterate=off["per_iterate"]),
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
