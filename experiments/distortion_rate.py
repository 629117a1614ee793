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
import collections
import json

from absl import app
from absl import flags

from ebmm_jax.experiments import cli
from ebmm_jax.reporting import plotting

_EVALUATIONS = flags.DEFINE_multi_string(
    "evaluation", [], "Evaluation JSON files (each: memory_floats, summary, ...).")
_LABELS = flags.DEFINE_multi_string(
    "label", [], "A curve label per file, in order (repeat the flag; files with "
    "the same label form one curve; default: the model and its N).")
_OUTPUT = flags.DEFINE_string("output", "distortion_rate.png", "PNG to write.")
_TITLE = flags.DEFINE_string("title", "", "Plot title.")
_REFERENCES = flags.DEFINE_multi_string(
    "reference", [], "LABEL=VALUE: a horizontal line, e.g. a memory-less model's "
    "error ('DAE (paper)=36.08'); repeat the flag for several.")

_NEEDED = ("memory_floats", "summary")


def load(path: str) -> dict:
  """An evaluation file, checked for the fields the plot needs."""
  try:
    with open(path) as f:
      result = json.load(f)
  except FileNotFoundError:
    raise app.UsageError(f"--evaluation={path}: no such file.") from None
  except json.JSONDecodeError as e:
    raise app.UsageError(f"--evaluation={path} is not JSON ({e}).") from None
  missing = [k for k in _NEEDED if k not in result]
  if missing:
    raise app.UsageError(f"--evaluation={path} lacks {', '.join(missing)}: "
                         "not an evaluation file.")
  return result


def curves(results, labels):
  """label -> [(floats, summary)], plus the writing-off curves dashed."""
  out, dashed = collections.defaultdict(list), []
  for result, label in zip(results, labels):
    out[label].append((result["memory_floats"], result["summary"]))
    if "writing_off" in result:
      off = f"{label}, writing off (T = 0)"
      out[off].append((result["memory_floats"], result["writing_off"]["summary"]))
      dashed.append(off)
  return dict(out), sorted(set(dashed))


def markdown(results, labels) -> str:
  rows = ["| model | memory (floats) | N | meta-steps | error [p5, p95] | writing off |",
          "|---|---|---|---|---|---|"]
  for r, label in sorted(zip(results, labels), key=lambda p: (p[1], p[0]["memory_floats"])):
    s = r["summary"]
    off = r.get("writing_off", {}).get("summary", {}).get("mean")
    rows.append(f"| {label} | {r['memory_floats']:,} | {r.get('num_patterns', '-')} | "
                f"{r.get('step', '-')} | {s['mean']:.2f} [{s['p5']:.0f}, {s['p95']:.0f}] | "
                f"{'-' if off is None else f'{off:.2f}'} |")
  return "\n".join(rows)


def references(specs) -> dict:
  """['LABEL=VALUE', ...] -> {LABEL: VALUE}."""
  out = {}
  for spec in specs:
    label, sep, value = spec.rpartition("=")
    try:
      if not (sep and label):
        raise ValueError
      out[label] = float(value)
    except ValueError:
      raise app.UsageError(f"--reference={spec!r} must be LABEL=NUMBER, "
                           "e.g. 'DAE (paper)=36.08'.") from None
  return out


def main(argv):
  del argv
  if not _EVALUATIONS.value:
    raise app.UsageError("Give at least one --evaluation file.")
  results = [load(p) for p in _EVALUATIONS.value]
  labels = _LABELS.value or [f"{r.get('model', 'model')} (N = {r.get('num_patterns', '?')})"
                             for r in results]
  if len(labels) != len(results):
    raise app.UsageError(f"{len(labels)} --label values for {len(results)} evaluation files.")
  points, dashed = curves(results, labels)
  queries = [r["query"]["mean"] for r in results if "query" in r]
  reference = {"distorted query (mean)": sum(queries) / len(queries)} if queries else {}
  reference.update(references(_REFERENCES.value))
  plotting.error_curves(_OUTPUT.value, points, xlabel="memory size (floats)",
                        ylabel="error per image of x(K)", title=_TITLE.value,
                        reference=reference, log_x=True, dashed=dashed)
  print(markdown(results, labels))
  print(f"Wrote {_OUTPUT.value}")


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
