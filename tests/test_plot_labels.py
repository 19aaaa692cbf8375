"""Axis labels: units with superscripts, carbon said as such, the quantity's usual name."""

from __future__ import annotations

import pytest
import xarray as xr

from xdifferland.contract.declare import VARIABLES
from xdifferland.engine.outputs import OUTPUTS
from xdifferland.io.conventions import udunits
from xdifferland.plot_labels import axis_label, is_carbon, quantity_name, unit_label, wrap_label


@pytest.mark.parametrize("units, carbon, label", [
    ("g m-2 d-1", True, "g C m⁻² d⁻¹"),          # UDUNITS, as the package writes files
    ("g/m**2/day", True, "g C m⁻² d⁻¹"),         # pint, as the tables declare
    ("g m-2 d-1", False, "g m⁻² d⁻¹"),
    ("gC m-2 d-1", False, "g C m⁻² d⁻¹"),        # a site file that says carbon itself
    ("gC/m2/day", True, "g C m⁻² d⁻¹"),          # ... and is not said twice
    ("g m-2", True, "g C m⁻²"),
    ("m2 g-1", True, "m² (g C)⁻¹"),              # per unit carbon
    ("m2 m-2", False, "m² m⁻²"),                 # LAI: the areas do not cancel
    ("m**2/m**2", False, "m² m⁻²"),
    ("mm/day", False, "mm d⁻¹"),
    ("kg m-2 d-1", False, "kg m⁻² d⁻¹"),
    ("mW/m**2/nm/sr", False, "mW m⁻² nm⁻¹ sr⁻¹"),
    ("umol m-2 s-1", False, "µmol m⁻² s⁻¹"),
    ("W m^-2", False, "W m⁻²"),
    ("degC", False, "°C"),
    ("1/delta_degC", False, "°C⁻¹"),
    ("K-1", False, "K⁻¹"),
    ("degrees_north", False, "°N"),
    ("g*kPa**0.5/kg", False, "g √kPa kg⁻¹"),
    ("mm/year", False, "mm yr⁻¹"),
    ("1", False, ""),
    ("dimensionless", False, ""),
    (None, False, ""),
    ("(kg m-2)", False, "(kg m-2)"),             # not a plain product: shown as given
])
def test_unit_label(units, carbon, label):
    assert unit_label(units, carbon=carbon) == label


@pytest.mark.parametrize("name, carbon", [
    ("gpp", True), ("nee", True), ("nbe", True), ("reco", True), ("fire_emission", True),
    ("biomass", True), ("som", True), ("GPP", True), ("gpp_unc", True),     # variable table
    ("autotrophic_respiration", True), ("wood_pool", True), ("wood_fire_combust", True),
    ("canopy_efficiency", True), ("initial_som", True), ("vod_wood_coefficient", True),
    ("et", False), ("lai", False), ("runoff", False), ("water_pool", False), ("sif", False),
    ("intrinsic_wue", False), ("decomposition_rate", False), ("elevation", False),
])
def test_is_carbon_from_the_tables(name, carbon):
    assert is_carbon(name) is carbon


def test_every_carbon_flux_and_pool_of_the_tables_is_labelled_as_carbon():
    rows = [(v.name, v.units) for v in VARIABLES] + [(o.name, o.units) for o in OUTPUTS]
    for name, units in rows:
        if units in ("g/m**2/day", "g/m**2"):
            assert " C m⁻²" in axis_label(name=name), name
            assert " C m⁻²" in axis_label(name=name, units=udunits(units)), name


def test_undeclared_names_count_as_carbon_only_when_their_long_name_says_so():
    assert is_carbon("uptake", long_name="net carbon uptake", units="g m-2 d-1")
    assert not is_carbon("uptake", long_name="net carbon uptake", units="mm d-1")
    assert not is_carbon("flux", long_name="nitrogen deposition", units="g m-2 d-1")


@pytest.mark.parametrize("name, attrs, label", [
    ("gpp", {"units": "g m-2 d-1", "long_name": "gross primary production"},
     "GPP (g C m⁻² d⁻¹)"),
    ("lai", {"units": "m2 m-2"}, "LAI (m² m⁻²)"),
    ("lai", {"units": "1"}, "LAI (m² m⁻²)"),                 # UDUNITS cancels what LAI is
    ("sand", {"units": "1"}, "soil sand fraction"),
    ("et", {"units": "kg m-2 d-1"}, "ET (kg m⁻² d⁻¹)"),     # as the data say
    ("et", {"units": "mm/day"}, "ET (mm d⁻¹)"),
    ("canopy_efficiency", {"units": "g m-2 d-1", "long_name": "ACM canopy efficiency (maximum "
                           "carboxylation capacity per unit leaf area)"},
     "canopy efficiency (g C m⁻² d⁻¹)"),               # a parameter: its name, not a sentence
    ("underlying_wue", {"units_description": "g*kPa**0.5/kg"}, "underlying wue (g √kPa kg⁻¹)"),
    ("autotrophic_fraction", {"units": "1"}, "autotrophic fraction"),
    ("wood_pool", {"units": "g m-2", "long_name": "wood carbon (end of step)"},
     "wood carbon (g C m⁻²)"),                              # one pair of brackets
    ("soil_moisture", {"units": "m3 m-3", "long_name": "soil moisture"},
     "soil moisture (m³ m⁻³)"),
    ("gpp", {"units": "g m-2 d-1", "quantity": "daily GPP"}, "daily GPP (g C m⁻² d⁻¹)"),
])
def test_axis_label_of_a_data_array(name, attrs, label):
    assert axis_label(xr.DataArray([1.0], name=name, attrs=attrs)) == label


@pytest.mark.parametrize("name, label", [
    ("gpp", "GPP (g C m⁻² d⁻¹)"), ("nbe", "NBE (g C m⁻² d⁻¹)"), ("lai", "LAI (m² m⁻²)"),
    ("et", "ET (mm d⁻¹)"), ("mean_annual_temperature", "mean annual air temperature (°C)"),
    ("latitude", "latitude (°N)"), ("lon", "longitude (°E)"),
    ("water_pool", "plant-available water (mm)"), ("gpp_unc", "GPP uncertainty (g C m⁻² d⁻¹)"),
    ("sif_intercept", "sif intercept (g C m⁻² d⁻¹)"), ("unknown_thing", "unknown thing"),
])
def test_axis_label_from_the_declared_units(name, label):
    assert axis_label(name=name) == label


def test_quantity_name_prefers_the_short_name_then_a_short_long_name():
    assert quantity_name("nee", "net ecosystem exchange (positive = source)") == "NEE"
    assert quantity_name("x", "a long name that would not fit beside an axis at all") == "x"


@pytest.mark.parametrize("label, width, lines", [
    ("GPP (g C m⁻² d⁻¹)", 34, ["GPP (g C m⁻² d⁻¹)"]),
    ("SHAP value of canopy efficiency (g C m⁻² d⁻¹)", 34,
     ["SHAP value of canopy efficiency", "(g C m⁻² d⁻¹)"]),
    ("mean annual precipitation (mm yr⁻¹)", 30, ["mean annual precipitation", "(mm yr⁻¹)"]),
])
def test_wrap_label_keeps_the_units_whole(label, width, lines):
    assert wrap_label(label, width).split("\n") == lines
