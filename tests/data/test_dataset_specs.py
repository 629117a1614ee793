"""The image datasets' specs (`ebmm_jax.data.images.SPECS`): what the loaders
return on the real data (EBMM_DATA_DIR, the `data_dir` fixture), the tables
that read them, the configs' defaults, and the data check of a dataset
without a check of its own."""
import importlib
import pathlib

import numpy as np
import pytest

from ebmm_jax import setups
from ebmm_jax.configs import image_base
from ebmm_jax.data import check as check_data
from ebmm_jax.data import images as image_data
from ebmm_jax.setups import images as image_setups

# The image configs and the dataset each starts from.
CONFIGS = {"omniglot_conv": "omniglot", "omniglot_fc": "omniglot",
           "omniglot_correlated": "omniglot", "cifar10": "cifar10",
           "imagenet64": "imagenet64", "mnist_transfer": "mnist"}


@pytest.mark.parametrize("name", sorted(image_data.SPECS))
def test_spec_matches_what_the_loader_returns(name, data_dir):
  spec = image_data.SPECS[name]
  assert spec.name == name
  assert set(spec.needed_splits) <= set(spec.splits) <= set(image_data.SPLITS)
  if not any((data_dir / s).is_dir() for s in spec.subfolders):
    pytest.skip(f"no {name} files in {data_dir}")
  for split in spec.needed_splits:
    images, labels = image_data.load_dataset(name, split, data_dir, source="files")
    assert images.shape[1:] == spec.shape and images.dtype == np.float32, (name, split)
    assert labels.shape == images.shape[:1]
    values = np.unique(images[:200])
    if spec.binary:  # {0, 1}, scored by Hamming error.
      assert set(values.tolist()) == {0.0, 1.0}, (name, split)
    else:  # RGB in [0, 1], scored by squared error.
      assert values.min() >= 0.0 and values.max() <= 1.0 and len(values) > 2
  for split in set(image_data.SPLITS) - set(spec.splits):
    with pytest.raises(ValueError, match=f"{name} has no {split} split"):
      image_data.load_dataset(name, split, data_dir)


def test_tables_read_the_specs():
  specs = image_data.SPECS
  assert image_data.DATASETS == ("omniglot", "cifar10", "mnist", "imagenet64")
  assert image_setups.NATIVE_SHAPES == {
      "omniglot": (32, 32, 1), "mnist": (32, 32, 1), "cifar10": (32, 32, 3),
      "imagenet64": (64, 64, 3)}
  assert image_setups.BINARY_DATASETS == ("omniglot", "mnist")
  assert set(setups.IMAGE_DATASETS) == set(specs)
  for name, spec in specs.items():
    assert check_data.tfds_name(name) == spec.tfds_name
    assert spec.origin in check_data.how_to_get(name)
  assert check_data.tfds_split("imagenet64", "test") == "validation"
  assert check_data.tfds_split("cifar10", "test") == "test"


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
def test_config_defaults_are_the_specs(config_name):
  """Configs import no library code (STYLE.md), so their defaults are
  literals: each is the default distortion of its dataset's spec."""
  c = importlib.import_module(f"ebmm_jax.configs.{config_name}").get_config()
  spec = image_data.SPECS[CONFIGS[config_name]]
  assert c.data.name == spec.name
  assert (c.data.block_size, c.data.fill) == (spec.block_size, spec.fill)
  for name, block in image_base.TABLE2_BLOCKS.items():
    assert block == (image_data.SPECS[name].block_size, image_data.SPECS[name].fill)


def test_a_dataset_without_its_own_check_is_checked_through_its_reader(tmp_path):
  def reader(data_dir, split, *, source):
    assert source == "auto"
    if split == "train":
      return np.zeros((3, 8, 8, 1), np.float32), np.zeros(3, np.int32)
    if split == "validation":
      raise ValueError("corrupt file")
    raise FileNotFoundError(f"expected test.bin in {data_dir}")

  spec = image_data.SPECS["omniglot"]._replace(
      name="tiny", reader=reader, needed_splits=("train", "validation", "test"))
  checks = check_data.check_with_reader(spec, pathlib.Path(tmp_path))
  assert [c.status for c in checks] == [check_data.OK, check_data.UNREADABLE,
                                        check_data.MISSING]
  assert checks[0].text == "train: 3 images"
  assert "validation: corrupt file" in checks[1].text
  assert f"expected test.bin in {tmp_path}" in checks[2].text
  assert "tiny" not in check_data.CHECKS
