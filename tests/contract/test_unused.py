"""Data variables validation leaves unused, with the role each may play (contract/unused.py)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tests.factories import make_dataset
from xdifferland.contract.check import validate
from xdifferland.contract.unused import unused_notes, unused_variables


def _with(ds: xr.Dataset, name: str, dims: tuple[str, ...], attrs: dict) -> xr.Dataset:
    shape = tuple(ds.sizes[d] for d in dims)
    return ds.assign({name: (dims, np.full(shape, 0.5), attrs)})


@pytest.mark.parametrize("name, dims, attrs, expected", [
    ("Lai_500m", ("time", "site"), {"units": "m2 m-2"}, "lai"),
    ("Evap", ("time", "site"), {"units": "kg m-2 s-1"}, "et"),
    ("sand_pct", ("site",), {"units": "%"}, "sand"),
    ("frac_needleleaf", ("site",), {}, "needleleaf_forest"),
    ("frac_grass", ("site",), {"units": "1"}, "grassland"),
    ("modis", ("time", "site"), {"long_name": "MODIS leaf area index", "units": "1"}, "lai"),
    # a name that says nothing declared: listed without a guess
    ("SWC", ("time", "site"), {"units": "m3 m-3"}, None),
    # "lai" in the name, but units no leaf area index has: no guess
    ("lai_date", ("time", "site"), {"units": "days since 2000-01-01"}, None),
])
def test_unused_variable_and_its_likely_role(name, dims, attrs, expected):
    ds = make_dataset("site", observations=False)
    ds = _with(ds.drop_vars([expected] if expected in ds else []), name, dims, attrs)
    assert unused_variables(ds, {c: c for c in ds.data_vars if c != name}) == {name: expected}


@pytest.mark.parametrize("name, dims", [
    ("land_mask", ("site",)), ("DOY", ("time",)), ("station_number", ()),
])
def test_masks_calendars_and_scalars_are_not_listed(name, dims):
    ds = _with(make_dataset("site"), name, dims, {})
    assert validate(ds).notes == []


def test_validate_notes_unused_variables_with_the_roles_to_use_them():
    ds = make_dataset("site").rename(lai="Lai_500m")
    ds = _with(ds, "Evap", ("time", "site"), {"units": "mm d-1"})
    ds = _with(ds, "SWC", ("time", "site"), {"units": "1"})
    report = validate(ds)
    assert report.ok, str(report)
    text = str(report)
    assert text.startswith("No problems found.\nNote: not used: 'Lai_500m', 'Evap', 'SWC'")
    assert "if 'Lai_500m' is leaf area index, pass roles={'lai': 'Lai_500m'}" in text
    assert "if 'Evap' is evapotranspiration, pass roles={'et': 'Evap'}" in text
    assert "if another is an input" in text
    # taking the suggestion uses them
    used = validate(ds, roles={"lai": "Lai_500m", "et": "Evap"})
    assert used.variables["lai"] == "Lai_500m" and "Lai_500m" not in str(used)


def test_no_notes_when_everything_is_used():
    assert unused_notes({}) == []
    assert validate(make_dataset("grid")).notes == []
