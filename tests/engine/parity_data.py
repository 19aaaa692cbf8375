"""Loaders that turn the shared parity files into engine pytrees (test helpers, not tests)."""

from __future__ import annotations

from functools import lru_cache

import jax.numpy as jnp
import xarray as xr

from tests.conftest import PARITY
from xdifferland.engine import Forcing, Parameters
from xdifferland.registry import HEADS

# Columns of the parity files' ``forcing`` variable → engine Forcing fields.
MET_VAR_TO_FIELD = {
    "time_days": "time_days", "t_min": "t_min", "t_max": "t_max",
    "swrad": "shortwave_radiation", "co2": "co2", "doy": "day_of_year",
    "burned_area": "burned_area", "vpd": "vpd", "precip": "precipitation", "lat": "latitude",
    "delta_t": "delta_t", "t_mean": "mean_temperature", "precip_mean": "mean_precipitation",
}


@lru_cache(maxsize=None)
def open_parity(name: str) -> xr.Dataset:
    return xr.open_dataset(PARITY / name).load()


def parameters_from(ds: xr.Dataset, which: str = "") -> dict:
    """Physical (``which=""``) or raw (``which="raw_"``) values per registry name, (set,) arrays."""
    values = {}
    for head, var in (("process", "parameters"), ("phenology", "phenology"),
                      ("initial_pools", "initial_pools")):
        data = ds[which + var].values
        for j, name in enumerate(HEADS[head]):
            values[name] = data[:, j]
    return values


def parity_parameters(ds: xr.Dataset) -> Parameters:
    return Parameters(**{k: jnp.asarray(v) for k, v in parameters_from(ds).items()})


def parity_forcing(forcing: xr.DataArray, n_pixels: int) -> Forcing:
    """Forcing (time, met_var) of one climate, repeated over ``n_pixels`` parameter sets."""
    columns = {}
    for met_var, field in MET_VAR_TO_FIELD.items():
        column = jnp.asarray(forcing.sel(met_var=met_var).values)[:, None]
        columns[field] = jnp.broadcast_to(column, (column.shape[0], n_pixels))
    return Forcing(**columns)


def parity_cases():
    """(file, climate index or None) for every forcing in the parity files."""
    return [("dalec993_monthly.nc", c) for c in range(6)] + [("dalec993_daily_US-Var.nc", None)]


def load_case(name: str, climate):
    """Parameters, forcing and reference outputs (set, time, output) of one parity forcing."""
    ds = open_parity(name)
    params = parity_parameters(ds)
    n = ds.sizes["parameter_set"]
    if climate is None:
        return params, parity_forcing(ds.forcing, n), ds.outputs, ds.final_pools
    return (params, parity_forcing(ds.forcing.isel(climate=climate), n),
            ds.outputs.isel(climate=climate), ds.final_pools.isel(climate=climate))
