"""Summaries (mean and 5th/95th percentiles, Appendix A) and metric writers."""
import json
import os
import time
from typing import Any, Dict, Mapping, Optional

import numpy as np


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
    os.makedirs(workdir, exist_ok=True)
    self._file = open(os.path.join(workdir, "metrics.jsonl"), "a")
    if tensorboard:
      try:
        from tensorboardX import SummaryWriter
        self._tb = SummaryWriter(os.path.join(workdir, "tb"))
      except ImportError:  # TensorBoard summaries are optional.
        self._tb = None

  def write(self, step: int, metrics: Mapping[str, Any]) -> None:
    if not self.enabled:
      return
    row = dict(step=int(step), time=time.time(), **to_python(metrics))
    self._file.write(json.dumps(row) + "\n")
    self._file.flush()
    if self._tb is not None:
      for k, v in row.items():
        if k in ("step", "time"):
          continue
        arr = np.asarray(v, np.float64)
        if arr.ndim == 0:
          self._tb.add_scalar(k, float(arr), step)
        elif arr.ndim == 1:
          for i, x in enumerate(arr):
            self._tb.add_scalar(f"{k}/{i + 1}", float(x), step)

  def close(self) -> None:
    if self.enabled:
      self._file.close()
      if self._tb is not None:
        self._tb.close()


def read_metrics(workdir: str) -> list:
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def report(text: str, markdown_path: str = "", json_path: str = "",
           data: Optional[Mapping[str, Any]] = None) -> None:
  """Prints a result `text` and also writes it (and `data` as JSON) if asked."""
  print(text)
  if markdown_path:
    with open(markdown_path, "w") as f:
      f.write(text + "\n")
  if json_path:
    with open(json_path, "w") as f:
      json.dump(data, f, indent=2)
