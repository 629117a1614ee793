"""Evaluation files saved by the launchers (`evaluate_images --json`, ...):
loading them and turning them into distortion-rate curves and tables
(`experiments/distortion_rate.py`)."""
import collections
import json
from typing import Dict, List, Mapping, Sequence, Tuple

_NEEDED = ("memory_floats", "summary")


def load(path: str) -> dict:
  """An evaluation file, checked for the fields a distortion-rate plot needs."""
  try:
    with open(path) as f:
      result = json.load(f)
  except FileNotFoundError:
    raise FileNotFoundError(f"evaluation file {path}: no such file.") from None
  except json.JSONDecodeError as e:
    raise ValueError(f"evaluation file {path} is not JSON ({e}).") from None
  missing = [k for k in _NEEDED if k not in result]
  if missing:
    raise ValueError(f"{path} lacks {', '.join(missing)}: "
                     "not an evaluation file.")
  return result


def curves(results: Sequence[Mapping], labels: Sequence[str]
           ) -> Tuple[Dict[str, List[tuple]], List[str]]:
  """label -> [(floats, summary)], plus the labels of the writing-off curves
  (the same models with T = 0, when a file holds that row), to draw dashed."""
  out, dashed = collections.defaultdict(list), []
  for result, label in zip(results, labels):
    out[label].append((result["memory_floats"], result["summary"]))
    if "writing_off" in result:
      off = f"{label}, writing off (T = 0)"
      out[off].append((result["memory_floats"], result["writing_off"]["summary"]))
      dashed.append(off)
  return dict(out), sorted(set(dashed))


def markdown(results: Sequence[Mapping], labels: Sequence[str]) -> str:
  """One row per file, sorted by label and memory size."""
  rows = ["| model | memory (floats) | N | meta-steps | error [p5, p95] | writing off |",
          "|---|---|---|---|---|---|"]
  for r, label in sorted(zip(results, labels), key=lambda p: (p[1], p[0]["memory_floats"])):
    s = r["summary"]
    off = r.get("writing_off", {}).get("summary", {}).get("mean")
    rows.append(f"| {label} | {r['memory_floats']:,} | {r.get('num_patterns', '-')} | "
                f"{r.get('step', r.get('steps', '-'))} | {s['mean']:.2f} [{s['p5']:.0f}, {s['p95']:.0f}] | "
                f"{'-' if off is None else f'{off:.2f}'} |")
  return "\n".join(rows)


def references(specs: Sequence[str]) -> Dict[str, float]:
  """['LABEL=VALUE', ...] -> {LABEL: VALUE} (the last '=' splits)."""
  out = {}
  for spec in specs:
    label, sep, value = spec.rpartition("=")
    try:
      if not (sep and label):
        raise ValueError
      out[label] = float(value)
    except ValueError:
      raise ValueError(f"reference {spec!r} must be LABEL=NUMBER, "
                       "e.g. 'DAE (paper)=36.08'.") from None
  return out
