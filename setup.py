"""Install with `pip install -e ".[test]"`."""
import setuptools

setuptools.setup(
    name="recur_latent",
    version="0.1.0",
    description=(
        "Recurrent latent-space reasoning Transformers in JAX/Flax: "
        "out-of-distribution generalization on computational graphs."
    ),
    packages=setuptools.find_packages(include=["recur_latent", "recur_latent.*"]),
    package_data={"recur_latent": ["assets/*", "assets/**/*"]},
    python_requires=">=3.11",
    install_requires=[
        "jax>=0.6.0",
        "flax>=0.11.0",
        "optax>=0.2.4",
        "orbax-checkpoint>=0.11.0",
        "chex>=0.1.89",
        "numpy>=1.26",
        "ml-collections>=1.0.0",
        "absl-py>=2.1.0",
        "matplotlib>=3.8",
        "tensorboardX>=2.6",
    ],
    extras_require={"test": ["pytest>=8.0", "pytest-xdist>=3.5"]},  # xdist: the suite on every core.
)
