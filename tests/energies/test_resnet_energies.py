"""Tests of the image energy models (Appendix C.2-C.5) and shared encoder/decoder.

Tiny widths keep compilation short; image sizes are the paper's, because the
models' shape checks and trunk strides depend on them. Memory-size formulas are
checked at the paper's widths with `jax.eval_shape` (tracing, no compilation).
"""
import functools

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ebmm_jax.core import params as params_lib
from ebmm_jax.energies import blocks
from ebmm_jax.energies import resnet

# name -> (tiny constructor kwargs, image shape the paper uses it on).
TINY = {
    "resnet_fc": (dict(dynamic_size=3, channels=2, code_size=8,
                       representation_size=8, hidden_size=8,
                       output_hidden_size=8), (32, 32, 1)),
    "resnet_conv": (dict(dynamic_size=2, channels=2, hidden_size=4,
                         output_hidden_size=8), (32, 32, 3)),
    "resnet_imagenet": (dict(dynamic_size=2, channels=2, hidden_size=4,
                             output_hidden_size=8), (64, 64, 3)),
    "resnet_lowlevel_conv": (dict(dynamic_size=2, channels=2, hidden_size=4,
                                  output_hidden_size=8), (32, 32, 1)),
}
PAPER_SHAPES = {name: shape for name, (_, shape) in TINY.items()}
BATCH = 2


def _images(seed, shape, batch=BATCH):
  """Uniform images [batch, H, W, C] in [0, 1] (numpy: no RNG to compile)."""
  rng = np.random.RandomState(seed)
  return rng.uniform(size=(batch,) + shape).astype(np.float32)


def _he_params(model, x, seed):
  """Parameters with the model's structure, drawn like its initialisers.

  He-normal weights (Appendix A), zero biases and LayerNorm offsets, unit
  LayerNorm scales, drawn with numpy: compiling Haiku's jitted `init` costs
  XLA's CPU backend ~5 s per model, almost all of it in the random number
  generator, which these tests do not examine. The structure comes from the
  model's own `init`, traced by `jax.eval_shape`.
  """
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)
  rng = np.random.RandomState(seed)

  def draw(module_name, name, value):
    del module_name
    if name == "w":
      fan_in = np.prod(value.shape[:-1])
      return (rng.standard_normal(value.shape) *
              np.sqrt(2. / fan_in)).astype(value.dtype)
    fill = 1. if name == "scale" else 0.
    return np.full(value.shape, fill, value.dtype)

  return hk.data_structures.map(draw, shapes)


# XLA's CPU backend spends seconds per second-order graph in LLVM; these
# tests check values, not speed, so compile them with the cheapest backend
# optimisation level.
FAST_COMPILE = {"xla_backend_optimization_level": 0,
                "xla_llvm_disable_expensive_passes": True}


def _jit(fn):
  return jax.jit(fn, compiler_options=FAST_COMPILE)


def _energy_and_input_grad(model, params, x):
  """Energies [B] and per-example input gradients [B, H, W, C], computed as
  the library does: the gradient of the batch sum."""
  energies, vjp = jax.vjp(lambda x: model.apply(params, x), x)
  grads, = vjp(jnp.ones_like(energies))
  return energies, grads


@functools.lru_cache(maxsize=None)
def _tiny(name):
  """Initialised tiny model, its images [B, H, W, C] and one jitted function
  returning everything the float32 tests look at, built once per model so
  that the tests share a single compilation."""
  kwargs, shape = TINY[name]
  model = hk.without_apply_rng(hk.transform(resnet.make_energy(name, **kwargs)))
  x = _images(1, shape)
  params = _he_params(model, x, seed=0)

  def energy_grad_and_meta_grad(params, x):
    memory, static = params_lib.split_memory(params)

    def grad_penalty(memory):
      # The ||grad_x E||^2 term of the writing loss, Eq. (3).
      energies, grads = _energy_and_input_grad(
          model, hk.data_structures.merge(memory, static), x)
      return jnp.sum(grads ** 2), (energies, grads)

    (penalty, (energies, grads)), memory_grads = jax.value_and_grad(
        grad_penalty, has_aux=True)(memory)
    return energies, grads, penalty, memory_grads

  return model, params, x, _jit(energy_grad_and_meta_grad)


@pytest.mark.parametrize("name", sorted(TINY))
def test_energy_is_finite_per_example_and_differentiable(name):
  _, params, x, compute = _tiny(name)
  energies, grads, _, _ = compute(params, x)
  assert energies.shape == (BATCH,)
  assert energies.dtype == jnp.float32
  assert np.all(np.isfinite(energies))
  assert grads.shape == x.shape
  assert np.all(np.isfinite(grads))
  # Reading needs a gradient for every image, not just a nonzero batch sum.
  assert np.all(np.abs(grads).reshape(BATCH, -1).max(axis=1) > 0)
  # Different images get different energies (the output is not constant).
  assert abs(float(energies[0] - energies[1])) > 0

  # Per-example independence: the library takes per-example gradients as the
  # gradient of the batch sum, which is only right if no layer mixes examples.
  x_other = x.copy()
  x_other[1] = _images(7, x.shape[1:], batch=1)[0]
  energies_other, grads_other, _, _ = compute(params, x_other)
  np.testing.assert_allclose(energies_other[0], energies[0], rtol=1e-6, atol=0)
  np.testing.assert_allclose(grads_other[0], grads[0], rtol=1e-5, atol=1e-9)
  assert float(energies_other[1]) != float(energies[1])


@pytest.mark.parametrize("name", sorted(TINY))
def test_input_gradient_matches_float64_finite_differences(name):
  model, params32, x32, _ = _tiny(name)
  with jax.enable_x64(True):
    params = jax.tree_util.tree_map(lambda p: jnp.asarray(p, jnp.float64),
                                    params32)
    # Keep away from 0 and 1: the data, not the energy, is clipped there.
    x = jnp.asarray(x32, jnp.float64) * 0.8 + 0.1
    direction = np.random.RandomState(3).standard_normal(x.shape)
    compute = _jit(functools.partial(_energy_and_input_grad, model))
    energies, grads = compute(params, x)
    assert energies.dtype == jnp.float64
    eps = 1e-5
    e_plus, _ = compute(params, x + eps * direction)
    e_minus, _ = compute(params, x - eps * direction)
    finite_difference = (e_plus - e_minus) / (2 * eps)                 # [B]
    analytic = jnp.sum(grads * direction, axis=(1, 2, 3))              # [B]
    np.testing.assert_allclose(analytic, finite_difference, rtol=1e-6,
                               atol=1e-9 * float(jnp.abs(analytic).max()))
    assert np.all(np.abs(analytic) > 0)


@pytest.mark.parametrize("name", sorted(TINY))
def test_grad_of_squared_input_gradient_is_finite(name):
  """Writing (Eq. 3, 4) differentiates ||grad_x E||^2 w.r.t. the memory."""
  _, params, x, compute = _tiny(name)
  _, _, penalty, memory_grads = compute(params, x)
  assert np.isfinite(float(penalty)) and float(penalty) > 0
  memory, _ = params_lib.split_memory(params)
  assert (jax.tree_util.tree_structure(memory_grads) ==
          jax.tree_util.tree_structure(memory))
  leaves = jax.tree_util.tree_leaves(memory_grads)
  assert leaves and all(np.all(np.isfinite(g)) for g in leaves)
  # Writing can only move the memory if the penalty depends on it.
  assert any(np.abs(g).max() > 0 for g in leaves)


@pytest.mark.parametrize("name", sorted(TINY))
def test_memory_size_matches_formula_at_paper_widths(name):
  shape = PAPER_SHAPES[name]
  sizes = []
  for dynamic_size in (5, 12):
    model = hk.transform(resnet.make_energy(name, dynamic_size=dynamic_size))
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0),
                            jnp.zeros((BATCH,) + shape))
    memory, static = params_lib.split_memory(params)
    assert params_lib.count_floats(memory) > 0
    assert params_lib.count_floats(static) > 0
    # Only modules literally named `memory` are writable.
    assert all(path.rsplit("/", 1)[-1] == "memory" for path in memory)
    size = params_lib.memory_size(params)
    assert size == resnet.memory_floats(name, dynamic_size)
    sizes.append(size)
  # Memory is linear in dynamic_size with no constant term.
  assert sizes[1] * 5 == sizes[0] * 12


def test_memory_formulas_at_paper_settings():
  # Figure 5b: the C.4 model with the paper's dynamic_size=8 has ~18K memory.
  assert resnet.memory_floats("resnet_imagenet") == 2 * (9 * 128 + 1) * 8
  assert resnet.memory_floats("resnet_conv", 8) == 2 * (9 * 64 + 1) * 8
  assert resnet.memory_floats("resnet_fc", 8) == 257 * 8
  assert resnet.memory_floats("resnet_lowlevel_conv") == (
      (9 * 32 + 1) * 8 + (9 * 64 + 1) * 8)
  # Non-default widths flow into the formula.
  assert resnet.memory_floats("resnet_conv", 2, channels=4) == 2 * (9 * 8 + 1) * 2
  with pytest.raises(ValueError, match="no default dynamic_size"):
    resnet.memory_floats("resnet_conv")
  with pytest.raises(ValueError, match="Unknown image energy model"):
    resnet.memory_floats("resnet_fully_connected", 8)


@pytest.mark.parametrize("name", sorted(TINY))
def test_dynamic_size_for_budget(name):
  budget = 4096  # The "4K memory" point of Table 3.
  d = resnet.dynamic_size_for_budget(name, budget)
  assert resnet.memory_floats(name, d) <= budget
  assert resnet.memory_floats(name, d + 1) > budget
  with pytest.raises(ValueError, match="at least"):
    resnet.dynamic_size_for_budget(name, resnet.memory_floats(name, 1) - 1)
  with pytest.raises(ValueError, match="more than"):
    resnet.dynamic_size_for_budget(name, 10 ** 9)


def test_rejects_bad_images_and_sizes():
  model = hk.transform(resnet.make_energy("resnet_conv", dynamic_size=4))
  key = jax.random.PRNGKey(0)
  with pytest.raises(ValueError, match="rank 3"):
    jax.eval_shape(model.init, key, jnp.zeros((32, 32, 1)))
  with pytest.raises(ValueError, match="multiples of 8.*30x32"):
    jax.eval_shape(model.init, key, jnp.zeros((2, 30, 32, 1)))
  imagenet = hk.transform(resnet.make_energy("resnet_imagenet"))
  with pytest.raises(ValueError, match="multiples of 16.*40x40"):
    jax.eval_shape(imagenet.init, key, jnp.zeros((2, 40, 40, 3)))
  with pytest.raises(ValueError, match=r"dynamic_size must be an integer in \[1, 128\]"):
    resnet.make_energy("resnet_conv", dynamic_size=129)
  with pytest.raises(ValueError, match=r"\[1, 512\]"):
    resnet.make_energy("resnet_fc", dynamic_size=0)
  with pytest.raises(ValueError, match="hops must be >= 1"):
    resnet.make_energy("resnet_lowlevel_conv", hops=0)
  with pytest.raises(ValueError, match="unexpected keyword argument 'bogus'"):
    resnet.make_energy("resnet_conv", dynamic_size=4, bogus=1)
  with pytest.raises(ValueError, match="no default dynamic_size"):
    resnet.make_energy("resnet_conv")
  assert resnet.downsampling("resnet_imagenet") == 16
  assert resnet.downsampling("resnet_conv", dynamic_size=4) == 8
  decoder = hk.transform(lambda code: blocks.Decoder((30, 30, 1))(code))
  with pytest.raises(ValueError, match="multiples of 8; got 30x30"):
    jax.eval_shape(decoder.init, key, jnp.zeros((2, 8)))


def test_encoder_decoder_round_trip_shapes():
  image_shape = (32, 32, 3)

  @hk.without_apply_rng
  @hk.transform
  def autoencoder(x):
    code = blocks.Encoder(channels=2, code_size=8)(x)
    return code, blocks.Decoder(image_shape, channels=2)(code)

  x = _images(0, image_shape)
  params = _he_params(autoencoder, x, seed=1)
  code, reconstruction = _jit(autoencoder.apply)(params, x)
  assert code.shape == (BATCH, 8)
  assert reconstruction.shape == x.shape
  assert np.all((reconstruction >= 0) & (reconstruction <= 1))
  # The decoder depends on the code: two different images decode differently.
  assert np.abs(reconstruction[0] - reconstruction[1]).max() > 0
  # Encoder/decoder hold no writable parameters (they are shared, static).
  memory, _ = params_lib.split_memory(params)
  assert not memory


@pytest.mark.parametrize("kernel,stride,hw", [
    ((3, 3), 1, (8, 8)), ((3, 3), 2, (8, 8)), ((3, 3), 2, (7, 9)),
    ((1, 1), 1, (8, 8)), ((1, 1), 2, (8, 8))])
def test_im2col_conv_is_hk_conv2d(kernel, stride, hw):
  # blocks.Conv2D (slices + one matmul, so that the meta-gradient's third
  # derivatives avoid XLA CPU's slow weight-gradient convolutions) must be
  # hk.Conv2D: same parameters (names, shapes, initial values), same outputs,
  # same gradients w.r.t. the input and the parameters.
  make = lambda conv: hk.without_apply_rng(hk.transform(
      lambda x: conv(5, kernel, stride=stride, w_init=blocks.he_init(),
                     name="memory")(x)))
  ref, new = make(hk.Conv2D), make(blocks.Conv2D)
  x = _images(3, hw + (3,))
  params = ref.init(jax.random.PRNGKey(0), x)
  jax.tree_util.tree_map(np.testing.assert_array_equal, params,
                         new.init(jax.random.PRNGKey(0), x))
  params = _he_params(ref, x, seed=2)
  params = hk.data_structures.map(  # Nonzero biases, so `b` is checked too.
      lambda m, n, v: v + 0.1 if n == "b" else v, params)

  def outputs_and_grads(model):
    def f(params, x):
      loss = lambda p, x: jnp.sum(jnp.sin(model.apply(p, x)))
      return (model.apply(params, x),) + jax.grad(loss, (0, 1))(params, x)
    return _jit(f)(params, x)

  for want, got in zip(jax.tree_util.tree_leaves(outputs_and_grads(ref)),
                       jax.tree_util.tree_leaves(outputs_and_grads(new))):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  out_h, out_w = (-(-hw[0] // stride), -(-hw[1] // stride))
  assert new.apply(params, x).shape == (BATCH, out_h, out_w, 5)


@pytest.mark.parametrize("stride", [1, 2])
def test_avg_pool_is_hk_avg_pool(stride):
  x = _images(4, (7, 8, 3))
  want = hk.avg_pool(x, (1, 3, 3, 1), (1, stride, stride, 1), "SAME")
  np.testing.assert_allclose(blocks._avg_pool(jnp.asarray(x), stride), want,
                             rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["resnet_conv", "resnet_lowlevel_conv"])
def test_shortcut_pooled_before_its_projection_is_the_papers_order(name):
  # Appendix C.3 pools the downscaling shortcut after its 1x1 projection;
  # the library pools first (cheaper). Same parameters, same energy, input
  # gradient and writing-loss gradient, to float32 rounding.
  kwargs, shape = TINY[name]
  model = hk.without_apply_rng(hk.transform(resnet.make_energy(name, **kwargs)))
  x = _images(3, shape)
  results = {}
  for where in ("after", "before"):
    with blocks.shortcut_pool(where):
      params = _he_params(model, x, seed=0)
      memory, static = params_lib.split_memory(params)

      def penalty(memory):
        energies, grads = _energy_and_input_grad(
            model, hk.data_structures.merge(memory, static), x)
        return jnp.sum(grads ** 2), (energies, grads)

      results[where] = params, jax.jit(jax.value_and_grad(penalty, has_aux=True))(memory)
  (p_after, out_after), (p_before, out_before) = results["after"], results["before"]
  jax.tree_util.tree_map(np.testing.assert_array_equal, p_after, p_before)
  for a, b in zip(jax.tree_util.tree_leaves(out_after), jax.tree_util.tree_leaves(out_before)):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6 * float(np.abs(a).max()))
  # The two orders trace different programs (the switch is in force; a new
  # function each time, so that no cached trace is reused).
  with blocks.shortcut_pool("after"):
    jaxpr_after = str(jax.make_jaxpr(lambda p, x: model.apply(p, x))(p_after, x))
  assert jaxpr_after != str(jax.make_jaxpr(lambda p, x: model.apply(p, x))(p_after, x))


def test_shortcut_pool_refuses_an_unknown_order():
  with pytest.raises(ValueError, match="'before' or 'after'"):
    with blocks.shortcut_pool("middle"):
      pass
