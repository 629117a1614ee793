"""Running an experiment: the meta-training loop (`loop`), data parallelism
(`parallel`), checkpoints, metrics and workdir guards.

The loop's public names are re-exported here (`training.train(config, workdir)`).
"""
from ebmm_jax.training.loop import CheckpointError
from ebmm_jax.training.loop import NonFiniteError
from ebmm_jax.training.loop import checkpoint_dir
from ebmm_jax.training.loop import initial_state
from ebmm_jax.training.loop import load_config
from ebmm_jax.training.loop import load_latest
from ebmm_jax.training.loop import load_meta_params
from ebmm_jax.training.loop import make_sampler
from ebmm_jax.training.loop import make_train_step
from ebmm_jax.training.loop import run_keys
from ebmm_jax.training.loop import train

__all__ = ["CheckpointError", "NonFiniteError", "checkpoint_dir", "initial_state",
           "load_config", "load_latest", "load_meta_params", "make_sampler", "make_train_step",
           "run_keys", "train"]
