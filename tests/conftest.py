"""Shared pytest fixtures.

Every test process sees 4 fake CPU devices, so multi-device tests can compare
against single-device runs in the same process.

Real data: set EBMM_DATA_DIR to the datasets folder (docs/data.md)
(CI does). When it is unset the real-data tests are skipped with a reason; when
it is set but holds no data they fail.
"""
import atexit
import os
import pathlib
import shutil
import tempfile

import chex
import pytest

# Both must happen before JAX initialises its backend. Tests check values, not
# speed: the cheapest XLA backend optimisation roughly halves the compile time
# of the second-order graphs (write steps differentiate a gradient).
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_backend_optimization_level=0"
                           " --xla_llvm_disable_expensive_passes=true")
chex.set_n_cpu_devices(4)

# Compilation dominates the suite's time, and many tests compile the same
# programs again: a resumed run its step, a launcher's subprocess what another
# test compiled. JAX's persistent compilation cache, in a folder of this run
# only (launcher subprocesses inherit it), serves those from disk. A cached
# executable is the one XLA would build for the same program, flags and
# devices, so values are unchanged. A cache folder set by the caller is kept.
# Under pytest-xdist the workers share the controller's folder; a size bound
# makes JAX lock it (filelock), so no worker reads an entry being written.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _CACHE_DIR = tempfile.mkdtemp(prefix="ebmm-test-xla-cache-")
  atexit.register(shutil.rmtree, _CACHE_DIR, ignore_errors=True)
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE_DIR
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(8 << 30))


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
  path = os.environ.get("EBMM_DATA_DIR")
  if not path:
    pytest.skip("EBMM_DATA_DIR is not set; real-data tests need it "
                "(e.g. EBMM_DATA_DIR=DATA_DIR, the folder of the datasets).")
  path = pathlib.Path(path)
  if not path.is_dir() or not any(path.iterdir()):
    pytest.fail(f"EBMM_DATA_DIR={path} is set but is not a non-empty folder.")
  return path


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs():
  """Drops every compiled JAX program after each test file: the suite runs
  hundreds of compilations in one process, and XLA's compiler crashed late in
  a full run (never in a file run alone)."""
  yield
  import gc  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  jax.clear_caches()
  gc.collect()
