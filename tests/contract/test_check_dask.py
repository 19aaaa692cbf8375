"""Validation of dask-backed Datasets: computed once in shared blocks, the same report as in
memory, structure checks without computing."""

from __future__ import annotations

import itertools

import dask
import numpy as np
import pytest
import xarray as xr

from tests.factories import CountingScheduler, make_dataset, raising_scheduler
from xdifferland.contract import check as check_module
from xdifferland.contract._checks import CHECK_BLOCK_BYTES, LAZY_PASSES, in_check_blocks
from xdifferland.contract.check import validate


def test_dask_is_computed_once_and_stays_lazy():
    ds = make_dataset("grid", chunks={"time": 6})
    ds["t_min"] = ds["t_min"].copy(data=ds["t_min"].data.map_blocks(np.copy))
    counter = CountingScheduler()
    with dask.config.set(scheduler=counter):
        assert validate(ds).ok
    # the value checks share two computes (chunks of fewer variables held at once), not one each
    assert counter.calls == 1 + len(LAZY_PASSES)
    assert isinstance(ds["t_min"].data, dask.array.Array)
    loaded = ds.load()
    counter.calls = 0
    with dask.config.set(scheduler=counter):
        assert validate(loaded).ok
    assert counter.calls == 0  # in memory: nothing for dask to compute


@pytest.mark.parametrize("chunks", [{"time": 6}, {"time": 1, "lat": 1, "lon": 1},
                                    {"time": 5, "lon": 1}])
@pytest.mark.parametrize("limit", [CHECK_BLOCK_BYTES, 256])
@pytest.mark.parametrize("masked", [False, True])
def test_a_dask_backed_dataset_reports_what_the_loaded_one_reports(chunks, limit, masked,
                                                                   monkeypatch):
    """Whatever the chunks, and the blocks the checks merge them into, the same problems at the
    same locations (the block limit of 256 bytes splits the variables into many blocks)."""
    monkeypatch.setattr(check_module, "in_check_blocks",
                        lambda ds, mask=None: in_check_blocks(ds, mask, limit))
    ds = make_dataset("grid")
    ds["vpd"][2, 0, 0] = np.nan  # nan: the second pass
    ds["precipitation"][1, 1, 1] = -5.0  # plausibility: the first
    ds["t_max"][4, 0, 1] = np.inf  # finite: the first
    mask = None
    if masked:  # the first location is not computed: its NaN is no problem
        mask = xr.ones_like(ds["t_min"].isel(time=0), dtype=bool)
        mask[0, 0] = False
    eager = validate(ds, mask=mask)
    lazy = validate(ds.chunk(chunks), mask=None if mask is None else mask.chunk({"lat": 1}))
    assert len(eager) == (2 if masked else 3)
    assert [str(p) for p in lazy.problems] == [str(p) for p in eager.problems]


def test_checks_read_blocks_shared_by_every_dask_backed_variable():
    ds = make_dataset("grid").chunk({"time": 1, "lat": 1, "lon": 1})
    ds["elevation"] = ds["elevation"].load()  # in memory: left as it is
    mask = xr.ones_like(ds["elevation"], dtype=bool).chunk({"lon": 1})
    merged, merged_mask = in_check_blocks(ds, mask)
    assert merged["t_min"].chunks == tuple((n,) for n in ds["t_min"].shape)  # one block
    assert merged["mean_annual_temperature"].chunks == merged["t_min"].chunks[1:]
    assert merged_mask.chunks == merged["t_min"].chunks[1:]
    assert merged["elevation"].chunks is None
    xr.testing.assert_identical(merged.compute(), ds.compute())
    small, _ = in_check_blocks(ds, limit=ds["t_min"].nbytes // 4)  # blocks under the limit
    sizes = [np.prod(b) * ds["t_min"].dtype.itemsize
             for b in itertools.product(*small["t_min"].chunks)]
    assert 1 < len(sizes) < ds["t_min"].data.npartitions and max(sizes) <= ds["t_min"].nbytes // 4
    assert small["mean_annual_temperature"].chunks == small["t_min"].chunks[1:]
    assert in_check_blocks(ds.load())[0]["t_min"].chunks is None


def test_structure_checks_do_not_compute():
    ds = make_dataset("grid", chunks={"time": 6}).drop_vars("co2")
    with dask.config.set(scheduler=raising_scheduler):
        report = validate(ds, skip=["nan", "finite", "plausibility", "hemisphere", "alignment",
                                    "constant_predictors", "overlap"])
    assert [p.variable for p in report] == ["co2"]
