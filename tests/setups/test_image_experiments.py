"""Image experiments on real data: configs, samplers, one meta-step per energy
model (Appendix C.2-C.5), evaluation and the retrieval figure.

Uses the `runlocal` configs with the data of EBMM_DATA_DIR. Compiling a
meta-step (third-order derivatives through a ResNet) dominates the time, so
each model is compiled once, with one write and one read step (the scans over
T and K are covered by the core tests).
"""
import importlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from ebmm_jax.configs import image_base
from ebmm_jax.reporting import evaluation
from ebmm_jax.reporting import image_table
from ebmm_jax import setups
from ebmm_jax.setups import images as image_setups
from ebmm_jax.setups import specs
from ebmm_jax.training import parallel
from ebmm_jax.reporting import plotting
from ebmm_jax import training

# One config per energy model, covering binary and RGB data, both fills and
# correlated batches.
ENERGY_CONFIGS = {
    "resnet_fc": "omniglot_fc",
    "resnet_conv": "cifar10",
    "resnet_imagenet": "imagenet64",
    "resnet_lowlevel_conv": "omniglot_correlated",
}


def _config(name, data_dir, variants="runlocal", **overrides):
  c = importlib.import_module(f"ebmm_jax.configs.{name}").get_config(variants)
  c.unlock()
  c.data.data_dir = str(data_dir)
  c.memory.write_steps = 1
  c.memory.read_steps = 1
  for key, value in overrides.items():
    section, field = key.split(".")
    c[section][field] = value
  c.lock()
  return c


def _flat(tree):
  return np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(
      jax.device_get(tree))])


@pytest.fixture(scope="module")
def built(data_dir):
  """config name -> (experiment, initial TrainState), each built once."""
  cache = {}

  def get(name):
    if name not in cache:
      exp = setups.build(_config(name, data_dir))
      cache[name] = (exp, training.initial_state(exp))
    return cache[name]
  return get


@pytest.mark.parametrize("energy_name", sorted(ENERGY_CONFIGS))
def test_one_real_meta_step_per_energy_model(energy_name, built):
  exp, init = built(ENERGY_CONFIGS[energy_name])
  assert exp.config.energy.name == energy_name
  mesh = parallel.make_mesh(jax.devices()[:1])
  before = _flat(init.meta_params)
  # A copy: the step donates its input, and `init` is shared with other tests.
  state = jax.device_put(jax.tree_util.tree_map(jnp.copy, init),
                         parallel.replicated(mesh))
  patterns = training.make_sampler(exp, mesh)(jax.random.PRNGKey(1))
  assert patterns.shape == (1, 4) + exp.task.pattern_shape
  state, metrics = training.make_train_step(exp, mesh)(
      state, patterns, jax.random.PRNGKey(2))
  assert bool(metrics["finite"]) and np.isfinite(float(metrics["meta_loss"]))
  assert float(metrics["meta_loss"]) > 0
  assert int(state.step) == 1
  after = _flat(state.meta_params)
  assert np.all(np.isfinite(after)) and not np.allclose(before, after)
  # The queries were distorted (a block of noise differs from the image).
  assert float(metrics["query_score"]) > 0


def test_samplers_give_batches_of_the_split(data_dir):
  exp = setups.build(_config("omniglot_conv", data_dir))
  batch = exp.sample_train(jax.random.PRNGKey(0), 3, 4)
  assert batch.shape == (3, 4, 16, 16, 1) and batch.dtype == jnp.float32
  assert set(np.unique(np.asarray(batch)).tolist()) <= {0.0, 1.0}
  images, indices = exp.sample_test.sample_with_indices(jax.random.PRNGKey(0), 2, 4)
  indices = np.asarray(indices)
  assert images.shape == (2, 4, 16, 16, 1)
  assert all(len(set(row)) == 4 for row in indices)  # Distinct images.
  np.testing.assert_array_equal(np.asarray(exp.sample_test.images)[indices],
                                np.asarray(images))
  # Train and test are the paper's disjoint alphabet split (not the same data).
  assert exp.sample_train.images.shape[0] != exp.sample_test.images.shape[0]
  # The same key gives the same batch (runs are reproducible and resumable).
  np.testing.assert_array_equal(
      np.asarray(exp.sample_train(jax.random.PRNGKey(0), 3, 4)), np.asarray(batch))


def test_correlated_batches_have_exactly_two_classes(data_dir):
  # Paper size (A.7): 32 images of exactly 2 characters, 16 of each.
  c = _config("omniglot_correlated", data_dir, "runlocal",
              **{"data.num_patterns": 32})
  sampler = setups.build(c).sample_test
  images, indices = sampler.sample_with_indices(jax.random.PRNGKey(3), 5, 32)
  assert images.shape == (5, 32, 16, 16, 1)
  for row in np.asarray(indices):
    labels, counts = np.unique(sampler.labels[row], return_counts=True)
    assert len(labels) == 2 and counts.tolist() == [16, 16]
    assert len(set(row)) == 32
  # The uncorrelated variant of Table 3 mixes many characters.
  uniform = setups.build(_config("omniglot_correlated", data_dir,
                                     "runlocal,uniform",
                                     **{"data.num_patterns": 32})).sample_test
  _, indices = uniform.sample_with_indices(jax.random.PRNGKey(3), 1, 32)
  assert len(np.unique(uniform.labels[np.asarray(indices)[0]])) > 2


def test_rgb_images_are_in_the_unit_box(data_dir):
  exp = setups.build(_config("imagenet64", data_dir))
  batch = np.asarray(exp.sample_test(jax.random.PRNGKey(0), 2, 4))
  assert batch.shape == (2, 4, 16, 16, 3)
  assert batch.min() >= 0.0 and batch.max() <= 1.0 and batch.std() > 0.05
  queries, known = exp.task.distort(jax.random.PRNGKey(1), jnp.asarray(batch[0]))
  assert known is None  # The model is not told where the block is.
  changed = np.any(np.asarray(queries) != batch[0], axis=-1)  # [N, H, W]
  # At most the 8x8 block changed, all of it inside the image.
  assert 0 < changed.sum(axis=(1, 2)).max() <= 64
  assert exp.task.score_name == "squared error"


@pytest.mark.parametrize("overrides, field", [
    ({"data.block_size": 17}, "data.block_size"),
    ({"energy.name": "resnet_big"}, "energy.name"),
    ({"data.name": "svhn"}, "data.name"),
    ({"data.data_dir": ""}, "data.data_dir"),
    ({"data.noise_rate": 1.5, "data.distortion": "salt_and_pepper"},
     "data.noise_rate"),
    ({"data.distortion": "blur"}, "data.distortion"),
    ({"data.fill": "gaussian"}, "data.fill"),
    ({"data.batch_classes": 5}, "data.batch_classes"),
    ({"energy.dynamic_size": 0}, "energy.dynamic_size"),
    ({"energy.dynamic_size": 17}, "dynamic_size must be an integer in"),
    ({"data.image_size": 20}, "multiples of 8"),
])
def test_invalid_configs_name_the_problem(overrides, field, tmp_path):
  c = _config("omniglot_conv", tmp_path, **overrides)
  with pytest.raises(ValueError, match=field.replace(".", r"\.")):
    setups.build(c)


def test_empty_data_dir_is_the_config_default():
  c = importlib.import_module("ebmm_jax.configs.omniglot_conv").get_config()
  assert c.data.data_dir == ""
  with pytest.raises(ValueError, match=r"data\.data_dir is empty.*--config\.data"
                     r"\.data_dir"):
    setups.build(c)


def test_memory_budget_variant_picks_the_closest_size():
  c = importlib.import_module("ebmm_jax.configs.omniglot_conv").get_config("mem=4k")
  assert image_setups.resolved(c).energy.dynamic_size == 4  # 4,616 floats is nearer 4,096 than 3,462.
  c = importlib.import_module("ebmm_jax.configs.omniglot_correlated").get_config("mem=5k")
  assert image_setups.memory_floats(c) == 5196  # d = 6.
  # The cpu variants' sizes of the figures they stand in for (their docstrings).
  c = importlib.import_module("ebmm_jax.configs.cifar10").get_config("cpu,mem=10k")
  assert image_setups.memory_floats(c) == 10404  # Figure 4: 10K; d = 18.
  c = importlib.import_module("ebmm_jax.configs.imagenet64").get_config("cpu,mem=18k")
  assert image_setups.memory_floats(c) == 18464  # Figure 5b: ~18K; d = 16.
  assert c.energy.channels == 32  # Half the C.4 width.
  with pytest.raises(ValueError, match="mem="):
    image_base.parse_memory_budget("lots")
  with pytest.raises(ValueError, match="Unknown variant"):
    importlib.import_module("ebmm_jax.configs.cifar10").get_config("runlocal,fast")


def test_mnist_transfer_reads_binarized_test_digits(data_dir):
  c = _config("mnist_transfer", data_dir)
  exp = setups.build(c)
  assert c.energy.to_dict() == _config("omniglot_conv", data_dir).energy.to_dict()
  batch = np.asarray(exp.sample_test(jax.random.PRNGKey(0), 2, 4))
  assert batch.shape == (2, 4, 16, 16, 1)
  assert set(np.unique(batch).tolist()) == {0.0, 1.0}
  assert exp.task.score_name == "Hamming error"
  assert exp.sample_test.labels.max() == 9  # Digits 0-9 of MNIST's test split.


def test_evaluation_and_figure(built, tmp_path):
  # The C.3 model of the meta-step test (its initialisation is compiled once).
  exp, state = built("cifar10")
  out = evaluation.evaluate(exp, state.meta_params, num_patterns=4,
                            num_batches=2, batches_per_call=2)
  assert set(out) == {"final", "per_iterate", "query", "summary", "split"}
  assert out["split"] == "validation"  # The config's data.eval_split.
  assert out["final"].shape == (8,) and out["per_iterate"].shape == (1,)
  assert set(out["summary"]) == {"mean", "p5", "p95", "count", "batch_sem"}
  # Uniform noise over an 8x8 RGB block: E(u - x)^2 is between 1/12 and 1/3.
  assert 10 < out["query"]["mean"] < 80

  trace = image_setups.retrieval_trace(exp, state.meta_params,
                                            jax.random.PRNGKey(1))
  assert trace["iterates"].shape == (1, 4, 16, 16, 3)
  assert trace["iterate_energies"].shape == (1, 4)
  path = plotting.retrieval_figure(str(tmp_path / "fig" / "retrieval.png"),
                                   trace, num_examples=3, title="test")
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_transfer_config_keeps_the_trained_model(tmp_path):
  trained = _config("omniglot_conv", tmp_path, "runlocal,mem=300")
  trained = ml_collections.ConfigDict(trained.to_dict())  # As loaded.
  override = importlib.import_module("ebmm_jax.configs.mnist_transfer").get_config()
  c = image_table.evaluation_config(trained, override)
  assert c.data.name == "mnist"
  assert c.data.data_dir == str(tmp_path)  # Empty in --config: the workdir's.
  assert c.data.image_size == 16  # The model's input size, not the override's.
  assert c.energy.to_dict() == trained.energy.to_dict()
  assert c.data.num_patterns == 64  # The protocol's N comes from --config.
  c = image_table.evaluation_config(trained, None, data_dir="/elsewhere")
  assert c.data.name == "omniglot" and c.data.data_dir == "/elsewhere"


def test_paper_references_match_the_protocol(tmp_path):
  refs = image_table.paper_references
  correlated = importlib.import_module("ebmm_jax.configs.omniglot_correlated")
  assert "Table 3): 6.22 at 4K, 2.57 at 5K" in refs(correlated.get_config())
  assert "uniform (Table 3): 7.18" in refs(correlated.get_config("uniform"))
  conv = importlib.import_module("ebmm_jax.configs.omniglot_conv")
  assert refs(conv.get_config()) == "no memory (Table 2): DAE 36.08, VAE 109.08"
  assert refs(conv.get_config("runlocal")) == "-"  # 16x16 images: no reference.
  assert "DAE 141.07" in refs(importlib.import_module(
      "ebmm_jax.configs.imagenet64").get_config())
  assert refs(importlib.import_module("ebmm_jax.configs.mnist_transfer").get_config()) == "-"


def test_the_image_report_holds_the_table_note_and_record():
  import types  # pylint: disable=g-import-not-at-top
  from ebmm_jax.setups import specs  # pylint: disable=g-import-not-at-top
  config = image_table.with_split(specs.load("omniglot_conv:runlocal"), "test")
  exp = types.SimpleNamespace(
      config=config, model=types.SimpleNamespace(name="EBMM", memory_floats=300),
      task=types.SimpleNamespace(score_name="Hamming error"))
  summary = lambda m: dict(mean=m, p5=m / 2, p95=2 * m)
  out = dict(summary=summary(4.0), query=summary(20.0), split="test",
             per_iterate=np.array([8.0, 4.0]),
             controls=dict(erase=summary(10.0),
                           writing_off=dict(summary(16.0), per_iterate=[16.0, 16.0])))
  text, record = image_table.report(exp, "runs/x", 7, out, 4, 3, 12345, None, 2.0, "cpu")
  lines = text.splitlines()
  assert lines[2].startswith("| EBMM | omniglot | test |")
  assert "control: erase the distortion" in lines[3]
  assert "control: writing off (T = 0)" in lines[4] and len(lines) == 6
  assert "over every query of 3 random test batches (seed 12345)" in text
  assert "(a shipped or saved memory)" in text and "x(1..K): 8.00, 4.00" in text
  assert "Writing removes 75% of the unwritten model's error." in text
  assert record["writing_gain"] == pytest.approx(0.75) and record["train_seconds"] == 0.0
  assert record["per_iterate"] == [8.0, 4.0] and record["step"] == 7
  assert record["writing_off"]["summary"] == summary(16.0)
  text, record = image_table.report(exp, "runs/x", 7, dict(out, controls={}), 4, 3, 1,
                                    12.34, 2.0, "cpu")
  assert "12 s of training" in text and record["train_seconds"] == 12.3
  assert "controls" not in record and "Writing removes" not in text


def test_the_omniglot_stream_variant_writes_64_images_as_four_superposed_chunks(data_dir):
  config = specs.load("omniglot_conv:cpu,recipe,mem=8k,stream", [f"data.data_dir={data_dir}"])
  assert setups.ebmm.stream_chunks(config) == (16, 16, 16, 16)
  assert config.memory.stream_composition == "superposed" and config.data.curriculum == ""
  exp = setups.build(config)
  assert exp.model.write_stream is not None and exp.model.memory_floats == 8092
  with pytest.raises(ValueError, match="must sum to data.num_patterns=32"):
    setups.build(specs.load("omniglot_conv:cpu,recipe,mem=8k,stream",
                            [f"data.data_dir={data_dir}", "data.num_patterns=32"]))
