"""Physical plausibility: values outside the declared ranges, reported with their likely cause.

Each declared variable, and the latitude and longitude coordinates, has a plausible range in
canonical units (:mod:`xdifferland.contract.declare`). After unit conversion, :func:`validate
<xdifferland.contract.check.validate>` reports every variable with values outside it: how many, the
first location, the observed minimum and maximum, the range, and the likely cause where one is
recognisable (:mod:`xdifferland.contract.causes`). Also checked: ``t_min <= t_max``
(:data:`~xdifferland.contract.declare.PLAUSIBLE_ORDER`), the climate of a record of at least a
year against the predictor that states it (:data:`~xdifferland.contract.declare.PLAUSIBLE_CLIMATE`:
the mean precipitation against ``mean_annual_precipitation``), a latitude whose sign disagrees with
the seasons of the shortwave radiation, and ``±inf`` anywhere (never plausible, never overridable:
replace it by NaN).

Data that are genuinely unusual pass with the ``plausibility=`` option of ``validate``,
``simulate``, ``fit`` and the model's methods:

* ``"error"`` (default): implausible values fail validation;
* ``"warn"``: they are reported as a :class:`PlausibilityWarning` instead;
* ``"ignore"``: they are not checked;
* a mapping ``{variable: mode or (low, high)}`` sets the mode, or a range of its own (in
  canonical units, ``None`` for an open side), per variable; keys are canonical names, aliases,
  ``"latitude"`` or ``"longitude"``, and the ``t_min <= t_max`` check is ``"t_min"``'s. The key
  ``"*"`` sets the mode of all others.

Outputs computed with an override record it in the attribute ``plausibility_overrides``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from ._checks import Context, Deferred, location
from .causes import coordinate_cause, find_cause, rescalings, units_cause
from .spelling import udunits_spelling
from ..errors import Problem
from .declare import (CLIMATE_FACTOR, COORDINATES, PLAUSIBLE_CLIMATE, PLAUSIBLE_ORDER, Variable,
                      variable)
# the option's resolution lives in plausibility_rules; its names are re-exported here
from .plausibility_rules import (MODES, PlausibilityWarning, apply_modes, overrides_attribute,
                                 plausibility_rules, rule_mode, rule_range)

__all__ = ["MODES", "PlausibilityWarning", "apply_modes", "check_finite", "check_hemisphere",
           "check_plausibility", "overrides_attribute", "plausibility_rules"]

_COORDINATES = {c.name: c for c in COORDINATES}
_TROPICS = 25.0  # degrees: poleward of this, surface shortwave follows the local summer


def _infinite(data):
    return np.isinf(data) if data.dtype.kind == "f" else np.zeros(data.shape, bool)


def check_finite(ctx: Context) -> Deferred:
    """No ``±inf`` in any declared variable at the computed locations (never plausible)."""
    arrays, lazy = {}, {}
    for c, n in ctx.found.items():
        if c not in ctx.unusable and ctx.ds[n].size:
            arrays[c] = ctx.ds[n]
            bad = _infinite(ctx.values(arrays[c]))
            lazy[c] = (bad.sum(), bad.argmax())

    def finish(computed):
        return [Problem(
            c, f"{ctx.found[c]!r} has {int(n)} infinite value(s) (+inf or -inf); the first at "
            f"{location(arrays[c], first)}.",
            f"replace them by NaN, e.g. ds[{ctx.found[c]!r}] = ds[{ctx.found[c]!r}].where("
            "np.isfinite(...)), then fill them (forcing, predictors) or keep them as missing "
            "(observations).") for c, (n, first) in computed.items() if n]

    return Deferred(lazy, finish)


def _range_text(v: Variable, lo, hi) -> str:
    units = "" if v.units == "dimensionless" else f" {udunits_spelling(v.units)}"
    if lo is not None and hi is not None:
        return f"{lo:g} to {hi:g}{units}"
    return f"at least {lo:g}{units}" if lo is not None else f"at most {hi:g}{units}"


def _reductions(data, lo, hi, *, infinite: bool = False) -> tuple:
    """Lazy (count outside, first outside, finite min, finite max, non-zero count).

    ±inf counts as outside only with ``infinite`` (coordinates, which no other check reads):
    in variables it is check_finite's.
    """
    data = data.astype(float) if data.dtype.kind != "f" else data
    finite = np.isfinite(data)
    outside = finite & False
    if lo is not None:
        outside = outside | (data < lo)
    if hi is not None:
        outside = outside | (data > hi)
    outside = (outside | np.isinf(data)) if infinite else (outside & finite)
    clean = np.where(finite, data, np.nan)
    return (outside.sum(), outside.argmax(), np.nanmin(clean), np.nanmax(clean),
            ((clean != 0) & finite).sum())


def _units_found(ctx: Context, name: str) -> str | None:
    source = ctx.original if ctx.original is not None else ctx.ds
    units = source[name].attrs.get("units") if name in source.variables else None
    return str(units) if units not in (None, "") else None


def _coordinate(ds: xr.Dataset, c: Variable) -> tuple[str, xr.DataArray] | None:
    """The latitude or longitude of ``ds`` (by name, else by CF attributes), with its name."""
    for name in (c.name, *c.aliases):
        if name in ds.variables:
            return name, ds[name]
    try:
        da = ds.cf[c.name]
    except (KeyError, ValueError, AttributeError, TypeError):
        return None
    return (str(da.name), da) if isinstance(da, xr.DataArray) else None


def _targets(ctx: Context) -> tuple[dict, list[Problem]]:
    """``{key: (variable, data name, values, low, high, is_coordinate)}`` to range-check."""
    targets, problems = {}, []
    for c, name in ctx.found.items():
        v = variable(c)
        lo, hi = rule_range(ctx.rules, v)
        if (c in ctx.bad_units or (lo is None and hi is None)
                or rule_mode(ctx.rules, c) == "ignore"):
            continue
        targets[c] = (v, name, ctx.ds[name], lo, hi, False)
    for v in COORDINATES:
        found = _coordinate(ctx.ds, v)
        if found is None or rule_mode(ctx.rules, v.name) == "ignore":
            continue
        name, da = found
        if da.dtype.kind not in "biuf":
            problems.append(Problem(v.name, f"{name!r} holds {da.dtype} values, not numbers.",
                                    f"give the {v.name} in degrees as numbers, e.g. "
                                    f"ds.assign_coords({name}=ds[{name!r}].astype(float))."))
            continue
        targets[v.name] = (v, name, da, *rule_range(ctx.rules, v), True)
    return targets, problems


def _order_pairs(ctx: Context) -> dict[tuple[str, str], tuple[xr.DataArray, tuple]]:
    """Lazy reductions of each PLAUSIBLE_ORDER pair present: (mask, (count, first, both))."""
    pairs = {}
    for a, b in PLAUSIBLE_ORDER:
        usable = all(x in ctx.found and x not in ctx.bad_units for x in (a, b))
        if not usable or rule_mode(ctx.rules, a) == "ignore":
            continue
        first, second = ctx.ds[ctx.found[a]], ctx.ds[ctx.found[b]]
        wrong = first > second
        if isinstance(ctx.valid, xr.DataArray) and set(ctx.valid.dims) <= set(wrong.dims):
            wrong = wrong & ctx.valid
        both = first.notnull() & second.notnull()
        pairs[(a, b)] = (wrong, (wrong.data.sum(), wrong.data.argmax(), both.data.sum()))
    return pairs


def _record_days(ctx: Context) -> float | None:
    """Days the (dated, increasing) time axis covers, one step past its last label; else None."""
    index = ctx.ds.indexes.get("time")
    if (not isinstance(index, (pd.DatetimeIndex, xr.CFTimeIndex)) or len(index) < 2
            or not index.is_monotonic_increasing):
        return None
    return (index[-1] - index[0]) / _dt.timedelta(days=1) * len(index) / (len(index) - 1)


def _climate_pairs(ctx: Context) -> dict[tuple[str, str, float], tuple]:
    """Lazy ``(record mean per location, predictor values or None)`` of each PLAUSIBLE_CLIMATE
    pair whose forcing is present, usable and at least a year long."""
    days = _record_days(ctx)
    if days is None or days < 360:
        return {}
    pairs = {}
    for forcing, predictor, factor in PLAUSIBLE_CLIMATE:
        da = ctx.ds[ctx.found[forcing]] if forcing in ctx.found else None
        if (da is None or forcing in ctx.bad_units or "time" not in da.dims or not da.size
                or rule_mode(ctx.rules, forcing) == "ignore"):
            continue
        mean = xr.DataArray(np.nanmean(ctx.values(da), axis=da.get_axis_num("time")),
                            dims=[d for d in da.dims if d != "time"])
        given = ctx.ds[ctx.found[predictor]] if predictor in ctx.found else None
        if (given is not None and predictor not in ctx.bad_units and given.size
                and set(given.dims) <= set(mean.dims)
                and rule_mode(ctx.rules, predictor) != "ignore"):
            stated = xr.DataArray(ctx.values(given), dims=given.dims).broadcast_like(mean)
            pairs[(forcing, predictor, factor)] = (mean.data, stated.transpose(*mean.dims).data)
        else:
            pairs[(forcing, predictor, factor)] = (mean.data, None)
    return pairs


def _climate_problem(ctx: Context, forcing: str, predictor: str, factor: float, mean, stated
                     ) -> Problem | None:
    """The problem of a record whose climate is implausible, or disagrees with the predictor."""
    climate = np.asarray(mean, float) * factor
    v, p = variable(forcing), variable(predictor)
    name = ctx.found[forcing]
    units = _units_found(ctx, name)

    def genuine(key: str) -> str:
        return f"if the values are genuine, pass plausibility={{{key!r}: 'warn'}}."

    if stated is not None:
        stated = np.asarray(stated, float)
        ok = np.isfinite(climate) & np.isfinite(stated) & (climate > 0) & (stated > 0)
        if not ok.any():
            return None
        ratio = float(10 ** np.median(np.log10(climate[ok] / stated[ok])))
        if 1 / CLIMATE_FACTOR <= ratio <= CLIMATE_FACTOR:
            return None
        other = ctx.found[predictor]
        spelled = udunits_spelling(p.units)
        message = (f"{name!r} averages {np.median(climate[ok]):.4g} {spelled} over the record, "
                   f"{ratio:.3g} times the {other!r} predictor ({np.median(stated[ok]):.4g} "
                   f"{spelled}) at the median of {int(ok.sum())} location(s); a record of a "
                   f"year or more and the long-term mean rarely differ by a factor of "
                   f"{CLIMATE_FACTOR:g}.")
        # The mislabelled units of either that would bring them closest to agreement.
        candidates = [(abs(np.log(ratio * k)), forcing, name, alt)
                      for alt, k in rescalings(forcing, units)]
        candidates += [(abs(np.log(ratio / k)), predictor, other, alt)
                       for alt, k in rescalings(predictor, _units_found(ctx, other))]
        candidates = [c for c in candidates if c[0] <= np.log(CLIMATE_FACTOR)]
        if not candidates:
            return Problem(forcing, message, f"check the units of both {name!r} and {other!r}; "
                           + genuine(forcing))
        _, culprit, culprit_name, alt = min(candidates)
        cause = units_cause(culprit, _units_found(ctx, culprit_name), alt)
        return Problem(culprit, f"{message} Likely cause: {culprit_name!r} {cause.what}.",
                       f"{cause.action} (ds[{culprit_name!r}].attrs['units'] = {alt!r}); "
                       + genuine(culprit))
    lo, hi = rule_range(ctx.rules, p)
    finite = climate[np.isfinite(climate)]
    if not finite.size or _inside(float(finite.min()), float(finite.max()), (lo, hi)):
        return None
    low, high = float(finite.min()), float(finite.max())
    message = (f"{name!r} averages {low:.4g} to {high:.4g} {udunits_spelling(p.units)} over the "
               f"record, outside the plausible {p.long_name} {_range_text(p, lo, hi)}.")
    for alt, k in rescalings(forcing, units):
        if _inside(low * k, high * k, (lo, hi)):
            cause = units_cause(forcing, units, alt)
            return Problem(forcing, f"{message} Likely cause: {cause.what}.",
                           f"{cause.action} (ds[{name!r}].attrs['units'] = {alt!r}); "
                           + genuine(forcing))
    return Problem(forcing, message,
                   f"correct the data or their units ({udunits_spelling(v.units)}); "
                   + genuine(forcing))


def _inside(low: float, high: float, bounds) -> bool:
    lo, hi = bounds
    return (lo is None or low >= lo) and (hi is None or high <= hi)


def check_plausibility(ctx: Context) -> Deferred:
    """Values of every variable and coordinate within their plausible range; ``t_min <= t_max``;
    the climate of the record plausible and in agreement with the climate predictors."""
    targets, early = _targets(ctx)
    lazy = {key: _reductions(da.data if coord else ctx.values(da), lo, hi, infinite=coord)
            for key, (v, name, da, lo, hi, coord) in targets.items() if da.size}
    pairs = _order_pairs(ctx)
    climate = _climate_pairs(ctx)

    def finish(computed):
        ranges, order, climates = computed
        observed = {k: (float(r[2]), float(r[3])) for k, r in ranges.items()}
        found = {p.variable: p for p in early}
        for key, (n, first, low, high, nonzero) in ranges.items():
            if n:
                v, name, _, lo, hi, _ = targets[key]
                found[key] = _range_problem(
                    ctx, v, name, int(n), location(targets[key][2], first),
                    (float(low), float(high)), (lo, hi), int(n) / max(int(nonzero), 1), observed)
        for (a, b), (n, first, both) in order.items():
            if n and a not in found and b not in found:  # a range problem explains it already
                found[a] = _order_problem(ctx, a, b, int(n), int(both),
                                          location(pairs[(a, b)][0], first))
        for (forcing, predictor, factor), (mean, stated) in climates.items():
            if forcing in found or predictor in found:  # a range problem explains it already
                continue
            problem = _climate_problem(ctx, forcing, predictor, factor, mean, stated)
            if problem is not None:
                found[problem.variable] = problem
        return list(found.values())

    return Deferred((lazy, {k: r for k, (_, r) in pairs.items()}, climate), finish)


def _range_problem(ctx: Context, v: Variable, name: str, n: int, where: str, seen, bounds,
                   share: float, observed: Mapping) -> Problem:
    low, high = seen
    units = None if v.role == "coordinate" else _units_found(ctx, name)
    if v.role == "coordinate":
        other = "longitude" if v.name == "latitude" else "latitude"
        cause = coordinate_cause(v.name, low, high, observed.get(other))
    else:
        cause = find_cause(v.name, units, low, high, share=share, plausible=bounds)
    converted = (f" after conversion from {units!r}"
                 if units and units not in (v.units, udunits_spelling(v.units)) else "")
    message = (f"{name!r} has {n} value(s) outside the plausible range {_range_text(v, *bounds)}"
               f" (observed {low:.6g} to {high:.6g}{converted}); the first at {where}.")
    genuine = (f"if the values are genuine, pass plausibility={{{v.name!r}: 'warn'}} or a range "
               f"of your own, plausibility={{{v.name!r}: (low, high)}}.")
    if cause is None:
        return Problem(v.name, message, f"correct the data or their units; {genuine}")
    action = cause.action
    if cause.units is not None:
        action += f" (ds[{name!r}].attrs['units'] = {cause.units!r})"
    return Problem(v.name, f"{message} Likely cause: {cause.what}.", f"{action}; {genuine}")


def _order_problem(ctx: Context, a: str, b: str, n: int, both: int, where: str) -> Problem:
    na, nb = ctx.found[a], ctx.found[b]
    message = f"{na!r} exceeds {nb!r} at {n} of {both} values; the first at {where}."
    if n == both:
        return Problem(a, f"{message} Likely cause: the two look swapped.",
                       f"swap them, e.g. roles={{{a!r}: {nb!r}, {b!r}: {na!r}}}.")
    return Problem(a, message, f"check that {na!r} and {nb!r} come from the same source and "
                   f"days; if the values are genuine, pass plausibility={{{a!r}: 'warn'}}.")


def check_hemisphere(ctx: Context) -> list[Problem] | Deferred:
    """The latitude's sign agrees with the seasons of the shortwave radiation.

    Poleward of 25°, surface shortwave radiation peaks in the local summer. Where it peaks in
    the other hemisphere's summer at most locations, the latitude's sign is most likely flipped
    (a flipped latitude is within -90..90, so the range check cannot see it). Needs a year of
    dated steps; the tropics are not judged.
    """
    sw_name = ctx.found.get("shortwave_radiation")
    lat = _coordinate(ctx.ds, _COORDINATES["latitude"])
    index = ctx.ds.indexes.get("time")
    if (sw_name is None or "shortwave_radiation" in ctx.bad_units or lat is None
            or rule_mode(ctx.rules, "latitude") == "ignore"
            or not isinstance(index, (pd.DatetimeIndex, xr.CFTimeIndex)) or len(index) < 2):
        return []
    name, latitude = lat
    sw = ctx.ds[sw_name]
    if (latitude.dtype.kind not in "iuf" or "time" not in sw.dims
            or not set(latitude.dims) <= set(sw.dims) - {"time"}):
        return []
    time = ctx.ds["time"]
    span = (index[-1] - index[0]) / _dt.timedelta(days=1)
    if not span >= 360:
        return []
    # Anomaly of the sine of the solar declination: positive in the northern summer half-year.
    season = np.sin(2 * np.pi * (time.dt.dayofyear - 80) / 365.25)
    season = season - season.mean()
    anomaly = sw - sw.mean("time")
    correlation = (anomaly * season).mean("time") / (sw.std("time") * float(season.std()))

    def finish(corr):
        corr = correlation.copy(data=np.asarray(corr))
        lat_values = latitude.broadcast_like(corr) if latitude.dims else latitude
        lat_values = np.asarray(lat_values.transpose(*corr.dims).values, float)
        judged = (np.abs(lat_values) >= _TROPICS) & np.isfinite(corr.values)
        # Real radiation correlates with the declination at 0.8 or more; noise over a few
        # years rarely reaches 0.6, and a majority of the locations must agree.
        flipped = judged & (corr.values * np.sign(lat_values) < -0.6)
        if not judged.any() or flipped.sum() <= judged.sum() / 2:
            return []
        i = int(np.flatnonzero(flipped.ravel())[0])
        example = location(correlation, i)
        north = lat_values.ravel()[i] > 0
        return [Problem(
            "latitude", f"at {int(flipped.sum())} of {int(judged.sum())} locations poleward of "
            f"{_TROPICS:g}° the shortwave radiation follows the other hemisphere's seasons (e.g. "
            f"at {example}, latitude {lat_values.ravel()[i]:g}, it is highest around the "
            f"{'December' if north else 'June'} solstice). Likely cause: the latitude sign "
            "looks flipped (south is negative).",
            f"negate it, e.g. ds.assign_coords({name}=-ds[{name!r}]); if the latitude is right, "
            "check the radiation's time axis; if the data are genuine, pass "
            "plausibility={'latitude': 'warn'}.")]

    return Deferred(correlation.data, finish)
