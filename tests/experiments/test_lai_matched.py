"""Sites with LAI but no fluxes, simulated from the training sites whose parameters fit it."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tests.conftest import FLUXNET
from xdifferland.experiments import (lai_matched, lai_ranking, prepare_sites,
                                     runs_by_cross_validation, site_validation, temporal_split)
from xdifferland.experiments.lai_matched import _matched_mean, fit_without, others_than
from xdifferland.experiments.loso import loso_table
from xdifferland.experiments.sites import SCORED, SITE_SETTINGS

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

CANDIDATES = ["A", "B", "C", "D"]


def make_runs(lai_level: dict[str, float], sites=("X", "Y"), steps: int = 12,
              flux: dict[str, float] | None = None) -> xr.Dataset:
    """Runs whose LAI is a constant level per candidate (the same at every site) and whose GPP,
    ET and NEE are ``flux[candidate]`` times a seasonal shape."""
    shape = np.sin(np.linspace(0, 2 * np.pi, steps)) + 1.5
    flux = flux or {c: 1.0 for c in lai_level}
    names = list(lai_level)
    lai = np.array([[[lai_level[c]] * len(sites)] * steps for c in names], np.float32)
    scaled = np.array([[shape * flux[c]] * len(sites) for c in names], np.float32)
    scaled = scaled.transpose(0, 2, 1)
    coords = {"candidate": names, "time": np.arange(steps), "site": list(sites)}
    dims = ("candidate", "time", "site")
    return xr.Dataset({"lai": (dims, lai), "gpp": (dims, scaled), "et": (dims, scaled),
                       "nee": (dims, -scaled)}, coords=coords)


def observed_lai(levels: dict[str, float], steps: int = 12) -> xr.DataArray:
    values = np.tile(np.array(list(levels.values()), np.float32), (steps, 1))
    values[::3, 0] = np.nan  # gaps are skipped
    return xr.DataArray(values, dims=("time", "site"),
                        coords={"time": np.arange(steps), "site": list(levels)})


def test_candidates_are_ranked_by_their_lai_error_at_each_site():
    runs = make_runs({"A": 1.0, "B": 2.0, "C": 3.0, "D": 4.0})
    ranking = lai_ranking(runs, observed_lai({"X": 2.2, "Y": 3.9}))
    assert ranking.dims == ("site", "rank")
    assert list(ranking.sel(site="X").values) == ["B", "C", "A", "D"]
    assert list(ranking.sel(site="Y").values) == ["D", "C", "B", "A"]


def test_a_site_is_never_its_own_candidate_when_excluded():
    runs = make_runs({"A": 1.0, "B": 2.0, "C": 3.0}, sites=("A", "B", "C"))
    ranking = lai_ranking(runs, observed_lai({"A": 1.0, "B": 2.0, "C": 3.0}), exclude_self=True)
    assert ranking.sizes["rank"] == 2
    for site in "ABC":
        assert site not in ranking.sel(site=site).values
    assert list(ranking.sel(site="B").values) in (["A", "C"], ["C", "A"])
    assert list(ranking.sel(site="A").values) == ["B", "C"]


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_the_matched_mean_averages_the_first_n_candidates(n):
    runs = make_runs({"A": 1.0, "B": 2.0, "C": 3.0, "D": 4.0},
                     flux={"A": 1.0, "B": 2.0, "C": 4.0, "D": 8.0})
    ranking = lai_ranking(runs, observed_lai({"X": 0.0, "Y": 9.0}))
    mean = _matched_mean(runs, ranking, n)
    for site in ("X", "Y"):
        chosen = list(ranking.sel(site=site).values[:n])
        expected = runs["gpp"].sel(candidate=chosen, site=site).mean("candidate")
        np.testing.assert_allclose(mean["gpp"].sel(site=site), expected, rtol=1e-6)
    assert mean["gpp"].dtype == np.float32


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 8.0, allow_nan=False), min_size=4, max_size=4, unique=True),
       st.floats(0.0, 8.0, allow_nan=False))
def test_ranking_is_a_permutation_ordered_by_error(levels, observed):
    runs = make_runs(dict(zip(CANDIDATES, levels)))
    ranking = lai_ranking(runs, observed_lai({"X": observed, "Y": observed}))
    ranked = list(ranking.sel(site="X").values)
    assert sorted(ranked) == CANDIDATES
    level = dict(zip(CANDIDATES, np.float32(levels)))  # the runs' precision
    errors = np.array([(level[c] - np.float32(observed)) ** 2 for c in ranked])
    assert np.all(np.diff(errors) >= 0)


def test_excluding_a_site_that_is_no_candidate_says_so():
    runs = make_runs({"A": 1.0, "B": 2.0}, sites=("A", "X"))
    with pytest.raises(ValueError, match="X are not among the candidates"):
        lai_ranking(runs, observed_lai({"A": 1.0, "X": 2.0}), exclude_self=True)


def test_a_site_without_lai_is_named():
    runs = make_runs({"A": 1.0, "B": 2.0})
    lai = observed_lai({"X": 1.0, "Y": 2.0})
    lai[:, 1] = np.nan
    with pytest.raises(ValueError, match="no LAI observed at Y"):
        lai_ranking(runs, lai)


def training_set(flux_scale: dict[str, float], steps: int = 12) -> xr.Dataset:
    shape = np.sin(np.linspace(0, 2 * np.pi, steps)) + 1.5
    sites = list(flux_scale)
    values = np.stack([shape * flux_scale[s] for s in sites], axis=1).astype(np.float32)
    coords = {"time": np.arange(steps), "site": sites}
    return xr.Dataset({"gpp": (("time", "site"), values), "et_ec": (("time", "site"), values),
                       "nee": (("time", "site"), -values)}, coords=coords)


def test_cross_validation_prefers_the_single_run_that_predicts_the_fluxes():
    # each site's closest-LAI neighbour also has its fluxes: one run is best
    levels = {"A": 1.0, "B": 1.1, "C": 5.0, "D": 5.1}
    flux = {"A": 1.0, "B": 1.0, "C": 3.0, "D": 3.0}
    runs = make_runs(levels, sites=tuple(levels), flux=flux)
    training = training_set(flux).assign(lai=observed_lai(levels))
    n, scores = runs_by_cross_validation(runs, training, max_runs=3)
    assert n == 1 and scores[1] == pytest.approx(1.0) and scores[2] < scores[1]


def test_cross_validation_prefers_averaging_when_every_run_is_off_by_a_spread():
    # runs scattered around each site's fluxes: averaging more of them is better
    levels = {"A": 1.0, "B": 1.2, "C": 1.4, "D": 1.6}
    flux = {"A": 0.6, "B": 1.4, "C": 0.6, "D": 1.4}
    runs = make_runs(levels, sites=tuple(levels), flux=flux)
    training = training_set({s: 1.0 for s in levels}).assign(lai=observed_lai(levels))
    n, scores = runs_by_cross_validation(runs, training, max_runs=3)
    assert n == 3 and scores[3] > scores[2] > scores[1]  # errors 0.13, 0.2 and 0.4 on average


@pytest.mark.shared
def test_new_sites_are_simulated_from_the_training_sites_that_fit_their_lai():
    towers = ["NL-Loo", "US-MMS", "US-Var"]
    fit = site_validation(FLUXNET, sites=towers, leave_one_out=False, progress=False, epochs=2)
    training = prepare_sites(FLUXNET, towers)
    _, test = temporal_split(training)
    new = prepare_sites(FLUXNET, ["US-Ha1", "FR-Pue"])
    sim = lai_matched(fit.model, training, new, test=test)
    n = sim.attrs["lai_matched_runs"]
    assert 1 <= n <= 2 and sim.attrs["lai_matched_cv"].startswith("1: ")
    assert sim["gpp"].dims == ("time", "site") and sim.sizes["site"] == 2
    assert sim["gpp"].dtype == np.float32 and np.isfinite(sim["gpp"].values).all()
    assert sim["gpp"].attrs["units"] and "closest to its LAI" in sim.attrs["history"]
    assert set(sim["matched_sites"].values.ravel()) <= set(towers)
    one = lai_matched(fit.model, training, new, runs=1, outputs=["gpp"])
    assert list(one.data_vars) == ["gpp", "matched_sites"] and one.attrs["lai_matched_cv"] == ""
    with pytest.raises(ValueError, match="runs=4: choose 1 to 3"):
        lai_matched(fit.model, training, new, runs=4)
    with pytest.raises(ValueError, match="no 'lai' variable"):
        lai_matched(fit.model, training, new.drop_vars("lai"), runs=1)


@pytest.mark.shared
def test_a_class_only_the_held_out_site_has_is_dropped_from_the_others():
    ds = prepare_sites(FLUXNET, ["US-Var", "DE-Tha", "US-Ha1"])  # GRA, ENF, DBF
    others = others_than(ds, "US-Var")
    assert list(others["site"].values) == ["DE-Tha", "US-Ha1"]
    assert "grassland" in ds and "grassland" not in others  # all zeros without US-Var
    assert {"needleleaf_forest", "deciduous_broadleaf_forest"} <= set(others.data_vars)


@pytest.mark.shared
def test_site_validation_scores_each_site_lai_matched_from_fits_to_the_others():
    sites = ["US-Var", "DE-Tha", "US-Ha1"]
    result = site_validation(FLUXNET, sites=sites, epochs=2, leave_one_out=False, joint=False,
                             lai_matching=True, progress=False)
    columns = [f"satlai_{label}" for label in ("GPP", "ET", "NEE", "LAI")]
    assert set(columns) <= set(result.table.columns) and "hybrid_GPP" not in result.table
    assert np.isfinite(result.table[columns].values).all()
    # the same as fitting without the site and matching it by hand
    ds = prepare_sites(FLUXNET, sites)
    train, test = temporal_split(ds)
    settings = SITE_SETTINGS | {"epochs": 2, "seed": 0, "test_fraction": 0.0,
                                "dev_fraction": 0.0, "progress": False}
    model = fit_without(ds, train, "DE-Tha", settings)
    others = others_than(ds, "DE-Tha")
    sim = lai_matched(model, others, ds.sel(site=["DE-Tha"]), test=test.sel(site=others["site"]))
    by_hand = loso_table({"DE-Tha": sim}, ds, test, SCORED)
    np.testing.assert_allclose(by_hand.loc["DE-Tha", "GPP"],
                               result.table.loc["DE-Tha", "satlai_GPP"], rtol=1e-6)
