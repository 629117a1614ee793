"""The controls of every image number (docs/protocols.md, "Common to all"),
computed by `reporting.evaluation.evaluate(..., controls=True)` on the same
batches and queries as the model: erasing the distortion at its true
position, the memory written with another batch, writing switched off."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ebmm_jax import setups
from ebmm_jax.core import distortions
from ebmm_jax.core import models
from ebmm_jax.reporting import evaluation
from ebmm_jax.setups import images as image_setups
from tests import helpers


def _config(name, data_dir, **overrides):
  return helpers.image_config(name, data_dir, **overrides)


def _nearest_stored_memory() -> models.MemoryModel:
  """A memory without parameters that stores its batch as is and reads back
  the stored image nearest to each query: it recalls a stored image almost
  always, and an image that was not stored never."""
  def read(params, stored, queries, known):
    del params, known
    d = jnp.sum(jnp.square(queries[:, None] - stored[None]), axis=(2, 3, 4))  # [N, N]
    return stored[jnp.argmin(d, axis=1)][None]  # [1, N, H, W, C]
  return models.MemoryModel(
      name="nearest stored", init=lambda key: {}, write=lambda params, x: x,
      read=read, loss=lambda *a, **k: (0.0, {}), count_memory_floats=lambda: 0)


def _batches(exp, seed, per_call, n):
  """The first call's batches and distortion keys of `evaluation.evaluate`."""
  k_data, k_distort = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 0))
  return exp.sample_test(k_data, per_call, n), jax.random.split(k_distort, per_call)


@pytest.mark.parametrize("name, value", [("omniglot_conv", 0.0), ("cifar10", 0.5)])
def test_erase_sets_the_distorted_pixels_to_the_constant(data_dir, name, value):
  config = _config(name, data_dir)
  assert image_setups.erase_value(config) == value
  exp = setups.build(config)
  patterns = exp.sample_test(jax.random.PRNGKey(0), 1, 4)[0]
  key = jax.random.PRNGKey(7)
  queries, known = exp.task.distort(key, patterns)
  assert known is None  # The model is not told; only the control is.
  erased = np.asarray(exp.task.erase(key, patterns))
  _, mask = distortions.block_noise(key, patterns, config.data.block_size, config.data.fill)
  mask = np.asarray(mask)
  np.testing.assert_array_equal(erased[mask], value)
  np.testing.assert_array_equal(erased[~mask], np.asarray(queries)[~mask])
  # Its score by hand: what lay under the block, against the constant.
  p = np.asarray(patterns)
  if name == "omniglot_conv":  # Hamming: the stroke pixels under the block.
    hand = (p * mask).sum(axis=(1, 2, 3))
  else:  # Squared error against 0.5 inside the block.
    hand = (np.square(p - 0.5) * mask).sum(axis=(1, 2, 3))
  np.testing.assert_allclose(np.asarray(exp.task.score(erased, patterns)), hand, rtol=1e-5)


def test_controls_on_the_same_batches(data_dir):
  config = _config("omniglot_conv", data_dir)
  exp = dataclasses.replace(setups.build(config), model=_nearest_stored_memory())
  n, num_batches, seed = 4, 6, 3
  plain = evaluation.evaluate(exp, {}, n, num_batches, batches_per_call=3, seed=seed)
  out = evaluation.evaluate(exp, {}, n, num_batches, batches_per_call=3, seed=seed,
                            controls=True)
  assert out["split"] == "validation"
  # The controls change nothing of the model's own numbers.
  np.testing.assert_array_equal(out["final"], plain["final"])
  assert out["query"] == plain["query"]
  assert set(out["controls"]) == {"erase", "other_batch"}  # No T = 0 without EBMM.
  assert all(c["count"] == n * num_batches for c in out["controls"].values())
  # Erase, by hand on the first call's batches and queries.
  patterns, keys = _batches(exp, seed, 3, n)
  hand = []
  for p, k in zip(patterns, keys):
    _, mask = distortions.block_noise(k, p, config.data.block_size, config.data.fill)
    hand.append(np.asarray(p * mask).sum(axis=(1, 2, 3)))
  out3 = evaluation.evaluate(exp, {}, n, 3, batches_per_call=3, seed=seed, controls=True)
  np.testing.assert_allclose(out3["controls"]["erase"]["mean"],
                             np.mean(np.concatenate(hand).astype(np.float64)), rtol=1e-12)
  # The right batch is recalled; another batch (disjoint: 440 validation
  # images) holds none of the queries' images.
  assert out["other_batch_disjoint"]
  assert out["summary"]["mean"] < 2.0
  assert out["controls"]["other_batch"]["mean"] > 10 * max(out["summary"]["mean"], 1.0)


def test_other_batches_never_share_an_image_with_the_stored_one(data_dir):
  exp = setups.build(_config("omniglot_conv", data_dir, **{"data.eval_split": "test"}))
  patterns, indices = exp.sample_test.sample_with_indices(jax.random.PRNGKey(0), 8, 64)
  others, disjoint = evaluation.other_batches(exp, jax.random.PRNGKey(1), indices, 8, 64)
  assert disjoint and others.shape == patterns.shape
  stored = [{im.tobytes() for im in np.asarray(b)} for b in patterns]
  for own, other in zip(stored, np.asarray(others)):
    assert not own & {im.tobytes() for im in other}
    assert len({im.tobytes() for im in other}) > 32  # Mostly distinct drawings.


def test_writing_off_control_is_the_unwritten_model_on_the_same_queries():
  # Large initial rates: an untrained model whose write and read move.
  exp = helpers.tiny_experiment(**{"memory.read_step_size_init": 10.0,
                                   "memory.write_lr_init": 1.0})
  mp = exp.model.init(jax.random.PRNGKey(0))
  out = evaluation.evaluate(exp, mp, 4, 4, batches_per_call=2, seed=5, controls=True)
  assert set(out["controls"]) == {"other_batch", "writing_off"}  # No erase for strings.
  off = evaluation.evaluate(dataclasses.replace(exp, model=exp.model.writing_off()), mp,
                            4, 4, batches_per_call=2, seed=5)
  np.testing.assert_allclose(out["controls"]["writing_off"]["mean"], off["summary"]["mean"],
                             rtol=1e-12)
  np.testing.assert_allclose(out["controls"]["writing_off"]["per_iterate"],
                             off["per_iterate"], rtol=1e-6)
  # Each control is another memory than the written one, read from the same queries.
  for name in ("other_batch", "writing_off"):
    assert out["controls"][name]["mean"] != out["summary"]["mean"]
  assert not out["other_batch_disjoint"]  # Drawn independently (no indices).


def test_controls_can_be_chosen_and_unknown_ones_are_refused(data_dir):
  exp = dataclasses.replace(setups.build(_config("omniglot_conv", data_dir)),
                            model=_nearest_stored_memory())
  every = evaluation.evaluate(exp, {}, 4, 2, batches_per_call=2, seed=1, controls=True)
  erase = evaluation.evaluate(exp, {}, 4, 2, batches_per_call=2, seed=1,
                              controls=("erase",))
  assert set(erase["controls"]) == {"erase"} and "other_batch_disjoint" not in erase
  assert erase["controls"]["erase"] == every["controls"]["erase"]
  with pytest.raises(ValueError, match="Unknown controls"):
    evaluation.evaluate(exp, {}, 4, 2, controls=("erase", "shuffle"))


def test_sweep_evaluations_record_their_split_and_the_erase_control(data_dir, tmp_path,
                                                                     monkeypatch):
  from ebmm_jax.reporting import runs  # pylint: disable=g-import-not-at-top
  config = _config("omniglot_conv", data_dir)
  exp = dataclasses.replace(setups.build(config), model=_nearest_stored_memory())
  monkeypatch.setattr(runs.setups, "build", lambda c: exp)
  row = runs.evaluate_cached(runs.Point("p", config, str(tmp_path)), {}, 0, 4, 2, 1)
  assert row["split"] == "validation" and set(row["controls"]) == {"erase"}
  assert row["controls"]["erase"]["count"] == 8
