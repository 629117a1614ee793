"""Table 2's non-memory image baselines (Appendix A.3): the VAE read by
attractor dynamics and Deep Image Prior.

Tiny models (8x8 images, one ResBlock each way) built straight from a
`model` section and a hand-made task, one compilation per function; one real
meta-step of each through the meta-training loop's jitted step on real
Omniglot (the runlocal configs)."""
import json
import os
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from ebmm_jax import setups
from ebmm_jax import training
from ebmm_jax.baselines import deep_image_prior
from ebmm_jax.setups import registry
from ebmm_jax.baselines import vae
from ebmm_jax.core import distortions
from ebmm_jax.core import models
from ebmm_jax.core import tasks
from ebmm_jax.reporting import table2
from ebmm_jax.setups import configuration
from ebmm_jax.setups import specs
from ebmm_jax.training import parallel

SHAPE = (8, 8, 1)
BLOCK = 4
N = 3


def _task(told=False, shape=SHAPE):
  binary = shape[-1] == 1

  def distort(key, patterns):
    fill = "binary" if binary else "uniform"
    queries, mask = distortions.block_noise(key, patterns, BLOCK, fill)
    return queries, (~mask if told else None)
  if binary:
    return tasks.Task("tiny", shape, (0.0, 1.0), distort, tasks.hamming_error,
                      "Hamming error")
  return tasks.Task("tiny RGB", shape, (0.0, 1.0), distort, tasks.squared_error,
                    "squared error")


def _config(**model):
  fields = dict(channels=2, code_size=8, channel_multipliers=(1,), **model)
  return ml_collections.ConfigDict(dict(
      model=fields, data=dict(distortion="block", block_size=BLOCK, fill="binary")))


def _images(key, n=N):
  return (jax.random.uniform(key, (n, *SHAPE)) > 0.7).astype(jnp.float32)


def test_scan_evenly_keeps_evenly_spaced_iterates_last_included():
  assert vae.kept_steps(7, 3) == (3, 5, 7)
  assert vae.kept_steps(200, 10) == tuple(range(20, 201, 20))
  assert vae.kept_steps(5, 10) == (1, 2, 3, 4, 5)
  count = lambda c: c + 1
  final, outs = vae.scan_evenly(count, jnp.int32(0), 7, 3, lambda c: c * 10)
  assert int(final) == 7
  np.testing.assert_array_equal(outs, [30, 50, 70])
  with pytest.raises(ValueError):
    vae.segment_lengths(0, 3)


def test_vae_attractor_dynamics_lower_the_energy_and_grid_search_scores_them(caplog):
  """Appendix A.3: alternating z gradient steps on E = -log p(x|z) - log p(z)
  and exact x updates lower E; the grid search scores each γ's read and
  logs its progress after each γ."""
  config, task = _config(iterations=12, max_iterates=4), _task()
  model = vae.make_vae(config, task)
  assert model.likelihood == "bernoulli"
  params = model.init(jax.random.PRNGKey(0))
  patterns = _images(jax.random.PRNGKey(1))
  key = jax.random.PRNGKey(2)
  queries, _ = task.distort(key, patterns)
  attract = jax.jit(lambda p, q, g: model.attract(p, q, None, g, 12, 4))
  xs, energies = jax.device_get(attract(params, queries, 0.03))
  assert xs.shape == (4, N, *SHAPE) and energies.shape == (5, N)
  assert set(np.unique(xs)) <= {0.0, 1.0}  # The Bernoulli mode: binary images.
  # E(x(0) = query, z(0) = μ(query)) > E at the first kept iterate (after 3
  # steps) > ... > E(x(K), z(K)), for every image.
  assert np.all(np.diff(energies, axis=0) < 0), energies
  # The z steps, not only the first x update, lower E: with γ = 0, z stays
  # μ(query) and x(t) = mode(z(0)) for every t.
  _, still = jax.device_get(attract(params, queries, 0.0))
  np.testing.assert_allclose(still[1:], np.broadcast_to(still[1], still[1:].shape), rtol=1e-6)
  assert np.all(energies[-1] < still[-1] - 1.0)
  # The energy is the negative joint log-likelihood, nats per image.
  @jax.jit
  def energy_and_reference(p, q):
    z0, _ = model.encode(p, q)
    p0 = jnp.clip(model.means(p, z0), 1e-6, 1 - 1e-6)
    log_lik = jnp.sum(q * jnp.log(p0) + (1 - q) * jnp.log(1 - p0), axis=(1, 2, 3))
    return model.energy(p, q, z0), 0.5 * jnp.sum(z0 ** 2 + np.log(2 * np.pi), -1) - log_lik
  np.testing.assert_allclose(*energy_and_reference(params, queries), rtol=1e-5)
  np.testing.assert_allclose(energies[0], energy_and_reference(params, queries)[0], rtol=1e-5)

  # Grid search over γ on two "training batches": each score is the mean
  # Hamming error of that γ's final read (the read above, for batch 0).
  batches = jnp.stack([patterns, _images(jax.random.PRNGKey(3))])
  grid_key = jax.random.PRNGKey(4)
  with caplog.at_level("INFO", logger="absl"):
    best, scores = vae.grid_search_step_size(config, task, params, batches, grid_key,
                                             step_sizes=(0.0, 0.03))
  assert set(scores) == {0.0, 0.03} and best == min(scores, key=scores.get)
  progress = [r.getMessage() for r in caplog.records if "γ grid search" in r.getMessage()]
  assert [m.split(",")[0] for m in progress] == ["γ grid search: 1/2", "γ grid search: 2/2"]
  assert "ETA" in progress[0]
  for gamma in (0.0, 0.03):
    expected = []
    for b in range(2):
      q, _ = task.distort(jax.random.fold_in(grid_key, b), batches[b])
      expected.append(np.mean(task.score(attract(params, q, gamma)[0][-1], batches[b])))
    np.testing.assert_allclose(scores[gamma], np.mean(expected), rtol=1e-5)


def test_deep_image_prior_fits_outside_the_block_only():
  """DIP's Adam steps lower the fitting loss over the known pixels, and the
  block's content never changes the read."""
  config = _config(fit_steps=30, fit_learning_rate=0.05, max_iterates=3, told_block=True)
  dip = deep_image_prior.make_dip(config, _task(told=True))
  params = dip.init(None)
  patterns = _images(jax.random.PRNGKey(5))
  queries, mask = distortions.block_noise(jax.random.PRNGKey(6), patterns, BLOCK, "binary")
  known = ~mask
  fit = jax.jit(dip.fit)
  xs, losses = jax.device_get(fit(params, queries, known))
  assert xs.shape == (3, N, *SHAPE) and losses.shape == (4, N)
  assert np.all(np.diff(losses, axis=0) < 0) and np.all(losses[-1] < 0.5 * losses[0]), losses
  # The reported loss is the squared error over the known pixels of the
  # unclamped generator output (which is what `generate` computes).
  out = jax.vmap(lambda _: dip.generate(params["generator"], params["code"]))(queries)
  np.testing.assert_allclose(
      losses[0], np.sum(np.where(known, (out - queries) ** 2, 0.0), axis=(1, 2, 3)),
      rtol=1e-5)
  np.testing.assert_array_equal(xs[:, known], np.broadcast_to(queries[known], xs[:, known].shape))
  # Other block contents (even NaN): the same fit, bit for bit.
  for fill in (1.0 - queries, jnp.full_like(queries, jnp.nan)):
    other = jnp.where(mask, fill, queries)
    np.testing.assert_array_equal(jax.device_get(fit(params, other, known)[0]), xs)
  # Not told (every pixel known): the block's noise is fitted too.
  untold, _ = jax.device_get(fit(params, queries, jnp.ones_like(known)))
  assert not np.array_equal(untold[-1][mask], xs[-1][mask])


@pytest.mark.parametrize("name,shape", [("vae", SHAPE), ("vae", (8, 8, 3)),
                                        ("deep_image_prior", SHAPE)])
def test_write_read_shapes_and_no_memory(name, shape):
  assert name in registry.MODELS and name in registry.IMAGE_BASELINES
  config = _config(iterations=25, fit_steps=25, max_iterates=10, told_block=True)
  config.model.name = name
  model = registry.build(config, _task(told=True, shape=shape))
  # Shapes only (nothing compiled).
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0))
  if name == "vae":  # RGB: a Gaussian likelihood with a learned scale.
    assert ("~" in params) == (shape[-1] == 3)
  patterns = jnp.zeros((N, *shape))
  assert model.write(params, patterns) == ()
  assert model.memory_floats == 0
  assert models.state_floats(model.write, model.init, shape, 64) == 0
  # At most 10 evenly spaced iterates.
  known = jnp.ones((N, *shape), bool)
  out = jax.eval_shape(model.retrieve, params, patterns, patterns, known)
  assert out.shape == (10, N, *shape)
  loss, metrics = jax.eval_shape(model.loss, params, patterns, jax.random.PRNGKey(0))
  assert loss.shape == () and metrics["score"].shape == ((5,) if name == "vae" else (10,))
  assert metrics["query_score"].shape == ()


def _one_device_step(exp):
  mesh = parallel.make_mesh(jax.devices()[:1])
  step = training.make_train_step(exp, mesh)
  patterns = exp.sample_train(jax.random.PRNGKey(1), 1, exp.config.data.num_patterns)
  return step, patterns, training.initial_state(exp)


def test_deep_image_prior_step_on_real_omniglot_leaves_params_unchanged(data_dir):
  """DIP through the loop: a zero loss, exactly zero gradients, the
  parameters bit-for-bit unchanged, the told fit's scores logged."""
  config = specs.load("configs/deep_image_prior.py:runlocal",
                      [f"data.data_dir={data_dir}", "train.meta_batch_size=1",
                       "data.image_size=8", "data.block_size=4", "model.fit_steps=3"])
  config.unlock()
  config.model.channel_multipliers = (1,)  # Tiny: one ResBlockTranspose.
  config.lock()
  exp = setups.build(config)
  assert exp.model.memory_floats == 0
  step, patterns, state = _one_device_step(exp)
  before = jax.device_get(state.meta_params)
  state, m = step(state, patterns, jax.random.PRNGKey(0))  # Donates the old state.
  m = jax.device_get(m)
  assert m["finite"] and m["meta_loss"] == 0 and m["grad_norm"] == 0
  assert m["score"].shape == (3,) and np.isfinite(m["fit_loss"])
  # Told: the pixels outside the block are the query's, so at most the
  # block's 16 pixels can be wrong.
  assert np.all(m["score"] <= 16)
  jax.tree_util.tree_map(np.testing.assert_array_equal, jax.device_get(state.meta_params),
                         before)
  # The logged fit is the first query's only (fitting every query of the
  # batch would cost as much as scoring it): the batch's metrics are its.
  batch = exp.sample_train(jax.random.PRNGKey(1), 1, 4)[0]
  _, whole = exp.model.loss(before, batch, jax.random.PRNGKey(2))
  _, first = exp.model.loss(before, batch[:1], jax.random.PRNGKey(2))
  np.testing.assert_array_equal(whole["score"], first["score"])


# --- Table 2's layout (ebmm_jax.reporting.table2) -----------------------------

def test_table2_cells_give_each_column_its_dataset_and_noise():
  cells = table2.cells(["dae", "deep_image_prior"], ["omniglot", "cifar10"],
                       table2.NOISES, "cpu", "/root")
  assert len(cells) == 8
  for c in cells:
    model, dataset, noise = c.key
    d = c.point.config.data
    assert c.point.workdir == f"/root/{model}_{dataset}_{noise}"
    assert (d.name, d.distortion) == (dataset, noise)
    assert d.num_patterns == 64 and c.point.config.model.channels == 16  # cpu widths.
    if noise == "block":  # A quarter of the 32x32 image; {0, 1} or uniform fill.
      assert (d.block_size, d.fill) == (16, "binary" if dataset == "omniglot" else "uniform")
    else:
      assert d.noise_rate == 0.15
    if model == "deep_image_prior":  # Told where the block is; not under salt.
      assert c.point.config.model.told_block == (noise == "block")
  for c in cells:  # Trained on their own noise: scored where trained.
    assert c.trained == c.point
  with pytest.raises(ValueError, match="datasets"):
    table2.cells(["dae"], ["mnist"], ["block"], "cpu", "/root")
  with pytest.raises(ValueError, match="models"):
    table2.cells(["hebb"], ["omniglot"], ["block"], "cpu", "/root")


def test_table2_trains_one_vae_per_dataset_for_both_noises(monkeypatch):
  """The VAE never sees the distortion in training: its salt-and-pepper cell
  is read with the block cell's model, trained once in one call, and scored
  with its own (salt-and-pepper) config, its evaluation kept beside it."""
  cells = table2.cells(["vae", "dae"], ["omniglot"], table2.NOISES, "cpu", "/root")
  by_key = {c.key: c for c in cells}
  block, salt = (by_key[("vae", "omniglot", n)] for n in table2.NOISES)
  assert salt.trained == block.trained == block.point
  assert salt.point.workdir == "/root/vae_omniglot_block"
  assert salt.point.config.data.distortion == "salt_and_pepper"
  assert salt.trained.config.data.distortion == "block"
  dae_salt = by_key[("dae", "omniglot", "salt_and_pepper")]
  assert dae_salt.trained.workdir == "/root/dae_omniglot_salt_and_pepper"

  trained, scored = [], []
  monkeypatch.setattr(table2.runs, "train_or_load", lambda config, workdir, *budget: (
      trained.append((workdir, config.data.distortion, budget)), ("params", 7))[1])
  monkeypatch.setattr(table2, "tune_step_size", lambda point, params, seed, step, batches: (point, {}))
  monkeypatch.setattr(table2.runs, "training_seconds", lambda workdir: 0.0)

  def evaluate_cached(point, params, step, n, batches, seed):
    scored.append((point.workdir, point.config.data.distortion, params, step))
    sizes.append(n)
    return dict(summary={}, steps=step)

  sizes = []
  monkeypatch.setattr(table2.runs, "evaluate_cached", evaluate_cached)
  # A model's test batches may hold fewer queries than its N (--dip_num_queries).
  table2.run_cells(cells, 60.0, 0, 2, 0, num_patterns_for={"dae": 8, "vae": 0})
  assert sizes == [64, 64, 8, 8]
  assert trained == [("/root/vae_omniglot_block", "block", (60.0, 0)),
                     ("/root/dae_omniglot_block", "block", (60.0, 0)),
                     ("/root/dae_omniglot_salt_and_pepper", "salt_and_pepper", (60.0, 0))]
  assert scored[:2] == [("/root/vae_omniglot_block", "block", "params", 7),
                        ("/root/vae_omniglot_block", "salt_and_pepper", "params", 7)]


def test_table2_markdown_puts_each_cell_under_its_column_beside_the_paper():
  summary = lambda mean: dict(mean=mean, p5=mean - 1, p95=mean + 1)
  results = {("dae", "omniglot", "salt_and_pepper"): dict(summary=summary(12.5)),
             ("vae", "cifar10", "block"): dict(summary=summary(600.25))}
  text = table2.markdown(results, ["vae", "dae", "deep_image_prior"],
                         ["omniglot", "cifar10", "imagenet64"], table2.NOISES)
  lines = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()]
  header, rows = lines[0], {r[0]: r[1:] for r in lines[2:]}
  col = lambda noise, dataset: header.index(f"{noise}, {dataset}") - 1
  assert rows["DAE (here)"][col("salt-and-pepper", "omniglot")] == "12.50 [11.5, 13.5]"
  assert rows["VAE (here)"][col("block", "cifar10")] == "600.25 [599.2, 601.2]"
  assert sum(c != "-" for name, r in rows.items() if "(here)" in name for c in r) == 2
  assert rows["DAE (paper)"][col("block", "omniglot")] == "36.08"
  assert rows["DAE (paper)"][col("salt-and-pepper", "imagenet64")] == "69.2"
  assert rows["VAE (paper)"][col("block", "cifar10")] == "544.72"
  assert rows["Deep Image Prior (paper)"][col("block", "imagenet64")] == "170.36*"
  assert rows["Deep Image Prior (paper)"][col("salt-and-pepper", "imagenet64")] == "467.92"
  assert rows["Deep Image Prior (paper)"][col("block", "omniglot")] == "-"


def test_table2_keeps_the_cells_of_earlier_calls_of_the_same_variant(tmp_path):
  """A call for one cell adds it to the saved table (read back whole, in
  Table 2's order) and refuses a table of another size variant."""
  row = lambda mean: dict(summary=dict(mean=mean, p5=mean, p95=mean), steps=3)
  path = str(tmp_path / "table2.json")
  assert table2.load_saved(path, "cpu") == {}
  earlier = {("dae", "cifar10", "block"): row(30.0), ("vae", "omniglot", "block"): row(90.0)}
  with open(path, "w") as f:
    json.dump(table2.record(earlier, "cpu"), f)
  saved = table2.load_saved(path, "cpu")
  assert saved[("dae", "cifar10", "block")]["summary"]["mean"] == 30.0
  assert saved[("vae", "omniglot", "block")]["paper"] == "109.08"
  merged = {**saved, ("dae", "cifar10", "block"): row(25.0),
            ("deep_image_prior", "imagenet64", "salt_and_pepper"): row(400.0)}
  assert table2.present(merged) == (["vae", "dae", "deep_image_prior"],
                                    ["omniglot", "cifar10", "imagenet64"],
                                    ["block", "salt_and_pepper"])
  text = table2.markdown(merged, *table2.present(merged))
  assert "25.00" in text and "90.00" in text and "400.00" in text and "30.00" not in text
  with pytest.raises(ValueError, match="holds the 'cpu' cells, not 'gpu'"):
    table2.load_saved(path, "gpu")


def test_table2_grid_searches_the_vaes_step_size_only(data_dir):
  """The VAE's cell is scored with the γ its grid search picks (the best of
  the scores it returns); other models' cells are left as they are."""
  overrides = [f"data.data_dir={data_dir}"]
  vae_cell, dae_cell = table2.cells(["vae", "dae"], ["omniglot"], ["block"], "runlocal",
                                    "/root", overrides)
  exp = setups.build(vae_cell.point.config)
  params = exp.model.init(jax.random.PRNGKey(0))
  tuned, scores = table2.tune_step_size(vae_cell.point, params, seed=0)
  assert len(scores) == len(vae.STEP_SIZE_GRID) > 1
  assert tuned.config.model.step_size == min(scores, key=scores.get)
  assert tuned.workdir == vae_cell.point.workdir
  assert table2.tune_step_size(dae_cell.point, None, seed=0) == (dae_cell.point, {})


def test_table2_keeps_the_vaes_grid_search_beside_its_evaluations(data_dir, tmp_path,
                                                                   monkeypatch):
  """With the checkpoint's step the search is written to the workdir once and
  read back (same γ and scores) instead of being run again."""
  (vae_cell,) = table2.cells(["vae"], ["omniglot"], ["block"], "runlocal", str(tmp_path),
                             [f"data.data_dir={data_dir}"])
  params = setups.build(vae_cell.point.config).model.init(jax.random.PRNGKey(0))
  tuned, scores = table2.tune_step_size(vae_cell.point, params, seed=0, step=3)
  (saved,) = os.listdir(tmp_path / "vae_omniglot_block" / "evaluations")
  assert saved.startswith("step_size_step3_")
  monkeypatch.setattr(table2.vae, "grid_search_step_size", None)  # Must not run again.
  again, scores_again = table2.tune_step_size(vae_cell.point, params, seed=0, step=3)
  assert scores_again == scores and again.config.model.step_size == tuned.config.model.step_size
  with pytest.raises(TypeError):  # Another step, another search.
    table2.tune_step_size(vae_cell.point, params, seed=0, step=4)
  with pytest.raises(TypeError):  # Fewer training batches, another search.
    table2.tune_step_size(vae_cell.point, params, seed=0, step=3, num_batches=1)
