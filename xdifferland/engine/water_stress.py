"""Hybrid water-stress variants of DALEC993 (spec 6.11): small networks inside the process model.

``"default"`` is the linear bucket stress of the published global model. Two neural variants of
the site-level DifferLand are available:

* ``"nn_paw"``: β = sigmoid(MLP(W / 1500)); GPP = ACM × β; ET keeps the uWUE form.
* ``"gpp_acm_et_nn"``: β as in ``nn_paw`` for GPP, and ET = floor(MLP([T_norm, LAI/8, R_norm,
  W/1500, V_norm, Ca_norm, GPP/8])) with floor(x) = max(0.01 x, x).

The networks are global (shared by all pixels) and trained jointly with the spatialization
network. Their MLPs use the same dense + leaky-ReLU forward as the network heads.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..typing import Array

__all__ = ["WATER_STRESS_VARIANTS", "WaterStressDrivers", "init_water_stress", "mlp",
           "stress_factor", "network_et", "water_stress_drivers"]

WATER_STRESS_VARIANTS = ("default", "nn_paw", "gpp_acm_et_nn")
_HIDDEN = (16, 16)
_WATER_SCALE = 1500.0  # mm; the published input scaling of the water pool
_ET_INPUTS = 7


class WaterStressDrivers(NamedTuple):
    """Standardized forcing the ET network reads, each ``(time, pixel)``."""

    temperature: Array
    radiation: Array
    vpd: Array
    co2: Array


def _dense_init(key, n_in: int, n_out: int):
    scale = jnp.sqrt(2.0 / (n_in + n_out))
    return {"kernel": scale * jax.random.truncated_normal(key, -2.0, 2.0, (n_in, n_out))
            / 0.87962566103423978, "bias": jnp.ones((n_out,))}


def _mlp_init(key, n_in: int, n_out: int) -> dict:
    sizes = (n_in, *_HIDDEN, n_out)
    keys = jax.random.split(key, len(sizes) - 1)
    return {f"layer_{i}": _dense_init(k, a, b)
            for i, (k, a, b) in enumerate(zip(keys, sizes[:-1], sizes[1:]))}


def init_water_stress(variant: str, seed: int) -> dict:
    """Initial weights of a variant's networks (empty for ``"default"``)."""
    if variant not in WATER_STRESS_VARIANTS:
        raise ValueError(f"water_stress={variant!r}; choose one of {WATER_STRESS_VARIANTS}")
    key_beta, key_et = jax.random.split(jax.random.PRNGKey(seed))
    weights = {}
    if variant in ("nn_paw", "gpp_acm_et_nn"):
        weights["beta"] = _mlp_init(key_beta, 1, 1)
    if variant == "gpp_acm_et_nn":
        weights["et"] = _mlp_init(key_et, _ET_INPUTS, 1)
    return weights


def mlp(layers: dict, x):
    """Dense layers with leaky ReLU (slope 0.01) between them; the last layer is linear."""
    for i in range(len(layers)):
        layer = layers[f"layer_{i}"]
        x = x @ layer["kernel"].astype(x.dtype) + layer["bias"].astype(x.dtype)[None, :]
        if i < len(layers) - 1:
            x = jnp.where(x >= 0, x, 0.01 * x)
    return x


def stress_factor(weights: dict, water):
    """β in (0, 1) from the plant-available water ``(pixel,)``."""
    return jax.nn.sigmoid(mlp(weights["beta"], (water / _WATER_SCALE)[:, None])[:, 0])


def network_et(weights: dict, drivers: WaterStressDrivers, lai, water, gpp):
    """ET (mm d-1) from the ET network, floored as max(0.01 x, x)."""
    columns = (drivers.temperature, lai / 8.0, drivers.radiation, water / _WATER_SCALE,
               drivers.vpd, drivers.co2, gpp / 8.0)
    x = jnp.stack([jnp.broadcast_to(c, lai.shape) for c in columns], axis=-1)
    raw = mlp(weights["et"], x)[:, 0]
    return jnp.maximum(0.01 * raw, raw)


def water_stress_drivers(forcing) -> WaterStressDrivers:
    """Per-pixel z-scores of mean temperature, radiation, VPD and CO2 over the record.

    The published site pipeline standardizes with the training period's statistics; here each
    pixel's whole record is used, so the inputs do not depend on how the record is split.
    """
    def z(x):
        mean = x.mean(axis=0, keepdims=True)
        std = x.std(axis=0, keepdims=True)
        return (x - mean) / jnp.where(std > 0, std, 1.0)

    temperature = 0.5 * (forcing.t_max + forcing.t_min)
    return WaterStressDrivers(z(temperature), z(forcing.shortwave_radiation), z(forcing.vpd),
                              z(forcing.co2))
