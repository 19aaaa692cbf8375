"""The LMA → LCMA recipe: the carbon fraction of leaf dry mass, with units checked."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xdifferland.errors import UnitsError
from xdifferland.traits import DEFAULT_LEAF_CARBON_FRACTION, lcma_from_lma


@pytest.mark.parametrize(("values", "units", "fraction", "expected"), [
    ([100.0, 50.0], "g m-2", None, [48.0, 24.0]),
    ([0.1, np.nan], "kg m-2", 0.45, [45.0, np.nan]),
    ([120.0], "g/m2", 0.5, [60.0]),
])
def test_lcma_is_the_carbon_fraction_of_lma_in_grams_per_square_metre(values, units, fraction,
                                                                      expected):
    lma = xr.DataArray(values, dims="pixel", attrs={"units": units}, name="lma")
    settings = {} if fraction is None else {"carbon_fraction": fraction}
    lcma = lcma_from_lma(lma, **settings)
    np.testing.assert_allclose(lcma.values, expected)
    assert lcma.attrs["units"] == "g m-2"
    assert lcma.attrs["carbon_fraction"] == (fraction or DEFAULT_LEAF_CARBON_FRACTION)


def test_numbers_and_arrays_are_taken_as_grams_per_square_metre():
    assert lcma_from_lma(100.0) == pytest.approx(48.0)
    np.testing.assert_allclose(lcma_from_lma(np.array([10.0, 20.0]), 0.5), [5.0, 10.0])


@pytest.mark.parametrize(("attrs", "named"), [
    ({}, "has no 'units' attribute"),
    ({"units": "mm"}, "cannot be converted"),
])
def test_lma_without_mass_per_area_units_is_refused(attrs, named):
    with pytest.raises(UnitsError, match=named):
        lcma_from_lma(xr.DataArray([100.0], dims="pixel", attrs=attrs, name="lma"))


@pytest.mark.parametrize("fraction", [0.0, 1.5, -0.48])
def test_a_carbon_fraction_outside_zero_to_one_is_refused(fraction):
    with pytest.raises(ValueError, match="carbon_fraction"):
        lcma_from_lma(100.0, carbon_fraction=fraction)
