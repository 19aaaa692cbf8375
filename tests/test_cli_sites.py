"""The command line on the shared FLUXNET sites (CARDAMOM site drivers): validate a file, the
folder and a glob; fit three sites from a TOML file (1 epoch); evaluate and simulate them and
other sites. Plumbing (exit codes, files, messages), not skill."""

from __future__ import annotations

import json

import pytest
import xarray as xr

from tests.conftest import FLUXNET
from xdifferland.cli import main
from xdifferland.runconfig import config_to_toml

pytestmark = pytest.mark.shared

#: Three sites that cover the same years (2002-2010), lined up by date.
TRAIN = ["NL-Loo", "US-MMS", "US-Var"]


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def site_model(tmp_path_factory):
    """``xdifferland fit`` of a 1-epoch TOML on three site files; returns the output folder."""
    base = tmp_path_factory.mktemp("sites")
    config = base / "sites.toml"
    config.write_text(config_to_toml({
        "data": {"paths": [str(FLUXNET / f"{s}.nc") for s in TRAIN], "align": "calendar"},
        "training": {"epochs": 1, "test_fraction": 0.0, "dev_fraction": 0.0},
        "output": {"directory": str(base / "run"), "simulation": ["gpp"], "evaluate": "all",
                   "parameters": False, "checkpoints": False},
    }))
    assert main(["--quiet", "fit", str(config), "--check"]) == 0
    assert main(["--quiet", "fit", str(config)]) == 0
    return base / "run"


def test_validate_a_site_file_the_folder_and_a_glob(capsys):
    for data, count in ((FLUXNET / "US-Ha1.nc", "1 CARDAMOM site file "),
                        (FLUXNET, "12 CARDAMOM site files"),
                        (FLUXNET / "US-*.nc", "4 CARDAMOM site files")):  # a quoted glob
        code, out, err = _run(capsys, "validate", data)
        assert code == 0, (data, out, err)
        assert "no problems found" in out and count in err
    code, out, _ = _run(capsys, "validate", FLUXNET, "--format", "cardamom")
    assert code == 0 and "no problems found" in out


def test_fit_writes_the_resolved_site_configuration(site_model):
    text = (site_model / "config.toml").read_text()
    assert 'format = "cardamom"' in text and 'align = "calendar"' in text
    assert 'coords_file = "site_coords.csv"' in text
    metrics = json.loads((site_model / "metrics.json").read_text())
    assert metrics["split"] == "all" and metrics["metrics"]["gpp"]["n"] > 0
    with xr.open_dataset(site_model / "simulation.nc") as sim:
        assert dict(sim["gpp"].sizes) == {"time": 3287, "site": 3}


def test_evaluate_and_simulate_sites(site_model, tmp_path, capsys):
    model = site_model / "model.npz"
    code, out, err = _run(capsys, "evaluate", model, *(FLUXNET / f"{s}.nc" for s in TRAIN),
                          "--align", "calendar", "--split", "all", "--json")
    assert code == 0, err
    metrics = json.loads(out)["metrics"]
    assert {"gpp", "nee", "et_ec", "lai"} <= set(metrics) and metrics["gpp"]["n"] > 0
    # a site the model never saw, of a class it knows (evergreen needleleaf)
    code, out, err = _run(capsys, "evaluate", model, FLUXNET / "RU-Fyo.nc", "--align",
                          "calendar", "--split", "all")
    assert code == 0, err
    assert "Skill on the all split (1 locations" in out
    # and one of a class it does not know: its PFT predictors are all zero
    out_file = tmp_path / "sim.nc"
    code, out, err = _run(capsys, "simulate", model, FLUXNET / "FR-Pue.nc", "--align",
                          "calendar", "-o", out_file, "--outputs", "gpp,lai")
    assert code == 0, err
    with xr.open_dataset(out_file) as sim:
        assert set(sim.data_vars) >= {"gpp", "lai"} and sim.sizes["site"] == 1
        assert str(sim["site"].item()) == "FR-Pue"


def test_simulate_sites_aligned_by_step(site_model, tmp_path, capsys):
    code, out, err = _run(capsys, "simulate", site_model / "model.npz", FLUXNET / "US-Ha1.nc",
                          "-o", tmp_path / "step.nc", "--outputs", "gpp")
    assert code == 0, err
    with xr.open_dataset(tmp_path / "step.nc") as sim:
        # the printed dims are those of the file, not of the simulation in memory
        assert f"dims {{'site': 1, 'step': {sim.sizes['step']}}}" in out
        # a CF time series: each site's own dates over its steps, not a bare step index
        assert sim["gpp"].dims == ("site", "step") and "time_bnds" not in sim.variables
        assert sim["site_time"].dims == ("site", "step")
        assert str(sim["site_time"].values[0, 0])[:10] == str(sim["date"].values[0])[:10]
