"""EBMM as a `models.MemoryModel`: the paper's memory, built like every other.

A config with an `energy` section (and no `model` section) trains EBMM. Its
model module is this one: the write (Eq. 4) and read (Eq. 1) rules chosen by
the config's `memory` section, the meta-loss of Eq. (5), streams with a
learned forgetting, the controls only an energy model has (writing off), and
the validation of the `memory` and `energy` sections. The setups
(`setups.binary`, `setups.images`) build the energy network `E(x; θ)` for
their data; `build` turns it into the model.

Analyses of EBMM's own energy landscape (Figure 6's populations, the write
kernel, the benchmark's FLOP count) read the model's network and rule
through `require`, which names the analysis when it is given another model.
"""
import dataclasses
import functools
from typing import Optional, Tuple

import jax
import jax.numpy as jnp
import ml_collections

from ebmm_jax.core import energy as energy_lib
from ebmm_jax.core import memory as memory_lib
from ebmm_jax.core import meta
from ebmm_jax.core import models
from ebmm_jax.core import params as params_lib
from ebmm_jax.core import tasks

NAME = "ebmm"  # Configs without a `model` section.
# A forgetting logit whose sigmoid is 1.0 in float32: λ = 1, nothing forgotten.
KEEP_ALL = 40.0


@dataclasses.dataclass(frozen=True)
class EBMM(models.MemoryModel):
  """EBMM: a `models.MemoryModel` with the parts its own analyses read.

  Attributes (beyond `models.MemoryModel`'s):
    network: the energy network E(x; θ) (`energy_lib.Energy`).
    rule: the write/read rule choices (`memory_lib.Rule`, config `memory`).
  """
  network: Optional[energy_lib.Energy] = None
  rule: Optional[memory_lib.Rule] = None


def require(model: models.MemoryModel, analysis: str) -> EBMM:
  """`model` as an `EBMM`, for an analysis only an energy model has; a
  ValueError naming the analysis for any other model."""
  if not isinstance(model, EBMM):
    raise ValueError(f"{analysis} needs an energy-based memory (EBMM, a config "
                     f"with an `energy` section); this model is {model.name!r}.")
  return model


def stream_chunks(config: ml_collections.ConfigDict) -> Optional[Tuple[int, ...]]:
  """The chunk sizes of a stream write (config `memory.stream_chunks`, two or
  more chunks), or None when a memory is written in one go (and for configs
  without a `memory` section)."""
  m = config.get("memory", None)
  chunks = meta.parse_chunks(m.get("stream_chunks", "")) if m is not None else ()
  return chunks if len(chunks) > 1 else None


def chunks_for(stream: Tuple[int, ...], num_patterns: int) -> Tuple[int, ...]:
  """The chunks a stream model writes `num_patterns` patterns in: its own
  stream when they fill it, else chunks of its largest chunk size (the last
  one smaller), e.g. for a capacity curve at other N."""
  if num_patterns == sum(stream):
    return stream
  size = max(stream)
  return (size,) * (num_patterns // size) + ((num_patterns % size,) if num_patterns % size else ())


def rule_of(config: ml_collections.ConfigDict) -> memory_lib.Rule:
  """EBMM's write/read rule choices (config `memory`; the paper's by default)."""
  m = config.memory
  shared_steps = m.get("write_rate_sharing", "per_step_tensor") in ("per_tensor", "shared")
  stream = stream_chunks(config)
  return memory_lib.Rule(
      rates=m.get("rates", "softplus"), read_start=m.get("read_start", "query"),
      projection_gradient=m.get("projection_gradient", "clip"),
      write_steps=m.write_steps if shared_steps else 0,
      n_scaling=m.get("n_scaling", "mean"),
      stream_gradient=m.get("stream_gradient", "full"),
      write_prior=m.get("write_prior", "init"),
      stream_composition=m.get("stream_composition", "chained"),
      # n_ref: the largest N the model writes at once in training (the padded
      # size; a stream's largest chunk).
      reference_n=max(stream) if stream else config.data.num_patterns)


def init_meta_params(config: ml_collections.ConfigDict, network: energy_lib.Energy,
                     task: tasks.Task, key: jax.Array) -> meta.MetaParams:
  """θ̄, the static weights and the write/read meta-parameters (config
  `memory`, the `meta.Init` fields it has; configs saved before a field
  existed keep its default)."""
  section = config.memory
  init = meta.Init(**{f: section[f] for f in meta.Init._fields if f in section})
  return meta.init_meta_params(key, network, task.pattern_shape, init)


def with_forgetting(meta_params: meta.MetaParams) -> meta.MetaParams:
  """`meta_params` with λ = 1 on every tensor when they have no forgetting
  (a model trained without streams appends each chunk to what is stored)."""
  write = meta_params.write
  if write.forgetting is not None:
    return meta_params
  keep = jax.tree_util.tree_map(lambda _: jnp.float32(KEEP_ALL), write.init_memory)
  return meta_params._replace(write=write._replace(forgetting=keep))


def build(config: ml_collections.ConfigDict, task: tasks.Task,
          network: energy_lib.Energy, first_order: bool = False,
          writing: bool = True, unroll: bool = False) -> EBMM:
  """EBMM as a `models.MemoryModel`: write is Eq. (4), read is Eq. (1), the
  loss is the meta-loss of Eq. (5) (`meta.meta_loss`); the state is the
  written weights θ.

  Args:
    config: the experiment's config (sections `memory`, `data`).
    task: the patterns, their distortion and score.
    network: the energy network E(x; θ) (an `energy_lib.Energy`, or an
      `hk.Transformed`, read as a Haiku energy).
    first_order: hold the writing gradients constant in the loss's
      meta-gradient (`memory_lib.Rule.first_order`); write and read compute
      the same values either way.
    writing: False switches writing off (T = 0: θ stays θ̄), the control that
      shows whether retrieval uses the memory at all; only `retrieve` is
      meaningful then.
    unroll: unroll the write and read loops whatever `memory.unroll` says
      (the same values; XLA then counts every step's FLOPs).

  With `memory.stream_chunks` (two or more chunks) the memory is written as
  a stream (`meta.stream_write`): `write` writes N patterns in the model's
  chunks (`chunks_for`), the loss reads every query after the last chunk,
  and `append` forgets (`memory_lib.forget`) before writing, as a stream's
  next chunk.
  """
  network = energy_lib.as_energy(network)
  c = config
  loops = memory_lib.Loops(remat=c.memory.remat,
                           unroll=unroll or bool(c.memory.get("unroll", False)))
  rule = rule_of(c)._replace(first_order=first_order)
  stream = stream_chunks(c)
  chunk_weights = None
  if stream:
    chunk_weights = meta.parse_chunk_weights(
        c.memory.get("stream_loss_weights", meta.UNIFORM_CHUNKS), len(stream))
  init = functools.partial(init_meta_params, c, network, task)

  def write(mp, patterns):
    if not writing:
      return mp.write.init_memory
    if stream:
      return meta.stream_write(network.apply, mp, patterns,
                               chunks_for(stream, patterns.shape[0]), loops, rule)[0]
    return meta.write(network.apply, mp, patterns, loops, rule)[0]

  def append(mp, written, patterns):
    # A stream's next chunk (the forgetting where the model learned one,
    # then Eq. (4) from the written memory, or superposed on it).
    return meta.write_into(network.apply, mp, written, patterns, loops, rule)

  def write_stream(mp, patterns, chunks):
    # The patterns in `chunks`, oldest first, with the learned forgetting
    # between chunks (λ = 1 for a model trained without streams).
    return meta.stream_write(network.apply, with_forgetting(mp), patterns,
                             tuple(chunks), loops, rule)[0]

  def read(mp, written, queries, known):
    return meta.read(network.apply, mp, written, queries, known, task.box, loops, rule)

  anneal = c.memory.get("iterate_anneal_steps", 0)
  chunk_anneal = c.memory.get("stream_weights_anneal_steps", 0) if stream else 0

  def loss(mp, patterns, key, step=None, mask=None):
    # `step` (the meta-step, traced) anneals the early iterates' weight;
    # `mask` [N]: the memory's real patterns in a padded batch (training
    # across N, `data.num_patterns_per_memory`).
    weight = None if not anneal or step is None else meta.iterate_weight(step, anneal)
    weights = chunk_weights
    if chunk_anneal:  # From `stream_loss_weights` to uniform (the end, if no step).
      weights = None if step is None else meta.chunk_weights_at(step, chunk_weights,
                                                                chunk_anneal)
    return meta.meta_loss(network.apply, task, mp, patterns, key,
                          iterates=c.memory.meta_loss_iterates, loops=loops, rule=rule,
                          early_weight=weight, mask=mask, chunks=stream,
                          chunk_weights=weights)

  def energy_of(mp, written, x):
    memory = mp.write.init_memory if written is None else written
    return network.apply(meta.written_params(mp, memory), x)

  variant = functools.partial(build, c, task, network)
  return EBMM(
      name="EBMM" if writing else "EBMM, writing off", init=init,
      write=write, read=read, loss=loss, energy=energy_of,
      append=append if writing else None,
      write_stream=write_stream if writing else None,
      first_order=None if first_order else lambda: variant(True, writing, unroll),
      writing_off=(lambda: variant(first_order, False, unroll)) if writing else None,
      unrolled=None if unroll else lambda: variant(first_order, writing, True),
      # The written weights have the shapes of θ̄: counted without writing.
      # (An initialisation, not `jax.eval_shape`: image energies initialise
      # through a jit with its own compiler options, which cannot be nested.)
      count_memory_floats=models.lazy_count(lambda: params_lib.count_floats(
          init(jax.random.PRNGKey(0)).write.init_memory)),
      schedules=functools.partial(meta.schedules, rule=rule),
      network=network, rule=rule)


# -----------------------------------------------------------------------------
# Config validation (`configuration.validate` calls `validate`).


def validate(c: ml_collections.ConfigDict, need) -> None:
  """The `memory` and `energy` sections of an EBMM config; `need(cond, msg)`
  raises the config error."""
  _validate_memory(c, need)
  _validate_stream(c, need)
  _validate_energy(c, need)


def _validate_memory(c: ml_collections.ConfigDict, need) -> None:
  need(c.memory.write_steps >= 1, f"memory.write_steps={c.memory.write_steps} must be >= 1.")
  need(c.memory.read_steps >= 1, f"memory.read_steps={c.memory.read_steps} must be >= 1.")
  need(c.memory.meta_loss_iterates in ("all", "last"),
       f"memory.meta_loss_iterates={c.memory.meta_loss_iterates!r} must be 'all' or 'last'.")
  for field in ("write_lr_init", "grad_penalty_init", "prior_penalty_init",
                "read_step_size_init"):
    need(c.memory[field] > 0, f"memory.{field}={c.memory[field]} must be > 0.")
  m = c.memory
  for field, known in (("rates", memory_lib.RATE_PARAMETRISATIONS),
                       ("write_rate_sharing", meta.WRITE_RATE_SHARING),
                       ("read_start", memory_lib.READ_STARTS),
                       ("projection_gradient", memory_lib.PROJECTION_GRADIENTS),
                       ("n_scaling", memory_lib.N_SCALINGS),
                       ("stream_gradient", memory_lib.STREAM_GRADIENTS),
                       ("write_prior", memory_lib.WRITE_PRIORS),
                       ("stream_composition", memory_lib.STREAM_COMPOSITIONS)):
    if field in m:
      need(m[field] in known, f"memory.{field}={m[field]!r} must be one of {list(known)}.")
  need(m.get("iterate_anneal_steps", 0) >= 0,
       f"memory.iterate_anneal_steps={m.get('iterate_anneal_steps')} must be >= 0.")
  need(m.get("first_order_steps", 0) >= 0,
       f"memory.first_order_steps={m.get('first_order_steps')} must be >= 0.")
  for field in ("read_step_decay_init", "read_momentum_init", "read_momentum_decay_init"):
    need(0 < c.memory[field] < 1, f"memory.{field}={c.memory[field]} must be in (0, 1).")


def _validate_stream(c: ml_collections.ConfigDict, need) -> None:
  """A stream write (`memory.stream_chunks`): chunks that fill N, a λ in
  (0, 1), one loss weight per chunk, and a fixed N to split."""
  m, d = c.memory, c.data
  text = m.get("stream_chunks", "")
  try:
    chunks = meta.parse_chunks(text)
  except ValueError as e:
    need(False, f"memory.{e}")
  weights = m.get("stream_loss_weights", meta.UNIFORM_CHUNKS)
  weights_anneal = m.get("stream_weights_anneal_steps", 0)
  need(weights_anneal >= 0,
       f"memory.stream_weights_anneal_steps={weights_anneal} must be >= 0.")
  if not chunks:
    need(str(weights).strip() in ("", meta.UNIFORM_CHUNKS),
         f"memory.stream_loss_weights={weights!r} needs memory.stream_chunks "
         "(a stream to weight).")
    need(not weights_anneal, f"memory.stream_weights_anneal_steps={weights_anneal} "
         "needs memory.stream_chunks (a stream to weight).")
    return
  need(not weights_anneal or str(weights).strip() not in ("", meta.UNIFORM_CHUNKS),
       f"memory.stream_weights_anneal_steps={weights_anneal} anneals "
       "memory.stream_loss_weights to uniform: give the weights to start from, "
       "e.g. '0.001,0.001,0.001,1'.")
  need(sum(chunks) == d.num_patterns,
       f"memory.stream_chunks={text!r} holds {sum(chunks)} patterns: the chunks must "
       f"sum to data.num_patterns={d.num_patterns}.")
  forget_init = m.get("forget_init", 0.9)
  need(0 < forget_init < 1, f"memory.forget_init={forget_init} must be in (0, 1).")
  try:
    meta.parse_chunk_weights(weights, len(chunks))
  except ValueError as e:
    need(False, f"memory.{e}")
  for field in ("curriculum", "train_num_patterns", "padded_sizes"):
    need(not d.get(field, ""),
         f"memory.stream_chunks splits a fixed N into chunks; data.{field}="
         f"{d.get(field)!r} changes the batch size: set it to ''.")


def _validate_energy(c: ml_collections.ConfigDict, need) -> None:
  library = c.energy.get("library", "haiku")
  need(library in energy_lib.LIBRARIES,
       f"energy.library={library!r} must be one of {list(energy_lib.LIBRARIES)}.")
  need(library == "haiku" or c.energy.name == "gated_rnn",
       f"energy.library={library!r}: energy.name={c.energy.name!r} exists in Haiku only "
       "(the gated RNN also in 'nnx' and 'equinox').")
  if c.energy.name == "gated_rnn":
    need(c.data.name == "binary_strings",
         f"energy.name='gated_rnn' is the binary-strings energy; data.name={c.data.name!r}.")
    need(c.energy.input_size == c.data.pattern_dim,
         f"energy.input_size={c.energy.input_size} must equal data.pattern_dim="
         f"{c.data.pattern_dim}.")
    need(0 < c.energy.dynamic_size < c.energy.hidden_size,
         f"energy.dynamic_size={c.energy.dynamic_size} must be in (0, energy.hidden_size="
         f"{c.energy.hidden_size}).")
    need(c.energy.hops >= 1, f"energy.hops={c.energy.hops} must be >= 1.")
  need(c.energy.name != "", "energy.name is empty: an experiment config must set it.")
  need(c.data.name != "", "data.name is empty: an experiment config must set it.")

