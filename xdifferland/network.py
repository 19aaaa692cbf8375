"""The spatialization network: standardized predictors → the 40 DALEC993 parameters (spec 7).

An embedding MLP feeds three linear heads (31 process parameters, 7 initial pools, 2 phenology
timings); the phenology head also receives the standardized hemisphere indicator
``sigmoid(latitude in degrees)``. Each head passes through the bounded transform of its registry
entries. Weights are Glorot-normal, biases 1, activation leaky ReLU (slope 0.01) by default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from .engine.types import Parameters
from .registry import HEADS, PARAMETER_NAMES
from .transforms import to_physical

__all__ = ["NetworkConfig", "SpatializationNetwork", "init_network", "predict_parameters",
           "predict_raw", "ACTIVATIONS"]

ACTIVATIONS: dict[str, Callable] = {
    "leaky_relu": lambda x: nn.leaky_relu(x, negative_slope=0.01),
    "relu": nn.relu,
    "tanh": jnp.tanh,
    "gelu": nn.gelu,
    "silu": nn.silu,
}


@dataclass(frozen=True)
class NetworkConfig:
    """Shape of the network; stored with every fitted model."""

    width: int = 32
    depth: int = 3
    activation: str = "leaky_relu"
    bias_init: float = 1.0

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r} is not one of {sorted(ACTIVATIONS)}")
        if self.width < 1 or self.depth < 1:
            raise ValueError("width and depth must be positive integers")

    def to_dict(self) -> dict:
        return asdict(self)


class SpatializationNetwork(nn.Module):
    """Embedding MLP with three heads; returns the unconstrained head outputs."""

    config: NetworkConfig = field(default_factory=NetworkConfig)

    def _dense(self, features: int, name: str) -> nn.Dense:
        return nn.Dense(features, kernel_init=nn.initializers.glorot_normal(),
                        bias_init=nn.initializers.constant(self.config.bias_init), name=name)

    @nn.compact
    def __call__(self, predictors, hemisphere):
        act = ACTIVATIONS[self.config.activation]
        h = predictors
        for layer in range(self.config.depth):
            h = act(self._dense(self.config.width, f"embedding_{layer}")(h))
        return {
            "process": self._dense(len(HEADS["process"]), "process_head")(h),
            "initial_pools": self._dense(len(HEADS["initial_pools"]), "initial_pools_head")(h),
            "phenology": self._dense(len(HEADS["phenology"]), "phenology_head")(
                jnp.concatenate([h, hemisphere], axis=-1)),
        }


def init_network(config: NetworkConfig, n_predictors: int, seed: int):
    """Initial weights for ``n_predictors`` standardized predictors (hemisphere excluded)."""
    net = SpatializationNetwork(config)
    dummy = jnp.zeros((1, n_predictors), jnp.result_type(float))
    return net.init(jax.random.PRNGKey(seed), dummy, jnp.zeros((1, 1), dummy.dtype))["params"]


def predict_raw(weights, config: NetworkConfig, predictors, hemisphere) -> dict:
    """Unconstrained head outputs ``{head: (pixel, n)}``.

    ``weights`` may also hold the process model's water-stress networks under
    ``"water_stress"``; they are not part of this network.
    """
    layers = {k: v for k, v in weights.items() if k != "water_stress"}
    return SpatializationNetwork(config).apply({"params": layers}, predictors, hemisphere)


def predict_parameters(weights, config: NetworkConfig, predictors, hemisphere) -> Parameters:
    """Physical parameters (``(pixel,)`` per registry entry) for standardized predictors.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> config = NetworkConfig()
    >>> w = init_network(config, n_predictors=4, seed=0)
    >>> p = predict_parameters(w, config, jnp.zeros((3, 4)), jnp.zeros((3, 1)))
    >>> p.canopy_efficiency.shape
    (3,)
    """
    heads = predict_raw(weights, config, predictors, hemisphere)
    values = {}
    for head, names in HEADS.items():
        physical = to_physical(heads[head], names)
        values.update({name: physical[:, j] for j, name in enumerate(names)})
    return Parameters(*(values[name] for name in PARAMETER_NAMES))
