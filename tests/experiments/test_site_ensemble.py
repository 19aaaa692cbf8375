"""Prediction where the model has never been: fit on some shared FLUXNET sites, predict others
through the public path (Ensemble saved and loaded; model.parameters/simulate/evaluate; CLI)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import xarray as xr

from tests.conftest import FLUXNET
from xdifferland import load_ensemble
from xdifferland.cli import main
from xdifferland.experiments import LOSO_PREDICTORS, fit_site_ensemble, prepare_sites
from xdifferland.model import ExtrapolationWarning

pytestmark = pytest.mark.shared

SITES_A = ["NL-Loo", "US-MMS", "US-Var"]  # ENF, DBF, GRA
SITES_B = ["FR-Pue", "RU-Fyo", "AU-How"]  # EBF and WSA never seen; RU-Fyo colder than A


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    ds = prepare_sites(FLUXNET, SITES_A, align="calendar")
    ens = fit_site_ensemble(ds, seeds=1, epochs=1,
                            predictors=("woody", "mean_annual_temperature"))
    return ens.save(tmp_path_factory.mktemp("ens") / "ensemble")


def test_leave_site_out_ensemble_is_saved_and_predicts_new_sites(saved):
    ens = load_ensemble(saved)
    assert len(ens) == 3 and ens.info["kind"] == "leave-site-out"
    assert sorted(ens.info["held_out"]) == sorted(SITES_A) and ens.info["refits"] >= 0
    new = prepare_sites(FLUXNET, SITES_B, align="calendar")  # no 'woody': derived from IGBP
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sim = ens.simulate(new, ["gpp"])
    messages = [str(w.message) for w in caught if issubclass(w.category, ExtrapolationWarning)]
    assert any("EBF" in m and "WSA" in m for m in messages)  # classes never seen, named
    assert any("AU-How" in m and "standard deviations" in m for m in messages)
    assert sim["gpp"].sizes["site"] == 3 and np.isfinite(sim["gpp"].values).all()
    score = sim["extrapolation"].isel(member=0)
    assert float(score.sel(site="AU-How")) > 1.0
    skill = ens.evaluate(new, mean=True)
    assert skill.attrs["split"] == "all" and skill.attrs["n_locations"] == 3
    with pytest.raises(ValueError, match="no test split"):
        ens.members[0].evaluate(new, "test")


def test_a_joint_model_predicts_several_new_sites_at_once(tmp_path):
    from xdifferland import fit, load_model

    model = fit(prepare_sites(FLUXNET, SITES_A, align="calendar"), epochs=1, progress=False,
                test_fraction=0.0, dev_fraction=0.0)
    assert model.metadata["categories"] == {"igbp": ["DBF", "ENF", "GRA"]}
    model = load_model(model.save(tmp_path / "m.npz"))  # the stored categories come back
    new = prepare_sites(FLUXNET, ["FR-Pue", "AU-How"], align="calendar")
    assert "needleleaf_forest" not in new  # the model's PFT column: 0 for both sites
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        params = model.parameters(new)
        sim = model.simulate(new, ["gpp"])
    assert params.attrs["unseen_categories"] == "EBF, WSA"
    assert np.isfinite(params["canopy_efficiency"].values).all() and sim.sizes["site"] == 2
    # both sites are grassland-free and needleleaf-free: constant predictors, no error
    skill = model.evaluate(new)
    assert skill.attrs["split"] == "all" and skill.attrs["n_locations"] == 2
    assert model.evaluate(prepare_sites(FLUXNET, SITES_A, align="calendar"),
                          "train").attrs["n_locations"] == 3


def test_cli_evaluates_and_simulates_new_sites_with_a_saved_ensemble(saved, tmp_path, capsys):
    code = main(["--quiet", "evaluate", str(saved), *(str(FLUXNET / f"{s}.nc") for s in SITES_B),
                 "--align", "calendar", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["split"] == "all" and result["members"] == 3
    assert result["metrics"]["gpp"]["n"] > 0
    target = tmp_path / "new.nc"
    code = main(["--quiet", "simulate", str(saved), *(str(FLUXNET / f"{s}.nc") for s in SITES_B),
                 "--align", "calendar", "-o", str(target), "--outputs", "gpp"])
    assert code == 0, capsys.readouterr().err
    with xr.open_dataset(target) as sim:
        assert sim["gpp"].sizes["site"] == 3 and sim.attrs["ensemble_members"] == 3
        assert "extrapolation" in sim


def test_fit_sites_command_fits_on_some_sites_and_its_ensemble_scores_others(tmp_path, capsys):
    out = tmp_path / "ens"
    args = ["--quiet", "fit-sites", str(FLUXNET), "--sites", ",".join(SITES_A), "--align",
            "calendar", "--members", "2", "--epochs", "1", "--predictors",
            "tree_cover,mean_temperature;moisture_index", "-o", str(out)]
    code = main(args)
    printed, err = capsys.readouterr()
    assert code == 0, err
    assert "leave-site-out ensemble of 6 members on 3 sites" in printed
    ens = load_ensemble(out)
    assert ens.info["predictors"] == ["tree_cover", "mean_temperature", "moisture_index"]
    assert ens.info["predictor_sets"] == [["tree_cover", "mean_temperature"], ["moisture_index"]]
    assert [m.predictors for m in ens.members] == [("tree_cover", "mean_temperature"),
                                                  ("moisture_index",)] * 3  # in turn
    assert sorted(ens.info["held_out"]) == sorted(SITES_A * 2)
    assert main(args) == 1  # an existing ensemble is not replaced without --overwrite
    assert "--overwrite" in capsys.readouterr().err
    code = main(["--quiet", "evaluate", str(out), *(str(FLUXNET / f"{s}.nc") for s in SITES_B),
                 "--align", "calendar", "--json"])
    printed, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(printed)
    assert result["members"] == 6 and result["metrics"]["gpp"]["n"] > 0


def test_an_ensemble_records_only_the_predictor_sets_its_members_use():
    ds = prepare_sites(FLUXNET, SITES_A, align="calendar")
    ens = fit_site_ensemble(ds, leave_site_out=False, seeds=1, epochs=1)  # LOSO_PREDICTORS
    assert [m.predictors for m in ens.members] == [LOSO_PREDICTORS[0]]
    assert ens.info["predictors"] == list(LOSO_PREDICTORS[0])
    assert ens.info["predictor_sets"] == [list(LOSO_PREDICTORS[0])]
