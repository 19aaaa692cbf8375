"""Find the declared variables (:mod:`xdifferland.contract.declare`) in a user's Dataset.

A declared variable is looked up, in this order of precedence:

1. an explicit ``roles={canonical_name: data_var_name}`` mapping, which always wins;
2. its canonical name or one of its aliases (``T2M_MIN``, ``tasmin``, ...); where none matches
   exactly, one that differs only in case (``ssrd`` for ``SSRD``) if that spelling belongs to
   this variable alone;
3. its CF ``standard_name`` attribute (through cf-xarray's ``ds.cf.standard_names``).

A data variable taken by (1) is not considered for any other variable, and one taken by name (2)
is not considered for another variable's standard-name match (3): a name is more specific than a
standard name. Two data variables matching one declared variable is an error, never a silent
choice. Only ``data_vars`` are searched, not coordinates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import cf_xarray  # noqa: F401  (registers the ``.cf`` accessor)
import xarray as xr

from ..errors import DataError, Problem
from .declare import ROLES, VARIABLES, Variable, variable

__all__ = ["canonicalize", "declared_variables", "find_variables", "match_variables"]

Roles = Mapping[str, str]

# Lower-cased names and aliases that belong to one declared variable only: only these match a
# data variable ignoring case, so a case-insensitive match never picks between two variables.
_SPELLED: dict[str, set[str]] = {}
for _v in VARIABLES:
    for _spelling in (_v.name, *_v.aliases):
        _SPELLED.setdefault(_spelling.lower(), set()).add(_v.name)
_CASELESS = {key: next(iter(names)) for key, names in _SPELLED.items() if len(names) == 1}
del _SPELLED, _v, _spelling


def declared_variables(role: str | Iterable[str] | None = None) -> tuple[Variable, ...]:
    """Declared variables of one role, several roles, or all of them (``role=None``).

    Examples
    --------
    >>> [v.name for v in declared_variables("forcing")][:3]
    ['t_min', 't_max', 'shortwave_radiation']
    >>> len(declared_variables(["forcing", "predictor"])) > 7
    True
    """
    if role is None:
        return VARIABLES
    wanted = {role} if isinstance(role, str) else set(role)
    unknown = wanted - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s) {sorted(unknown)}; use some of {ROLES}")
    return tuple(v for v in VARIABLES if v.role in wanted)


def _explicit(ds: xr.Dataset, roles: Roles | None) -> tuple[dict[str, str], list[Problem]]:
    """Check the user's ``roles=`` mapping; return it keyed by canonical name."""
    found: dict[str, str] = {}
    problems: list[Problem] = []
    for key, name in (roles or {}).items():
        try:
            canonical = variable(key).name  # accept an alias as key too
        except KeyError:
            problems.append(Problem(
                str(key), "is not a declared xdifferland variable (in roles=).",
                "use a canonical name from xdifferland.contract.declare.VARIABLES as the key of "
                "roles=."))
            continue
        if name not in ds.data_vars:
            problems.append(Problem(
                canonical, f"roles= maps it to {name!r}, which is not a data variable of the "
                f"Dataset (data variables: {sorted(map(str, ds.data_vars))}).",
                f"correct roles={{{canonical!r}: ...}} to one of the Dataset's data variables."))
            continue
        if canonical in found and found[canonical] != name:
            problems.append(Problem(
                canonical, f"roles= maps it twice, to {found[canonical]!r} and {name!r}.",
                "keep a single entry for it in roles=."))
            continue
        found[canonical] = name
    # One data variable standing for two declared variables is almost surely a typo.
    by_target: dict[str, list[str]] = {}
    for canonical, name in found.items():
        by_target.setdefault(name, []).append(canonical)
    for name, canonicals in by_target.items():
        if len(canonicals) > 1:
            problems.append(Problem(
                canonicals[0], f"roles= maps {canonicals} all to the same data variable {name!r}.",
                "map each declared variable to its own data variable in roles=."))
    return found, problems


def _ambiguity(v: Variable, candidates: dict[str, str]) -> Problem:
    listed = ", ".join(f"{name!r} ({how})" for name, how in candidates.items())
    first = next(iter(candidates))
    others = [n for n in candidates if n != first]
    return Problem(
        v.name, f"{len(candidates)} data variables match it: {listed}.",
        f"choose one with roles={{{v.name!r}: {first!r}}} or drop the others "
        f"(e.g. ds.drop_vars({others!r})).")


def _match(ds: xr.Dataset, roles: Roles | None) -> tuple[dict[str, str], dict[str, Problem],
                                                         list[Problem]]:
    """Match every declared variable; ambiguities are returned per variable, not raised."""
    explicit, role_problems = _explicit(ds, roles)
    taken = set(explicit.values())
    free = [str(n) for n in ds.data_vars if n not in taken]

    candidates: dict[str, dict[str, str]] = {}
    for v in VARIABLES:
        if v.name in explicit:
            continue
        # Canonical name first so it is the one suggested in an ambiguity message.
        by_name = {n: "by name" for n in free if n == v.name}
        by_name.update({n: "by alias" for n in free if n in v.aliases})
        if not by_name:  # ERA5 writes ``ssrd`` where CARDAMOM writes ``SSRD``
            spellings = {a.lower() for a in (v.name, *v.aliases)}
            by_name = {n: "by name, ignoring case" for n in free
                       if n.lower() in spellings and _CASELESS.get(n.lower()) == v.name}
        candidates[v.name] = by_name

    named = {n for c in candidates.values() for n in c}
    standard_names = {
        std: [n for n in names if n in free and n not in named]
        for std, names in ds.cf.standard_names.items()
    }
    for v in VARIABLES:
        if v.name in explicit or v.standard_name is None:
            continue
        for n in standard_names.get(v.standard_name, []):
            candidates[v.name].setdefault(n, f"by standard_name {v.standard_name!r}")

    found = dict(explicit)
    ambiguous: dict[str, Problem] = {}
    for v in VARIABLES:
        c = candidates.get(v.name, {})
        if len(c) == 1:
            found[v.name] = next(iter(c))
        elif len(c) > 1:
            ambiguous[v.name] = _ambiguity(v, c)
    return found, ambiguous, role_problems


def find_variables(
    ds: xr.Dataset, role: str | Iterable[str] | None = None, roles: Roles | None = None
) -> dict[str, str]:
    """Map declared variables present in ``ds`` to the names of their data variables.

    Parameters
    ----------
    ds : xarray.Dataset
        The user's data.
    role : str or iterable of str, optional
        Only return variables of this role (or these roles): ``"forcing"``, ``"predictor"``,
        ``"observation"``, ``"uncertainty"``. Default: all roles.
    roles : mapping, optional
        Explicit ``{canonical_name: data_var_name}`` choices; they win over name, alias and
        standard-name matching. Keys may also be aliases.

    Returns
    -------
    dict
        ``{canonical_name: data_var_name}`` in the order of the variable table. Declared variables
        that are absent are simply left out (see :mod:`xdifferland.contract.check` for required
        ones).

    Raises
    ------
    DataError
        If two data variables match one declared variable (of the requested roles), or if
        ``roles=`` names an unknown variable or a data variable that is not in ``ds``. All such
        problems are reported together.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({
    ...     "T2M_MIN": ("time", np.zeros(3)),
    ...     "rad": ("time", np.ones(3),
    ...             {"standard_name": "surface_downwelling_shortwave_flux_in_air"}),
    ...     "my_lai": ("time", np.ones(3)),
    ... })
    >>> find_variables(ds, roles={"lai": "my_lai"})
    {'t_min': 'T2M_MIN', 'shortwave_radiation': 'rad', 'lai': 'my_lai'}
    >>> find_variables(ds, role="observation", roles={"lai": "my_lai"})
    {'lai': 'my_lai'}
    """
    wanted = {v.name for v in declared_variables(role)}
    found, ambiguous, problems = _match(ds, roles)
    problems = problems + [p for name, p in ambiguous.items() if name in wanted]
    if problems:
        raise DataError(problems, header="Could not identify the variables of the Dataset:")
    return {name: found[name] for name in (v.name for v in VARIABLES)
            if name in found and name in wanted}


def match_variables(
    ds: xr.Dataset, roles: Roles | None = None
) -> tuple[dict[str, str], list[Problem]]:
    """Like :func:`find_variables` for all roles, but return the problems instead of raising.

    Ambiguous variables are left out of the mapping. Used by validation, which reports
    discovery problems together with everything else.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"GPP": ("time", np.ones(2)), "gpp": ("time", np.ones(2)),
    ...                  "VPD": ("time", np.ones(2))})
    >>> found, problems = match_variables(ds)
    >>> found, [p.variable for p in problems]
    ({'vpd': 'VPD'}, ['gpp'])
    """
    found, ambiguous, problems = _match(ds, roles)
    order = [v.name for v in VARIABLES if v.name in found]
    return {name: found[name] for name in order}, problems + list(ambiguous.values())


def canonicalize(ds: xr.Dataset, roles: Roles | None = None) -> xr.Dataset:
    """Rename the declared variables found in ``ds`` to their canonical names.

    Other data variables, coordinates and all attributes are kept untouched. Data are not loaded.

    Parameters
    ----------
    ds : xarray.Dataset
        The user's data.
    roles : mapping, optional
        Explicit ``{canonical_name: data_var_name}`` choices (see :func:`find_variables`).

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    DataError
        As :func:`find_variables`, and when a canonical name is already used in ``ds`` by
        something else (e.g. a coordinate ``elevation`` next to a data variable ``ELEVATION``).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"T2M_MAX": ("time", np.zeros(2)), "other": ("time", np.ones(2))})
    >>> sorted(canonicalize(ds).data_vars)
    ['other', 't_max']
    """
    found = find_variables(ds, roles=roles)
    rename = {src: canonical for canonical, src in found.items() if src != canonical}
    problems = []
    for src, canonical in rename.items():
        if canonical in ds.variables and canonical not in rename:
            what = "coordinate" if canonical in ds.coords else "data variable"
            problems.append(Problem(
                canonical, f"cannot rename {src!r} to {canonical!r}: the Dataset already has a "
                f"{what} {canonical!r}.",
                f"drop or rename the existing {canonical!r} (e.g. ds.rename({{{canonical!r}: "
                f"'{canonical}_orig'}})) or map it explicitly with roles=."))
    if problems:
        raise DataError(problems, header="Could not rename the variables to canonical names:")
    return ds.rename(rename) if rename else ds
