"""The image table of `experiments/evaluate_images.py` (Section 4, Appendix A):
one trained image memory scored on random batches of a split, its controls,
and the paper's numbers for the same protocol.

`evaluation_config` gives the config to score a trained model with (its own,
or another dataset's data section for transfer, Appendix A.6), `with_split`
the split, `evaluation.evaluate` the numbers, and `report` the Markdown table,
its note and the JSON record.
"""
import json
import os
from typing import Any, Dict, Mapping, Optional, Tuple

import ml_collections
from absl import logging

from ebmm_jax import pretrained
from ebmm_jax import training
from ebmm_jax.reporting import paper
from ebmm_jax.reporting import tables
from ebmm_jax.setups import images as image_setups
from ebmm_jax.training import checkpoint

# The control rows of the table, in order, and their names there.
CONTROL_ROWS = (("erase", "control: erase the distortion where it is (told)"),
                ("other_batch", "control: memory written with another batch"),
                ("writing_off", "control: writing off (T = 0)"))


def load_trained_config(source: str) -> ml_collections.ConfigDict:
  """The config that a training workdir, a shipped memory (by name) or a
  folder saved by `Memory.save` was trained with."""
  params = pretrained.saved_params(source)
  if params is None:
    return training.load_config(source)
  with open(os.path.join(os.path.dirname(params), pretrained.CONFIG_FILE)) as f:
    return ml_collections.ConfigDict(json.load(f))


def load_model(exp, source: str):
  """(meta-steps, meta-parameters) of a training workdir's newest checkpoint,
  or of a shipped or saved memory (its evaluation.json's step, if any)."""
  params = pretrained.saved_params(source)
  if params is None:
    return training.load_latest(exp, source)
  meta_params = checkpoint.load(params, training.initial_state(exp).meta_params)
  saved = os.path.join(os.path.dirname(params), "evaluation.json")
  step = json.load(open(saved)).get("step", 0) if os.path.isfile(saved) else 0
  return step, meta_params


def evaluation_config(trained: ml_collections.ConfigDict,
                      override: Optional[ml_collections.ConfigDict] = None,
                      data_dir: str = "") -> ml_collections.ConfigDict:
  """The workdir's config with its data section replaced by `override`'s.

  The model fixes the energy and the image size (its dense layers see the
  trunk's grid), so those stay the workdir's whatever `override` says. An
  empty `override` data_dir falls back to the workdir's; `data_dir` overrides
  both.
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
  """`config` scoring `split` ("": its own `data.eval_split`). Raises
  ValueError, naming why, for the validation split of a model that may have
  trained on it."""
  split = split or image_setups.eval_split_of(config)
  if split == "validation":
    seen = image_setups.validation_seen_in_training(config)
    if seen:
      raise ValueError(f"--split=validation: this model may have seen the "
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
      and config.get("energy", {}).get("name") == "resnet_lowlevel_conv"):
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


def report(exp, source: str, step: int, out: Mapping[str, Any], num_patterns: int,
           num_batches: int, seed: int, train_seconds: Optional[float],
           eval_seconds: float, platform: str) -> Tuple[str, Dict[str, Any]]:
  """(Markdown table and note, JSON record) of `out = evaluation.evaluate(exp,
  ...)`, the model read from `source` after `step` meta-steps and
  `train_seconds` of training (None: a shipped or saved memory)."""
  config = exp.config
  split = config.data.eval_split
  memory_floats = exp.model.memory_floats
  table = results_table(config, exp.model.name, memory_floats, num_patterns, out)
  per_iterate = ", ".join(f"{v:.2f}" for v in out["per_iterate"])
  trained = ("a shipped or saved memory" if train_seconds is None
             else f"{train_seconds:.0f} s of training")
  controls = out.get("controls", {})
  off = controls.get("writing_off")
  note = (f"\n{exp.task.score_name} per image: mean [5th, 95th percentile] over "
          f"every query of {num_batches} random {split} batches (seed "
          f"{seed}); model {exp.model.name} from {source} after "
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
  note += f" {eval_seconds:.0f} s of evaluation on {platform}."
  record = dict(model=exp.model.name, dataset=config.data.name, workdir=source, step=step,
                split=split, train_seconds=round(train_seconds or 0.0, 1),
                memory_floats=memory_floats, num_patterns=num_patterns,
                num_batches=num_batches, seed=seed,
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
  return table + note, record
