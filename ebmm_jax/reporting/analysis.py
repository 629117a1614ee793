"""The paper's analyses of a trained memory (Figures 3, 6 and 9; Table 3).

Pure numerical pieces, shared by the analysis launchers in `experiments/`:

- `roc_auc`: how well a threshold on the energy tells two populations apart
  (Figure 6: stored vs non-stored patterns).
- `energy_populations`: energies of stored, non-stored, distorted-stored and
  out-of-distribution patterns under written memories (Figure 6).
- `write_kernel_identification`: whether one writing step can tell the
  stored items apart (the first-order kernel of Eq. 4).
- `with_distortion`: a config evaluated at another noise level (Figure 9).
- `write_csv`: the rows of a sweep as CSV (Figures 3a, 5a and 9).

Plots of these results are in `ebmm_jax.reporting.plotting`.
"""
import csv
import functools
import os
from typing import Dict, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import scipy.stats

from ebmm_jax import setups
from ebmm_jax.core import meta
from ebmm_jax.data import images as images_lib

# Figure 6's populations, in the order they are plotted.
POPULATIONS = ("stored", "non_stored", "distorted_stored", "out_of_distribution")


def roc_auc(lower: np.ndarray, higher: np.ndarray) -> float:
  """ROC AUC of telling `lower` from `higher` by thresholding a score.

  The probability that a random element of `lower` scores strictly below a
  random element of `higher`, ties counting one half (the Mann-Whitney U
  statistic over |lower| |higher|). For energies, `lower` is the population
  that should have the lower energy (e.g. the stored patterns): 1 means the
  energy separates the two perfectly, 0.5 that it cannot tell them apart.
  """
  lower = np.asarray(lower, np.float64).ravel()
  higher = np.asarray(higher, np.float64).ravel()
  if lower.size == 0 or higher.size == 0:
    raise ValueError(f"roc_auc needs two non-empty populations, got sizes "
                     f"{lower.size} and {higher.size}.")
  if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(higher))):
    raise ValueError("roc_auc got non-finite scores.")
  # Ranks of the pooled scores, ties averaged; `higher` ranked high is good.
  ranks = scipy.stats.rankdata(np.concatenate([lower, higher]))
  u = np.sum(ranks[lower.size:]) - higher.size * (higher.size + 1) / 2.0
  return float(u / (lower.size * higher.size))


def _energies_of_batch(energy_apply, task, rule, meta_params, stored, non_stored, ood,
                       key):
  """Energies [4, N] of one written memory's populations (Figure 6)."""
  written, _ = meta.write(energy_apply, meta_params, stored, rule=rule)
  params = meta.written_params(meta_params, written)
  distorted, _ = task.distort(key, stored)
  energy = functools.partial(energy_apply, params)
  return jnp.stack([energy(stored), energy(non_stored), energy(distorted),
                    energy(ood)])


def energy_populations(exp: setups.Experiment,
                       meta_params: meta.MetaParams, num_batches: int,
                       sample_ood: Optional[setups.SampleFn] = None,
                       num_patterns: Optional[int] = None,
                       seed: int = 12345) -> Dict[str, np.ndarray]:
  """Energies of Figure 6's populations over `num_batches` written memories.

  For each batch, 2N distinct test patterns are drawn: the first N are written
  into a fresh memory (*stored*), the other N are not (*non-stored*); the
  stored ones distorted as at retrieval are *distorted stored*; N patterns
  from `sample_ood` (e.g. binarized CIFAR-10 for an Omniglot model) are *out
  of distribution*. All energies are under the memory the batch was written
  into.

  Returns:
    dict population -> float64 [num_batches, N] (no `out_of_distribution`
    without `sample_ood`).
  """
  if num_batches < 1:
    raise ValueError(f"num_batches must be >= 1, got {num_batches}.")
  n = exp.config.data.num_patterns if num_patterns is None else num_patterns
  model = setups.ebmm.require(exp.model, "Energy populations (Figure 6)")
  fn = jax.jit(functools.partial(_energies_of_batch, model.network.apply, exp.task, model.rule))
  base = jax.random.PRNGKey(seed)
  rows = []
  for b in range(num_batches):
    k_data, k_ood, k_distort = jax.random.split(jax.random.fold_in(base, b), 3)
    both = exp.sample_test(k_data, 1, 2 * n)[0]
    stored, non_stored = both[:n], both[n:]
    ood = stored if sample_ood is None else sample_ood(k_ood, 1, n)[0]
    if ood.shape != stored.shape:
      raise ValueError(f"Out-of-distribution patterns have shape {ood.shape}, "
                       f"the memory's {stored.shape}.")
    rows.append(np.asarray(fn(meta_params, stored, non_stored, ood, k_distort)))
  energies = np.stack(rows, axis=1).astype(np.float64)  # [4, B, N]
  out = dict(zip(POPULATIONS, energies))
  if sample_ood is None:
    del out["out_of_distribution"]
  return out


def _write_kernel_of_batch(energy_apply, task, meta_params, stored, key):
  """Cosine similarities [N, N] between the writable-weight gradients of the
  distorted queries (rows) and of the stored patterns (columns)."""
  init = meta_params.write.init_memory

  def gradient(x):  # dE(x)/dθ at θ̄, flattened.
    g = jax.grad(lambda m: energy_apply(meta.written_params(meta_params, m), x[None])[0])(init)
    return jnp.concatenate([jnp.ravel(v) for v in jax.tree_util.tree_leaves(g)])

  queries, _ = task.distort(key, stored)
  unit = lambda g: g / jnp.maximum(jnp.linalg.norm(g, axis=1, keepdims=True), 1e-30)
  return unit(jax.vmap(gradient)(queries)) @ unit(jax.vmap(gradient)(stored)).T


def write_kernel_identification(exp: setups.Experiment, meta_params: meta.MetaParams,
                                num_batches: int, num_patterns: Optional[int] = None,
                                seed: int = 12345) -> Dict[str, float]:
  """Whether writing can tell the stored items apart, to first order.

  One writing step changes the energy of a pattern x by about
  -η Σ_i <∇θE(x), ∇θE(x_i)> (Eq. 4, θ the writable weights at θ̄): the
  memory behaves like a kernel memory whose kernel is the inner product of
  these gradients. For each distorted query this measures whether its
  gradient is closer (in cosine) to the gradient of its own stored pattern
  than to any other of the N: `identification` (chance: 1/N), and the mean
  cosine to its own pattern (`cos_own`) and to the others (`cos_other`).
  A kernel whose `cos_other` is close to `cos_own` stores what the batch has
  in common more than its items.

  Returns:
    dict with identification, cos_own, cos_other, chance, num_batches, num_patterns.
  """
  if num_batches < 1:
    raise ValueError(f"num_batches must be >= 1, got {num_batches}.")
  n = exp.config.data.num_patterns if num_patterns is None else num_patterns
  if n < 2:
    raise ValueError(f"write-kernel identification needs N >= 2, got {n}.")
  model = setups.ebmm.require(exp.model, "Write-kernel identification")
  fn = jax.jit(functools.partial(_write_kernel_of_batch, model.network.apply, exp.task))
  base = jax.random.PRNGKey(seed)
  hits, own, other = [], [], []
  for b in range(num_batches):
    k_data, k_distort = jax.random.split(jax.random.fold_in(base, b))
    stored = exp.sample_test(k_data, 1, n)[0]
    k = np.asarray(fn(meta_params, stored, k_distort), np.float64)
    hits.append(np.mean(k.argmax(axis=1) == np.arange(n)))
    own.append(np.mean(np.diag(k)))
    other.append((k.sum() - np.trace(k)) / (n * (n - 1)))
  return dict(identification=float(np.mean(hits)), cos_own=float(np.mean(own)),
              cos_other=float(np.mean(other)), chance=1.0 / n,
              num_batches=num_batches, num_patterns=n)


def energy_aucs(populations: Mapping[str, np.ndarray]) -> Dict[str, Dict[str, float]]:
  """ROC AUC of telling the stored patterns from each other population by
  energy, pooled over all batches and as the mean of per-batch AUCs (a
  memory's energy level can shift from batch to batch; the per-batch AUC
  asks only whether the stored patterns are lower within their memory)."""
  stored = populations["stored"]
  out = {}
  for name, values in populations.items():
    if name == "stored":
      continue
    per_batch = [roc_auc(s, v) for s, v in zip(stored, values)]
    out[name] = dict(pooled=roc_auc(stored, values),
                     per_batch_mean=float(np.mean(per_batch)),
                     per_batch_p5=float(np.percentile(per_batch, 5)),
                     per_batch_p95=float(np.percentile(per_batch, 95)))
  return out


def distortion_name(data: ml_collections.ConfigDict) -> str:
  """The queries' distortion in words, for titles: "16x16 block",
  "15% salt-and-pepper" (a config's `data` section)."""
  kind = data.get("distortion", "")
  if kind == "salt_and_pepper":
    return f"{data.noise_rate:.0%} salt-and-pepper"
  if kind in ("", "block") and "block_size" in data:
    return f"{data.block_size}x{data.block_size} block"
  return kind or "distorted"


def with_distortion(config: ml_collections.ConfigDict, distortion: str,
                    level: float) -> ml_collections.ConfigDict:
  """`config` with its queries distorted at another level (Figure 9).

  Args:
    distortion: "block" (level = block side in pixels) or "salt_and_pepper"
      (level = the rate p).
  """
  c = ml_collections.ConfigDict(config.to_dict())
  c.data.distortion = distortion
  if distortion == "block":
    if level != int(level) or level < 1:
      raise ValueError(f"A block side must be a positive integer, got {level}.")
    c.data.block_size = int(level)
  elif distortion == "salt_and_pepper":
    if not 0.0 <= level <= 1.0:
      raise ValueError(f"A salt-and-pepper rate must be in [0, 1], got {level}.")
    c.data.noise_rate = float(level)
  else:
    raise ValueError(f"Unknown distortion {distortion!r}; known: 'block', "
                     "'salt_and_pepper'.")
  return c


def training_level(config: ml_collections.ConfigDict, distortion: str) -> float:
  """The level of `distortion` a model was trained at (Figure 9's axis): its
  block side, or its salt-and-pepper rate. Raises ValueError for a model
  trained with the other distortion."""
  if config.data.distortion != distortion:
    raise ValueError(f"A model trained with {config.data.distortion} noise "
                     f"cannot be placed on a {distortion} axis.")
  return (config.data.block_size if distortion == "block"
          else config.data.noise_rate)


def write_csv(path: str, rows: Sequence[Mapping[str, object]]) -> str:
  """Writes dict rows (all with the same keys) as CSV; returns `path`."""
  if not rows:
    raise ValueError("write_csv needs at least one row.")
  fields = list(rows[0])
  folder = os.path.dirname(path)
  if folder:
    os.makedirs(folder, exist_ok=True)
  with open(path, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=fields)
    w.writeheader()
    for r in rows:
      w.writerow(r)
  return path


def out_of_distribution_sampler(images: np.ndarray, shape: Sequence[int],
                                binarize: bool) -> setups.SampleFn:
  """A `SampleFn` over another dataset's images, shaped like the memory's.

  Figure 6: "CIFAR images were produced by binarizing the original RGB
  images". For a binary memory (`binarize`), RGB images in [0, 1] are
  averaged over channels, resized to the memory's side (area averaging down,
  bilinear up) and thresholded at 0.5; otherwise they are only resized.
  """
  x = np.asarray(images, np.float32)
  if binarize:
    x = np.mean(x, axis=-1, keepdims=True)
  side = shape[0]
  if x.shape[1] != side:
    x = np.clip(images_lib.resize(x, side, "area" if x.shape[1] > side else "bilinear"),
                0.0, 1.0)
  if binarize:
    x = (x > 0.5).astype(np.float32)
  if x.shape[1:] != tuple(shape):
    raise ValueError(f"Out-of-distribution images have shape {x.shape[1:]} "
                     f"after preprocessing, the memory's {tuple(shape)}.")
  pool = jnp.asarray(x)

  @functools.partial(jax.jit, static_argnums=(2, 3))
  def take(key, pool, meta_batch_size, num_patterns):
    idx = jax.random.randint(key, (meta_batch_size, num_patterns), 0,
                             pool.shape[0])
    return jnp.take(pool, idx, axis=0)

  # The images are an argument of the jitted gather, not a baked constant.
  return lambda key, m, n: take(key, pool, m, n)
