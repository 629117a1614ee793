"""What every setup builds: an `Experiment` (model, task, data samplers).

The builders (`setups.binary`, `setups.images`) fill it from a config;
`setups.build` chooses the builder by `data.name`.

An experiment's memory is `exp.model`, a `models.MemoryModel`: EBMM (built
from `exp.energy`, configs with an `energy` section) or a Table 1 baseline
(configs with a `model` section, `configs/memnet.py` etc.; `exp.energy` is
None for them).
"""
import dataclasses
import functools
from typing import Callable, Optional, Tuple

import jax
import ml_collections

from ebmm_jax.core import energy as energy_lib
from ebmm_jax.core import memory as memory_lib
from ebmm_jax.core import meta
from ebmm_jax.core import models
from ebmm_jax.core import params as params_lib
from ebmm_jax.core import tasks

# (key, meta_batch_size, num_patterns) -> patterns [M, N, ...]. Called from
# Python (not traced by the caller), so a sampler may hold its dataset as a
# device array and jit its own indexing.
SampleFn = Callable[[jax.Array, int, int], jax.Array]


@dataclasses.dataclass(frozen=True)
class Experiment:
  config: ml_collections.ConfigDict
  # EBMM's energy(x [N, ...]) -> [N] (an hk.Transformed is read as a Haiku
  # energy_lib.Energy); None for baselines.
  energy: Optional[energy_lib.Energy]
  task: tasks.Task
  sample_train: SampleFn
  sample_test: SampleFn
  model: Optional[models.MemoryModel] = None  # None: EBMM, built from `energy`.

  def __post_init__(self):
    if self.energy is not None:
      object.__setattr__(self, "energy", energy_lib.as_energy(self.energy))
    if self.model is None:
      if self.energy is None:
        raise ValueError("An Experiment needs an energy (EBMM) or a model.")
      object.__setattr__(self, "model", ebmm_model(self))

  @property
  def rule(self) -> memory_lib.Rule:
    """EBMM's write/read rule choices (config `memory`; the paper's by default)."""
    return rule_of(self.config)

  def init_meta_params(self, key: jax.Array):
    """MetaParams for EBMM; a baseline's parameters otherwise."""
    if self.energy is None:
      return self.model.init(key)
    return meta.init_meta_params(key, self.energy, self.task.pattern_shape,
                                 _section(self.config, "memory", meta.Init))



def _section(config: ml_collections.ConfigDict, name: str, cls):
  """`cls` (a NamedTuple) filled from config section `name`; fields the
  section lacks (a workdir written before they existed) keep their defaults."""
  section = config[name]
  return cls(**{f: section[f] for f in cls._fields if f in section})


def stream_chunks(config: ml_collections.ConfigDict) -> Optional[Tuple[int, ...]]:
  """The chunk sizes of a stream write (config `memory.stream_chunks`, two or
  more chunks), or None when a memory is written in one go."""
  chunks = meta.parse_chunks(config.memory.get("stream_chunks", ""))
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
  m = config.memory
  shared_steps = m.get("write_rate_sharing", "per_step_tensor") in ("per_tensor", "shared")
  stream = stream_chunks(config)
  return memory_lib.Rule(
      rates=m.get("rates", "softplus"), read_start=m.get("read_start", "query"),
      projection_gradient=m.get("projection_gradient", "clip"),
      write_steps=m.write_steps if shared_steps else 0,
      n_scaling=m.get("n_scaling", "mean"),
      stream_gradient=m.get("stream_gradient", "full"),
      # n_ref: the largest N the model writes at once in training (the padded
      # size; a stream's largest chunk).
      reference_n=max(stream) if stream else config.data.num_patterns)


def writing_off(exp: Experiment) -> Optional[models.MemoryModel]:
  """The experiment's model with writing switched off (T = 0: θ stays θ̄),
  the control that shows whether retrieval uses the written memory; None
  for a model that has no meta-learned initial memory (the baselines)."""
  return ebmm_model(exp, writing=False) if exp.energy is not None else None


def ebmm_model(exp: Experiment, first_order: bool = False,
               writing: bool = True, unroll: bool = False) -> models.MemoryModel:
  """EBMM as a `models.MemoryModel`: write is Eq. (4), read is Eq. (1), the
  loss is the meta-loss of Eq. (5) (`meta.meta_loss`); the state is the
  written weights θ. `first_order` holds the writing gradients constant in
  the loss's meta-gradient (`memory_lib.Rule.first_order`); write and read
  compute the same values either way. `writing=False` switches writing off
  (T = 0: θ stays θ̄), the control that shows whether retrieval uses the
  memory at all; only `retrieve` is meaningful then. `unroll` unrolls the
  write and read loops (the same values; XLA then counts every step's FLOPs).

  With `memory.stream_chunks` (two or more chunks) the memory is written as
  a stream (`meta.stream_write`): `write` writes N patterns in the model's
  chunks (`chunks_for`), the loss reads every query after the last chunk,
  and `append` forgets (`memory_lib.forget`) before writing, as a stream's
  next chunk."""
  c, energy, task = exp.config, exp.energy, exp.task
  loops = memory_lib.Loops(remat=c.memory.remat, unroll=unroll)
  rule = exp.rule._replace(first_order=first_order)
  stream = stream_chunks(c)
  chunk_weights = None
  if stream:
    chunk_weights = meta.parse_chunk_weights(
        c.memory.get("stream_loss_weights", meta.UNIFORM_CHUNKS), len(stream))

  def write(mp, patterns):
    if not writing:
      return mp.write.init_memory
    if stream:
      return meta.stream_write(energy.apply, mp, patterns,
                               chunks_for(stream, patterns.shape[0]), loops, rule)[0]
    return meta.write(energy.apply, mp, patterns, loops, rule)[0]

  def append(mp, written, patterns):
    # Eq. (4) started from the written memory instead of θ̄ (a stream's
    # next chunk: from the memory after its forgetting).
    if stream:
      written = memory_lib.forget(mp.write, written)
    return meta.write(energy.apply, mp, patterns, loops, rule, memory=written)[0]

  def read(mp, written, queries, known):
    return meta.read(energy.apply, mp, written, queries, known, task.box, loops, rule)

  anneal = c.memory.get("iterate_anneal_steps", 0)

  def loss(mp, patterns, key, step=None, mask=None):
    # `step` (the meta-step, traced) anneals the early iterates' weight;
    # `mask` [N]: the memory's real patterns in a padded batch (training
    # across N, `data.num_patterns_per_memory`).
    weight = None if not anneal or step is None else meta.iterate_weight(step, anneal)
    return meta.meta_loss(energy.apply, task, mp, patterns, key,
                          iterates=c.memory.meta_loss_iterates, loops=loops, rule=rule,
                          early_weight=weight, mask=mask, chunks=stream,
                          chunk_weights=chunk_weights)

  def energy_of(mp, written, x):
    memory = mp.write.init_memory if written is None else written
    return energy.apply(meta.written_params(mp, memory), x)

  return models.MemoryModel(
      name="EBMM" if writing else "EBMM, writing off", init=exp.init_meta_params,
      write=write, read=read, loss=loss, energy=energy_of,
      append=append if writing else None,
      first_order=None if first_order else lambda: ebmm_model(exp, True, writing, unroll),
      # The written weights have the shapes of θ̄: counted without writing.
      # (An initialisation, not `jax.eval_shape`: image energies initialise
      # through a jit with its own compiler options, which cannot be nested.)
      count_memory_floats=models.lazy_count(lambda: params_lib.count_floats(
          exp.init_meta_params(jax.random.PRNGKey(0)).write.init_memory)),
      schedules=functools.partial(meta.schedules, rule=rule))
