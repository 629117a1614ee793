"""The training loop's compiled meta-step, prepared and timed for benchmarks:
`compiled_step` (one config's step with its compile and FLOP costs) and
`time_rounds` (several steps timed in interleaved rounds), shared by
`experiments/benchmark.py` and `experiments/energy_benchmark.py`."""
import time
from typing import Any, Callable, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from ebmm_jax import setups
from ebmm_jax import training
from ebmm_jax.setups import curriculum
from ebmm_jax.training import parallel


def compiled_step(config) -> Tuple[Callable, Any, dict]:
  """(run: state -> state, warmed-up state, costs): one compiled training
  meta-step of `config` (a 1-device mesh; padded batches with drawn n for a
  model trained across N), with its trace, compile and FLOP costs."""
  exp = setups.build(config)
  mesh = parallel.make_mesh(jax.devices()[:1])
  m = parallel.meta_batch_size(config.train.meta_batch_size, mesh)
  patterns = exp.sample_train(jax.random.PRNGKey(1), m, config.data.num_patterns)
  counts = None
  if config.data.get("num_patterns_per_memory", ""):
    counts = jnp.asarray(curriculum.counts_at(config, 0, 0, m))
  key, one = jax.random.PRNGKey(2), jnp.ones((), jnp.float32)
  state = training.initial_state(exp)
  start = time.perf_counter()
  lowered = training.make_train_step(exp, mesh).lower(state, patterns, key, 1.0, counts)
  lowered_at = time.perf_counter()
  compiled = lowered.compile()
  done = time.perf_counter()
  costs = dict(compile_s=done - start, trace_and_lower_s=lowered_at - start,
               xla_compile_s=done - lowered_at, memory_floats=exp.model.memory_floats,
               flops_xla=_compiled_flops(compiled), num_patterns=config.data.num_patterns,
               meta_batch_size=m)
  run = lambda s: compiled(s, patterns, key, one, counts)[0]
  return run, jax.block_until_ready(run(state)), costs  # Warm-up: not timed.


def _compiled_flops(compiled) -> float:
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0]
  return float(analysis.get("flops", float("nan"))) if analysis else float("nan")


def time_rounds(prepared, rounds: int) -> np.ndarray:
  """Seconds [rounds, len(prepared)]: each round times one step of every
  (run, state) of `prepared` in turn (`compiled_step`), so that a machine
  load that changes between rounds biases no ratio within one."""
  states = [state for _, state in prepared]
  times = np.zeros((rounds, len(prepared)))
  for r in range(rounds):
    for i, (run, _) in enumerate(prepared):
      t0 = time.perf_counter()
      states[i] = jax.block_until_ready(run(states[i]))
      times[r, i] = time.perf_counter() - t0
  return times
