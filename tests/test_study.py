"""The recipe study: budgets, resumption, table and plot."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ebmm_jax.reporting import study

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_error_at_budgets_is_the_mean_over_the_last_fifth():
  c = dict(step=np.arange(1, 101) * 10, seconds=np.arange(1, 101) * 1.0,
           score=np.arange(100, 0, -1).astype(float), query=np.full(100, 32.0))
  # Seconds 80..100 (rows 79..99) hold scores 21..1: mean 11.
  assert study.error_at(c, 100.0) == pytest.approx(11.0)
  # Steps 400..500 are rows 39..49: scores 61..51.
  assert study.error_at_step(c, 500) == pytest.approx(56.0)
  assert np.isnan(study.error_at(c, 200.0)) and np.isnan(study.error_at_step(c, 2000))


def test_a_variant_with_an_unknown_field_fails_naming_it():
  with pytest.raises(ValueError, match="no field 'memory.bogus'"):
    study.variant_config("configs/binary.py:runlocal", ["memory.bogus=1"], 1.0)
  with pytest.raises(ValueError, match="memory.rates='exp'"):
    study.variant_config("configs/binary.py:runlocal", ["memory.rates=exp"], 1.0)


@pytest.mark.slow
def test_quick_study_trains_both_variants_resumes_and_reports(tmp_path):
  env = dict(os.environ, PYTHONPATH=ROOT)
  env["XLA_FLAGS"] = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
  cmd = [sys.executable, "-m", "experiments.recipe_study",
         "--study=configs/recipe_study.py:quick", f"--workdir={tmp_path / 's'}",
         f"--export_dir={tmp_path / 'export'}"]
  subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
  names = ["old_cpu", "log_rates_lr"]
  done = {n: json.load(open(tmp_path / "s" / n / study.DONE_FILE)) for n in names}
  for n in names:
    # The budget is training seconds (compilation excluded), reached.
    assert done[n]["train_seconds"] >= 0.98 * 4.0
    assert done[n]["steps"] > 10 and done[n]["num_batches"] == 4
    assert 0 <= done[n]["mean"] <= 128
  table = (tmp_path / "s" / "table.md").read_text()
  for n in names:
    row = next(line for line in table.splitlines() if line.startswith(f"| {n} |"))
    assert f"{done[n]['mean']:.2f}" in row and str(done[n]["steps"]) in row
  assert os.path.getsize(tmp_path / "s" / "curves.png") > 10_000
  assert (tmp_path / "export" / "old_cpu" / "metrics_subsampled.jsonl").exists()
  assert (tmp_path / "export" / "table.csv").exists()
  # Run again: nothing is retrained.
  before = {n: (tmp_path / "s" / n / "metrics.jsonl").read_text() for n in names}
  subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
  assert before == {n: (tmp_path / "s" / n / "metrics.jsonl").read_text() for n in names}
