"""Validate a user's Dataset before anything is simulated, reporting every problem at once.

Each check is a small function ``check_*(ctx)`` over a shared
:class:`~xdifferland.contract._checks.Context` (the Dataset converted to canonical units where
possible, the discovered variables, the spatial dims). :func:`validate` runs them all and never
stops at the first problem. Checks that look at values return lazy reductions (counts, minima,
first positions) that :func:`validate` computes together: in one ``dask.compute``, or for
dask-backed data in two passes (:data:`~xdifferland.contract._checks.LAZY_PASSES`), so a store
is read twice and never loaded whole. The checks of the time axis are in
:mod:`xdifferland.contract.time_checks`, those of physical plausibility (ranges,
``t_min <= t_max``, ``±inf``, the latitude's sign) in :mod:`xdifferland.contract.plausibility`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import xarray as xr

from ..errors import DataError, Problem, ValidationError
from ._checks import Context, Deferred, compute_deferred, in_check_blocks, offenders
from ._quiet import runtime_warnings_ignored
from .axes import find_axes
from .convert import convert_units
from .declare import FORCING_REQUIRED, variable
from .find import match_variables
from .plausibility import (
    PlausibilityWarning,
    apply_modes,
    check_finite,
    check_hemisphere,
    check_plausibility,
    plausibility_rules,
)
from .spelling import udunits_spelling
from .time_checks import check_alignment, check_overlap, check_time, is_time_dim
from .unused import unused_notes, unused_variables

__all__ = ["CHECKS", "ValidationReport", "validate"]

#: Checks whose problems the ``plausibility=`` option turns into warnings or ignores.
PLAUSIBILITY_CHECKS = ("plausibility", "hemisphere")
#: Checks that read the time or spatial axes: with ambiguous axes their findings would only
#: be consequences of the ambiguity (forcing "without time", spatial dims guessed wrong).
AXIS_CHECKS = ("latitude", "dims", "time", "alignment", "nan", "hemisphere",
               "constant_predictors", "overlap")


@dataclass
class ValidationReport:
    """Everything :func:`validate` found wrong (possibly nothing).

    Attributes
    ----------
    problems : list of Problem
    variables : dict
        ``{canonical_name: data_var_name}`` of the declared variables found.
    warnings : list of Problem
        Implausible values accepted because ``plausibility=`` asked for warnings (also issued
        as a :class:`~xdifferland.contract.plausibility.PlausibilityWarning`).
    notes : list of str
        Not problems: data variables left unused (with the ``roles=`` that would use them, see
        :mod:`xdifferland.contract.unused`) and checks not run because the axes are unclear.
    """

    problems: list[Problem] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def __len__(self) -> int:
        return len(self.problems)

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.problems)

    def __str__(self) -> str:
        text = "No problems found." if self.ok else "\n".join(str(p) for p in self.problems)
        return text + "".join(f"\nNote: {n}" if not n.startswith(" ") else f"\n{n}"
                              for n in self.notes)

    def raise_if_any(self) -> None:
        """Raise :class:`~xdifferland.errors.ValidationError` listing all problems, if any."""
        if self.problems:
            n = len(self.problems)
            raise ValidationError(
                self.problems, header=f"The Dataset failed validation ({n} problem"
                f"{'s' if n > 1 else ''}):")


# ----------------------------------------------------------------------------- checks
def check_required_forcing(ctx: Context) -> list[Problem]:
    """Every variable of FORCING_REQUIRED must be present."""
    problems = []
    for name in FORCING_REQUIRED:
        if name in ctx.found:
            continue
        v = variable(name)
        looked = [name, *v.aliases] + ([f"standard_name={v.standard_name}"]
                                       if v.standard_name else [])
        problems.append(Problem(
            name, f"required forcing ({v.long_name}, {udunits_spelling(v.units)}) is missing; "
            "looked for "
            f"{', '.join(looked)}.",
            f"add it to the Dataset, or point to the variable that holds it with "
            f"roles={{{name!r}: '<data variable>'}}."))
    return problems


def check_dims(ctx: Context) -> list[Problem]:
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
        time_like = {"time"} | ({d for d in dims if is_time_dim(da, d)}
                                if v.role in ("observation", "uncertainty") else set())
        extra = [d for d in dims if d not in allowed_space and d not in time_like]
        if extra:
            problems.append(Problem(
                canonical, f"{name!r} has dims {dims}; {extra} are neither 'time' nor the "
                f"spatial dims {ctx.spatial_dims}.",
                f"select or reduce over {extra} (e.g. ds[{name!r}].isel({extra[0]}=0)), or pass "
                "spatial_dims= to validate()."))
    return problems


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


def check_nan(ctx: Context) -> Deferred:
    """No NaN in forcing or predictors (the simulation and the network cannot skip them)."""
    rows = ctx.forcing_rows()  # steps with observations but no forcing: check_alignment's

    def missing(da: xr.DataArray) -> xr.DataArray:
        mask = da.isnull() & ctx.valid
        return mask & rows if "time" in da.dims else mask

    return offenders(ctx.of_role("forcing", "predictor"), missing, lambda c, n, where: Problem(
        c, f"{ctx.found[c]!r} has {n} NaN value(s); the first at {where}.",
        f"fill them (e.g. ds[{ctx.found[c]!r}].interpolate_na('time') for forcing) or drop the "
        "locations that have them before fitting or simulating."))


def _is_fraction(canonical: str) -> bool:
    v = variable(canonical)
    return v.role == "predictor" and v.plausible_range == (0.0, 1.0)


def _dtype_problems(ds: xr.Dataset, found: Mapping[str, str]) -> dict[str, Problem]:
    """Declared variables whose values are not numbers (text, dates, complex, objects, booleans
    where a quantity is meant) or are packed integers that were never unpacked."""
    problems = {}
    for c, name in found.items():
        dtype, attrs = ds[name].dtype, ds[name].attrs
        packing = {k: attrs[k] for k in ("scale_factor", "add_offset") if k in attrs}
        if dtype.kind == "b" and not _is_fraction(c):
            # True/False is a cover fraction of 1 or 0 (a one-hot land cover), never a rate,
            # a temperature or an observation.
            problems[c] = Problem(
                c, f"{name!r} holds booleans (True/False), not the quantity "
                f"({variable(c).long_name}, {variable(c).units}).",
                f"give the values themselves; if {name!r} is a mask, apply it with "
                f"ds.where(...) or pass mask= instead.")
        elif dtype.kind in "iu" and packing:
            problems[c] = Problem(
                c, f"{name!r} holds packed integers ({dtype}, "
                + ", ".join(f"{k}={v}" for k, v in packing.items())
                + ") that were not unpacked, so its values are not in its units.",
                "unpack them with ds = xr.decode_cf(ds), or open the file with xarray's "
                "default mask_and_scale=True.")
        elif dtype.kind not in "biuf":
            what = {"U": "text", "S": "text", "O": "objects (text or mixed)", "M": "dates",
                    "m": "durations", "c": "complex numbers"}.get(dtype.kind, "non-numbers")
            problems[c] = Problem(
                c, f"{name!r} holds {what} ({dtype}), not real numbers.",
                f"convert it, e.g. ds[{name!r}] = ds[{name!r}].astype(float); if it was read from "
                "text, declare the missing-value markers (e.g. pd.read_csv(..., "
                "na_values=['NA', '-'])) so the column is read as numbers.")
    return problems


def check_constant_predictors(ctx: Context) -> Deferred:
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

    return Deferred(lazy, finish)


def check_latitude(ctx: Context) -> list[Problem]:
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


#: Checks run by :func:`validate` (names usable in ``skip=``), in reporting order.
CHECKS: dict[str, Callable[[Context], list[Problem] | Deferred]] = {
    "required_forcing": check_required_forcing,
    "latitude": check_latitude,
    "dims": check_dims,
    "time": check_time,
    "alignment": check_alignment,
    "nan": check_nan,
    "finite": check_finite,
    "plausibility": check_plausibility,
    "hemisphere": check_hemisphere,
    "constant_predictors": check_constant_predictors,
    "overlap": check_overlap,
}


def _infer_spatial_dims(ds: xr.Dataset, found: Mapping[str, str]) -> tuple[str, ...]:
    # The dims of the forcing (else the predictors) define the spatial layout: (lat, lon) on a
    # grid, (site,) for sites. Whatever else appears elsewhere is then reported by check_dims.
    # Only the dims that every such variable with spatial dims has: an extra dim on one of
    # them (an ensemble member, ERA5's expver) is then reported, whichever variable it is on.
    for role in ("forcing", "predictor"):
        layouts = [tuple(str(d) for d in ds[n].dims if d != "time")
                   for c, n in found.items() if variable(c).role == role]
        if layouts:
            layouts = [dims for dims in layouts if dims] or [()]
            common = tuple(d for d in layouts[0] if all(d in dims for dims in layouts[1:]))
            return common or layouts[0]
    return tuple(str(d) for d in ds.dims if d != "time")


def validate(
    ds: xr.Dataset,
    roles: Mapping[str, str] | None = None,
    *,
    spatial_dims: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    mask: xr.DataArray | None = None,
    plausibility: str | Mapping | None = None,
) -> ValidationReport:
    """Check a Dataset for everything that would make a simulation fail or mislead.

    Discovery, data-type and unit problems (:mod:`xdifferland.contract.find`,
    :mod:`xdifferland.contract.convert`) are folded into the same report, followed by the checks in
    :data:`CHECKS`. Value checks run on the data converted to canonical units, so a burned area
    in ``%`` is judged as a fraction and a VPD in hPa against the kPa range.

    Parameters
    ----------
    ds : xarray.Dataset
        The user's data (NumPy- or dask-backed).
    roles : mapping, optional
        Explicit ``{canonical_name: data_var_name}`` choices (see
        :func:`xdifferland.contract.find.find_variables`).
    spatial_dims : iterable of str, optional
        The dims that index locations, e.g. ``("lat", "lon")`` or ``("site",)``. By default the
        non-time dims of the first forcing variable found.
    skip : iterable of str, optional
        Names of checks in :data:`CHECKS` not to run.
    mask : DataArray of bool, optional
        Locations to compute. Locations outside it, and locations where *every* predictor is
        NaN (ocean, ice, no data), are left out of computation, so NaN there is not a problem.
    plausibility : {"error", "warn", "ignore"} or mapping, optional
        What to do with physically implausible values (default ``"error"``): ``"warn"`` issues
        a :class:`~xdifferland.contract.plausibility.PlausibilityWarning` instead, ``"ignore"``
        skips the check; a mapping sets a mode, or a plausible range ``(low, high)`` of its own, per
        variable (see :mod:`xdifferland.contract.plausibility`). ``±inf`` is never accepted.

    Returns
    -------
    ValidationReport
        Call :meth:`ValidationReport.raise_if_any` to turn problems into a
        :class:`~xdifferland.errors.ValidationError`.

    Raises
    ------
    ValueError
        For an unknown check in ``skip`` or a malformed ``plausibility`` (mistakes in the call;
        problems of the data are reported, never raised).

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> time = pd.date_range("2001-01-01", periods=3, freq="D")
    >>> ds = xr.Dataset({"TOTAL_PREC": ("time", [1.0, -2.0, np.nan], {"units": "mm/day"})},
    ...                 coords={"time": time})
    >>> report = validate(ds, skip=["required_forcing", "latitude"])
    >>> for p in report:
    ...     print(p.variable, "|", p.message)  # doctest: +ELLIPSIS
    precipitation | 'TOTAL_PREC' has 1 NaN value(s); the first at time=2001-01-03.
    precipitation | 'TOTAL_PREC' has 1 value(s) outside the plausible range 0 to 2000 mm d-1 ...
    >>> validate(ds, skip=["required_forcing", "latitude", "nan"], plausibility="ignore").ok
    True
    """
    skip = {skip} if isinstance(skip, str) else set(skip)
    unknown = skip - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown check(s) {sorted(unknown)}; choose from {list(CHECKS)}")
    rules = plausibility_rules(plausibility)
    # the axes by CF (valid_time/latitude/longitude, stations, projected grids), as simulate and
    # fit find them; the checks below work on the internal time/lat/lon/site names
    axis_problems: list[Problem] = []
    try:
        axes = find_axes(ds)
        ds, mask = axes.to_internal(ds), axes.to_internal(mask)
        if spatial_dims is not None:
            spatial_dims = [axes.internal(d) for d in spatial_dims]
    except DataError as error:  # two candidate time axes, a name clash: report, check the rest
        axis_problems = list(error.problems)
    found, problems = match_variables(ds, roles)
    problems = axis_problems + problems
    notes = unused_notes(unused_variables(ds, found))
    if axis_problems:
        not_run = [c for c in AXIS_CHECKS if c not in skip]
        skip = skip | set(not_run)
        notes.append(f"checks not run until the axes are clear: {', '.join(not_run)}")
    # Values that are not numbers are neither converted nor read by any value check.
    dtype_problems = _dtype_problems(ds, found)
    numeric = {c: n for c, n in found.items() if c not in dtype_problems}
    converted, unit_problems = convert_units(ds, found=numeric)
    converted, mask = in_check_blocks(converted, mask)
    problems += list(dtype_problems.values()) + unit_problems
    dims = (tuple(spatial_dims) if spatial_dims is not None
            else _infer_spatial_dims(ds, found))
    unusable = frozenset(dtype_problems)
    ctx = Context(converted, found, dims,
                  bad_units=frozenset(p.variable for p in unit_problems) | unusable,
                  unusable=unusable, valid=valid_locations(converted, numeric, dims, mask),
                  original=ds, skip=frozenset(skip), rules=rules)
    # min/max of an all-NaN variable warns (NumPy data reduce in the checks themselves); that
    # NaN is reported by check_nan already
    with runtime_warnings_ignored():
        results = {name: check(ctx) for name, check in CHECKS.items() if name not in skip}
        computed = compute_deferred(results)
    warned = []
    for name, r in results.items():
        found_here = r.finish(computed[name]) if isinstance(r, Deferred) else r
        if name in PLAUSIBILITY_CHECKS:
            found_here, accepted = apply_modes(found_here, rules)
            warned += accepted
        problems += found_here
    if warned:
        warnings.warn(PlausibilityWarning(
            f"implausible values accepted (plausibility={plausibility!r}):\n"
            + "\n".join(str(p) for p in warned)), stacklevel=2)
    return ValidationReport(problems, dict(found), warned, notes)
