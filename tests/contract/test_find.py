"""Finding declared variables by name, alias, CF standard_name or explicit roles=."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tests.factories import FORCING, OBSERVATIONS, PREDICTORS, make_dataset
from xdifferland.contract.find import canonicalize, find_variables, match_variables
from xdifferland.errors import DataError, Problem
from xdifferland.contract.declare import VARIABLES


def _ds(**variables) -> xr.Dataset:
    """A tiny Dataset: each keyword is a data var over 'time', value = attrs (or None)."""
    return xr.Dataset({name: ("time", np.arange(3.0), attrs or {})
                       for name, attrs in variables.items()})


def test_declared_names_and_aliases_are_unique():
    # Discovery relies on every name and alias pointing to exactly one declared variable.
    seen = [n for v in VARIABLES for n in (v.name, *v.aliases)]
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize("layout", ["grid", "site"])
def test_finds_all_canonical_names(layout):
    ds = make_dataset(layout)
    found = find_variables(ds)
    assert found == {n: n for n in (*FORCING, *PREDICTORS, *OBSERVATIONS)}


@pytest.mark.parametrize("alias, canonical", [
    ("T2M_MIN", "t_min"), ("tasmax", "t_max"), ("SSRD", "shortwave_radiation"),
    ("TOTAL_PREC", "precipitation"), ("VPD", "vpd"), ("MAP", "mean_annual_precipitation"),
    ("GPPunc", "gpp_unc"), ("LAI_unc", "lai_unc"), ("tree_age_000_filled", "forest_age"),
])
def test_finds_by_alias(alias, canonical):
    assert find_variables(_ds(**{alias: None})) == {canonical: alias}


@pytest.mark.parametrize("short_name, canonical", [
    ("mn2t", "t_min"), ("mx2t", "t_max"), ("ssrd", "shortwave_radiation"),
    ("tp", "precipitation"), ("tasmin", "t_min"), ("rsds", "shortwave_radiation"),
])
def test_finds_era5_and_cmip_short_names(short_name, canonical):
    assert find_variables(_ds(**{short_name: None})) == {canonical: short_name}


@pytest.mark.parametrize("spelling, canonical", [
    ("Tasmin", "t_min"), ("Lai", "lai"), ("Gpp_Unc", "gpp_unc"),
    ("Sand", "sand"), ("TP", "precipitation"),
])
def test_finds_names_that_differ_only_in_case(spelling, canonical):
    assert find_variables(_ds(**{spelling: None})) == {canonical: spelling}


def test_exact_spelling_wins_over_a_case_insensitive_one():
    # 'GPP' is an alias; 'Gpp' only matches ignoring case, so it is left alone, not ambiguous.
    assert find_variables(_ds(GPP=None, Gpp=None)) == {"gpp": "GPP"}


def test_lowercased_names_and_aliases_belong_to_one_variable():
    seen: dict[str, set[str]] = {}
    for v in VARIABLES:
        for n in (v.name, *v.aliases):
            seen.setdefault(n.lower(), set()).add(v.name)
    assert {n: names for n, names in seen.items() if len(names) > 1} == {}


def test_finds_by_standard_name():
    ds = _ds(rad={"standard_name": "surface_downwelling_shortwave_flux_in_air"},
             x={"standard_name": "lwe_precipitation_rate"})
    assert find_variables(ds) == {"shortwave_radiation": "rad", "precipitation": "x"}


def test_result_follows_table_order_and_role_filter():
    ds = _ds(LAI=None, T2M_MAX=None, T2M_MIN=None, SAND=None)
    assert list(find_variables(ds)) == ["t_min", "t_max", "sand", "lai"]
    assert find_variables(ds, role="forcing") == {"t_min": "T2M_MIN", "t_max": "T2M_MAX"}
    assert find_variables(ds, role=["predictor", "observation"]) == {"sand": "SAND", "lai": "LAI"}


def test_unknown_role_is_rejected():
    with pytest.raises(ValueError, match="unknown role"):
        find_variables(_ds(), role="forcings")


def test_explicit_roles_win_over_name_and_standard_name():
    ds = _ds(gpp=None, my_gpp=None, tower={"standard_name": "leaf_area_index"}, LAI=None)
    found = find_variables(ds, roles={"gpp": "my_gpp", "lai": "LAI"})
    assert found == {"gpp": "my_gpp", "lai": "LAI"}  # no ambiguity: explicit choice wins


def test_roles_key_may_be_an_alias():
    assert find_variables(_ds(a=None), roles={"VPD": "a"}) == {"vpd": "a"}


def test_data_var_claimed_by_roles_is_not_matched_elsewhere():
    # "ET" is an alias of et; mapping it to et_ec must not also make it et.
    assert find_variables(_ds(ET=None), roles={"et_ec": "ET"}) == {"et_ec": "ET"}


def test_name_match_beats_standard_name_of_another_variable():
    ds = _ds(et_fluxnet={"standard_name": "water_evapotranspiration_flux"})
    assert find_variables(ds) == {"et_ec": "et_fluxnet"}


def test_two_names_for_one_variable_is_ambiguous():
    with pytest.raises(DataError) as info:
        find_variables(_ds(GPP=None, gpp=None))
    text = str(info.value)
    assert "- gpp:" in text and "'gpp'" in text and "'GPP'" in text
    assert "roles={'gpp': 'gpp'}" in text


def test_name_and_standard_name_for_one_variable_is_ambiguous():
    ds = _ds(LAI=None, modis={"standard_name": "leaf_area_index"})
    with pytest.raises(DataError, match=r"'LAI' \(by alias\), 'modis' \(by standard_name"):
        find_variables(ds)


def test_ambiguity_outside_requested_role_is_ignored():
    ds = _ds(GPP=None, gpp=None, VPD=None)
    assert find_variables(ds, role="forcing") == {"vpd": "VPD"}
    found, problems = match_variables(ds)
    assert found == {"vpd": "VPD"} and [p.variable for p in problems] == ["gpp"]


@pytest.mark.parametrize("roles, expected", [
    ({"not_a_variable": "a"}, "not a declared xdifferland variable"),
    ({"vpd": "missing"}, "not a data variable"),
    ({"vpd": "a", "co2": "a"}, "same data variable"),
])
def test_bad_roles_mapping(roles, expected):
    with pytest.raises(DataError, match=expected):
        find_variables(_ds(a=None), roles=roles)


def test_all_discovery_problems_reported_together():
    ds = _ds(GPP=None, gpp=None, LAI=None, lai=None)
    with pytest.raises(DataError) as info:
        find_variables(ds, roles={"nope": "GPP"})
    assert info.value.variables == ["nope", "lai", "gpp"]  # table order after roles problems


def test_coordinates_are_not_discovered():
    ds = _ds().assign_coords(elevation=("time", np.arange(3.0)))
    assert find_variables(ds) == {}


def test_canonicalize_renames_found_and_keeps_the_rest():
    ds = _ds(T2M_MIN={"units": "degC"}, SAND=None, other={"note": "keep"})
    out = canonicalize(ds)
    assert sorted(out.data_vars) == ["other", "sand", "t_min"]
    assert out["t_min"].attrs == {"units": "degC"}
    assert out["other"].attrs == {"note": "keep"}
    np.testing.assert_array_equal(out["t_min"], ds["T2M_MIN"])


def test_canonicalize_with_roles_and_dask_stays_lazy():
    ds = make_dataset("site", chunks={"time": 6}).rename(t_min="tmin_k", precipitation="pr")
    out = canonicalize(ds, roles={"t_min": "tmin_k"})
    assert {"t_min", "precipitation"} <= set(out.data_vars)
    assert out["t_min"].chunks is not None


def test_canonicalize_refuses_to_overwrite():
    ds = _ds(ELEVATION=None).assign_coords(elevation=("time", np.arange(3.0)))
    with pytest.raises(DataError, match="already has a coordinate 'elevation'"):
        canonicalize(ds)


def test_data_error_format():
    err = DataError([Problem("vpd", "units 'm' cannot be converted to kPa.", "set the units."),
                     Problem("gpp", "is missing.", "add it.")], header="Header:")
    assert str(err).splitlines() == [
        "Header:",
        "- vpd: units 'm' cannot be converted to kPa. Fix: set the units.",
        "- gpp: is missing. Fix: add it.",
    ]
    assert isinstance(err, ValueError)
    with pytest.raises(ValueError):
        DataError([])


def test_data_error_pickles():
    import pickle

    err = DataError([Problem("a", "b.", "c.")])
    again = pickle.loads(pickle.dumps(err))
    assert again.problems == err.problems and str(again) == str(err)
