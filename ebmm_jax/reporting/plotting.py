"""Figures of retrieval, like the paper's Figures 2, 4, 5b and 10.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no global
backend switch), so it works on machines without a display and inside tests.
"""
import os
import textwrap
from typing import Mapping, Optional, Sequence

import numpy as np


def _as_image(x: np.ndarray) -> np.ndarray:
  """[H, W, C] in [0, 1] -> what imshow takes: [H, W] for C = 1, else RGB."""
  x = np.clip(np.asarray(x, np.float32), 0.0, 1.0)
  return x[..., 0] if x.shape[-1] == 1 else x


def image_grid(path: str, rows: Sequence[np.ndarray], row_labels: Sequence[str],
               captions: Optional[Sequence[Sequence[str]]] = None,
               title: str = "", cell_inches: float = 1.1, dpi: int = 100) -> str:
  """Writes a grid of images to a PNG file.

  Args:
    path: output file (.png); its folder is created if missing.
    rows: each [n, H, W, C] in [0, 1], one row of the grid (C = 1 drawn as
      greyscale with 1 dark, like ink; C = 3 as RGB).
    row_labels: one label per row, on its left.
    captions: optional text under each image, [len(rows)][n].
    title: figure title.
    cell_inches: size of one image cell.
    dpi: resolution.

  Returns:
    `path`.
  """
  # Imported here: only figure-writing callers pay matplotlib's import time.
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  if len(rows) != len(row_labels):
    raise ValueError(f"{len(rows)} rows but {len(row_labels)} row labels.")
  num_cols = rows[0].shape[0]
  if any(r.shape[0] != num_cols for r in rows):
    raise ValueError(f"every row needs {num_cols} images; got "
                     f"{[r.shape[0] for r in rows]}.")
  caption_height = 0.25 if captions is not None else 0.0
  fig = Figure(figsize=(cell_inches * (num_cols + 0.8),
                        (cell_inches + caption_height) * len(rows) + 0.5))
  FigureCanvasAgg(fig)
  axes = fig.subplots(len(rows), num_cols, squeeze=False)
  for i, (row, label) in enumerate(zip(rows, row_labels)):
    for j in range(num_cols):
      ax = axes[i, j]
      image = _as_image(row[j])
      if image.ndim == 2:
        ax.imshow(image, cmap="gray_r", vmin=0.0, vmax=1.0,
                  interpolation="nearest")
      else:
        ax.imshow(image, interpolation="nearest")
      ax.set_xticks([])
      ax.set_yticks([])
      if captions is not None:
        ax.set_xlabel(captions[i][j], fontsize=7, labelpad=2)
      if j == 0:
        ax.set_ylabel(label, fontsize=8)
  if title:
    fig.suptitle(title, fontsize=9)
  return _save(fig, path, dpi)


def retrieval_figure(path: str, trace: Mapping[str, np.ndarray],
                     num_examples: int = 8, title: str = "",
                     score_name: str = "error") -> str:
  """Figure 2: originals, distorted queries and every read iterate x(1..K).

  Each image is captioned with its energy under the written memory when the
  trace has energies (the paper's Figure 2 shows energy levels), and the
  queries and iterates also with their error to the original.

  Args:
    path: output PNG file.
    trace: `ebmm_jax.image_setups.retrieval_trace` output: originals
      [N, H, W, C], queries [N, H, W, C], iterates [K, N, H, W, C],
      query_scores [N], iterate_scores [K, N], and for an energy model
      original_energies [N], query_energies [N], iterate_energies [K, N].
    num_examples: columns: the first this many of the N stored patterns.
    title: figure title.
    score_name: what the scores are (e.g. "Hamming error"), for the legend.

  Returns:
    `path`.
  """
  n = min(num_examples, trace["originals"].shape[0])
  iterates = np.asarray(trace["iterates"])[:, :n]
  num_steps = iterates.shape[0]
  rows = [trace["originals"][:n], trace["queries"][:n]] + list(iterates)
  labels = ["original", "query"] + [f"x({k + 1})" for k in range(num_steps)]
  scores = ([None, trace["query_scores"][:n]] +
            list(np.asarray(trace["iterate_scores"])[:, :n]))
  if "original_energies" in trace:  # An energy model (EBMM).
    energies = ([trace["original_energies"][:n], trace["query_energies"][:n]] +
                list(np.asarray(trace["iterate_energies"])[:, :n]))
    legend = f"E: energy; after |: {score_name} to the original"
  else:
    energies = [None] * len(scores)
    legend = f"{score_name} to the original"
  captions = []
  for e_row, s_row in zip(energies, scores):
    if e_row is None:
      captions.append([""] * n if s_row is None else [f"{s:.3g}" for s in s_row])
    elif s_row is None:
      captions.append([f"E {e:.3g}" for e in e_row])
    else:
      captions.append([f"E {e:.3g} | {s:.3g}" for e, s in zip(e_row, s_row)])
  return image_grid(path, rows, labels, captions,
                    title=f"{title}\n{legend}" if title else legend)


# -----------------------------------------------------------------------------
# Curves and histograms (Figures 3, 6 and 9).


def _figure(width: float, height: float):
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  fig = Figure(figsize=(width, height))
  FigureCanvasAgg(fig)
  return fig


def _save(fig, path: str, dpi: int = 120) -> str:
  fig.tight_layout()
  folder = os.path.dirname(path)
  if folder:
    os.makedirs(folder, exist_ok=True)
  fig.savefig(path, dpi=dpi, format="png")
  return path


def _error_bars(summaries: Sequence[Mapping[str, float]]) -> np.ndarray:
  """[2, n] distances from the mean down to p5 and up to p95 (0 where a
  skewed distribution puts its mean outside them, e.g. mean 0.01, p95 0)."""
  mean = np.array([s["mean"] for s in summaries])
  return np.maximum(np.stack([mean - np.array([s["p5"] for s in summaries]),
                              np.array([s["p95"] for s in summaries]) - mean]), 0.0)


def error_curves(path: str, curves: Mapping[str, Sequence[tuple]],
                 xlabel: str, ylabel: str, title: str = "",
                 reference: Optional[Mapping[str, float]] = None,
                 log_x: bool = False, dashed: Sequence[str] = (),
                 x_ticks: Optional[Sequence[float]] = None,
                 legend_below: bool = False) -> str:
  """Error against a swept quantity, one line per model (Figures 3, 5a, 9).

  Args:
    path: output PNG.
    curves: label -> [(x, summary)], summary with mean, p5 and p95 (drawn
      as the point and its 5th-95th percentile bar, Appendix A).
    xlabel, ylabel, title: axis labels and title.
    reference: optional label -> y drawn as horizontal dashed lines (e.g. the
      distorted query's own error, or the paper's numbers).
    log_x: logarithmic x axis (memory sizes).
    dashed: labels of `curves` drawn dashed in grey: references that vary
      along x (e.g. the distorted query's error at each noise level).
    x_ticks: ticks of the x axis (e.g. the chunks 1..C), else matplotlib's.
    legend_below: the legend under the axes, clear of the curves (many lines).
  """
  if not curves:
    raise ValueError("error_curves needs at least one curve.")
  fig = _figure(6.5, 4.2 + (0.17 * ((len(curves) + 1) // 2) if legend_below else 0.0))
  ax = fig.add_subplot(1, 1, 1)
  for label, points in curves.items():
    points = sorted(points, key=lambda p: p[0])
    xs = [p[0] for p in points]
    summaries = [p[1] for p in points]
    style = dict(ls="--", color="grey", marker="x") if label in dashed else dict(marker="o")
    ax.errorbar(xs, [s["mean"] for s in summaries], yerr=_error_bars(summaries),
                capsize=3, label=label, **style)
  for i, (label, y) in enumerate((reference or {}).items()):
    ax.axhline(y, ls="--", lw=1, color=f"C{(len(curves) + i) % 10}", label=label)
  if log_x:
    ax.set_xscale("log")
  if x_ticks is not None:
    ax.set_xticks(list(x_ticks))
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  if title:
    ax.set_title(title, fontsize=9)
  ax.grid(alpha=0.3)
  if legend_below:
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
              frameon=False)
  else:
    ax.legend(fontsize=8)
  return _save(fig, path)


POPULATION_LABELS = {
    "stored": "memories (stored)",
    "non_stored": "non-memories",
    "distorted_stored": "distorted memories",
    "out_of_distribution": "out of distribution",
}


# Characters per line of a 9-point title on the 6.5-inch histogram figure.
TITLE_WIDTH = 90


def energy_histograms(path: str, populations: Mapping[str, np.ndarray],
                      aucs: Optional[Mapping[str, Mapping[str, float]]] = None,
                      title: str = "", bins: int = 60) -> str:
  """Figure 6: histograms of the energies of each population.

  Args:
    populations: name -> energies (any shape), e.g. from
      `analysis.energy_populations`.
    aucs: optional name -> {"pooled": AUC, ...} of telling the stored patterns
      from that population by energy, shown in the legend.
  """
  fig = _figure(6.5, 4.2)
  ax = fig.add_subplot(1, 1, 1)
  values = {k: np.asarray(v, np.float64).ravel() for k, v in populations.items()}
  lo = min(np.percentile(v, 0.5) for v in values.values())
  hi = max(np.percentile(v, 99.5) for v in values.values())
  edges = np.linspace(lo, hi, bins + 1)
  for name, v in values.items():
    label = POPULATION_LABELS.get(name, name)
    if aucs and name in aucs:
      label += f" (AUC vs stored {aucs[name]['pooled']:.3f})"
    ax.hist(np.clip(v, lo, hi), bins=edges, density=True, histtype="stepfilled",
            alpha=0.45, label=label)
  ax.set_xlabel("energy under the written memory")
  ax.set_ylabel("density")
  if title:  # Wrapped: a long out-of-distribution name would run off the figure.
    ax.set_title(textwrap.fill(title, TITLE_WIDTH), fontsize=9)
  ax.legend(fontsize=8)
  return _save(fig, path)
