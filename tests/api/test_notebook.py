"""notebooks/quickstart.ipynb runs headlessly, top to bottom, and retrieves.

The notebook runs in a fresh `python3` kernel of this interpreter (ipykernel's
spec starts `sys.executable`), from the repository root, with the user's
environment: the fake devices and the cheap XLA options of conftest.py are
removed, as the notebook meta-trains for real.
"""
import json
import os
import sys

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTEBOOK = os.path.join(ROOT, "notebooks", "quickstart.ipynb")
# The notebook trains a fixed 1,000 meta-steps (no time limit, so the same
# memory on any machine: about 10 s here); the rest is compilation and plots.
CELL_TIMEOUT_S = 300

# Appended to the notebook: what it computed, for the checks below.
REPORT = """
import json, sys
print("REPORT " + json.dumps(dict(
    executable=sys.executable, devices=len(jax.devices()),
    query_error=query_error, final_error=final_error,
    num_written=mem.num_written, iterates=list(iterates.shape),
    steps=int(state.step), library=nnx_mem.config.energy.library,
    haiku_errors=np.asarray(iterate_errors[-1]).tolist(),
    nnx_errors=np.asarray(nnx_errors).tolist(),
    stream_errors=np.asarray(stream_errors).tolist(),
    stream_written=stream.num_written)))
"""


@pytest.mark.slow
def test_quickstart_notebook_executes_and_retrieves():
  nb = nbformat.read(NOTEBOOK, as_version=4)
  # Committed without outputs: a small diff and no stale results.
  assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
  nb.cells.append(nbformat.v4.new_code_cell(REPORT))
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3")
  # Raises CellExecutionError, naming the cell, on any error.
  client.execute(cwd=os.path.join(ROOT, "notebooks"), env=env)

  text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
  report = json.loads(text.split("REPORT ", 1)[1])
  assert os.path.realpath(report["executable"]) == os.path.realpath(sys.executable)
  assert report["devices"] == 1
  assert report["iterates"] == [5, 8, 128] and report["num_written"] == 8
  assert report["steps"] == 1000  # Every step, however slow the machine.
  # Half of the 128 bits are replaced by fresh random bits: 32 wrong on average.
  assert 28 < report["query_error"] < 36
  # 1,000 meta-steps retrieve better than the query they started from.
  assert report["final_error"] < report["query_error"] - 4, report
  # The Haiku weights in the Flax NNX energy retrieve the same strings.
  assert report["library"] == "nnx"
  np.testing.assert_allclose(report["nnx_errors"], report["haiku_errors"], atol=1)
  # The shipped stream memory keeps all four chunks (evaluation.json: 13.95
  # to 14.04 bits per chunk over 200 streams; the queries: 32).
  assert report["stream_written"] == 64
  assert len(report["stream_errors"]) == 4 and max(report["stream_errors"]) < 18, report
  # The grid was drawn.
  images = [o for c in nb.cells for o in c.get("outputs", [])
            if "image/png" in o.get("data", {})]
  assert len(images) >= 4
