"""Each water-stress variant against its definition in spec 6.11, on the first step."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from tests.engine.test_simulate import make_forcing
from xdifferland.engine import midpoint_parameters, simulate
from xdifferland.engine.water_stress import (WaterStressDrivers, init_water_stress,
                                             whole_network_fluxes)

OUTPUTS = ["gpp", "et", "water_stress", "lai"]


def first_step(variant, params, forcing, weights=None):
    run = simulate(params, forcing, OUTPUTS, water_stress=variant,
                   stress_weights=init_water_stress(variant, 0) if weights is None else weights)
    return {name: np.asarray(run.outputs[name][0], np.float64) for name in OUTPUTS}


def numpy_mlp(layers: dict, x: np.ndarray) -> np.ndarray:
    """Dense layers, leaky ReLU (0.01) between them, linear last (spec 7.2)."""
    for i in range(len(layers)):
        x = x @ np.asarray(layers[f"layer_{i}"]["kernel"]) + np.asarray(
            layers[f"layer_{i}"]["bias"])
        if i < len(layers) - 1:
            x = np.where(x >= 0, x, 0.01 * x)
    return x


def zscore(x: np.ndarray) -> np.ndarray:
    """Per-pixel z-score over the record; a constant series (CO2 here) gives 0."""
    std = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)


def test_nothing_is_acm_gpp_with_beta_one_and_the_uwue_et():
    params, forcing = midpoint_parameters(3), make_forcing(24, 3)
    params = params._replace(initial_water=jnp.full(3, 50.0))  # half-full bucket: β < 1
    default = first_step("default", params, forcing)
    nothing = first_step("nothing", params, forcing)
    np.testing.assert_array_equal(nothing["water_stress"], 1.0)
    assert (default["water_stress"] < 1).all()  # so the comparison below tests something
    # Same start-of-step pools: default GPP is ACM x β, "nothing" is ACM alone.
    np.testing.assert_allclose(nothing["gpp"] * default["water_stress"], default["gpp"],
                               rtol=1e-5)
    f, p = forcing, params
    uwue_et = (nothing["gpp"] * np.sqrt(np.asarray(f.vpd[0])) / np.asarray(p.underlying_wue)
               + np.asarray(f.shortwave_radiation[0]) * np.asarray(p.radiation_et_coefficient))
    np.testing.assert_allclose(nothing["et"], uwue_et, rtol=1e-5)


@pytest.mark.parametrize("variant", ["nn_whole", "nn_whole_no_lai"])
def test_whole_network_gives_gpp_and_et_from_the_standardized_drivers(variant):
    params, forcing = midpoint_parameters(3), make_forcing(24, 3)
    weights = init_water_stress(variant, 3)
    out = first_step(variant, params, forcing, weights)
    f = {k: np.asarray(v, np.float64) for k, v in forcing._asdict().items()}
    lai = (np.asarray(params.initial_foliar, np.float64)
           / np.asarray(params.leaf_carbon_mass_per_area, np.float64))
    np.testing.assert_allclose(out["lai"], lai, rtol=1e-6)
    columns = [zscore(0.5 * (f["t_max"] + f["t_min"]))[0], lai / 8.0,
               zscore(f["shortwave_radiation"])[0],
               np.asarray(params.initial_water, np.float64) / 1500.0, zscore(f["vpd"])[0],
               zscore(f["co2"])[0]]
    if variant == "nn_whole_no_lai":
        del columns[1]
    raw = numpy_mlp(weights["whole"], np.stack(columns, axis=-1))
    floored = np.maximum(0.01 * raw, raw)
    np.testing.assert_allclose(out["gpp"], floored[:, 0], rtol=1e-4)
    np.testing.assert_allclose(out["et"], floored[:, 1], rtol=1e-4)


def test_only_nn_whole_reads_lai():
    params, forcing = midpoint_parameters(2), make_forcing(12, 2)
    # half the leaf carbon mass per area: twice the LAI
    denser = params._replace(leaf_carbon_mass_per_area=params.leaf_carbon_mass_per_area * 0.5)
    with_lai = [first_step("nn_whole", p, forcing)["gpp"] for p in (params, denser)]
    without = [first_step("nn_whole_no_lai", p, forcing)["gpp"] for p in (params, denser)]
    assert not np.allclose(*with_lai)
    np.testing.assert_array_equal(*without)


def test_whole_network_outputs_are_floored():
    """GPP and ET = max(0.01 x, x): raw outputs of (-50, 4) give (-0.5, 4)."""
    weights = init_water_stress("nn_whole", 0)
    last = f"layer_{len(weights['whole']) - 1}"
    weights["whole"][last] = {"kernel": jnp.zeros_like(weights["whole"][last]["kernel"]),
                              "bias": jnp.array([-50.0, 4.0])}
    zeros = jnp.zeros(3)
    gpp, et = whole_network_fluxes("nn_whole", weights, WaterStressDrivers(*[zeros] * 4),
                                   zeros + 1.0, zeros + 100.0)
    np.testing.assert_allclose(gpp, -0.5, rtol=1e-6)
    np.testing.assert_allclose(et, 4.0, rtol=1e-6)


def test_networks_have_the_published_input_widths():
    assert init_water_stress("nothing", 0) == {} and init_water_stress("default", 0) == {}
    assert init_water_stress("nn_whole", 0)["whole"]["layer_0"]["kernel"].shape == (6, 16)
    assert init_water_stress("nn_whole_no_lai", 0)["whole"]["layer_0"]["kernel"].shape == (5, 16)
    assert init_water_stress("nn_whole", 0)["whole"]["layer_2"]["kernel"].shape == (16, 2)
