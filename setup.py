"""ebmm-jax: Meta-Learning Deep Energy-Based Memory Models (Bartunov et al., ICLR 2020) in JAX."""
import setuptools

setuptools.setup(
    name="ebmm-jax",
    version="0.1.0",
    description="Meta-learned deep energy-based memory models (EBMM) in JAX/Haiku.",
    long_description=open("README.md").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    packages=setuptools.find_packages(include=["ebmm_jax", "ebmm_jax.*"]),
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.4.30",
        "jaxlib>=0.4.30",
        "dm-haiku>=0.0.13",
        "optax>=0.2.5",
        "chex>=0.1.86",
        "ml-collections>=0.1.1",
        "absl-py>=2.0",
        "numpy>=1.26",
        "tensorflow-datasets>=4.9.6",
        "matplotlib>=3.8",
        "tensorboardX>=2.6",
        "Pillow>=10.0",
    ],
    extras_require={
        # nbclient, nbformat and ipykernel execute notebooks/quickstart.ipynb.
        "test": ["pytest>=8.0", "nbclient>=0.10", "nbformat>=5.10", "ipykernel>=6.29"],
        # Only for tfds datasets prepared as TFRecord, or downloads through tfds.
        "tensorflow": ["tensorflow>=2.15"],
    },
)
