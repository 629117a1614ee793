"""Energies in any network library (`ebmm_jax/core/energy.py`, docs/energies.md).

The gated RNN of Appendix C.1 exists in Haiku, Flax NNX and Equinox; loaded
with the same weights, the ports must give Haiku's energies, input gradients,
parameter gradients and meta-gradients (Eq. 5). The Haiku path must be the
one of the code before the interface existed: `GOLDEN` holds its parameters
after 20 meta-steps, computed with that code.
"""
import json
import os
import subprocess
import sys

import chex
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ebmm_jax import api
from ebmm_jax import setups
from ebmm_jax import training
from ebmm_jax.core import energy as energy_lib
from ebmm_jax.core import meta
from ebmm_jax.core import params as params_lib
from ebmm_jax.data import binary_strings
from ebmm_jax import energies as energies_package
from ebmm_jax.energies import rnn
from ebmm_jax.experiments import cli
from ebmm_jax.setups import configuration
from ebmm_jax.training import checkpoint
from ebmm_jax.training import parallel
from tests import helpers

PORTS = ("nnx", "equinox")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (sum, sum of squares) of each meta-parameter after 20 meta-steps of
# `helpers.tiny_experiment()` on one device (`_train`), computed with the code
# before the energy interface (commit cace89a); bit-identical there and here.
GOLDEN = {
    ".static['gated_rnn_energy/energy']['b']": (0.0, 0.0),
    ".static['gated_rnn_energy/energy']['w']": (-1.2338675148785114, 2.853678970918361),
    ".static['gated_rnn_energy/input_projection']['b']": (0.1753314845263958, 0.09365112058888232),
    ".static['gated_rnn_energy/input_projection']['w']": (2.3666067802987527, 17.130358138212248),
    ".static['gated_rnn_energy/recurrent']['w']": (-5.146625557914376, 9.051044032360885),
    ".write.init_memory['gated_rnn_energy/memory']['b']": (-0.09327061288058758, 0.00804730148391528),
    ".write.init_memory['gated_rnn_energy/memory']['w']": (-3.0631418363191187, 5.404673258477226),
    ".write.learning_rates['gated_rnn_energy/memory']['b']": (-17.76664400100708, 52.62828556733484),
    ".write.learning_rates['gated_rnn_energy/memory']['w']": (-17.584710121154785, 51.579703167066214),
    ".write.penalties": (1.0148468017578125, 0.5280906922392958),
    ".read.step_sizes": (3.0058010816574097, 5.803994386439925),
    ".read.momentum": (2.4373299181461334, 5.383725272288623),
}


def _train(exp, num_steps):
  """`num_steps` meta-steps of the training loop's step on one device."""
  mesh = parallel.make_mesh(jax.devices()[:1])
  state = jax.device_put(training.initial_state(exp), parallel.replicated(mesh))
  step_fn = training.make_train_step(exp, mesh)
  sample = training.make_sampler(exp, mesh)
  _, k_data, k_distort = training.run_keys(exp.config.seed)
  for i in range(num_steps):
    state, metrics = step_fn(state, sample(jax.random.fold_in(k_data, i)),
                             jax.random.fold_in(k_distort, i))
  return jax.device_get(state), metrics


def test_haiku_meta_steps_are_unchanged():
  state, _ = _train(helpers.tiny_experiment(), 20)
  leaves = jax.tree_util.tree_flatten_with_path(state.meta_params)[0]
  got = {jax.tree_util.keystr(p): np.asarray(v, np.float64) for p, v in leaves}
  assert sorted(got) == sorted(GOLDEN)
  for name, (total, squares) in GOLDEN.items():
    # Bit-identical on the machine that computed GOLDEN; the tolerance leaves
    # room for another CPU's code generation only.
    np.testing.assert_allclose(got[name].sum(), total, rtol=1e-6, atol=1e-9, err_msg=name)
    np.testing.assert_allclose(np.square(got[name]).sum(), squares, rtol=1e-6, err_msg=name)


def test_haiku_adapter_keeps_haiku_parameters():
  fn = rnn.make_gated_rnn_energy(8, 3, 2)
  transformed = hk.without_apply_rng(hk.transform(fn))
  energy = energy_lib.from_haiku(transformed)
  x = jnp.ones((1, 16))
  params = energy.init(jax.random.PRNGKey(0), x)
  chex.assert_trees_all_equal(params, transformed.init(jax.random.PRNGKey(0), x))
  memory, static = energy.split(params)
  want_memory, want_static = params_lib.split_memory(params)
  chex.assert_trees_all_equal((memory, static), (want_memory, want_static))
  assert list(memory) == ["gated_rnn_energy/memory"]
  merged = energy.merge(static, memory)
  assert merged == hk.data_structures.merge(static, memory)
  # An hk.Transformed is read as a Haiku energy with the same parameters.
  exp = helpers.tiny_experiment()
  assert exp.model.network.library == "haiku"
  chex.assert_trees_all_equal(
      meta.init_meta_params(jax.random.PRNGKey(1), transformed, (16,)),
      meta.init_meta_params(jax.random.PRNGKey(1), energy, (16,)))


def test_he_initializer_draws_haikus_he_init():
  key = jax.random.PRNGKey(7)
  for scale, shape in ((2.0, (16, 9)), (2.0 * 16 / 40, (16, 33))):
    # The key Haiku's initialiser draws with, then both initialisers on it.
    first_key = hk.transform(hk.next_rng_key).apply({}, key)
    haiku_draw = hk.transform(
        lambda: params_lib.he_init(scale)(shape, jnp.float32)).apply({}, key)
    ours = params_lib.he_initializer(scale)(first_key, shape, jnp.float32)
    np.testing.assert_allclose(ours, haiku_draw, rtol=1e-6, atol=1e-7)
    assert float(jnp.std(ours)) > 0.1


# ---------------------------------------------------------------------------
# The ports on Haiku's weights.

_LAYERS = ("memory", "input_projection", "recurrent", "energy")
_WEIGHT = {"nnx": "kernel", "equinox": "weight"}


def _from_haiku(tree, library, transpose=True):
  """A Haiku tree of the gated RNN (`{'gated_rnn_energy/<layer>': {'w', 'b'}}`)
  in `library`'s parameter layout; Equinox weights are [out, in]."""
  out = {}
  for module, leaves in tree.items():
    layer = module.split("/")[-1]
    out[layer] = {}
    for name, value in leaves.items():
      if name == "w":
        if library == "equinox" and transpose:
          value = jnp.swapaxes(value, -1, -2)
        out[layer][_WEIGHT[library]] = value
      else:
        out[layer]["bias"] = value
  return out


def _to_haiku(tree, library, transpose=True):
  out = {}
  for layer, leaves in tree.items():
    module = f"gated_rnn_energy/{layer}"
    out[module] = {}
    for name, value in leaves.items():
      if name == "bias":
        out[module]["b"] = value
      else:
        if library == "equinox" and transpose:
          value = jnp.swapaxes(value, -1, -2)
        out[module]["w"] = value
  return out


def _meta_from_haiku(mp, library):
  return mp._replace(
      static=_from_haiku(mp.static, library),
      write=mp.write._replace(
          init_memory=_from_haiku(mp.write.init_memory, library),
          learning_rates=_from_haiku(mp.write.learning_rates, library, transpose=False)))


def _meta_to_haiku(mp, library):
  return mp._replace(
      static=_to_haiku(mp.static, library),
      write=mp.write._replace(
          init_memory=_to_haiku(mp.write.init_memory, library),
          learning_rates=_to_haiku(mp.write.learning_rates, library, transpose=False)))


@pytest.mark.parametrize("library", PORTS)
def test_port_gives_haikus_energies_and_gradients(library):
  sizes = dict(input_size=12, hidden_size=10, dynamic_size=4, hops=3)
  haiku = energy_lib.from_haiku(hk.without_apply_rng(hk.transform(
      rnn.make_gated_rnn_energy(sizes["hidden_size"], sizes["dynamic_size"], sizes["hops"]))))
  port = setups.binary.make_energy(helpers.tiny_config(**{
      "energy.library": library, "energy.input_size": 12, "data.pattern_dim": 12,
      "energy.hidden_size": 10, "energy.dynamic_size": 4, "energy.hops": 3}))
  assert port.library == library
  x = jax.random.uniform(jax.random.PRNGKey(0), (6, 12), minval=-1.0, maxval=1.0)
  params = haiku.init(jax.random.PRNGKey(1), x[:1])
  # Non-zero biases, so that a dropped or misplaced bias shows.
  params = jax.tree_util.tree_map(
      lambda p: p + 0.1 * jax.random.normal(jax.random.PRNGKey(p.size), p.shape), params)
  ported = _from_haiku(params, library)
  chex.assert_trees_all_equal_shapes_and_dtypes(
      ported, port.init(jax.random.PRNGKey(1), x[:1]))

  np.testing.assert_allclose(port.apply(ported, x), haiku.apply(params, x),
                             rtol=1e-5, atol=1e-5)
  cotangent = jax.random.normal(jax.random.PRNGKey(2), (6,))
  loss = lambda apply, p, x_: jnp.sum(cotangent * apply(p, x_))
  gp_haiku, gx_haiku = jax.grad(loss, argnums=(1, 2))(haiku.apply, params, x)
  gp_port, gx_port = jax.grad(loss, argnums=(1, 2))(port.apply, ported, x)
  np.testing.assert_allclose(gx_port, gx_haiku, rtol=1e-5, atol=1e-5)
  chex.assert_trees_all_close(_to_haiku(gp_port, library), gp_haiku, rtol=1e-5, atol=1e-5)
  assert float(jnp.abs(gx_haiku).max()) > 1e-3  # Not vacuous.


@pytest.mark.parametrize("library", PORTS)
def test_port_gives_haikus_meta_loss_and_meta_gradient(library):
  haiku_exp = helpers.tiny_experiment()
  port_exp = helpers.tiny_experiment(**{"energy.library": library})
  mp = haiku_exp.model.init(jax.random.PRNGKey(0))
  ported = _meta_from_haiku(mp, library)
  chex.assert_trees_all_equal_shapes_and_dtypes(
      ported, port_exp.model.init(jax.random.PRNGKey(0)))
  patterns = binary_strings.sample_patterns(jax.random.PRNGKey(3), 4, 16)
  key = jax.random.PRNGKey(4)
  value_and_grad = lambda exp, p: jax.jit(jax.value_and_grad(
      lambda p_: exp.model.loss(p_, patterns, key)[0]))(p)
  loss_haiku, grad_haiku = value_and_grad(haiku_exp, mp)
  loss_port, grad_port = value_and_grad(port_exp, ported)
  np.testing.assert_allclose(loss_port, loss_haiku, rtol=1e-5)
  chex.assert_trees_all_close(_meta_to_haiku(grad_port, library), grad_haiku,
                              rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("library", ("haiku",) + PORTS)
def test_energy_declares_its_memory(library):
  exp = helpers.tiny_experiment(**{"energy.library": library})
  x = jnp.zeros((1, 16))
  # The writable Linear(16 -> 3): weights and bias (Appendix C.1).
  assert energy_lib.memory_floats(exp.model.network, x) == rnn.memory_floats(16, 3) == 51
  assert exp.model.memory_floats == 51
  params = exp.model.network.init(jax.random.PRNGKey(0), x)
  memory, static = exp.model.network.split(params)
  assert [k.split("/")[-1] for k in memory] == ["memory"]
  assert not any(k.endswith("memory") for k in static)
  chex.assert_trees_all_equal(exp.model.network.merge(static, memory), params)


@pytest.mark.parametrize("library", PORTS)
def test_port_is_he_initialised_like_haiku(library):
  """Every block has the Haiku version's weight variance (Appendix A: 2 / the
  concatenation's fan-in) and zero biases."""
  d, h, dyn = 64, 96, 20
  config = helpers.tiny_config(**{"energy.library": library, "energy.input_size": d,
                                  "data.pattern_dim": d, "energy.hidden_size": h,
                                  "energy.dynamic_size": dyn})
  params = setups.binary.make_energy(config).init(jax.random.PRNGKey(0), jnp.zeros((1, d)))
  variances = {"memory": 2.0 / d, "input_projection": 2.0 / (d + h),
               "recurrent": 2.0 / (d + h), "energy": 2.0 / h}
  for layer, variance in variances.items():
    w = np.asarray(params[layer][_WEIGHT[library]])
    n = w.size
    # The sample variance of n draws is within 5 standard errors (sqrt(2/n)).
    assert abs(w.var() / variance - 1) < 5 * np.sqrt(2.0 / n) + 0.02, layer
    assert np.abs(w).max() <= 2 * np.sqrt(variance) / 0.8796 + 1e-6, layer  # Truncated at 2 sd.
    if "bias" in params[layer]:
      assert not np.any(params[layer]["bias"]), layer


@pytest.mark.parametrize("library", PORTS)
def test_port_meta_trains_checkpoints_and_serves(library, tmp_path):
  config = helpers.tiny_config(**{"energy.library": library})
  exp = setups.build(config)
  state, metrics = _train(exp, 3)
  assert bool(metrics["finite"]) and int(state.step) == 3
  init = exp.model.init(jax.random.PRNGKey(config.seed))
  assert not np.allclose(state.meta_params.write.init_memory["memory"]["bias"],
                         init.write.init_memory["memory"]["bias"])
  # Checkpoints stay plain trees of arrays.
  path = str(tmp_path / "meta_params.npz")
  checkpoint.save_tree(path, state.meta_params)
  template = jax.tree_util.tree_map(np.asarray, init)
  restored = checkpoint.load(path, template)
  chex.assert_trees_all_equal(restored, jax.device_get(state.meta_params))
  # The API writes and reads with it, and saves and loads it.
  mem = api.Memory.from_config(config, restored)
  patterns = np.asarray(binary_strings.sample_patterns(jax.random.PRNGKey(5), 4, 16))
  mem.write(patterns)
  assert mem.read(patterns).shape == (2, 4, 16) and mem.energy(patterns).shape == (4,)
  mem.save(str(tmp_path / "saved"))
  again = api.Memory.load(str(tmp_path / "saved"))
  again.write(patterns)
  np.testing.assert_array_equal(again.energy(patterns), mem.energy(patterns))


def test_unknown_energy_library_is_rejected():
  with pytest.raises(ValueError, match=r"energy.library='torch' must be one of"):
    configuration.validate(helpers.tiny_config(**{"energy.library": "torch"}))


def test_missing_extra_is_a_one_line_error(monkeypatch):
  monkeypatch.setitem(sys.modules, "flax", None)  # As if flax were not installed.
  with pytest.raises(energy_lib.MissingExtraError) as error:
    energy_lib.require("nnx")
  message = str(error.value)
  assert "\n" not in message and "pip install 'ebmm-jax[flax]'" in message
  # A config that asks for the library fails the same way when it is built,
  # and the launchers print it as one line (a user error, no traceback).
  monkeypatch.delitem(sys.modules, "ebmm_jax.energies.rnn_nnx", raising=False)
  monkeypatch.delattr(energies_package, "rnn_nnx", raising=False)
  with pytest.raises(energy_lib.MissingExtraError, match=r"ebmm-jax\[flax\]"):
    setups.build(helpers.tiny_config(**{"energy.library": "nnx"}))
  assert issubclass(energy_lib.MissingExtraError, cli.USER_ERRORS)


@pytest.mark.slow
@pytest.mark.parametrize("library", PORTS)
def test_launcher_meta_trains_a_port(library, tmp_path):
  """`experiments.train` on `binary:runlocal` with `energy.library` set: the
  run ends at its 20th meta-step with finite losses and a checkpoint the API
  reads."""
  env = dict(os.environ)
  env["XLA_FLAGS"] = " ".join(
      f for f in env.get("XLA_FLAGS", "").split()
      if not f.startswith("--xla_force_host_platform_device_count"))
  workdir = tmp_path / "run"
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.train", "--config=configs/binary.py:runlocal",
       f"--config.energy.library={library}", f"--workdir={workdir}"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  mem = api.Memory.from_workdir(str(workdir))
  assert mem.config.energy.library == library
  assert set(mem.meta_params.write.init_memory) == {"memory"}
  lines = (workdir / "metrics.jsonl").read_text().splitlines()
  assert '"step": 20' in lines[-1] and '"finite": true' in lines[-1]


@pytest.mark.slow
def test_guide_example_runs(capsys):
  """docs/energies.md's example, as printed there: a Flax NNX energy counted,
  meta-trained, written and read."""
  text = open(os.path.join(ROOT, "docs", "energies.md")).read()
  code = text.split("```python\n", 1)[1].split("```", 1)[0]
  exec(compile(code, "docs/energies.md", "exec"), {})  # pylint: disable=exec-used
  out = capsys.readouterr().out
  assert "memory floats: 544" in out
  loss = float(out.split("meta-loss:", 1)[1].split()[0])
  assert np.isfinite(loss)
  assert "error bits:" in out


@pytest.mark.slow
def test_energy_benchmark_compares_the_libraries(tmp_path):
  """experiments/energy_benchmark.py: one row per library, ratios recomputed
  from its raw step times, and XLA FLOP counts equal to 0.1% (the ports lower
  to the same arithmetic)."""
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  out = tmp_path / "bench.json"
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.energy_benchmark", "--config=binary:runlocal",
       "--rounds=3", f"--output={out}"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  rows = json.loads(out.read_text())["libraries"]
  assert [r["library"] for r in rows] == ["haiku", "nnx", "equinox"]
  for r in rows:
    assert len(r["step_s"]) == 3 and r["memory_floats"] == 128 * 63 + 63
    np.testing.assert_allclose(r["step_s_median"], np.median(r["step_s"]))
    np.testing.assert_allclose(r["step_vs_first"],
                               r["step_s_median"] / rows[0]["step_s_median"])
    # The same arithmetic: at these sizes XLA counts 1,008 more FLOPs (0.007%)
    # in both ports than in Haiku's step, N x the writable layer's width.
    np.testing.assert_allclose(r["flops_xla"], rows[0]["flops_xla"], rtol=1e-3)
    assert r["flops_xla"] > 0


def test_memory_declared_by_a_variable_type_or_a_leaf_selection():
  """The other declarations docs/energies.md names: an NNX Variable type as the
  filter, and an Equinox selection of single leaves."""
  from flax import nnx  # pylint: disable=g-import-not-at-top
  import equinox as eqx  # pylint: disable=g-import-not-at-top

  class Memory(nnx.Param):
    pass

  class NNXEnergy(nnx.Module):
    def __init__(self, rngs):
      self.a = nnx.Linear(4, 3, rngs=rngs)
      self.gain = Memory(jnp.ones((3,)))  # Writable, whatever its name.

    def __call__(self, x):
      return jnp.sum(jnp.tanh(self.a(x)) * self.gain[...], axis=-1)

  class EqxEnergy(eqx.Module):
    a: eqx.nn.Linear

    def __call__(self, x):
      return jnp.sum(jnp.tanh(jax.vmap(self.a)(x)), axis=-1)

  x = jnp.ones((2, 4))
  nnx_energy = energy_lib.from_nnx(NNXEnergy, memory=Memory)
  eqx_energy = energy_lib.from_equinox(
      lambda key: EqxEnergy(eqx.nn.Linear(4, 3, key=key)), memory=lambda m: (m.a.bias,))
  for energy, writable, floats in ((nnx_energy, {"gain": ()}, 3),
                                   (eqx_energy, {"a": {"bias": ()}}, 3)):
    params = energy.init(jax.random.PRNGKey(0), x)
    memory, static = energy.split(params)
    assert jax.tree_util.tree_map(lambda _: (), memory) == writable
    assert energy_lib.memory_floats(energy, x) == floats
    assert static and energy.apply(energy.merge(static, memory), x).shape == (2,)
    # The written memory changes the energy.
    moved = jax.tree_util.tree_map(lambda m: m + 1.0, memory)
    assert not np.allclose(energy.apply(energy.merge(static, moved), x),
                           energy.apply(params, x))


def test_a_library_port_exists_for_the_gated_rnn_only():
  config = helpers.tiny_config(**{"energy.library": "nnx"})
  config.unlock()
  config.energy.name = "conv_energy"
  with pytest.raises(ValueError, match=r"energy.name='conv_energy' exists in Haiku only"):
    configuration.validate(config)
