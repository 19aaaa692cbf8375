"""CARDAMOM site-driver readers: every shared site file, both alignments, predictors, errors."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from pint_xarray import unit_registry

from xdifferland.io import (
    CardamomFormatError,
    open_cardamom_site,
    open_cardamom_sites,
    read_site_coords,
)
from xdifferland.contract.declare import FORCING_REQUIRED, variable

# Same location as FLUXNET in tests/conftest.py (tests/ is not a package, so recompute it).
FLUXNET = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fluxnet_sites"
SITE_FILES = sorted(FLUXNET.glob("*.nc"))
OBSERVATIONS = ("gpp", "reco", "nbe", "et", "lai", "swc", "ewt_anomaly")
DROPPED = ("PARPRIORS", "PARPRIORUNC", "OTHERPRIORS", "EDC", "MCMCID", "nodays", "ID")


@cache
def _site(path: Path) -> xr.Dataset:
    return open_cardamom_site(path)


@cache
def _raw(path: Path) -> xr.Dataset:
    with xr.open_dataset(path, decode_times=False) as ds:
        return ds.load()


def _table() -> pd.DataFrame:
    return pd.read_csv(FLUXNET / "site_coords.csv").set_index("SITE_ID")


# --- one file --------------------------------------------------------------------------------


@pytest.mark.shared
@pytest.mark.parametrize("path", SITE_FILES, ids=[p.stem for p in SITE_FILES])
class TestEverySiteFile:
    def test_canonical_layout(self, path):
        ds = _site(path)
        for name in (*FORCING_REQUIRED, "burned_area", "day_of_year", "surface_pressure",
                     *OBSERVATIONS):
            assert name in ds, name
            assert ds[name].dims == ("time", "site")
        for obs in ("gpp", "reco", "nbe", "et", "lai", "ewt_anomaly"):  # the files have no SWCunc
            assert f"{obs}_unc" in ds and ds[f"{obs}_unc"].attrs["original_name"].endswith("unc")
        assert ds.site.values.tolist() == [path.stem]
        assert not any(name in ds.variables for name in DROPPED)
        assert all(name in ds.attrs["cardamom_dropped_variables"] for name in DROPPED)
        assert ds.attrs["source"] == str(path)

    def test_units_parse_and_metadata(self, path):
        ds = _site(path)
        for name, da in ds.data_vars.items():
            assert "units" in da.attrs and "long_name" in da.attrs, name
            unit_registry.Unit(da.attrs["units"])  # raises if pint cannot read it
            try:
                declared = variable(name)
            except KeyError:
                continue
            assert da.attrs.get("standard_name") == declared.standard_name, name
            # Same quantity as declared (values may still need converting, e.g. VPD hPa -> kPa).
            assert unit_registry.Unit(da.attrs["units"]).dimensionality == \
                unit_registry.Unit(declared.units).dimensionality, name
        assert ds.vpd.attrs["units"] == "hPa"
        assert ds.vpd.attrs["original_units"] == "hPA"

    def test_values_are_the_files(self, path):
        ds, raw = _site(path), _raw(path)
        np.testing.assert_array_equal(ds.vpd.values[:, 0], raw.VPD.values)  # not converted
        np.testing.assert_array_equal(ds.gpp.values[:, 0], raw.GPP.values)
        assert ds.latitude.item() == float(raw.LAT)
        assert ds.longitude.item() == _table().loc[path.stem, "lon"]
        assert (ds.burned_area == 0).all()

    def test_time_decoded_daily(self, path):
        ds = _site(path)
        assert np.issubdtype(ds.time.dtype, np.datetime64)
        steps = np.diff(ds.time.values)
        assert (steps == np.timedelta64(1, "D")).all()
        expected = np.datetime64("2001-01-01") + _raw(path).time.values.astype("timedelta64[D]")
        np.testing.assert_array_equal(ds.time.values, expected.astype("datetime64[ns]"))
        np.testing.assert_array_equal(ds.day_of_year.values[:, 0], ds.time.dt.dayofyear.values)

    def test_no_fill_values_left(self, path):
        ds = _site(path)
        for name, da in ds.data_vars.items():
            assert not (da == -9999).any(), name


@pytest.mark.shared
def test_us_ha1_starts_in_1999():
    ds = _site(FLUXNET / "US-Ha1.nc")
    assert str(ds.time.values[0])[:10] == "1999-01-01"
    assert str(ds.time.values[-1])[:10] == "2007-12-31"


@pytest.mark.shared
def test_fill_values_become_nan():
    # RU-Fyo stores 1209 soil-water values as -9999.
    raw = _raw(FLUXNET / "RU-Fyo.nc")
    ds = _site(FLUXNET / "RU-Fyo.nc")
    fill = raw.SWC.values == -9999
    assert fill.sum() == 1209
    assert np.isnan(ds.swc.values[fill, 0]).all()
    assert np.isfinite(ds.swc.values[~fill, 0]).all()


@pytest.mark.shared
def test_site_name_override():
    ds = open_cardamom_site(FLUXNET / "US-Var.nc", site="Vaira")
    assert ds.site.values.tolist() == ["Vaira"]
    assert np.isnan(ds.longitude.item())  # "Vaira" is not in site_coords.csv


# --- a directory -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def by_step():
    return open_cardamom_sites(FLUXNET)


@pytest.fixture(scope="module")
def by_calendar():
    return open_cardamom_sites(FLUXNET, align="calendar")


@pytest.mark.shared
def test_step_alignment(by_step):
    lengths = {p.stem: _site(p).sizes["time"] for p in SITE_FILES}
    assert dict(by_step.sizes) == {"time": max(lengths.values()), "site": len(SITE_FILES)}
    assert by_step.time.values.tolist() == list(range(by_step.sizes["time"]))
    assert by_step.date.dims == ("time", "site")
    assert by_step.t_min.dims == ("time", "site")
    for site, n in lengths.items():
        one = _site(FLUXNET / f"{site}.nc")
        column = by_step.sel(site=site)
        np.testing.assert_array_equal(column.date.values[:n], one.time.values)
        np.testing.assert_array_equal(column.t_min.values[:n], one.t_min.values[:, 0])
        # Shorter records are padded at the end only.
        assert np.isnat(column.date.values[n:]).all()
        assert np.isnan(column.t_min.values[n:]).all()


@pytest.mark.shared
def test_step_alignment_strict():
    with pytest.raises(ValueError, match="align='calendar'"):
        open_cardamom_sites(FLUXNET, align="step", pad=False)
    same = open_cardamom_sites(FLUXNET, sites=["US-Ha1", "US-Var"], pad=False)
    assert dict(same.sizes) == {"time": 3287, "site": 2}
    assert same.site.values.tolist() == ["US-Ha1", "US-Var"]
    assert not np.isnat(same.date.values).any()


@pytest.mark.shared
def test_calendar_alignment(by_calendar):
    time = by_calendar.time.values
    assert str(time[0])[:10] == "1999-01-01" and str(time[-1])[:10] == "2019-12-30"
    assert (np.diff(time) == np.timedelta64(1, "D")).all()
    assert dict(by_calendar.sizes) == {"time": time.size, "site": len(SITE_FILES)}
    assert "date" not in by_calendar.coords
    for path in SITE_FILES:
        one = _site(path)
        column = by_calendar.t_min.sel(site=path.stem)
        inside = column.sel(time=one.time)
        np.testing.assert_array_equal(inside.values, one.t_min.values[:, 0])
        assert int(column.notnull().sum()) == one.sizes["time"]  # NaN outside the record


@pytest.mark.shared
def test_predictors_from_site_table(by_step, by_calendar):
    table = _table()
    for ds in (by_step, by_calendar):
        for column, name in (("MAT", "mean_annual_temperature"),
                             ("MAP", "mean_annual_precipitation"), ("ELEV", "elevation")):
            assert ds[name].dims == ("site",)
            np.testing.assert_array_equal(ds[name].values, table.loc[ds.site.values, column])
            assert ds[name].attrs["units"] == variable(name).units
        assert ds.igbp.sel(site="US-Ha1").item() == "DBF"
        assert ds.cluster.sel(site="US-Ha1").item() == "cNA"
        np.testing.assert_allclose(ds.longitude.values, table.loc[ds.site.values, "lon"])
        np.testing.assert_allclose(ds.latitude.values, table.loc[ds.site.values, "lat"])
    assert float(by_step.mean_annual_temperature.sel(site="US-Ha1")) == 6.62
    assert by_step.mean_annual_temperature.attrs["units"] == "degC"


@pytest.mark.shared
def test_read_site_coords():
    table = read_site_coords(FLUXNET / "site_coords.csv")
    assert table.sizes == {"site": 12}
    assert set(table.data_vars) == {"mean_annual_temperature", "mean_annual_precipitation",
                                    "elevation"}
    assert set(table.coords) == {"site", "latitude", "longitude", "igbp", "cluster"}


@pytest.mark.shared
def test_without_site_table():
    ds = open_cardamom_sites(FLUXNET, sites=["US-Ha1"], coords_file=None)
    assert "mean_annual_temperature" not in ds and "igbp" not in ds.coords


# --- errors (synthetic files: no shared data needed) -----------------------------------------


def _fake_site(path: Path, n: int = 10, start: int = -3, drop: tuple[str, ...] = ()) -> Path:
    """A minimal CARDAMOM-like file: required forcing, one observation with -9999 gaps."""
    rng = np.random.default_rng(0)
    gpp = rng.uniform(0, 5, n)
    gpp[::4] = -9999.0
    fields = {name: ("time", rng.uniform(1, 10, n))
              for name in ("T2M_MIN", "T2M_MAX", "SSRD", "CO2", "VPD", "TOTAL_PREC")}
    ds = xr.Dataset({**fields, "GPP": ("time", gpp), "LAT": ((), 45.0),
                     "PARPRIORS": ("nopars", np.full(3, -9999.0))},
                    coords={"time": np.arange(start, start + n)})
    ds.drop_vars(list(drop)).to_netcdf(path)
    return path


def test_synthetic_site(tmp_path):
    ds = open_cardamom_site(_fake_site(tmp_path / "XX-Fak.nc"))
    assert ds.site.values.tolist() == ["XX-Fak"]
    assert str(ds.time.values[0])[:10] == "2000-12-29"  # negative days before 2001-01-01
    assert np.isnan(ds.gpp.values[::4, 0]).all() and np.isfinite(ds.gpp.values[1::4, 0]).all()
    np.testing.assert_array_equal(ds.day_of_year.values[:, 0], ds.time.dt.dayofyear.values)
    assert np.isnan(ds.longitude.item()) and ds.latitude.item() == 45.0
    assert ds.vpd.attrs["units"] == "hPa"  # CARDAMOM's unit when the file states none


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.nc"):
        open_cardamom_site(tmp_path / "nowhere.nc")


def test_not_cardamom(tmp_path):
    path = _fake_site(tmp_path / "XX-Bad.nc", drop=("VPD", "LAT"))
    with pytest.raises(CardamomFormatError, match=r"XX-Bad\.nc.*VPD, LAT"):
        open_cardamom_site(path)
    with pytest.raises(ValueError):  # CardamomFormatError is a ValueError
        open_cardamom_site(path)


def test_not_netcdf(tmp_path):
    path = tmp_path / "XX-Txt.nc"
    path.write_text("SITE_ID,lat\n")
    with pytest.raises(CardamomFormatError, match="XX-Txt.nc"):
        open_cardamom_site(path)


def test_truncated_netcdf3_site_file(tmp_path):
    # netCDF-3 libraries read the missing tail as zeros; the reader refuses the file instead.
    full = _fake_site(tmp_path / "full.nc")
    cut = tmp_path / "XX-Cut.nc"
    with xr.open_dataset(full) as ds:
        ds.load().to_netcdf(cut, format="NETCDF3_CLASSIC")
    cut.write_bytes(cut.read_bytes()[:-40])
    with pytest.raises(CardamomFormatError, match=r"XX-Cut\.nc is truncated"):
        open_cardamom_site(cut)


def test_directory_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        open_cardamom_sites(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"\*\.nc"):
        open_cardamom_sites(tmp_path)
    _fake_site(tmp_path / "XX-One.nc", n=10)
    _fake_site(tmp_path / "XX-Two.nc", n=12)
    with pytest.raises(ValueError, match="'step' or 'calendar'"):
        open_cardamom_sites(tmp_path, align="month", coords_file=None)
    with pytest.raises(FileNotFoundError, match="XX-Six.nc"):
        open_cardamom_sites(tmp_path, sites=["XX-One", "XX-Six"], coords_file=None)
    with pytest.raises(FileNotFoundError, match="coords_file=None"):
        open_cardamom_sites(tmp_path)
    with pytest.raises(ValueError, match=r"XX-One.*10.*XX-Two.*12.*align='calendar'"):
        open_cardamom_sites(tmp_path, coords_file=None, pad=False)
    pd.DataFrame({"SITE_ID": ["XX-One"], "cluster": ["c"], "lon": [1.0], "lat": [45.0],
                  "ELEV": [1.0], "MAP": [500.0], "MAT": [10.0], "IGBP": ["GRA"]}
                 ).to_csv(tmp_path / "site_coords.csv", index=False)
    with pytest.raises(ValueError, match="XX-Two"):
        open_cardamom_sites(tmp_path)
    (tmp_path / "site_coords.csv").write_text("SITE_ID,lat\nXX-One,45\n")
    with pytest.raises(ValueError, match="lacks column"):
        open_cardamom_sites(tmp_path)


def test_synthetic_alignments(tmp_path):
    _fake_site(tmp_path / "XX-One.nc", n=10, start=0)
    _fake_site(tmp_path / "XX-Two.nc", n=5, start=20)  # later, shorter, with a gap between
    step = open_cardamom_sites(tmp_path, coords_file=None)
    assert dict(step.sizes) == {"time": 10, "site": 2}
    assert np.isnat(step.date.sel(site="XX-Two").values[5:]).all()
    cal = open_cardamom_sites(tmp_path, coords_file=None, align="calendar")
    assert dict(cal.sizes) == {"time": 25, "site": 2}  # the gap (days 10-19) is kept, as NaN
    assert (np.diff(cal.time.values) == np.timedelta64(1, "D")).all()
    assert cal.t_min.isel(time=slice(10, 20)).isnull().all()
