"""CMIP export (io.cmip) and ILAMB references (io.ilamb): names, units, signs, sums, metadata,
the model table, refusal to overwrite, and the ``simulate --cmip`` option."""

from __future__ import annotations

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

import xdifferland
from xdifferland import cli, cli_commands
from xdifferland.datasets import synthetic_world
from xdifferland.io.cmip import CMIP_OUTPUTS, CMIP_TABLE, cmip_dataset, to_cmip
from xdifferland.io.ilamb import REFERENCES, write_ilamb_references
from xdifferland.simulation import output_attrs
from xdifferland.contract.convert import UREG, WATER_DENSITY, parse_units

# each output a different constant, so every sum and sign is visible in the values
VALUES = {name: float(i + 1) for i, name in enumerate(CMIP_OUTPUTS)}


def make_simulation(outputs=CMIP_OUTPUTS, n_time=3, freq="MS") -> xr.Dataset:
    """A gridded simulation (time, lat=2, lon=3) with the engine's own output attributes."""
    time = pd.date_range("2001-01-01", periods=n_time, freq=freq)
    if freq == "MS":
        time = time + pd.Timedelta("14D")
    shape = (n_time, 2, 3)
    data = {}
    for name in outputs:
        values = np.full(shape, VALUES[name], dtype=np.float32)
        values[:, 1, 2] = np.nan  # an ocean cell
        data[name] = (("time", "lat", "lon"), values, output_attrs(name))
    return xr.Dataset(data, coords={"time": time, "lat": [2.25, 2.75],
                                    "lon": [10.25, 10.75, 11.25]},
                      attrs={"title": "DALEC993 simulation", "history": "test: simulate"})


def per_second(units: str) -> float:
    """Factor from ``units`` to the CMIP flux units, computed by pint."""
    return float(parse_units(units).to(parse_units("kg m-2 s-1").units).magnitude)


@pytest.fixture(scope="module")
def cmip():
    return cmip_dataset(make_simulation())


def test_every_variable_with_cmip_units_and_standard_name(cmip):
    names = [v.name for v in CMIP_TABLE]
    assert {"gpp", "ra", "rh", "nbp", "nep", "lai", "evspsbl", "mrso", "cVeg", "cSoil",
            "cLitter", "fFire"} <= set(names)
    for v in CMIP_TABLE:
        attrs = cmip[v.name].attrs
        assert attrs["units"] == v.units and attrs["standard_name"] == v.standard_name
        assert cmip[v.name].dtype == np.float32
        # units a CF checker reads: kg m-2 s-1 for fluxes, kg m-2 for pools, 1 for LAI
        assert parse_units(attrs["units"]).units == parse_units(
            {"lai": "1", "mrso": "kg m-2", "cVeg": "kg m-2", "cSoil": "kg m-2",
             "cLitter": "kg m-2"}.get(v.name, "kg m-2 s-1")).units


def test_carbon_flux_converted_through_pint(cmip):
    factor = per_second("g m-2 d-1")
    # pint's factor is the one a hand calculation gives: 1 g/day = 1e-3 kg / 86400 s
    assert factor == pytest.approx(1e-3 / 86400.0, rel=1e-12)
    assert float(cmip["gpp"][0, 0, 0]) == pytest.approx(VALUES["gpp"] * factor, rel=1e-6)
    assert float(cmip["ra"][0, 0, 0]) == pytest.approx(
        VALUES["autotrophic_respiration"] * factor, rel=1e-6)
    assert np.isnan(cmip["gpp"][0, 1, 2])  # missing stays missing


def test_water_weighed_as_liquid_water(cmip):
    # results declare ET as a water mass flux; older files as a depth: 1 mm of water = 1 kg m-2
    assert float(cmip["evspsbl"][0, 0, 0]) == pytest.approx(
        VALUES["et"] * per_second(output_attrs("et")["units"]), rel=1e-6)
    sim = make_simulation(["et", "water_pool"])
    sim["et"].attrs["units"] = "mm/day"
    out = cmip_dataset(sim)
    expected = (UREG.Quantity(VALUES["et"], "mm/day") * WATER_DENSITY).to("kg/m**2/s")
    assert float(out["evspsbl"][0, 0, 0]) == pytest.approx(expected.magnitude, rel=1e-6)
    assert expected.magnitude == pytest.approx(VALUES["et"] / 86400.0, rel=1e-12)
    assert sim["water_pool"].attrs["units"] == "mm"
    assert float(out["mrso"][0, 0, 0]) == pytest.approx(VALUES["water_pool"], rel=1e-6)


def test_sums_and_signs(cmip):
    pool = per_second("g m-2 d-1") * 86400.0  # g m-2 -> kg m-2
    live = sum(VALUES[p] for p in ("labile_pool", "foliar_pool", "root_pool", "wood_pool"))
    assert float(cmip["cVeg"][0, 0, 0]) == pytest.approx(live * pool, rel=1e-6)
    flux = per_second("g m-2 d-1")
    rh = VALUES["litter_respiration"] + VALUES["som_respiration"]
    assert float(cmip["rh"][0, 0, 0]) == pytest.approx(rh * flux, rel=1e-6)
    # CMIP's nbp and nep are downward (land uptake positive); the engine's nbe and nee upward
    assert float(cmip["nbp"][0, 0, 0]) == pytest.approx(-VALUES["nbe"] * flux, rel=1e-6)
    assert float(cmip["nep"][0, 0, 0]) == pytest.approx(-VALUES["nee"] * flux, rel=1e-6)
    assert cmip["nbp"].attrs["positive"] == "down"
    assert cmip["fFire"].attrs["positive"] == "up"
    assert float(cmip["fFire"][0, 0, 0]) > 0


def test_cell_methods_follow_the_engine(cmip):
    assert cmip["gpp"].attrs["cell_methods"] == "area: mean where land time: mean"
    # pools are states at the end of the step, not means over it
    assert cmip["cVeg"].attrs["cell_methods"] == "area: mean where land time: point"
    for v in CMIP_TABLE:
        assert cmip[v.name].attrs["cell_measures"] == "area: areacella"
    assert cmip["areacella"].attrs["units"] == "m2"


def test_files_model_table_and_cf_attributes(tmp_path):
    table = to_cmip(make_simulation(), tmp_path, model_name="demo")
    rows = pd.read_csv(table)
    assert list(rows.columns) == ["source_id", "experiment_id", "member_id", "grid_label",
                                  "table_id", "variable_id", "frequency", "path"]
    assert set(rows["variable_id"]) == {v.name for v in CMIP_TABLE} | {"areacella", "sftlf"}
    assert (rows["source_id"] == "demo").all()
    evspsbl = rows.set_index("variable_id").loc["evspsbl"]
    assert evspsbl["table_id"] == "Amon"
    assert evspsbl["path"].endswith("evspsbl_Amon_demo_synthetic_r1i1p1f1_gn_200101-200103.nc")
    for row in rows.itertuples():
        with netCDF4.Dataset(row.path) as nc:
            assert nc.Conventions == "CF-1.8" and nc.title
            assert f"xdifferland {xdifferland.__version__}" in nc.history
            assert "test: simulate" in nc.history and "to_cmip" in nc.history
            assert nc.variable_id == row.variable_id and nc.source_id == "demo"
            var = nc.variables[row.variable_id]
            assert var.units and var.standard_name
            for coord in ("lat", "lon", "lat_bnds", "lon_bnds", "time", "time_bnds"):
                if coord in nc.variables:
                    assert "_FillValue" not in nc.variables[coord].ncattrs(), coord
            assert nc.variables["lat"].bounds == "lat_bnds"
            if row.frequency == "fx":
                assert "time" not in nc.variables
                continue
            assert "area: mean where land" in var.cell_methods
            assert var.cell_measures == "area: areacella" and "areacella" in nc.variables
            time = nc.variables["time"]
            assert time.dtype == np.float64 and time.units.startswith("days since")
            assert time.calendar and time.bounds == "time_bnds"
            assert "time_bnds" in nc.variables
    sftlf = xr.open_dataset(rows.set_index("variable_id").loc["sftlf", "path"])["sftlf"]
    assert sftlf.attrs["units"] == "%" and float(sftlf[1, 2]) == 0 and float(sftlf[0, 0]) == 100


def test_no_overwrite_without_asking(tmp_path):
    sim = make_simulation(["gpp", "lai"])
    table = to_cmip(sim, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    with pytest.raises(FileExistsError, match="overwrite=True"):
        to_cmip(sim, tmp_path)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before
    assert to_cmip(sim, tmp_path, overwrite=True) == table


def test_only_what_the_result_can_give(tmp_path):
    out = cmip_dataset(make_simulation(["gpp", "nbe"]))
    assert sorted(v for v in out.data_vars if v != "areacella") == ["gpp", "nbp"]
    with pytest.raises(KeyError, match="wood_pool"):
        cmip_dataset(make_simulation(["gpp", "labile_pool"]), variables=["cVeg"])
    with pytest.raises(KeyError, match="unknown CMIP variable"):
        cmip_dataset(make_simulation(["gpp"]), variables=["tas"])
    with pytest.raises(ValueError, match="no CMIP variable"):
        cmip_dataset(make_simulation(["gpp"]).rename(gpp="something"))
    with pytest.raises(ValueError, match="monthly"):
        to_cmip(make_simulation(["gpp"], n_time=5, freq="D"), tmp_path)
    sites = make_simulation(["gpp"]).stack(site=("lat", "lon")).reset_index("site")
    with pytest.raises(ValueError, match="gridded"):
        cmip_dataset(sites)


def test_simulate_cli_writes_cmip(tmp_path, monkeypatch, capsys):
    """``simulate --cmip DIR`` asks for the outputs the table needs and writes the export."""
    asked = {}

    class Model:
        predictors = ()

        def simulate(self, ds, outputs, roles=None, **kwargs):
            asked["outputs"] = outputs
            return make_simulation(outputs)

    monkeypatch.setattr(cli_commands, "_load_model", lambda path: Model())
    monkeypatch.setattr(cli_commands, "open_cli_data", lambda args, **kwargs: None)
    out, folder = tmp_path / "sim.nc", tmp_path / "cmip"
    argv = ["--quiet", "simulate", "model.npz", "data.nc", "-o", str(out), "--cmip", str(folder)]
    assert cli.main(argv) == 0
    assert asked["outputs"] == list(CMIP_OUTPUTS)
    assert len(pd.read_csv(folder / "models.csv")) == len(CMIP_TABLE) + 2
    assert "models.csv" in capsys.readouterr().out
    out.unlink()
    assert cli.main(argv) == 1  # the export exists: refused before simulating
    assert "exists" in capsys.readouterr().err


@pytest.fixture(scope="module")
def small_world():
    world, _ = synthetic_world(n_lat=4, n_lon=5, n_years=1, spinup_years=1)
    return world


def test_ilamb_references(small_world, tmp_path):
    study = write_ilamb_references(small_world, tmp_path)
    keys = pd.read_csv(tmp_path / "references.csv").set_index("key")["path"]
    setup = yaml.safe_load(study.read_text())["Synthetic world"]
    sources = {name: key for block in setup.values() for leaf in block.values()
               for name, key in leaf["sources"].items()}
    assert set(sources) == {r.name for r in REFERENCES}
    assert set(sources.values()) == set(keys.index)
    nbp = xr.open_dataset(keys["synthetic/nbp.nc"])["nbp"]
    expected = -small_world["nbe"] * per_second(small_world["nbe"].attrs["units"])
    np.testing.assert_allclose(nbp.values, expected.values, rtol=1e-6)
    assert nbp.attrs["units"] == "kg m-2 s-1" and nbp.attrs["cell_measures"] == "area: areacella"
    soil = xr.open_dataset(keys["synthetic/cSoil.nc"])
    assert "time" not in soil.dims and soil["cSoil"].attrs["units"] == "kg m-2"
    with pytest.raises(FileExistsError):
        write_ilamb_references(small_world, tmp_path)
