"""Local identifiability: Fisher information of the parameters at each pixel."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xdifferland
from xdifferland.analysis import local_identifiability, posterior_summary
from xdifferland.errors import DataError
from xdifferland.transforms import to_physical, to_unconstrained

NOISE = {"lai": 0.3, "gpp": 0.8}


@pytest.fixture(scope="module")
def few_pixels(lai_world):
    """Four land pixels of the small world and their planted parameters (3 years)."""
    ds, truth = lai_world
    where = dict(lat=[4, 8], lon=[6, 12])
    assert bool(ds["land_mask"].isel(**where).all())
    names = [p.name for p in xdifferland.registry.PARAMETERS]
    return ds.isel(**where), truth[names].isel(**where)


def _finite_difference_information(ds, parameters, name, noise, warmup, step=1e-4):
    """Sum over streams and steps of (dy/dx / sigma)^2 by central differences of simulate."""
    parameters = parameters.astype(np.float64)  # a float32 step would round away the difference
    x = float(to_unconstrained(np.array([parameters[name].item()]), [name])[0])
    runs = []
    for sign in (1.0, -1.0):
        moved = parameters.copy()
        moved[name] = moved[name] * 0 + float(to_physical(np.array([x + sign * step]), [name])[0])
        runs.append(xdifferland.simulate(ds, moved, list(noise)))
    return sum(float((((runs[0][s] - runs[1][s]) / (2 * step) / sd) ** 2).isel(
        time=slice(warmup, None)).sum()) for s, sd in noise.items())


@pytest.mark.parametrize("name", ["canopy_efficiency", "leaf_carbon_mass_per_area",
                                  "leaf_fall_day"])
def test_conditional_sd_matches_finite_differences(few_pixels, name, x64):
    ds, parameters = few_pixels
    one_ds, one_p = ds.isel(lat=[0], lon=[1]), parameters.isel(lat=[0], lon=[1])
    out = local_identifiability(one_ds, one_p, NOISE, warmup_months=12, prior_sd=10.0)
    info = _finite_difference_information(one_ds, one_p, name, NOISE, 12)
    expected = 1.0 / np.sqrt(info + 1.0 / 10.0**2)
    got = out["conditional_sd"].sel(parameter=name).item()
    assert got == pytest.approx(expected, rel=1e-4)
    assert info > 1.0  # LAI and GPP do inform these three


def test_twice_the_noise_doubles_the_conditional_sd(few_pixels):
    ds, parameters = few_pixels
    one = local_identifiability(ds, parameters, NOISE, prior_sd=1e4)
    two = local_identifiability(ds, parameters, {k: 2 * v for k, v in NOISE.items()},
                                prior_sd=1e4)
    ratio = two["conditional_sd"] / one["conditional_sd"]
    informed = one["conditional_sd"] < 1.0
    assert int(informed.sum()) > 40  # many (parameter, pixel) pairs are informed
    np.testing.assert_allclose(ratio.where(informed).values[informed.values], 2.0, rtol=1e-3)


def test_a_parameter_without_effect_returns_the_prior(few_pixels):
    ds, parameters = few_pixels
    out = local_identifiability(ds, parameters, NOISE, prior_sd=7.0)
    for name in ("vod_foliar_coefficient", "vod_wood_coefficient"):
        np.testing.assert_allclose(out["posterior_sd"].sel(parameter=name), 7.0, rtol=1e-6)
        np.testing.assert_allclose(out["variance_inflation"].sel(parameter=name), 1.0,
                                   rtol=1e-6)
    # a trade-off shows as inflation: LCMA and the foliar allocation set the same leaf area
    lcma = out.sel(parameter="leaf_carbon_mass_per_area")
    canopy = lcma["conditional_sd"] < 1.0  # the pixels with leaves (one of the four has none)
    assert int(canopy.sum()) == 3
    assert float(lcma["variance_inflation"].where(canopy).min()) > 100
    assert set(np.unique(out["partner"].values)) <= set(out["parameter"].values.tolist())
    assert out["posterior_sd"].dims == ("parameter", "lat", "lon")


def test_dask_input_stays_lazy_and_matches(few_pixels):
    ds, parameters = few_pixels
    eager = local_identifiability(ds, parameters, NOISE)
    lazy = local_identifiability(ds.chunk({"lat": 1}), parameters.chunk({"lat": 1}), NOISE)
    assert lazy["posterior_sd"].chunks is not None
    lazy = lazy.compute()
    xr.testing.assert_allclose(lazy["conditional_sd"], eager["conditional_sd"], rtol=1e-5)
    # float32 round-off of the Jacobian differs between blocks, and the inversion amplifies it
    # along directions the data barely constrain
    xr.testing.assert_allclose(lazy["posterior_sd"], eager["posterior_sd"], rtol=2e-2)


def test_masked_pixels_come_back_missing(few_pixels):
    ds, parameters = few_pixels
    mask = xr.ones_like(ds["land_mask"], dtype=bool)
    mask[0, 0] = False
    out = local_identifiability(ds, parameters, NOISE, mask=mask)
    assert out["posterior_sd"].isel(lat=0, lon=0).isnull().all()
    assert out["posterior_sd"].isel(lat=1, lon=1).notnull().all()
    assert out["partner"].isel(lat=0, lon=0).values.tolist() == [""] * 40


def test_bad_settings_are_reported_together(few_pixels):
    ds, parameters = few_pixels
    with pytest.raises(DataError) as error:
        local_identifiability(ds, parameters, {"leaf_area": 0.3, "gpp": -1.0},
                              warmup_months=-1, prior_sd=0.0)
    text = str(error.value)
    for fragment in ("leaf_area", "gpp", "warmup_months", "prior_sd"):
        assert fragment in text
    with pytest.raises(DataError, match="no observed streams"):
        local_identifiability(ds, parameters, {})


def test_posterior_summary_of_two_interchangeable_parameters():
    info = np.array([[[4.0, 3.9], [3.9, 4.0]], [[np.nan, 0.0], [0.0, 1.0]]])
    out = posterior_summary(info, prior_sd=100.0)
    precision = info[0] + np.eye(2) / 100.0**2
    np.testing.assert_allclose(out["posterior_sd"][0],
                               np.sqrt(np.diag(np.linalg.inv(precision))))
    np.testing.assert_allclose(out["conditional_sd"][0], 1 / np.sqrt(np.diag(precision)))
    assert out["partner"][0].tolist() == [1, 0]
    assert out["partner_correlation"][0, 0] == pytest.approx(-3.9 / 4.0001, rel=1e-6)
    assert np.isnan(out["posterior_sd"][1]).all() and out["partner"][1].tolist() == [-1, -1]


def test_large_blocks_are_processed_in_equal_passes(few_pixels, monkeypatch):
    from xdifferland.contract import handoff

    ds, parameters = few_pixels
    whole = local_identifiability(ds, parameters, NOISE)
    monkeypatch.setattr(handoff, "FISHER_PIXELS", 3)  # 4 pixels: a pass of 3, a padded pass
    passes = local_identifiability(ds, parameters, NOISE)
    xr.testing.assert_allclose(passes["conditional_sd"], whole["conditional_sd"], rtol=1e-5)
    assert passes["posterior_sd"].notnull().sum() == whole["posterior_sd"].notnull().sum()
