"""Data arguments of the command line and of [data]: format detected from the content, CARDAMOM
reader options in TOML and on the command line, clear errors. Small files written here; the
shared FLUXNET sites are exercised end to end in tests/test_cli_sites.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from xdifferland.cli import main
from xdifferland.cli_data import DataArgumentError, expand_paths, open_resolved, resolve_data
from xdifferland.io.detect import NotDataError, detect_format
from xdifferland.runconfig import ConfigError, parse_config

DAYS = 40


def _site_file(path, *, gridded: bool = False, with_priors: bool = True, drop=(), days=DAYS):
    """A small CARDAMOM-like site driver (or the same names on a grid, which is not one)."""
    rng = np.random.default_rng(0)
    dims = ("time", "lat", "lon") if gridded else ("time",)
    shape = (days, 2, 2) if gridded else (days,)
    fields = {"T2M_MIN": 5.0, "T2M_MAX": 15.0, "SSRD": 12.0, "CO2": 390.0, "VPD": 8.0,
              "TOTAL_PREC": 2.0, "GPP": 3.0, "ET": 1.5, "NBE": -0.5, "LAI": 2.0}
    data = {k: (dims, v + rng.random(shape)) for k, v in fields.items() if k not in drop}
    data["GPP"][1][:3] = -9999.0  # CARDAMOM's fill value
    if "LAT" not in drop:
        data["LAT"] = ((), 45.0)
    if with_priors:
        data["PARPRIORS"] = (("nopars",), np.full(50, -9999.0))
    coords = {"time": ("time", np.arange(days, dtype=float))}
    if gridded:
        coords |= {"lat": [0.25, 0.75], "lon": [10.25, 10.75]}
    xr.Dataset(data, coords=coords).to_netcdf(path)
    return path


def _site_table(folder, sites, igbp=("ENF", "GRA", "DBF")):
    rows = [{"SITE_ID": s, "cluster": "cX", "lon": 10.0 + i, "lat": 45.0 + i, "ELEV": 100.0 * i,
             "MAP": 600.0 + 100 * i, "MAT": 8.0 + i, "IGBP": igbp[i % len(igbp)]}
            for i, s in enumerate(sites)]
    pd.DataFrame(rows).to_csv(folder / "site_coords.csv", index=False)


@pytest.fixture
def sites(tmp_path):
    """A folder of two site files with their site table; the second record 5 days shorter."""
    folder = tmp_path / "sites"
    folder.mkdir()
    _site_file(folder / "AA-One.nc")
    _site_file(folder / "AA-Two.nc", days=DAYS - 5)
    _site_table(folder, ["AA-One", "AA-Two"])
    return folder


# --- detection -----------------------------------------------------------------------------------

def test_detect_format_reads_the_content_not_the_name(tmp_path, sites):
    assert detect_format(sites / "AA-One.nc") == "cardamom"
    renamed = tmp_path / "driver.data"  # no .nc: the header decides
    renamed.write_bytes((sites / "AA-One.nc").read_bytes())
    assert detect_format(renamed) == "cardamom"
    # without CARDAMOM's bookkeeping fields, the required forcing over time alone is enough
    assert detect_format(_site_file(tmp_path / "bare.nc", with_priors=False)) == "cardamom"
    # the same names on a grid, or a required field missing: an ordinary NetCDF file
    assert detect_format(_site_file(tmp_path / "grid.nc", gridded=True,
                                    with_priors=False)) == "netcdf"
    assert detect_format(_site_file(tmp_path / "nolat.nc", with_priors=False,
                                    drop=("LAT",))) == "netcdf"
    store = tmp_path / "store"  # a Zarr store, whatever its name
    xr.Dataset({"a": ("x", [1.0])}).to_zarr(store, consolidated=False)
    assert detect_format(store) == "zarr"
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    with pytest.raises(NotDataError, match="not a NetCDF file"):
        detect_format(tmp_path / "table.csv")
    with pytest.raises(FileNotFoundError):
        detect_format(tmp_path / "missing.nc")


def test_folder_file_and_glob_resolve_to_the_site_reader(sites):
    folder = resolve_data(expand_paths([str(sites)], sites))
    assert folder["format"] == "cardamom" and folder["paths"] == [str(sites)]
    assert (folder["align"], folder["pad"], folder["coords_file"]) == (
        "step", True, "site_coords.csv")
    files = resolve_data(expand_paths(["AA-*.nc"], sites))
    assert [p.rsplit("/", 1)[1] for p in files["paths"]] == ["AA-One.nc", "AA-Two.nc"]
    ds = open_resolved(folder)
    # the reader's NaN padding of the shorter record is cut, the fill value is NaN, ET/NBE are
    # the eddy-covariance streams and the IGBP classes one-hot predictors: prepare_sites
    assert ds.sizes == {"time": DAYS - 5, "site": 2}
    assert ds["t_min"].notnull().all() and ds["gpp"][:3].isnull().all()
    assert {"et_ec", "nee", "needleleaf_forest", "grassland"} <= set(ds.data_vars)
    one = open_resolved(resolve_data(expand_paths(["AA-One.nc"], sites)),
                        predictors=["grassland", "mean_annual_temperature"])
    assert one.sizes["site"] == 1 and one["grassland"].item() == 0.0  # the model's PFT, zero


def test_reader_options_in_toml(sites, tmp_path):
    def config(**data):
        return parse_config({"data": {"paths": [str(sites)], **data},
                             "output": {"directory": str(tmp_path / "out")}})

    data = config(align="calendar", pad=False, sites=["AA-Two"]).data
    assert {k: data[k] for k in ("format", "align", "pad", "sites")} == {
        "format": "cardamom", "align": "calendar", "pad": False, "sites": ["AA-Two"]}
    assert config(coords_file=False).data["coords_file"] is False
    with pytest.raises(ConfigError, match=r"unknown key 'alignment' in \[data\]; allowed: .*"
                                          r"align, pad, coords_file, sites"):
        config(alignment="calendar")
    with pytest.raises(ConfigError, match=r"\[data\] align = 'daily': allowed values are "
                                          r"'step', 'calendar'"):
        config(align="daily")
    with pytest.raises(ConfigError, match=r"\[data\] sites: AA-Six not among"):
        config(sites=["AA-Six"])
    with pytest.raises(FileNotFoundError, match=r"coords_file = false"):
        config(coords_file="other.csv")
    grid = _site_file(tmp_path / "grid.nc", gridded=True, with_priors=False)
    with pytest.raises(ConfigError, match=r"\[data\] align: option\(s\) of the CARDAMOM site "
                                          r"reader, but the data paths are read as netcdf"):
        parse_config({"data": {"paths": [str(grid)], "align": "step"},
                      "output": {"directory": str(tmp_path / "out")}})
    with pytest.raises(ConfigError, match="not 'synthetic'"):
        parse_config({"data": {"synthetic": {}, "align": "step"},
                      "output": {"directory": str(tmp_path / "out")}})


def test_mixed_and_unreadable_paths_are_refused(sites, tmp_path):
    grid = _site_file(tmp_path / "grid.nc", gridded=True, with_priors=False)
    with pytest.raises(DataArgumentError, match=r"mix formats \(cardamom: AA-One.nc; netcdf: "
                                                r"grid.nc\)"):
        resolve_data([str(sites / "AA-One.nc"), str(grid)])
    with pytest.raises(DataArgumentError, match="not a NetCDF file"):
        resolve_data(expand_paths(["*"], sites))  # the glob also matches site_coords.csv
    other = tmp_path / "other"
    other.mkdir()
    _site_file(other / "BB-One.nc")
    with pytest.raises(DataArgumentError, match="one folder at a time"):
        resolve_data([str(sites / "AA-One.nc"), str(other / "BB-One.nc")])


def test_validate_command_on_site_files(sites, capsys):
    # a quoted glob, expanded by the command; the padded, shorter record passes the NaN checks
    code = main(["validate", str(sites / "AA-*.nc"), "--align", "calendar"])
    out, err = capsys.readouterr()
    assert code == 0 and "no problems found" in out
    assert "2 CARDAMOM site files" in err and "align=calendar" in err
    assert main(["validate", str(sites)]) == 0
    code = main(["validate", str(sites / "AA-One.nc"), "--coords-file", "none"])
    out, err = capsys.readouterr()
    assert code == 0 and "no problems found" in out
    code = main(["validate", str(sites / "AA-One.nc"), "--coords-file", "nope.csv"])
    _, err = capsys.readouterr()
    assert code == 1 and "--coords-file none" in err and "Traceback" not in err
    code = main(["validate", str(sites / "AA-One.nc"), "--format", "netcdf"])
    out, _ = capsys.readouterr()  # an explicit format is obeyed: the raw file has no units
    assert code == 1 and "'units'" in out
    code = main(["validate", str(sites / "AA-One.nc"), "--align", "step", "--format", "netcdf"])
    _, err = capsys.readouterr()
    assert code == 1 and "--align: option(s) of the CARDAMOM site reader" in err


@pytest.mark.parametrize("kind", ["text-as-netcdf", "empty-zarr", "text-forced-netcdf"])
def test_unreadable_data_is_one_clear_error(tmp_path, capsys, kind):
    if kind == "empty-zarr":
        path, extra = tmp_path / "empty.zarr", []
        path.mkdir()
    else:
        path = tmp_path / "notes.nc"
        path.write_text("not data\n")
        extra = ["--format", "netcdf"] if kind == "text-forced-netcdf" else []
    assert main(["validate", str(path), *extra]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(path) in err and "Fix:" in err
