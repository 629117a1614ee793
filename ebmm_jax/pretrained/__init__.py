"""Trained memories shipped with the package: one folder each (config.json,
meta_params.npz, evaluation.json), loaded by `ebmm_jax.api.Memory.pretrained`."""
