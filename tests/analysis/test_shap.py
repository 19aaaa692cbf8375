"""Kernel SHAP on the ensemble-mean network: exactness, ignored predictors, sampling fixes."""

from __future__ import annotations

import numpy as np
import pytest

from xdifferland import Ensemble
from xdifferland.analysis import functional_form, shap_ranking, shap_values
from xdifferland.analysis.shap_analysis import LATITUDE, ensemble_function

from .conftest import make_model

PREDICTORS = ["mean_annual_temperature", "mean_annual_precipitation", "sand", "savanna"]
FAST = {"n_background": 10, "n_explain": 12, "nsamples": 60, "pixels": "all"}


def _ensemble(ds, **kwargs):
    members = tuple(make_model(ds, PREDICTORS, seed=s, **kwargs) for s in (1, 2))
    return Ensemble(members, (0, 1), (1, 2), (0.0, 0.0))


def test_ignored_predictor_gets_zero_and_rows_add_up(lai_world):
    ds, _ = lai_world
    ens = _ensemble(ds, ignore=("sand",))
    res = shap_values(ens, ds, "canopy_efficiency", **FAST)
    assert res.shap.dims == ("sample", "predictor")
    assert res.predictor.values.tolist() == PREDICTORS + [LATITUDE]
    scale = float(np.abs(res.shap).max())
    assert scale > 0
    assert float(np.abs(res.shap.sel(predictor="sand")).max()) < 1e-6 * scale
    # canopy efficiency comes from the process head: latitude does not enter it
    assert float(np.abs(res.shap.sel(predictor=LATITUDE)).max()) < 1e-6 * scale
    np.testing.assert_allclose(res.shap.sum("predictor"), res.prediction - res.base_value,
                               atol=1e-5 * scale)


def test_single_used_predictor_ranks_first(lai_world):
    ds, _ = lai_world
    ens = _ensemble(ds, only="mean_annual_precipitation")
    res = shap_values(ens, ds, "effective_q10", **FAST)
    rank = shap_ranking(res)
    assert rank.predictor.values[0] == "mean_annual_precipitation"
    assert rank.share.values[0] == pytest.approx(1.0, abs=1e-6)
    fit = functional_form(res, "mean_annual_precipitation")
    assert fit.curve.dims == ("grid",) and fit.coefficients.size == 4


def test_sampling_is_seeded_without_replacement_and_pft_aligned(lai_world):
    ds, _ = lai_world
    ens = _ensemble(ds)
    kwargs = dict(FAST, n_explain=20, pft="evergreen_broadleaf_forest", pft_threshold=0.8)
    a = shap_values(ens, ds, "Bday", seed=3, **kwargs)
    b = shap_values(ens, ds, "Bday", seed=3, **kwargs)
    np.testing.assert_array_equal(a.shap, b.shap)
    pairs = set(zip(a.lat_of_sample.values.tolist(), a.lon_of_sample.values.tolist()))
    assert len(pairs) == a.sizes["sample"] == 20  # no pixel drawn twice
    cover = [float(ds["evergreen_broadleaf_forest"].sel(lat=la, lon=lo)) for la, lo in pairs]
    assert min(cover) >= 0.8  # the PFT condition holds at the explained pixels themselves
    # features are the pixels' own values (aligned), latitude in degrees
    np.testing.assert_allclose(a.feature_value.sel(predictor=LATITUDE), a.lat_of_sample)
    assert (a.prediction >= 0).all() and (a.prediction < 365.25).all()  # Bday mod 365.25
    assert a.attrs["target"] == "labile_release_day"


def test_function_matches_the_model_path_with_standardized_hemisphere(lai_world):
    """The explained function reproduces model.parameters (hemisphere as in training)."""
    ds, _ = lai_world
    model = make_model(ds, PREDICTORS, seed=5)
    params = model.parameters(ds)
    f = ensemble_function([model], "leaf_fall_day")
    land = ds["land_mask"].values.astype(bool)
    x = np.stack([ds[n].values[land] for n in PREDICTORS]
                 + [np.broadcast_to(ds.lat.values[:, None], land.shape)[land]], axis=1)
    np.testing.assert_allclose(f(x), params["leaf_fall_day"].values[land] % 365.25, rtol=1e-5)
    g = ensemble_function([model], "carbon_use_efficiency")
    np.testing.assert_allclose(g(x), 1 - params["autotrophic_fraction"].values[land],
                               rtol=1e-5)
    with pytest.raises(KeyError, match="derived"):
        ensemble_function([model], "no_such_thing")
