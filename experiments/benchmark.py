r"""Speed and memory of the meta-step.

  python -m experiments.benchmark --configs=binary --steps=10 --output=bench.json

For each config it reports, measured in one process next to the float32
2048x2048 matmul (`jnp.dot`, jitted) of the same machine:
  * compile time, median meta-step time over --steps steps after compilation,
    and that time in units of one matmul;
  * FLOPs of one meta-step counted by XLA on a lowering whose write and read
    loops are unrolled (XLA counts a loop body once); XLA's count of one energy
    evaluation checked against the analytic formula (gated RNN); the
    utilisation (step FLOPs / step time / the matmul's FLOP rate);
  * write-only and read-only latency (no meta-gradient);
  * the step's peak memory (XLA's buffer assignment: arguments + outputs +
    temporaries), with and without `remat` at --remat_steps write/read steps;
  * write time against the number of patterns N, with a least-squares line;
  * the time to save a checkpoint of the whole training state;
  * where the step's time goes (`dot_roofline`): the unrolled step's matrix
    products grouped by shape, each shape timed on its own, so the rate the
    network's own products reach is set next to the 2048x2048 matmul's,
    and a profile of --profile_steps steps (`op_profile`): the time of the
    compiled step's operations summed by kind (matrix products, concatenations,
    elementwise fusions, ...).
"""
import collections
import functools
import glob
import gzip
import json
import os
import platform
import re
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from absl import logging

from ebmm_jax.reporting import costs
from ebmm_jax.reporting import step_timing
from ebmm_jax.training import checkpoint
from ebmm_jax import setups
from ebmm_jax.core import meta
from ebmm_jax.training import optimizer as optimizer_lib
from ebmm_jax.training import parallel
from ebmm_jax.training import step as step_lib
from ebmm_jax import training
from ebmm_jax.experiments import cli
from ebmm_jax.experiments import run_flags
from ebmm_jax.setups import curriculum
from ebmm_jax.setups import specs

_CONFIGS = flags.DEFINE_multi_string(
    "configs", ["binary"], "A config and its variants, e.g. binary, binary:cpu,n=16 "
    "or omniglot_conv; repeat the flag for several.")
_STEPS = flags.DEFINE_integer("steps", 10, "Timed meta-steps after compilation (0: only "
                             "the interleaved rounds of --rounds).")
_REMAT_STEPS = flags.DEFINE_integer("remat_steps", 20, "T = K for the remat comparison (0: skip).")
_WRITE_NS = flags.DEFINE_list("write_ns", ["16", "64", "256", "1024"], "N for the write-time fit.")
_OUTPUT = run_flags.output("Write the results as JSON here.")
_DOT_ROOFLINE = flags.DEFINE_bool(
    "dot_roofline", True, "Time the step's matrix products shape by shape.")
_PROFILE_STEPS = flags.DEFINE_integer(
    "profile_steps", 2, "Steps traced by the profiler for the time per operation kind (0: skip).")
_DATA_DIR = run_flags.data_dir("data.data_dir of image configs.")
_ROUNDS = flags.DEFINE_integer(
    "rounds", 0, "Also time every config's meta-step in this many interleaved rounds "
    "(one step of each per round): ratios that a changing machine load does not bias.")


def _median_time(fn, *args, repeats: int) -> float:
  jax.block_until_ready(fn(*args))  # Compile and warm up.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def matmul_time(repeats: int = 20) -> float:
  a = jax.random.normal(jax.random.PRNGKey(0), (2048, 2048), jnp.float32)
  return _median_time(jax.jit(jnp.dot), a, a, repeats=repeats)


def _config(spec: str):
  """A config spec, e.g. "binary:cpu,n=16" (`specs.load`)."""
  return specs.load(spec, [f"data.data_dir={_DATA_DIR.value}"] if _DATA_DIR.value else [])


def gated_rnn_forward_flops(n: int, d: int, hidden: int, dynamic: int, hops: int) -> int:
  """Analytic matmul FLOPs of one gated-RNN energy evaluation of N patterns.

  Input projections once: 2 N D (dyn + (H - dyn) + H) = 2 N D 2H; the
  recurrent projection 2 N H (2H - dyn) at every hop after the first (the
  state is zero at hop 0); the energy head 2 N H.
  """
  return 2 * n * d * 2 * hidden + 2 * n * hidden * (2 * hidden - dynamic) * (hops - 1) \
      + 2 * n * hidden


def _xla_flops(fn, *args) -> float:
  cost = jax.jit(fn).lower(*args).cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost["flops"])


def dot_roofline(jaxpr, step_flops: float, step_s: float,
                 matmul_rate: float, top: int = 8) -> dict:
  """How fast the step's own matrix products run, each shape on its own.

  Every distinct product of the unrolled step is compiled alone and timed
  (median of 5 after a warm-up, less the time of a call that does next to
  nothing); their sum, weighted by how often each occurs,
  is the step's time if it did nothing but its products at these shapes. The
  products' rate against the 2048x2048 matmul's says how much of the gap
  between the step and that matmul the shapes alone explain.
  """
  rows = []
  # What one call costs with next to no work in it (dispatch), taken off
  # every product's time (small products would otherwise look slow).
  tiny = jnp.ones((1,), jnp.float32)
  overhead = _median_time(jax.jit(lambda a: a + 1.), tiny, repeats=20)
  for (lhs, rhs, dims), count in costs.jaxpr_dots(jaxpr).items():
    fn = jax.jit(functools.partial(jax.lax.dot_general, dimension_numbers=dims))
    a, b = jnp.ones(lhs, jnp.float32), jnp.ones(rhs, jnp.float32)
    out_size = int(np.prod(jax.eval_shape(fn, a, b).shape))
    t = max(_median_time(fn, a, b, repeats=5) - overhead, 1e-7)
    flops = costs.dot_flops(lhs, dims, out_size)
    rows.append(dict(lhs=list(lhs), rhs=list(rhs), count=count, flops=flops,
                     seconds=t, gflops_per_s=flops / t / 1e9))
  dot_flops_total = sum(r["flops"] * r["count"] for r in rows)
  dot_seconds = sum(r["seconds"] * r["count"] for r in rows)
  rows.sort(key=lambda r: -r["seconds"] * r["count"])
  return dict(
      distinct_shapes=len(rows), products=sum(r["count"] for r in rows),
      call_overhead_s=overhead,
      flops=dot_flops_total, flops_share_of_step=dot_flops_total / step_flops,
      seconds_alone=dot_seconds, seconds_alone_share_of_step=dot_seconds / step_s,
      rate_alone_gflops=dot_flops_total / dot_seconds / 1e9,
      rate_alone_vs_matmul=dot_flops_total / dot_seconds / matmul_rate,
      step_rate_gflops=step_flops / step_s / 1e9, slowest=rows[:top])


# An XLA operation's event in a profile: a lowercase HLO name, maybe numbered
# ("fusion.12", "concatenate.3", "ynn_fusion"); runtime and Python events
# have capitals, spaces, "::" or a leading "$".
_HLO_EVENT = re.compile(r"^([a-z][a-z0-9_\-]*?)(?:\.\d+)*$")
# Operations whose events enclose their bodies' events (counted there).
_CONTAINER_OPS = ("while", "call", "conditional")


def op_profile(step, state, steps: int, top: int = 12):
  """Time per operation kind over `steps` calls of `state = step(state)`
  (jax.profiler); returns (the profile, the last state).

  Durations are summed over the runtime's threads, so the total is CPU time
  of operations, not wall time; shares are of that total. Kinds are HLO
  names without their number: `ynn_fusion`/`dot` (matrix products, with
  what XLA fused into them), `fusion` (elementwise work), `concatenate`,
  `slice`, `pad`, `transpose`, `copy`, `reduce`, ...
  """
  state = jax.block_until_ready(step(state))  # Warm-up, outside the trace.
  with tempfile.TemporaryDirectory() as d:
    with jax.profiler.trace(d, create_perfetto_trace=True):
      for _ in range(steps):
        state = jax.block_until_ready(step(state))
    (path,) = glob.glob(os.path.join(d, "**", "perfetto_trace.json.gz"), recursive=True)
    with gzip.open(path) as f:
      trace = json.load(f)
  events = trace["traceEvents"] if isinstance(trace, dict) else trace
  kinds = collections.Counter()
  for e in events:
    m = _HLO_EVENT.match(str(e.get("name", ""))) if e.get("ph") == "X" else None
    if m and m.group(1) not in _CONTAINER_OPS:
      kinds[m.group(1)] += e.get("dur", 0.) * 1e-6  # Microseconds.
  total = sum(kinds.values())
  profile = dict(steps=steps, op_seconds_per_step=total / steps,
                 share_by_kind={k: v / total for k, v in kinds.most_common(top)})
  return profile, state


def bench_config(name: str, peak_matmul: float) -> dict:
  config = _config(name)
  exp = setups.build(config)
  model = setups.ebmm.require(exp.model, "The meta-step benchmark (FLOP counts of the energy)")
  state = training.initial_state(exp)
  spare = training.initial_state(exp)  # `state` is donated to the timed steps.
  one_device = parallel.make_mesh(jax.devices()[:1])
  n, m = config.data.num_patterns, parallel.meta_batch_size(config.train.meta_batch_size,
                                                            one_device)
  patterns = exp.sample_train(jax.random.PRNGKey(1), m, n)
  key = jax.random.PRNGKey(2)
  opt = optimizer_lib.for_config(config)
  out = dict(config=name, num_patterns=n, meta_batch_size=m)
  # A model trained across N: the step on padded batches with each memory's
  # n drawn as in training (`data.num_patterns_per_memory`); None otherwise.
  counts = None
  if config.data.get("num_patterns_per_memory", ""):
    counts = jnp.asarray(curriculum.counts_at(config, 0, 0, m))
    out["num_patterns_per_memory"] = config.data.num_patterns_per_memory

  # The training loop's own step: shard_map over a 1-device mesh, jitted.
  train_step = training.make_train_step(exp, one_device)
  start = time.perf_counter()
  lowered = train_step.lower(state, patterns, key, 1.0, counts)
  compiled = lowered.compile()
  out["compile_s"] = time.perf_counter() - start
  mem = compiled.memory_analysis()
  out["peak_memory_bytes"] = int(mem.argument_size_in_bytes + mem.output_size_in_bytes
                                 + mem.temp_size_in_bytes)
  # One compiled program, state threaded through (parameters change each step).
  one = jnp.ones((), jnp.float32)  # lr_scale: the steps clock.
  run = lambda s: compiled(s, patterns, key, one, counts)[0]
  state_now = jax.block_until_ready(run(state))  # Warm-up: not timed.
  times = []
  for _ in range(_STEPS.value):
    t0 = time.perf_counter()
    state_now = jax.block_until_ready(run(state_now))
    times.append(time.perf_counter() - t0)
  out["step_s_median"] = float(np.median(times))
  out["step_in_matmuls"] = out["step_s_median"] / peak_matmul
  if _PROFILE_STEPS.value:
    out["op_profile"], state_now = op_profile(run, state_now, _PROFILE_STEPS.value)
  if exp.model.first_order is not None:
    # First-order meta-gradients (memory.first_order_steps): the same step with
    # the writing gradients held constant, timed in the same run.
    fo_step = training.make_train_step(exp, one_device, first_order=True)
    fo = fo_step.lower(state_now, patterns, key, 1.0, counts).compile()
    fo_state = jax.block_until_ready(fo(state_now, patterns, key, one, counts)[0])  # Warm-up.
    fo_times = []
    for _ in range(_STEPS.value):
      t0 = time.perf_counter()
      fo_state = jax.block_until_ready(fo(fo_state, patterns, key, one, counts)[0])
      fo_times.append(time.perf_counter() - t0)
    state_now = fo_state
    out["first_order_step_s_median"] = float(np.median(fo_times))
    out["first_order_speedup"] = out["step_s_median"] / out["first_order_step_s_median"]

  unrolled = functools.partial(step_lib.meta_step,
                               model.unrolled().loss, opt)
  out["flops_xla_unrolled"] = _xla_flops(unrolled, spare, patterns, key)
  # The cross-check: XLA's count of one energy evaluation against the formula.
  params = meta.written_params(spare.meta_params, spare.meta_params.write.init_memory)
  out["energy_forward_flops_xla"] = _xla_flops(model.network.apply, params, patterns[0])
  if config.energy.name == "gated_rnn":
    e = config.energy
    out["energy_forward_flops_analytic"] = gated_rnn_forward_flops(
        n, config.data.pattern_dim, e.hidden_size, e.dynamic_size, e.hops)
  out["step_in_energy_forwards"] = out["flops_xla_unrolled"] / m / out["energy_forward_flops_xla"]
  matmul_rate = 2 * 2048 ** 3 / peak_matmul
  out["utilisation"] = out["flops_xla_unrolled"] / out["step_s_median"] / matmul_rate
  if _DOT_ROOFLINE.value:
    out["dot_roofline"] = dot_roofline(jax.make_jaxpr(unrolled)(spare, patterns, key),
                                       out["flops_xla_unrolled"],
                                       out["step_s_median"], matmul_rate)

  mp = spare.meta_params
  one = patterns[0]
  queries, known = exp.task.distort(key, one)
  write, read = jax.jit(exp.model.write), jax.jit(exp.model.read)
  out["write_s_median"] = _median_time(write, mp, one, repeats=_STEPS.value)
  written = write(mp, one)
  out["read_s_median"] = _median_time(read, mp, written, queries, known,
                                      repeats=_STEPS.value)

  # Checkpointing cost: an orbax save of the whole TrainState (atomic: a
  # temporary folder renamed when complete), then its restore.
  host_state = parallel.to_host(spare)
  with tempfile.TemporaryDirectory() as d:
    saves, restores = [], []
    for i in range(5):
      t0 = time.perf_counter()
      path = checkpoint.save(d, i, host_state, keep=2)
      saves.append(time.perf_counter() - t0)
      t0 = time.perf_counter()
      checkpoint.load(path, host_state)
      restores.append(time.perf_counter() - t0)
    out["checkpoint_save_s_median"] = float(np.median(saves))
    out["checkpoint_restore_s_median"] = float(np.median(restores))
    out["checkpoint_bytes"] = sum(os.path.getsize(os.path.join(root, f))
                                  for root, _, files in os.walk(path) for f in files)

  if config.energy.name == "gated_rnn":
    ns, ts = [], []
    for n_write in [int(v) for v in _WRITE_NS.value]:
      x = exp.sample_train(jax.random.PRNGKey(3), 1, n_write)[0]
      ns.append(n_write)
      ts.append(_median_time(write, mp, x, repeats=max(3, _STEPS.value // 2)))
    slope, intercept = np.polyfit(ns, ts, 1)
    pred = np.polyval([slope, intercept], ns)
    r2 = 1 - np.sum((np.asarray(ts) - pred) ** 2) / np.sum((ts - np.mean(ts)) ** 2)
    out["write_scaling"] = dict(n=ns, seconds=ts, slope_s_per_pattern=float(slope),
                                intercept_s=float(intercept), r2=float(r2))

  if _REMAT_STEPS.value:
    out["remat"] = bench_remat(exp, name, patterns, key)
  return out


def bench_remat(exp, name, patterns, key) -> dict:
  """Peak memory and step time at T = K = remat_steps, with and without remat."""
  config = _config(name)
  config.unlock()
  config.memory.write_steps = config.memory.read_steps = _REMAT_STEPS.value
  res = {}
  for remat in (False, True):
    config.memory.remat = remat
    e = setups.build(config)
    state = training.initial_state(e)
    fn = jax.jit(functools.partial(step_lib.meta_step, e.model.loss,
                                   optimizer_lib.for_config(config)))
    compiled = fn.lower(state, patterns, key).compile()
    mem = compiled.memory_analysis()
    peak = int(mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes)
    t = _median_time(lambda s: compiled(s, patterns, key)[1]["meta_loss"], state,
                     repeats=max(3, _STEPS.value // 2))
    res["remat" if remat else "plain"] = dict(peak_memory_bytes=peak, step_s_median=t)
  res["memory_ratio"] = res["plain"]["peak_memory_bytes"] / res["remat"]["peak_memory_bytes"]
  res["time_ratio"] = res["remat"]["step_s_median"] / res["plain"]["step_s_median"]
  return res


def interleaved(names, rounds: int) -> dict:
  """Median step time of each config over `rounds` rounds of one step each,
  and each round's time ratio to the first config's (median and quartiles)."""
  times = step_timing.time_rounds(
      [step_timing.compiled_step(_config(n))[:2] for n in names], rounds)
  ratios = times / times[:, :1]
  return dict(configs=list(names), rounds=rounds,
              step_s_median=np.median(times, axis=0).tolist(),
              ratio_to_first_median=np.median(ratios, axis=0).tolist(),
              ratio_to_first_quartiles=np.percentile(ratios, [25, 75], axis=0).T.tolist())


def main(argv):
  del argv
  peak = matmul_time()
  results = dict(machine=dict(platform=platform.platform(), processor=platform.processor(),
                              device=str(jax.devices()[0]), device_kind=jax.devices()[0].device_kind,
                              jax=jax.__version__),
                 matmul_2048_s=peak, matmul_gflops=2 * 2048 ** 3 / peak / 1e9, configs=[])
  logging.info("float32 2048x2048 matmul: %.4f s (%.1f GFLOP/s)", peak, results["matmul_gflops"])
  for name in (_CONFIGS.value if _STEPS.value > 0 else []):  # --steps=0: --rounds only.
    r = bench_config(name, peak)
    results["configs"].append(r)
    print(json.dumps(r, indent=2))
  if _ROUNDS.value:
    results["interleaved"] = interleaved(_CONFIGS.value, _ROUNDS.value)
    print(json.dumps(results["interleaved"], indent=2))
  results["matmul_2048_s_after"] = matmul_time()
  print(json.dumps({k: v for k, v in results.items() if k != "configs"}, indent=2))
  if _OUTPUT.value:
    with open(_OUTPUT.value, "w") as f:
      json.dump(results, f, indent=2)


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
