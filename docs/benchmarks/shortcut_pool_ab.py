"""A/B: one config's meta-step with the downscaling shortcut pooled after its 1x1 projection (Appendix C.3's order) vs before it (the library's), interleaved rounds in one process."""
import json, sys
import jax, numpy as np
from ebmm_jax.energies import blocks
from ebmm_jax.reporting import step_timing
from ebmm_jax.setups import specs
from ebmm_jax.training import loop
spec, rounds, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
config = specs.load(spec, sys.argv[4:])
prepared, res = [], dict(config=spec, overrides=sys.argv[4:], rounds=rounds)
for where in ("after", "before"):
  loop._STEP_CACHE.clear()  # The compiled-step cache is keyed by config only.
  with blocks.shortcut_pool(where):
    run, state, costs = step_timing.compiled_step(config)
  res[where] = costs
  prepared.append((run, state))
  print(where, costs["compile_s"], flush=True)
times = step_timing.time_rounds(prepared, rounds)
res["times"] = times.tolist()
res["step_s_median"] = np.median(times, 0).tolist()
res["speedup_median"] = float(np.median(times[:, 0] / times[:, 1]))
res["speedup_quartiles"] = np.percentile(times[:, 0] / times[:, 1], [25, 75]).tolist()
json.dump(res, open(out, "w"), indent=1)
print(json.dumps({k: v for k, v in res.items() if k != "times"}, indent=1))
