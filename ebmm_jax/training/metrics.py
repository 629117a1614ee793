"""Summaries (mean and 5th/95th percentiles, Appendix A) and metric writers."""
import json
import os
import time
from typing import Any, Dict, Mapping, Optional

import numpy as np
from etils import epath

METRICS_FILE = "metrics.jsonl"
REWRITE_SECS = 60.0  # Cloud workdirs: how often metrics.jsonl is rewritten.


def summarize(values) -> Dict[str, float]:
  """Mean and 5th/95th percentiles of per-query scores (Appendix A)."""
  v = np.asarray(values, np.float64).ravel()
  if v.size == 0:
    raise ValueError("summarize() needs at least one value.")
  return dict(mean=float(v.mean()), p5=float(np.percentile(v, 5)),
              p95=float(np.percentile(v, 95)), count=int(v.size))


def to_python(metrics: Mapping[str, Any]) -> Dict[str, Any]:
  """Device arrays -> floats or lists, for JSON."""
  out = {}
  for k, v in metrics.items():
    a = np.asarray(v)
    out[k] = a.item() if a.ndim == 0 else a.tolist()
  return out


class MetricWriter:
  """Writes metrics as JSON lines (`metrics.jsonl`) and TensorBoard summaries.

  Only one process of a multi-host job should write: pass enabled=False elsewhere.
  """

  def __init__(self, workdir: str, enabled: bool = True, tensorboard: bool = True):
    self.enabled = enabled
    self._tb = None
    if not enabled:
      return
    root = epath.Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    self._path = root / METRICS_FILE
    # Object stores cannot append: there the file is rewritten whole, at most
    # every REWRITE_SECS and at close.
    self._rewrite = "://" in str(workdir)
    self._rows, self._last_rewrite = [], 0.0
    if self._rewrite:
      if self._path.exists():
        self._rows = self._path.read_text().splitlines()
    else:
      self._file = open(self._path, "a")
    if tensorboard and not self._rewrite:
      try:
        from tensorboardX import SummaryWriter
        self._tb = SummaryWriter(os.path.join(workdir, "tb"))
      except ImportError:  # TensorBoard summaries are optional.
        self._tb = None

  def write(self, step: int, metrics: Mapping[str, Any]) -> None:
    if not self.enabled:
      return
    row = dict(step=int(step), time=time.time(), **to_python(metrics))
    if self._rewrite:
      self._rows.append(json.dumps(row))
      if row["time"] - self._last_rewrite >= REWRITE_SECS:
        self._flush_rewrite()
    else:
      self._file.write(json.dumps(row) + "\n")
      self._file.flush()
    if self._tb is not None:
      # TensorBoard cannot draw inf or NaN (e.g. an overflowing meta-gradient
      # norm): those points stay in metrics.jsonl only.
      for k, v in row.items():
        if k in ("step", "time"):
          continue
        arr = np.asarray(v, np.float64)
        if arr.ndim == 0:
          points = [(k, arr)]
        elif arr.ndim == 1:
          points = [(f"{k}/{i + 1}", x) for i, x in enumerate(arr)]
        else:
          points = []
        for name, x in points:
          if np.isfinite(x):
            self._tb.add_scalar(name, float(x), step)

  def _flush_rewrite(self) -> None:
    self._path.write_text("".join(r + "\n" for r in self._rows))
    self._last_rewrite = time.time()

  def close(self) -> None:
    if self.enabled:
      if self._rewrite:
        self._flush_rewrite()
      else:
        self._file.close()
      if self._tb is not None:
        self._tb.close()


def read_metrics(workdir: str) -> list:
  path = epath.Path(workdir) / METRICS_FILE
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def report(text: str, markdown_path: str = "", json_path: str = "",
           data: Optional[Mapping[str, Any]] = None) -> None:
  """Prints a result `text` and also writes it (and `data` as JSON) if asked."""
  print(text)
  if markdown_path:
    epath.Path(markdown_path).write_text(text + "\n")
  if json_path:
    epath.Path(json_path).write_text(json.dumps(data, indent=2))
