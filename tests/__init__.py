"""The tests, in folders that mirror the package (tests/core/ tests ebmm_jax/core/, ...)."""
