"""The parameter registry and the bounded transform."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pint
import pytest

import xdifferland
from xdifferland.registry import DERIVED, HEADS, PARAMETERS, derived, resolve_name
from xdifferland.transforms import to_physical, to_unconstrained


def test_forty_entries_in_three_heads():
    assert len(PARAMETERS) == 40
    assert {k: len(v) for k, v in HEADS.items()} == {"process": 31, "phenology": 2,
                                                     "initial_pools": 7}
    assert HEADS["phenology"] == ("labile_release_day", "leaf_fall_day")


def test_parameter_table_columns_and_units():
    table = xdifferland.parameter_table()
    assert len(table) == 40
    assert {"name", "min", "max", "units", "group", "description", "alias"} <= set(table.columns)
    assert (table["min"] < table["max"]).all()
    ureg = pint.UnitRegistry()
    for units in table["units"]:
        ureg.Unit(units)


@pytest.mark.parametrize(("alias", "name"), [("LCMA", "leaf_carbon_mass_per_area"),
                                             ("Fday", "leaf_fall_day"), ("uWUE", "underlying_wue"),
                                             ("lff", None), ("f_auto", "autotrophic_fraction")])
def test_aliases_resolve(alias, name):
    if name is None:
        with pytest.raises(KeyError, match="parameter_table"):
            resolve_name(alias)
    else:
        assert resolve_name(alias) == name


def test_derived_quantities():
    p = {"temperature_sensitivity": np.log(2.0) / 10, "autotrophic_fraction": 0.4,
         "sif_intercept_plus_three": 4.5}
    assert derived("effective_q10", p) == pytest.approx(2.0)
    assert derived("carbon_use_efficiency", p) == pytest.approx(0.6)
    assert derived("sif_intercept", p) == pytest.approx(1.5)
    assert {"effective_q10", "carbon_use_efficiency", "sif_intercept"} <= set(DERIVED)


def test_transform_round_trip_and_bounds():
    x = jnp.linspace(-50, 50, 101)[:, None] * jnp.ones((1, 40))
    theta = np.asarray(to_physical(x))
    lo = np.array([p.min for p in PARAMETERS], np.float32)
    hi = np.array([p.max for p in PARAMETERS], np.float32)
    assert (theta >= lo * (1 - 1e-6)).all() and (theta <= hi * (1 + 1e-6)).all()
    middle = to_physical(jnp.zeros(40))
    np.testing.assert_allclose(middle, [p.midpoint for p in PARAMETERS], rtol=1e-6)
    inner = jnp.linspace(-3, 3, 13)[:, None] * jnp.ones((1, 40))
    np.testing.assert_allclose(to_unconstrained(to_physical(inner)), inner, atol=2e-3)


@pytest.mark.shared
def test_transform_matches_reference_physical_values(x64):
    from tests.engine.parity_data import open_parity, parameters_from

    ds = open_parity("dalec993_monthly.nc")
    raw, physical = parameters_from(ds, "raw_"), parameters_from(ds)
    names = list(raw)
    ours = to_physical(jnp.stack([raw[n] for n in names], axis=1), names)
    ref = np.stack([physical[n] for n in names], axis=1)
    np.testing.assert_allclose(np.asarray(ours), ref, rtol=1e-12)
