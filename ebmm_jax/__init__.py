"""ebmm-jax: Meta-Learning Deep Energy-Based Memory Models (Bartunov et al., ICLR 2020).

The package, along the data flow of a run:

  configs/     (installed as ebmm_jax.configs) ml_collections configs
  setups/      config -> Experiment: validation, energy or baseline, task, samplers
  data/        the datasets' loaders (binary strings, Omniglot, MNIST, CIFAR-10, ImageNet)
  core/        pure JAX: distortion, write (Eq. 3-4), read (Eq. 1), the meta-loss
               (Eq. 2, 5), the MemoryModel interface
  training/    (also) the train state and the one meta-step (Eq. 5), the optimiser
  energies/    the energy networks (Appendix C); baselines/: the other memories
  training/    the jitted data-parallel loop, checkpoints, metrics, workdir guards
  reporting/   evaluation protocols, Table 1, analyses, plots
  api.py       `Memory`: write and read with a trained model

The names below are loaded on first use, so `import ebmm_jax` (and loading a
config) does not start JAX.
"""
import importlib

__version__ = "0.2.0"

_PUBLIC = {
    "Memory": "ebmm_jax.api",
    "build": "ebmm_jax.setups",
    "Experiment": "ebmm_jax.setups",
    "train": "ebmm_jax.training",
    "MemoryModel": "ebmm_jax.core.models",
    "write": "ebmm_jax.core.memory",
    "read": "ebmm_jax.core.memory",
    "meta_loss": "ebmm_jax.core.meta",
}


def __getattr__(name):
  if name in _PUBLIC:
    return getattr(importlib.import_module(_PUBLIC[name]), name)
  raise AttributeError(f"module 'ebmm_jax' has no attribute {name!r}")


def __dir__():
  return sorted(list(globals()) + list(_PUBLIC))


__all__ = sorted(_PUBLIC)
