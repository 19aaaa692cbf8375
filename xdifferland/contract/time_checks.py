"""Checks of the time axis: regular steps, observations aligned with and overlapping the forcing.

Observations are often merged into the forcing with :func:`xarray.merge`, which takes the *union*
of the time axes. When the observations' steps are not the forcing's (shifted, another step
length, a longer period), the merged axis gets steps where the forcing has no value at all. Those
steps are reported once, as a misalignment of the observation that brought them in (which
variable, its period against the forcing's, how to align it), not as an irregular time axis or as
NaN in every forcing variable: :func:`check_time` judges regularity on the forcing's own steps and
the NaN check leaves such steps to :func:`check_alignment`.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import pandas as pd
import xarray as xr

from ._checks import Context, Deferred, label
from ..errors import Problem

__all__ = ["check_alignment", "check_overlap", "check_time"]


def is_time_dim(da: xr.DataArray, dim: str) -> bool:
    """Whether ``dim`` of ``da`` is indexed by dates (NumPy or cftime).

    Examples
    --------
    >>> years = xr.DataArray([1.0, 2.0], coords={"year": pd.date_range("2001", periods=2,
    ...                                                           freq="YS")}, dims="year")
    >>> is_time_dim(years, "year")
    True
    """
    index = da.indexes.get(dim)
    return isinstance(index, (pd.DatetimeIndex, xr.CFTimeIndex))


def _as_days(values: np.ndarray) -> np.ndarray:
    """Times as float days since the first (undecoded numeric time: in its own units)."""
    if values.size == 0:
        return np.zeros(0)
    offsets = values - values[0]
    if np.issubdtype(offsets.dtype, np.timedelta64):
        return offsets / np.timedelta64(1, "D")
    if offsets.dtype == object:  # cftime differences are datetime.timedelta
        return np.array([s / _dt.timedelta(days=1) for s in offsets], dtype=float)
    return offsets.astype(float)


def _steps_in_days(values: np.ndarray) -> np.ndarray:
    return np.diff(_as_days(values))


def _text_time(values: np.ndarray) -> bool:
    """Whether a time coordinate holds something other than dates or numbers (e.g. strings)."""
    if values.dtype.kind in "Mmiuf":
        return False
    return not all(hasattr(v, "strftime") or isinstance(v, (int, float, np.number))
                   for v in values.ravel()[:50])


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


def _irregular(time: xr.DataArray) -> list[Problem]:
    """The irregular-step problem of a strictly increasing axis, if its steps are irregular."""
    values = time.values
    if values.size < 3:
        return []
    steps = _steps_in_days(values)
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
        "time", f"is irregular: the step from {label(values[i])} to {label(values[i + 1])} is "
        f"{steps[i]:g} days while the typical step is {typical}.",
        "resample to a regular step (e.g. ds.resample(time='1D').mean() or '1MS') or fill the "
        "gaps with ds.reindex(time=...).")]


def check_time(ctx: Context) -> list[Problem] | Deferred:
    """The forcing time axis must be strictly increasing and regular (daily, monthly, ...)."""
    if not any("time" in da.dims for da in ctx.of_role("forcing").values()):
        return []
    if "time" not in ctx.ds.indexes:
        return [Problem("time", "the 'time' dimension has no coordinate values, so steps cannot "
                        "be checked.", "assign them, e.g. ds.assign_coords(time=...).")]
    time = ctx.ds["time"]
    values = time.values
    if _text_time(values):
        return [Problem("time", f"the 'time' coordinate holds {values.dtype} values such as "
                        f"{str(values.ravel()[0])!r}, not dates.",
                        "decode it, e.g. ds['time'] = pd.to_datetime(ds['time'].values), or open "
                        "the file with decode_times=True.")]
    if time.size < 2:
        return []
    steps = _steps_in_days(values)
    bad = np.flatnonzero(~(steps > 0))
    if bad.size:
        i = int(bad[0])
        return [Problem("time", f"is not strictly increasing: {label(values[i])} is followed by "
                        f"{label(values[i + 1])} ({bad.size} such step(s)).",
                        "sort and de-duplicate it: ds.sortby('time').drop_duplicates('time').")]
    problems = _irregular(time)
    present = ctx.forcing_present() if "alignment" not in ctx.skip else None
    if not problems or present is None:
        return problems
    # Irregular steps may come from another time axis merged in: judge the forcing's own steps
    # (those with a value), and leave the others to check_alignment.
    return Deferred(present.data, lambda rows: _irregular(time[np.asarray(rows, bool)]))


def _step_text(days: float) -> str:
    return "1 month" if 28 <= days <= 31 else f"{days:g} days"


def _median_step(days: np.ndarray) -> float | None:
    return float(np.median(np.diff(days))) if days.size >= 2 else None


def _misaligned(name: str, canonical: str, times: np.ndarray, forcing_times: np.ndarray,
                observed: np.ndarray) -> Problem:
    """Why the steps where ``canonical`` is observed are not the forcing's, and what to do."""
    days = _as_days(np.concatenate([forcing_times, times[observed]]))
    f_days, o_days = days[:forcing_times.size], days[forcing_times.size:]
    f_step, o_step = _median_step(f_days), _median_step(o_days)
    own = times[observed]
    start, end = label(forcing_times[0]), label(forcing_times[-1])
    extra = int(np.sum(~np.isin(o_days, f_days)))
    outside = (o_days < f_days[0]) | (o_days > f_days[-1])
    on_steps = np.isin(o_days[~outside], f_days).all()
    axis = (f"its values cover {label(own[0])} to {label(own[-1])}"
            + (f" every {_step_text(o_step)}" if o_step else "")
            + f", the forcing's {start} to {end}"
            + (f" every {_step_text(f_step)}" if f_step else ""))
    if on_steps:  # same steps, longer period
        kind = f"{int(outside.sum())} of its {own.size} steps lie outside the forcing period"
        fix = (f"keep its steps within the forcing period before merging: "
               f"obs.sel(time=slice('{start}', '{end}')), or merge with "
               "xr.merge([forcing, obs], join='left').")
    elif f_step and o_step and (abs(o_step - f_step) <= 0.1 * f_step
                                or min(o_step, f_step) >= 28 and max(o_step, f_step) <= 31):
        before = f_days[np.clip(np.searchsorted(f_days, o_days, side="right") - 1, 0, None)]
        shift = float(np.median(o_days - before))
        kind = f"its steps fall about {shift:g} days after the forcing's"
        tolerance = max(1, int(round(f_step / 2)))
        fix = ("put it on the forcing's steps before merging: obs.reindex(time=forcing['time'], "
               f"method='nearest', tolerance='{tolerance}D') (or relabel its steps with "
               "obs.assign_coords(time=...) if only the labels differ, e.g. mid-month vs "
               "month start).")
    else:
        kind = (f"its step ({_step_text(o_step) if o_step else 'a single step'}) is not the "
                f"forcing's ({_step_text(f_step) if f_step else 'a single step'})")
        freq = "'1MS'" if f_step and 28 <= f_step <= 31 else f"'{f_step or 1:g}D'"
        fix = (f"resample it to the forcing's step before merging, e.g. obs.resample(time={freq})"
               ".mean(), then obs.reindex(time=forcing['time'], method='nearest').")
    return Problem(canonical, f"{name!r} is on another time axis than the forcing: it has values "
                   f"at {extra} step(s) where the forcing has none; {axis}; {kind}.", fix)


def check_alignment(ctx: Context) -> list[Problem] | Deferred:
    """Observations must be on the forcing's time steps (not merged in on another axis)."""
    present = ctx.forcing_present()
    if present is None or "time" not in ctx.ds.indexes:
        return []
    time = ctx.ds["time"]
    times = time.values
    if _text_time(times):
        return []  # reported by check_time
    observed = {c: da.data for c, da in ctx.observation_present().items()}

    def finish(computed):
        rows, seen = np.asarray(computed[0], bool), computed[1]
        seen = {c: np.asarray(obs, bool) for c, obs in seen.items()}
        if rows.all() or not seen:
            return []  # steps without any forcing and observation are NaN, check_nan's
        if not rows.any():
            return [Problem(c, f"{ctx.found[c]!r} has no value at any step and location.",
                            "check how the forcing was read (fill values, scale factors, a "
                            "mask applied twice).")
                    for c, da in ctx.of_role("forcing").items() if "time" in da.dims]
        # Missing steps inside the forcing period that keep its steps regular are gaps in the
        # forcing; the others (outside it, or between its steps) belong to another time axis.
        first, last = np.flatnonzero(rows)[[0, -1]]
        steps = np.arange(rows.size)
        inside = ~rows & (steps > first) & (steps < last)
        gaps = inside if inside.any() and not _irregular(time[rows | inside]) else ~rows & False
        problems = [_misaligned(ctx.found[c], c, times, times[rows], obs)
                    for c, obs in seen.items() if (obs & ~rows & ~gaps).any()]
        gaps &= np.any(list(seen.values()), axis=0)  # the others are check_nan's
        if gaps.any():
            i = int(np.flatnonzero(gaps)[0])
            problems.append(Problem(
                "time", f"the forcing has no value at any location at {int(gaps.sum())} of "
                f"{rows.size} steps (the first at {label(times[i])}), a gap in its record.",
                "fill the gap (e.g. ds.interpolate_na('time')) or use a complete forcing "
                "record."))
        return problems

    return Deferred((present.data, observed), finish)


def check_overlap(ctx: Context) -> list[Problem] | Deferred:
    """Each time-varying observation must have valid values within the forcing period."""
    forcing_times = [da["time"].values for da in ctx.of_role("forcing").values()
                     if "time" in da.dims and "time" in da.indexes]
    if not forcing_times or not forcing_times[0].size or _text_time(forcing_times[0]):
        return []
    start, end = forcing_times[0][0], forcing_times[0][-1]
    period = f"{label(start)} to {label(end)}"
    disjoint, any_valid = [], {}
    for c, da in ctx.of_role("observation").items():
        name = ctx.found[c]
        if "time" in da.dims:  # shares the forcing time axis: look for one valid value
            any_valid[c] = da.notnull().data.any()
            continue
        other = next((d for d in da.dims if is_time_dim(da, d)), None)
        if other is None:
            continue  # static observation (e.g. soil carbon): nothing to overlap
        t = da[other].values
        try:
            apart = t.size and (t.max() < start or t.min() > end)
        except TypeError:  # dates of another kind (cftime vs NumPy): not comparable
            disjoint.append(Problem(
                c, f"{name!r} has dates along {other!r} of another kind ({type(t[0]).__name__}) "
                f"than the forcing's ({type(start).__name__}).",
                "use one calendar for both, e.g. decode both with use_cftime=True."))
            continue
        if apart:
            disjoint.append(Problem(
                c, f"{name!r} covers {label(t.min())} to {label(t.max())} along {other!r}, "
                f"which does not intersect the forcing period {period}.",
                "use observations from the forcing period, or extend the forcing."))

    def finish(computed):
        return disjoint + [
            Problem(c, f"{ctx.found[c]!r} has no valid value in the forcing period {period}.",
                    f"check that it covers the forcing period, or drop it "
                    f"(ds.drop_vars({ctx.found[c]!r})).")
            for c, valid in computed.items() if not valid]

    return Deferred(any_valid, finish)
