r"""What the energy's network library costs per meta-step (docs/energies.md).

  python -m experiments.energy_benchmark --config=binary:cpu --rounds=40 \
      --output=docs/benchmarks/energy_libraries_binary_cpu_2core.json

Builds the config's experiment once per `--libraries` entry (`energy.library`:
the gated RNN of Appendix C.1 in Haiku, Flax NNX and Equinox, from the same
seed) and measures, in one process:
  * the time to trace and lower the training loop's meta-step
    (`training.make_train_step` on one device: where the library's Python
    runs) and XLA's time to compile it;
  * the meta-step's time: `--rounds` rounds, each timing one step of every
    library in turn, so that a machine shared with other jobs slows all of
    them alike; the median per library, its ratio to the first library's,
    and the median of the per-round ratios;
  * XLA's FLOP count of the compiled step (loops counted once), which shows
    whether the libraries lower to the same program.
The load average (`os.getloadavg`) before and after is recorded with the results.
"""
import importlib.metadata
import json
import os
import platform

import jax
import numpy as np
from absl import flags
from absl import logging

from ebmm_jax.experiments import cli
from ebmm_jax.experiments import run_flags
from ebmm_jax.reporting import step_timing
from ebmm_jax.setups import specs

_CONFIG = flags.DEFINE_string("config", "binary:cpu", "A config and its variants.")
_LIBRARIES = flags.DEFINE_list("libraries", ["haiku", "nnx", "equinox"],
                               "energy.library values; the first is the reference.")
_ROUNDS = flags.DEFINE_integer("rounds", 15, "Timed rounds (one step of each library each).")
_OUTPUT = run_flags.output("Write the results as JSON here.")


def _version(package: str) -> str:
  try:
    return importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    return "not installed"


def _prepare(library: str):
  """(run: state -> state, state, result dict) for one library's meta-step."""
  config = specs.load(_CONFIG.value, [f"energy.library={library}"])
  run, state, costs = step_timing.compiled_step(config)
  return run, state, dict(library=library, **costs)


def main(argv):
  del argv
  load_before = os.getloadavg()
  prepared = [_prepare(lib) for lib in _LIBRARIES.value]
  times = step_timing.time_rounds([(run, state) for run, state, _ in prepared],
                                _ROUNDS.value).T.tolist()
  rows = []
  for (_, _, out), ts in zip(prepared, times):
    out["step_s"] = ts
    out["step_s_median"] = float(np.median(ts))
    rows.append(out)
  for out in rows:
    out["step_vs_first"] = out["step_s_median"] / rows[0]["step_s_median"]
    # Each round's ratio to the first library's step of the same round: the
    # machine's load changes between rounds more than within one.
    out["step_vs_first_per_round_median"] = float(np.median(
        np.asarray(out["step_s"]) / np.asarray(rows[0]["step_s"])))
    out["compile_vs_first"] = out["compile_s"] / rows[0]["compile_s"]
    logging.info("%s: %.4f s per meta-step (x%.3f), trace %.1f s, compile %.1f s",
                 out["library"], out["step_s_median"], out["step_vs_first"],
                 out["trace_and_lower_s"], out["xla_compile_s"])
  results = dict(
      config=_CONFIG.value, rounds=_ROUNDS.value, libraries=rows,
      load_average_before=load_before, load_average_after=os.getloadavg(),
      machine=dict(platform=platform.platform(), cpus=os.cpu_count(),
                   device=str(jax.devices()[0]), jax=jax.__version__),
      versions={p: _version(p) for p in ("dm-haiku", "flax", "equinox")})
  print(json.dumps({k: v for k, v in results.items() if k != "libraries"}, indent=2))
  print(json.dumps([{k: v for k, v in r.items() if k != "step_s"} for r in rows], indent=2))
  if _OUTPUT.value:
    with open(_OUTPUT.value, "w") as f:
      json.dump(results, f, indent=2)


def run():
  cli.run(main)


if __name__ == "__main__":
  run()
