"""Predictive intervals of an ensemble: the observation-error model, coverage and CRPS."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tests.analysis.conftest import FIT, lai_world  # noqa: F401
from xdifferland import fit_ensemble
from xdifferland.ensemble_intervals import (ObservationError, interval_scores,
                                            member_predictions, observation_error)
from xdifferland.gaussian_scores import normal_quantile
from xdifferland.interval_error import MIN_PER_CLASS, _moments, stream_error

PLANTED_SD = 2.0  #: observation-error sd planted into the LAI of the calibrated world
#: the planted draws go below zero where LAI is near zero: accepted as they are
ANY = {"plausibility": {"lai": (-100.0, 100.0)}}


@pytest.fixture(scope="module")
def ensemble(lai_world):  # noqa: F811
    ds, _ = lai_world
    ens = fit_ensemble(ds, 2, client="synchronous", **FIT)
    assert all(len(ens.members[0].splits[s]) for s in ("dev", "test"))
    return ens


@pytest.fixture(scope="module")
def calibrated(lai_world, ensemble):  # noqa: F811
    """The world with LAI replaced by draws from the ensemble's own predictive distribution:
    ensemble mean + N(0, member variance + PLANTED_SD²) at every observed pixel-step."""
    ds, _ = lai_world
    observed, simulated = member_predictions(ensemble, ds, "all", warmup_months=0)["lai"]
    mean, variance = simulated.mean("member"), simulated.var("member", ddof=1)
    noise = np.random.default_rng(7).standard_normal(mean.shape)
    drawn = mean + np.sqrt(variance + PLANTED_SD**2) * noise
    lai = drawn.where(ds["lai"].notnull()).transpose(*ds["lai"].dims)
    return ds.assign(lai=lai.assign_attrs(ds["lai"].attrs))


def test_the_dev_estimate_recovers_the_planted_observation_error(ensemble, calibrated):
    error = observation_error(ensemble, calibrated, streams=["lai"], **ANY)
    assert error.split == "dev" and error.n["lai"] > 300
    assert error.sd("lai") == pytest.approx(PLANTED_SD, rel=0.15)
    # residual = member variance + error variance, by construction of the estimate
    assert error.residual_variance["lai"] == pytest.approx(
        error.member_variance["lai"] + error.variance["lai"])
    # the Gaussian model is right here, so the coverage factor has little to correct
    assert error.scale["lai"] == pytest.approx(1.0, abs=0.08)


@pytest.mark.parametrize("level", [0.5, 0.9])
def test_the_coverage_factor_makes_the_dev_interval_cover_the_level(ensemble, calibrated,
                                                                    level):
    # heavy-tailed errors of the same variance (Student t, 3 dof): one Gaussian variance
    # misjudges the interval; the factor calibrated on dev corrects it there
    observed, simulated = member_predictions(ensemble, calibrated, "all", warmup_months=0,
                                             **ANY)["lai"]
    mean, variance = simulated.mean("member"), simulated.var("member", ddof=1)
    t = np.random.default_rng(3).standard_t(3, mean.shape) / np.sqrt(3.0)
    heavy = calibrated.assign(lai=(mean + np.sqrt(variance + PLANTED_SD**2) * t).where(
        observed.notnull()).transpose(*calibrated["lai"].dims))
    moments = observation_error(ensemble, heavy, level=None, streams=["lai"], **ANY)
    tuned = observation_error(ensemble, heavy, level=level, streams=["lai"], **ANY)
    assert moments.scale == {} and tuned.variance == moments.variance
    plain = interval_scores(ensemble, heavy, "dev", level, error=moments, **ANY)
    fixed = interval_scores(ensemble, heavy, "dev", level, error=tuned, **ANY)
    n = int(fixed["n_observations"].sel(variable="lai"))
    assert abs(float(plain["coverage"].sel(variable="lai")) - level) > 0.03
    assert abs(float(fixed["coverage"].sel(variable="lai")) - level) <= 2.0 / n


@pytest.mark.parametrize("level", [0.5, 0.9])
def test_test_patch_coverage_matches_the_level_when_the_model_is_right(ensemble, calibrated,
                                                                       level):
    scores = interval_scores(ensemble, calibrated, "test", level, streams=["lai"], **ANY)
    row = scores.sel(variable="lai")
    n = int(row["n_observations"])
    assert n > 300
    tolerance = 4 * np.sqrt(level * (1 - level) / n)  # binomial sampling error
    assert abs(float(row["coverage"]) - level) < tolerance
    # the expected CRPS of a calibrated Gaussian is sd / sqrt(pi)
    observed, simulated = member_predictions(ensemble, calibrated, "test", **ANY)["lai"]
    keep = observed.notnull()
    sd = np.sqrt(simulated.var("member", ddof=1) + float(scores["observation_error_sd"]
                                                         .sel(variable="lai")) ** 2)
    expected = float(sd.where(keep).mean()) / np.sqrt(np.pi)
    assert float(row["crps"]) == pytest.approx(expected, rel=0.1)


def _heteroscedastic_draws(seed, n=40_000):
    """Ensemble means over 0-6, member variance 0.1, error sd 0.1 + 0.5 x mean."""
    rng = np.random.default_rng(seed)
    m = rng.uniform(0.0, 6.0, n)
    v = np.full(n, 0.1)
    y = m + np.sqrt(v + (0.1 + 0.5 * m) ** 2) * rng.standard_normal(n)
    return y, m, v


@pytest.mark.parametrize("seed", [0, 1])
def test_value_classes_cover_low_and_high_values_alike(seed):
    draws = _heteroscedastic_draws(seed)
    fitted = {c: ObservationError.from_streams({"lai": stream_error(*draws, 0.9, c)}, level=0.9)
              for c in (1, 2)}
    y, m, v = _heteroscedastic_draws(seed + 100)  # new draws of the same world
    half = normal_quantile(0.95)
    low = m <= 3.0
    cover = {c: [float(np.mean((np.abs(y - m) <= half * e.predictive_sd("lai", v, m))[part]))
                 for part in (low, ~low)] for c, e in fitted.items()}
    assert fitted[1].classes("lai") == 1 and fitted[2].classes("lai") == 2
    assert cover[1][0] - cover[1][1] > 0.05  # one variance: too wide low, too narrow high
    assert abs(cover[2][0] - cover[2][1]) < 0.03
    assert all(abs(c - 0.9) < 0.02 for c in cover[2])


@pytest.fixture(scope="module")
def growing(lai_world, ensemble):  # noqa: F811
    """LAI drawn with an error sd that grows with the value: 0.05 + 1.5 x |ensemble mean|."""
    ds, _ = lai_world
    observed, simulated = member_predictions(ensemble, ds, "all", warmup_months=0)["lai"]
    mean, variance = simulated.mean("member"), simulated.var("member", ddof=1)
    noise = np.random.default_rng(11).standard_normal(mean.shape)
    drawn = mean + np.sqrt(variance + (0.05 + 1.5 * abs(mean)) ** 2) * noise
    lai = drawn.where(ds["lai"].notnull()).transpose(*ds["lai"].dims)
    return ds.assign(lai=lai.assign_attrs(ds["lai"].attrs))


def test_each_class_interval_covers_the_level_where_it_was_estimated(ensemble, growing):
    # the train patches: the one dev patch of this small world is too small for two classes
    error = observation_error(ensemble, growing, split="train", streams=["lai"], **ANY)
    assert error.classes("lai") == 2
    assert error.class_variance["lai"][0] < error.class_variance["lai"][1]
    y, m, v = _moments(*member_predictions(ensemble, growing, "train", **ANY)["lai"])
    inside = np.abs(y - m) <= normal_quantile(0.95) * error.predictive_sd("lai", v, m)
    high = m > error.edges["lai"][0]
    for part in (~high, high):
        assert abs(float(np.mean(inside[part])) - 0.9) <= 2.0 / part.sum()


def test_the_class_sd_is_the_same_for_arrays_and_dataarrays(ensemble, growing):
    error = observation_error(ensemble, growing, split="train", streams=["lai"], **ANY)
    assert error.classes("lai") == 2
    mean = growing["lai"].isel(time=slice(0, 4)).fillna(0.0)
    variance = xr.full_like(mean, 0.3)
    labelled = error.predictive_sd("lai", variance, mean)
    assert isinstance(labelled, xr.DataArray) and labelled.dims == mean.dims
    np.testing.assert_allclose(labelled.values, error.predictive_sd(
        "lai", variance.values, mean.values))
    lazy = error.predictive_sd("lai", variance.chunk({"time": 2}), mean.chunk({"time": 2}))
    assert lazy.chunks is not None
    np.testing.assert_allclose(lazy.values, labelled.values)


def test_each_class_keeps_at_least_min_per_class_observations(ensemble, growing):
    error = observation_error(ensemble, growing, split="train", streams=["lai"], classes=50,
                              **ANY)
    assert error.n["lai"] > 2 * MIN_PER_CLASS
    assert error.classes("lai") == min(50, error.n["lai"] // MIN_PER_CLASS)


def test_without_the_error_model_the_intervals_undercover(ensemble, calibrated):
    no_error = ObservationError({"lai": 0.0}, split="dev")
    scores = interval_scores(ensemble, calibrated, "test", 0.9, error=no_error, **ANY)
    assert float(scores["coverage"].sel(variable="lai")) < 0.8


def test_predict_interval_bounds_are_mean_plus_minus_z_sd(ensemble, calibrated):
    error = ObservationError({"lai": PLANTED_SD**2}, split="dev")
    out = ensemble.predict_interval(calibrated, 0.9, error=error, **ANY)
    assert set(out.data_vars) == {"lai", "lai_sd", "lai_lower", "lai_upper"}
    z = normal_quantile(0.95)
    np.testing.assert_allclose(out["lai_upper"] - out["lai"], z * out["lai_sd"], rtol=1e-5)
    np.testing.assert_allclose(out["lai"] - out["lai_lower"], z * out["lai_sd"], rtol=1e-5)
    assert float(out["lai_sd"].min()) >= PLANTED_SD * (1 - 1e-6)


def test_evaluate_reports_coverage_and_crps_of_the_mean_prediction(ensemble, calibrated):
    table = ensemble.evaluate(calibrated, mean=True, level=0.9, **ANY)
    scores = ensemble.interval_scores(calibrated, "test", 0.9, **ANY)
    assert table.attrs["split"] == "test"
    assert float(table["coverage"].sel(variable="lai")) == float(
        scores["coverage"].sel(variable="lai"))
    assert float(table["crps"].sel(variable="lai")) == float(scores["crps"].sel(variable="lai"))
    assert "nse" in table


@pytest.mark.parametrize(("call", "message"), [
    (lambda e, ds: observation_error(e, ds, split="test"), "split='test'"),
    (lambda e, ds: interval_scores(e, ds, "test", 1.5), "level=1.5"),
    (lambda e, ds: e.predict_interval(ds, 0.0), "level=0.0"),
    (lambda e, ds: e.evaluate(ds, level=0.9), "mean=True"),
    (lambda e, ds: observation_error(e, ds, streams=["npp"]), "npp"),
    (lambda e, ds: observation_error(e, ds, classes=0), "classes=0"),
    (lambda e, ds: e.predict_interval(ds, error=ObservationError({"lai": 0.1}),
                                      streams=["sif"]), "no observation-error estimate"),
])
def test_bad_settings_say_what_to_do(ensemble, calibrated, call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        call(ensemble, calibrated)


def test_an_ensemble_keeps_its_error_model_through_save_and_load(ensemble, growing, tmp_path):
    import xdifferland

    error = observation_error(ensemble, growing, split="train", streams=["lai"], **ANY)
    kept = ensemble.with_interval_error(error)
    assert ObservationError.from_dict(error.to_dict()) == error
    kept.save(tmp_path / "ens")
    loaded = xdifferland.load_ensemble(tmp_path / "ens")
    # new locations without a dev split: the kept model is used, as given explicitly
    new = growing.isel(lat=slice(0, 6))
    a = loaded.predict_interval(new, streams=["lai"], **ANY)
    b = ensemble.predict_interval(new, error=error, streams=["lai"], **ANY)
    np.testing.assert_allclose(a["lai_sd"], b["lai_sd"])


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["variance"].update(lai=-1.0), "non-negative"),
    (lambda d: d["class_variance"].update(lai=[1.0]), "value classes of 'lai'"),
    (lambda d: d.update(level=2.0), "not a probability"),
    (lambda d: d["class_scale"].update(lai=[0.0, 1.0]), "positive"),
])
def test_a_damaged_saved_error_model_is_refused(ensemble, growing, tmp_path, edit, message):
    import json

    import xdifferland
    from xdifferland.errors import ModelFileError

    error = observation_error(ensemble, growing, split="train", streams=["lai"], **ANY)
    folder = ensemble.with_interval_error(error).save(tmp_path / "ens")
    index = json.loads((folder / "ensemble.json").read_text())
    edit(index["info"]["observation_error"])
    (folder / "ensemble.json").write_text(json.dumps(index))
    with pytest.raises(ModelFileError, match=message):
        xdifferland.load_ensemble(folder)
