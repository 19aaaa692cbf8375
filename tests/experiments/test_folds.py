"""Screening and refitting of side-by-side fits that end in a poor optimum."""

from __future__ import annotations

from types import SimpleNamespace

import jax
import numpy as np
import pytest
import xarray as xr

from tests.conftest import FLUXNET
from xdifferland.engine.water_stress import init_water_stress
from xdifferland.experiments import folds, prepare_sites
from xdifferland.experiments.folds import (Member, fit_members, predictor_sets, refit_stuck,
                                          stuck_members)
from xdifferland.training import FitConfig


@pytest.mark.parametrize("losses, groups, factor, expected", [
    ([55.0, 60.0, 180.0, 30.0, 31.0], "aaabb", 2.0, [2]),
    ([55.0, 60.0, 100.0], "aaa", 2.0, []),            # within 2x of the best: kept
    ([55.0, 60.0, 100.0], "aaa", 1.5, [2]),
    ([10.0, 50.0, 50.0], "abc", 2.0, []),             # the best of a group is never stuck
    ([10.0, float("nan"), 12.0], "aaa", 2.0, [1]),    # a non-finite loss counts as stuck
])
def test_stuck_members_compares_each_member_with_the_best_of_its_group(
        losses, groups, factor, expected):
    assert stuck_members(losses, list(groups), factor) == expected


def test_stuck_factor_must_exceed_one():
    with pytest.raises(ValueError, match="factor=1.0: use a number > 1"):
        stuck_members([1.0, 2.0], ["a", "a"], factor=1.0)


def _model(loss, seed):
    return SimpleNamespace(history={"train_loss": [loss * 3, loss]}, seed=seed)


@pytest.fixture
def fake_fits(monkeypatch):
    """fit_members replaced by a table of final losses by seed; records what was refitted."""
    calls = []

    def fit(members, config, progress=False, callback=None):
        calls.append([m.seed for m in members])
        return [_model(fit.loss_by_seed[m.seed], m.seed) for m in members]

    fit.loss_by_seed = {}
    monkeypatch.setattr(folds, "fit_members", fit)
    return fit, calls


def test_stuck_members_are_refitted_from_new_seeds(fake_fits):
    fit, calls = fake_fits
    members = [Member(None, None, ("woody",), seed=s) for s in (0, 1000, 1, 1001)]
    first = [_model(loss, m.seed) for loss, m in zip((50.0, 55.0, 40.0, 180.0), members)]
    fit.loss_by_seed = {1001 + 100_003: 45.0}
    models, still, refits = refit_stuck(first, members, None, [0, 0, 1, 1])
    assert calls == [[1001 + 100_003]]
    assert [m.seed for m in models] == [0, 1000, 1, 1001 + 100_003]
    assert still == [] and refits == 1


def test_members_still_stuck_after_the_last_round_are_reported(fake_fits, caplog):
    fit, calls = fake_fits
    members = [Member(None, None, ("woody",), seed=s) for s in (0, 1)]
    first = [_model(50.0, 0), _model(180.0, 1)]
    fit.loss_by_seed = {1 + 100_003: 170.0, 1 + 200_006: 160.0}
    models, still, refits = refit_stuck(first, members, None, [0, 0], max_refits=2)
    assert calls == [[1 + 100_003], [1 + 200_006]]
    assert still == [1] and refits == 2 and models[1].seed == 1 + 200_006
    assert "1 of 2 members are still stuck after 2 rounds of refits" in caplog.text


def test_no_refits_leaves_the_members_as_trained(fake_fits):
    _, calls = fake_fits
    members = [Member(None, None, ("woody",), seed=s) for s in (0, 1)]
    first = [_model(50.0, 0), _model(180.0, 1)]
    models, still, refits = refit_stuck(first, members, None, [0, 0], max_refits=0)
    assert calls == [] and models == first and still == [1] and refits == 0


@pytest.mark.shared
def test_members_record_their_convergence_and_a_diverged_one_warns():
    import warnings

    from xdifferland.training.divergence import DivergenceWarning

    ds = prepare_sites(FLUXNET, sites=["US-Var", "DE-Tha", "US-Ha1"])
    mask = xr.ones_like(ds["t_min"], dtype=bool)
    members = [Member(ds, mask, ("mean_annual_temperature",), seed=s) for s in (0, 1)]
    calm = fit_members(members, FitConfig(epochs=3, learning_rate=1e-3))
    assert all(m.converged for m in calm)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wild = fit_members(members, FitConfig(epochs=12, learning_rate=1e4,
                                              divergence_patience=3))
    assert any(m.converged is False for m in wild)
    assert any(issubclass(w.category, DivergenceWarning) and "seed" in str(w.message)
               for w in caught)


@pytest.mark.parametrize("given, expected", [
    ("woody", (("woody",),)),
    (("woody", "moisture_index"), (("woody", "moisture_index"),)),
    ([["woody"], ("tree_cover", "evergreen")], (("woody",), ("tree_cover", "evergreen"))),
])
def test_predictor_sets_take_one_set_or_several(given, expected):
    assert predictor_sets(given) == expected


@pytest.mark.parametrize("given", [(), [("woody",), "tree_cover"], [(), ("woody",)]])
def test_predictor_sets_refuse_a_mixture_or_an_empty_set(given):
    with pytest.raises(ValueError, match="give predictor names"):
        predictor_sets(given)


def test_members_with_different_predictor_counts_train_and_keep_their_order():
    ds = prepare_sites(FLUXNET, sites=["US-Var", "DE-Tha", "US-Ha1"])
    mask = xr.ones_like(ds["t_min"], dtype=bool)
    sets = [("mean_annual_temperature", "elevation"), ("mean_annual_temperature",)]
    members = [Member(ds, mask, sets[k % 2], seed=k) for k in range(3)]
    models = fit_members(members, FitConfig(epochs=2, learning_rate=1e-3))
    assert [m.predictors for m in models] == [sets[0], sets[1], sets[0]]
    assert [m.config.seed for m in models] == [0, 1, 2]
    alone = fit_members(members[1:2], FitConfig(epochs=2, learning_rate=1e-3))[0]
    assert alone.history["train_loss"] == models[1].history["train_loss"]


@pytest.mark.parametrize("variant", ["nn_paw", "gpp_acm_et_nn"])
def test_members_with_a_water_stress_network_train_it_and_keep_it(variant):
    """The process networks of the water-stress variants start from each member's seed, as in
    ``fit``, are trained with it and travel with the fitted model."""
    ds = prepare_sites(FLUXNET, sites=["US-Var", "DE-Tha", "US-Ha1"])
    mask = xr.ones_like(ds["t_min"], dtype=bool)
    members = [Member(ds, mask, ("mean_annual_temperature",), seed=s) for s in (0, 1)]
    models = fit_members(members, FitConfig(epochs=2, learning_rate=1e-3,
                                            water_stress=variant))
    for member, model in zip(members, models):
        start = jax_leaves(init_water_stress(variant, member.seed))
        trained = jax_leaves(model.weights["water_stress"])
        assert len(start) == len(trained)
        assert any(not np.allclose(a, b) for a, b in zip(start, trained))  # it trained
        assert model.config.water_stress == variant
        gpp = model.simulate(ds, outputs=["gpp"])["gpp"]
        assert np.isfinite(gpp.values).all()
    first, second = (jax_leaves(m.weights["water_stress"]) for m in models)
    assert any(not np.allclose(a, b) for a, b in zip(first, second))  # seeds differ


def jax_leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]
