"""Sensitivity maps: derivatives against central finite differences, units, laziness, errors."""

from __future__ import annotations

import dask
import numpy as np
import pytest
import xarray as xr

import xdifferland
from tests.factories import make_dataset, raising_scheduler
from xdifferland.errors import DataError
from xdifferland.sensitivity_maps import plot_sensitivity

WRT = ["canopy_efficiency", "leaf_carbon_mass_per_area", "autotrophic_fraction",
       "field_capacity", "litter_turnover"]


def central_difference(ds, params, output, parameter, reduce, relative_step=1e-6):
    """(f(p + h) - f(p - h)) / 2h of the reduced output, with xdifferland.simulate."""
    def reduced(sign):
        shifted = params.copy()
        shifted[parameter] = params[parameter] * (1 + sign * relative_step)
        series = xdifferland.simulate(ds, shifted, [output])[output]
        if reduce == "time-mean":
            return series.mean("time")
        if reduce == "time-sum":
            return series.sum("time") * series.attrs.get("time_step_days", 30.0)
        return series

    step = 2 * relative_step * params[parameter]
    return (reduced(+1) - reduced(-1)) / step


@pytest.mark.parametrize("output, reduce", [("gpp", "time-mean"), ("nee", "time-sum"),
                                            ("lai", "none")])
def test_derivatives_match_central_differences_in_float64(x64, output, reduce):
    ds = make_dataset("grid", 24)
    params = xdifferland.default_parameters(like=ds)
    # The default start (initial water = field capacity) puts β exactly on its clip at 1, where
    # central differences average two slopes; a part-full bucket is away from that kink.
    params["initial_water"] = params["initial_water"] * 0.6
    sens = xdifferland.sensitivity(ds, params, output, wrt=WRT, reduce=reduce)
    assert sens[output].dtype == np.float64
    for parameter in WRT:
        expected = central_difference(ds, params, output, parameter, reduce)
        scale = float(np.abs(expected).max())
        if parameter == "litter_turnover" and output != "nee":
            np.testing.assert_array_equal(sens[parameter], 0.0)  # no path to GPP or LAI
            continue
        assert scale > 0, parameter
        np.testing.assert_allclose(sens[parameter].transpose(*expected.dims), expected,
                                   rtol=1e-4, atol=1e-6 * scale, err_msg=parameter)


def test_elasticity_is_the_relative_derivative_and_units_are_physical():
    ds = make_dataset("grid", 24)
    params = xdifferland.default_parameters(like=ds)
    sens = xdifferland.sensitivity(ds, params, "ET", wrt=["uWUE", "LCMA", "Q10"])
    assert sens.attrs["output"] == "et" and sens.attrs["reduce"] == "time-mean"
    expected = sens["leaf_carbon_mass_per_area"] * params["leaf_carbon_mass_per_area"] / sens["et"]
    np.testing.assert_allclose(sens["leaf_carbon_mass_per_area_elasticity"], expected, rtol=1e-5)
    assert sens["et"].attrs["units"] == "kg m-2 d-1"  # 1 mm of water is 1 kg m-2
    assert sens["leaf_carbon_mass_per_area"].attrs["units"] == "m2 mm g-1 d-1"
    assert sens["temperature_sensitivity"].attrs["units"] == "K mm d-1"
    # UDUNITS cannot spell kPa**0.5: the units are described instead
    assert "kPa" in sens["underlying_wue"].attrs["units_description"]
    assert sens["leaf_carbon_mass_per_area_elasticity"].attrs["units"] == "1"
    assert float(sens["underlying_wue_elasticity"].mean()) < 0  # more water per carbon, less ET


def test_time_sum_is_the_total_over_the_record():
    ds = make_dataset("grid", 24)
    params = xdifferland.default_parameters(like=ds)
    mean = xdifferland.sensitivity(ds, params, "gpp", wrt=["canopy_efficiency"])
    total = xdifferland.sensitivity(ds, params, "gpp", wrt=["canopy_efficiency"],
                                    reduce="time-sum")
    assert total["gpp"].attrs["units"] == "g m-2" and mean["gpp"].attrs["units"] == "g m-2 d-1"
    np.testing.assert_allclose(total["canopy_efficiency"], 24 * 30.0 * mean["canopy_efficiency"],
                               rtol=1e-5)


def test_dask_input_stays_lazy_until_computed():
    eager_ds = make_dataset("grid", 24)
    params = xdifferland.default_parameters(like=eager_ds)
    lazy_ds = make_dataset("grid", 24, chunks={"lat": 1})
    with dask.config.set(scheduler=raising_scheduler):
        lazy = xdifferland.sensitivity(lazy_ds, params, "gpp", wrt=WRT[:2])
    assert all(lazy[v].chunks is not None for v in lazy.data_vars)
    eager = xdifferland.sensitivity(eager_ds, params, "gpp", wrt=WRT[:2])
    xr.testing.assert_allclose(lazy.compute(), eager)


def test_site_lists_keep_their_dim_and_a_mask_gives_nan():
    ds = make_dataset("site", 24)
    params = xdifferland.default_parameters(like=ds)
    mask = xr.DataArray([True, False, True, True], dims="site")
    sens = xdifferland.sensitivity(ds, params, "lai", wrt="LCMA", mask=mask)
    assert sens["leaf_carbon_mass_per_area"].dims == ("site",)
    values = sens["leaf_carbon_mass_per_area"].values
    assert np.isnan(values[1]) and np.isfinite(values[[0, 2, 3]]).all()
    assert (values[[0, 2, 3]] < 0).all()  # more carbon per leaf area, fewer leaves


@pytest.mark.parametrize("kwargs, variable, text", [
    ({"output": "gpq"}, "output", "not a DALEC993 output"),
    ({"output": "sum:gpp"}, "output", "not one output name"),
    ({"output": "gpp", "wrt": ["canopy_efficiency", "leaf_size"]}, "wrt", "'leaf_size'"),
    ({"output": "gpp", "wrt": []}, "wrt", "no parameter"),
    ({"output": "gpp", "reduce": "annual"}, "reduce", "not a reduction"),
    ({"output": "lai", "reduce": "time-sum"}, "reduce", "not a rate per day"),
])
def test_bad_arguments_are_named_before_anything_runs(kwargs, variable, text):
    ds = make_dataset("grid", 24)
    with pytest.raises(DataError, match=text) as error:
        xdifferland.sensitivity(ds, xdifferland.default_parameters(like=ds), **kwargs)
    assert [p.variable for p in error.value.problems] == [variable]


def test_something_that_is_no_parameters_nor_model_is_refused():
    ds = make_dataset("grid", 24)
    with pytest.raises(DataError, match="neither a parameters Dataset nor a fitted model"):
        xdifferland.sensitivity(ds, {"canopy_efficiency": 10.0}, "gpp")


def test_a_fitted_model_gives_the_sensitivity_of_its_own_parameters():
    from xdifferland.datasets import synthetic_world

    ds, _ = synthetic_world(n_lat=4, n_lon=10, n_years=1, seed=4)
    model = xdifferland.fit(ds, epochs=1, progress=False, water_stress="nn_whole")
    sens = xdifferland.sensitivity(ds, model, "gpp", wrt=["LCMA", "canopy_efficiency"])
    assert sens.attrs["water_stress"] == "nn_whole"
    # the whole network replaces ACM: canopy efficiency no longer reaches GPP, LAI still does
    valid = sens["gpp"].notnull()
    np.testing.assert_array_equal(sens["canopy_efficiency"].where(valid, 0.0), 0.0)
    assert float(np.abs(sens["leaf_carbon_mass_per_area"]).max()) > 0
    simulated = model.simulate(ds, ["gpp"])["gpp"].mean("time")
    np.testing.assert_allclose(sens["gpp"], simulated, rtol=1e-5)


def test_figure_ranks_elasticities_and_maps_one_parameter(save_figure):
    import matplotlib

    matplotlib.use("Agg", force=True)
    ds = make_dataset("grid", 24)
    sens = xdifferland.sensitivity(ds, xdifferland.default_parameters(like=ds), "lai",
                                   wrt=["LCMA", "f_fol", "canopy_efficiency", "Q10"])
    ax = plot_sensitivity(sens, top=3)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 3 and "temperature sensitivity" not in labels  # Q10: no effect on LAI
    assert labels[-1] == "leaf carbon mass per area"  # elasticity about -1: the largest
    assert "(d log|lai| / d log parameter, 1)" in ax.get_xlabel()
    save_figure(ax.figure, "bars")
    ax = plot_sensitivity(sens, "LCMA")
    assert ax.figure.axes[-1].get_ylabel() == \
        "d(time-mean lai)/d(leaf_carbon_mass_per_area) (m2 g-1)"
    save_figure(ax.figure, "map")
    with pytest.raises(ValueError, match="not in the result"):
        plot_sensitivity(sens, "field_capacity")
