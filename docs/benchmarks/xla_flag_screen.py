"""Median meta-step of one config under this process's XLA_FLAGS (screening XLA CPU flags)."""
import json, os, sys, time
import jax, numpy as np
from ebmm_jax.setups import specs
from ebmm_jax.reporting import step_timing
spec, steps, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
config = specs.load(spec, sys.argv[4:])
t0 = time.perf_counter()
run, state, costs = step_timing.compiled_step(config)
a = jax.numpy.ones((2048, 2048)); mm = jax.jit(jax.numpy.dot); mm(a, a).block_until_ready()
times, mms = [], []
for _ in range(steps):
  t = time.perf_counter(); state = jax.block_until_ready(run(state)); times.append(time.perf_counter() - t)
  t = time.perf_counter(); mm(a, a).block_until_ready(); mms.append(time.perf_counter() - t)
res = dict(config=spec, xla_flags=os.environ.get("XLA_FLAGS", ""), costs=costs, step_s=times,
           step_s_median=float(np.median(times)), matmul_2048_s=mms,
           step_in_matmuls=float(np.median(np.array(times) / np.array(mms))))
with open(out, "a") as f:
  f.write(json.dumps(res) + "\n")
print(res["xla_flags"], res["step_s_median"], res["step_in_matmuls"], costs["compile_s"], flush=True)
