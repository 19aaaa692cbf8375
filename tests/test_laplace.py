"""Per-pixel Laplace posterior of a model's parameters, its maps and sampled fluxes."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xdifferland
from tests.analysis.conftest import PREDICTORS, lai_world, make_model  # noqa: F401
from xdifferland.analysis import local_identifiability
from xdifferland.laplace import LaplacePosterior, laplace_posterior, posterior_covariance
from xdifferland.transforms import to_unconstrained

NOISE = {"lai": 0.3}


@pytest.fixture(scope="module")
def few_pixels(lai_world):  # noqa: F811
    """Four land pixels of the small world, LAI observed at every step, and a model."""
    ds, _ = lai_world
    where = dict(lat=[4, 8], lon=[6, 12])
    assert bool(ds["land_mask"].isel(**where).all())
    part = ds.isel(**where)
    full = part.assign(lai=part["lai"].fillna(1.0).assign_attrs(part["lai"].attrs))
    return full, make_model(ds, PREDICTORS, seed=3)


@pytest.fixture(scope="module")
def posterior(few_pixels):
    ds, model = few_pixels
    return laplace_posterior(ds, model, NOISE, warmup_months=0)


def test_posterior_covariance_is_the_inverse_of_information_plus_prior():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 5))
    information = a @ a.T
    expected = np.linalg.inv(information + np.eye(5) / 2.0**2)
    np.testing.assert_allclose(posterior_covariance(information, 2.0), expected, rtol=1e-8)


def test_fully_observed_pixels_match_local_identifiability(few_pixels, posterior):
    ds, model = few_pixels
    reference = local_identifiability(ds, model.parameters(ds), NOISE, warmup_months=0,
                                      prior_sd=1.0)
    np.testing.assert_allclose(posterior.sd_unconstrained.values,
                               reference["posterior_sd"].values, rtol=5e-3)  # float32
    assert float(posterior.sd_unconstrained.min()) < 0.5  # LAI does constrain something


def test_gaps_and_warmup_remove_information(few_pixels, posterior):
    ds, model = few_pixels
    gappy = ds.assign(lai=ds["lai"].where(ds["time"].dt.month % 2 == 0))
    fewer = laplace_posterior(gappy, model, NOISE, warmup_months=12)
    ratio = fewer.sd_unconstrained / posterior.sd_unconstrained
    assert float(ratio.min()) > 1 - 1e-4
    assert float(ratio.max()) > 1.2


def test_larger_noise_widens_the_posterior(few_pixels, posterior):
    ds, model = few_pixels
    noisier = laplace_posterior(ds, model, {"lai": 3.0}, warmup_months=0)
    assert bool((noisier.sd_unconstrained >= posterior.sd_unconstrained * (1 - 1e-4)).all())


def test_draws_follow_the_posterior_and_stay_in_bounds(posterior):
    drawn = posterior.sample(2000, seed=1)
    names = list(posterior.mode.data_vars)
    x = np.asarray(to_unconstrained(np.stack([drawn[n].values for n in names], -1)))
    sd = x.std(axis=0, ddof=1)  # (lat, lon, parameter)
    expected = posterior.sd_unconstrained.transpose(..., "parameter").values
    np.testing.assert_allclose(sd, expected, rtol=0.1)
    for n in names:
        spec = xdifferland.registry.spec(n)
        assert float(drawn[n].min()) >= spec.min and float(drawn[n].max()) <= spec.max


def test_draws_are_seeded_and_do_not_depend_on_chunks(few_pixels, posterior):
    ds, model = few_pixels
    lazy = laplace_posterior(ds.chunk({"lat": 1}), model, NOISE, warmup_months=0)
    assert lazy.covariance.chunks is not None
    a = lazy.sample(5, seed=4)["canopy_efficiency"]
    b = posterior.sample(5, seed=4)["canopy_efficiency"]
    # the same draws, up to the float32 rounding of the information in other block shapes
    np.testing.assert_allclose(a.values, b.values, rtol=1e-2)
    assert not np.allclose(posterior.sample(5, seed=5)["canopy_efficiency"].values, b.values)


def test_sd_maps_are_physical_and_shrink_where_the_data_constrain(posterior):
    sd = posterior.sd(samples=200, seed=0)
    assert sd["canopy_efficiency"].dims == ("lat", "lon")
    assert sd["canopy_efficiency"].attrs["units"] == posterior.mode["canopy_efficiency"].attrs[
        "units"]
    # the VOD wood coefficient does not touch LAI: its draws spread over the prior
    loose = posterior.sd_unconstrained.sel(parameter="vod_wood_coefficient")
    np.testing.assert_allclose(loose.values, 1.0, rtol=1e-3)


def test_simulate_with_samples_runs_each_draw(few_pixels, posterior):
    ds, _ = few_pixels
    runs = xdifferland.simulate(ds, posterior, ["lai"], samples=3, seed=2)
    assert runs["lai"].dims == ("sample", "time", "lat", "lon")
    one = xdifferland.simulate(ds, posterior.sample(3, seed=2).isel(sample=1), ["lai"])
    np.testing.assert_allclose(runs["lai"].isel(sample=1).values, one["lai"].values, rtol=1e-6)
    assert float(runs["lai"].std("sample").max()) > 0


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda ds, m, p: xdifferland.simulate(ds, p.mode, samples=3), TypeError,
     "LaplacePosterior"),
    (lambda ds, m, p: xdifferland.simulate(ds, p), ValueError, "pass samples="),
    (lambda ds, m, p: p.sample(0), ValueError, "samples=0"),
    (lambda ds, m, p: laplace_posterior(ds, m, NOISE, prior_sd=0.0), ValueError, "prior_sd"),
    (lambda ds, m, p: laplace_posterior(ds, m, {"npp": 1.0}), ValueError, "npp"),
    (lambda ds, m, p: laplace_posterior(ds, m, {"lai": -1.0}), ValueError, "positive"),
    (lambda ds, m, p: laplace_posterior(ds, m, {"sif": 0.1}), ValueError, "does not observe"),
])
def test_bad_settings_say_what_to_do(few_pixels, posterior, call, error, message):
    ds, model = few_pixels
    with pytest.raises(error, match=message):
        call(ds, model, posterior)


def test_posterior_is_a_plain_frozen_record(posterior):
    assert isinstance(posterior, LaplacePosterior)
    assert isinstance(posterior.covariance, xr.DataArray)
    assert posterior.covariance.dims == ("lat", "lon", "parameter", "parameter_j")
    with pytest.raises(AttributeError):
        posterior.prior_sd = 2.0
