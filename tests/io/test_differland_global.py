"""The published DifferLand global layout: writer, on-disk layout, lazy reader, round trip, fit."""

from __future__ import annotations

import shutil
from pathlib import Path

import jax
import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xdifferland
from xdifferland.datasets import synthetic_world
from xdifferland.errors import DataError
from xdifferland.io.differland_global import (
    BULK_FILE, CO2_FILE, DRIVER_FILE, FORCING, NO_PATCH, OBSERVATIONS, PERCENT, PREDICTORS,
    RUN_INDEX_FILE, SPLIT_FLAGS, VALID_FILE, WEIGHTED, canonical_name,
    open_differland_global)
from xdifferland.io.differland_global_writer import to_differland_global

SHARED_CO2 = (Path(__file__).resolve().parents[2].parent / "shared" / "data"
              / "co2_global_monthly_2010_2023.csv")
#: The smallest world with three 4 x 5 degree patches (one drawn for test), 2 years.
WORLD = dict(n_lat=8, n_lon=30, n_years=2, seed=3)
FILES = {DRIVER_FILE, RUN_INDEX_FILE, VALID_FILE, BULK_FILE, CO2_FILE}
FLAGS = {"patch_id", "split", "assimilate_coarse"}  # what the reader adds to the original


@pytest.fixture(scope="module")
def world():
    ds, _ = synthetic_world(**WORLD)
    return ds


@pytest.fixture(scope="module")
def exported(world, tmp_path_factory):
    folder = tmp_path_factory.mktemp("differland-global")
    to_differland_global(world, folder)
    return folder


@pytest.fixture(scope="module")
def back(exported):
    return open_differland_global(exported)


def _copy(folder: Path, target: Path) -> Path:
    shutil.copytree(folder, target)
    return target


# --- the files on disk ----------------------------------------------------------------------


def test_the_folder_holds_exactly_the_published_files(exported):
    assert {p.name for p in exported.iterdir()} == FILES


def test_driver_names_dims_dtypes_units_and_fill_values(exported, world):
    with netCDF4.Dataset(exported / DRIVER_FILE) as nc:
        assert {k: len(v) for k, v in nc.dimensions.items()} == {"time": 24, "lat": 8, "lon": 30}
        assert nc["lat"][0] > nc["lat"][-1]  # published order: north to south
        three_d = (*FORCING, "DAYS", "DOY", *(n for n in OBSERVATIONS if n != "initial_som"),
                   *(f"{n}_weight" for n in WEIGHTED))
        for name in three_d:
            var = nc[name]
            assert var.dimensions == ("time", "lat", "lon"), name
            assert var.dtype == np.float32 and np.isnan(var.getncattr("_FillValue")), name
        for name in (*PREDICTORS, "LAT", "initial_som"):
            var = nc[name]
            assert var.dimensions == ("lat", "lon") and var.dtype == np.float64, name
        for name in PERCENT:  # the published cover and texture fractions are in percent
            assert nc[name].units == "%"
            fraction = world[canonical_name(name)].values[::-1].astype(np.float64)
            np.testing.assert_array_equal(nc[name][:].filled(np.nan), 100.0 * fraction)
        assert nc["SOLR"].units == "MJ m-2 d-1" and nc["VPD"].units == "kPa"
        assert "units" not in nc["DAYS"].ncattrs()  # would be decoded as a time by xarray
        days = nc["DAYS"][:, 0, 0]
        np.testing.assert_array_equal(days[:2], [381.5, 411.0])  # mid-month, days since 2000
        np.testing.assert_array_equal(nc["DOY"][:2, 0, 0], [16.5, 46.0])
        agb, bgb = nc["agb_yan"][:].filled(np.nan), nc["bgb_yan"][:].filled(np.nan)
        assert np.array_equal(np.isnan(agb), np.isnan(bgb)) and np.nanmax(np.abs(bgb)) == 0.0
        assert set(nc.xdifferland_extensions.split()) == {
            f"{n}_unc" for n in world.data_vars if f"{n}_unc" in world}
        assert set(nc.xdifferland_placeholders.split()) == {f"{n}_weight" for n in WEIGHTED}


def test_flags_run_index_and_co2_table(exported, world):
    land = world["land_mask"].values[::-1]  # the files run north to south
    with netCDF4.Dataset(exported / VALID_FILE) as nc:
        var = nc["era_valid"]
        assert var.dimensions == ("lat", "lon") and var.dtype == np.int8
        assert var.getncattr("dtype") == "bool"  # read by xarray as booleans, as required
        np.testing.assert_array_equal(var[:].astype(bool), land)
    with xr.open_dataset(exported / VALID_FILE) as flags:
        assert flags["era_valid"].dtype == bool
    with netCDF4.Dataset(exported / BULK_FILE) as nc:
        bulk = nc["assimilate_bulk_variable"][:].astype(bool)
    observed = world["nbe"].notnull().any("time").values[::-1]
    np.testing.assert_array_equal(bulk, observed | world["ewt_anomaly"].notnull().any("time")
                                  .values[::-1])
    with netCDF4.Dataset(exported / RUN_INDEX_FILE) as nc:
        var = nc["run_simulation_idx"]
        assert var.dimensions == ("run", "lat", "lon") and var.dtype == np.float32
        index = var[0].filled(np.nan)
    finite = np.unique(index[np.isfinite(index)])
    np.testing.assert_array_equal(finite, [-1.0, 1.0, 2.0])  # one test patch, two others
    assert np.isfinite(index[land]).all()
    for value in finite:  # each index is one whole 4 x 5 degree patch (8 x 10 cells)
        rows, cols = np.nonzero(index == value)
        assert np.ptp(rows) == 7 and np.ptp(cols) == 9 and rows.size == 80
    table = pd.read_csv(exported / CO2_FILE)
    assert list(table.columns) == ["year", "month", "decimal", "average"]
    assert len(table) == world.sizes["time"] and table.iloc[0, :2].tolist() == [2001, 1]
    assert table["decimal"].iloc[0] == pytest.approx(2001.042)
    np.testing.assert_array_equal(table["average"].to_numpy(np.float32), world["co2"].values)


def test_writer_refuses_existing_files_and_non_grids(exported, world, tmp_path):
    with pytest.raises(FileExistsError, match="overwrite=True"):
        to_differland_global(world, exported)
    sites = world.isel(lat=0).rename(lon="site")
    with pytest.raises(DataError, match="lat/lon grid"):
        to_differland_global(sites, tmp_path / "sites")
    with pytest.raises(DataError, match="t_max: is missing"):
        to_differland_global(world.drop_vars("t_max"), tmp_path / "no-tmax")
    assert not (tmp_path / "sites").exists() and not (tmp_path / "no-tmax").exists()


# --- reading back ---------------------------------------------------------------------------


def test_reads_lazily(back):
    for name in ("t_min", "lai", "nbe", "sand", "mean_annual_temperature", "lai_unc"):
        assert back[name].chunks is not None, name
    assert back["t_min"].dims == ("time", "lat", "lon")


def test_round_trip_equals_the_original(world, back):
    assert set(back.data_vars) == set(world.data_vars) | FLAGS
    for name in ("time", "lat", "lon"):
        np.testing.assert_array_equal(back[name].values, world[name].values)
        assert back[name].attrs == world[name].attrs
    for name, original in world.data_vars.items():
        read = back[name].load()
        assert read.dims == original.dims, name
        assert read.dtype == original.dtype, name
        np.testing.assert_array_equal(read.values, original.values, err_msg=name)
        if name != "land_mask":
            attrs = {k: v for k, v in read.attrs.items() if k != "original_name"}
            assert attrs == original.attrs, name


def test_published_patch_ids_and_split(back, world):
    ids, split = back["patch_id"].values, back["split"].values
    land = world["land_mask"].values
    assert back["patch_id"].dtype == np.int32 and back["split"].dtype == np.int8
    assert set(np.unique(ids[land])) == {-1, 1, 2} and (ids[~land] != NO_PATCH).any()
    assert (split[~land] == -1).all()
    assert (split[ids == -1] == SPLIT_FLAGS["test"]).all()
    # round(0.9 * 2) = 2: both other patches train, none is dev (spec 9.1 step 4)
    assert back.attrs["dev_threshold"] == 2
    assert set(split[land & (ids > 0)]) == {SPLIT_FLAGS["train"]}
    assert back["split"].attrs["flag_meanings"] == "train dev test"


def test_read_write_read_is_idempotent(back, tmp_path):
    to_differland_global(back, tmp_path / "again")
    again = open_differland_global(tmp_path / "again")
    xr.testing.assert_equal(again.load(), back.load())


def test_a_bare_published_style_driver_reads_the_same(exported, back, tmp_path):
    """No units attributes (percent and spec units assumed), no time coordinate (months from the
    CO2 table), other dim names, -9999 for missing values, flags stored as 0/1 numbers."""
    folder = _copy(exported, tmp_path / "bare")
    with xr.open_dataset(exported / DRIVER_FILE, decode_times=False) as raw:
        bare = raw.load()
    for var in bare.variables.values():
        var.attrs.pop("units", None)
    bare = bare.drop_vars("time").rename(time="t", lat="y", lon="x")
    bare["LAI"] = bare["LAI"].fillna(-9999.0)
    bare.attrs = {}
    bare.to_netcdf(folder / DRIVER_FILE)
    with xr.open_dataset(exported / VALID_FILE) as flags:
        flags.load().astype(np.float32).to_netcdf(folder / VALID_FILE)
    read = open_differland_global(folder)
    for name in ("t_min", "shortwave_radiation", "sand", "needleleaf_forest", "lai", "nbe",
                 "biomass", "som", "gpp"):
        xr.testing.assert_equal(read[name].load(), back[name].load())
    np.testing.assert_array_equal(read["time"].values, back["time"].values)
    assert "lai_unc" not in read  # extensions are read only when the writer listed them


def test_co2_rows_are_matched_by_month(exported, tmp_path):
    folder = _copy(exported, tmp_path / "co2")
    table = pd.read_csv(folder / CO2_FILE)
    earlier = pd.DataFrame({"year": 2000, "month": range(1, 13), "decimal": 0.0,
                            "average": 1.0})
    pd.concat([earlier, table]).to_csv(folder / CO2_FILE, index=False)
    with pytest.warns(UserWarning, match="starts at row 12"):
        read = open_differland_global(folder)
    np.testing.assert_array_equal(read["co2"].values, table["average"].to_numpy(np.float32))
    table.iloc[:10].to_csv(folder / CO2_FILE, index=False)
    with pytest.raises(DataError, match="10 rows"):
        open_differland_global(folder)


@pytest.mark.shared
def test_the_shared_noaa_table_reads_for_a_2010_driver(exported, tmp_path):
    folder = _copy(exported, tmp_path / "noaa")
    (folder / CO2_FILE).unlink()
    with xr.open_dataset(exported / DRIVER_FILE) as raw:
        shifted = raw.load().assign_coords(time=raw["time"].values + np.timedelta64(3287, "D"))
    (folder / DRIVER_FILE).unlink()
    shifted.to_netcdf(folder / DRIVER_FILE)
    read = open_differland_global(folder, co2_file=SHARED_CO2)
    noaa = pd.read_csv(SHARED_CO2)
    assert str(read["time"].values[0])[:7] == "2010-01"
    np.testing.assert_array_equal(read["co2"].values, noaa["average"].to_numpy(np.float32)[:24])


def test_problems_are_data_errors_naming_file_and_fix(exported, tmp_path):
    folder = _copy(exported, tmp_path / "broken")
    (folder / BULK_FILE).unlink()
    with pytest.raises(DataError, match=f"{BULK_FILE}: is missing.*Fix: use the published"):
        open_differland_global(folder)
    shutil.copy(exported / BULK_FILE, folder / BULK_FILE)
    with pytest.raises(DataError, match="has 1 runs; run=5"):
        open_differland_global(folder, run=5)
    (folder / VALID_FILE).write_bytes(b"not a netcdf file")
    with pytest.raises(DataError, match=f"{VALID_FILE}: could not be read as NetCDF"):
        open_differland_global(folder)
    shutil.copy(exported / VALID_FILE, folder / VALID_FILE)
    with xr.open_dataset(exported / DRIVER_FILE, decode_times=False) as raw:
        raw.load().drop_vars("lat").to_netcdf(folder / "no-lat.nc")
    (folder / "no-lat.nc").replace(folder / DRIVER_FILE)
    with pytest.raises(DataError, match="no lat coordinate and a 8 x 30 grid"):
        open_differland_global(folder)
    with pytest.raises(FileNotFoundError):
        open_differland_global(tmp_path / "nowhere")


# --- fitting ----------------------------------------------------------------------------------


def _leaves(model):
    return jax.tree_util.tree_leaves(model.weights)


def test_fit_on_the_exported_world_reproduces_the_fit_on_the_original(world, back):
    original = xdifferland.fit(world, epochs=2, seed=1, progress=False)
    exported = xdifferland.fit(back, epochs=2, seed=1, progress=False)  # dask-backed as read
    assert exported.history["train_loss"] == original.history["train_loss"]
    assert all(np.array_equal(a, b) for a, b in zip(_leaves(exported), _leaves(original)))

    # with the published patches and split: train on exactly the published training patches
    published = dict(patch_variable="patch_id", test_fraction=0.0, dev_fraction=0.0, epochs=1,
                     seed=1, progress=False)
    read = back.load()
    flags = read[["patch_id", "split"]]
    on_original = xdifferland.fit(world.assign(flags), mask=flags.split == 0, **published)
    on_read = xdifferland.fit(read, mask=read.split == 0, **published)
    assert on_read.splits["train"] == on_original.splits["train"] == (1, 2)
    assert on_read.history["train_loss"] == on_original.history["train_loss"]
    assert all(np.array_equal(a, b) for a, b in zip(_leaves(on_read), _leaves(on_original)))


# --- command line -----------------------------------------------------------------------------


def test_command_line_and_run_configuration_read_the_layout(exported, back, capsys):
    from xdifferland.cli import main
    from xdifferland.cli_data import open_resolved, resolve_data
    from xdifferland.runconfig import parse_config

    assert main(["validate", str(exported)]) == 0  # detected from the driver file
    assert main(["validate", "--format", "differland-global", str(exported)]) == 0
    assert "no problems found" in capsys.readouterr().out
    assert main(["validate", "--format", "differland-global", str(exported / DRIVER_FILE)]) == 1
    assert "one folder" in capsys.readouterr().err
    config = parse_config({"data": {"paths": [str(exported)], "format": "differland-global",
                                    "patch_variable": "patch_id"},
                           "training": {"epochs": 1}, "output": {"directory": "run"}})
    assert config.data["format"] == "differland-global"
    opened = open_resolved(resolve_data([str(exported)]))
    xr.testing.assert_equal(opened[["t_min", "patch_id", "split"]].load(),
                            back[["t_min", "patch_id", "split"]].load())


def test_writer_finds_era5_style_axes(world, back, tmp_path):
    era5 = world.rename(time="valid_time", lat="latitude", lon="longitude")
    to_differland_global(era5, tmp_path / "era5")
    read = open_differland_global(tmp_path / "era5")
    xr.testing.assert_equal(read[["t_min", "lai", "sand", "patch_id"]].load(),
                            back[["t_min", "lai", "sand", "patch_id"]].load())
