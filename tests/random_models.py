"""Models with random weights set from NumPy, without ``create_model``'s initialiser.

``create_model`` initialises eagerly, compiling one XLA program per parameter shape (seconds
on a busy 2-core machine); tests need weights, not that initialiser.
"""

from __future__ import annotations

import jax
import numpy as np
from flax import nnx

from overfeat.models import IMAGENET_MEAN, IMAGENET_STD, create_model


def random_model(arch, *, seed: int = 0, **kwargs):
    """``create_model(arch, **kwargs)`` with He-normal kernels and small random biases."""
    abstract = nnx.eval_shape(lambda: create_model(arch, **kwargs))
    graphdef, state = nnx.split(abstract)
    rng = np.random.default_rng(seed)

    def fill(path, leaf):
        name = path[-1].key
        if name == "kernel":  # HWIO; He-normal scale keeps activations O(1)
            scale = np.sqrt(2.0 / np.prod(leaf.shape[:-1]))
            return jax.device_put((rng.standard_normal(leaf.shape) * scale).astype(np.float32))
        if name == "bias":
            return jax.device_put((rng.standard_normal(leaf.shape) * 0.1).astype(np.float32))
        statistic = kwargs.get(name, IMAGENET_MEAN if name == "mean" else IMAGENET_STD)
        return jax.device_put(np.broadcast_to(np.float32(statistic), (3,)).copy())

    values = jax.tree_util.tree_map_with_path(fill, nnx.to_pure_dict(state))
    nnx.replace_by_pure_dict(state, values)
    return nnx.merge(graphdef, state)
