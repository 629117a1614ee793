"""What every launcher shares: `run(main)`.

- Flags that several launchers take are declared through `run_flags`.
- A launcher takes no positional arguments: `run` refuses them for all.

- `--config` (and `--study`) take a config file (`configs/binary.py:cpu`) or
  the name of an installed config (`binary:cpu`), so the launchers run from
  any directory once the package is installed.
- The log shows the launcher's progress: JAX's own informational messages
  (which backends it looked for) are left out unless --verbose.
- A user error (an unknown config field or variant, a bad value, a workdir
  that holds another run, unreadable checkpoints, missing data) ends the
  command with one line on stderr, `error: ...`, and exit status 2; the
  traceback is shown with --verbose.
"""
import logging
import sys
from typing import Callable, List, Sequence

from absl import app
from absl import flags
import ml_collections

from ebmm_jax.core import energy
from ebmm_jax.experiments import run_flags
from ebmm_jax.setups import specs
from ebmm_jax.training import loop
from ebmm_jax.training import workdir

_VERBOSE = flags.DEFINE_bool(
    "verbose", False, "Show the whole traceback of an error, and JAX's informational messages.")

# Flags whose value is a config spec FILE[:VARIANTS].
CONFIG_FLAGS = ("config", "study")
# Errors a user can cause and mend: one line, no traceback (unless --verbose).
USER_ERRORS = (ValueError, KeyError, FileNotFoundError, NotADirectoryError,
               PermissionError, workdir.WorkdirBusyError, loop.CheckpointError,
               loop.NonFiniteError, energy.MissingExtraError)
EXIT_USER_ERROR = 2
_HELP_FLAGS = {"--help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml"}


def resolve_argv(argv: Sequence[str]) -> List[str]:
  """argv with every --config / --study spec resolved (`specs.resolve`)."""
  out = []
  for arg in argv:
    for name in CONFIG_FLAGS:
      prefix = f"--{name}="
      if arg.startswith(prefix):
        arg = prefix + specs.resolve(arg[len(prefix):])
    out.append(arg)
  return out


def unknown_override(config: ml_collections.ConfigDict, flag: str,
                     argv: Sequence[str]) -> str:
  """A one-line message for the first `--FLAG.a.b=...` naming no field of
  `config`, with the nearest known fields; "" when all of them exist."""
  for arg in argv:
    if arg.startswith(f"--{flag}."):
      message = specs.unknown_field(config, arg[len(flag) + 3:].partition("=")[0])
      if message:
        return message
  return ""


def _describe_parse_error(argv: Sequence[str], error: Exception) -> str:
  for name in CONFIG_FLAGS:
    spec = next((a.partition("=")[2] for a in argv if a.startswith(f"--{name}=")), None)
    if spec is None:
      continue
    try:
      message = unknown_override(specs.load(spec), name, argv)
    except Exception as e:  # pylint: disable=broad-except
      return f"--{name}={spec}: {e}"
    if message:
      return message
  return str(error).strip().splitlines()[-1] if str(error).strip() else repr(error)


def _parse(argv: List[str]) -> List[str]:
  try:
    argv = resolve_argv(argv)
  except FileNotFoundError as e:
    if "--verbose" in argv:
      raise
    _fail(str(e), help_hint=True)
  try:
    return flags.FLAGS(argv)
  except SystemExit:  # absl's --help prints the flags, then exits 1.
    if _HELP_FLAGS.intersection(argv):
      sys.exit(0)
    raise
  except flags.Error as e:
    if "--verbose" in argv:
      raise
    # A flag error other than an unknown config field keeps absl's message.
    message = _describe_parse_error(argv, e) if any(
        a.startswith(f"--{n}") for a in argv for n in CONFIG_FLAGS) else str(e)
    _fail(message, help_hint=True)
  except Exception as e:  # pylint: disable=broad-except
    if "--verbose" in argv:
      raise
    _fail(_describe_parse_error(argv, e), help_hint=True)
  return argv  # Not reached.


def _fail(message: str, help_hint: bool = False) -> None:
  hint = " (--help: the flags; --verbose: the traceback)" if help_hint else (
      " (--verbose: the traceback)")
  print(f"error: {message}{hint}", file=sys.stderr)
  sys.exit(EXIT_USER_ERROR)


def run(main: Callable[[List[str]], None]) -> None:
  """absl's app.run(main) with installed config names and one-line errors."""

  def guarded(argv):
    if len(argv) > 1:
      raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not _VERBOSE.value:
      logging.getLogger("jax").setLevel(logging.WARNING)
    try:
      return main(argv)
    except ModuleNotFoundError as e:
      if _VERBOSE.value:
        raise
      _fail(f"{e}: this needs an optional dependency; pip install 'ebmm-jax[all]' "
            "installs them all")
    except USER_ERRORS as e:
      if _VERBOSE.value:
        raise
      _fail(str(e).strip().replace("\n", " ") or type(e).__name__)

  # --help lists the launcher's own flags (and --verbose) also when it runs
  # as an installed command rather than as __main__.
  # (absl's --help shows the flags registered under sys.argv[0].)
  fv = flags.FLAGS
  own = fv.flags_by_module_dict().get(main.__module__, [])
  shared = [fv[name] for name in run_flags.declared()]
  for flag in [*own, *shared, fv["verbose"]]:
    fv.register_key_flag_for_module(sys.argv[0], flag)
  app.run(guarded, flags_parser=_parse)
