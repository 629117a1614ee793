"""The user-facing Memory: same results as the pure core, clamping, energies,
loading a trained workdir, no recompiles, and a named error for each bad input."""
import os

import chex
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ebmm_jax import api
from ebmm_jax.core import meta
from ebmm_jax.training import parallel
from ebmm_jax import training
from ebmm_jax.core import distortions
from ebmm_jax.data import binary_strings
from ebmm_jax.data import images
from tests import helpers

# The tiny config: D = 16, N = 4, T = K = 2.
D, N, K = 16, 4, 2
BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


@pytest.fixture(scope="module")
def config():
  return helpers.tiny_config()


@pytest.fixture(scope="module")
def exp(config):
  return helpers.tiny_experiment()


@pytest.fixture(scope="module")
def meta_params(exp):
  # Not the init that Memory.from_config would pick (config.seed = 0).
  return exp.model.init(jax.random.PRNGKey(7))


@pytest.fixture(scope="module")
def batch():
  patterns, queries, known = binary_strings.sample_batch(jax.random.PRNGKey(1), N, D)
  return patterns, queries, known


@pytest.fixture(scope="module")
def written(config, meta_params, batch):
  """A memory with the batch written, and its reads with and without the mask."""
  mem = api.Memory.from_config(config, meta_params)
  patterns, queries, known = batch
  mem.write(patterns)
  return mem, mem.read(queries, mask=known), mem.read(queries)


def test_write_and_read_equal_the_pure_core(exp, meta_params, batch, written):
  patterns, queries, known = batch
  mem, iterates, _ = written
  core = jax.jit(meta.write_and_read, static_argnums=(0, 5))
  ref_iterates, ref_written, ref_losses = core(exp.model.network.apply, meta_params, patterns,
                                               queries, known, exp.task.box)
  assert iterates.shape == (K, N, D)
  chex.assert_trees_all_close(mem.written, ref_written, rtol=1e-5, atol=1e-6)
  del ref_losses  # The writing loss is the core's (tests/core/test_memory.py).
  np.testing.assert_allclose(iterates, ref_iterates, rtol=1e-5, atol=1e-6)
  # Writing and reading did something (the comparison is not of two no-ops).
  assert not np.allclose(iterates[-1], queries)
  assert mem.num_written == N and mem.read_steps == K
  assert mem.memory_floats == D * 3 + 3  # Linear(16 -> 3).


def test_read_clamps_the_masked_entries(batch, written):
  _, queries, known = batch
  _, clamped, free = written
  known = np.broadcast_to(np.asarray(known), clamped.shape)
  np.testing.assert_array_equal(np.asarray(clamped)[known],
                                np.broadcast_to(queries, clamped.shape)[known])
  # Without the mask the same entries move.
  assert not np.allclose(np.asarray(free)[known],
                         np.broadcast_to(queries, free.shape)[known])


def test_energy_uses_the_written_memory_or_theta_bar(exp, config, meta_params, batch,
                                                     written):
  patterns, _, _ = batch
  mem, iterates, _ = written
  energy = lambda memory, x: exp.model.network.apply(
      hk.data_structures.merge(meta_params.static, memory), x)
  np.testing.assert_allclose(mem.energy(iterates[-1]),
                             energy(mem.written, iterates[-1]), rtol=1e-5, atol=1e-6)
  fresh = api.Memory.from_config(config, meta_params)
  before = fresh.energy(patterns)
  assert before.shape == (N,)
  np.testing.assert_allclose(before, energy(meta_params.write.init_memory, patterns),
                             rtol=1e-5, atol=1e-6)
  assert not np.allclose(before, mem.energy(patterns))  # Writing changed the energy.


def test_repeated_calls_and_a_second_memory_do_not_recompile(config, meta_params,
                                                             written):
  mem, _, _ = written

  def batch(seed):  # numpy inputs, like a user's.
    return [np.asarray(a) for a in binary_strings.sample_batch(
        jax.random.PRNGKey(seed), N, D)]

  def use(m, patterns, queries, known):
    m.write(patterns)
    m.read(queries, mask=known)
    m.read(queries)
    m.energy(patterns)

  use(mem, *batch(2))  # JAX compiles its own numpy -> array conversions once.
  compiles = []
  listener = lambda event, duration, **kw: compiles.append(event) if (
      event == BACKEND_COMPILE_EVENT) else None
  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    use(mem, *batch(3))  # New values, same shapes.
    use(api.Memory.from_config(config, meta_params), *batch(4))  # Same config.
    assert compiles == []
    mem.read(batch(5)[1][:1])  # A new shape compiles (so the listener listens).
    assert compiles
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)


def test_from_workdir_loads_the_trained_meta_params(tmp_path):
  # One write and one read step, one hop: the cheapest meta-step to compile.
  config = helpers.tiny_config(**{"train.num_steps": 1, "train.log_every": 1,
                                  "memory.write_steps": 1, "memory.read_steps": 1,
                                  "energy.hops": 1})
  state = training.train(config, str(tmp_path), parallel.make_mesh(jax.devices()[:1]))
  mem = api.Memory.from_workdir(str(tmp_path))
  chex.assert_trees_all_equal(mem.meta_params, jax.device_get(state.meta_params))
  assert mem.config.data.num_patterns == N and mem.read_steps == 1
  assert mem.task.pattern_shape == (D,)
  # Training moved the parameters away from the init from_config would pick.
  fresh = api.Memory.from_config(config)
  assert not np.allclose(mem.meta_params.read.step_sizes, fresh.meta_params.read.step_sizes)
  with pytest.raises(FileNotFoundError, match="config.json"):
    api.Memory.from_workdir(str(tmp_path / "missing"))


def test_read_before_write_raises(config, meta_params, batch):
  _, queries, _ = batch
  with pytest.raises(api.NotWrittenError, match="write"):
    api.Memory.from_config(config, meta_params).read(queries)


def _bad_inputs():
  ones = np.ones((N, D), np.float32)
  nan = ones.copy()
  nan[0, 0] = np.nan
  return {
      "one pattern, no batch axis": (ones[0], "batch"),
      "empty batch": (ones[:0], "empty"),
      "wrong pattern shape": (np.ones((N, D + 1), np.float32), r"\[M, 16\]"),
      "integer dtype": (ones.astype(np.int32), "floating"),
      "non-finite": (nan, "non-finite"),
      "outside the box": (2 * ones, "box"),
  }


@pytest.mark.parametrize("method", ["write", "read", "energy"])
@pytest.mark.parametrize("case", list(_bad_inputs()))
def test_bad_batches_raise_a_named_error(written, method, case):
  mem, _, _ = written
  x, message = _bad_inputs()[case]
  if method == "energy" and case == "outside the box":
    mem.energy(x)  # Energies are defined outside the box too.
    return
  with pytest.raises(api.InvalidInputError, match=message):
    getattr(mem, method)(x)


def test_bad_masks_and_meta_params_raise_a_named_error(config, exp, batch, written):
  mem, _, _ = written
  _, queries, known = batch
  with pytest.raises(api.InvalidInputError, match="shape"):
    mem.read(queries, mask=known[:, :-1])
  with pytest.raises(api.InvalidInputError, match="bool"):
    mem.read(queries, mask=jnp.asarray(known, jnp.float32))
  other = helpers.tiny_experiment(**{"energy.dynamic_size": 4})
  with pytest.raises(api.InvalidInputError, match="another config"):
    api.Memory.from_config(config, other.model.init(jax.random.PRNGKey(0)))


def test_a_baseline_is_served_through_its_memory_model(tmp_path):
  """Memory drives a Table 1 baseline like EBMM (write, read, save, load):
  its reads are the model's own; it has no energy."""
  from ebmm_jax import setups  # pylint: disable=g-import-not-at-top
  from ebmm_jax.configs import memnet  # pylint: disable=g-import-not-at-top
  config = memnet.get_config("runlocal")
  mem = api.Memory.from_config(config)
  exp = setups.build(config)
  params = exp.model.init(jax.random.PRNGKey(config.seed))
  patterns = exp.sample_test(jax.random.PRNGKey(1), 1, config.data.num_patterns)[0]
  queries, known = exp.task.distort(jax.random.PRNGKey(2), patterns)
  mem.write(patterns)
  iterates = mem.read(queries, mask=known)
  np.testing.assert_allclose(iterates, exp.model.retrieve(params, patterns, queries, known),
                             rtol=1e-6, atol=1e-6)
  assert mem.name == "Memory Networks" and mem.read_steps == iterates.shape[0]
  assert mem.memory_floats == exp.model.memory_floats
  with pytest.raises(api.InvalidInputError, match="not an energy model"):
    mem.energy(patterns)
  mem.save(str(tmp_path / "memnet"))
  loaded = api.Memory.load(str(tmp_path / "memnet"))
  loaded.write(patterns)
  np.testing.assert_array_equal(loaded.read(queries, mask=known), iterates)


@pytest.mark.parametrize("name, n, n_max, bar", [
    ("binary-n16", 16, 16, 1.0), ("binary-n64", 64, 64, 14.0),
    ("binary", 4, 96, 8.0), ("binary", 16, 96, 5.0), ("binary", 64, 96, 13.5)])
def test_pretrained_memories_load_by_name_and_retrieve(name, n, n_max, bar):
  """The shipped models remember: on fresh batches their retrieval is far
  below the distorted queries' 32 wrong bits (docs/pretrained.md has their
  test numbers; the bars here leave room for 8 batches' noise). `binary`
  serves every N up to its padded size 96 with one set of meta-parameters."""
  mem = api.Memory.pretrained(name)
  assert mem.memory_floats == 8127 and mem.config.data.num_patterns == n_max
  assert n in mem.trained_ns
  errors = []
  for seed in range(8):
    patterns = binary_strings.sample_patterns(jax.random.PRNGKey(100 + seed), n)
    queries, known = binary_strings.corrupt_half(jax.random.PRNGKey(200 + seed), patterns)
    mem.write(patterns)
    errors.append(np.asarray(binary_strings.error_bits(mem.read(queries, mask=known)[-1], patterns)))
  assert float(np.mean(errors)) < bar
  with pytest.raises(ValueError, match="No pretrained memory 'binary-n32'; known: binary, binary-n16"):
    api.Memory.pretrained("binary-n32")


def test_the_pretrained_stream_memory_keeps_every_chunk_of_its_stream():
  """`binary-stream`, written as a stream (one chunk, then three appends of
  16): every chunk is retrieved far below the queries' 32 bits, the oldest
  as well as the newest (evaluation.json: 12.82-13.00 over 200 streams)."""
  mem = api.Memory.pretrained("binary-stream")
  assert mem.config.memory.stream_chunks == "16,16,16,16"
  per_chunk = []
  for s in range(4):
    chunks = [binary_strings.sample_patterns(jax.random.PRNGKey(100 * s + c), 16)
              for c in range(4)]
    mem.write(chunks[0])
    for chunk in chunks[1:]:
      mem.append(chunk)
    assert mem.num_written == 64
    stored = jnp.concatenate(chunks)
    queries, known = binary_strings.corrupt_half(jax.random.PRNGKey(1000 + s), stored)
    errors = binary_strings.error_bits(mem.read(queries, mask=known)[-1], stored)
    per_chunk.append(np.asarray(errors).reshape(4, 16).mean(axis=1))
  per_chunk = np.mean(per_chunk, axis=0)
  assert np.all(per_chunk < 18), per_chunk
  # `write` of all 64 writes them as the stream it was trained on: the same
  # memory as the write and three appends.
  appended = mem.written
  mem.write(stored)
  chex.assert_trees_all_close(mem.written, appended, rtol=1e-5, atol=1e-5)


def test_a_saved_memory_loads_with_the_same_parameters(tmp_path):
  config = helpers.tiny_config()
  mem = api.Memory.from_config(config)
  mem.save(str(tmp_path / "m"))
  loaded = api.Memory.load(str(tmp_path / "m"))
  chex.assert_trees_all_equal(jax.device_get(mem.meta_params), jax.device_get(loaded.meta_params))
  assert loaded.config.to_dict() == mem.config.to_dict()
  with pytest.raises(FileNotFoundError, match="is not a saved memory"):
    api.Memory.load(str(tmp_path))
  # Saving over a saved memory is refused before anything is written.
  before = {f: (tmp_path / "m" / f).read_bytes() for f in os.listdir(tmp_path / "m")}
  other = api.Memory.from_config(helpers.tiny_config(**{"data.num_patterns": 8}))
  with pytest.raises(FileExistsError, match="already holds config.json and meta_params.npz"):
    other.save(str(tmp_path / "m"))
  assert {f: (tmp_path / "m" / f).read_bytes() for f in os.listdir(tmp_path / "m")} == before


@pytest.mark.parametrize(
    "name, n, batches, other_offset, order_seed, other_factor",
    [("omniglot-n4", 4, 25, 100, 0, 0.75),    # docs/pretrained.md: 33.06 (100 batches)
     ("omniglot-n64", 64, 3, 512, 1, 0.9)])   # The paper's N = 64: 35.00, 43.81 off.
def test_the_pretrained_omniglot_memories_recall_strokes_under_the_block(
    data_dir, name, n, batches, other_offset, order_seed, other_factor):
  """A shipped Omniglot memory on the test alphabets (never seen in training):
  written with N images, it restores their blocks better than erasing each
  block at its true position would, and better than the same memory written
  with N other images (docs/pretrained.md has their 100-batch numbers)."""
  mem = api.Memory.pretrained(name)
  assert mem.memory_floats == 8092 and mem.config.data.num_patterns == n
  test = images.load_omniglot(data_dir, "test").images
  order = np.random.default_rng(order_seed).permutation(len(test))
  hamming = lambda x, y: np.sum((np.asarray(x) > 0.5) != (y > 0.5), axis=(1, 2, 3))
  written, other, erased = [], [], []
  for b in range(batches):
    patterns = test[order[n * b:n * b + n]]
    queries, mask = distortions.block_noise(jax.random.PRNGKey(b), jnp.asarray(patterns), 16)
    mem.write(patterns)
    written.append(hamming(mem.read(queries)[-1], patterns))
    mem.write(test[order[n * b + other_offset:n * b + other_offset + n]])  # Other images.
    other.append(hamming(mem.read(queries)[-1], patterns))
    # Told where the block is, filled with background.
    erased.append(hamming(np.where(np.asarray(mask), 0.0, np.asarray(queries)), patterns))
  written, other, erased = np.mean(written), np.mean(other), np.mean(erased)
  assert written < erased and written < other_factor * other, (written, erased, other)


def test_append_writes_into_the_stored_memory(exp, config, meta_params, batch):
  """`append` is Eq. (4) started from the written weights (the pure core with
  `memory=`), counts every pattern stored, and needs a written memory."""
  patterns, _, _ = batch
  more = binary_strings.sample_patterns(jax.random.PRNGKey(9), 3, D)
  mem = api.Memory.from_config(config, meta_params)
  with pytest.raises(api.NotWrittenError, match="write"):
    mem.append(more)
  mem.write(patterns)
  first = mem.written
  mem.append(more)
  assert mem.num_written == N + 3
  ref, _ = meta.write(exp.model.network.apply, meta_params, more, rule=exp.model.rule, memory=first)
  chex.assert_trees_all_close(mem.written, ref, rtol=1e-5, atol=1e-6)
  # Appending is not writing afresh: the start (the stored memory) matters.
  fresh, _ = meta.write(exp.model.network.apply, meta_params, more, rule=exp.model.rule)
  assert not np.allclose(jax.tree_util.tree_leaves(mem.written)[0],
                         jax.tree_util.tree_leaves(fresh)[0])
  with pytest.raises(api.InvalidInputError, match=r"\[M, 16\]"):
    mem.append(np.ones((2, D + 1), np.float32))
  assert mem.trained_ns == (N,)


def test_a_baseline_cannot_append():
  from ebmm_jax.configs import memnet  # pylint: disable=g-import-not-at-top
  mem = api.Memory.from_config(memnet.get_config("runlocal"))
  with pytest.raises(api.InvalidInputError, match="cannot append"):
    mem.append(np.ones((2, 128), np.float32))
