"""A user's own observation stream enters training, the loss history and the model record, and
a term whose variable is missing stops the fit before it trains."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tests.factories import make_dataset
from xdifferland import fit
from xdifferland.datasets import synthetic_world
from xdifferland.engine import LossTerm
from xdifferland.engine.loss_primitives import observation_sse
from xdifferland.engine.loss_streams import stream_term
from xdifferland.errors import DataError
from xdifferland.training.streams import recorded_streams

NPP = {"gpp": 1, "autotrophic_respiration": -1}
_BUILT_IN = ("lai", "sif", "et", "biomass", "som", "nbe", "fire_emission", "ewt_anomaly", "gpp",
             "reco", "et_ec")


def _own(ds: xr.Dataset, values, name: str = "my_obs") -> xr.Dataset:
    template = ds["lai"]
    return ds.assign({name: (template.dims, np.asarray(values, float),
                             {"units": "g m-2 d-1", "long_name": "a user's own observation"})})


@pytest.fixture(scope="module")
def tiny():
    return make_dataset()


def test_a_plain_loss_term_on_a_new_variable_trains_on_it(tiny):
    """The issue's case: a LossTerm on ``my_obs`` used to train without it."""
    ds = _own(tiny, tiny["gpp"].values * 0.5)
    term = LossTerm("mine", 10.0, "my_obs", ("gpp",),
                    lambda o, obs, ctx: observation_sse(0.5 * o["gpp"], obs, False), "half GPP")
    model = fit(ds, epochs=2, progress=False, extra_terms=[term])
    assert len(model.history["train_terms"]["mine"]) == 2
    assert model.history["train_terms"]["mine"][0] > 0
    assert "my_obs" in model.metadata["observations"]
    record = model.metadata["streams"]["my_obs"]
    assert record["term"] == "mine" and record["simulated"] is None  # evaluate cannot score it
    assert record["n_observed"] == tiny["gpp"].size and record["units"] == "g m-2 d-1"
    assert recorded_streams(model.metadata) == {}


@pytest.mark.parametrize(("edit", "term", "named"), [
    (None, stream_term("my_obs", "gpp"),
     ["my_obs: named by the loss term 'my_obs'", "not in the Dataset"]),
    ("all_nan", stream_term("my_obs", "gpp", name="t"), ["none of its values is observed"]),
    (None, LossTerm("nee_too", 1.0, "nee_ec", ("nee",), lambda o, obs, c: 0.0, "NEE"),
     ["nee: the loss term 'nee_too' reads the stream 'nee_ec'"]),
    ("short", stream_term("my_obs", "gpp", annual=True, name="yearly"),
     ["'yearly' needs whole years of monthly steps", "18 steps"]),
])
def test_unusable_streams_stop_the_fit_before_training(tiny, edit, term, named):
    ds = tiny
    if edit == "all_nan":
        ds = _own(tiny, np.full(tiny["gpp"].shape, np.nan))
    elif edit == "short":
        ds = make_dataset(n_time=18)
        ds = _own(ds, ds["gpp"].values)
    with pytest.raises(DataError) as info:
        fit(ds, epochs=1, progress=False, extra_terms=[term])
    for piece in named:
        assert piece in str(info.value)


def test_patch_scale_annual_stream_trains_and_is_recorded(tiny):
    ds = _own(tiny, tiny["gpp"].values)
    term = stream_term("my_obs", "nbe", scale="patch", annual=True, weight=5.0)
    # the tiny grid fills 6 of its patch's 20 cells: counted only with a lower threshold
    covered = fit(ds, epochs=1, progress=False, extra_terms=[term], coverage_threshold=0.2)
    sparse = fit(ds, epochs=1, progress=False, extra_terms=[term])
    assert covered.history["train_terms"]["my_obs"][0] > 0
    assert sparse.history["train_terms"]["my_obs"][0] == 0  # left out, as NBE would be
    assert recorded_streams(covered.metadata)["my_obs"] | {"n_observed": 0} == {
        "term": "my_obs", "simulated": {"nbe": 1.0}, "scale": "patch", "annual": True,
        "units": "g m-2 d-1", "uncertainty": False, "n_observed": 0}


@pytest.fixture(scope="module")
def npp_world():
    """A small world observed only by LAI, plus noisy NPP at every other longitude column (the
    other columns held out to score it): nothing built in observes NPP there. Returns the
    Dataset, the true NPP, the held-out columns, the noisy NPP everywhere and the truth."""
    ds, truth = synthetic_world(n_lat=8, n_lon=20, n_years=2, seed=3)
    ds = ds.drop_vars([v for o in _BUILT_IN if o != "lai" for v in (o, f"{o}_unc") if v in ds])
    npp = truth["gpp"] - truth["autotrophic_respiration"]
    noisy = npp + 0.15 * float(npp.std()) * np.random.default_rng(1).standard_normal(npp.shape)
    held = xr.DataArray(np.arange(ds.sizes["lon"]) % 2 == 1, dims="lon",
                        coords={"lon": ds["lon"]})
    ds["npp_obs"] = noisy.where(~held).assign_attrs(units="g m-2 d-1")
    return ds, npp, held, noisy, truth


@pytest.fixture(scope="module")
def npp_fits(npp_world):
    """Short fits of the NPP world with and without the NPP stream (same seed)."""
    ds = npp_world[0]
    settings = dict(epochs=40, learning_rate=5e-3, seed=0, progress=False)
    with_npp = fit(ds, extra_terms=[stream_term("npp_obs", NPP, weight=100.0)], **settings)
    return with_npp, fit(ds.drop_vars("npp_obs"), **settings)


def test_own_npp_stream_improves_npp_and_its_parameter_where_unobserved(npp_world, npp_fits):
    ds, npp, held, _, truth = npp_world
    with_npp, without = npp_fits

    def held_out_rmse(model):
        sim = model.simulate(ds, ["gpp", "autotrophic_respiration"])
        error = sim["gpp"] - sim["autotrophic_respiration"] - npp
        return float(np.sqrt((error ** 2).where(held).mean()))

    def autotrophic_r(model):  # the share of GPP respired: NPP = (1 - share) GPP
        fitted = model.parameters(ds)["autotrophic_fraction"].where(held)
        return float(xr.corr(fitted, truth["autotrophic_fraction"]))

    losses = with_npp.history["train_terms"]["npp_obs"]
    assert len(losses) == 40 and losses[-1] < 0.2 * losses[0]
    assert "npp_obs" not in without.history["train_terms"]
    assert recorded_streams(with_npp.metadata)["npp_obs"]["simulated"] == {
        "gpp": 1.0, "autotrophic_respiration": -1.0}
    # measured 2026-12-05 on the held-out columns: NPP RMSE 0.77 g m-2 d-1 with the stream,
    # 1.77 without; r of the autotrophic fraction with the truth 0.77 with, -0.26 without
    assert held_out_rmse(with_npp) < 0.6 * held_out_rmse(without)
    assert autotrophic_r(with_npp) > 0.6 > autotrophic_r(without) + 0.3


def test_evaluate_scores_a_recorded_stream(npp_world, npp_fits):
    ds, _, held, noisy, _ = npp_world
    with_npp, without = npp_fits
    held_out = ds.assign(npp_obs=noisy.where(held).assign_attrs(units="g m-2 d-1"))
    skill = with_npp.evaluate(held_out, "all", warmup_months=0)
    assert {"npp_obs", "lai"} <= set(skill["variable"].values)
    npp_skill = skill.sel(variable="npp_obs")
    assert str(npp_skill["variable_units"].values) == "g m-2 d-1"
    sim = with_npp.simulate(ds, ["gpp", "autotrophic_respiration"])
    error = (sim["gpp"] - sim["autotrophic_respiration"] - noisy).where(held)
    assert float(npp_skill["n"]) == int(error.notnull().sum()) > 0
    np.testing.assert_allclose(float(npp_skill["rmse"]), float(np.sqrt((error ** 2).mean())),
                               rtol=1e-3)  # float32 sums
    # a model fitted without the stream has no counterpart for it: not scored
    assert "npp_obs" not in without.evaluate(held_out, "all", warmup_months=0)["variable"].values
