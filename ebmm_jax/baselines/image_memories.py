"""Memory Networks and MANN on images (Figures 3a, 3b and 5a: error against
memory size), with the encoder and decoder every image model shares.

Section 4: "all models use the same encoder (and decoder, when applicable)
networks"; Appendix C.2: "The encoder module is also shared with all
baseline models together with its transposed version as a decoder." Both
memories are their binary-strings cores (`memory_networks.MemoryNetwork`,
`mann.MANN`, unchanged) run on the codes of that encoder instead of on bit
vectors:

  write:  code_i = Encoder(x_i)              # C.2: ResBlocks, Linear(256), LayerNorm
          state  = core.write(code_1..N)     # slots written from the codes
  read:   code_q = Encoder(query)
          c(k)   = core.read(state, code_q)  # attention read(s): a code per iterate
          x(k)   = Decoder(c(k))             # the transposed encoder, sigmoid: [0, 1]

  Memory Networks: slot i = [A code_i, 1] (E + 1 floats, A a learned
    code_size x E embedding), K = hops iterates; `model.slots` = 0 gives
    one slot per stored image (data.num_patterns), so no image is
    overwritten and the memory size is set by the slot size E.
  MANN: the LSTM controller reads the codes one after another and writes
    words of W floats through its least-recently-used head into R rows; one
    content-based read per query (K = 1).

Known pixels are clamped to the query's when `known` is given (the image
protocols give None: the block's position is not revealed). Both are trained
like the DAE and EBMM: Eq. (2), the squared error of every iterate against
the stored image (`models.iterate_metrics`), summed over iterates.

Memory size (Section 4: "the number of slots x the slot size for a Memory
Network"): the floats of the written state, counted on shapes
(`models.state_floats`): S (E + 1) for a Memory Network,
`mann.memory_floats(R, W, H)` for MANN. The encoder and decoder are
meta-parameters, not memory. `model.memory_budget` = K floats (the configs'
`mem=K` variant) picks the size of `model.budget_field` (the slot size E,
or MANN's word size W, by default; or the number of slots) whose memory is
closest to K, so a sweep at 2k / 4k / 8k / 16k floats is one flag.
"""
import dataclasses
from typing import Callable, Dict, Tuple

import haiku as hk
import jax
import jax.numpy as jnp
import ml_collections

from ebmm_jax.baselines import mann
from ebmm_jax.baselines import memory_networks
from ebmm_jax.core import budget as budget_lib
from ebmm_jax.core import models
from ebmm_jax.core import tasks
from ebmm_jax.energies import blocks


@dataclasses.dataclass(frozen=True)
class _Core:
  """A slot memory of the binary-strings baselines, as used on codes."""
  name: str  # The row's name (`paper` labels).
  fields: Tuple[str, ...]  # Its size fields in `config.model`.
  budget_fields: Tuple[str, ...]  # Those `model.budget_field` may name.
  floats: Callable[..., int]  # (**sizes) -> floats of the written state.
  make: Callable[[Dict[str, int], int], hk.Module]  # (sizes, code_size) -> module.
  schedules: Callable[[hk.Params], Dict[str, jax.Array]]


CORES = {
    "memnet_images": _Core(
        name=memory_networks.NAME,
        fields=("slots", "embedding_size", "hops"),
        budget_fields=("embedding_size", "slots"),
        floats=lambda slots, embedding_size, **_: memory_networks.memory_floats(
            slots, embedding_size),
        make=lambda s, code_size: memory_networks.MemoryNetwork(
            s["slots"], s["embedding_size"], s["hops"]),
        schedules=memory_networks.schedules),
    "mann_images": _Core(
        name=mann.NAME,
        fields=("slots", "word_size", "controller_size"),
        budget_fields=("word_size", "slots"),
        floats=lambda slots, word_size, controller_size, **_: mann.memory_floats(
            slots, word_size, controller_size),
        make=lambda s, code_size: mann.MANN(
            s["slots"], s["word_size"], s["controller_size"], code_size),
        schedules=mann.schedules),
}


# XLA options for a program that runs once: the cheapest backend optimisation.
_FAST_COMPILE = {"xla_backend_optimization_level": 0,
                 "xla_llvm_disable_expensive_passes": True}


def closest_size(floats_of: Callable[[int], int], budget: int) -> int:
  """The size v >= 1 whose memory `floats_of(v)` is closest to `budget`
  (the smaller on a tie; `core.budget.closest`)."""
  return budget_lib.closest(floats_of, budget)


def core_sizes(config: ml_collections.ConfigDict) -> Dict[str, int]:
  """The core's sizes a config builds: `model.slots` = 0 is one slot per
  stored image (data.num_patterns); `model.memory_budget` > 0 sets
  `model.budget_field` to the size closest to that many floats."""
  m = config.model
  core = CORES[m.name]
  sizes = {f: int(m[f]) for f in core.fields}
  if sizes["slots"] == 0:
    sizes["slots"] = int(config.data.num_patterns)
  budget = m.get("memory_budget", 0)
  if budget:
    field = m.get("budget_field", core.budget_fields[0])
    if field not in core.budget_fields:
      raise ValueError(f"model.budget_field={field!r} must be one of "
                       f"{list(core.budget_fields)} for model.name={m.name!r}.")
    sizes[field] = closest_size(lambda v: core.floats(**{**sizes, field: v}), budget)
  for f, v in sizes.items():
    if v < 1:
      raise ValueError(f"model.{f}={m[f]} must be >= 1"
                       + (" (0: one per stored image)." if f == "slots" else "."))
  return sizes


def memory_floats(config: ml_collections.ConfigDict) -> int:
  """Floats of the written state of a config's memory (the formula; the
  built model's `memory_floats` counts the same on shapes)."""
  return CORES[config.model.name].floats(**core_sizes(config))


def _trunk(config: ml_collections.ConfigDict):
  """(channels, channel_multipliers, code_size) of the shared encoder."""
  m = config.model
  return (m.get("channels", 32), tuple(m.get("channel_multipliers", (1, 2, 3))),
          m.get("code_size", 256))


def transformed(config: ml_collections.ConfigDict,
                image_shape: Tuple[int, int, int]) -> hk.MultiTransformed:
  """The networks of a config's memory, one parameter set for all of them.

  `apply` is (write, read_codes, decode, write_and_read_codes):
    write(params, images [N, H, W, C]) -> state (the core's),
    read_codes(params, state, queries [N, H, W, C]) -> codes [K, N, code_size],
    decode(params, codes [B, code_size]) -> images [B, H, W, C] in [0, 1],
    write_and_read_codes(params, images, queries) -> codes [K, N, code_size]:
      both, with one encoder pass over images and queries together (the
      same codes; a smaller program to differentiate and compile).
  """
  channels, multipliers, code_size = _trunk(config)
  core = CORES[config.model.name]
  sizes = core_sizes(config)

  def networks():
    encoder = blocks.Encoder(channels, multipliers, code_size)
    memory = core.make(sizes, code_size)
    decoder = blocks.Decoder(tuple(image_shape), channels, multipliers)

    def write(images):
      return memory.write(encoder(images))

    def read_codes(state, queries):
      return memory.read(state, encoder(queries))

    def write_and_read_codes(images, queries):
      codes = encoder(jnp.concatenate([images, queries]))
      n = images.shape[0]
      return memory.read(memory.write(codes[:n]), codes[n:])

    def init(images, queries):
      return decoder(read_codes(write(images), queries)[0])

    return init, (write, read_codes, decoder, write_and_read_codes)

  return hk.without_apply_rng(hk.multi_transform(networks))


def build(config: ml_collections.ConfigDict, task: tasks.Task) -> models.MemoryModel:
  """The image Memory Network or MANN of `config.model` for `task`'s images."""
  core = CORES[config.model.name]
  shape = tuple(task.pattern_shape)
  t = transformed(config, shape)
  write, read_codes, decode, write_and_read_codes = t.apply

  example = jnp.zeros((1, *shape), jnp.float32)  # Parameters do not depend on N.
  # Run op by op, the ResNets' initialisation compiles each random draw on its
  # own (most of a minute on a CPU); as one program compiled for speed of
  # compilation (as EBMM's image energies, `setups.images.make_energy`) it
  # takes seconds. Under a caller's trace (jit, eval_shape) it is traced as is:
  # compiler options cannot be given to a nested jit.
  fast_init = jax.jit(lambda key: t.init(key, example, example),
                      compiler_options=_FAST_COMPILE)

  def init(key):
    if isinstance(key, jax.core.Tracer):
      return t.init(key, example, example)
    return fast_init(key)

  def decode_iterates(params, codes, queries, known):
    k, n = codes.shape[:2]  # codes [K, N, code_size]
    x = decode(params, codes.reshape(k * n, codes.shape[-1])).reshape(k, n, *shape)
    if known is not None:  # Known pixels stay the query's, in every iterate.
      x = jnp.where(known, queries, x)
    return x  # [K, N, H, W, C]

  def read(params, state, queries, known):
    return decode_iterates(params, read_codes(params, state, queries), queries, known)

  def loss(params, patterns, key, step=None):
    del step  # The loss does not change over training.
    queries, known = task.distort(key, patterns)
    # = read(params, write(params, patterns), queries, known), one encoder pass.
    xs = decode_iterates(params, write_and_read_codes(params, patterns, queries),
                         queries, known)
    metrics = models.iterate_metrics(task.score, xs, patterns, queries)
    return jnp.sum(metrics["reconstruction"]), metrics  # Eq. (2), every iterate.

  return models.MemoryModel(
      name=core.name, init=init, write=write, read=read, loss=loss,
      count_memory_floats=models.lazy_count(lambda: models.state_floats(
          write, init, shape, config.data.num_patterns)),
      schedules=core.schedules)

