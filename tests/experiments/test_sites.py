"""FLUXNET site validation pieces on the shared site files."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import xarray as xr

from tests.conftest import FLUXNET
from xdifferland.experiments import prepare_sites, published_scores, site_validation
from xdifferland.experiments import temporal_split
from xdifferland.experiments.folds import Member, fit_members
from xdifferland.experiments.loso import (add_site_climate, leave_one_site_out, loso_table,
                                          parameter_spread, training_window, with_spinup)
from xdifferland.experiments.sites import SCORED, SITE_SETTINGS
from xdifferland.errors import DataError
from xdifferland.training import FitConfig, fit

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def two_sites():
    return prepare_sites(FLUXNET, sites=["US-Var", "DE-Tha"])


def test_prepare_sites_renames_eddy_covariance_streams_and_adds_predictors(two_sites):
    ds = two_sites
    assert {"gpp", "reco", "nee", "et_ec", "lai"} <= set(ds.data_vars)
    assert "et" not in ds and "nbe" not in ds
    assert ds["grassland"].sel(site="US-Var") == 1 and ds["grassland"].sel(site="DE-Tha") == 0
    assert ds["needleleaf_forest"].sel(site="DE-Tha") == 1
    assert bool(ds["t_min"].notnull().all())  # trimmed to the common record
    assert ds["vpd"].attrs["units"] == "hPa"  # converted to kPa at the boundary


def test_temporal_split_follows_the_published_test_years(two_sites):
    train, test = temporal_split(two_sites)
    scores = published_scores(FLUXNET)
    for site in ("US-Var", "DE-Tha"):
        dates = two_sites["date"].sel(site=site)
        first_test = dates.where(test.sel(site=site), drop=True).min().values
        assert str(first_test)[:10] == scores.loc[site, "test_start"]
        assert not bool((train & test).any())


def test_training_window_ends_with_the_last_training_step(two_sites):
    train, test = temporal_split(two_sites)
    window, mask = training_window(two_sites, train)
    last = int(np.flatnonzero(train.any("site").values)[-1])
    assert window.sizes["time"] == mask.sizes["time"] == last + 1 < two_sites.sizes["time"]
    assert int(mask.sum()) == int(train.sum())  # every training step kept
    assert not bool(test.isel(time=slice(0, last + 1)).all("site").any())
    with pytest.raises(ValueError, match="selects no step"):
        training_window(two_sites, train & False)


def test_joint_site_fit_scores_each_site(two_sites):
    result = site_validation(FLUXNET, sites=["US-Var", "DE-Tha"], epochs=3,
                             leave_one_out=False, progress=False)
    assert list(result.table.index) == ["DE-Tha", "US-Var"] or set(result.table.index) == {
        "DE-Tha", "US-Var"}
    for label in ("GPP", "ET", "NEE", "LAI"):
        assert np.isfinite(result.table[f"hybrid_{label}"]).all()
        assert np.isfinite(result.table[f"published_{label}"]).all()
    assert result.means.shape[0] == 1


def test_site_climate_separates_dry_from_wet_sites(two_sites):
    ds = add_site_climate(prepare_sites(FLUXNET, sites=["AU-Stp", "US-Ha1", "DE-Tha"]))
    index = ds["moisture_index"].to_series()
    # 735 mm a-1 under 22.5 MJ m-2 d-1 vs 1135 mm under 13.2 MJ m-2 d-1
    assert index["AU-Stp"] == pytest.approx(0.219, abs=0.005)
    assert index["US-Ha1"] == pytest.approx(0.577, abs=0.01)
    assert ds["forest"].to_series().tolist() == [0.0, 1.0, 1.0]
    # GRA, DBF, ENF: tree cover from the IGBP class definitions, leaf habit of the forests
    assert ds["tree_cover"].to_series().tolist() == [0.05, 0.8, 0.8]
    assert ds["evergreen"].to_series().tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("igbp, cover, woody", [("WSA", 0.45, 1.0), ("SAV", 0.2, 1.0),
                                                ("MF", 0.8, 1.0), ("GRA", 0.05, 0.0)])
def test_tree_cover_orders_savannas_between_grassland_and_forest(igbp, cover, woody):
    ds = xr.Dataset({"precipitation": (("time", "site"), [[2.0]]),
                     "shortwave_radiation": (("time", "site"), [[20.0]])},
                    coords={"igbp": ("site", [igbp])})
    out = add_site_climate(ds)
    assert float(out["tree_cover"][0]) == cover
    # FAO forest definition (> 10 % canopy cover): savannas are wooded, grasslands are not
    assert float(out["woody"][0]) == woody


def test_unknown_igbp_class_names_the_fix():
    ds = xr.Dataset({"precipitation": (("time", "site"), [[2.0, 2.0]]),
                     "shortwave_radiation": (("time", "site"), [[20.0, 20.0]])},
                    coords={"igbp": ("site", ["GRA", "Forest"])})
    with pytest.raises(ValueError, match=r"igbp: unknown IGBP class\(es\) \['Forest'\]"):
        add_site_climate(ds)


def test_spinup_cycles_the_first_year_without_observations(two_sites):
    train, test = temporal_split(two_sites)
    spun, (train2, test2) = with_spinup(two_sites, [train, test], years=2)
    n = two_sites.sizes["time"]
    assert spun.sizes["time"] == n + 730
    np.testing.assert_array_equal(spun["t_max"].values[:365], two_sites["t_max"].values[:365])
    np.testing.assert_array_equal(spun["t_max"].values[365:730], two_sites["t_max"].values[:365])
    np.testing.assert_array_equal(spun["t_max"].values[730:], two_sites["t_max"].values)
    assert int(spun["gpp"][:730].notnull().sum()) == 0
    assert not bool(train2[:730].any()) and not bool(test2[:730].any())
    assert int(test2.sum()) == int(test.sum())
    # the phenology clock runs on: the last cycled day is the day before the record starts
    gap = spun["date"].values[730] - spun["date"].values[729]
    assert (gap == np.timedelta64(1, "D")).all()


@pytest.mark.parametrize("all_years", [True, False])
def test_leave_one_site_out_predicts_each_site_from_the_others(all_years):
    sites = ["US-Var", "DE-Tha", "US-Ha1"]
    ds = prepare_sites(FLUXNET, sites=sites)
    train, test = temporal_split(ds)
    settings = SITE_SETTINGS | {"epochs": 2}
    simulated = leave_one_site_out(ds, train, test, settings,
                                   predictors=("mean_annual_temperature", "moisture_index"),
                                   seeds=2, spinup_years=1, all_years=all_years)
    assert sorted(simulated) == sorted(sites)
    for site, sim in simulated.items():
        assert sim.sizes["time"] == ds.sizes["time"]
        assert bool(np.isfinite(sim["gpp"]).all())
        assert 1 <= sim.attrs["ensemble_members"] <= 2
        assert 0 <= sim.attrs["refitted_members"] <= 2
    table = loso_table(simulated, ds, test, SCORED)
    assert table.shape == (3, 4) and np.isfinite(table.values).all()
    spread = parameter_spread(simulated)
    assert len(spread) == 40 and (spread["min"] <= spread["max"]).all()
    assert ((spread["spread_share_of_range"] >= 0) & (spread["spread_share_of_range"] <= 1)).all()


def test_satellite_informed_folds_keep_only_the_held_out_sites_lai(monkeypatch):
    from xdifferland.experiments import folds, loso

    sites = ["US-Var", "DE-Tha", "US-Ha1"]
    ds = prepare_sites(FLUXNET, sites=sites)
    train, test = temporal_split(ds)
    seen = []
    original = folds.fit_members

    def spy(members, config, **kwargs):
        seen.extend(members)
        return original(members, config, **kwargs)

    monkeypatch.setattr(loso, "fit_members", spy)
    simulated = leave_one_site_out(ds, train, test, SITE_SETTINGS | {"epochs": 1},
                                   predictors=("mean_temperature", "moisture_index"), seeds=1,
                                   keep_streams=("lai",), max_refits=0)
    assert sorted(simulated) == sorted(sites)
    for member, site in zip(seen, sites):
        assert member.ds.sizes["site"] == 3  # the held-out site stays...
        one = member.ds.sel(site=site)
        assert int(one["lai"].count()) == int(ds["lai"].sel(site=site).count()) > 0
        for flux in ("gpp", "reco", "nee", "et_ec", "gpp_unc"):  # ...with none of its fluxes
            if flux in one:
                assert int(one[flux].count()) == 0
        others = member.ds.drop_sel(site=site)
        assert int(others["gpp"].count()) == int(ds["gpp"].drop_sel(site=site).count())


def test_a_fold_whose_sites_share_every_predictor_learns_one_parameter_set_and_says_so():
    # with three sites, holding out the one grassland leaves two wooded sites: woody is constant
    ds = add_site_climate(prepare_sites(FLUXNET, sites=["US-Var", "DE-Tha", "US-Ha1"]))
    wooded = ds.drop_sel(site="US-Var")
    member = Member(wooded, xr.ones_like(wooded["t_min"], dtype=bool), ("woody",), seed=3)
    with pytest.warns(UserWarning, match=r"woody take one value .*seed 3 \(DE-Tha, US-Ha1\): "
                                         r"it learns one parameter set"):
        (model,) = fit_members([member], FitConfig(**SITE_SETTINGS | {"epochs": 1}))
    assert model.predictors == ("woody",)
    params = model.parameters(wooded, extrapolation="allow")
    np.testing.assert_array_equal(params["field_capacity"].sel(site="DE-Tha"),
                                  params["field_capacity"].sel(site="US-Ha1"))
    alone = add_site_climate(ds.drop_vars([v for v in ds.data_vars if "site" in ds[v].dims
                                           and "time" not in ds[v].dims and v != "igbp"]))
    bare = Member(alone.drop_sel(site="US-Var"), None, ("woody",), seed=3)
    with pytest.raises(DataError, match="and so does every other predictor"):
        fit_members([bare], FitConfig(epochs=1))


def test_members_trained_side_by_side_match_separate_fits():
    ds = add_site_climate(prepare_sites(FLUXNET, sites=["US-Var", "DE-Tha", "US-Ha1"]))
    train, _ = temporal_split(ds)
    predictors = ("mean_annual_temperature", "moisture_index")
    settings = SITE_SETTINGS | {"epochs": 3, "test_fraction": 0.0, "dev_fraction": 0.0}
    members = [Member(ds.drop_sel(site=s), train.drop_sel(site=s), predictors, seed=1)
               for s in ("US-Var", "US-Ha1")]
    together = fit_members(members, FitConfig(**settings))
    alone = fit(members[1].ds[["t_min", "t_max", "shortwave_radiation", "co2", "vpd",
                               "precipitation", "burned_area", "day_of_year", "gpp", "reco",
                               "nee", "et_ec", "lai", *predictors]],
                observation_mask=members[1].observation_mask, predictors=predictors,
                progress=False, **(settings | {"seed": 1}))
    np.testing.assert_allclose(together[1].history["train_loss"], alone.history["train_loss"],
                               rtol=1e-4)
    assert together[0].history["train_loss"][0] != together[1].history["train_loss"][0]
    np.testing.assert_allclose(together[1].history["train_terms"]["fluxnet_gpp"],
                               alone.history["train_terms"]["fluxnet_gpp"], rtol=1e-4)


def test_fits_on_threads_equal_fits_one_after_another():
    options = dict(sites=["US-Var", "DE-Tha", "US-Ha1"], epochs=2, loso_epochs=2, loso_seeds=1,
                   loso_predictors=("mean_annual_temperature", "moisture_index"),
                   variants=("nn_paw",), progress=False)
    one_by_one = site_validation(FLUXNET, workers=1, **options)
    side_by_side = site_validation(FLUXNET, workers=3, **options)
    assert {"hybrid_GPP", "nn_paw_GPP", "loso_GPP", "published_GPP"} <= set(
        side_by_side.table.columns)
    assert list(side_by_side.table.columns) == list(one_by_one.table.columns)
    np.testing.assert_allclose(side_by_side.table.values, one_by_one.table.values, rtol=1e-5)


def test_an_error_in_one_fit_stops_the_others():
    from xdifferland.experiments.sites import _run_concurrently
    import threading
    import time as clock

    stop, ticks = threading.Event(), []

    def patient():
        while not stop.is_set():  # a fit polling its callback once per epoch
            ticks.append(1)
            clock.sleep(0.01)
        raise KeyboardInterrupt

    def failing():
        clock.sleep(0.05)
        raise ValueError("bad site")

    with pytest.raises(ValueError, match="bad site"):
        _run_concurrently({"patient": patient, "failing": failing}, 2, stop)
    assert stop.is_set() and len(ticks) < 100


def test_members_return_the_averaged_weights_when_asked():
    ds = add_site_climate(prepare_sites(FLUXNET, sites=["US-Var", "DE-Tha", "US-Ha1"]))
    train, _ = temporal_split(ds)
    predictors = ("mean_annual_temperature", "moisture_index")
    # a constant rate, so the 1-epoch run is the first epoch of the 2-epoch run; 0.75 of 2
    # epochs rounds to both
    settings = SITE_SETTINGS | {"test_fraction": 0.0, "dev_fraction": 0.0, "schedule": "constant"}
    members = [Member(ds.drop_sel(site="US-Var"), train.drop_sel(site="US-Var"), predictors,
                      seed=1)]
    first, second = (fit_members(members, FitConfig(**settings | {"epochs": n}))[0]
                     for n in (1, 2))
    averaged = fit_members(members, FitConfig(**settings | {"epochs": 2, "average_last": 0.75}))[0]
    for a, b, mean in zip(*(jax.tree_util.tree_leaves(m.weights)
                            for m in (first, second, averaged))):
        np.testing.assert_allclose(mean, (a + b) / 2, rtol=1e-5, atol=1e-7)
