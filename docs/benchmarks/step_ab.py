"""Before/after of one config's compiled meta-step, both compiled in this
process and timed in interleaved rounds (one step of each per round), so
that a changing machine load biases no per-round ratio.

  python docs/benchmarks/step_ab.py MODE CONFIG ROUNDS OUTPUT [FIELD=VALUE ...]

MODE: shortcut_pool  the downscaling shortcut pooled after its 1x1
                     projection (Appendix C.3's order), then before it;
      unroll         memory.unroll=False, then True.
"""
import contextlib
import json
import sys

import numpy as np

from ebmm_jax.energies import blocks
from ebmm_jax.reporting import step_timing
from ebmm_jax.setups import specs
from ebmm_jax.training import loop

MODES = {
    "shortcut_pool": [("after", lambda: blocks.shortcut_pool("after"), []),
                      ("before", lambda: blocks.shortcut_pool("before"), [])],
    "unroll": [("rolled", contextlib.nullcontext, ["memory.unroll=False"]),
               ("unrolled", contextlib.nullcontext, ["memory.unroll=True"])],
}
mode, spec, rounds, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
overrides = sys.argv[5:]
prepared, res = [], dict(mode=mode, config=spec, overrides=overrides, rounds=rounds)
for name, context, extra in MODES[mode]:
  loop._STEP_CACHE.clear()  # The compiled-step cache is keyed by config only.
  with context():
    run, state, costs = step_timing.compiled_step(specs.load(spec, overrides + extra))
  res[name] = costs
  prepared.append((run, state))
  print(name, "compiled in", round(costs["compile_s"]), "s", flush=True)
times = step_timing.time_rounds(prepared, rounds)
res["times"] = times.tolist()
res["step_s_median"] = np.median(times, 0).tolist()
res["speedup_median"] = float(np.median(times[:, 0] / times[:, 1]))
res["speedup_quartiles"] = np.percentile(times[:, 0] / times[:, 1], [25, 75]).tolist()
with open(out, "w") as f:
  json.dump(res, f, indent=1)
print(json.dumps({k: v for k, v in res.items() if k != "times"}, indent=1))
