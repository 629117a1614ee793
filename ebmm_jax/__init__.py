"""ebmm-jax: Meta-Learning Deep Energy-Based Memory Models (Bartunov et al., ICLR 2020)."""

__version__ = "0.1.0"
