r"""Distortion-rate plot (Figures 3a, 3b, 5a) from saved evaluations.

Draws error against memory size (floats) for evaluation JSON files written by
`evaluate_images` (or `evaluate`), one curve per model label, with 5th-95th
percentile bars; the same models with writing switched off (T = 0), when
the files hold that row, are drawn dashed beside them. Prints the points as a
Markdown table. For models that are still in their workdirs, `sweep` trains,
evaluates and draws in one go.

  python -m experiments.distortion_rate --evaluation=runs/a/eval.json \
      --evaluation=runs/b/eval.json --output=distortion_rate.png
"""
from absl import app
from absl import flags

from ebmm_jax.experiments import cli
from ebmm_jax.experiments import run_flags
from ebmm_jax.reporting import plotting
from ebmm_jax.reporting import saved

_EVALUATIONS = flags.DEFINE_multi_string(
    "evaluation", [], "Evaluation JSON files (each: memory_floats, summary, ...).")
_LABELS = flags.DEFINE_multi_string(
    "label", [], "A curve label per file, in order (repeat the flag; files with "
    "the same label form one curve; default: the model and its N).")
_OUTPUT = run_flags.output("PNG to write.", default="distortion_rate.png")
_TITLE = flags.DEFINE_string("title", "", "Plot title.")
_REFERENCES = flags.DEFINE_multi_string(
    "reference", [], "LABEL=VALUE: a horizontal line, e.g. a memory-less model's "
    "error ('DAE (paper)=36.08'); repeat the flag for several.")


def main(argv):
  del argv
  if not _EVALUATIONS.value:
    raise app.UsageError("Give at least one --evaluation file.")
  results = [saved.load(p) for p in _EVALUATIONS.value]
  labels = _LABELS.value or [f"{r.get('model', 'model')} (N = {r.get('num_patterns', '?')})"
                             for r in results]
  if len(labels) != len(results):
    raise app.UsageError(f"{len(labels)} --label values for {len(results)} evaluation files.")
  points, dashed = saved.curves(results, labels)
  queries = [r["query"]["mean"] for r in results if "query" in r]
  reference = {"distorted query (mean)": sum(queries) / len(queries)} if queries else {}
  reference.update(saved.references(_REFERENCES.value))
  plotting.error_curves(_OUTPUT.value, points, xlabel="memory size (floats)",
                        ylabel="error per image of x(K)", title=_TITLE.value,
                        reference=reference, log_x=True, dashed=dashed)
  print(saved.markdown(results, labels))
  print(f"Wrote {_OUTPUT.value}")


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
