"""Skill metrics comparing simulated with observed fields (used by ``model.evaluate``).

Three families of metric are computed by :func:`skill`, each over the (time, location) pairs where
both the observation and the simulation are finite, after the first ``warmup`` time steps:

* **flat** (``nse``, ``r2``, ``rmse``, ``bias``, ``n``): every valid pair pooled;
* **spatial** (``spatial_*``): each location's time mean over its valid pairs, then the same
  statistics across locations. The published DifferLand code drops a location when *any* month is
  missing; here a location is kept when it has at least ``min_count`` valid pairs and its mean is
  taken over those pairs (a deliberate difference: sparse observation records still count);
* **temporal** (``temporal_*``): the statistics along time at every location, as maps over the
  spatial dims, with their spatial medians ``median_temporal_nse`` and ``median_temporal_r2``.

``nse`` is the Nash-Sutcliffe efficiency ``1 - SSE / SST`` about the *observed* mean (equal to
``sklearn.metrics.r2_score(observed, simulated)``); ``r2`` is the squared Pearson correlation;
``bias`` is ``mean(simulated - observed)``. The arithmetic is delegated to ``xskillscore``
(``xs.r2(observed, simulated)`` is the NSE -- observed first, it is not symmetric -- and
``xs.pearson_r``, ``xs.rmse`` and ``xs.me`` with ``skipna=True``); this module only aligns, masks
and guards the inputs.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import numpy as np
import xarray as xr
import xskillscore as xs

__all__ = ["skill", "skill_table"]

_METRICS = ("nse", "r2", "rmse", "bias")
_LONG_NAMES = {
    "nse": "Nash-Sutcliffe efficiency (1 - SSE/SST about the observed mean)",
    "r2": "squared Pearson correlation coefficient",
    "rmse": "root-mean-square error",
    "bias": "mean error (simulated - observed)",
    "n": "number of valid (time, location) pairs",
}
_FAMILIES = {
    "": "{}, all valid (time, location) pairs pooled",
    "spatial_": "spatial {}, across locations of the time means",
    "temporal_": "temporal {}, along time at each location",
    "median_temporal_": "spatial median of the temporal {}",
}
_DUMMY = "_location"  # stands in for the spatial dims of a single time series


def _stats(obs: xr.DataArray, sim: xr.DataArray, dims: list[Hashable], min_count: int,
           weights: xr.DataArray | None = None) -> dict:
    """NSE, r2, RMSE, bias and count of already-masked ``obs``/``sim`` reduced over ``dims``.

    Everything is NaN where fewer than ``min_count`` pairs remain; NSE is NaN where the observation
    is constant and r2 where either side is constant (both are undefined there, and floating-point
    round-off would otherwise turn 0/0 into arbitrary numbers). ``weights`` (e.g. cell areas)
    weight each pair; those over dims not reduced here are dropped (temporal metrics are
    unweighted).
    """
    n = obs.notnull().sum(dims)
    enough = n >= min_count
    obs_varies = obs.max(dims) > obs.min(dims)
    sim_varies = sim.max(dims) > sim.min(dims)
    kw: dict = {"dim": dims, "skipna": True}
    if weights is not None and set(weights.dims) & set(dims):
        # one weight per pair, zero where the pair is missing (xskillscore normalizes)
        kw["weights"] = weights.broadcast_like(obs).where(obs.notnull(), 0.0)
    out = {
        "nse": xs.r2(obs, sim, **kw).where(enough & obs_varies),
        "r2": (xs.pearson_r(obs, sim, **kw) ** 2).where(enough & obs_varies & sim_varies),
        "rmse": xs.rmse(obs, sim, **kw).where(enough),
        "bias": xs.me(sim, obs, **kw).where(enough),
    }
    return out | {"n": n}


def _weights(weights, obs: xr.DataArray, space: list[Hashable]) -> xr.DataArray | None:
    """The weights :func:`skill` applies: ``"area"`` = cell areas on a lat/lon grid."""
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights != "area":
            raise ValueError(f"weights must be 'area', None or a DataArray, got {weights!r}")
        if not {"lat", "lon"} <= set(space) or not {"lat", "lon"} <= set(obs.coords):
            return None  # sites, pixels, patches or an unlabeled grid: locations count the same
        from .io.conventions import cell_area

        return cell_area(obs["lat"], obs["lon"]).assign_coords(lat=obs["lat"], lon=obs["lon"])
    if not isinstance(weights, xr.DataArray):
        raise TypeError(f"weights must be an xarray.DataArray, got {type(weights).__name__}")
    bad = [d for d in weights.dims if d not in obs.dims]
    if bad:
        raise ValueError(f"weights have dims {bad} that the observations lack ({obs.dims})")
    if bool((weights < 0).any()) or not bool(np.isfinite(weights).all()):
        raise ValueError("weights must be finite and non-negative")
    return weights


def _is_water(name: str) -> bool:
    """Whether a declared variable is liquid water (kept as a depth: ET, water storage)."""
    from .contract.declare import variable

    try:
        return "mm" in variable(name).units
    except KeyError:
        return False


def in_units_of(simulated: xr.DataArray, observed: xr.DataArray) -> xr.DataArray:
    """``simulated`` in the observed units, when both declare units (pint, water mass = depth).

    Raises a ValueError naming both units when they are not convertible.
    """
    obs_units, sim_units = observed.attrs.get("units"), simulated.attrs.get("units")
    if not obs_units or not sim_units or " ".join(str(obs_units).split()) == " ".join(
            str(sim_units).split()):
        return simulated
    from .errors import UnitsError
    from .contract.convert import convert_to

    name = str(observed.name or simulated.name or "simulated")
    try:
        return convert_to(simulated, str(obs_units), name=name, water=_is_water(name))
    except UnitsError:
        raise ValueError(
            f"{name}: simulated units {sim_units!r} cannot be converted to the observed units "
            f"{obs_units!r}; fix the units attribute of the one that is wrong") from None


def _prepare(observed, simulated, time_dim, spatial_dims, warmup):
    """Validate, align (inner join), drop warm-up, mask non-finite pairs and load into memory."""
    for name, da in (("observed", observed), ("simulated", simulated)):
        if not isinstance(da, xr.DataArray):
            raise TypeError(f"{name} must be an xarray.DataArray, got {type(da).__name__}")
        if time_dim not in da.dims:
            raise ValueError(f"{name} has no time dimension {time_dim!r} (dims: {da.dims})")
    if set(observed.dims) != set(simulated.dims):
        raise ValueError(f"dims differ: observed {observed.dims}, simulated {simulated.dims}")
    if spatial_dims is None:
        space = [d for d in observed.dims if d != time_dim]
    else:
        space = [spatial_dims] if isinstance(spatial_dims, str) else list(spatial_dims)
        bad = [d for d in space if d not in observed.dims or d == time_dim]
        if bad:
            raise ValueError(f"spatial_dims {bad} are not non-time dims of {observed.dims}")
    if not isinstance(warmup, (int, np.integer)) or isinstance(warmup, bool) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")

    simulated = in_units_of(simulated, observed)
    obs, sim = xr.align(observed, simulated.transpose(*observed.dims), join="inner")
    obs, sim = obs.isel({time_dim: slice(warmup, None)}), sim.isel({time_dim: slice(warmup, None)})
    if obs.sizes[time_dim] == 0:
        raise ValueError(f"no time steps left after aligning and dropping warmup={warmup}")
    # Dask: the pooled metrics need every chunk at once, so the (small, aligned) pair is loaded.
    valid = (np.isfinite(obs) & np.isfinite(sim)).compute()
    obs = obs.astype(float).where(valid).compute()
    sim = sim.astype(float).where(valid).compute()
    if not space:  # a single time series: one pseudo-location
        obs, sim, space = obs.expand_dims(_DUMMY), sim.expand_dims(_DUMMY), [_DUMMY]
    return obs, sim, space


def skill(observed: xr.DataArray, simulated: xr.DataArray, *, time_dim: Hashable = "time",
          spatial_dims: Sequence[Hashable] | None = None, warmup: int = 0,
          min_count: int = 3, weights: xr.DataArray | str | None = "area") -> xr.Dataset:
    """Flat, spatial and temporal skill of ``simulated`` against ``observed``.

    Parameters
    ----------
    observed, simulated : xarray.DataArray
        Same dims, e.g. ``(time, lat, lon)``, ``(time, site)`` or ``(time, pixel)``. They are
        aligned with an inner join on their coordinates. Only pairs where *both* are finite count.
        Dask-backed inputs are computed (after alignment and warm-up removal); the result is
        always in memory.
    time_dim : hashable, default "time"
        Name of the time dimension.
    spatial_dims : sequence of hashable, optional
        Dims that index locations; default every dim except ``time_dim``. Any remaining dim
        (e.g. an ensemble member) is kept in every result. A pure time series is allowed: its
        temporal metrics are scalars and its spatial metrics NaN (one location).
    warmup : int, default 0
        Number of leading time steps (spin-up) excluded from every metric.
    min_count : int, default 3
        Fewest valid pairs a location needs for its temporal metrics and for entering the
        spatial metrics (the time mean is taken over its valid pairs; the published code instead
        drops a location with any missing month). The flat and spatial statistics likewise need
        ``min_count`` pairs / locations.

    weights : DataArray, "area" or None, default "area"
        Weights of the locations in the flat and spatial metrics, as ``weights=`` of
        xskillscore: ``"area"`` weights the cells of a ``(lat, lon)`` grid by their area (and
        leaves sites, pixels and patches equal), ``None`` weights every pair equally, a
        DataArray over the spatial dims gives your own. Temporal metrics are never weighted.

    Returns
    -------
    xarray.Dataset
        Scalars ``nse, r2, rmse, bias, n``, ``spatial_nse, spatial_r2, spatial_rmse,
        spatial_bias, spatial_n``, ``median_temporal_nse, median_temporal_r2``; maps over the
        spatial dims ``temporal_nse, temporal_r2, temporal_rmse, temporal_bias, temporal_n``.
        NSE is NaN where the observation has zero variance and r2 where either side has; RMSE and
        bias stay defined there. Every variable has a ``long_name``; RMSE and bias carry
        ``observed.attrs["units"]`` when present: a simulation whose ``units`` differ from the
        observation's is converted to them first (a ValueError names both if they cannot be).
        ``attrs`` record ``warmup``, ``min_count``, ``time_dim`` and ``spatial_dims``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> obs = xr.DataArray(np.arange(12.0).reshape(4, 3), dims=("time", "site"),
    ...                    attrs={"units": "gC m-2 d-1"})
    >>> res = skill(obs, obs + 1.0)
    >>> float(res.bias), float(res.r2), float(res.rmse), int(res.n)
    (1.0, 1.0, 1.0, 12)
    >>> res.rmse.attrs["units"]
    'gC m-2 d-1'
    >>> res.temporal_nse.values  # each site: 1 - 4 / 45
    array([0.91111111, 0.91111111, 0.91111111])
    >>> float(skill(obs, obs, warmup=1).nse)
    1.0
    """
    if not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise ValueError(f"min_count must be a positive integer, got {min_count!r}")
    obs, sim, space = _prepare(observed, simulated, time_dim, spatial_dims, warmup)
    area = _weights(weights, obs, space)

    flat = _stats(obs, sim, [time_dim, *space], min_count, area)
    temporal = _stats(obs, sim, [time_dim], min_count)
    located = temporal["n"] >= min_count
    obs_mean = obs.mean(time_dim, skipna=True).where(located)
    sim_mean = sim.mean(time_dim, skipna=True).where(located)
    spatial = _stats(obs_mean, sim_mean, space, min_count, area)

    data = {name: flat[name] for name in (*_METRICS, "n")}
    data |= {f"spatial_{name}": spatial[name] for name in (*_METRICS, "n")}
    data |= {f"temporal_{name}": temporal[name] for name in (*_METRICS, "n")}
    for name in ("nse", "r2"):
        data[f"median_temporal_{name}"] = temporal[name].median(space, skipna=True)
    ds = xr.Dataset(data)
    if _DUMMY in ds.dims:
        ds = ds.squeeze(_DUMMY, drop=True)

    units = observed.attrs.get("units")
    for var in ds.data_vars:
        prefix, metric = next((p, var[len(p):]) for p in sorted(_FAMILIES, key=len, reverse=True)
                              if var.startswith(p))
        ds[var].attrs["long_name"] = _FAMILIES[prefix].format(_LONG_NAMES[metric])
        if metric in ("rmse", "bias") and units:
            ds[var].attrs["units"] = str(units)
        elif metric in ("nse", "r2", "n"):
            ds[var].attrs["units"] = "1"
    ds["spatial_n"].attrs["long_name"] = "number of locations in the spatial metrics"
    ds["temporal_n"].attrs["long_name"] = "number of valid time steps at each location"
    ds.attrs.update(warmup=int(warmup), min_count=int(min_count), time_dim=str(time_dim),
                    spatial_dims=" ".join(str(d) for d in space if d != _DUMMY),
                    nse_reference="observed")
    return ds


def skill_table(observed: xr.Dataset, simulated: xr.Dataset,
                variables: Iterable[Hashable] | None = None, **kwargs) -> xr.Dataset:
    """:func:`skill` for several variables, stacked along a new ``variable`` dim.

    Parameters
    ----------
    observed, simulated : xarray.Dataset
        Datasets holding the variables to compare.
    variables : iterable of hashable, optional
        Variables to score; default every data variable present in both datasets that has the
        time dim (static fields such as masks are skipped). Named variables must be in both.
    **kwargs
        Passed on to :func:`skill` (``time_dim``, ``spatial_dims``, ``warmup``, ``min_count``).

    Returns
    -------
    xarray.Dataset
        The variables of :func:`skill` with a leading ``variable`` dim (maps of variables on
        different grids are outer-joined). Units differ per variable, so RMSE and bias carry no
        ``units`` attribute here; the ``units`` coordinate along ``variable`` holds them.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.arange(6.0)
    >>> obs = xr.Dataset({"gpp": ("time", t), "nee": ("time", -t)})
    >>> table = skill_table(obs, obs + 2.0)
    >>> table.bias.to_series().to_dict()
    {'gpp': 2.0, 'nee': 2.0}
    """
    time_dim = kwargs.get("time_dim", "time")
    if variables is None:
        names = [v for v in observed.data_vars if v in simulated.data_vars
                 and time_dim in observed[v].dims and time_dim in simulated[v].dims]
    else:
        names = list(variables)
        missing = [v for v in names if v not in observed.data_vars or v not in simulated.data_vars]
        if missing:
            raise KeyError(f"variables {missing} are not in both observed and simulated")
    if not names:
        raise ValueError("no variable to score: none is present (with a time dim) in both")

    results = [skill(observed[v], simulated[v], **kwargs) for v in names]
    units = [str(observed[v].attrs.get("units", "")) for v in names]
    table = xr.concat(results, dim="variable", data_vars="all", coords="different",
                      compat="equals", join="outer", combine_attrs="drop_conflicts")
    table = table.assign_coords(variable=np.array([str(v) for v in names], dtype=str))
    for var in table.data_vars:
        if var.endswith(("rmse", "bias")):
            table[var].attrs.pop("units", None)
    return table.assign_coords(units=("variable", units))
