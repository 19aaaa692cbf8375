"""Labeled simulation through ``xdifferland.simulate`` and the ``.differland`` accessor."""

from __future__ import annotations

import dask
import numpy as np
import pytest
import xarray as xr

import xdifferland
from xdifferland.datasets import synthetic_world
from xdifferland.errors import DataError, ValidationError
from xdifferland.registry import PARAMETER_NAMES


@pytest.fixture(scope="module")
def world():
    return synthetic_world(seed=0)


def true_parameters(truth):
    return truth[list(PARAMETER_NAMES)]


def test_accessor_forwards_to_public_function(world):
    ds, _ = world
    params = xdifferland.default_parameters(like=ds)
    a = ds.differland.simulate(params, outputs=["gpp", "lai"])
    b = xdifferland.simulate(ds, params, ["gpp", "lai"])
    xr.testing.assert_identical(a, b)
    assert ds.differland.validate().ok
    assert len(ds.differland.validate()) == len(xdifferland.validate(ds))


def test_result_is_labeled_with_cf_attributes_and_provenance(world):
    ds, _ = world
    out = ds.differland.simulate(outputs=["gpp", "lai", "nbe", "foliar_pool"])
    assert out["gpp"].dims == ("time", "lat", "lon")
    assert out["gpp"].attrs["units"] == "g m-2 d-1"
    assert out["lai"].attrs["standard_name"] == "leaf_area_index"
    assert out.attrs["model"] == "DALEC993" and out.attrs["model_variant"] == "reference"
    assert out.attrs["xdifferland_version"] == xdifferland.__version__
    assert out.attrs["Conventions"] == "CF-1.8" and out.attrs["title"] == "DALEC993 simulation"
    xr.testing.assert_equal(out["time"].drop_attrs(), ds["time"].drop_attrs())


def test_true_parameters_reproduce_the_synthetic_truth(world):
    ds, truth = world
    out = xdifferland.simulate(ds, true_parameters(truth), ["lai", "gpp", "nbe"])
    for name in ("lai", "gpp", "nbe"):
        np.testing.assert_allclose(out[name], truth[name], atol=1e-4, rtol=1e-4)


def test_invalid_pixels_are_skipped_and_return_nan(world):
    ds, _ = world
    out = xdifferland.simulate(ds, xdifferland.default_parameters(like=ds), ["gpp"])
    ocean = ds["mean_annual_temperature"].isnull()
    assert bool(ocean.any())
    computed = out["gpp"].notnull().all("time")
    xr.testing.assert_equal(computed, ~ocean.rename("gpp").drop_attrs())
    mask = xr.zeros_like(ocean, dtype=bool).copy(data=np.eye(*ocean.shape, dtype=bool))
    masked = xdifferland.simulate(ds, xdifferland.default_parameters(like=ds), ["gpp"], mask=mask)
    assert int(masked["gpp"].isel(time=0).notnull().sum()) == int((mask & ~ocean).sum())


def test_site_layout_round_trips_dims():
    from tests.factories import make_dataset

    ds = make_dataset("site", n_time=24)
    out = xdifferland.simulate(ds, xdifferland.default_parameters(like=ds), ["gpp"])
    assert out["gpp"].dims == ("time", "site")
    assert out["gpp"].notnull().all()


def test_monthly_and_daily_time_axes():
    from tests.factories import make_dataset

    monthly = make_dataset("grid", n_time=12, freq="MS")
    daily = make_dataset("grid", n_time=60, freq="D")
    for ds, step in ((monthly, 30.0), (daily, 1.0)):
        out = xdifferland.simulate(ds, xdifferland.default_parameters(like=ds), ["gpp"])
        assert out.attrs["time_step_days"] == step
        assert bool(out["gpp"].notnull().all())


def test_dask_backed_input_stays_lazy_and_matches(world):
    ds, _ = world
    params = xdifferland.default_parameters(like=ds)
    eager = xdifferland.simulate(ds, params, ["gpp", "lai"])
    lazy_ds = ds.chunk({"lat": 8, "lon": 10})

    def refuse(*args, **kwargs):
        raise AssertionError("something was computed while building the result")

    # Validation reads small reductions; building the simulated result itself computes nothing.
    xdifferland.validate(lazy_ds).raise_if_any()
    with dask.config.set(scheduler=refuse):
        lazy = xdifferland.simulate(lazy_ds, params, ["gpp", "lai"])
    assert lazy["gpp"].chunks is not None
    assert lazy["gpp"].data.npartitions > 1  # computed chunk by chunk over pixels
    xr.testing.assert_allclose(lazy.compute(), eager, rtol=1e-6)


def test_missing_parameter_is_reported(world):
    ds, _ = world
    params = xdifferland.default_parameters(like=ds).drop_vars(["LCMA"], errors="ignore")
    params = params.drop_vars("leaf_carbon_mass_per_area")
    with pytest.raises(DataError, match="leaf_carbon_mass_per_area"):
        xdifferland.simulate(ds, params, ["gpp"])


def test_user_mistakes_raise_before_any_tracing(world):
    ds, _ = world
    broken = ds.drop_vars("t_min").assign(precipitation=-ds["precipitation"])
    with pytest.raises(ValidationError) as info:
        xdifferland.simulate(broken, xdifferland.default_parameters(like=ds), ["gpp"])
    assert {"t_min", "precipitation"} <= set(info.value.variables)


def test_budget_closes_in_mass_conserving_mode(world):
    ds, _ = world
    params = xdifferland.default_parameters(like=ds)
    fixed = ds.differland.budget(params, mass_conserving=True)
    relative = abs(fixed["carbon_residual"]) / abs(fixed["total_carbon"])
    assert float(relative.max()) < 1e-5  # float32 run


@pytest.mark.parametrize("engine", ["netcdf", "zarr"])
def test_results_round_trip_through_files(world, tmp_path, engine):
    ds, _ = world
    out = ds.differland.simulate(outputs=["gpp", "lai"])
    path = tmp_path / f"result.{'nc' if engine == 'netcdf' else 'zarr'}"
    if engine == "netcdf":
        xdifferland.to_netcdf(out, path)
        back = xdifferland.io.open_netcdf(path)
    else:
        xdifferland.to_zarr(out, path)
        back = xdifferland.io.open_zarr(path)
    # the file adds the cell areas its variables' cell_measures name
    assert back["cell_area"].attrs["units"] == "m2"
    xr.testing.assert_identical(back.drop_vars("cell_area").load(), out)


@pytest.mark.parametrize(("calendar", "freq", "n_time", "step"),
                         [("noleap", "MS", 24, 30.0), ("360_day", "MS", 12, 30.0),
                          ("noleap", "D", 40, 1.0)])
def test_cftime_time_axes(calendar, freq, n_time, step):
    from tests.factories import make_dataset

    ds = make_dataset("grid", n_time=n_time, freq=freq, calendar=calendar)
    assert not np.issubdtype(ds["time"].dtype, np.datetime64)  # cftime objects
    out = xdifferland.simulate(ds, xdifferland.default_parameters(like=ds), ["gpp"])
    assert out.attrs["time_step_days"] == step
    assert bool(out["gpp"].notnull().all())
    # The same dates as numpy datetime64 give nearly the same run: days since 2000-01-01 differ
    # by one (2000 is a leap year only in the standard calendar), shifting phenology slightly.
    if calendar == "noleap" and freq == "MS":
        numpy_ds = make_dataset("grid", n_time=n_time, freq=freq)
        ref = xdifferland.simulate(numpy_ds, xdifferland.default_parameters(like=numpy_ds),
                                   ["gpp"])
        np.testing.assert_allclose(out["gpp"].values, ref["gpp"].values, rtol=1e-2)
