"""The launchers end to end on tiny configs, with their numbers checked.

Each launcher runs as a subprocess (its own flags, one CPU device). Its
printed or written numbers are then recomputed here: Table 1, Table 3 and
the image table from the literal write-then-read of `tests/references.py` on
the same batches and queries (so a read that returns its query, or a launcher
that scores the wrong model, N or batches, fails), the training plot's curves
from the metrics it was given, and the benchmark's derived numbers from its
raw ones and the analytic FLOP count.
"""
import csv
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from ebmm_jax.reporting import forgetting
from ebmm_jax.reporting import image_table
from ebmm_jax.setups import specs
from ebmm_jax.training import checkpoint
from ebmm_jax import setups
from ebmm_jax.training import parallel
from ebmm_jax import training
from tests import helpers
from tests import references

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(args, timeout=300, env_extra=None):
  """Runs `python args...` from the repository root on one CPU device."""
  env = dict(os.environ)
  env["XLA_FLAGS"] = " ".join(
      f for f in env.get("XLA_FLAGS", "").split()
      if not f.startswith("--xla_force_host_platform_device_count"))
  env.update(env_extra or {})
  proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout


def _evaluation_batches(exp, num_patterns, num_batches, seed):
  """The batches and queries `evaluation.evaluate` scores: (patterns,
  queries, known) per memory, in order (its key derivation, restated)."""
  per_call = min(exp.config.eval.batches_per_call, num_batches)
  base, done, out = jax.random.PRNGKey(seed), 0, []
  while done < num_batches:
    k_data, k_distort = jax.random.split(jax.random.fold_in(base, done))
    patterns = exp.sample_test(k_data, per_call, num_patterns)
    keys = jax.random.split(k_distort, per_call)
    for b in range(min(per_call, num_batches - done)):
      queries, known = exp.task.distort(keys[b], patterns[b])
      out.append((patterns[b], queries, known))
    done += per_call
  return out


def _reference_scores(exp, meta_params, batches, score, energy_apply=None,
                      writing=True):
  """Per-query scores of every reference iterate [K, Q] and of the queries
  [Q], and per query the number of final entries within 1e-3 of the score's
  threshold (0 for ±1 strings, 0.5 for images), whose side float32 may not
  share with float64."""
  iterate_scores, query_scores, ambiguous = [], [], []
  threshold = 0.0 if exp.task.box == (-1.0, 1.0) else 0.5
  with jax.enable_x64(True):
    for patterns, queries, known in batches:
      xs = references.retrieve(energy_apply or exp.model.network.apply, meta_params.static,
                               meta_params.write, meta_params.read, patterns, queries,
                               known, exp.task.box, writing=writing)
      iterate_scores.append([score(x, np.asarray(patterns)) for x in xs])
      query_scores.append(score(np.asarray(queries), np.asarray(patterns)))
      near = np.abs(xs[-1] - threshold) < 1e-3
      ambiguous.append(near.reshape(near.shape[0], -1).sum(axis=1))
  return (np.concatenate(iterate_scores, axis=1), np.concatenate(query_scores),
          np.concatenate(ambiguous))


def _hamming(x, patterns):
  axes = tuple(range(1, patterns.ndim))
  return np.sum((x > 0.5) != (patterns > 0.5), axis=axes)


# --- Table 1 with a trained EBMM workdir (experiments.evaluate) ---------------

def test_table1_launcher_scores_a_workdir_like_the_reference(tmp_path):
  # N = 16: the smallest column of Table 1.
  config = helpers.tiny_config(**{"data.num_patterns": 16, "train.num_steps": 2,
                                  "train.log_every": 1, "train.checkpoint_every_secs": 0.0})
  workdir = str(tmp_path / "ebmm")
  training.train(config, workdir, parallel.make_mesh(jax.devices()[:1]))
  out_json = tmp_path / "table1.json"
  stdout = _run(["-m", "experiments.evaluate", f"--workdir={workdir}", "--ns=16",
                 "--num_batches=3", "--seed=7", "--hopfield=", "--nomodern_hopfield",
                 f"--json={out_json}"])
  results = json.loads(out_json.read_text())
  label = "EBMM (ebmm-jax), 51-float memory (below the budget)"
  cell = results[label]["16"]
  assert cell["trained_at"] == 16 and cell["memory_floats"] == 51
  assert cell["training"]["steps"] == 2

  exp = setups.build(config)
  meta_params = training.load_meta_params(config, workdir)
  batches = _evaluation_batches(exp, 16, 3, seed=7)
  scores, query, ambiguous = _reference_scores(exp, meta_params, batches,
                                               references.error_bits)
  assert ambiguous.sum() == 0  # No retrieved bit so close to 0 that float32 could flip it.
  assert cell["count"] == scores.shape[1] == 3 * 16
  np.testing.assert_allclose(cell["mean"], scores[-1].mean(), rtol=1e-12)
  np.testing.assert_allclose([cell["p5"], cell["p95"]],
                             np.percentile(scores[-1], [5, 95]), rtol=1e-12)
  np.testing.assert_allclose(cell["per_iterate"], scores.mean(axis=1), rtol=1e-12)
  np.testing.assert_allclose(cell["query"]["mean"], query.mean(), rtol=1e-12)
  # The read changed the queries' bits (a read returning its query would not).
  assert not np.array_equal(scores[-1], query)
  row = next(l for l in stdout.splitlines() if l.startswith(f"| {label} | 51 |"))
  assert f"{scores[-1].mean():.2f} [" in row


# --- Table 3 (experiments.correlated) and the image table (evaluate_images) ----

MEM = "200"  # runlocal's C.5 model with dynamic_size 2: 220 floats.
SPEC = "configs/omniglot_correlated.py:runlocal"
# T = K = 2 instead of runlocal's 5: each evaluation compiles in half the time.
STEPS = ["memory.write_steps=2", "memory.read_steps=2"]


@pytest.fixture(scope="module")
def omniglot_root(tmp_path_factory, data_dir):
  """Table 3's two workdirs (uniform and 2-class batches), each holding its
  initial state as a checkpoint, so the launchers only evaluate."""
  root = tmp_path_factory.mktemp("table3")
  configs = {}
  for variant, prefix in (("uniform", "uniform"), ("", "2class")):
    config = specs.load(SPEC, [f"data.data_dir={data_dir}", *STEPS],
                                   [v for v in (variant, f"mem={MEM}") if v])
    workdir = root / f"{prefix}_mem_{MEM}"
    os.makedirs(workdir)
    with open(workdir / "config.json", "w") as f:
      f.write(config.to_json_best_effort(indent=2))
    checkpoint.save(training.checkpoint_dir(str(workdir)), 0,
                    training.initial_state(setups.build(config)))
    configs[prefix] = config
  return root, configs


@pytest.mark.slow
def test_table3_and_image_launchers_score_like_the_reference(omniglot_root, data_dir,
                                                            tmp_path):
  """Table 3's rows (2 test batches of N = 4 each) and the image table of the
  2-class workdir, against the reference write-then-read of the same batches."""
  root, configs = omniglot_root
  stdout = _run(["-m", "experiments.correlated", f"--config={SPEC}", f"--mems={MEM}",
                 f"--config.data.data_dir={data_dir}", *[f"--config.{s}" for s in STEPS],
                 f"--root={root}", "--num_batches=2", "--seed=3"])
  with open(root / "table3.csv") as f:
    rows = {r["label"]: r for r in csv.DictReader(f)}
  assert set(rows) == {f"uniform, mem={MEM}", f"2 classes, mem={MEM}"}
  # Both rows' energies are the same C.5 model: one compilation of the references.
  energy_apply = setups.build(configs["2class"]).model.network.apply
  expected = {}
  for prefix, label in (("uniform", "uniform"), ("2class", "2 classes")):
    exp = setups.build(configs[prefix])  # Its own batches (uniform or 2 classes).
    meta_params = training.initial_state(exp).meta_params
    scores, query, ambiguous = _reference_scores(
        exp, meta_params, _evaluation_batches(exp, 4, 2, seed=3), _hamming, energy_apply)
    # Reading changed the images (a read returning its query would not).
    assert np.any(np.abs(scores[-1] - query) > ambiguous)
    expected[prefix] = (scores, query, ambiguous)
    row = rows[f"{label}, mem={MEM}"]
    assert int(row["memory_floats"]) == 220 and int(row["num_patterns"]) == 4
    assert int(row["steps"]) == 0
    assert row["workdir"] == str(root / f"{prefix}_mem_{MEM}")
    assert abs(float(row["mean"]) - scores[-1].mean()) <= ambiguous.mean()
    np.testing.assert_allclose(float(row["query_mean"]), query.mean(), rtol=1e-12)
  assert (root / "table3.md").read_text().startswith(f"| batches | ebmm-jax, mem={MEM} |")
  two_class = rows[f"2 classes, mem={MEM}"]
  assert f"| 2 classes | {float(two_class['mean']):.2f} [" in stdout

  # The image table of the 2-class workdir on the same batches: the same numbers.
  out_json = tmp_path / "images.json"
  _run(["-m", "experiments.evaluate_images", f"--workdir={root / f'2class_mem_{MEM}'}",
        "--num_batches=2", "--seed=3", f"--json={out_json}"])
  result = json.loads(out_json.read_text())
  assert result["memory_floats"] == 220 and result["num_patterns"] == 4
  assert result["step"] == 0 and result["paper"] == "-"
  assert result["summary"]["count"] == 8
  np.testing.assert_allclose(result["summary"]["mean"], float(two_class["mean"]), rtol=1e-12)
  scores, query, ambiguous = expected["2class"]
  np.testing.assert_allclose(result["query"]["mean"], query.mean(), rtol=1e-12)
  assert np.all(np.abs(np.asarray(result["per_iterate"]) - scores.mean(axis=1))
                <= ambiguous.mean())
  # The writing-off row reads the same queries with θ̄ (T = 0).
  exp = setups.build(configs["2class"])
  off_scores, off_query, off_ambiguous = _reference_scores(
      exp, training.initial_state(exp).meta_params,
      _evaluation_batches(exp, 4, 2, seed=3), _hamming, energy_apply, writing=False)
  np.testing.assert_allclose(off_query, query, rtol=1e-12)
  off = result["writing_off"]["summary"]
  assert off["count"] == 8
  assert abs(off["mean"] - off_scores[-1].mean()) <= off_ambiguous.mean()
  assert abs(result["writing_gain"] - (1 - result["summary"]["mean"] / off["mean"])) < 1e-12


# --- Table 2 (experiments.table2) ---------------------------------------------

def test_table2_launcher_refuses_bad_batch_counts_in_one_line(tmp_path):
  proc = subprocess.run([sys.executable, "-m", "experiments.table2", f"--root={tmp_path}",
                         "--vae_num_batches=-1"], cwd=ROOT, capture_output=True, text=True,
                        timeout=120)
  assert proc.returncode != 0
  assert "--vae_num_batches=-1" in proc.stderr.strip().splitlines()[-1]
  assert not os.listdir(tmp_path)  # Nothing trained or written.


def test_table2_launcher_trains_and_scores_a_cell_like_its_model(data_dir, tmp_path):
  """One cell (the DAE, Omniglot, salt-and-pepper; runlocal, one meta-step):
  its workdir, meta-steps and scores, recomputed here from the trained model's
  own read of the same batches and queries, and the paper's number beside it."""
  root = tmp_path / "table2"
  stdout = _run(["-m", "experiments.table2", f"--root={root}", f"--data_dir={data_dir}",
                 "--models=dae", "--datasets=omniglot", "--noises=salt_and_pepper",
                 "--variant=runlocal", "--train_steps=1", "--num_batches=2", "--seed=3"])
  cell = json.loads((root / "table2.json").read_text())["cells"][
      "dae / omniglot / salt_and_pepper"]
  workdir = str(root / "dae_omniglot_salt_and_pepper")
  assert cell["workdir"] == workdir and cell["steps"] == 1 and cell["paper"] == "9.57"
  config = training.load_config(workdir)
  assert config.data.distortion == "salt_and_pepper" and config.data.name == "omniglot"
  exp = setups.build(config)
  params = training.load_meta_params(config, workdir)
  batches = _evaluation_batches(exp, config.data.num_patterns, 2, seed=3)
  final, query = [], []
  for patterns, queries, known in batches:
    xs = exp.model.retrieve(params, patterns, queries, known)
    final.append(_hamming(np.asarray(xs[-1]), np.asarray(patterns)))
    query.append(_hamming(np.asarray(queries), np.asarray(patterns)))
  final, query = np.concatenate(final), np.concatenate(query)
  assert cell["summary"]["count"] == final.size == 2 * config.data.num_patterns
  np.testing.assert_allclose(cell["summary"]["mean"], final.mean(), rtol=1e-6)
  np.testing.assert_allclose(cell["query_mean"], query.mean(), rtol=1e-12)
  # 15% of the 16x16 pixels set to 0 or 1 at random: about 19 of them wrong.
  assert 12 < query.mean() < 27
  row = next(l for l in stdout.splitlines() if l.startswith("| DAE (here) |"))
  assert f"{final.mean():.2f} [" in row
  assert next(l for l in stdout.splitlines() if l.startswith("| DAE (paper) |")) == \
      "| DAE (paper) | 9.57 |"


# --- Training curves (experiments.plot_training) ------------------------------

# Runs the launcher with Figure.savefig wrapped to record every plotted line.
_PLOT_DRIVER = """
import json, os, sys
import matplotlib
matplotlib.use("Agg")
from matplotlib import figure
_savefig = figure.Figure.savefig
def savefig(self, *args, **kwargs):
  lines = [dict(label=l.get_label(), style=l.get_linestyle(),
                x=[float(v) for v in l.get_xdata()], y=[float(v) for v in l.get_ydata()])
           for l in self.axes[0].get_lines()]
  with open(os.environ["PLOT_LINES"], "w") as f:
    json.dump(lines, f)
  return _savefig(self, *args, **kwargs)
figure.Figure.savefig = savefig
from absl import app
from ebmm_jax.experiments import plot_training
sys.argv[0] = "plot_training"
app.run(plot_training.main)
"""


def test_plot_training_draws_the_smoothed_logged_scores(tmp_path):
  rng = np.random.default_rng(0)
  logged = {}
  for name, num_rows in (("a", 12), ("b", 7)):
    workdir = tmp_path / name
    os.makedirs(workdir)
    steps = 5 * np.arange(1, num_rows + 1)
    score = rng.uniform(0, 30, (num_rows, 2))  # [rows, K]: x(K) is the last.
    query = rng.uniform(28, 36, num_rows)
    with open(workdir / "metrics.jsonl", "w") as f:
      for s, sc, q in zip(steps, score, query):
        f.write(json.dumps(dict(step=int(s), score=sc.tolist(), query_score=float(q))) + "\n")
    logged[name] = (steps, score[:, -1], query)
  lines_path, png = tmp_path / "lines.json", tmp_path / "curves.png"
  stdout = _run(["-c", _PLOT_DRIVER, f"--workdir={tmp_path / 'a'}",
                 f"--workdir={tmp_path / 'b'}", "--labels=first,second", "--smooth=3",
                 f"--output={png}"], env_extra={"PLOT_LINES": str(lines_path)})
  assert f"Wrote {png}" in stdout and png.read_bytes()[:4] == b"\x89PNG"
  lines = json.loads(lines_path.read_text())
  assert len(lines) == 4  # Per workdir: x(K)'s score (solid) and the query's (dotted).
  for (solid, dotted), label in zip([lines[:2], lines[2:]], ("first", "second")):
    steps, final, query = logged["a" if label == "first" else "b"]
    window = lambda v: np.array([v[i:i + 3].mean() for i in range(len(v) - 2)])
    assert solid["label"] == label and solid["style"] == "-" and dotted["style"] == ":"
    np.testing.assert_array_equal(solid["x"], steps[2:])
    np.testing.assert_allclose(solid["y"], window(final), rtol=1e-12)
    np.testing.assert_array_equal(dotted["x"], steps[2:])
    np.testing.assert_allclose(dotted["y"], window(query), rtol=1e-12)


def test_plot_training_draws_another_logged_metric_on_a_log_axis(tmp_path):
  workdir = tmp_path / "run"
  os.makedirs(workdir)
  norms = [3.0, 5e4, 7.0, 2e8, 11.0]
  rates = [[1.0, 0.5], [2.0, 0.25], [3.0, 0.125], [4.0, 0.0625], [5.0, 0.03125]]
  with open(workdir / "metrics.jsonl", "w") as f:
    for step, (g, r) in enumerate(zip(norms, rates), 1):
      f.write(json.dumps(dict(step=step, score=[9.0], query_score=30.0, grad_norm=g,
                              read_step_sizes=r)) + "\n")
    f.write(json.dumps(dict(step=6, score=[9.0], query_score=30.0)) + "\n")  # No grad_norm.
  lines_path = tmp_path / "lines.json"
  for metric, expected in (("grad_norm", norms), ("read_step_sizes", [r[-1] for r in rates])):
    _run(["-c", _PLOT_DRIVER, f"--workdir={workdir}", f"--metric={metric}", "--log_y",
          "--smooth=1", f"--output={tmp_path / 'm.png'}"],
         env_extra={"PLOT_LINES": str(lines_path)})
    lines = json.loads(lines_path.read_text())
    assert len(lines) == 1  # No query line for a metric other than the score.
    np.testing.assert_array_equal(lines[0]["x"], [1, 2, 3, 4, 5])
    np.testing.assert_allclose(lines[0]["y"], expected, rtol=1e-12)
  result = subprocess.run(
      [sys.executable, "-c", _PLOT_DRIVER, f"--workdir={workdir}", "--metric=nope",
       f"--output={tmp_path / 'n.png'}"], capture_output=True, text=True,
      env=dict(os.environ, PLOT_LINES=str(lines_path)), cwd=ROOT, timeout=300)
  assert result.returncode != 0 and "logs no 'nope'" in result.stderr


# --- Distortion-rate plots from saved evaluations (experiments.distortion_rate)

def test_distortion_rate_draws_each_file_at_its_memory_size(tmp_path):
  def evaluation(floats, mean, off=None):
    r = dict(model="EBMM", num_patterns=4, step=10, memory_floats=floats,
             summary=dict(mean=mean, p5=mean - 3, p95=mean + 4),
             query=dict(mean=127., p5=110., p95=140.))
    if off is not None:
      r["writing_off"] = dict(summary=dict(mean=off, p5=off - 1, p95=off + 1))
    return r
  files = []
  for floats, mean, off in ((8092, 33.06, 63.65), (578, 40.1, None), (2312, 38.78, 43.34)):
    files.append(tmp_path / f"e{floats}.json")
    files[-1].write_text(json.dumps(evaluation(floats, mean, off)))
  png = tmp_path / "dr.png"
  stdout = _run(["-m", "ebmm_jax.experiments.distortion_rate",
                 *[f"--evaluation={f}" for f in files], f"--output={png}",
                 "--reference=DAE (paper)=36.08"])
  assert png.read_bytes()[:4] == b"\x89PNG" and f"Wrote {png}" in stdout
  rows = [l for l in stdout.splitlines() if l.startswith("| EBMM (N = 4) |")]
  # Sorted by memory size, each with its own numbers.
  assert rows == ["| EBMM (N = 4) | 578 | 4 | 10 | 40.10 [37, 44] | - |",
                  "| EBMM (N = 4) | 2,312 | 4 | 10 | 38.78 [36, 43] | 43.34 |",
                  "| EBMM (N = 4) | 8,092 | 4 | 10 | 33.06 [30, 37] | 63.65 |"]
  from ebmm_jax.reporting import saved
  points, dashed = saved.curves(
      [evaluation(8092, 33.06, 63.65), evaluation(578, 40.1)], ["a", "a"])
  assert [x for x, _ in points["a"]] == [8092, 578]
  assert dashed == ["a, writing off (T = 0)"]
  assert [s["mean"] for _, s in points["a, writing off (T = 0)"]] == [63.65]
  # A sweep's cached evaluation names its meta-steps `steps`.
  cached = dict(evaluation(2312, 14.4), steps=333)
  del cached["step"]
  assert "| b | 2,312 | 4 | 333 | 14.40 [11, 18] | - |" in saved.markdown([cached], ["b"])
  assert saved.references(["a=b=1.5", "DAE=36.08"]) == {"a=b": 1.5, "DAE": 36.08}
  with pytest.raises(ValueError, match="LABEL=NUMBER"):
    saved.references(["DAE"])
  bad = tmp_path / "bad.json"
  bad.write_text(json.dumps({"summary": {}}))
  proc = subprocess.run([sys.executable, "-m", "ebmm_jax.experiments.distortion_rate",
                         f"--evaluation={bad}", f"--output={png}"], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode != 0
  assert "lacks memory_floats: not an evaluation file" in proc.stderr
  assert "Traceback" not in proc.stderr


# --- The benchmark (experiments.benchmark) on the tiny config -----------------

# The benchmark takes config names from configs/; this runs it on the tiny
# config of tests/helpers.py (a fresh copy per call: the remat part edits it).
_BENCHMARK_DRIVER = """
import sys
from absl import app
from ebmm_jax.experiments import benchmark
from tests import helpers
benchmark._config = lambda name: helpers.tiny_config()
sys.argv[0] = "benchmark"
app.run(benchmark.main)
"""


@pytest.mark.slow
def test_benchmark_on_the_tiny_config(tmp_path):
  out = tmp_path / "bench.json"
  _run(["-c", _BENCHMARK_DRIVER, "--configs=tiny", "--steps=2", "--remat_steps=3",
        "--write_ns=4,8,16", f"--output={out}"])
  result = json.loads(out.read_text())
  (r,) = result["configs"]
  assert r["config"] == "tiny" and r["num_patterns"] == 4 and r["meta_batch_size"] == 1
  # One evaluation of the gated RNN (D = 16, H = 8, 3 writable, 2 hops) on
  # N = 4 patterns: the input projections 2 N D 2H, the recurrent one
  # 2 N H (2H - 3) at the second hop, the energy head 2 N H.
  analytic = 2 * 4 * 16 * 2 * 8 + 2 * 4 * 8 * (2 * 8 - 3) + 2 * 4 * 8
  assert r["energy_forward_flops_analytic"] == analytic == 2944
  # XLA also counts the elementwise work (tanh, gates): more, not much more.
  assert analytic <= r["energy_forward_flops_xla"] <= 2 * analytic
  # A meta-step costs many energy evaluations (T = K = 2, second order).
  assert 10 < r["step_in_energy_forwards"] < 1000
  np.testing.assert_allclose(
      r["step_in_energy_forwards"], r["flops_xla_unrolled"] / r["energy_forward_flops_xla"])
  np.testing.assert_allclose(r["step_in_matmuls"], r["step_s_median"] / result["matmul_2048_s"])
  matmul_rate = 2 * 2048 ** 3 / result["matmul_2048_s"]
  np.testing.assert_allclose(r["utilisation"],
                             r["flops_xla_unrolled"] / r["step_s_median"] / matmul_rate)
  np.testing.assert_allclose(result["matmul_gflops"], matmul_rate / 1e9)
  np.testing.assert_allclose(r["first_order_speedup"],
                             r["step_s_median"] / r["first_order_step_s_median"])
  assert all(r[k] > 0 for k in ("compile_s", "step_s_median", "write_s_median",
                                "read_s_median", "checkpoint_save_s_median"))
  assert r["peak_memory_bytes"] > 0 and r["checkpoint_bytes"] > 1000
  fit = r["write_scaling"]
  assert fit["n"] == [4, 8, 16] and len(fit["seconds"]) == 3
  np.testing.assert_allclose(
      np.polyfit(fit["n"], fit["seconds"], 1), [fit["slope_s_per_pattern"],
                                                fit["intercept_s"]], rtol=1e-6, atol=1e-9)
  roof = r["dot_roofline"]
  # The gated RNN is matrix products plus elementwise gates: most FLOPs.
  assert 0.5 < roof["flops_share_of_step"] <= 1.0
  np.testing.assert_allclose(roof["flops_share_of_step"], roof["flops"] / r["flops_xla_unrolled"])
  np.testing.assert_allclose(roof["rate_alone_gflops"], roof["flops"] / roof["seconds_alone"] / 1e9)
  np.testing.assert_allclose(roof["rate_alone_vs_matmul"],
                             roof["rate_alone_gflops"] * 1e9 / matmul_rate)
  assert sum(row["count"] for row in roof["slowest"]) <= roof["products"]
  prof = r["op_profile"]
  assert prof["steps"] == 2 and prof["op_seconds_per_step"] > 0
  assert 0.5 < sum(prof["share_by_kind"].values()) <= 1 + 1e-9
  assert all(not k[-1].isdigit() for k in prof["share_by_kind"])  # Numbers stripped.
  assert "while" not in prof["share_by_kind"]  # Its body's operations count instead.
  remat = r["remat"]
  np.testing.assert_allclose(remat["memory_ratio"], remat["plain"]["peak_memory_bytes"]
                             / remat["remat"]["peak_memory_bytes"])
  np.testing.assert_allclose(remat["time_ratio"], remat["remat"]["step_s_median"]
                             / remat["plain"]["step_s_median"])


def test_the_benchmark_counts_every_matrix_product_of_a_program():
  """`costs.jaxpr_dots` (the benchmark's product count) against a hand
  count: a scan body counts `length` times,
  an inner jit once per call, and both sides of a gradient are seen."""
  import jax
  import jax.numpy as jnp
  from ebmm_jax.reporting import costs
  w = jnp.ones((5, 3))

  @jax.jit
  def inner(x):
    return jnp.tanh(x @ w)  # [4, 5] @ [5, 3].

  def f(x):
    y, _ = jax.lax.scan(lambda c, _: (c + inner(x).sum(), None), 0., None, length=7)
    return y + inner(x).sum()

  dots = costs.jaxpr_dots(jax.make_jaxpr(f)(jnp.ones((4, 5))))
  assert sum(dots.values()) == 8 and len(dots) == 1
  (lhs, rhs, dims), = dots
  assert (lhs, rhs) == ((4, 5), (5, 3))
  assert costs.dot_flops(lhs, dims, 4 * 3) == 2 * 4 * 3 * 5
  # The gradient w.r.t. x adds one product to the forward one: [4, 3] @ [3, 5].
  grad = jax.grad(lambda x: inner(x).sum())
  grad_dots = costs.jaxpr_dots(jax.make_jaxpr(grad)(jnp.ones((4, 5))))
  assert sorted(grad_dots.values()) == [1, 1]
  assert {(l, r) for l, r, _ in grad_dots} == {((4, 5), (5, 3)), ((4, 3), (5, 3))}


def test_checkpoint_curve_scores_every_kept_checkpoint(tmp_path):
  """experiments.checkpoint_curve: one row per checkpoint, each the evaluation
  of that checkpoint's parameters on the same batches."""
  from ebmm_jax.reporting import evaluation  # pylint: disable=g-import-not-at-top
  workdir = tmp_path / "run"
  config = helpers.tiny_config(**{"train.num_steps": 3, "train.log_every": 1,
                                  "train.checkpoint_every_secs": 0.0})
  training.train(config, str(workdir), parallel.make_mesh(jax.devices()[:1]))
  out = tmp_path / "curve.json"
  _run(["-m", "experiments.checkpoint_curve", f"--workdir={workdir}", "--num_batches=3",
        f"--output={out}", f"--figure={tmp_path / 'c.png'}"])
  rows = json.load(open(out))["checkpoints"]
  assert [r["step"] for r in rows] == [1, 2, 3]
  exp = setups.build(config)
  path = dict(checkpoint.list_checkpoints(training.checkpoint_dir(str(workdir))))[2]
  state = checkpoint.load(path, training.initial_state(exp))
  ref = evaluation.evaluate(exp, state.meta_params, 4, 3, config.eval.batches_per_call, 12345)
  np.testing.assert_allclose(rows[1]["mean"], ref["summary"]["mean"], rtol=1e-6)
  assert os.path.getsize(tmp_path / "c.png") > 5_000


def test_plot_training_draws_against_cpu_hours(tmp_path):
  workdir = tmp_path / "legs"
  os.makedirs(workdir)
  cpu = [360.0, 720.0, 3600.0]  # Two legs: the CPU seconds go on across the resume.
  with open(workdir / "metrics.jsonl", "w") as f:
    f.write(json.dumps(dict(step=1, score=[20.0], query_score=32.0)) + "\n")  # Older row.
    for step, c in zip((5, 10, 15), cpu):
      f.write(json.dumps(dict(step=step, score=[10.0 + step], query_score=32.0,
                              train_cpu_seconds=c)) + "\n")
  lines_path = tmp_path / "lines.json"
  _run(["-c", _PLOT_DRIVER, f"--workdir={workdir}", "--x=cpu_hours", "--smooth=1",
        f"--output={tmp_path / 'c.png'}"], env_extra={"PLOT_LINES": str(lines_path)})
  solid = json.loads(lines_path.read_text())[0]
  np.testing.assert_allclose(solid["x"], [0.1, 0.2, 1.0])
  np.testing.assert_allclose(solid["y"], [15.0, 20.0, 25.0])


_INTERLEAVED_DRIVER = """
import json, sys
from absl import flags
from ebmm_jax.experiments import benchmark
from tests import helpers
flags.FLAGS(["benchmark"])
benchmark._config = lambda name: helpers.tiny_config(**dict(
    [("data.num_patterns", 6)] + ([("data.num_patterns_per_memory", "uniform")]
                                  if name == "masked" else [])))
print(json.dumps(benchmark.interleaved(["plain", "masked"], 3)))
"""


def test_interleaved_rounds_time_a_masked_step_beside_a_plain_one():
  out = json.loads(_run(["-c", _INTERLEAVED_DRIVER]).strip().splitlines()[-1])
  assert out["configs"] == ["plain", "masked"] and out["rounds"] == 3
  assert out["ratio_to_first_median"][0] == 1.0 and out["ratio_to_first_median"][1] > 0
  assert all(t > 0 for t in out["step_s_median"])
  low, high = out["ratio_to_first_quartiles"][1]
  assert low <= out["ratio_to_first_median"][1] <= high


# --- The shared flags (experiments/run_flags.py) ---------------------------------

# Each launcher and the shared flags its --help must list.
LAUNCHER_SHARED_FLAGS = {
    "train": ["config", "workdir"],
    "evaluate": ["workdir", "num_batches", "seed", "output"],
    "evaluate_images": ["workdir", "config", "data_dir", "num_batches", "seed", "output",
                        "split"],
    "forgetting": ["workdir", "num_batches", "seed", "output", "split", "data_dir"],
    "sweep": ["config", "root", "output_dir", "data_dir", "train_seconds", "train_steps",
              "num_batches", "seed"],
    "correlated": ["config", "root", "output_dir", "train_seconds", "num_batches", "seed"],
    "noise_generalisation": ["config", "workdir", "root", "output_dir", "data_dir",
                             "train_seconds", "num_batches", "seed"],
    "table2": ["root", "output_dir", "data_dir", "train_seconds", "num_batches", "seed"],
    "benchmark": ["output", "data_dir"],
    "energy_benchmark": ["output"],
    "checkpoint_curve": ["workdir", "num_batches", "seed", "output"],
    "energy_analysis": ["workdir", "num_batches", "data_dir", "seed", "split", "output_dir"],
    "plot_training": ["workdir", "output"],
    "distortion_rate": ["output"],
    "recipe_study": ["study", "workdir", "data_dir"],
    "check_data": ["data_dir"],
}


# --- Forgetting curves of an image stream (experiments.forgetting) ------------

@pytest.mark.slow
def test_image_forgetting_launcher_scores_the_stream_ring_and_controls(tmp_path, data_dir):
  """An Omniglot stream of 4 = 2 + 2 images (an untrained stream model saved at
  step 0): the EBMM curve equals the stream evaluator's on the same batches;
  the query and erase controls equal their literal scores; the modern
  Hopfield ring holds what the model's memory holds (2 rows of 257 floats in
  550) and scores like a literal softmax over the newest two images; the
  Hopfield rules are listed as not run."""
  config = specs.load(SPEC, [f"data.data_dir={data_dir}", *STEPS,
                             "memory.stream_chunks=2,2"], ["uniform", "mem=600"])
  workdir = tmp_path / "stream"
  os.makedirs(workdir)
  with open(workdir / "config.json", "w") as f:
    f.write(config.to_json_best_effort(indent=2))
  exp = setups.build(config)
  state = training.initial_state(exp)
  checkpoint.save(training.checkpoint_dir(str(workdir)), 0, state)
  assert exp.model.memory_floats == 550
  out_json = tmp_path / "forgetting.json"
  _run(["-m", "experiments.forgetting", f"--workdir={workdir}", "--split=test",
        "--num_batches=2", "--seed=3", "--beta_batches=2", f"--json={out_json}",
        f"--figure={tmp_path / 'forgetting.png'}"])
  result = json.loads(out_json.read_text())
  curves = result["curves"]
  assert result["chunks"] == [2, 2] and (tmp_path / "forgetting.png").stat().st_size > 0
  for rule in ("Hopfield Hebb", "Hopfield Storkey"):
    assert "32,896 floats, 60x the memory budget (550)" in result["not_incremental"][rule]

  test_exp = setups.build(image_table.with_split(config, "test"))
  batches = forgetting.stream_batches(test_exp, 4, 2, seed=3)
  ebmm = forgetting.stream_curve(test_exp, state.meta_params, batches)
  np.testing.assert_allclose(curves[f"EBMM ({workdir})"]["mean"], ebmm["mean"], rtol=1e-6)
  # The literal batches and keys of `evaluation.evaluate` (seed 3, one call).
  k_data, k_distort = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(3), 0))
  patterns = np.asarray(test_exp.sample_test(k_data, 2, 4))
  keys = jax.random.split(k_distort, 2)
  queries = np.stack([np.asarray(test_exp.task.distort(k, p)[0]) for k, p in zip(keys, patterns)])
  erased = np.stack([np.asarray(test_exp.task.erase(k, p)) for k, p in zip(keys, patterns)])
  by_chunk = lambda x: _hamming_per_image(x, patterns).reshape(2, 2, 2).mean(axis=(0, 2))
  np.testing.assert_allclose(curves["Query (no memory)"]["mean"], by_chunk(queries))
  np.testing.assert_allclose(
      curves["Erase the distortion, told where (control)"]["mean"], by_chunk(erased))
  ring = curves["Modern Hopfield"]
  assert ring["capacity"] == 2 and ring["memory_floats"] == 2 * 257
  rows = patterns[:, 2:].reshape(2, 2, -1).astype(np.float64)  # The newest 2 images.
  logits = ring["beta"] * np.einsum("bnd,bcd->bnc", queries.reshape(2, 4, -1), rows)
  weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
  weights /= weights.sum(axis=-1, keepdims=True)
  literal = np.einsum("bnc,bcd->bnd", weights, rows).reshape(patterns.shape)
  np.testing.assert_allclose(ring["mean"], by_chunk(literal), atol=0.26)  # One pixel.


def _hamming_per_image(x, patterns):
  """[B, N] Hamming errors of images [B, N, H, W, C]."""
  return np.sum((np.asarray(x) > 0.5) != (patterns > 0.5), axis=(2, 3, 4)).astype(np.float64)


@pytest.mark.parametrize("launcher", sorted(LAUNCHER_SHARED_FLAGS))
def test_every_launcher_lists_its_shared_flags_in_help(launcher):
  proc = subprocess.run([sys.executable, "-m", f"ebmm_jax.experiments.{launcher}", "--help"],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  listed = proc.stdout[proc.stdout.index("\nflags:"):]
  for flag in LAUNCHER_SHARED_FLAGS[launcher] + ["verbose"]:
    assert f"--{flag}:" in listed or f"--[no]{flag}:" in listed, (launcher, flag)


def test_a_config_flag_loads_an_installed_name_with_overrides_and_no_arguments(tmp_path):
  """--config takes FILE or an installed name with variants (`specs.load`),
  then typed --config.section.field=value overrides; any launcher refuses
  positional arguments."""
  driver = (
      "import sys\n"
      "from ebmm_jax.experiments import cli, run_flags\n"
      "CONFIG = run_flags.config('A config.')\n"
      "def main(argv):\n"
      "  c = CONFIG.value\n"
      "  print('LOADED', c.data.num_patterns, c.train.num_steps, c.is_locked)\n"
      "cli.run(main)\n")
  run = lambda *args: subprocess.run([sys.executable, "-c", driver, *args], cwd=tmp_path,
                                     capture_output=True, text=True, timeout=120)
  proc = run("--config=binary:runlocal,n=8", "--config.train.num_steps=7")
  assert "LOADED 8 7 True" in proc.stdout, proc.stderr[-2000:]
  proc = run("--config=binary:runlocal", "--config.train.num_steps", "9")
  assert "LOADED 16 9 True" in proc.stdout, proc.stderr[-2000:]
  proc = run("--config=binary:runlocal", "stray")
  assert proc.returncode != 0 and "Unexpected arguments: ['stray']" in proc.stderr


def test_a_launcher_logs_its_progress_not_jaxs_backend_search(tmp_path):
  driver = (
      "import jax\n"
      "from absl import logging\n"
      "from ebmm_jax.experiments import cli\n"
      "def main(argv):\n"
      "  jax.devices()  # JAX looks for its backends here, and says so at INFO.\n"
      "  logging.info('PROGRESS step 1')\n"
      "cli.run(main)\n")
  run = lambda *args: subprocess.run([sys.executable, "-c", driver, "--logtostderr", *args],
                                     cwd=tmp_path, capture_output=True, text=True, timeout=120)
  quiet, verbose = run(), run("--verbose")
  assert quiet.returncode == 0 and verbose.returncode == 0, quiet.stderr[-2000:]
  assert "PROGRESS step 1" in quiet.stderr and "PROGRESS step 1" in verbose.stderr
  assert "xla_bridge" not in quiet.stderr
  assert "xla_bridge" in verbose.stderr  # What the quiet run left out.
