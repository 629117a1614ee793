r"""Forgetting curves: the error on each chunk of a stream after the whole
stream, one line per memory (`ebmm_jax.reporting.forgetting`).

  python -m experiments.forgetting --workdir=/tmp/ebmm_binary_stream \
      --json=/tmp/forgetting.json --figure=/tmp/forgetting.png

--workdir takes trained workdirs: an EBMM model (written as a stream of
--chunks, by default the first EBMM workdir's `memory.stream_chunks`; a model
trained without streams appends chunk by chunk), or a learned Table 1
baseline (Memory Networks, MANN, ...: their write takes the patterns in
order, so the ordered stream is written chunk by chunk). Without training,
the incremental Hopfield rules (--hopfield: Hebb, Storkey) and the modern
Hopfield network (--modern_hopfield, a ring buffer at the Hopfield budget, β
tuned on --beta_batches training batches) are added. The pseudo-inverse rule
is not incremental, and is listed as such.

Every model is scored on the same --num_batches test memories and queries
(--seed). Each cell is the mean number of wrong bits of a chunk's patterns,
read after the whole stream, ± its standard error over batches; chunk 1 is
the oldest. Without an EBMM workdir, --chunks and --pattern_dim set the
stream (binary strings, the protocol of Table 1).
"""
import jax
from absl import app
from absl import flags

from ebmm_jax import setups
from ebmm_jax import training
from ebmm_jax.baselines import hopfield
from ebmm_jax.core import meta
from ebmm_jax.experiments import cli
from ebmm_jax.experiments import run_flags
from ebmm_jax.reporting import forgetting
from ebmm_jax.reporting import image_table
from ebmm_jax.reporting import runs
from ebmm_jax.setups import specs
from ebmm_jax.training import metrics as metrics_lib

_WORKDIRS = run_flags.workdirs("Training workdir(s): EBMM, or a learned Table 1 baseline.")
_CHUNKS = flags.DEFINE_string(
    "chunks", "", "Chunk sizes of the stream, e.g. 16,16,16,16 (default: the first "
    "EBMM workdir's memory.stream_chunks).")
_HOPFIELD = flags.DEFINE_list(
    "hopfield", list(hopfield.RULES),
    "Hopfield rules (empty: none); pseudo_inverse is listed as not incremental.")
_MODERN_HOPFIELD = flags.DEFINE_bool(
    "modern_hopfield", True, "Add the modern Hopfield network at the Hopfield budget.")
_BETA_BATCHES = flags.DEFINE_integer(
    "beta_batches", 100, "Training batches on which the modern Hopfield β is tuned.")
_PATTERN_DIM = flags.DEFINE_integer(
    "pattern_dim", 128, "Bits per pattern when no workdir sets the data.")
_NUM_BATCHES = run_flags.num_batches("Random test batches.")
_BATCHES_PER_CALL = flags.DEFINE_integer("batches_per_call", 50,
                                         "Memories written per jitted call.")
_SEED = run_flags.seed()
_OUTPUT = run_flags.output("Also write the Markdown table here.")
_JSON = flags.DEFINE_string("json", "", "Also write all numbers here as JSON.")
_FIGURE = flags.DEFINE_string("figure", "", "Also draw error per chunk (a PNG) here.")
_SPLIT = run_flags.split()
_DATA_DIR = run_flags.data_dir("Image data folder (default: the workdir config's).")


def _loaded(workdirs):
  """[(workdir, exp, params)] of the trained workdirs; an image model may also
  be a shipped memory's name, scored on --split of --data_dir."""
  out = []
  for workdir in workdirs:
    config = image_table.load_trained_config(workdir)
    if config.data.name not in setups.IMAGE_DATASETS:
      exp = setups.build(config)
      out.append((workdir, exp, training.load_meta_params(config, workdir)))
      continue
    config = image_table.with_split(
        image_table.evaluation_config(config, None, _DATA_DIR.value), _SPLIT.value)
    exp = setups.build(config)
    out.append((workdir, exp, image_table.load_model(exp, workdir)[1]))
  return out


def main(argv):
  del argv  # Checked by cli.run.
  unknown = [r for r in _HOPFIELD.value if r not in hopfield.RULES]
  if unknown:
    raise app.UsageError(f"Unknown Hopfield rule(s) {unknown}; known: {list(hopfield.RULES)}.")
  loaded = _loaded(_WORKDIRS.value)
  chunks = meta.parse_chunks(_CHUNKS.value)
  if not chunks:
    streams = [setups.ebmm.stream_chunks(m[1].config) for m in loaded]
    chunks = next((s for s in streams if s), None)
    if chunks is None:
      raise app.UsageError("--chunks is needed: no EBMM workdir with memory.stream_chunks "
                           "was given.")
  num = sum(chunks)
  # The data (sampler, task) of the first workdir, else binary strings.
  data_exp = loaded[0][1] if loaded else setups.build(specs.load(
      "binary", [f"data.num_patterns={num}", f"data.pattern_dim={_PATTERN_DIM.value}",
                 f"energy.input_size={_PATTERN_DIM.value}"]))
  batches = forgetting.stream_batches(data_exp, num, _NUM_BATCHES.value, _SEED.value,
                                      _BATCHES_PER_CALL.value)
  dim = forgetting.pattern_size(batches)
  images = data_exp.config.data.name in setups.IMAGE_DATASETS
  curves, not_incremental = {}, {}
  for workdir, exp, params in loaded:
    if tuple(exp.task.pattern_shape) != batches.patterns.shape[2:]:
      raise ValueError(f"{workdir} stores patterns of shape {tuple(exp.task.pattern_shape)}; "
                       f"the stream's are {batches.patterns.shape[2:]}.")
    curve = forgetting.model_curve(exp, params, batches, chunks, _BATCHES_PER_CALL.value)
    curve["workdir"] = workdir
    curve["training"] = runs.training_record(workdir)  # Meta-steps and seconds.
    curves[f"{exp.model.name} ({workdir})"] = curve
  budget = loaded[0][1].model.memory_floats if loaded else hopfield.memory_size(dim)
  for rule in _HOPFIELD.value:
    name = hopfield.RULE_NAMES[rule]
    if images:
      not_incremental[name] = forgetting.hopfield_not_at_budget(dim, budget)
      continue
    if rule not in forgetting.INCREMENTAL_RULES:
      not_incremental[name] = forgetting.NOT_INCREMENTAL[name]
      continue
    curves[name] = forgetting.hopfield_curve(rule, batches, chunks, _SEED.value)
  if _MODERN_HOPFIELD.value:
    capacity = (forgetting.ring_capacity(dim, budget) if images
                else forgetting.modern_hopfield_capacity(dim))
    if capacity < 1:
      not_incremental["Modern Hopfield"] = (f"not run: {budget:,} floats hold no "
                                            f"{dim:,}-entry pattern")
    else:
      tuned = forgetting.tuned_beta(num, dim, capacity, _BETA_BATCHES.value,
                                    images=data_exp if images else None)
      curves["Modern Hopfield"] = forgetting.modern_hopfield_curve(
          batches, chunks, tuned["beta"], capacity, data_exp)
  if images:
    curves.update(forgetting.control_curves(data_exp, batches, chunks))
  score_name = data_exp.task.score_name if images else "error bits"
  text = forgetting.markdown(curves, chunks, not_incremental)
  note = (f"\n{score_name.capitalize()} per chunk after the whole stream (chunks {list(chunks)}, "
          f"oldest first): mean ± standard error over {_NUM_BATCHES.value} random "
          f"batches (seed {_SEED.value}{', ' + data_exp.task.name + ', split ' + data_exp.config.data.eval_split if images else ''}). "
          f"Devices: {jax.devices()[0].platform}.")
  metrics_lib.report(text + note, _OUTPUT.value, _JSON.value,
                     dict(chunks=list(chunks), num_batches=_NUM_BATCHES.value,
                          seed=_SEED.value, curves=curves,
                          not_incremental=not_incremental))
  if _FIGURE.value:
    what = data_exp.task.name if images else f"{num} patterns of {dim} bits"
    forgetting.figure(_FIGURE.value, curves, score_name=score_name,
                      title=f"Forgetting: {what}, chunks "
                            f"{'+'.join(map(str, chunks))} ({_NUM_BATCHES.value} batches)")


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
