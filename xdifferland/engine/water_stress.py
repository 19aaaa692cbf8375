"""Water-stress variants of DALEC993 (spec 6.11), some with small networks inside the process model.

``"default"`` is the linear bucket stress of the published global model. The variants of the
site-level DifferLand:

* ``"nothing"``: no water stress, β = 1; GPP = ACM; ET keeps the uWUE form. No network.
* ``"nn_paw"``: β = sigmoid(MLP(W / 1500)); GPP = ACM × β; ET keeps the uWUE form.
* ``"gpp_acm_et_nn"``: β as in ``nn_paw`` for GPP, and ET = floor(MLP([T_norm, LAI/8, R_norm,
  W/1500, V_norm, Ca_norm, GPP/8])) with floor(x) = max(0.01 x, x).
* ``"nn_whole"``: GPP and ET both from one network, (GPP, ET) = floor(MLP([T_norm, LAI/8,
  R_norm, W/1500, V_norm, Ca_norm])); ACM is not used and there is no β (the water-stress
  output is NaN; the published code writes the fill value -9999).
* ``"nn_whole_no_lai"``: as ``nn_whole`` without the LAI/8 input.

The networks are global (shared by all pixels) and trained jointly with the spatialization
network. Their MLPs use the same dense + leaky-ReLU forward as the network heads.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..typing import Array

__all__ = ["WATER_STRESS_VARIANTS", "WHOLE_NETWORK_VARIANTS", "DRIVER_VARIANTS",
           "WaterStressDrivers", "init_water_stress", "mlp", "floor", "stress_factor",
           "network_et", "whole_network_fluxes", "water_stress_drivers"]

WATER_STRESS_VARIANTS = ("default", "nothing", "nn_paw", "gpp_acm_et_nn", "nn_whole",
                         "nn_whole_no_lai")
#: Variants whose one network gives both GPP and ET (no ACM, no β).
WHOLE_NETWORK_VARIANTS = ("nn_whole", "nn_whole_no_lai")
#: Variants whose networks read the standardized forcing (:class:`WaterStressDrivers`).
DRIVER_VARIANTS = ("gpp_acm_et_nn", *WHOLE_NETWORK_VARIANTS)
_HIDDEN = (16, 16)
_WATER_SCALE = 1500.0  # mm; the published input scaling of the water pool
_LAI_SCALE = 8.0  # m2 m-2; the published input scaling of LAI (and of GPP, gC m-2 d-1)
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
    """Initial weights of a variant's networks (empty for ``"default"`` and ``"nothing"``).

    ``"nn_paw"`` and ``"gpp_acm_et_nn"`` have a β network (``"beta"``, 1 input, 1 output),
    ``"gpp_acm_et_nn"`` also an ET network (``"et"``, 7 inputs, 1 output); the whole-network
    variants have one network (``"whole"``, 6 or 5 inputs, 2 outputs: GPP, ET).

    Examples
    --------
    >>> w = init_water_stress("nn_whole_no_lai", seed=0)
    >>> w["whole"]["layer_0"]["kernel"].shape, w["whole"]["layer_2"]["kernel"].shape
    ((5, 16), (16, 2))
    >>> init_water_stress("nothing", seed=0)
    {}
    """
    if variant not in WATER_STRESS_VARIANTS:
        raise ValueError(f"water_stress={variant!r}; choose one of {WATER_STRESS_VARIANTS}")
    key_beta, key_et = jax.random.split(jax.random.PRNGKey(seed))
    weights = {}
    if variant in ("nn_paw", "gpp_acm_et_nn"):
        weights["beta"] = _mlp_init(key_beta, 1, 1)
    if variant == "gpp_acm_et_nn":
        weights["et"] = _mlp_init(key_et, _ET_INPUTS, 1)
    if variant in WHOLE_NETWORK_VARIANTS:
        n_inputs = 6 if variant == "nn_whole" else 5
        weights["whole"] = _mlp_init(key_et, n_inputs, 2)
    return weights


def mlp(layers: dict, x):
    """Dense layers with leaky ReLU (slope 0.01) between them; the last layer is linear."""
    for i in range(len(layers)):
        layer = layers[f"layer_{i}"]
        x = x @ layer["kernel"].astype(x.dtype) + layer["bias"].astype(x.dtype)[None, :]
        if i < len(layers) - 1:
            x = jnp.where(x >= 0, x, 0.01 * x)
    return x


def floor(x):
    """The published floor of the network fluxes, ``max(0.01 x, x)`` (a leaky ReLU)."""
    return jnp.maximum(0.01 * x, x)


def stress_factor(weights: dict, water):
    """β in (0, 1) from the plant-available water ``(pixel,)``."""
    return jax.nn.sigmoid(mlp(weights["beta"], (water / _WATER_SCALE)[:, None])[:, 0])


def network_et(weights: dict, drivers: WaterStressDrivers, lai, water, gpp):
    """ET (mm d-1) from the ET network, floored as max(0.01 x, x)."""
    columns = (drivers.temperature, lai / _LAI_SCALE, drivers.radiation, water / _WATER_SCALE,
               drivers.vpd, drivers.co2, gpp / _LAI_SCALE)
    x = jnp.stack([jnp.broadcast_to(c, lai.shape) for c in columns], axis=-1)
    return floor(mlp(weights["et"], x)[:, 0])


def whole_network_fluxes(variant: str, weights: dict, drivers: WaterStressDrivers, lai, water):
    """``(GPP, ET)`` (gC m-2 d-1, mm d-1), each ``(pixel,)``, from the whole network.

    Its inputs are ``[T_norm, LAI/8, R_norm, W/1500, V_norm, Ca_norm]`` (``"nn_whole"``) or the
    same without ``LAI/8`` (``"nn_whole_no_lai"``); both outputs are floored as
    ``max(0.01 x, x)``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> w = init_water_stress("nn_whole", seed=0)
    >>> zeros = jnp.zeros(3)
    >>> gpp, et = whole_network_fluxes("nn_whole", w, WaterStressDrivers(*[zeros] * 4),
    ...                                lai=zeros + 2.0, water=zeros + 300.0)
    >>> gpp.shape, et.shape
    ((3,), (3,))
    """
    columns = [drivers.temperature, lai / _LAI_SCALE, drivers.radiation,
               water / _WATER_SCALE, drivers.vpd, drivers.co2]
    if variant == "nn_whole_no_lai":
        del columns[1]
    x = jnp.stack([jnp.broadcast_to(c, lai.shape) for c in columns], axis=-1)
    raw = mlp(weights["whole"], x)
    return floor(raw[:, 0]), floor(raw[:, 1])


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
