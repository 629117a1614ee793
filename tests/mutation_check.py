r"""Mutation check: do the fast core tests catch a wrong algorithm?

  python tests/mutation_check.py                # every mutation, the core tests
  python tests/mutation_check.py --before       # only the tests that predate
                                                # the literal references
  python tests/mutation_check.py --only prior_sign_flipped,nesterov_removed
  python tests/mutation_check.py --list

Each mutation is one textual replacement in one library file, made in a
temporary copy of the repository (the real files are never edited). The chosen
test files then run in that copy (`pytest -x -q`, with a timeout): a mutation
is *caught* when they fail, *missed* when they pass, *timeout* when they run
past --timeout_s (counted as caught: a hang is noticed), and *stale* when its
target text is no longer in the file exactly once (the check needs updating;
the script exits non-zero). The unmutated copy runs first and must pass.

Compiled programs are shared between the runs (JAX's persistent compilation
cache in the temporary folder), so tests that a mutation does not touch are
not compiled again. On 2 busy CPU cores: about 5 minutes with the references
(22/22 caught, most in their first test), about 20 minutes with --before
(5/22 caught: most mutations run the whole list).
"""
import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List, Sequence, Tuple, Union

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The core tests that existed before the references (the "before" score) ...
BEFORE_TESTS = ("tests/core/test_memory.py", "tests/core/test_meta.py",
                "tests/baselines/test_hopfield.py", "tests/baselines/test_baselines.py")
# ... and with them, first because they fail fastest.
AFTER_TESTS = ("tests/core/test_references.py", "tests/baselines/test_baseline_references.py",
               *BEFORE_TESTS)
# Not copied: version control, environments, caches and run outputs.
IGNORED = (".git", ".venv", "__pycache__", ".pytest_cache", "runs", "workdirs",
           "*.egg-info", "build", "dist")


@dataclasses.dataclass(frozen=True)
class Mutation:
  name: str
  path: str  # Relative to the repository root.
  old: Union[str, Tuple[str, ...]]  # Each must occur exactly once in the file ...
  new: Union[str, Tuple[str, ...]]  # ... and is replaced by its counterpart.
  what: str

  def edits(self):
    if isinstance(self.old, str):
      return [(self.old, self.new)]
    return list(zip(self.old, self.new))


MUTATIONS: List[Mutation] = [
    # --- The mutations that no test caught before the references. ---
    Mutation("prior_sign_flipped", "ebmm_jax/core/memory.py",
             "- r[2] * beta * gq", "+ r[2] * beta * gq",
             "Eq. (4): the prior term's gradient is added instead of subtracted"),
    Mutation("nesterov_removed", "ebmm_jax/core/memory.py",
             "_, grad_x = input_gradients(energy_apply, params, lookahead)",
             "_, grad_x = input_gradients(energy_apply, params, x)",
             "B.2: the gradient at x(k-1), not at the look-ahead x̂(k)"),
    Mutation("mann_cosine_to_dot", "ebmm_jax/baselines/mann.py",
             "similarity = (key @ memory.T) / (norm(key)[..., None] * norm(memory))",
             "similarity = key @ memory.T",
             "MANN: content addressing by dot product instead of cosine"),
    Mutation("storkey_correction_halved", "ebmm_jax/baselines/hopfield.py",
             "update = outer_xx - outer_xh - np.swapaxes(outer_xh, -1, -2)",
             "update = outer_xx - 0.5 * (outer_xh + np.swapaxes(outer_xh, -1, -2))",
             "Storkey: the local-field correction halved"),
    # Clamping alone, or the gradient mask alone, is redundant (v(0) = 0 and
    # either keeps v = 0 on known entries); disabled together, known entries move.
    Mutation("read_clamp_disabled", "ebmm_jax/core/memory.py",
             ("return x if known is None else jnp.where(known, queries, x)",
              "free = None if known is None else"),
             ("return x", "free = None if True else"),
             "reading: known entries are neither clamped nor kept out of the gradient"),
    # --- Write (Eq. 3-4, Appendix D). ---
    Mutation("alpha_beta_swapped", "ebmm_jax/core/memory.py",
             "alpha, beta = penalty_weights(write_params.penalties, rule.rates)",
             "beta, alpha = penalty_weights(write_params.penalties, rule.rates)",
             "Eq. (3): alpha weights the prior, beta the gradient penalty"),
    Mutation("term_rates_permuted", "ebmm_jax/core/memory.py",
             "m - r[0] * ge - r[1] * alpha * gp", "m - r[1] * ge - r[0] * alpha * gp",
             "Appendix D: the energy and gradient-penalty rates exchanged"),
    Mutation("tensor_rates_shared", "ebmm_jax/core/memory.py",
             "  raw = write_params.learning_rates\n",
             "  raw = jax.tree_util.tree_leaves(write_params.learning_rates)[0]\n",
             "Appendix D: every tensor uses the first tensor's rates"),
    Mutation("grad_penalty_summed", "ebmm_jax/core/memory.py",
             "penalty = jnp.sum(jnp.square(grad_x)) * n",
             "penalty = jnp.sum(jnp.square(grad_x)) * n * n",
             "Eq. (4): the gradient penalty summed over patterns, not averaged"),
    # --- Read (Appendix B.1-B.3). ---
    Mutation("momentum_off_by_one", "ebmm_jax/core/memory.py",
             "psis = momentum_schedule(read_params.momentum)",
             "psis = jnp.roll(momentum_schedule(read_params.momentum), -1)",
             "B.2: step k uses the momentum rate ψ(k+1)"),
    Mutation("decay_not_cumulative", "ebmm_jax/core/memory.py",
             "jnp.cumprod(jax.nn.sigmoid(decay_logits))", "jax.nn.sigmoid(decay_logits)",
             "B.3: γ(k) = γ(1) σ(η(k)) instead of γ(k-1) σ(η(k))"),
    Mutation("lookahead_not_projected", "ebmm_jax/core/memory.py",
             "lookahead = clamp(proj(x + psi * v))", "lookahead = clamp(x + psi * v)",
             "B.1-B.2: the look-ahead point is not projected onto the box"),
    Mutation("appendix_typo_x_is_v", "ebmm_jax/core/memory.py",
             "x = clamp(proj(x + v))", "x = clamp(proj(v))",
             "B.2 as printed: x(k) = proj(v(k)), dropping x(k-1)"),
    # --- Meta-loss and logged schedules (Eq. 2, Appendix B.4). ---
    Mutation("meta_loss_last_is_first", "ebmm_jax/core/meta.py",
             "loss = per_iterate[-1]", "loss = per_iterate[0]",
             "iterates='last' takes x(1) instead of x(K)"),
    Mutation("meta_loss_all_is_mean", "ebmm_jax/core/meta.py",
             "loss = jnp.sum(per_iterate)", "loss = jnp.mean(per_iterate)",
             "B.4: the mean over iterates instead of the sum"),
    Mutation("write_lr_mean_over_terms", "ebmm_jax/core/meta.py",
             "jnp.mean(rates, axis=(0, 1))", "jnp.mean(rates, axis=(0, 2))",
             "schedules: the writing rates averaged over terms, not over steps"),
    # --- The learned baselines and the task. ---
    Mutation("mann_most_used_slot", "ebmm_jax/baselines/mann.py",
             "jnp.argmin(state.usage)", "jnp.argmax(state.usage)",
             "MANN: the most used slot is erased instead of the least used"),
    Mutation("lstm_no_forget_bias", "ebmm_jax/baselines/lstm.py",
             "jax.nn.sigmoid(f + 1.0) * state.c", "jax.nn.sigmoid(f) * state.c",
             "LSTM: the forget gate's +1 bias dropped"),
    Mutation("plasticity_trace_never_decays", "ebmm_jax/baselines/plasticity.py",
             "hebb = (1.0 - wts.eta) * hebb + wts.eta", "hebb = hebb + wts.eta",
             "plasticity: Hebb(t) = Hebb(t-1) + η ..., without the (1 - η) decay"),
    Mutation("memnet_attends_empty_slots", "ebmm_jax/baselines/memory_networks.py",
             "scores = jnp.where(occupied[None], scores, -jnp.inf)", "scores = scores",
             "Memory Networks: unwritten slots take part in the attention"),
    Mutation("cross_entropy_on_known_bits", "ebmm_jax/baselines/common.py",
             "jnp.sum(jnp.where(known, 0.0, ce), axis=-1)", "jnp.sum(ce, axis=-1)",
             "bit_losses: the known (clamped) bits are in the loss"),
    Mutation("one_mask_for_all_queries", "ebmm_jax/data/binary_strings.py",
             "jax.random.uniform(key_pos, patterns.shape)",
             "jnp.broadcast_to(jax.random.uniform(key_pos, patterns.shape[-1:]), "
             "patterns.shape)",
             "corrupt_half: every query of a call gets the same mask"),
]


def copy_repository(destination: str) -> str:
  target = os.path.join(destination, "repo")
  shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(*IGNORED))
  return target


def apply(mutation: Mutation, repo: str) -> bool:
  """Applies `mutation` in the copy; False when its target text is stale."""
  path = os.path.join(repo, mutation.path)
  with open(path) as f:
    text = f.read()
  for old, new in mutation.edits():
    if text.count(old) != 1:
      return False
    text = text.replace(old, new)
  with open(path, "w") as f:
    f.write(text)
  return True


def restore(mutation: Mutation, repo: str) -> None:
  shutil.copyfile(os.path.join(ROOT, mutation.path), os.path.join(repo, mutation.path))


def run_tests(repo: str, tests: Sequence[str], timeout_s: float, cache_dir: str):
  """(status, seconds, the last lines of the output) of pytest in the copy."""
  env = dict(os.environ)
  env.update(JAX_COMPILATION_CACHE_DIR=cache_dir,
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
             PYTHONDONTWRITEBYTECODE="1")
  command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
             "--durations=0", "--durations-min=1000", *tests]
  start = time.time()
  try:
    proc = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True,
                          timeout=timeout_s)
  except subprocess.TimeoutExpired:
    return "timeout", time.time() - start, ""
  tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
  return ("missed" if proc.returncode == 0 else "caught"), time.time() - start, tail


def _first_failure(tail: str) -> str:
  """The failing test and the start of its message, from pytest's summary."""
  for line in tail.splitlines():
    if line.startswith("FAILED") or line.startswith("ERROR"):
      test, _, message = line.partition(" - ")
      name = test.split("::", 1)[-1][:60]
      return f"{name} ({message.strip()[:40]})" if message.strip() else name
  return ""


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--before", action="store_true",
                      help="Run only the core tests that predate the references.")
  parser.add_argument("--tests", default="",
                      help="Comma-separated test files (overrides --before).")
  parser.add_argument("--only", default="", help="Comma-separated mutation names.")
  parser.add_argument("--timeout_s", type=float, default=600.0,
                      help="Per mutation.")
  parser.add_argument("--list", action="store_true", help="List the mutations and exit.")
  args = parser.parse_args(argv)
  if args.list:
    for m in MUTATIONS:
      print(f"{m.name:32s} {m.path:36s} {m.what}")
    return 0
  tests = (args.tests.split(",") if args.tests
           else list(BEFORE_TESTS if args.before else AFTER_TESTS))
  names = [n for n in args.only.split(",") if n]
  unknown = set(names) - {m.name for m in MUTATIONS}
  if unknown:
    parser.error(f"Unknown mutation(s): {sorted(unknown)}.")
  mutations = [m for m in MUTATIONS if not names or m.name in names]

  with tempfile.TemporaryDirectory(prefix="ebmm_mutations_") as tmp:
    repo = copy_repository(tmp)
    cache = os.path.join(tmp, "jax_cache")
    print(f"Tests: {' '.join(tests)}", flush=True)
    status, seconds, tail = run_tests(repo, tests, args.timeout_s, cache)
    if status != "missed":
      print(f"The unmutated code does not pass ({status}, {seconds:.0f} s):\n{tail}")
      return 2
    print(f"unmutated: the tests pass ({seconds:.0f} s)", flush=True)
    rows = []
    for m in mutations:
      if not apply(m, repo):
        rows.append((m, "stale", 0.0, ""))
      else:
        status, seconds, tail = run_tests(repo, tests, args.timeout_s, cache)
        rows.append((m, status, seconds, _first_failure(tail)))
        restore(m, repo)
      row = rows[-1]
      print(f"{row[0].name:32s} {row[1]:8s} {row[2]:6.0f} s  {row[3]}", flush=True)

  caught = sum(r[1] in ("caught", "timeout") for r in rows)
  stale = [r[0].name for r in rows if r[1] == "stale"]
  print("\n| mutation | file | result | first failing test |")
  print("|---|---|---|---|")
  for m, status, _, failure in rows:
    print(f"| {m.name} | {m.path} | {status} | {failure} |")
  print(f"\nScore: {caught}/{len(rows) - len(stale)} mutations caught"
        + (f"; stale (target text not found once): {', '.join(stale)}" if stale else ""))
  return 1 if stale else 0


if __name__ == "__main__":
  sys.exit(main())
