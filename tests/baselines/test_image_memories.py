"""Memory Networks and MANN on images (`ebmm_jax/baselines/image_memories.py`,
configs/memnet_images.py, configs/mann_images.py): memory accounting and the
`mem=K` variant, shapes and clamping, a Memory Network's exact slot read
under sharp attention, and one real meta-step each on Omniglot. Tiny
configs (runlocal: 16x16 images, N = 4); one compilation per model and
function."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ebmm_jax import setups
from ebmm_jax.baselines import image_memories
from ebmm_jax.baselines import mann
from ebmm_jax.baselines import memory_networks
from ebmm_jax.core import models
from ebmm_jax.setups import configuration
from ebmm_jax.setups import registry
from ebmm_jax.setups import specs

MODELS = ("memnet_images", "mann_images")
# Accounting and shapes need no data: the builder reads none until a batch is drawn.
NO_DATA = ["data.data_dir=/no/data/needed"]
# The smoke models of the shape tests: the Memory Network with 2 hops (K = 2)
# and 16-float slot codes.
TINY = {"memnet_images": ["model.hops=2", "model.embedding_size=16"], "mann_images": []}
ITERATES = {"memnet_images": 2, "mann_images": 1}


def _load(name, variants="", overrides=()):
  return specs.load(f"configs/{name}.py:{variants}", NO_DATA + list(overrides))


def _formula(name, sizes):
  if name == "memnet_images":
    return memory_networks.memory_floats(sizes["slots"], sizes["embedding_size"])
  return mann.memory_floats(sizes["slots"], sizes["word_size"], sizes["controller_size"])


@pytest.fixture(scope="module")
def tiny():
  """name -> (experiment, params, jitted retrieve)."""
  out = {}
  for name in MODELS:
    exp = setups.build(_load(name, "runlocal", TINY[name]))
    out[name] = (exp, exp.model.init(jax.random.PRNGKey(0)), jax.jit(exp.model.retrieve))
  return out


def _images(key, n, shape=(16, 16, 1)):
  """Random {0, 1} images (distinct codes without reading data)."""
  return jax.random.bernoulli(key, 0.5, (n, *shape)).astype(jnp.float32)


# --- Memory accounting and mem=K ----------------------------------------------

def test_registered_as_image_baselines():
  for name in MODELS:
    assert name in registry.BASELINES and name in registry.IMAGE_BASELINES
    c = _load(name, "runlocal")
    c.unlock()
    c.data.name = "binary_strings"
    with pytest.raises(ValueError, match="image baseline"):
      configuration.validate(c)


def test_memory_is_the_written_state():
  """Default configs: one slot per image (N = 64); state floats counted on
  shapes equal the formulas: slots x (E + 1) for the Memory Network."""
  memnet = setups.build(_load("memnet_images"))
  assert memnet.model.name == "Memory Networks"
  assert memnet.model.memory_floats == 64 * (256 + 1) == 16448
  manns = setups.build(_load("mann_images"))
  assert manns.model.name == "MANN"
  assert manns.model.memory_floats == mann.memory_floats(64, 256, 64) == 16896
  # The tiny models, and N sets the slots (slots = 0).
  assert setups.build(_load("memnet_images", "runlocal")).model.memory_floats == 4 * 9
  assert setups.build(_load("mann_images", "runlocal")).model.memory_floats == (
      4 * 8 + 2 * 4 + 8 + 2 * 4)
  assert setups.build(_load("memnet_images", "n=16")).model.memory_floats == 16 * 257


@pytest.mark.parametrize("name, field", [
    ("memnet_images", "embedding_size"), ("mann_images", "word_size"),
    ("memnet_images", "slots"), ("mann_images", "slots")])
def test_mem_variant_picks_the_closest_size(name, field):
  for text, budget in (("2k", 2048), ("4k", 4096), ("8k", 8192), ("16k", 16384),
                       ("3000", 3000)):
    c = _load(name, f"mem={text}", [f"model.budget_field={field}"])
    sizes = image_memories.core_sizes(c)
    brute = min(range(1, 2000), key=lambda v: (
        abs(_formula(name, {**sizes, field: v}) - budget), v))
    assert sizes[field] == brute, (text, sizes)
    # The built model's state (counted on shapes) has that many floats.
    assert setups.build(c).model.memory_floats == _formula(name, sizes)
  sizes = image_memories.core_sizes(_load(name, "mem=2k"))
  if name == "memnet_images":  # 64 (E + 1) = 2048 exactly.
    assert sizes == dict(slots=64, embedding_size=31, hops=1)
  else:  # 65 W + 256: W = 28 (2,076 floats) beats W = 27 (2,011).
    assert sizes == dict(slots=64, word_size=28, controller_size=64)


def test_bad_sizes_are_rejected():
  with pytest.raises(ValueError, match="model.budget_field='hops'"):
    setups.build(_load("memnet_images", "mem=2k", ["model.budget_field=hops"]))
  with pytest.raises(ValueError, match="mem='0'"):
    _load("mann_images", "mem=0")
  with pytest.raises(ValueError, match="Unknown variant 'fast'"):
    _load("mann_images", "fast")


# --- Shapes, clamping, use of the memory ---------------------------------------

@pytest.mark.parametrize("name", MODELS)
def test_write_read_shapes_and_clamping(name, tiny):
  exp, params, retrieve = tiny[name]
  patterns = _images(jax.random.PRNGKey(1), 4)
  state = exp.model.write(params, patterns)
  if name == "memnet_images":
    assert state.slots.shape == (4, 16 + 1)  # 4 slots of E + 1.
  else:
    assert state.memory.shape == (4, 8) and state.controller.h.shape == (4,)
  queries = _images(jax.random.PRNGKey(2), 4)
  # Nothing known (as the image protocols' None; one compilation for both).
  out = np.asarray(retrieve(params, patterns, queries, np.zeros(queries.shape, bool)))
  assert out.shape == (ITERATES[name], 4, 16, 16, 1)
  assert np.all((out >= 0) & (out <= 1))  # The decoder's sigmoid.
  assert np.abs(out - np.asarray(queries)[None]).max() > 0.1  # Not the query.
  known = np.asarray(jax.random.bernoulli(jax.random.PRNGKey(3), 0.5, queries.shape))
  clamped = np.asarray(retrieve(params, patterns, queries, known))
  np.testing.assert_array_equal(
      clamped[:, known], np.broadcast_to(np.asarray(queries)[known], clamped[:, known].shape))
  np.testing.assert_allclose(clamped[:, ~known], out[:, ~known], rtol=1e-6, atol=1e-6)
  # The loss reads what write + read give (it encodes both in one pass).
  key = jax.random.PRNGKey(7)
  loss, metrics = jax.jit(exp.model.loss)(params, patterns, key)
  distorted, _ = exp.task.distort(key, patterns)
  xs = retrieve(params, patterns, distorted, np.zeros(queries.shape, bool))
  np.testing.assert_allclose(np.asarray(metrics["reconstruction"]), np.asarray(
      models.reconstruction_losses(xs, patterns)), rtol=1e-5)
  np.testing.assert_allclose(float(loss), float(np.sum(metrics["reconstruction"])),
                             rtol=1e-6)
  # The stored images matter: other ones give another read of the same queries.
  other = np.asarray(retrieve(params, _images(jax.random.PRNGKey(4), 4), queries,
                               np.zeros(queries.shape, bool)))
  assert np.abs(other - out).max() > 1e-4


def test_sharp_attention_reads_the_matching_slot_exactly(tiny):
  """With the attention's inverse temperature set to 1e4, a clean stored
  image as the query puts all the weight on its own slot m_i, so hop k's
  state is (k + 1) m_i and the read codes are output((k + 1) m_i) exactly;
  at the initial temperature (1) they are not."""
  exp, params, retrieve = tiny["memnet_images"]
  write, read_codes, decode, _ = map(jax.jit, image_memories.transformed(
      exp.config, exp.task.pattern_shape).apply)
  patterns = _images(jax.random.PRNGKey(5), 4)
  state = write(params, patterns)
  m = np.asarray(state.slots[:, :-1], np.float64)  # [S, E]; written in order.
  np.testing.assert_array_equal(np.asarray(state.slots[:, -1]), 1.0)
  gram = m @ m.T
  # Precondition: each slot is its own best match (u(0) = m_i for a clean query).
  margins = np.diag(gram) - np.max(gram - 1e9 * np.eye(4), axis=1)
  assert np.all(margins > 1e-2), margins
  out = params["memory_network/~read/output"]
  w, b = np.asarray(out["w"], np.float64), np.asarray(out["b"], np.float64)
  expected = np.stack([(k + 1) * m @ w + b for k in (1, 2)])  # [K = 2, N, code]

  sharp = jax.tree_util.tree_map(lambda x: x, params)
  sharp["memory_network"] = {"log_inverse_temperature": jnp.log(jnp.float32(1e4))}
  codes = np.asarray(read_codes(sharp, state, patterns))
  np.testing.assert_allclose(codes, expected, rtol=1e-4, atol=1e-4)
  # The images read are the decoded codes of the matching slots.
  images = np.asarray(retrieve(sharp, patterns, patterns, np.zeros(patterns.shape, bool)))
  np.testing.assert_allclose(
      images, np.asarray(decode(sharp, jnp.asarray(expected.reshape(8, -1), jnp.float32))
                         ).reshape(images.shape), rtol=1e-4, atol=1e-4)
  # Blurred attention (the initial β = 1) reads something else.
  blurred = np.asarray(read_codes(params, state, patterns))
  assert np.abs(blurred - expected).max() > 1e-2


# --- One real meta-step each, on real Omniglot ---------------------------------
