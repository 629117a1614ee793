"""One registry of models (EBMM and every baseline), and no place outside a
model's own module that asks which model it is."""
import os
import re

import jax
import numpy as np
import pytest

from ebmm_jax import setups
from ebmm_jax.core import models
from ebmm_jax.core import tasks
from ebmm_jax.setups import configuration
from ebmm_jax.setups import ebmm
from ebmm_jax.setups import registry
from tests import helpers

PACKAGE = os.path.join(os.path.dirname(__file__), "..", "..", "ebmm_jax")
LAUNCHERS = os.path.join(os.path.dirname(__file__), "..", "..", "experiments")
# The modules allowed to know which model a config or an experiment holds:
# the registry (config -> model) and EBMM's own module.
MODEL_MODULES = {os.path.join("setups", "registry.py"), os.path.join("setups", "ebmm.py")}
# Ways the code once asked "is this EBMM or a baseline?".
ASKS = [r"\"model\" in \w+", r"\"memory\" in \w+", r"\"energy\" in \w+",
        r"model_name\(", r"exp\.energy\b", r"\bname_of\(", r"isinstance\([^)]*EBMM\)",
        r"== ?\"ebmm\"", r"ebmm\.NAME"]


def _sources():
  for root in (PACKAGE, LAUNCHERS):
    for folder, _, files in os.walk(root):
      for f in files:
        if f.endswith(".py"):
          path = os.path.join(folder, f)
          yield os.path.relpath(path, root), open(path).read()


def test_no_module_outside_the_registry_and_ebmm_asks_which_model_it_is():
  found = []
  for rel, text in _sources():
    if rel in MODEL_MODULES:
      continue
    for pattern in ASKS:
      found += [f"{rel}: {m.group(0)}" for m in re.finditer(pattern, text)]
  assert not found, found


def test_the_scan_finds_the_old_ways_of_asking():
  # The patterns above must match the code they forbid.
  old = ('if "model" in config:\n  exp.energy is None\n'
         'configuration.model_name(c) == configuration.EBMM\n')
  assert sum(bool(re.search(p, old)) for p in ASKS) == 3


def test_every_model_is_registered_once_with_what_it_stores():
  assert registry.MODELS[ebmm.NAME].uses_energy
  assert set(registry.BASELINES) == set(registry.MODELS) - {ebmm.NAME}
  for name, spec in registry.MODELS.items():
    assert spec.name == name
    assert spec.data in (None, registry.BINARY, registry.IMAGES)
  assert set(registry.IMAGE_BASELINES) == {"dae", "vae", "deep_image_prior", "memnet_images",
                                           "mann_images", "kanerva"}


def test_a_config_without_a_model_section_is_ebmm_and_an_unknown_name_is_refused():
  config = helpers.tiny_config()
  assert registry.spec_of(config).name == ebmm.NAME
  with config.unlocked():
    config.model = dict(name="hopfield_net")
  with pytest.raises(ValueError, match="model.name='hopfield_net' is not a known memory"):
    configuration.validate(config)


def test_experiments_hold_the_model_the_registry_builds():
  exp = helpers.tiny_experiment()
  assert isinstance(exp.model, ebmm.EBMM) and exp.model.rule == ebmm.rule_of(exp.config)
  assert exp.model.writing_off is not None and exp.model.first_order is not None
  with pytest.raises(ValueError, match="pass make_network"):
    registry.build(exp.config, exp.task)
  baseline = setups.build(_memnet_config())
  assert not isinstance(baseline.model, ebmm.EBMM)
  assert baseline.model.writing_off is None and baseline.model.write_stream is None
  with pytest.raises(ValueError, match="Energy populations needs an energy-based memory"):
    ebmm.require(baseline.model, "Energy populations")


def _memnet_config():
  from ebmm_jax.setups import specs  # pylint: disable=g-import-not-at-top
  return specs.load("memnet", ["data.pattern_dim=16", "data.num_patterns=4",
                               "model.slots=4", "model.embedding_size=8"])


def test_a_stream_write_is_a_write_then_appends_with_the_learned_forgetting():
  """`write_stream` (the forgetting evaluator's write) equals the literal loop
  of the model's own `write` of the first chunk, then `append` per chunk."""
  exp = helpers.tiny_experiment(**{"data.num_patterns": 8, "memory.stream_chunks": "2,2,4",
                                   "memory.write_lr_init": 0.2})
  model = exp.model
  mp = model.init(jax.random.PRNGKey(0))
  x = exp.sample_test(jax.random.PRNGKey(1), 1, 8)[0]
  streamed = model.write_stream(mp, x, (2, 2, 4))
  literal = model.write(mp, x[:2])
  literal = model.append(mp, literal, x[2:4])
  literal = model.append(mp, literal, x[4:])
  for a, b in zip(jax.tree_util.tree_leaves(streamed), jax.tree_util.tree_leaves(literal)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  # The whole stream written by `write` (the model's own chunks) is the same.
  for a, b in zip(jax.tree_util.tree_leaves(model.write(mp, x)),
                  jax.tree_util.tree_leaves(streamed)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_baseline_is_built_without_a_network():
  task = tasks.binary_strings_task(16)
  model = registry.build(_memnet_config(), task)
  assert isinstance(model, models.MemoryModel) and model.memory_floats > 0
