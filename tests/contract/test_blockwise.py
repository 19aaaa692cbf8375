"""Value checks of lazily held data, run chunk by chunk when computed (contract.blockwise)."""

import dask
import dask.array
import numpy as np
import pytest
import xarray as xr

import xdifferland
from xdifferland.contract.blockwise import checked_when_computed
from xdifferland.datasets import synthetic_world
from xdifferland.errors import ValidationError

from ..factories import raising_scheduler

LAND = (10, 12)  #: a land cell of synthetic_world(seed=0) (lat index, lon index)


@pytest.fixture(scope="module")
def world():
    ds, _ = synthetic_world(seed=0)
    return ds


def _spoiled(ds: xr.Dataset, **changes) -> xr.Dataset:
    """``ds`` with ``{variable: value}`` written at month 3 of the land cell ``LAND``."""
    out = ds.copy(deep=True)
    for name, value in changes.items():
        out[name][3, LAND[0], LAND[1]] = value
    return out


@pytest.mark.parametrize("change, variable, words", [
    ({"precipitation": -5.0}, "precipitation", "outside the plausible range 0 to 2000 mm d-1"),
    ({"t_min": np.nan}, "t_min", "1 NaN value(s)"),
    ({"vpd": np.inf}, "vpd", "inf"),
    ({"t_min": 80.0}, "t_min", "outside the plausible range"),
])
def test_a_lazy_simulation_refuses_an_impossible_value_when_computed(world, change, variable,
                                                                    words):
    lazy = _spoiled(world, **change).chunk({"lat": 4})
    with dask.config.set(scheduler=raising_scheduler):  # building reads nothing
        out = xdifferland.simulate(lazy, xdifferland.default_parameters(like=world), ["gpp"])
    with pytest.raises(ValidationError) as error:
        out["gpp"].compute()
    message = str(error.value)
    assert f"- {variable}: " in message and words in message
    where = f"lat={float(world.lat[LAND[0]]):g}, lon={float(world.lon[LAND[1]]):g}"
    assert where in message  # the offending location, with the data's own labels


def test_chunks_without_the_value_compute_and_match_memory(world):
    lazy = _spoiled(world, precipitation=-5.0).chunk({"lat": 4})
    params = xdifferland.default_parameters(like=world)
    clean = slice(0, 8)  # the chunks before the spoiled one
    got = xdifferland.simulate(lazy, params, ["gpp"])["gpp"].isel(lat=clean).compute()
    want = xdifferland.simulate(world, params, ["gpp"])["gpp"].isel(lat=clean)
    np.testing.assert_array_equal(got.values, want.values)


@pytest.mark.parametrize("plausibility", ["ignore", {"precipitation": "ignore"},
                                          {"precipitation": (-10, 2000)}])
def test_the_plausibility_option_applies_to_chunks(world, plausibility):
    lazy = _spoiled(world, precipitation=-5.0).chunk({"lat": 4})
    out = xdifferland.simulate(lazy, xdifferland.default_parameters(like=world), ["gpp"],
                               plausibility=plausibility)
    assert np.isfinite(out["gpp"].isel(lat=slice(8, 12)).compute()).any()


def test_a_fitted_model_checks_lazy_prediction_data(world):
    model = world.differland.fit(epochs=1, seed=0, progress=False)
    lazy = _spoiled(world, precipitation=-5.0).chunk({"lat": 4})
    out = model.simulate(lazy, ["gpp"], extrapolation="allow")
    with pytest.raises(ValidationError, match="precipitation"):
        out["gpp"].compute()


def test_the_mask_leaves_locations_out_of_the_checks(world):
    lazy = _spoiled(world, t_min=np.nan).chunk({"lat": 4})
    mask = xr.ones_like(world["land_mask"], dtype=bool)
    mask[LAND] = False
    checked = checked_when_computed(lazy, mask=mask)
    assert int(checked["t_min"].isnull().sum()) == 1  # computes: the NaN is masked out


def test_each_chunk_is_read_once(world):
    reads = []

    def counted(block, block_info=None):
        reads.append(block_info[0]["chunk-location"])
        return block

    lazy = world.chunk({"lat": 4})
    lazy["t_max"] = lazy["t_max"].copy(data=dask.array.map_blocks(counted, lazy["t_max"].data,
                                                                   dtype=float))
    xdifferland.simulate(lazy, xdifferland.default_parameters(like=world), ["gpp"]).compute()
    assert sorted(reads) == sorted(set(reads)) and len(reads) == 4


def test_data_in_memory_and_without_chunks_are_returned_as_they_are(world):
    assert checked_when_computed(world) is world
    lazy = world.chunk({"lat": 4})
    assert checked_when_computed(lazy, checks=["overlap"]) is lazy


def test_warn_mode_warns_when_the_chunk_is_computed(world):
    from xdifferland.contract.plausibility import PlausibilityWarning

    lazy = _spoiled(world, precipitation=-5.0).chunk({"lat": 4})
    out = xdifferland.simulate(lazy, xdifferland.default_parameters(like=world), ["gpp"],
                               plausibility="warn")
    with pytest.warns(PlausibilityWarning, match="precipitation"):
        out["gpp"].compute(scheduler="synchronous")
