"""The analyses of issue 7: ROC AUC, energy populations, the sweep launchers.

Binary-strings pieces use the tiny config of `tests/helpers.py`; the image
launchers run on a tiny Omniglot model (runlocal, one write and one read
step) whose checkpoint is its initialisation, so only evaluation compiles.
"""
import csv
import json
import os
import subprocess
import sys

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ebmm_jax.setups import specs
from ebmm_jax.reporting import analysis
from ebmm_jax.training import checkpoint
from ebmm_jax import setups
from ebmm_jax.setups import images as image_setups
from ebmm_jax.core import memory as memory_lib
from ebmm_jax.core import meta
from ebmm_jax.core import tasks
from ebmm_jax.reporting import runs
from ebmm_jax import training
from tests import helpers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(args, timeout=300):
  """Runs a launcher on one CPU device (meta-batches of 1 memory)."""
  env = dict(os.environ)
  env["XLA_FLAGS"] = " ".join(
      f for f in env.get("XLA_FLAGS", "").split()
      if not f.startswith("--xla_force_host_platform_device_count"))
  proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout


def _brute_force_auc(lower, higher):
  diff = np.asarray(higher)[None, :] - np.asarray(lower)[:, None]
  return np.mean((diff > 0) + 0.5 * (diff == 0))


def test_roc_auc_matches_pairwise_definition_with_ties():
  rng = np.random.default_rng(0)
  lower = rng.integers(0, 6, size=37).astype(float)  # Many ties.
  higher = rng.integers(2, 9, size=23).astype(float)
  assert analysis.roc_auc(lower, higher) == pytest.approx(
      _brute_force_auc(lower, higher), abs=1e-12)
  assert analysis.roc_auc([0.0, 1.0], [2.0, 3.0]) == 1.0
  assert analysis.roc_auc([2.0, 3.0], [0.0, 1.0]) == 0.0
  assert analysis.roc_auc([1.0, 1.0], [1.0]) == 0.5
  with pytest.raises(ValueError, match="non-empty"):
    analysis.roc_auc([], [1.0])
  with pytest.raises(ValueError, match="non-finite"):
    analysis.roc_auc([np.nan], [1.0])


def test_energy_populations_are_the_written_memorys_energies():
  exp = helpers.tiny_experiment()
  meta_params = exp.model.init(jax.random.PRNGKey(0))
  pops = analysis.energy_populations(exp, meta_params, num_batches=3, seed=7)
  assert set(pops) == {"stored", "non_stored", "distorted_stored"}
  n = exp.config.data.num_patterns
  assert all(v.shape == (3, n) for v in pops.values())
  # Recompute batch 1 by hand: same keys, same write, same energies.
  k_data, _, k_distort = jax.random.split(
      jax.random.fold_in(jax.random.PRNGKey(7), 1), 3)
  both = exp.sample_test(k_data, 1, 2 * n)[0]
  written, _ = memory_lib.write(exp.model.network.apply, meta_params.static,
                                meta_params.write, both[:n])
  params = hk.data_structures.merge(meta_params.static, written)
  np.testing.assert_allclose(pops["stored"][1], exp.model.network.apply(params, both[:n]),
                             rtol=1e-5)
  np.testing.assert_allclose(pops["non_stored"][1], exp.model.network.apply(params, both[n:]),
                             rtol=1e-5)
  distorted, _ = exp.task.distort(k_distort, both[:n])
  np.testing.assert_allclose(pops["distorted_stored"][1],
                             exp.model.network.apply(params, distorted), rtol=1e-5)
  aucs = analysis.energy_aucs(pops)
  assert set(aucs) == {"non_stored", "distorted_stored"}
  assert 0.0 <= aucs["non_stored"]["pooled"] <= 1.0


def test_out_of_distribution_images_are_binarized_and_resized():
  rng = np.random.default_rng(0)
  rgb = rng.uniform(size=(10, 32, 32, 3)).astype(np.float32)
  rgb[0] = 1.0  # A white image stays all ones; a black one all zeros.
  rgb[1] = 0.0
  sample = analysis.out_of_distribution_sampler(rgb, (16, 16, 1), binarize=True)
  x = np.asarray(sample(jax.random.PRNGKey(0), 2, 30))
  assert x.shape == (2, 30, 16, 16, 1)
  assert set(np.unique(x)) <= {0.0, 1.0}
  pool = np.asarray(analysis.out_of_distribution_sampler(rgb[:2], (16, 16, 1), True)(
      jax.random.PRNGKey(1), 1, 8))
  assert {float(p.mean()) for p in pool[0]} <= {0.0, 1.0}
  with pytest.raises(ValueError, match="memory's"):
    analysis.out_of_distribution_sampler(rgb, (16, 16, 3), binarize=True)


def test_config_from_spec_variants_and_overrides():
  c = specs.load("configs/omniglot_conv.py:cpu",
                            ["data.data_dir=/x", "train.max_seconds=5"], ["mem=8k"])
  assert (c.energy.channels, image_setups.resolved(c).energy.dynamic_size) == (16, 14)
  assert c.data.data_dir == "/x" and c.train.max_seconds == 5.0
  with pytest.raises(ValueError, match="no field 'data.nope'"):
    specs.load("configs/binary.py", ["data.nope=1"])
  with pytest.raises(ValueError, match="section.field=value"):
    specs.load("configs/binary.py", ["data.num_patterns"])
  with pytest.raises(FileNotFoundError, match="missing.py"):
    specs.load("configs/missing.py")
  with pytest.raises(ValueError, match="block side"):
    analysis.with_distortion(c, "block", 2.5)
  with pytest.raises(ValueError, match="Unknown distortion"):
    analysis.with_distortion(c, "blur", 1)


def test_train_or_load_refuses_an_empty_workdir(tmp_path):
  with pytest.raises(FileNotFoundError, match="no checkpoints"):
    runs.train_or_load(helpers.tiny_config(), str(tmp_path))


def test_sweep_launcher_trains_each_size_and_writes_csv_and_png(tmp_path):
  sets = [f"--config.{k}={v}" for k, v in helpers.TINY.items()
          if k != "energy.dynamic_size"]
  out = _run(["experiments.sweep", "--config=configs/binary.py:runlocal",
              "--dynamic_sizes=2,5", "--train_steps=3", "--num_batches=4",
              f"--root={tmp_path}", *sets])
  with open(tmp_path / "distortion_rate.csv") as f:
    rows = list(csv.DictReader(f))
  # Linear(16 -> d) is the memory: (16 + 1) d floats.
  assert [int(r["memory_floats"]) for r in rows] == [17 * 2, 17 * 5]
  assert [int(r["steps"]) for r in rows] == [3, 3]
  assert all(float(r["p5"]) <= float(r["mean"]) <= float(r["p95"]) for r in rows)
  assert (tmp_path / "distortion_rate.png").stat().st_size > 1000
  assert "| d=5 | 85 |" in out
  # Loading only (no budget) gives the trained point back, at its step.
  config = specs.load("configs/binary.py:runlocal",
                                 [s[len("--config."):] for s in sets] +
                                 ["energy.dynamic_size=2"])
  meta_params, step = runs.train_or_load(config, str(tmp_path / "d_2"))
  assert step == 3
  assert runs.training_seconds(str(tmp_path / "d_2")) > 0
  # The sweep's evaluation was cached in the workdir, keyed by step.
  cached = list((tmp_path / "d_2" / "evaluations").glob("step3_n4_b4_*.json"))
  assert len(cached) == 1
  point = runs.Point("d=2", config, str(tmp_path / "d_2"))
  row = runs.evaluate_cached(point, meta_params, step, 4, 4, 12345)
  assert row["mean"] == pytest.approx(float(rows[0]["mean"]))
  untrained = training.initial_state(setups.build(config)).meta_params
  assert not np.allclose(meta_params.read.step_sizes, untrained.read.step_sizes)


@pytest.fixture(scope="module")
def tiny_omniglot_workdir(tmp_path_factory, data_dir):
  """A runlocal Omniglot workdir holding its initial state as a checkpoint."""
  config = specs.load(
      "configs/omniglot_conv.py:runlocal",
      [f"data.data_dir={data_dir}", "memory.write_steps=1", "memory.read_steps=1"])
  workdir = tmp_path_factory.mktemp("omniglot")
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort(indent=2))
  state = training.initial_state(setups.build(config))
  checkpoint.save(training.checkpoint_dir(str(workdir)), 0, state)
  return workdir


def test_energy_analysis_launcher_with_binarized_cifar(tiny_omniglot_workdir, data_dir):
  out = _run(["experiments.energy_analysis", f"--workdir={tiny_omniglot_workdir}",
              "--num_batches=3", f"--data_dir={data_dir}", "--split=test"])
  with open(tiny_omniglot_workdir / "energy_analysis.json") as f:
    result = json.load(f)
  assert set(result["roc_auc_vs_stored"]) == {
      "non_stored", "distorted_stored", "out_of_distribution"}
  # The model's meta-steps and training time (none logged: a saved initial state).
  assert result["step"] == 0 and result["training"] == {"steps": 0, "seconds": None}
  assert result["split"] == "test"
  assert (tiny_omniglot_workdir / "energy_histograms.png").stat().st_size > 1000
  assert "out_of_distribution" in out


def test_noise_generalisation_launcher_table(tiny_omniglot_workdir):
  out = _run(["experiments.noise_generalisation", f"--workdir={tiny_omniglot_workdir}",
              "--levels=4,8", "--num_batches=2"])
  with open(tiny_omniglot_workdir / "noise_generalisation.csv") as f:
    rows = list(csv.DictReader(f))
  assert [float(r["level"]) for r in rows] == [4.0, 8.0]
  assert all(float(r["trained_level"]) == 8.0 for r in rows)  # runlocal: 8x8.
  # A bigger block leaves the query further from the original.
  assert float(rows[0]["query_mean"]) < float(rows[1]["query_mean"])
  assert "| trained at 8 |" in out
  assert (tiny_omniglot_workdir / "noise_generalisation.png").stat().st_size > 1000
  # One cached evaluation per level, keyed by the distortion: a rerun reads them.
  cached = list((tiny_omniglot_workdir / "evaluations").glob("step*_b2_*.json"))
  assert len(cached) == 2
  again = _run(["experiments.noise_generalisation", f"--workdir={tiny_omniglot_workdir}",
                "--levels=4,8", "--num_batches=2"])
  assert again == out


def test_write_kernel_identification_of_a_linear_energy_is_pixel_cosine_matching():
  """E(x) = w·x with w writable: ∇wE(x) = x, so the write kernel is the cosine
  between query and stored pattern, and its identification is nearest-cosine
  matching in pattern space (computed here directly)."""
  n, dim = 8, 32
  energy = hk.without_apply_rng(hk.transform(
      lambda x: hk.Linear(1, with_bias=False, name="memory")(x)[:, 0]))
  task = tasks.binary_strings_task(dim)

  def sample(key, m, k):
    return jnp.sign(jax.random.normal(key, (m, k, dim)))

  config = helpers.tiny_config(**{"data.num_patterns": n})
  exp = setups.Experiment(config=config, model=setups.ebmm.build(config, task, energy),
                          task=task, sample_train=sample, sample_test=sample)
  mp = meta.init_meta_params(jax.random.PRNGKey(0), energy, (dim,))
  got = analysis.write_kernel_identification(exp, mp, num_batches=6, seed=3)
  hits, base = [], jax.random.PRNGKey(3)
  for b in range(6):
    k_data, k_distort = jax.random.split(jax.random.fold_in(base, b))
    stored = np.asarray(sample(k_data, 1, n)[0])
    queries = np.asarray(task.distort(k_distort, jnp.asarray(stored))[0])
    cos = (queries @ stored.T) / np.outer(np.linalg.norm(queries, axis=1),
                                          np.linalg.norm(stored, axis=1))
    hits.append(np.mean(cos.argmax(1) == np.arange(n)))
  assert got["identification"] == pytest.approx(np.mean(hits), abs=1e-9)
  assert 1 / n < got["identification"] < 1  # Half the bits kept: mostly, not always, found.
  assert got["cos_own"] > got["cos_other"]


def test_sweep_compares_memory_baselines_at_the_same_memory_budgets(tmp_path):
  """--compare: each baseline gets the same `mem=K` budgets (in its `model`
  section; EBMM's in `energy`), in its own folder, and builds at that size."""
  (name, config), = runs.compared_configs(["memnet_images:runlocal"], "/data")
  assert name == "memnet_images" and config.data.data_dir == "/data"
  points = runs.sweep_points(config, ["256", "1k"], [], str(tmp_path / name))
  assert [p.config.model.memory_budget for p in points] == [256, 1024]
  assert [p.workdir for p in points] == [str(tmp_path / name / "mem_256"),
                                         str(tmp_path / name / "mem_1k")]
  floats = [setups.build(p.config).model.memory_floats for p in points]
  assert abs(floats[0] - 256) < abs(floats[1] - 256) and abs(floats[1] - 1024) < 200
  ebmm = runs.sweep_points(specs.load("omniglot_conv:runlocal"), ["1k"], [], str(tmp_path))
  assert ebmm[0].config.energy.memory_budget == 1024


def test_distortion_name_says_which_noise_a_plot_shows():
  image = specs.load("omniglot_conv:runlocal")
  assert analysis.distortion_name(image.data) == f"{image.data.block_size}x{image.data.block_size} block"
  salt = specs.load("kanerva:runlocal")
  assert salt.data.distortion == "salt_and_pepper"
  assert analysis.distortion_name(salt.data) == "15% salt-and-pepper"
  assert analysis.distortion_name(specs.load("binary:runlocal").data)  # Some words.


def test_compare_flag_keeps_each_configs_variants_with_it():
  """--compare is comma-split like every list flag, so a config's variants
  arrive as separate items; they join the config before them."""
  items = ["memnet_images:cpu", "n=4", "data=cifar10", "mann_images", "n=4",
           "configs/kanerva.py:cpu"]
  assert specs.group_specs(items) == ["memnet_images:cpu,n=4,data=cifar10",
                                      "mann_images:n=4", "configs/kanerva.py:cpu"]
  (_, a), (_, b) = runs.compared_configs(["memnet_images:runlocal", "n=8",
                                          "mann_images:runlocal"], "")
  assert a.data.num_patterns == 8 and b.data.num_patterns == 4
  with pytest.raises(ValueError, match="'n=4' is not a config"):
    specs.group_specs(["n=4", "memnet_images:cpu"])


def test_energy_histogram_title_stays_inside_the_figure(tmp_path, monkeypatch):
  """A long title (the out-of-distribution set's name) is wrapped, not cut
  off at the figure's right edge."""
  from ebmm_jax.reporting import plotting
  saved = {}
  save = plotting._save
  monkeypatch.setattr(plotting, "_save", lambda fig, path: (saved.update(fig=fig),
                                                            save(fig, path))[1])
  title = ("omniglot, resnet_conv, step 1696, 50 memories of N = 64; out of "
           "distribution: cifar10 binarized at 0.5 (channel mean)")
  rng = np.random.default_rng(0)
  plotting.energy_histograms(str(tmp_path / "h.png"), {"stored": rng.normal(size=50),
                                                       "non_stored": rng.normal(size=50)},
                             title=title)
  fig = saved["fig"]
  renderer = fig.canvas.get_renderer()
  box = fig.axes[0].title.get_window_extent(renderer)
  assert box.x0 >= 0 and box.x1 <= fig.bbox.width
  assert fig.axes[0].get_title().replace("\n", " ") == title


def test_training_level_and_the_sweep_table():
  with pytest.raises(ValueError, match="cannot be placed on a block axis"):
    analysis.training_level(analysis.with_distortion(
        specs.load("omniglot_conv:runlocal"), "salt_and_pepper", 0.2), "block")
  image = specs.load("omniglot_conv:runlocal")
  assert analysis.training_level(analysis.with_distortion(image, "block", 6), "block") == 6
  assert analysis.training_level(
      analysis.with_distortion(image, "salt_and_pepper", 0.1), "salt_and_pepper") == 0.1
  row = dict(model="EBMM (rnn)", label="d=2", memory_floats=34, num_patterns=4,
             mean=1.5, p5=0.5, p95=2.5, query_mean=3.25, steps=3, train_seconds=7.4)
  table = runs.sweep_markdown([row], "Hamming error")
  assert "Hamming error x(K) [p5, p95]" in table.splitlines()[0]
  assert "| EBMM (rnn) | d=2 | 34 | 4 |" in table and "| 3.25 | 3 | 7 |" in table


def test_table3_points_and_table():
  from ebmm_jax.reporting import table3  # pylint: disable=g-import-not-at-top
  config = specs.load("omniglot_correlated:runlocal")
  points = table3.points(config, ["4k", "5k"], "/runs")
  assert [p.workdir for p in points] == ["/runs/uniform_mem_4k", "/runs/uniform_mem_5k",
                                         "/runs/2class_mem_4k", "/runs/2class_mem_5k"]
  assert [p.config.data.batch_classes for p in points] == [0, 0, 2, 2]
  assert points[1].config.energy.memory_budget == 5 * 1024
  with pytest.raises(ValueError, match="needs 2"):
    table3.points(points[0].config, ["4k"], "/runs")
  rows = [dict(mean=float(i), p5=0.0, p95=9.0, memory_floats=4000, query_mean=20.0)
          for i in range(4)]
  text = table3.table(rows, ["4k", "5k"])
  assert "| uniform | 0.00" in text and "| 2 classes | 2.00" in text
  assert "6.22" in text and "2.57" in text  # The paper's 2-class row.
