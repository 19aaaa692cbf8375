"""The array-level simulation entry point: output selection, dtypes, Δt, compile caching."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xdifferland.engine import (OUTPUT_NAMES, OUTPUTS, Forcing, midpoint_parameters,
                                resolve_output, simulate)
from xdifferland.engine.simulate import _simulate


def make_forcing(n_time=24, n_pixels=3, delta_t=30.0, dtype=jnp.float32):
    """Seasonal mid-latitude forcing, (time, pixel), with per-pixel variation."""
    days = jnp.arange(n_time, dtype=dtype) * delta_t + delta_t / 2
    season = jnp.sin(2 * jnp.pi * days / 365.25)[:, None]
    offset = jnp.linspace(-3, 3, n_pixels, dtype=dtype)[None, :]
    shape = (n_time, n_pixels)
    return Forcing(
        time_days=jnp.broadcast_to(days[:, None], shape), t_min=2 + 8 * season + offset,
        t_max=12 + 10 * season + offset, shortwave_radiation=15 + 8 * season + 0 * offset,
        co2=jnp.full(shape, 400.0, dtype), day_of_year=jnp.broadcast_to((days % 365)[:, None],
                                                                         shape),
        burned_area=jnp.zeros(shape, dtype), vpd=1.0 + 0.5 * season + 0 * offset,
        precipitation=2.0 + 1.0 * season + 0 * offset,
        latitude=jnp.linspace(30, 50, n_pixels, dtype=dtype),
        delta_t=jnp.asarray(delta_t, dtype), mean_temperature=jnp.full((n_pixels,), 7.0, dtype),
        mean_precipitation=jnp.full((n_pixels,), 2.0, dtype),
    )


def test_all_44_outputs_have_names_units_and_order():
    assert len(OUTPUTS) == 44 and len(set(OUTPUT_NAMES)) == 44
    assert all(o.units and o.long_name for o in OUTPUTS)
    assert resolve_output("ET") == "et" and resolve_output("next_som_pool") == "som_pool"
    with pytest.raises(KeyError, match="available outputs"):
        resolve_output("not_an_output")


def test_only_requested_outputs_are_returned():
    run = simulate(midpoint_parameters(3), make_forcing(), outputs=["GPP", "lai", "nbe", "ET"])
    assert set(run.outputs) == {"gpp", "lai", "nbe", "et"}
    assert all(v.shape == (24, 3) for v in run.outputs.values())


def test_a_four_output_run_does_not_stack_44():
    """The compiled program's results hold 4 stacked outputs (plus final pools), not 44."""
    params, forcing = midpoint_parameters(3), make_forcing()
    lowered = _simulate.lower(params, forcing, ("gpp", "lai", "nbe", "et"), False, 1)
    result_shapes = [x.shape for x in jax.tree_util.tree_leaves(lowered.out_info)]
    assert result_shapes.count((24, 3)) == 4


def test_subset_equals_full_run():
    params, forcing = midpoint_parameters(3), make_forcing()
    full = simulate(params, forcing, outputs=None)
    part = simulate(params, forcing, outputs=["nee", "rate_modifier", "leaf_fall_factor"])
    for name in part.outputs:
        np.testing.assert_array_equal(part.outputs[name], full.outputs[name])


@pytest.mark.parametrize("name", ["labile_production", "water_balance_violation", "nbe",
                                  "rate_modifier"])
def test_time_total_equals_the_summed_series(name, x64):
    params, forcing = midpoint_parameters(3), make_forcing(n_time=36)
    forcing = forcing._replace(burned_area=forcing.burned_area + 0.01)  # fire fluxes non-zero
    run = simulate(params, forcing, outputs=[name, f"sum:{name}"])
    assert run.outputs[f"sum:{name}"].shape == (3,)
    np.testing.assert_allclose(run.outputs[f"sum:{name}"], run.outputs[name].sum(axis=0),
                               rtol=1e-12)
    if name != "water_balance_violation":  # zero in this wet forcing; the sum is still checked
        assert bool(jnp.all(run.outputs[f"sum:{name}"] != 0))


def test_a_time_total_is_not_stacked_and_accepts_aliases():
    params, forcing = midpoint_parameters(3), make_forcing()
    lowered = _simulate.lower(params, forcing, ("gpp", "sum:labile_release"), False, 1)
    result_shapes = [x.shape for x in jax.tree_util.tree_leaves(lowered.out_info)]
    assert result_shapes.count((24, 3)) == 1  # gpp only
    assert resolve_output("sum:ET") == "sum:et"
    with pytest.raises(KeyError, match="available outputs"):
        resolve_output("sum:not_an_output")


def test_float32_default_and_float64_with_x64():
    run = simulate(midpoint_parameters(2), make_forcing(n_pixels=2), outputs=["gpp"])
    assert run.outputs["gpp"].dtype == jnp.float32
    with jax.enable_x64(True):
        run64 = simulate(midpoint_parameters(2), make_forcing(n_pixels=2, dtype=jnp.float64),
                         outputs=["gpp"])
        assert run64.outputs["gpp"].dtype == jnp.float64
    np.testing.assert_allclose(run.outputs["gpp"], run64.outputs["gpp"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("delta_t", [1.0, 7.0, 30.0])
def test_any_step_length(delta_t):
    n_time = int(360 / delta_t)
    run = simulate(midpoint_parameters(2), make_forcing(n_time, 2, delta_t), outputs=["gpp", "lai"])
    gpp = np.asarray(run.outputs["gpp"])
    assert gpp.shape == (n_time, 2) and np.isfinite(gpp).all() and (gpp > 0).all()


def test_compiled_once_per_shape():
    params, forcing = midpoint_parameters(4), make_forcing(n_pixels=4)
    simulate(params, forcing, outputs=["gpp"])
    before = _simulate._cache_size()
    simulate(params._replace(canopy_efficiency=params.canopy_efficiency * 1.1), forcing,
             outputs=["gpp"])
    assert _simulate._cache_size() == before
    simulate(midpoint_parameters(5), make_forcing(n_pixels=5), outputs=["gpp"])
    assert _simulate._cache_size() == before + 1


def test_static_forcing_fields_broadcast_over_time():
    forcing = make_forcing()
    full = forcing._replace(latitude=jnp.broadcast_to(forcing.latitude, (24, 3)))
    a = simulate(midpoint_parameters(3), forcing, outputs=["gpp"]).outputs["gpp"]
    b = simulate(midpoint_parameters(3), full, outputs=["gpp"]).outputs["gpp"]
    np.testing.assert_array_equal(a, b)
