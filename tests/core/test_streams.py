"""Stream writes: a memory's patterns arrive in chunks, with a meta-learned
forgetting between them; the forgetting-curve evaluator."""
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ebmm_jax import setups
from ebmm_jax import training
from ebmm_jax.baselines import hopfield
from ebmm_jax.core import memory as memory_lib
from ebmm_jax.core import meta
from ebmm_jax.data import binary_strings
from ebmm_jax.reporting import forgetting
from ebmm_jax.setups import specs
from ebmm_jax.training import optimizer as optimizer_lib
from ebmm_jax.training import parallel
from ebmm_jax.training import workdir as workdir_lib
from tests import helpers

N = 8
CHUNKS = (2, 2, 2, 2)
STREAM = {"data.num_patterns": N, "memory.stream_chunks": "2,2,2,2",
          "memory.write_lr_init": 0.2}


def _patterns(n=N, key=0):
  return binary_strings.sample_patterns(jax.random.PRNGKey(key), n, 16)


def _with_forgetting(mp, raw):
  """The meta-parameters with every tensor's raw forgetting logit at `raw`."""
  return mp._replace(write=mp.write._replace(forgetting=jax.tree_util.tree_map(
      lambda _: jnp.float32(raw), mp.write.init_memory)))


def _leaves(tree):
  return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def _chunk_loop(exp, mp, x, chunks, lam):
  """A literal Python loop over the chunks: θ = θ̄ + λ (θ - θ̄), then
  write(memory=θ); λ a float (the same for every tensor)."""
  theta, start = None, 0
  for size in chunks:
    if theta is not None:
      theta = jax.tree_util.tree_map(lambda t, t0: t0 + lam * (t - t0), theta,
                                     mp.write.init_memory)
    theta, _ = meta.write(exp.model.network.apply, mp, x[start:start + size], rule=exp.model.rule,
                          memory=theta)
    start += size
  return theta


def test_a_prior_at_the_start_holds_each_chunk_s_write_near_the_forgotten_memory():
  """`memory.write_prior="start"`: each chunk's write is Eq. (4) from the
  forgotten memory with Eq. (3)'s prior centred there, i.e. the paper's
  write from θ̄ with θ̄ replaced by that memory (a literal loop); with the
  prior at θ̄ the stream is another memory. The first chunk (and a one-chunk
  write) is the paper's write either way."""
  overrides = {**STREAM, "memory.prior_penalty_init": 5.0}
  exp = helpers.tiny_experiment(**overrides, **{"memory.write_prior": "start"})
  assert exp.model.rule.write_prior == "start"
  lam = 0.6
  mp = _with_forgetting(exp.model.init(jax.random.PRNGKey(0)), float(memory_lib.logit(lam)))
  x = _patterns()
  apply, rule = exp.model.network.apply, exp.model.rule
  streamed, _ = meta.stream_write(apply, mp, x, CHUNKS, rule=rule)
  theta, start = None, 0
  for size in CHUNKS:
    start_memory = mp.write.init_memory if theta is None else jax.tree_util.tree_map(
        lambda t, t0: t0 + lam * (t - t0), theta, mp.write.init_memory)
    moved = mp._replace(write=mp.write._replace(init_memory=start_memory))
    theta, _ = meta.write(apply, moved, x[start:start + size], rule=rule._replace(
        write_prior="init"))
    start += size
  chex.assert_trees_all_close(streamed, theta, rtol=1e-4, atol=1e-5)
  at_init, _ = meta.stream_write(apply, mp, x, CHUNKS, rule=rule._replace(write_prior="init"))
  assert not np.allclose(_leaves(streamed)[0], _leaves(at_init)[0], atol=1e-5)
  one = meta.write(apply, mp, x, rule=rule)[0]
  chex.assert_trees_all_equal(one, meta.write(apply, mp, x, rule=rule._replace(
      write_prior="init"))[0])


def test_superposed_chunks_add_their_own_writes_to_the_forgotten_memory():
  """`memory.stream_composition="superposed"`: each chunk is written from θ̄
  on its own and its displacement added to the forgotten memory, θ ← θ̄ +
  λ (θ − θ̄) + (write(X_c) − θ̄), as a literal loop; `append` is one such
  step; the meta-gradient reaches an old chunk through λ only (finite, and
  zero for the first chunk's patterns at λ → 0)."""
  exp = helpers.tiny_experiment(**STREAM, **{"memory.stream_composition": "superposed"})
  apply, rule = exp.model.network.apply, exp.model.rule
  lam = 0.6
  mp = _with_forgetting(exp.model.init(jax.random.PRNGKey(0)), float(memory_lib.logit(lam)))
  x = _patterns()
  theta0 = mp.write.init_memory
  theta = theta0
  for c in range(len(CHUNKS)):
    own = meta.write(apply, mp, x[2 * c:2 * c + 2], rule=rule)[0]
    theta = jax.tree_util.tree_map(lambda t, o, t0: t0 + lam * (t - t0) + (o - t0),
                                   theta, own, theta0)
  streamed, _ = meta.stream_write(apply, mp, x, CHUNKS, rule=rule)
  chex.assert_trees_all_close(streamed, theta, rtol=1e-5, atol=1e-6)
  appended = exp.model.append(mp, exp.model.write(mp, x[:6]), x[6:])
  chex.assert_trees_all_close(appended, streamed, rtol=1e-5, atol=1e-6)
  chained, _ = meta.stream_write(apply, mp, x, CHUNKS, rule=rule._replace(
      stream_composition="chained"))
  assert not np.allclose(_leaves(streamed)[0], _leaves(chained)[0], atol=1e-5)

  def first_chunk_weight(raw):  # d(memory)/d(first chunk) scales as λ^(C-1).
    m = _with_forgetting(mp, raw)
    total = lambda first: sum(jnp.sum(l) for l in jax.tree_util.tree_leaves(
        meta.stream_write(apply, m, jnp.concatenate([first, x[2:]]), CHUNKS, rule=rule)[0]))
    return float(jnp.max(jnp.abs(jax.grad(total)(x[:2]))))

  assert np.isfinite(first_chunk_weight(0.0)) and first_chunk_weight(0.0) > 0
  assert first_chunk_weight(-30.0) < 1e-9


def test_one_chunk_is_today_s_write_bit_for_bit():
  exp = helpers.tiny_experiment(**{"data.num_patterns": N, "memory.write_lr_init": 0.2})
  mp = exp.model.init(jax.random.PRNGKey(0))
  x = _patterns()
  one, losses = meta.stream_write(exp.model.network.apply, mp, x, (N,), rule=exp.model.rule)
  plain, plain_losses = meta.write(exp.model.network.apply, mp, x, rule=exp.model.rule)
  for a, b in zip(_leaves(one), _leaves(plain)):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(losses.energy[0], plain_losses.energy)
  # A one-chunk stream config is the plain model: no forgetting leaf, the
  # same meta-loss bit for bit.
  single = helpers.tiny_experiment(**{"data.num_patterns": N, "memory.write_lr_init": 0.2,
                                      "memory.stream_chunks": str(N)})
  mp1 = single.model.init(jax.random.PRNGKey(0))
  assert mp1.write.forgetting is None
  key = jax.random.PRNGKey(3)
  np.testing.assert_array_equal(single.model.loss(mp1, x, key)[0],
                                exp.model.loss(mp, x, key)[0])


def test_lambda_one_is_writing_chunk_by_chunk_into_the_memory():
  exp = helpers.tiny_experiment(**STREAM)
  mp = _with_forgetting(exp.model.init(jax.random.PRNGKey(0)), 50.0)  # λ = 1.0
  assert np.all(np.concatenate([np.ravel(l) for l in _leaves(
      memory_lib.forgetting_factors(mp.write))]) == 1.0)
  x = _patterns()
  streamed, losses = meta.stream_write(exp.model.network.apply, mp, x, CHUNKS, rule=exp.model.rule)
  assert losses.energy.shape == (4, 2)  # [C, T]
  looped = _chunk_loop(exp, mp, x, CHUNKS, 1.0)
  chex.assert_trees_all_close(streamed, looped, rtol=1e-5, atol=1e-6)
  # Not vacuous: the last chunk alone is another memory.
  last = meta.write(exp.model.network.apply, mp, x[-2:], rule=exp.model.rule)[0]
  assert not np.allclose(_leaves(streamed)[0], _leaves(last)[0], atol=1e-4)


def test_a_learned_lambda_between_chunks_matches_the_literal_loop_also_unequal_chunks():
  exp = helpers.tiny_experiment(**STREAM)
  lam = 0.6
  mp = _with_forgetting(exp.model.init(jax.random.PRNGKey(0)),
                        float(memory_lib.logit(lam)))
  x = _patterns()
  for chunks in (CHUNKS, (3, 1, 4)):  # A scan of equal chunks; padded unequal ones.
    streamed, _ = meta.stream_write(exp.model.network.apply, mp, x, chunks, rule=exp.model.rule)
    chex.assert_trees_all_close(streamed, _chunk_loop(exp, mp, x, chunks, lam),
                                rtol=2e-5, atol=1e-6)


def test_a_truncated_stream_gradient_stops_at_each_chunk_s_start():
  # Same memory forwards; the meta-gradient equals a literal loop that holds
  # each chunk's starting memory constant, and differs from the full one.
  exp = helpers.tiny_experiment(**STREAM)
  lam = 0.6
  mp = _with_forgetting(exp.model.init(jax.random.PRNGKey(0)),
                        float(memory_lib.logit(lam)))
  x = _patterns()
  truncated = exp.model.rule._replace(stream_gradient="truncated")

  def loop_truncated(mp):
    theta, start = None, 0
    for size in CHUNKS:
      if theta is not None:
        theta = jax.tree_util.tree_map(
            lambda t, t0: t0 + lam * (jax.lax.stop_gradient(t) - t0), theta,
            mp.write.init_memory)
      theta, _ = meta.write(exp.model.network.apply, mp, x[start:start + size], rule=exp.model.rule,
                            memory=theta)
      start += size
    return theta

  total = lambda tree: sum(jnp.sum(jnp.sin(l)) for l in jax.tree_util.tree_leaves(tree))
  stream = lambda rule: lambda mp: meta.stream_write(exp.model.network.apply, mp, x, CHUNKS,
                                                     rule=rule)[0]
  chex.assert_trees_all_close(stream(truncated)(mp), stream(exp.model.rule)(mp), rtol=1e-6)
  g_truncated = jax.grad(lambda mp: total(stream(truncated)(mp)))(mp)
  g_loop = jax.grad(lambda mp: total(loop_truncated(mp)))(mp)
  g_full = jax.grad(lambda mp: total(stream(exp.model.rule)(mp)))(mp)
  leaves = lambda g: jax.tree_util.tree_leaves(g.write.init_memory)
  chex.assert_trees_all_close(leaves(g_truncated), leaves(g_loop), rtol=2e-4, atol=1e-6)
  assert not np.allclose(leaves(g_truncated)[0], leaves(g_full)[0], rtol=1e-3)
  # ... and λ still learns (its gradient comes through each chunk's forgetting).
  assert float(jnp.max(jnp.abs(jnp.stack(jax.tree_util.tree_leaves(
      g_truncated.write.forgetting))))) > 0


def test_lambda_zero_forgets_all_but_the_last_chunk():
  exp = helpers.tiny_experiment(**STREAM)
  mp = _with_forgetting(exp.model.init(jax.random.PRNGKey(0)), -200.0)  # λ = 0
  x = _patterns()
  streamed, _ = meta.stream_write(exp.model.network.apply, mp, x, CHUNKS, rule=exp.model.rule)
  last = meta.write(exp.model.network.apply, mp, x[-2:], rule=exp.model.rule)[0]
  chex.assert_trees_all_close(streamed, last, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("n_scaling", ["mean", "learned"])
def test_masked_stream_equals_the_unpadded_stream(n_scaling):
  exp = helpers.tiny_experiment(**STREAM, **{"memory.n_scaling": n_scaling})
  mp = _with_forgetting(exp.model.init(jax.random.PRNGKey(0)),
                        float(memory_lib.logit(0.7)))
  if n_scaling == "learned":  # A non-zero exponent, so each chunk's n matters.
    mp = mp._replace(write=mp.write._replace(n_exponent=jnp.array([0.7, -0.4, 0.3])))
  x = _patterns()
  write = jax.jit(lambda x, mask: meta.stream_write(exp.model.network.apply, mp, x, CHUNKS,
                                                    rule=exp.model.rule, mask=mask)[0])
  for n, real_chunks in ((5, (2, 2, 1)), (4, (2, 2)), (1, (1,)), (N, CHUNKS)):
    mask = jnp.arange(N) < n
    alone = meta.stream_write(exp.model.network.apply, mp, x[:n], real_chunks, rule=exp.model.rule)[0]
    chex.assert_trees_all_close(write(x, mask), alone, rtol=2e-5, atol=1e-6)
  # The padding rows really are ignored.
  mask = jnp.arange(N) < 5
  chex.assert_trees_all_close(write(x, mask), write(x.at[5:].set(-x[5:]), mask),
                              rtol=1e-6, atol=1e-7)


def test_one_compiled_stream_step_across_n_and_the_gradient_reaches_lambda():
  exp = helpers.tiny_experiment(**STREAM, **{"data.num_patterns_per_memory": "uniform",
                                             "train.meta_batch_size": 2,
                                             "optim.rate_learning_rate": 3e-2})
  mesh = parallel.make_mesh(jax.devices()[:1])
  state = jax.device_put(training.initial_state(exp), parallel.replicated(mesh))
  init = jax.device_get(state.meta_params)
  step_fn = training.make_train_step(exp, mesh)
  sample = training.make_sampler(exp, mesh)
  _, k_data, k_distort = training.run_keys(exp.config.seed)
  drawn = set()
  for i in range(3):
    counts = sample.counts(i)
    drawn.update(np.asarray(counts).tolist())
    state, metrics = step_fn(state, sample(jax.random.fold_in(k_data, i)),
                             jax.random.fold_in(k_distort, i), 1.0, counts)
  assert len(drawn) > 1
  assert step_fn.jitted._cache_size() == 1
  assert np.shape(metrics["write_forgetting"]) == (2,)  # λ per writable tensor.
  assert np.shape(metrics["stream_chunk_score"]) == (4,)
  assert bool(metrics["finite"])
  # The meta-gradient reaches the forgetting parameter ...
  x = _patterns()
  grads = jax.grad(lambda p: exp.model.loss(p, x, jax.random.PRNGKey(1))[0])(init)
  assert all(abs(float(g)) > 0 for g in jax.tree_util.tree_leaves(grads.write.forgetting))
  # ... which is a rate of the recipe's optimiser, and moves.
  labels = optimizer_lib.meta_param_labels(init)
  assert set(jax.tree_util.tree_leaves(labels.write.forgetting)) == {optimizer_lib.RATE_LABEL}
  final = jax.device_get(state.meta_params)
  assert not np.allclose(_leaves(init.write.forgetting), _leaves(final.write.forgetting))


def test_the_stream_model_writes_other_n_in_its_chunk_size_and_appends_a_chunk():
  exp = helpers.tiny_experiment(**STREAM)
  mp = _with_forgetting(exp.model.init(jax.random.PRNGKey(0)),
                        float(memory_lib.logit(0.6)))
  x = _patterns()
  stream = lambda p, chunks: meta.stream_write(exp.model.network.apply, mp, p, chunks,
                                               rule=exp.model.rule)[0]
  # N = 5 (not the trained 8): chunks of the trained size 2, the last smaller.
  chex.assert_trees_all_close(exp.model.write(mp, x[:5]), stream(x[:5], (2, 2, 1)),
                              rtol=1e-6, atol=1e-7)
  # append is the stream's next chunk: forgetting, then the chunk's write.
  appended = exp.model.append(mp, exp.model.write(mp, x[:4]), x[4:6])
  chex.assert_trees_all_close(appended, stream(x[:6], (2, 2, 2)), rtol=2e-5, atol=1e-6)


def test_chunk_weights_weigh_the_meta_loss():
  x = _patterns()
  key = jax.random.PRNGKey(2)
  losses = {}
  for weights in ("uniform", "1,1,1,1", "1,0.5,0.5,4"):
    exp = helpers.tiny_experiment(**STREAM, **{"memory.stream_loss_weights": weights})
    mp = exp.model.init(jax.random.PRNGKey(0))
    loss, metrics = exp.model.loss(mp, x, key)
    losses[weights] = float(loss)
  assert losses["1,1,1,1"] == pytest.approx(losses["uniform"], rel=1e-5)
  assert losses["1,0.5,0.5,4"] != pytest.approx(losses["uniform"], rel=1e-3)
  # The per-chunk score averages to the overall score of the last iterate.
  assert np.mean(metrics["stream_chunk_score"]) == pytest.approx(
      float(metrics["score"][-1]), rel=1e-5)


def test_annealed_chunk_weights_move_from_the_start_weights_to_uniform():
  """`memory.stream_weights_anneal_steps`: at step 0 the loss is that of the
  start weights, from the anneal's end on (and with no step) the uniform one,
  halfway the weights' midpoint; one compiled loss serves every step."""
  x = _patterns()
  key = jax.random.PRNGKey(2)
  start = "0.01,0.01,0.01,1"
  fixed = {w: helpers.tiny_experiment(**STREAM, **{"memory.stream_loss_weights": w})
           for w in (start, "uniform", "0.505,0.505,0.505,1")}
  annealed = helpers.tiny_experiment(**STREAM, **{
      "memory.stream_loss_weights": start, "memory.stream_weights_anneal_steps": 100})
  mp = annealed.model.init(jax.random.PRNGKey(0))
  traces = []

  def loss_at(step):
    traces.append(1)
    return annealed.model.loss(mp, x, key, step=step)[0]

  loss_at = jax.jit(loss_at)
  reference = {w: float(e.model.loss(mp, x, key)[0]) for w, e in fixed.items()}
  assert float(loss_at(0)) == pytest.approx(reference[start], rel=1e-5)
  assert float(loss_at(50)) == pytest.approx(reference["0.505,0.505,0.505,1"], rel=1e-5)
  assert float(loss_at(100)) == pytest.approx(reference["uniform"], rel=1e-5)
  assert float(loss_at(1000)) == pytest.approx(reference["uniform"], rel=1e-5)
  assert float(annealed.model.loss(mp, x, key)[0]) == pytest.approx(reference["uniform"],
                                                                     rel=1e-5)
  assert reference[start] != pytest.approx(reference["uniform"], rel=1e-3)
  assert len(traces) == 1


def test_runlocal_stream_trains_logs_lambda_and_loads(tmp_path):
  config = specs.load("binary_stream:runlocal", ["train.num_steps=3", "train.log_every=1"])
  workdir = str(tmp_path / "stream")
  state = training.train(config, workdir, parallel.make_mesh(jax.devices()[:1]))
  assert int(state.step) == 3
  rows = [json.loads(l) for l in open(f"{workdir}/metrics.jsonl")]
  assert all(len(r["write_forgetting"]) == 2 for r in rows if "meta_loss" in r)
  assert all(len(r["stream_chunk_score"]) == 4 for r in rows if "meta_loss" in r)
  params = training.load_meta_params(config, workdir)
  assert params.write.forgetting is not None
  # The same workdir evaluated for forgetting: one value per chunk.
  exp = setups.build(config)
  batches = forgetting.stream_batches(exp, 16, 3, seed=1)
  curve = forgetting.stream_curve(exp, params, batches)
  assert len(curve["mean"]) == len(curve["sem"]) == 4
  assert all(0 <= m <= 64 for m in curve["mean"])  # Half of 128 bits distorted.
  # ... and by the launcher, next to the incremental Hopfield memories.
  from tests.experiments import test_launchers  # pylint: disable=g-import-not-at-top
  out_json, figure = tmp_path / "forgetting.json", tmp_path / "forgetting.png"
  stdout = test_launchers._run([
      "-m", "experiments.forgetting", f"--workdir={workdir}", "--num_batches=3",
      "--beta_batches=2", f"--json={out_json}", f"--figure={figure}"])
  result = json.loads(out_json.read_text())
  assert result["chunks"] == [4, 4, 4, 4]
  labels = sorted(result["curves"])
  assert labels == sorted([f"EBMM ({workdir})", "Hopfield Hebb", "Hopfield Storkey",
                           "Modern Hopfield"])
  assert all(len(c["mean"]) == 4 for c in result["curves"].values())
  # The model's training record travels with its numbers.
  assert result["curves"][f"EBMM ({workdir})"]["training"]["steps"] > 0
  assert "Hopfield pseudo-inverse" in result["not_incremental"]
  assert "| Hopfield Hebb | 8,256 |" in stdout
  assert figure.stat().st_size > 10_000


def test_old_workdirs_resume_without_the_stream_fields():
  new = json.loads(helpers.tiny_config().to_json_best_effort())
  old = json.loads(helpers.tiny_config().to_json_best_effort())
  for field in ("stream_chunks", "forget_init", "stream_loss_weights"):
    del old["memory"][field]
  assert workdir_lib.config_differences(old, new) == []
  new["memory"]["stream_chunks"] = "2,2"
  assert [d[0] for d in workdir_lib.config_differences(old, new)] == ["memory.stream_chunks"]


def test_forgetting_curves_of_ebmm_and_hopfield_one_value_per_chunk():
  exp = helpers.tiny_experiment(**STREAM)
  mp = exp.model.init(jax.random.PRNGKey(0))
  batches = forgetting.stream_batches(exp, N, 5, seed=7, batches_per_call=2)
  assert batches.patterns.shape == (5, N, 16)
  ebmm = forgetting.stream_curve(exp, mp, batches, batches_per_call=2)
  assert len(ebmm["mean"]) == 4 and ebmm["num_batches"] == 5
  # A model trained without streams appends: given chunks, λ = 1.
  plain = helpers.tiny_experiment(**{"data.num_patterns": N})
  appended = forgetting.stream_curve(plain, plain.model.init(jax.random.PRNGKey(0)),
                                   batches, chunks=(4, 4))
  assert len(appended["mean"]) == 2
  # Hebb chunk by chunk equals a literal loop over the patterns.
  weights = forgetting.hopfield_stream_weights("hebb", batches.patterns, CHUNKS)
  literal = np.zeros((5, 16, 16))
  for b in range(5):
    for x in np.asarray(batches.patterns[b], np.float64):
      literal[b] += np.outer(x, x) / 16
      np.fill_diagonal(literal[b], 0.0)
  np.testing.assert_allclose(weights, literal, atol=1e-12)
  hebb = forgetting.hopfield_curve("hebb", batches, CHUNKS, seed=3)
  states = hopfield.retrieve(literal, batches.queries, batches.known,
                             np.random.default_rng(3)).states
  errors = hopfield.error_bits(states, batches.patterns)  # [B, N]
  np.testing.assert_allclose(hebb["mean"], errors.reshape(5, 4, 2).mean(axis=(0, 2)))
  # Storkey chunk by chunk equals Storkey on the whole stream (it is incremental).
  np.testing.assert_allclose(
      forgetting.hopfield_stream_weights("storkey", batches.patterns, CHUNKS),
      hopfield.storkey(batches.patterns), atol=1e-12)
  with pytest.raises(ValueError, match="not incremental"):
    forgetting.hopfield_stream_weights("pseudo_inverse", batches.patterns, CHUNKS)
  # The modern Hopfield ring keeps the newest rows: with 4 of 8, the two
  # oldest chunks are lost, the two newest retrieved.
  ring = forgetting.modern_hopfield_curve(batches, CHUNKS, 8.0, 4, exp)
  assert ring["mean"][2] == ring["mean"][3] == 0.0
  assert min(ring["mean"][:2]) > 0


@pytest.mark.parametrize("overrides, message", [
    ({"memory.stream_chunks": "2,2,2"}, "must sum to data.num_patterns=8"),
    ({"memory.stream_chunks": "4,0,4"}, "positive integers"),
    ({"memory.stream_chunks": "4,x"}, "positive integers"),
    ({"memory.stream_chunks": "4,4", "memory.stream_loss_weights": "1,2,3"},
     "one per chunk"),
    ({"memory.stream_chunks": "4,4", "memory.stream_loss_weights": "1,-2"},
     "positive numbers"),
    ({"memory.stream_loss_weights": "1,2"}, "needs memory.stream_chunks"),
    ({"memory.stream_weights_anneal_steps": 10}, "needs memory.stream_chunks"),
    ({"memory.stream_chunks": "4,4", "memory.stream_weights_anneal_steps": 10},
     "give the weights to start from"),
    ({"memory.stream_chunks": "4,4", "memory.stream_weights_anneal_steps": -1},
     "must be >= 0"),
    ({"memory.stream_chunks": "4,4", "memory.forget_init": 1.0}, "memory.forget_init"),
    ({"memory.stream_chunks": "4,4", "data.curriculum": "4@0,N@10"}, "data.curriculum"),
    ({"memory.stream_chunks": "4,4", "memory.stream_gradient": "partial"},
     "memory.stream_gradient"),
    ({"memory.stream_chunks": "4,4", "memory.write_prior": "previous"},
     "memory.write_prior"),
    ({"memory.stream_chunks": "4,4", "memory.stream_composition": "summed"},
     "memory.stream_composition"),
])
def test_bad_stream_configs_are_refused_in_one_line(overrides, message):
  with pytest.raises(ValueError, match=message) as info:
    setups.build(helpers.tiny_config(**{"data.num_patterns": N, **overrides}))
  assert "\n" not in str(info.value)
  assert str(info.value).startswith("Invalid config: memory.")
