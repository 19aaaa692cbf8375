"""Small synthetic Datasets for boundary tests (discovery, units, validation).

``make_dataset`` builds a valid input: all required forcing (plus burned area) in canonical
units, a few varying predictors and two observations, on a grid ``(time, lat, lon)`` or at sites
``(time, site)``. Tests then break one thing at a time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from xdifferland.contract.declare import variable

FORCING = ("t_min", "t_max", "shortwave_radiation", "co2", "burned_area", "vpd", "precipitation")
PREDICTORS = ("needleleaf_forest", "grassland", "mean_annual_temperature", "elevation", "sand")
OBSERVATIONS = ("gpp", "lai")


def _time(n_time: int, freq: str, calendar: str | None):
    if calendar is None:
        return pd.date_range("2001-01-01", periods=n_time, freq=freq)
    return xr.date_range("2001-01-01", periods=n_time, freq=freq, calendar=calendar,
                         use_cftime=True)


def make_dataset(
    layout: str = "grid",
    n_time: int = 24,
    *,
    freq: str = "MS",
    calendar: str | None = None,
    chunks: dict | None = None,
    predictors: bool = True,
    observations: bool = True,
    seed: int = 0,
) -> xr.Dataset:
    """A valid Dataset with canonical names and units.

    ``layout="grid"`` gives dims (time, lat=2, lon=3); ``"site"`` gives (time, site=4).
    ``calendar`` (e.g. ``"noleap"``) switches to a cftime time axis; ``chunks`` makes it
    dask-backed.
    """
    rng = np.random.default_rng(seed)
    if layout == "grid":
        space = {"lat": np.array([10.5, 11.5]), "lon": np.array([20.0, 21.0, 22.0])}
    elif layout == "site":
        space = {"site": np.array(["US-Var", "DE-Tha", "AU-How", "BE-Vie"])}
    else:
        raise ValueError(layout)
    sdims = tuple(space)
    sshape = tuple(len(v) for v in space.values())
    shape = (n_time, *sshape)
    tdims = ("time", *sdims)

    t_min = 5.0 + 10.0 * rng.random(shape)
    data = {
        "t_min": t_min,
        "t_max": t_min + 5.0 + rng.random(shape),
        "shortwave_radiation": 5.0 + 20.0 * rng.random(shape),
        "co2": np.full(shape, 380.0) + np.arange(n_time).reshape(-1, *[1] * len(sdims)),
        "burned_area": 0.01 * rng.random(shape),
        "vpd": 0.2 + 2.0 * rng.random(shape),
        "precipitation": 5.0 * rng.random(shape),
    }
    ds = xr.Dataset(coords={"time": _time(n_time, freq, calendar), **space})
    if layout == "site":
        ds = ds.assign_coords(
            latitude=("site", np.array([38.4, 51.0, -12.5, 50.3]), {"units": "degrees_north"}),
            longitude=("site", np.array([-120.9, 13.6, 131.2, 6.0]), {"units": "degrees_east"}))
    for name, values in data.items():
        ds[name] = (tdims, values, {"units": variable(name).units})
    if predictors:
        for name in PREDICTORS:
            v = variable(name)
            values = rng.random(sshape)
            if name == "mean_annual_temperature":
                values = 30 * values - 5
            elif name == "elevation":
                values = 2000 * values
            ds[name] = (sdims, values, {"units": v.units})
    if observations:
        ds["gpp"] = (tdims, 10 * rng.random(shape), {"units": variable("gpp").units})
        ds["lai"] = (tdims, 6 * rng.random(shape), {"units": variable("lai").units})
    if chunks is not None:
        ds = ds.chunk(chunks)
    return ds


def raising_scheduler(dsk, keys, **kwargs):
    """A dask scheduler that fails: with ``dask.config.set(scheduler=...)`` it proves laziness."""
    raise AssertionError("dask graph was computed")


class CountingScheduler:
    """A synchronous dask scheduler that counts how many times it is asked to compute."""

    def __init__(self):
        import dask

        self.calls = 0
        self._get = dask.get

    def __call__(self, dsk, keys, **kwargs):
        self.calls += 1
        return self._get(dsk, keys, **kwargs)
