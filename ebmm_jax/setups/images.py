"""Image memories of Section 4: Omniglot, CIFAR-10, ImageNet 64x64 and MNIST.

`build(config)` turns an image config (`configs/omniglot_conv.py`, ...) into an
`experiment.Experiment`:

- data: the split's images, loaded once per split through
  `ebmm_jax.data.images.load_dataset` and kept on the device; a memory batch
  is N images drawn uniformly (Section 4) or from exactly `data.batch_classes`
  classes (Appendix A.7). The sampler is jitted with the images as an
  argument, so they are never baked into a compiled program as a constant.
- task: images live in the box [0, 1] (reading projects onto it, Appendix
  B.1); a query is the stored image with one random block replaced by noise
  (Sections 4.1-4.3) or with salt-and-pepper noise (Appendix A.5). The model
  is not told where the distortion is (no clamping: `known` is None), except
  Deep Image Prior, told the block as in Table 2 (`model.told_block`). The
  score is the Hamming error of the binarized retrieval for binary images
  (Omniglot, MNIST; Section 4.1) and the squared error for RGB (Section 4.2).
- energy: a ResNet of Appendix C.2-C.5 (`ebmm_jax.energies.resnet`), whose
  writable size is `energy.dynamic_size`.

Splits are loaded lazily, on the first batch drawn from them, so evaluating
an Omniglot model on MNIST (Appendix A.6, only a test split offline) never
asks for MNIST's train split. `sample_train` draws from the train split,
without its validation part when `data.hold_out_validation` (image configs
since the validation split; configs saved before it lack the field and
trained on the whole train part); `sample_test` draws from
`data.eval_split`: "validation" for every choice, "test" for reported
numbers (configs without the field: "test").
"""
import functools
import json
import os
from typing import Dict, Optional, Tuple

import haiku as hk
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ebmm_jax import pretrained
from ebmm_jax.core import distortions
from ebmm_jax.setups import experiment
from ebmm_jax.setups import registry
from ebmm_jax.core import tasks
from ebmm_jax.data import images as images_lib
from ebmm_jax.data import sampling
from ebmm_jax.energies import resnet

# Native (H, W, C) of each dataset after the loader's preprocessing, and the
# binary ones ({0, 1}, stroke = 1), scored by Hamming distance (4.1; RGB
# images by squared error, 4.2): read from the datasets' specs.
NATIVE_SHAPES = {name: spec.shape for name, spec in images_lib.SPECS.items()}
BINARY_DATASETS = tuple(name for name, spec in images_lib.SPECS.items() if spec.binary)
# The splits an evaluation may score (`data.eval_split`).
EVAL_SPLITS = ("validation", "test")
DISTORTIONS = ("block", "salt_and_pepper")
# Architecture fields of `config.energy` passed to the energy's constructor
# when present: every image energy's (`resnet.EnergySpec.arch_fields`).
ARCH_FIELDS = tuple(dict.fromkeys(
    field for spec in resnet.ENERGY_MODELS.values() for field in spec.arch_fields))
# XLA options for programs that run once (initialisation): the cheapest
# backend optimisation compiles several times faster on CPU.
_FAST_COMPILE = {"xla_backend_optimization_level": 0,
                 "xla_llvm_disable_expensive_passes": True}


def image_shape(config: ml_collections.ConfigDict) -> Tuple[int, int, int]:
  """(H, W, C) of the images a config's memory stores."""
  h, w, c = NATIVE_SHAPES[config.data.name]
  size = config.data.get("image_size", 0)
  return (size, size, c) if size else (h, w, c)


def energy_kwargs(config: ml_collections.ConfigDict) -> Dict[str, object]:
  """Constructor arguments of `config.energy.name` found in the config, with
  `dynamic_size` from `energy.memory_budget` when one is set."""
  e = config.energy
  # JSON round trips turn tuples (channel_multipliers) into lists.
  kwargs = {k: tuple(e[k]) if isinstance(e[k], list) else e[k]
            for k in ARCH_FIELDS if k in e}
  if e.get("memory_budget", 0):
    arch = {k: v for k, v in kwargs.items() if k != "dynamic_size"}
    kwargs["dynamic_size"] = dynamic_size_closest_to(e.name, e.memory_budget, **arch)
  return kwargs


def resolved(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`config` with `energy.dynamic_size` taken from `energy.memory_budget`
  (the `mem=K` variant) when one is set; `config` itself otherwise."""
  if not config.energy.get("memory_budget", 0):
    return config
  c = ml_collections.ConfigDict(config.to_dict())
  c.energy.dynamic_size = energy_kwargs(config)["dynamic_size"]
  c.lock()
  return c


def dynamic_size_closest_to(model_name: str, budget: int, **arch) -> int:
  """The dynamic_size whose memory size is closest to `budget` floats (the
  next one up from the largest that fits when it is nearer, e.g. "4K" for
  the C.5 model: 4,330 floats at d=5 rather than 3,464 at d=4), because the
  paper labels its points by round sizes (`resnet.dynamic_size_for_budget`).
  """
  return resnet.dynamic_size_for_budget(model_name, budget, closest=True, **arch)


def memory_floats(config: ml_collections.ConfigDict) -> int:
  """Writable floats (Section 4's memory size) of a config's energy."""
  return resnet.memory_floats(config.energy.name, **energy_kwargs(config))


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the field when an image config is inconsistent.

  Complements `ebmm_jax.setups.configuration.validate` (the fields every experiment
  has) with what only image experiments have: dataset, energy, distortion,
  batch sampling.
  """
  def need(cond, msg):
    if not cond:
      raise ValueError(f"Invalid config: {msg}")

  d = config.data
  need(d.name in images_lib.SPECS,
       f"data.name={d.name!r} is not an image dataset; known: "
       f"{sorted(images_lib.SPECS)}.")
  need(bool(d.data_dir),
       "data.data_dir is empty: pass the folder holding the data, e.g. "
       "--config.data.data_dir=DATA_DIR.")
  need(d.source in images_lib.SOURCES,
       f"data.source={d.source!r} must be one of {list(images_lib.SOURCES)}.")
  eval_split = eval_split_of(config)
  need(eval_split in EVAL_SPLITS,
       f"data.eval_split={eval_split!r} must be one of {list(EVAL_SPLITS)}.")
  if eval_split == "validation":
    need("validation" in images_lib.SPECS[d.name].splits,
         f"data.eval_split='validation' with data.name={d.name!r}: it has no "
         f"validation split (splits: {list(images_lib.SPECS[d.name].splits)}; "
         "MNIST is read only to test transfer, Appendix A.6); use "
         "data.eval_split='test'.")
    need(d.get("hold_out_validation", False),
         "data.eval_split='validation' needs data.hold_out_validation=True: "
         "otherwise the model trains on the validation images.")
  need(d.get("max_examples", 0) >= 0,
       f"data.max_examples={d.get('max_examples', 0)} must be >= 0 (0: all).")
  if registry.spec_of(config).uses_energy:  # EBMM: its ResNet energy.
    e = config.energy
    need(e.name in resnet.ENERGY_MODELS,
         f"energy.name={e.name!r} is not an image energy; known: "
         f"{sorted(resnet.ENERGY_MODELS)}.")
    need(isinstance(e.dynamic_size, int) and e.dynamic_size >= 1,
         f"energy.dynamic_size={e.dynamic_size!r} must be an integer >= 1.")
    try:  # The constructor checks dynamic_size against the layer's width, hops...
      memory_floats(config)
      step = resnet.downsampling(e.name, **energy_kwargs(config))
    except (ValueError, TypeError) as err:
      raise ValueError(f"Invalid config: energy ({e.name}): {err}") from err
    model = f"energy.name={e.name!r}"
  else:  # An image baseline: the encoder's stride.
    step = 2 ** len(config.model.get("channel_multipliers", (1, 2, 3)))
    model = f"model.name={config.model.name!r}"
  h, w, _ = image_shape(config)
  size = d.get("image_size", 0)
  need(size >= 0, f"data.image_size={size} must be >= 0 (0: the dataset's).")
  need(h % step == 0 and w % step == 0,
       f"{h}x{w} images (data.image_size={size}) do not fit {model}: its "
       f"trunk downsamples by {step}, so the sides must be multiples of {step}.")
  need(d.distortion in DISTORTIONS,
       f"data.distortion={d.distortion!r} must be one of {list(DISTORTIONS)}.")
  if d.distortion == "block":
    need(isinstance(d.block_size, int) and 1 <= d.block_size <= min(h, w),
         f"data.block_size={d.block_size} must be an integer in "
         f"[1, {min(h, w)}]: the block must fit inside the {h}x{w} image.")
    need(d.fill in distortions.FILLS,
         f"data.fill={d.fill!r} must be one of {list(distortions.FILLS)}.")
  else:
    need(0.0 <= d.noise_rate <= 1.0,
         f"data.noise_rate={d.noise_rate} must be in [0, 1].")
  need(0 <= d.batch_classes <= d.num_patterns,
       f"data.batch_classes={d.batch_classes} must be in [0, data.num_patterns="
       f"{d.num_patterns}] (0: uniform batches; c: exactly c classes per "
       f"batch, Appendix A.7).")


# -----------------------------------------------------------------------------
# Data.


@functools.partial(jax.jit, static_argnums=(2, 3))
def _uniform_batches(key: jax.Array, images: jax.Array, meta_batch_size: int,
                     num_patterns: int) -> Tuple[jax.Array, jax.Array]:
  """M batches of N distinct images each, drawn uniformly (Section 4).

  Returns:
    images [M, N, H, W, C] and their indices into the split, int32 [M, N].
  """
  keys = jax.random.split(key, meta_batch_size)
  indices = jax.vmap(lambda k: sampling.uniform_batch_indices(
      k, images.shape[0], num_patterns))(keys)  # [M, N]
  return jnp.take(images, indices, axis=0), indices


def _correlated_batches_fn(index: sampling.ClassIndex, num_classes: int):
  """Like `_uniform_batches`, with exactly `num_classes` classes per batch
  (Appendix A.7). The class table (a few KB of indices) is part of the
  compiled program; the images are an argument."""
  @functools.partial(jax.jit, static_argnums=(2, 3))
  def batches(key, images, meta_batch_size, num_patterns):
    keys = jax.random.split(key, meta_batch_size)
    indices = jax.vmap(lambda k: sampling.correlated_batch_indices(
        k, index, num_patterns, num_classes))(keys)  # [M, N]
    return jnp.take(images, indices, axis=0), indices
  return batches


def eval_split_of(config: ml_collections.ConfigDict) -> str:
  """The split a config's evaluations score (`data.eval_split`; "test" for
  configs saved before the field existed, which had no validation split)."""
  return config.data.get("eval_split", "test")


def validation_seen_in_training(config: ml_collections.ConfigDict,
                                depth: int = 0) -> str:
  """Why the model a config trains may have seen the validation split, or ""
  when it cannot have: its train split held the validation part out, and so
  did every run it started from (`train.init_from`, followed through saved
  configs; a source whose config cannot be read counts as having seen it)."""
  if not config.data.get("hold_out_validation", False):
    return ("it trained on the whole train part (data.hold_out_validation is "
            "False, or absent in a config saved before the validation split)")
  source = config.get("train", {}).get("init_from", "")
  if not source:
    return ""
  folder = pretrained.directory(source) if source in pretrained.NAMES else source
  path = os.path.join(folder, pretrained.CONFIG_FILE)
  if depth > 8 or not os.path.isfile(path):
    return f"it started from train.init_from={source!r}, whose training data are not known"
  with open(path) as f:
    reason = validation_seen_in_training(ml_collections.ConfigDict(json.load(f)),
                                         depth + 1)
  return f"it started from train.init_from={source!r}, where {reason}" if reason else ""


def load_split(config: ml_collections.ConfigDict,
               split: str) -> Tuple[np.ndarray, np.ndarray]:
  """A split's (images float32 [num, H, W, C] in [0, 1], labels int32 [num]).

  `split` is "train", "validation" or "test". Omniglot is split by alphabet
  (the loader's default split: validation and test alphabets are never seen
  in training when `data.hold_out_validation`). `data.image_size` resizes:
  the binary datasets through their loader (resized before binarizing), RGB
  by area averaging (downscaling) or bilinear interpolation (upscaling).
  """
  d = config.data
  options = {}
  if "validation" in images_lib.SPECS[d.name].splits:  # Not MNIST (transfer only).
    options["hold_out_validation"] = bool(d.get("hold_out_validation", False))
  if d.get("max_examples", 0):
    options["max_examples"] = d.max_examples
  size = d.get("image_size", 0)
  if size and d.name in BINARY_DATASETS:
    options["image_size"] = size
  images, labels = images_lib.load_dataset(d.name, split, d.data_dir, d.source,
                                           **options)
  if size and images.shape[1] != size:
    method = "area" if images.shape[1] > size else "bilinear"
    images = np.clip(images_lib.resize(images, size, method), 0.0, 1.0)
  return images, labels


class SplitSampler:
  """One split's memory batches; `experiment.SampleFn`.

  The split is loaded on the first call and kept on the device as one array
  [num, H, W, C]; every call runs one jitted gather that takes it as an
  argument.
  """

  def __init__(self, config: ml_collections.ConfigDict, split: str):
    self.config = config
    self.split = split
    self.images = None  # jax.Array [num, H, W, C] in [0, 1], once loaded.
    self.labels = None  # np.ndarray int32 [num], once loaded.
    self._batches = None

  def load(self) -> None:
    """Loads the split now (otherwise the first batch does)."""
    if self.images is not None:
      return
    images, labels = load_split(self.config, self.split)
    expected = image_shape(self.config)
    if images.shape[1:] != expected:
      raise ValueError(f"{self.config.data.name} {self.split} images have "
                       f"shape {images.shape[1:]}, expected {expected}.")
    c = self.config.data.batch_classes
    if c:
      self._batches = _correlated_batches_fn(sampling.build_class_index(labels), c)
    else:
      self._batches = _uniform_batches
    self.images, self.labels = jnp.asarray(images), labels

  def sample_with_indices(self, key: jax.Array, meta_batch_size: int,
                          num_patterns: int) -> Tuple[jax.Array, jax.Array]:
    """(images [M, N, H, W, C], int32 indices into the split [M, N])."""
    self.load()
    return self._batches(key, self.images, meta_batch_size, num_patterns)

  def __call__(self, key: jax.Array, meta_batch_size: int,
               num_patterns: int) -> jax.Array:
    """M memory batches of N images, [M, N, H, W, C]."""
    return self.sample_with_indices(key, meta_batch_size, num_patterns)[0]


# -----------------------------------------------------------------------------
# Task and energy.


def make_task(config: ml_collections.ConfigDict) -> tasks.Task:
  """The protocol of docs/protocols.md for the config's dataset and distortion."""
  d = config.data
  # Only a model told where the block is (Deep Image Prior, Table 2's *)
  # gets its mask as `known`; every other model must find the block itself.
  told = config.get("model", {}).get("told_block", False)
  if d.distortion == "block":
    block_size, fill = d.block_size, d.fill
    distorted = lambda key, patterns: distortions.block_noise(key, patterns,
                                                              block_size, fill)
    description = f"{block_size}x{block_size} block, {fill} noise" + (
        ", block revealed" if told else "")
  else:
    rate = float(d.noise_rate)
    distorted = lambda key, patterns: distortions.salt_and_pepper(key, patterns, rate)
    description = f"{rate:.0%} salt-and-pepper"

  told_block = told and d.distortion == "block"

  def distort(key, patterns):
    queries, mask = distorted(key, patterns)
    return queries, (~mask if told_block else None)

  binary = d.name in BINARY_DATASETS
  value = erase_value(config)

  def erase(key, patterns):
    # The same key draws the same distortion as `distort`: the queries the
    # memory is asked, with what the distortion replaced set to `value`.
    queries, mask = distorted(key, patterns)
    return jnp.where(mask, jnp.asarray(value, queries.dtype), queries)

  return tasks.Task(
      name=f"{d.name} ({description})",
      pattern_shape=image_shape(config),
      box=(0.0, 1.0),
      distort=distort,
      score=tasks.hamming_error if binary else tasks.squared_error,
      score_name="Hamming error" if binary else "squared error",
      erase=erase)


def erase_value(config: ml_collections.ConfigDict) -> float:
  """The constant the erase control fills the distorted pixels with.

  The control is told where the distortion is (the block, or the pixels
  salt-and-pepper noise hit) and sets those pixels to one constant chosen
  before seeing any image; everything else stays the query's. Binary images
  (Hamming error after thresholding at 0.5): 0, the background, the best
  constant wherever strokes cover less than half of the erased pixels (they
  cover about a tenth of an Omniglot image). RGB images (squared error): 0.5,
  the centre of the box [0, 1], the constant whose worst-case squared error
  per pixel is smallest. A memory whose retrieval scores below the erase
  control recalls what was under the distortion; one at or above it does no
  better than a reader told where the block is that knows nothing of the
  stored images.
  """
  return 0.0 if config.data.name in BINARY_DATASETS else 0.5


def make_energy(config: ml_collections.ConfigDict) -> hk.Transformed:
  """The config's ResNet energy, x [N, H, W, C] -> [N]."""
  fn = resnet.make_energy(config.energy.name, **energy_kwargs(config))
  transformed = hk.without_apply_rng(hk.transform(fn))
  # Run op by op, a ResNet's init compiles each of its random draws on its
  # own (about a minute on a CPU). Jitted it is one program, which runs once,
  # so it is compiled for speed of compilation (XLA's CPU backend otherwise
  # spends most of a minute optimising the random number generators).
  # Under a caller's trace (jit, eval_shape: e.g. `api.Memory` checking a
  # checkpoint's shapes) it is traced as is: compiler options cannot be given
  # to a nested jit.
  fast_init = jax.jit(transformed.init, compiler_options=_FAST_COMPILE)

  def init(key, *args):
    if isinstance(key, jax.core.Tracer):
      return transformed.init(key, *args)
    return fast_init(key, *args)
  return hk.Transformed(init=init, apply=transformed.apply)


def build(config: ml_collections.ConfigDict) -> experiment.Experiment:
  """Validates an image `config` and builds its experiment (no data is read
  until a batch is drawn)."""
  if registry.spec_of(config).uses_energy:
    config = resolved(config)  # `energy.memory_budget` -> `energy.dynamic_size`.
  validate(config)
  task = make_task(config)
  return experiment.Experiment(
      config=config, task=task,
      # EBMM on the config's ResNet energy, or a baseline of Table 2.
      model=registry.build(config, task, lambda: make_energy(config)),
      sample_train=SplitSampler(config, "train"),
      sample_test=SplitSampler(config, eval_split_of(config)))


# -----------------------------------------------------------------------------
# Inspection (Figure 2).


def retrieval_trace(exp: experiment.Experiment, meta_params,
                    key: jax.Array, num_patterns: Optional[int] = None
                    ) -> Dict[str, np.ndarray]:
  """Writes one random test batch, reads it back, and records every step.

  Figure 2: the originals, their distorted queries and every read iterate,
  each with its energy under the written memory where the model has an
  energy (EBMM); any `models.MemoryModel` works.

  Args:
    exp: an image experiment.
    meta_params: its meta-learned parameters.
    key: selects the batch and the distortions.
    num_patterns: N (default: the config's).

  Returns:
    dict of numpy arrays: originals [N, H, W, C], queries [N, H, W, C],
    iterates [K, N, H, W, C], scores of the queries [N] and of the iterates
    [K, N]; for energy models also the energies of the originals [N], of the
    queries [N] and of the iterates [K, N].
  """
  n = exp.config.data.num_patterns if num_patterns is None else num_patterns
  k_data, k_distort = jax.random.split(key)
  patterns = exp.sample_test(k_data, 1, n)[0]
  return jax.device_get(_trace(exp.model, exp.task, meta_params, patterns, k_distort))


@functools.partial(jax.jit, static_argnums=(0, 1))
def _trace(model, task: tasks.Task, meta_params, patterns, key):
  queries, known = task.distort(key, patterns)
  state = model.write(meta_params, patterns)
  iterates = model.read(meta_params, state, queries, known)
  out = dict(
      originals=patterns, queries=queries, iterates=iterates,
      query_scores=task.score(queries, patterns),
      iterate_scores=jax.vmap(task.score, in_axes=(0, None))(iterates, patterns))
  if model.energy is not None:
    energy = functools.partial(model.energy, meta_params, state)
    out.update(original_energies=energy(patterns), query_energies=energy(queries),
               iterate_energies=jax.vmap(energy)(iterates))
  return out
