"""Plausibility: every input mistake that used to pass silently is refused, naming the variable,
the plausible range and the likely cause; the ``plausibility=`` override; time alignment."""

from __future__ import annotations

import json

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tests.factories import CountingScheduler, make_dataset
from xdifferland.contract.causes import coordinate_cause, likely_cause
from xdifferland.errors import DataError, ValidationError
from xdifferland.contract._checks import LAZY_PASSES
from xdifferland.contract.plausibility import PlausibilityWarning, plausibility_rules
from xdifferland.contract.check import validate
from xdifferland.contract.declare import COORDINATES, VARIABLES


def _seasonal(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` (sites) with shortwave radiation following each site's seasons, as real data do."""
    lat = ds["latitude"]
    doy = ds["time"].dt.dayofyear
    cycle = np.sin(2 * np.pi * (doy - 80) / 365.25) * np.sign(lat)
    sw = (15.0 + 10.0 * cycle).transpose("time", "site")
    return ds.assign(shortwave_radiation=sw.assign_attrs(units="MJ/m**2/day"))


def _error(ds: xr.Dataset, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        validate(ds, **kwargs).raise_if_any()
    return info.value


def _problem(err: DataError, variable: str):
    found = [p for p in err.problems if p.variable == variable]
    assert found, str(err)
    return found[0]


# ------------------------------------------------------------------ the mistakes, one by one
def _kelvin(ds):
    for name in ("t_min", "t_max"):
        ds[name] = ds[name] + 273.15
    return ds


def _set(name, value, index=(0, 0)):
    def mutate(ds):
        ds[name][index] = value
        return ds
    return mutate


def _scaled(name, factor):
    def mutate(ds):
        ds[name] = ds[name] * factor
        return ds
    return mutate


def _coord(name, change):
    def mutate(ds):
        return ds.assign_coords({name: (ds[name].dims, change(ds[name].values),
                                        ds[name].attrs)})
    return mutate


def _t_min_above_t_max(ds):
    ds["t_min"][3, 1] = ds["t_max"][3, 1] + 2.0
    return ds


def _swapped(ds):
    return ds.assign(t_min=ds["t_max"], t_max=ds["t_min"])


def _text(ds):
    ds["vpd"] = ds["vpd"].astype(str)
    return ds


def _negate(ds):
    return ds.assign_coords(latitude=-ds["latitude"])


# (id, mutation, variable named, texts the error must contain)
CASES = [
    ("kelvin-as-degC", _kelvin, "t_min",
     ["outside the plausible range -90 to 60 degC", "looks like Kelvin labelled °C",
      "set units='K'"]),
    ("kelvin-as-degC-t_max", _kelvin, "t_max", ["looks like Kelvin labelled °C"]),
    ("W-m2-as-MJ", _scaled("shortwave_radiation", 1 / 0.0864), "shortwave_radiation",
     ["0 to 45 MJ m-2 d-1", "looks like W m-2 labelled MJ m-2 d-1", "set units='W m-2'"]),
    ("mol-mol-as-ppm", _scaled("co2", 1e-6), "co2",
     ["150 to 2000 ppm", "looks like mol mol-1 labelled ppm", "set units='mol mol-1'"]),
    ("inf-in-forcing", _set("vpd", np.inf), "vpd",
     ["1 infinite value(s)", "time=2001-01-01, site=US-Var", "np.isfinite"]),
    ("-inf-in-forcing", _set("precipitation", -np.inf, (5, 2)), "precipitation",
     ["1 infinite value(s)", "time=2001-06-01, site=AU-How"]),
    ("latitude-beyond-90", _coord("latitude", lambda v: v + 92.0), "latitude",
     ["outside the plausible range -90 to 90", "observed", "colatitude"]),
    ("latitude-sign-flipped", _negate, "latitude", ["latitude sign looks flipped",
                                                    "-ds['latitude']"]),
    ("longitude-plus-400", _coord("longitude", lambda v: v + 400.0), "longitude",
     ["outside the plausible range -180 to 360", "% 360"]),
    ("negative-vpd", _set("vpd", -1.0, (2, 3)), "vpd",
     ["outside the plausible range 0 to 15 kPa", "observed -1 to", "time=2001-03-01, site=BE-Vie",
      "plausibility={'vpd': 'warn'}"]),
    ("t_min-above-t_max", _t_min_above_t_max, "t_min",
     ["'t_min' exceeds 't_max' at 1 of 96 values", "time=2001-04-01, site=DE-Tha"]),
    ("t_min-t_max-swapped", _swapped, "t_min", ["the two look swapped", "roles="]),
    ("negative-lai", _set("lai", -1.0), "lai", ["outside the plausible range 0 to 15", "-1"]),
    ("inf-in-observation", _set("gpp", np.inf, (7, 1)), "gpp", ["1 infinite value(s)"]),
    ("string-forcing", _text, "vpd", ["holds text", "astype(float)"]),
    # Further recognisable unit mix-ups.
    ("hPa-as-kPa", _scaled("vpd", 10.0), "vpd", ["looks like hPa labelled kPa"]),
    ("percent-as-fraction", _scaled("burned_area", 100.0 / 0.01), "burned_area",
     ["looks like % labelled a fraction", "set units='%'"]),
    ("mm-day-as-kg-m2-s", lambda ds: ds.assign(precipitation=ds["precipitation"].assign_attrs(
        units="kg m-2 s-1")), "precipitation", ["looks like mm d-1 labelled kg m-2 s-1"]),
    ("round-off-negatives", _set("precipitation", -0.001), "precipitation",
     ["tiny negative values", "clip(min=0)"]),
    ("per-year-as-per-day", _scaled("gpp", 365.0), "gpp", ["looks like g m-2 yr-1 labelled"]),
]


@pytest.mark.parametrize("mutate, variable, texts", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_mistake_is_refused_with_its_cause(mutate, variable, texts):
    ds = mutate(_seasonal(make_dataset("site")))
    problem = _problem(_error(ds), variable)
    for text in texts:
        assert text in str(problem), str(problem)


def test_seasonal_factory_data_pass():
    assert validate(_seasonal(make_dataset("site"))).ok


def test_offset_units_on_a_non_temperature_are_a_units_problem():
    ds = make_dataset("grid")
    ds["precipitation"].attrs["units"] = "degC"  # raised pint's OffsetUnitCalculusError
    problem = _problem(_error(ds), "precipitation")
    assert "'degC' (in 'precipitation') are a temperature and cannot be converted to mm d-1" \
        in problem.message
    assert "ds['precipitation'].attrs['units']" in problem.fix


def test_temperature_difference_is_not_a_temperature():
    ds = make_dataset("site")
    ds["t_min"].attrs["units"] = "delta_degC"
    assert "temperature difference" in _problem(_error(ds), "t_min").message


def test_integer_data_with_units_to_convert():
    ds = make_dataset("site")
    ds["precipitation"] = (ds["precipitation"] / 86400 * 1e6).astype("uint16").assign_attrs(
        units="1e-6 kg m-2 s-1")  # packed integers would overflow when scaled in place
    assert validate(ds).ok


# ------------------------------------------------------------------ time alignment
def _merge_observation(ds, observation):
    return xr.merge([ds.drop_vars("lai"), observation], join="outer", compat="override")


ALIGNMENT = [
    ("shifted", lambda lai: lai.assign_coords(time=lai["time"].values + np.timedelta64(17, "D")),
     ["its values cover 2001-01-18 to 2002-12-18", "the forcing's 2001-01-01 to 2002-12-01",
      "about 17 days after"], "reindex(time=forcing['time'], method='nearest'"),
    ("other-step", lambda lai: lai.isel(time=slice(0, 10)).assign_coords(
        time=pd.date_range("2001-01-01", periods=10, freq="8D")),
     ["every 8 days", "is not the forcing's (1 month)"], "resample(time='1MS')"),
    ("partial-overlap", lambda lai: lai.assign_coords(
        time=pd.date_range("2000-01-01", periods=24, freq="MS")),
     ["its values cover 2000-01-01 to 2001-12-01", "12 of its 24 steps lie outside"],
     "sel(time=slice('2001-01-01', '2002-12-01'))"),
]


@pytest.mark.parametrize("misalign, texts, fix", [a[1:] for a in ALIGNMENT],
                         ids=[a[0] for a in ALIGNMENT])
def test_observation_on_another_time_axis_is_a_misalignment(misalign, texts, fix):
    ds = make_dataset("grid")
    ds = _merge_observation(ds, misalign(ds[["lai"]]))
    err = _error(ds)
    assert err.variables == ["lai"], str(err)  # not "irregular time", not NaN in the forcing
    problem = err.problems[0]
    assert "'lai' is on another time axis than the forcing" in problem.message
    for text in texts:
        assert text in problem.message, problem.message
    assert fix in problem.fix


def test_forcing_missing_at_whole_steps_is_reported_once():
    ds = make_dataset("site")
    for name in ("t_min", "t_max", "shortwave_radiation", "co2", "burned_area", "vpd",
                 "precipitation"):
        ds[name][4] = np.nan
    problem = _problem(_error(ds), "time")
    assert "no value at any location at 1 of 24 steps (the first at 2001-05-01)" \
        in problem.message


def test_alignment_on_dask_data_computes_with_the_other_checks():
    ds = make_dataset("grid")
    ds = _merge_observation(ds, ds[["lai"]].assign_coords(
        time=ds["time"].values + np.timedelta64(17, "D"))).chunk({"time": 12})
    counter = CountingScheduler()
    with dask.config.set(scheduler=counter):
        report = validate(ds)
    assert counter.calls == 1 + len(LAZY_PASSES)  # no compute of its own
    assert [p.variable for p in report] == ["lai"]


# ------------------------------------------------------------------ the override
def test_warn_accepts_with_a_warning():
    ds = _kelvin(make_dataset("site"))
    with pytest.warns(PlausibilityWarning, match="looks like Kelvin"):
        report = validate(ds, plausibility="warn")
    assert report.ok and {p.variable for p in report.warnings} == {"t_min", "t_max"}


def test_per_variable_modes_and_ranges():
    ds = _kelvin(make_dataset("site"))
    report = validate(ds, plausibility={"T2M_MIN": "ignore"})  # aliases are accepted
    assert [p.variable for p in report] == ["t_max"]
    assert validate(ds, plausibility={"t_min": (200, 330), "t_max": (200, 330)}).ok
    assert not validate(ds, plausibility={"*": "ignore", "t_max": "error"}).ok


def test_infinity_is_never_accepted():
    ds = make_dataset("site")
    ds["vpd"][0, 0] = np.inf
    assert [p.variable for p in validate(ds, plausibility="ignore")] == ["vpd"]


@pytest.mark.parametrize("option", ["loud", {"nope": "warn"}, {"vpd": (1, 2, 3)},
                                    {"*": (0, 1)}, 3])
def test_malformed_option_is_a_value_error(option):
    with pytest.raises(ValueError, match="plausibility"):
        validate(make_dataset("site"), plausibility=option)


def test_override_is_recorded_in_simulation_outputs():
    from xdifferland import default_parameters, simulate

    ds = _seasonal(make_dataset("site", n_time=12))
    ds["vpd"][0, 0] = 16.0  # a record, but suppose it is genuine
    parameters = default_parameters(like=ds)
    with pytest.raises(ValidationError, match="vpd"):
        simulate(ds, parameters, ["gpp"])
    out = simulate(ds, parameters, ["gpp"], plausibility={"vpd": (0, 20)})
    assert json.loads(out.attrs["plausibility_overrides"]) == {"vpd": [0.0, 20.0]}
    assert "plausibility_overrides" not in simulate(ds.assign(vpd=ds["vpd"].clip(max=15)),
                                                    parameters, ["gpp"]).attrs


# ------------------------------------------------------------------ uncertainties in a fit
def test_zero_uncertainty_is_refused_when_used():
    from xdifferland.training.data import training_data

    ds = make_dataset("site")
    ds["gpp_unc"] = (ds["gpp"] * 0.1).assign_attrs(units="g/m**2/day")
    ds["gpp_unc"][2, 1] = 0.0
    assert training_data(ds).observations["gpp_ec"]["uncertainty"] is not None  # unused: fine
    with pytest.raises(ValidationError) as info:
        training_data(ds, use_uncertainty=True)
    problem = _problem(info.value, "gpp_unc")
    assert "1 of the 96 observed values have a zero, negative or missing uncertainty" \
        in problem.message and "time=2001-03-01, site=DE-Tha" in problem.message
    assert "use_uncertainty=False" in problem.fix
    data = training_data(ds.assign(gpp_unc=ds["gpp_unc"] + 0.5), use_uncertainty=True,
                         plausibility="warn")
    assert data.extra["plausibility_overrides"] == '{"*": "warn"}'


def test_negative_uncertainty_is_implausible_anyway():
    ds = make_dataset("site")
    ds["lai_unc"] = (ds["lai"] * 0 - 0.5).assign_attrs(units="m2 m-2")
    assert "at least 0" in str(_problem(_error(ds), "lai_unc"))


# ------------------------------------------------------------------ the table and the causes
def test_every_declared_variable_has_a_plausible_range():
    for v in (*VARIABLES, *COORDINATES):
        lo, hi = v.plausible_range
        assert lo is not None or hi is not None, v.name
        assert lo is None or hi is None or lo < hi, v.name


@pytest.mark.parametrize("name, units, low, high, expected", [
    ("t_min", "degC", 250.0, 310.0, "looks like Kelvin labelled °C: set units='K'"),
    ("t_max", "K", -260.0, -240.0, "looks like °C labelled Kelvin: set units='degC'"),
    ("shortwave_radiation", "MJ/m**2/day", 0.0, 350.0,
     "looks like W m-2 labelled MJ m-2 d-1: set units='W m-2'"),
    ("co2", "ppm", 3.5e-4, 4.2e-4, "looks like mol mol-1 labelled ppm: set units='mol mol-1'"),
    ("bulk_density", "g/cm**3", 90.0, 170.0,
     "looks like cg cm-3 labelled g cm-3: set units='cg cm-3'"),  # SoilGrids
    ("bulk_density", "g/cm**3", 1100.0, 1700.0,
     "looks like kg m-3 labelled g cm-3: set units='kg m-3'"),
    ("vpd", "kPa", -3.0, 2.0, None),
    ("t_min", "degC", 5.0, 70.0, "looks like °F labelled °C: set units='degF'"),
])
def test_likely_cause(name, units, low, high, expected):
    assert likely_cause(name, units, low, high) == expected


def test_a_few_outliers_are_not_blamed_on_units():
    assert likely_cause("t_min", "degC", 5.0, 70.0, share=0.01) is None


def test_coordinate_causes():
    assert "swap the lat and lon" in coordinate_cause("latitude", 100.0, 110.0, (20.0, 30.0)).action
    assert "colatitude" in coordinate_cause("latitude", 100.0, 170.0, (120.0, 130.0)).action
    assert "projected" in coordinate_cause("longitude", 1e5, 5e5).what
    assert coordinate_cause("latitude", np.nan, 5.0) is None


def test_rules_resolve_aliases_and_coordinates():
    assert plausibility_rules({"lat": "warn", "SSRD": [0, 50]}) == {
        "*": "error", "latitude": "warn", "shortwave_radiation": (0.0, 50.0)}


# ------------------------------------------------------------------ the record's climate
def _only(report):
    assert len(report) == 1, str(report)
    return report.problems[0]


def _with_map(ds: xr.Dataset, factor: float = 1.3) -> xr.Dataset:
    """``ds`` with a mean_annual_precipitation predictor ``factor`` times the record's mean."""
    stated = ds["precipitation"].mean("time") * 365.25 * factor
    return ds.assign(mean_annual_precipitation=stated.assign_attrs(units="mm/year"))


def test_a_record_agreeing_with_its_climate_predictor_passes():
    assert validate(_with_map(make_dataset("grid"))).ok
    assert validate(_with_map(make_dataset("grid"), factor=1 / 6)).ok  # a dry spell, wet MAP


@pytest.mark.parametrize("factor, units", [(1 / 86400, "kg m-2 s-1"), (30.0, "mm month-1")])
def test_precipitation_in_other_units_than_its_label_disagrees_with_its_climate(factor, units):
    # Every value stays within 0..2000 mm/day; the record's climate is 86,400 or 30 times off.
    ds = _with_map(make_dataset("grid", n_time=24))
    ds["precipitation"] = (ds["precipitation"] * factor).assign_attrs(units="mm/day")
    p = _only(validate(ds))
    assert p.variable == "precipitation" and "mean_annual_precipitation" in p.message
    assert f"set units='{units}'" in p.fix and "plausibility={'precipitation': 'warn'}" in p.fix
    with pytest.warns(PlausibilityWarning, match="precipitation"):
        assert validate(ds, plausibility={"precipitation": "warn"}).ok


def test_a_mislabelled_climate_predictor_is_the_one_blamed():
    ds = _with_map(make_dataset("grid", n_time=24), factor=1 / 365.25)  # mm/day labelled mm/year
    p = _only(validate(ds))
    assert p.variable == "mean_annual_precipitation" and "set units='mm d-1'" in p.fix


def test_without_the_predictor_the_record_climate_must_be_plausible():
    ds = make_dataset("grid", n_time=24)
    ds["precipitation"] = (ds["precipitation"] * 30).assign_attrs(units="mm/day")
    p = _only(validate(ds))
    assert p.variable == "precipitation" and "0 to 15000 mm year-1" in p.message
    assert "set units='mm month-1'" in p.fix


def test_records_shorter_than_a_year_are_not_judged_by_their_climate():
    ds = _with_map(make_dataset("grid", n_time=6), factor=1 / 50)
    assert validate(ds).ok
