"""The validation split (docs/protocols.md, "Common to all"): held out of
training and of testing, Omniglot by whole alphabets, CIFAR-10 and the
ImageNet stand-in by images; training never draws from it, evaluations say
which split they scored, and a model that may have trained on it cannot be
scored on it."""
import json
import pathlib

import jax
import ml_collections
import numpy as np
import pytest

from ebmm_jax import setups
from ebmm_jax.configs import omniglot_conv as omniglot_conv_config
from ebmm_jax.data import images as image_data
from ebmm_jax.data import omniglot as omniglot_files
from ebmm_jax.reporting import image_table
from ebmm_jax.setups import images as image_setups
from ebmm_jax.training import workdir as workdir_lib
from tests.data.test_image_data import _write_omniglot_zip
from tests import helpers

_PRETRAINED = pathlib.Path(__file__).resolve().parents[2] / "ebmm_jax" / "pretrained"


def _rows(images: np.ndarray):
  return {im.tobytes() for im in np.asarray(images)}


def _runlocal(data_dir, name="omniglot_conv", **overrides):
  return helpers.image_config(name, data_dir, **overrides)


def test_omniglot_real_splits_are_disjoint_alphabets_characters_and_images(data_dir):
  splits = image_data.omniglot_splits(data_dir)
  assert splits == dict(
      train=("Balinese", "Greek", "Japanese_(katakana)", "Latin", "Sanskrit"),
      validation=("Early_Aramaic",), test=("Korean", "Tagalog"))
  data = {s: image_data.load_omniglot(data_dir, s) for s in splits}
  for s, d in data.items():
    assert set(d.alphabets.tolist()) == set(splits[s])
  assert [len(data[s].images) for s in ("train", "validation", "test")] == [3260, 440, 1140]
  for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
    assert not set(data[a].alphabets.tolist()) & set(data[b].alphabets.tolist())
    assert not set(data[a].labels.tolist()) & set(data[b].labels.tolist())
  # The train part before the split = train + validation.
  whole = image_data.load_omniglot(data_dir, "train", hold_out_validation=False)
  assert _rows(whole.images) == _rows(data["train"].images) | _rows(data["validation"].images)


def test_omniglot_canonical_split_holds_out_validation_alphabets(tmp_path):
  # The full archives: 30 background alphabets train (some of them the
  # validation split), 20 evaluation alphabets test.
  _write_omniglot_zip(tmp_path / "images_background.zip", "images_background",
                      [("Greek", "character01", 393), ("Bengali", "character01", 100),
                       ("Hebrew", "character01", 200), ("Latin", "character01", 700)])
  _write_omniglot_zip(tmp_path / "images_evaluation.zip", "images_evaluation",
                      [("Atlantean", "character01", 1000)])
  assert image_data.omniglot_splits(tmp_path) == dict(
      train=("Greek", "Latin"), validation=("Bengali", "Hebrew"), test=("Atlantean",))
  assert image_data.omniglot_splits(tmp_path, hold_out_validation=False)["train"] == (
      "Bengali", "Greek", "Hebrew", "Latin")
  validation = image_data.load_omniglot(tmp_path, "validation", source="files")
  assert sorted(set(validation.alphabets.tolist())) == ["Bengali", "Hebrew"]
  assert set(omniglot_files.hold_out_validation(("Greek",))[0]) == {"Greek"}
  # Without any validation alphabet there is no validation split, said so.
  _write_omniglot_zip(tmp_path / "images_background.zip", "images_background",
                      [("Greek", "character01", 393)])
  with pytest.raises(ValueError, match="none of the validation alphabets"):
    image_data.load_omniglot(tmp_path, "validation", source="files")


def test_cifar10_and_imagenet_validation_images_are_held_out_of_training(data_dir):
  whole, whole_labels = image_data.load_dataset("cifar10", "train", data_dir,
                                                hold_out_validation=False)
  train, train_labels = image_data.load_dataset("cifar10", "train", data_dir)
  valid, valid_labels = image_data.load_dataset("cifar10", "validation", data_dir)
  assert (len(train), len(valid)) == (3600, 400)
  np.testing.assert_array_equal(valid, whole[9::10])  # Every 10th train image.
  np.testing.assert_array_equal(valid_labels, whole_labels[9::10])
  assert not _rows(train) & _rows(valid)
  assert _rows(train) | _rows(valid) == _rows(whole)
  train, _ = image_data.load_dataset("imagenet64", "train", data_dir)
  valid, valid_labels = image_data.load_dataset("imagenet64", "validation", data_dir)
  test, _ = image_data.load_dataset("imagenet64", "test", data_dir)
  assert (len(train), len(valid), len(test)) == (600, 200, 200)
  assert np.unique(valid_labels).size == 200  # One image of every class.
  for a, b in ((train, valid), (train, test), (valid, test)):
    assert not _rows(a[:, ::8, ::8]) & _rows(b[:, ::8, ::8])


@pytest.mark.parametrize("name", ["omniglot_conv", "cifar10"])
def test_training_never_draws_a_validation_image(data_dir, name):
  """The trainer's sampler (`training.make_sampler` over `exp.sample_train`)
  draws from the train split without its validation part, and evaluations
  from the validation split."""
  from ebmm_jax.training import loop  # pylint: disable=g-import-not-at-top
  from ebmm_jax.training import parallel  # pylint: disable=g-import-not-at-top
  config = _runlocal(data_dir, name)
  assert config.data.hold_out_validation and config.data.eval_split == "validation"
  exp = setups.build(config)
  assert (exp.sample_train.split, exp.sample_test.split) == ("train", "validation")
  exp.sample_train.load()
  exp.sample_test.load()
  validation = _rows(exp.sample_test.images)
  assert validation and not _rows(exp.sample_train.images) & validation
  sample = loop.make_sampler(exp, parallel.make_mesh(jax.devices()[:1]))
  drawn = np.concatenate([np.asarray(sample(jax.random.PRNGKey(s))).reshape(
      (-1,) + exp.task.pattern_shape) for s in range(20)])
  assert not _rows(drawn) & validation
  # The same config with the split off would have trained on them.
  whole = setups.build(_runlocal(data_dir, name, **{"data.hold_out_validation": False,
                                                    "data.eval_split": "test"}))
  whole.sample_train.load()
  assert validation <= _rows(whole.sample_train.images)


def test_split_fields_are_validated_naming_them(data_dir):
  with pytest.raises(ValueError, match=r"data.eval_split='validation' needs "
                     r"data.hold_out_validation=True"):
    setups.build(_runlocal(data_dir, **{"data.hold_out_validation": False}))
  with pytest.raises(ValueError, match=r"data.eval_split='valid' must be one of"):
    setups.build(_runlocal(data_dir, **{"data.eval_split": "valid"}))
  mnist = _runlocal(data_dir, "mnist_transfer")
  assert mnist.data.eval_split == "test"
  setups.build(mnist)
  with pytest.raises(ValueError, match="MNIST is read only to test transfer"):
    setups.build(_runlocal(data_dir, "mnist_transfer", **{"data.eval_split": "validation"}))


def test_models_trained_before_the_split_are_scored_on_test_only(data_dir):
  saved = json.loads((_PRETRAINED / "omniglot-n4" / "config.json").read_text())
  saved["data"]["data_dir"] = str(data_dir)
  old = ml_collections.ConfigDict(saved)
  # Saved before the validation split: its train part held Early_Aramaic.
  exp = setups.build(old)
  assert exp.sample_test.split == "test"
  assert "whole train part" in image_setups.validation_seen_in_training(old)
  with pytest.raises(ValueError, match="--split=validation: this model may have seen"):
    image_table.with_split(old, "validation")
  assert image_table.with_split(old, "").data.eval_split == "test"
  # A new run started from it has seen them too, through its source.
  new = _runlocal(data_dir, **{"train.init_from": "omniglot-n4"})
  reason = image_setups.validation_seen_in_training(new)
  assert "train.init_from='omniglot-n4'" in reason and "whole train part" in reason
  with pytest.raises(ValueError, match="init_from"):
    image_table.with_split(new, "")
  assert image_setups.validation_seen_in_training(_runlocal(data_dir)) == ""
  assert image_table.with_split(_runlocal(data_dir), "test").data.eval_split == "test"


def test_a_run_saved_before_the_split_resumes_only_without_it():
  """A workdir trained on the whole train part is not resumed on the smaller
  one (the data would change mid-run); the split scored may change."""
  saved = json.loads((_PRETRAINED / "omniglot-n4" / "config.json").read_text())
  requested = omniglot_conv_config.get_config("cpu,recipe,mem=8k").to_dict()
  fields = {f for f, _, _ in workdir_lib.config_differences(saved, requested)}
  assert "data.hold_out_validation" in fields and "data.eval_split" not in fields


def test_evaluate_images_reads_a_shipped_memory_by_name(data_dir):
  config = image_table.load_trained_config("omniglot-n4")
  assert config.data.num_patterns == 4 and "hold_out_validation" not in config.data
  config = image_table.evaluation_config(config, None, str(data_dir))
  exp = setups.build(image_table.with_split(config, ""))
  step, meta_params = image_table.load_model(exp, "omniglot-n4")
  assert step == 3706 and exp.sample_test.split == "test"
  saved = np.load(_PRETRAINED / "omniglot-n4" / "meta_params.npz")
  leaves = jax.tree_util.tree_leaves(meta_params)
  assert sum(x.size for x in leaves) == sum(saved[k].size for k in saved.files)


def test_every_evaluator_refuses_validation_for_a_model_that_saw_it(data_dir):
  """`evaluation.evaluate`, under every launcher, sweep and study."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  from ebmm_jax.reporting import evaluation  # pylint: disable=g-import-not-at-top
  # pylint: disable-next=g-import-not-at-top
  from tests.reporting.test_image_controls import _nearest_stored_memory
  exp = setups.build(_runlocal(data_dir, **{"train.init_from": "omniglot-n4"}))
  exp = dataclasses.replace(exp, model=_nearest_stored_memory())
  with pytest.raises(ValueError, match="Cannot score the validation split.*omniglot-n4"):
    evaluation.evaluate(exp, {}, 4, 1)
  test = setups.build(_runlocal(data_dir, **{"train.init_from": "omniglot-n4",
                                             "data.eval_split": "test"}))
  out = evaluation.evaluate(dataclasses.replace(test, model=_nearest_stored_memory()), {}, 4, 1)
  assert out["split"] == "test"
