"""The xarray ↔ JAX boundary: the one module where labeled data meet the engine.

Everything on the xarray side (discovery, units, validation, stacking spatial dims into ``pixel``,
the time axis) ends here in plain NumPy blocks; everything on the engine side starts here from
named pytrees. No xarray or pint object crosses into :mod:`xdifferland.engine`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import xarray as xr

__all__ = [
    "TIME_REFERENCE",
    "TimeAxis",
    "time_axis",
    "spatial_dims_of",
    "stack_pixels",
    "unstack_pixels",
    "simulate_block",
    "FORCING_INPUTS",
    "STATIC_INPUTS",
]

#: Phenology timing is absolute in time (spec 12.18): days are counted from this date.
TIME_REFERENCE = np.datetime64("2000-01-01", "ns")

#: Time-varying engine inputs taken from the Dataset, in :class:`~xdifferland.engine.Forcing` order.
FORCING_INPUTS = ("time_days", "t_min", "t_max", "shortwave_radiation", "co2", "day_of_year",
                  "burned_area", "vpd", "precipitation")
#: Per-pixel engine inputs.
STATIC_INPUTS = ("latitude", "delta_t", "mean_temperature", "mean_precipitation")

_MONTHLY_STEP = 30.0  # DALEC993's model month (360-day year), as in the published model


@dataclass(frozen=True)
class TimeAxis:
    """Time information the engine needs, derived from a time coordinate."""

    time_days: xr.DataArray  #: days since TIME_REFERENCE at the middle of each step
    day_of_year: xr.DataArray
    delta_t: float  #: step length in days
    frequency: str  #: "daily", "monthly" or "other"


def _days_since_reference(values: np.ndarray) -> np.ndarray:
    """Days since 2000-01-01 for datetime64 or cftime values (any shape)."""
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.datetime64):
        return (values.astype("datetime64[ns]") - TIME_REFERENCE) / np.timedelta64(1, "D")
    flat = values.ravel()
    first = flat[0]
    reference = type(first)(2000, 1, 1, calendar=first.calendar)
    days = np.array([(v - reference).total_seconds() / 86400.0 for v in flat])
    return days.reshape(values.shape)


def _day_of_year(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.datetime64):
        return np.asarray(
            xr.DataArray(values.ravel()).dt.dayofyear.values, float).reshape(values.shape)
    return np.array([v.timetuple().tm_yday for v in values.ravel()], float).reshape(values.shape)


def time_axis(time: xr.DataArray) -> TimeAxis:
    """Derive step length, mid-step times and day of year from a time coordinate.

    Daily data get Δt = 1 day. Monthly data get DALEC993's model month of 30 days (as in the
    published model), and each step is placed at the middle of its calendar month so day length
    and phenology see mid-month conditions whatever the time stamps (month start or middle).
    Other regular spacings use the spacing itself. ``time`` may be 1-D, or 2-D ``(time, site)``
    for site lists aligned by step (each site with its own calendar dates).

    Examples
    --------
    >>> import pandas as pd, xarray as xr
    >>> t = xr.DataArray(pd.date_range("2001-01-01", periods=3, freq="MS"), dims="time")
    >>> axis = time_axis(t)
    >>> axis.frequency, axis.delta_t, axis.day_of_year.values.tolist()
    ('monthly', 30.0, [16.5, 46.0, 75.5])
    """
    days = _days_since_reference(time.values)
    first_column = days if days.ndim == 1 else days[:, 0]
    step = float(np.median(np.diff(first_column))) if first_column.size > 1 else 1.0
    if abs(step - 1.0) < 1e-6:
        frequency, delta_t, middle = "daily", 1.0, days
    elif 27.5 <= step <= 31.5:
        frequency, delta_t = "monthly", _MONTHLY_STEP
        middle = _month_middles(time.values)
    else:
        frequency, delta_t, middle = "other", step, days
    doy = _day_of_year(time.values) if frequency != "monthly" else _month_middle_doy(time.values)
    return TimeAxis(
        time_days=time.copy(data=middle),
        day_of_year=time.copy(data=doy),
        delta_t=delta_t,
        frequency=frequency,
    )


def _month_middles(values: np.ndarray) -> np.ndarray:
    """Days since the reference at the middle of each value's calendar month."""
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.datetime64):
        start = values.astype("datetime64[M]")
        end = start + np.timedelta64(1, "M")
        return (_days_since_reference(start.astype("datetime64[ns]"))
                + _days_since_reference(end.astype("datetime64[ns]"))) / 2.0
    out = []
    for v in values.ravel():
        start = type(v)(v.year, v.month, 1, calendar=v.calendar)
        nxt = type(v)(v.year + v.month // 12, v.month % 12 + 1, 1, calendar=v.calendar)
        out.append((_days_since_reference(np.array([start]))[0]
                    + _days_since_reference(np.array([nxt]))[0]) / 2.0)
    return np.array(out).reshape(values.shape)


def _month_middle_doy(values: np.ndarray) -> np.ndarray:
    """Day of year at the middle of each value's calendar month."""
    values = np.asarray(values)
    middles = _month_middles(values)
    if np.issubdtype(values.dtype, np.datetime64):
        year_start = values.astype("datetime64[Y]").astype("datetime64[ns]")
        return middles - _days_since_reference(year_start) + 1.0
    starts = np.array([type(v)(v.year, 1, 1, calendar=v.calendar) for v in values.ravel()])
    return middles - _days_since_reference(starts).reshape(values.shape) + 1.0


def spatial_dims_of(ds: xr.Dataset, variable: str) -> tuple[str, ...]:
    """The non-time dims of ``variable``, e.g. ``("lat", "lon")`` or ``("site",)``."""
    return tuple(d for d in ds[variable].dims if d != "time")


def stack_pixels(obj, spatial_dims: Sequence[str]):
    """Stack the spatial dims into one ``pixel`` dim (the engine's batch axis)."""
    return obj.stack(pixel=tuple(spatial_dims))


def unstack_pixels(obj, spatial_dims: Sequence[str]):
    """Inverse of :func:`stack_pixels`; dims ordered ``(time, *spatial)`` where time exists."""
    out = obj.unstack("pixel")
    order = (("time",) if "time" in out.dims else ()) + tuple(spatial_dims)
    return out.transpose(*order, ...)


def _engine_inputs(arrays, n_forcing: int, n_static: int):
    """Engine ``Forcing`` and ``Parameters`` from NumPy blocks, and the valid-pixel mask.

    Pixels with any non-finite input are run on benign stand-in values (so the block keeps its
    shape and compiles once); callers set their results to NaN.
    """
    import jax.numpy as jnp

    from ..engine import Forcing, Parameters, midpoint_parameters

    # Straight to the engine's dtype: no float64 copies of a block (a 25,000-pixel block of
    # 168 months is 17 MB per float32 field), and none at all when every pixel is valid.
    dtype = np.dtype(jnp.result_type(float))
    forcing_blocks = [np.asarray(a, dtype) for a in arrays[:n_forcing]]
    static = [np.asarray(a, dtype) for a in arrays[n_forcing:n_forcing + n_static]]
    params = [np.asarray(a, dtype) for a in arrays[n_forcing + n_static:]]
    n_pixels = forcing_blocks[0].shape[0]
    valid = np.ones(n_pixels, bool)
    for a in forcing_blocks:
        valid &= np.isfinite(a).all(axis=1)
    for a in static + params:
        valid &= np.isfinite(a)
    if not valid.all():
        # copies (the blocks may be the caller's arrays): stand-in values are written into them
        forcing_blocks, static, params = ([a.copy() for a in group]
                                          for group in (forcing_blocks, static, params))
        donor = int(np.argmax(valid)) if valid.any() else None
        middle = midpoint_parameters(1)
        for a in forcing_blocks + static:
            a[~valid] = a[donor] if donor is not None else 1.0
        for a, mid in zip(params, middle):
            a[~valid] = float(mid[0])
    engine_forcing = Forcing(
        *(jnp.asarray(a.T) for a in forcing_blocks),
        *(jnp.asarray(a) for a in static),
    )
    return engine_forcing, Parameters(*(jnp.asarray(a) for a in params)), valid


def simulate_block(*arrays: np.ndarray, outputs: tuple[str, ...], mass_conserving: bool,
                   water_stress: tuple | None = None, n_forcing: int = len(FORCING_INPUTS),
                   n_static: int = len(STATIC_INPUTS)):
    """NumPy kernel for :func:`xarray.apply_ufunc`: one block of pixels through the engine.

    ``arrays`` are the forcing blocks ``(pixel, time)`` in :data:`FORCING_INPUTS` order, the static
    blocks ``(pixel,)`` in :data:`STATIC_INPUTS` order, then the 40 parameter blocks ``(pixel,)``
    in registry order. Pixels with any non-finite input are run on benign stand-in values (so
    the block keeps its shape and compiles once) and come back as NaN. Returns one
    ``(pixel, time)`` array per requested output.
    """
    import jax.numpy as jnp

    from ..engine import simulate

    engine_forcing, engine_params, valid = _engine_inputs(arrays, n_forcing, n_static)
    dtype = jnp.result_type(float)
    variant, stress_weights = water_stress or ("default", None)
    run = simulate(engine_params, engine_forcing, outputs, mass_conserving=mass_conserving,
                   water_stress=variant, stress_weights=stress_weights)
    results = []
    for name in outputs:
        values = np.asarray(run.outputs[name]).T.astype(np.result_type(dtype), copy=True)
        values[~valid] = np.nan
        results.append(values)
    return tuple(results)


#: Pixels per pass of :func:`fisher_block`: the Jacobian it holds is 40 x streams x time x pixels
#: floats (about 160 MB for 3 streams, 168 months and 2,048 pixels), whatever the dask chunk.
FISHER_PIXELS = 2048


def fisher_block(*arrays: np.ndarray, noise: dict, warmup: int, mass_conserving: bool,
                 n_forcing: int = len(FORCING_INPUTS), n_static: int = len(STATIC_INPUTS)):
    """NumPy kernel for :func:`xarray.apply_ufunc`: Fisher information of one block of pixels.

    ``arrays`` as in :func:`simulate_block`. Returns ``(pixel, 40, 40)`` float64, NaN for
    pixels with non-finite inputs (see :func:`xdifferland.engine.fisher_information`). Large
    blocks are processed :data:`FISHER_PIXELS` at a time, the last pass padded to the same size
    so that one compilation serves them all.
    """
    from ..engine import fisher_information

    n_pixels = np.shape(arrays[0])[0]
    size = min(n_pixels, FISHER_PIXELS)
    out = np.empty((n_pixels, 40, 40), np.float64)
    for start in range(0, n_pixels, size):
        rows = np.arange(start, start + size).clip(max=n_pixels - 1)  # pad with the last pixel
        part = [np.asarray(a)[rows] if np.ndim(a) and np.shape(a)[0] == n_pixels else a
                for a in arrays]
        engine_forcing, engine_params, valid = _engine_inputs(part, n_forcing, n_static)
        info = np.array(fisher_information(engine_params, engine_forcing, noise, warmup=warmup,
                                           mass_conserving=mass_conserving), np.float64)
        info[~valid] = np.nan
        keep = min(size, n_pixels - start)
        out[start:start + keep] = info[:keep]
    return out
