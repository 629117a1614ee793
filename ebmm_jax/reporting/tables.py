"""Markdown tables and their cells, one format for every report.

A score is reported as the paper does (Appendix A): the mean over every
query, with the 5th and 95th percentiles in brackets.
"""
from typing import Mapping, Sequence


def cell(summary: Mapping[str, float], digits: int = 2, pct_digits: int = 1,
         mark: str = "") -> str:
  """'mean [p5, p95]' of a `metrics.summarize` dict, e.g. '12.79 [6.0, 20.0]';
  `mark` follows the mean (e.g. '*' for a row below its memory budget)."""
  return (f"{summary['mean']:.{digits}f}{mark} "
          f"[{summary['p5']:.{pct_digits}f}, {summary['p95']:.{pct_digits}f}]")


def markdown(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
  """A Markdown table: one header line, a rule, one line per row."""
  width = len(header)
  for i, row in enumerate(rows):
    if len(row) != width:
      raise ValueError(f"Row {i} has {len(row)} cells; the header has {width}.")
  lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "---|" * width]
  lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
  return "\n".join(lines)
