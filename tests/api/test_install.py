"""The package as a user gets it: a wheel installed into a fresh virtual
environment, its commands run from an unrelated directory."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _run(args, cwd, env=None, check=True):
  result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=1200)
  if check:
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
  return result


@pytest.mark.slow
def test_the_wheel_installs_and_runs_from_anywhere(tmp_path):
  dist, venv, elsewhere = tmp_path / "dist", tmp_path / "venv", tmp_path / "elsewhere"
  elsewhere.mkdir()
  _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
       cwd=tmp_path)
  (wheel,) = dist.glob("ebmm_jax-*.whl")
  _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
  bin_dir = venv / "bin"
  _run([str(bin_dir / "pip"), "install", "-q", str(wheel), "-c", str(ROOT / "constraints.txt")],
       cwd=tmp_path)
  env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "XLA_FLAGS")}
  env["PATH"] = str(bin_dir) + os.pathsep + env["PATH"]
  env["JAX_PLATFORMS"] = "cpu"
  # The installed package, not this checkout: nothing of the repository is on the path.
  where = _run([str(bin_dir / "python"), "-c", "import ebmm_jax, ebmm_jax.configs; "
                "print(ebmm_jax.__file__); print(ebmm_jax.configs.__file__)"],
               cwd=elsewhere, env=env).stdout.split()
  assert all(str(venv) in path and str(ROOT) not in path for path in where), where

  _run(["ebmm-train", "--config=binary:runlocal", "--config.train.num_steps=4",
        "--workdir=run"], cwd=elsewhere, env=env)
  out = _run(["ebmm-evaluate", "--workdir=run", "--ns=16", "--num_batches=2",
              "--hopfield=", "--nomodern_hopfield"], cwd=elsewhere, env=env).stdout
  assert "| EBMM (ebmm-jax) | 8127 |" in out
  # A shipped memory retrieves without training.
  code = ("import jax; from ebmm_jax import api; from ebmm_jax.data import binary_strings as b\n"
          "m = api.Memory.pretrained('binary-n16')\n"
          "x = b.sample_patterns(jax.random.PRNGKey(0), 16)\n"
          "q, k = b.corrupt_half(jax.random.PRNGKey(1), x)\n"
          "m.write(x); print(float(b.error_bits(m.read(q, mask=k)[-1], x).mean()))")
  assert float(_run([str(bin_dir / "python"), "-c", code], cwd=elsewhere,
                    env=env).stdout.split()[-1]) < 2.0
  # A user error is one line, exit status 2.
  bad = _run(["ebmm-train", "--config=binary:runlocal", "--config.train.num_step=4",
              "--workdir=run2"], cwd=elsewhere, env=env, check=False)
  assert bad.returncode == 2
  assert bad.stderr.strip().splitlines()[-1].startswith(
      "error: the config has no field 'train.num_step'; did you mean train.num_steps")
  # Flax is an optional extra, not installed here: asking for it is a user
  # error naming the extra, before anything is written.
  missing = _run(["ebmm-train", "--config=binary:runlocal", "--config.energy.library=nnx",
                  "--workdir=run3"], cwd=elsewhere, env=env, check=False)
  assert missing.returncode == 2
  assert missing.stderr.strip().splitlines()[-1].startswith(
      "error: energy library 'nnx' needs the optional extra 'flax': "
      "pip install 'ebmm-jax[flax]'")
  assert not (elsewhere / "run3").exists()
