"""A/B: one config's meta-step with rolled vs unrolled write/read scans (memory.unroll), interleaved rounds."""
import json, sys, time
import jax, numpy as np
from ebmm_jax.setups import specs
from ebmm_jax.reporting import step_timing
spec, rounds, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
extra = sys.argv[4:]
prepared, res = [], dict(config=spec, overrides=extra, rounds=rounds, machine_cpus=len(jax.devices()))
for name, flag in [("rolled", "False"), ("unrolled", "True")]:
  config = specs.load(spec, extra + [f"memory.unroll={flag}"])
  run, state, costs = step_timing.compiled_step(config)
  res[name] = costs
  prepared.append((run, state))
  print(name, costs["compile_s"], flush=True)
times = step_timing.time_rounds(prepared, rounds)
res["times"] = times.tolist()
res["step_s_median"] = np.median(times, 0).tolist()
res["speedup_median"] = float(np.median(times[:, 0] / times[:, 1]))
res["speedup_quartiles"] = np.percentile(times[:, 0] / times[:, 1], [25, 75]).tolist()
json.dump(res, open(out, "w"), indent=1)
print(json.dumps({k: v for k, v in res.items() if k != "times"}, indent=1))
