"""Validate a user's Dataset before anything is simulated, reporting every problem at once.

Each check is a small function ``check_*(ctx)`` over a shared :class:`_Context` (the Dataset
converted to canonical units where possible, the discovered variables, the spatial dims).
:func:`validate` runs them all and never stops at the first problem. Checks that look at values
return lazy reductions (counts, minima, first positions) that :func:`validate` computes in a single
``dask.compute``, so dask-backed data are read once and never loaded whole.
"""

from __future__ import annotations

import datetime as _dt
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import dask
import numpy as np
import pandas as pd
import xarray as xr

from .discovery import match_variables
from .errors import Problem, ValidationError
from .units import convert_units
from .variables import FORCING_REQUIRED, variable

__all__ = ["CHECKS", "ValidationReport", "validate"]


@dataclass
class ValidationReport:
    """Everything :func:`validate` found wrong (possibly nothing).

    Attributes
    ----------
    problems : list of Problem
    variables : dict
        ``{canonical_name: data_var_name}`` of the declared variables found.
    """

    problems: list[Problem] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def __len__(self) -> int:
        return len(self.problems)

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.problems)

    def __str__(self) -> str:
        if self.ok:
            return "No problems found."
        return "\n".join(str(p) for p in self.problems)

    def raise_if_any(self) -> None:
        """Raise :class:`~xdifferland.errors.ValidationError` listing all problems, if any."""
        if self.problems:
            n = len(self.problems)
            raise ValidationError(
                self.problems, header=f"The Dataset failed validation ({n} problem"
                f"{'s' if n > 1 else ''}):")


@dataclass
class _Context:
    ds: xr.Dataset  # in canonical units where the units allowed it
    found: dict[str, str]
    spatial_dims: tuple[str, ...]
    bad_units: frozenset[str] = frozenset()  # canonical names whose values are not canonical
    valid: xr.DataArray | bool = True  # locations that are computed (others may hold NaN)

    def of_role(self, *roles: str) -> dict[str, xr.DataArray]:
        return {c: self.ds[n] for c, n in self.found.items() if variable(c).role in roles}


# ----------------------------------------------------------------------------- labels
def _label(value) -> str:
    """A coordinate value as a user would type it (dates without a midnight time)."""
    if isinstance(value, np.datetime64):
        value = value.astype("datetime64[us]").item()  # -> datetime.datetime
    if hasattr(value, "strftime"):  # datetime and cftime alike
        midnight = (value.hour, value.minute, value.second) == (0, 0, 0)
        return value.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, (float, np.floating)):
        return str(float(value))
    if isinstance(value, (np.integer, np.bool_)):
        return str(value.item())
    return str(value)


def _location(da: xr.DataArray, flat_index: int) -> str:
    """``"time=2001-03-01, lat=10.5, lon=20.0"`` for a flat index into ``da``."""
    if da.ndim == 0:
        return "(scalar)"
    position = np.unravel_index(int(flat_index), da.shape)
    parts = []
    for dim, i in zip(da.dims, position):
        labels = da.indexes.get(dim)
        parts.append(f"{dim}={_label(labels[i]) if labels is not None else int(i)}")
    return ", ".join(parts)


@dataclass
class _Deferred:
    """Result of a check that needs data values: lazy reductions plus how to read them.

    :func:`validate` computes the ``lazy`` parts of all checks in a single ``dask.compute``, so
    chunks shared by several checks are read once.
    """

    lazy: object  # any pytree of NumPy/dask reductions
    finish: Callable[[object], list[Problem]]


def _offenders(arrays: Mapping[str, xr.DataArray], predicate,
               problem: Callable[[str, int, str], Problem]) -> _Deferred:
    """Problems for the arrays where ``predicate`` holds somewhere: count and first location."""
    masks = {name: predicate(da) for name, da in arrays.items() if da.size}
    # argmax without an axis is the flat index of the first True, for NumPy and dask alike.
    lazy = {name: (m.data.sum(), m.data.argmax()) for name, m in masks.items()}

    def finish(computed):
        return [problem(name, int(n), _location(masks[name], i))
                for name, (n, i) in computed.items() if n]

    return _Deferred(lazy, finish)


# ----------------------------------------------------------------------------- checks
def check_required_forcing(ctx: _Context) -> list[Problem]:
    """Every variable of FORCING_REQUIRED must be present."""
    problems = []
    for name in FORCING_REQUIRED:
        if name in ctx.found:
            continue
        v = variable(name)
        looked = [name, *v.aliases] + ([f"standard_name={v.standard_name}"]
                                       if v.standard_name else [])
        problems.append(Problem(
            name, f"required forcing ({v.long_name}, {v.units}) is missing; looked for "
            f"{', '.join(looked)}.",
            f"add it to the Dataset, or point to the variable that holds it with "
            f"roles={{{name!r}: '<data variable>'}}."))
    return problems


def check_dims(ctx: _Context) -> list[Problem]:
    """Forcing and observations need ``time``; predictors must not have it; no stray dims."""
    problems = []
    allowed_space = set(ctx.spatial_dims)
    for canonical, name in ctx.found.items():
        v, da = variable(canonical), ctx.ds[name]
        dims = tuple(map(str, da.dims))
        if v.role == "forcing" and "time" not in dims:
            problems.append(Problem(
                canonical, f"forcing {name!r} has dims {dims} without 'time'.",
                "give it a 'time' dimension (e.g. rename its time dim: "
                f"ds[{name!r}].rename({{'<dim>': 'time'}}) or expand_dims('time')."))
        if v.role == "predictor" and "time" in dims:
            problems.append(Problem(
                canonical, f"predictor {name!r} varies in time (dims {dims}); predictors are "
                "static per location.",
                f"reduce it over time first, e.g. ds[{name!r}].mean('time')."))
        time_like = {"time"} | ({d for d in dims if _is_time_dim(da, d)}
                                if v.role in ("observation", "uncertainty") else set())
        extra = [d for d in dims if d not in allowed_space and d not in time_like]
        if extra:
            problems.append(Problem(
                canonical, f"{name!r} has dims {dims}; {extra} are neither 'time' nor the "
                f"spatial dims {ctx.spatial_dims}.",
                f"select or reduce over {extra} (e.g. ds[{name!r}].isel({extra[0]}=0)), or pass "
                "spatial_dims= to validate()."))
    return problems


def _is_time_dim(da: xr.DataArray, dim: str) -> bool:
    index = da.indexes.get(dim)
    return isinstance(index, (pd.DatetimeIndex, xr.CFTimeIndex))


def _steps_in_days(values: np.ndarray) -> np.ndarray:
    steps = np.diff(values)
    if np.issubdtype(steps.dtype, np.timedelta64):
        return steps / np.timedelta64(1, "D")
    if steps.dtype == object:  # cftime differences are datetime.timedelta
        return np.array([s / _dt.timedelta(days=1) for s in steps], dtype=float)
    return steps.astype(float)  # undecoded numeric time: assume its own units


def check_time(ctx: _Context) -> list[Problem]:
    """The forcing time axis must be strictly increasing and regular (daily, monthly, ...)."""
    if not any("time" in da.dims for da in ctx.of_role("forcing").values()):
        return []
    if "time" not in ctx.ds.indexes:
        return [Problem("time", "the 'time' dimension has no coordinate values, so steps cannot "
                        "be checked.", "assign them, e.g. ds.assign_coords(time=...).")]
    time = ctx.ds["time"]
    if time.size < 2:
        return []
    values = time.values
    steps = _steps_in_days(values)
    bad = np.flatnonzero(~(steps > 0))
    if bad.size:
        i = int(bad[0])
        return [Problem("time", f"is not strictly increasing: {_label(values[i])} is followed by "
                        f"{_label(values[i + 1])} ({bad.size} such step(s)).",
                        "sort and de-duplicate it: ds.sortby('time').drop_duplicates('time').")]
    if np.allclose(steps, steps[0], rtol=0, atol=1e-6):
        return []  # constant step: daily, 8-daily, the 30-day steps of the parity data ...
    monthly = _monthly_steps(time, steps)
    if monthly.all():
        return []
    common = float(np.median(steps))
    if 28 <= common <= 31:  # mostly calendar months: the odd step is one that is not
        i, typical = int(np.flatnonzero(~monthly)[0]), "one calendar month"
    else:
        i = int(np.flatnonzero(~np.isclose(steps, common, rtol=0, atol=1e-6))[0])
        typical = f"{common:g} days"
    return [Problem(
        "time", f"is irregular: the step from {_label(values[i])} to {_label(values[i + 1])} is "
        f"{steps[i]:g} days while the typical step is {typical}.",
        "resample to a regular step (e.g. ds.resample(time='1D').mean() or '1MS') or fill the "
        "gaps with ds.reindex(time=...).")]


def _monthly_steps(time: xr.DataArray, steps: np.ndarray) -> np.ndarray:
    """Which steps are calendar-monthly: 28 to 31 days, between consecutive calendar months.

    Month-start, mid-month and month-end labels all qualify, whatever the calendar.
    """
    ok = (steps >= 28) & (steps <= 31)
    try:
        months = time.dt.year.values * 12 + time.dt.month.values
    except (AttributeError, TypeError):  # numeric time: the step lengths are all we have
        return ok
    return ok & (np.diff(months) == 1)


def valid_locations(ds: xr.Dataset, found: Mapping[str, str], spatial_dims: tuple[str, ...],
                    mask: xr.DataArray | None = None) -> xr.DataArray | bool:
    """Locations that will be computed: inside ``mask`` and with at least one predictor value.

    A location whose predictors are all NaN is an invalid pixel (e.g. ocean) and is skipped; a
    location with only *some* predictors missing is a data problem and is reported.
    """
    predictors = [ds[n] for c, n in found.items() if variable(c).role == "predictor"
                  and "time" not in ds[n].dims]
    valid: xr.DataArray | bool = True
    if predictors:
        valid = ~xr.concat([p.isnull() for p in predictors], dim="__predictor__",
                           coords="minimal", compat="override").all("__predictor__")
    if mask is not None:
        valid = mask.astype(bool) & valid
    return valid


def check_nan(ctx: _Context) -> _Deferred:
    """No NaN in forcing or predictors (the simulation and the network cannot skip them)."""
    arrays = ctx.of_role("forcing", "predictor")
    return _offenders(arrays, lambda da: da.isnull() & ctx.valid, lambda c, n, where: Problem(
        c, f"{ctx.found[c]!r} has {n} NaN value(s); the first at {where}.",
        f"fill them (e.g. ds[{ctx.found[c]!r}].interpolate_na('time') for forcing) or drop the "
        "locations that have them before fitting."))


def check_precipitation(ctx: _Context) -> _Deferred:
    """Precipitation cannot be negative."""
    arrays = {c: da for c, da in ctx.of_role("forcing").items()
              if c == "precipitation" and c not in ctx.bad_units}
    return _offenders(arrays, lambda da: da < 0, lambda c, n, where: Problem(
        c, f"{ctx.found[c]!r} has {n} negative value(s); the first at {where}.",
        "check the sign convention, or clip tiny negatives from reanalysis: "
        f"ds[{ctx.found[c]!r}] = ds[{ctx.found[c]!r}].clip(min=0)."))


def check_burned_area(ctx: _Context) -> _Deferred:
    """Burned area is a fraction of the cell per step, within [0, 1]."""
    arrays = {c: da for c, da in ctx.of_role("forcing").items()
              if c == "burned_area" and c not in ctx.bad_units}
    return _offenders(arrays, lambda da: (da < 0) | (da > 1), lambda c, n, where: Problem(
        c, f"{ctx.found[c]!r} has {n} value(s) outside [0, 1]; the first at {where}.",
        f"if it is a percentage set ds[{ctx.found[c]!r}].attrs['units'] = '%'; if it is an area, "
        "divide by the cell area; otherwise clip it to [0, 1]."))


def check_constant_predictors(ctx: _Context) -> _Deferred:
    """A predictor with the same value at every valid location cannot be standardized."""
    lazy = {c: (da.min().data, da.max().data, da.count().data)
            for c, da in ctx.of_role("predictor").items() if da.size}

    def finish(computed):
        return [
            Problem(c, f"{ctx.found[c]!r} has the same value ({float(low):g}) at all "
                    f"{int(count)} valid locations, so it cannot be standardized.",
                    f"drop it (ds.drop_vars({ctx.found[c]!r})) or use predictor groups without it.")
            for c, (low, high, count) in computed.items()
            if count >= 2 and low == high  # a single location is "constant" by necessity
        ]

    return _Deferred(lazy, finish)


def check_overlap(ctx: _Context) -> list[Problem] | _Deferred:
    """Each time-varying observation must have valid values within the forcing period."""
    forcing_times = [da["time"].values for da in ctx.of_role("forcing").values()
                     if "time" in da.dims and "time" in da.indexes]
    if not forcing_times:
        return []
    start, end = forcing_times[0][0], forcing_times[0][-1]
    period = f"{_label(start)} to {_label(end)}"
    disjoint, any_valid = [], {}
    for c, da in ctx.of_role("observation").items():
        name = ctx.found[c]
        if "time" in da.dims:  # shares the forcing time axis: look for one valid value
            any_valid[c] = da.notnull().data.any()
            continue
        other = next((d for d in da.dims if _is_time_dim(da, d)), None)
        if other is None:
            continue  # static observation (e.g. soil carbon): nothing to overlap
        t = da[other].values
        if t.size and (t.max() < start or t.min() > end):
            disjoint.append(Problem(
                c, f"{name!r} covers {_label(t.min())} to {_label(t.max())} along {other!r}, "
                f"which does not intersect the forcing period {period}.",
                "use observations from the forcing period, or extend the forcing."))

    def finish(computed):
        return disjoint + [
            Problem(c, f"{ctx.found[c]!r} has no valid value in the forcing period {period}.",
                    f"check that it covers the forcing period, or drop it "
                    f"(ds.drop_vars({ctx.found[c]!r})).")
            for c, valid in computed.items() if not valid]

    return _Deferred(any_valid, finish)


#: Checks run by :func:`validate` (names usable in ``skip=``), in reporting order.
def check_latitude(ctx: _Context) -> list[Problem]:
    """A latitude coordinate exists (day length and the hemisphere indicator need it)."""
    if not ctx.found or not any(c in ctx.ds.variables for c in ("lat", "latitude")):
        try:
            ctx.ds.cf["latitude"]
        except (KeyError, AttributeError):
            if ctx.found:
                return [Problem("latitude", "no latitude coordinate found.",
                                "add a 'lat' or 'latitude' coordinate in degrees north over "
                                f"{ctx.spatial_dims or 'the location dims'}")]
    return []


CHECKS: dict[str, Callable[[_Context], list[Problem] | _Deferred]] = {
    "required_forcing": check_required_forcing,
    "latitude": check_latitude,
    "dims": check_dims,
    "time": check_time,
    "nan": check_nan,
    "precipitation": check_precipitation,
    "burned_area": check_burned_area,
    "constant_predictors": check_constant_predictors,
    "overlap": check_overlap,
}


def _infer_spatial_dims(ds: xr.Dataset, found: Mapping[str, str]) -> tuple[str, ...]:
    # The dims of the forcing (else the predictors) define the spatial layout: (lat, lon) on a
    # grid, (site,) for sites. Whatever else appears elsewhere is then reported by check_dims.
    for role in ("forcing", "predictor"):
        names = [n for c, n in found.items() if variable(c).role == role]
        if names:
            first = ds[names[0]]
            return tuple(str(d) for d in first.dims if d != "time")
    return tuple(str(d) for d in ds.dims if d != "time")


def validate(
    ds: xr.Dataset,
    roles: Mapping[str, str] | None = None,
    *,
    spatial_dims: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    mask: xr.DataArray | None = None,
) -> ValidationReport:
    """Check a Dataset for everything that would make a simulation fail or mislead.

    Discovery and unit problems (:mod:`xdifferland.discovery`, :mod:`xdifferland.units`) are
    folded into the same report, followed by the checks in :data:`CHECKS`. Value checks run on
    the data converted to canonical units, so a burned area in ``%`` is judged as a fraction.

    Parameters
    ----------
    ds : xarray.Dataset
        The user's data (NumPy- or dask-backed).
    roles : mapping, optional
        Explicit ``{canonical_name: data_var_name}`` choices (see
        :func:`xdifferland.discovery.find_variables`).
    spatial_dims : iterable of str, optional
        The dims that index locations, e.g. ``("lat", "lon")`` or ``("site",)``. By default the
        non-time dims of the first forcing variable found.
    skip : iterable of str, optional
        Names of checks in :data:`CHECKS` not to run.
    mask : DataArray of bool, optional
        Locations to compute. Locations outside it, and locations where *every* predictor is
        NaN (ocean, ice, no data), are left out of computation, so NaN there is not a problem.

    Returns
    -------
    ValidationReport
        Call :meth:`ValidationReport.raise_if_any` to turn problems into a
        :class:`~xdifferland.errors.ValidationError`.

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> time = pd.date_range("2001-01-01", periods=3, freq="D")
    >>> ds = xr.Dataset({"TOTAL_PREC": ("time", [1.0, -2.0, np.nan], {"units": "mm/day"})},
    ...                 coords={"time": time})
    >>> report = validate(ds, skip=["required_forcing"])
    >>> for p in report:
    ...     print(p.variable, "|", p.message)
    precipitation | 'TOTAL_PREC' has 1 NaN value(s); the first at time=2001-01-03.
    precipitation | 'TOTAL_PREC' has 1 negative value(s); the first at time=2001-01-02.
    """
    skip = {skip} if isinstance(skip, str) else set(skip)
    unknown = skip - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown check(s) {sorted(unknown)}; choose from {list(CHECKS)}")
    found, problems = match_variables(ds, roles)
    converted, unit_problems = convert_units(ds, found=found)
    problems += unit_problems
    dims = (tuple(spatial_dims) if spatial_dims is not None
            else _infer_spatial_dims(ds, found))
    ctx = _Context(converted, found, dims, frozenset(p.variable for p in unit_problems),
                   valid_locations(converted, found, dims, mask))
    results = [check(ctx) for name, check in CHECKS.items() if name not in skip]
    deferred = [r for r in results if isinstance(r, _Deferred)]
    with warnings.catch_warnings():
        # min/max of an all-NaN predictor warns; that NaN is reported by check_nan already.
        warnings.simplefilter("ignore", RuntimeWarning)
        computed = iter(dask.compute(*(d.lazy for d in deferred)))  # one pass over the data
    for r in results:
        problems += r.finish(next(computed)) if isinstance(r, _Deferred) else r
    return ValidationReport(problems, dict(found))
