"""The unit contract: convert every declared variable to its canonical units, lazily.

Units are read from each data variable's ``units`` attribute, parsed with a private pint registry
that understands common CF/UDUNITS and CARDAMOM spellings (``kg m-2 s-1``, ``m2/m2``, ``hPA``,
``deg C``, ``gC/m2/d``, ``ppmv``, ``%``, ``1e-6``), and converted with pint-xarray. Dask-backed data
stay lazy: only the graph grows.

Rules beyond plain pint
-----------------------
* **Water mass to depth.** Variables whose canonical units are millimetres (precipitation, ET,
  water storage, mean annual precipitation) also accept a mass per area (``kg m-2 s-1``,
  ``kg m-2``): 1 kg m-2 of liquid water is 1 mm deep (density 1000 kg m-3).
* **Totals per time step.** A rate given as the amount per time step (ERA5's ``tp`` in ``m``,
  ``ssrd`` in ``J m-2``) is divided by the step length of its time coordinate; with no regular
  time coordinate the units must state the rate (``m d-1``) (see
  :mod:`xdifferland.contract.accumulation`).
* **Carbon.** ``gC``/``kgC``/``mgC`` mean grams/kilograms/milligrams of carbon.
* **Mole fractions.** ``ppm``, ``ppmv``, ``umol mol-1`` and ``mol mol-1`` (and ``1``/``1e-6``) are
  all dimensionless ratios, so ``4e-4 mol mol-1`` becomes ``400 ppm``.
* **Missing units.** A variable with no (or an empty) ``units`` attribute is accepted as already
  canonical *only* if it is a forcing or predictor whose canonical units are dimensionless (the
  cover, soil-texture and burned-area fractions): for those, "no units" conventionally means
  "fraction". Everything else, in particular every observation and uncertainty, must declare its
  units, because a silently wrong scale there corrupts the loss without any visible error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pint
import pint_xarray  # noqa: F401  (registers the ``.pint`` accessor)
import xarray as xr

from .accumulation import is_total_per_step, step_problem, time_step
from .find import find_variables
from .spelling import udunits_spelling
from ..errors import Problem, UnitsError
from .declare import Variable, variable

__all__ = [
    "UREG",
    "WATER_DENSITY",
    "convert_to",
    "convert_units",
    "parse_units",
    "to_canonical_units",
    "unit_problems",
]

#: Private registry: keeps our extra definitions out of pint's application registry.
#: ``force_ndarray_like`` is what pint-xarray recommends (scalars stay arrays).
UREG = pint.UnitRegistry(force_ndarray_like=True)
UREG.define("ppmv = ppm")
UREG.define("ppb = 1e-9 = ppbv")

#: Density of liquid water, used to turn a water mass per area into a depth.
WATER_DENSITY = UREG.Quantity(1000.0, "kg/m**3")

# Whole unit strings pint would misread or reject, mapped to what they mean.
_SPELLINGS = {
    "hPA": "hPa",  # CARDAMOM site drivers
    "kPA": "kPa",
    "deg C": "degC", "deg_C": "degC", "degrees C": "degC", "degree C": "degC", "C": "degC",
    "Celsius": "degC", "celsius": "degC", "degree_Celsius": "degC", "degrees_Celsius": "degC",
    "deg K": "K", "degK": "K", "deg_K": "K", "degrees_K": "K", "Kelvin": "K", "kelvin": "K",
    "fraction": "dimensionless", "frac": "dimensionless", "unitless": "dimensionless",
    "-": "dimensionless", "none": "dimensionless", "None": "dimensionless",
}
# Carbon masses: "gC m-2 d-1" is a mass of carbon; the element does not change the unit.
_CARBON = re.compile(r"\b(k|m|u|µ|)gC\b")
# UDUNITS powers written as a trailing integer: "m-2" -> "m**-2", "m2" -> "m**2". A name preceded
# by a digit or a dot is the exponent marker of a number ("1e-6") and is left alone.
_POWER = re.compile(r"(?<![\d.])([A-Za-zµ_]+)(-?\d+)\b")

# Suggested spellings for the Fix line, by canonical units (the real-world units users mix up).
_EXAMPLES = {
    "degC": "K", "kPa": "hPa", "MJ/m**2/day": "W m-2", "ppm": "ppm", "mm/day": "kg m-2 s-1",
    "mm/year": "mm/yr", "g/m**2/day": "gC m-2 d-1", "g/m**2": "gC m-2", "m**2/m**2": "m2 m-2",
    "dimensionless": "1",
}


def _normalize(units: str) -> str:
    text = " ".join(str(units).split())
    text = _SPELLINGS.get(text, text)
    text = _CARBON.sub(r"\1g", text)
    return _POWER.sub(r"\1**\2", text)


def parse_units(units: str) -> pint.Quantity:
    """Parse a units string (CF, UDUNITS or CARDAMOM spelling) with :data:`UREG`.

    Returns a quantity rather than a unit because CF allows a numeric scale (``"1e-6"``).

    Raises
    ------
    ValueError
        If the string cannot be parsed (pint's own errors are wrapped so callers catch one type).

    Examples
    --------
    >>> parse_units("kg m-2 s-1").units
    <Unit('kilogram / meter ** 2 / second')>
    >>> parse_units("gC/m2/d").units
    <Unit('gram / meter ** 2 / day')>
    >>> parse_units("hPA").units
    <Unit('hectopascal')>
    >>> round(float(parse_units("1e-6").to("ppm").magnitude), 9)
    1.0
    """
    try:
        q = UREG.parse_expression(_normalize(units))
    except Exception as exc:  # pint raises several unrelated types (incl. AttributeError)
        raise ValueError(f"cannot parse units {units!r}: {exc}") from exc
    if not isinstance(q, pint.Quantity):  # a bare number such as "1"
        q = UREG.Quantity(q, "dimensionless")
    return q


def _units_of(da: xr.DataArray) -> str | None:
    if isinstance(da.data, pint.Quantity):  # already quantified by the user
        return str(da.data.units)
    units = da.attrs.get("units")
    if units is None or str(units).strip() == "":
        return None
    return str(units)


def _is_water_depth(v: Variable) -> bool:
    # Canonical millimetres mark water (precipitation, ET, storage); metres (elevation, canopy
    # height) must not accept a mass per area.
    return v.units.split("/")[0] == "mm"


def _water(source: pint.Quantity, target, *, both_ways: bool = True) -> pint.Quantity | None:
    """``source`` as a depth (or mass) of liquid water compatible with ``target``, else None."""
    try:
        for factor in ((source / WATER_DENSITY, source * WATER_DENSITY) if both_ways
                       else (source / WATER_DENSITY,)):
            if factor.is_compatible_with(target):
                return factor
    except pint.errors.OffsetUnitCalculusError:  # degC and such: a temperature is no water
        pass
    return None


def _converts(source: pint.Quantity, target) -> bool:
    """Whether pint converts a value from ``source`` to ``target``: the same dimensionality is
    not enough for temperatures (a ``delta_degC`` difference is no ``degC`` temperature)."""
    try:
        UREG.Quantity(1.0, source.units).to(target)
    except (pint.errors.PintError, TypeError, ValueError):
        return False
    return True


def _incompatible(units: str, data_name: str, source: pint.Quantity, target: str) -> str:
    """Why ``units`` do not convert, naming a temperature (or temperature difference) as one."""
    what = ""
    if source.dimensionality == UREG.kelvin.dimensionality:
        same = UREG.Unit(target).dimensionality == source.dimensionality
        what = f" are a temperature{' difference' if same else ''} and"
    return (f"units {units!r} (in {data_name!r}){what} cannot be converted to "
            f"{udunits_spelling(target)}.")


def _missing_ok(v: Variable) -> bool:
    # See the module docstring: only fractions among forcing/predictors may omit units. Compare
    # units, not dimensionality: ppm is dimensionless too, yet CO2 must declare its units.
    return v.role in ("forcing", "predictor") and UREG.Unit(v.units) == UREG.dimensionless


def _plan(v: Variable, data_name: str, units: str | None,
          step=lambda: None) -> tuple[pint.Quantity | None, bool] | Problem:
    """How to convert one variable: (source quantity or None = already canonical, via water?)."""
    fix = (f"set ds[{data_name!r}].attrs['units'] to the data's real units "
           f"(e.g. {_EXAMPLES.get(v.units, v.units)!r})")
    if units is None:
        if _missing_ok(v):
            return None, False
        # With no units at all the data are most likely in the canonical units already.
        return Problem(v.name, f"has no 'units' attribute ({v.role} in {data_name!r}); expected "
                       f"units convertible to {udunits_spelling(v.units)}.",
                       f"set ds[{data_name!r}].attrs['units'] to the data's real units (e.g. "
                       f"{udunits_spelling(v.units)!r} if they are already in "
                       f"{udunits_spelling(v.units)}).")
    try:
        source = parse_units(units)
    except ValueError:
        return Problem(v.name, f"units {units!r} (in {data_name!r}) are not understood; expected "
                       f"units convertible to {udunits_spelling(v.units)}.", fix + ".")
    target = UREG.Unit(v.units)
    if source.is_compatible_with(target) and _converts(source, target):
        return source, False
    if _is_water_depth(v) and _water(source, target, both_ways=False) is not None:
        return source, True
    water = _is_water_depth(v) and is_total_per_step(
        source, target, lambda q, t: _water(q, t, both_ways=False) is not None)
    if water or is_total_per_step(source, target, _converts):
        length = step()  # ERA5 totals per step (tp in m, ssrd in J m-2): a rate per step length
        if length is None:
            return step_problem(v.name, data_name, units, udunits_spelling(v.units))
        return source / length, water
    return Problem(v.name, _incompatible(units, data_name, source, v.units), fix + ".")


def _convert(da: xr.DataArray, v: Variable, source: pint.Quantity | None,
             water: bool) -> xr.DataArray:
    if isinstance(da.data, pint.Quantity):
        da = da.copy(data=da.data.magnitude)
    # float32 data stay float32 (pint's float64 factors would promote them)
    dtype = da.dtype if da.dtype.kind == "f" and da.dtype.itemsize >= 4 else None
    target = UREG.Unit(v.units)
    if source is not None and not (source.magnitude == 1 and source.units == target):
        if da.dtype.kind in "biu" or da.dtype == "float16":
            # Integers (counts, packed data) and half floats would wrap or overflow when scaled.
            da = da.astype("float64" if da.dtype.kind != "f" else "float32")
        if source.magnitude != 1:  # CF numeric scale such as "1e-6": apply it to the data
            da = da * float(source.magnitude)
        # Quantify the data alone: coordinates may carry units our registry need not know
        # (``degrees_north``) and must come back untouched anyway.
        bare = xr.DataArray(da.data, dims=da.dims)
        q = bare.pint.quantify(source.units, unit_registry=UREG)
        if water:
            q = q / WATER_DENSITY
        da = da.copy(data=q.pint.to(target).pint.dequantify().data)
        if dtype is not None and da.dtype != dtype:
            da = da.astype(dtype)
    # Always the table's units, in the UDUNITS spelling that files and messages use.
    return da.assign_attrs(units=udunits_spelling(v.units))


def convert_to(da: xr.DataArray, units: str, *, name: str | None = None,
               water: bool = False) -> xr.DataArray:
    """``da`` converted from its ``units`` attribute to ``units`` (any CF/UDUNITS/pint spelling).

    With ``water=True`` (the quantity is liquid water) a mass per area and a depth convert into
    each other (1 kg m-2 = 1 mm); otherwise that would turn, say, a carbon flux into a depth.
    Dask-backed data stay lazy.

    Raises
    ------
    UnitsError
        Naming the variable, if ``da`` has no units or they cannot be converted to ``units``.

    Examples
    --------
    >>> import xarray as xr
    >>> flux = xr.DataArray([1.0], dims="time", attrs={"units": "kg m-2 s-1"})
    >>> float(convert_to(flux, "g m-2 d-1")[0])
    86400000.0
    >>> et = xr.DataArray([2.0], attrs={"units": "kg m-2 d-1"})
    >>> float(convert_to(et, "mm/day", water=True)[0])
    2.0
    """
    label = name or str(da.name or "the variable")
    found = da.attrs.get("units")
    fix = f"set its 'units' attribute to the data's real units (convertible to {units})"
    if not found:
        raise UnitsError([Problem(label, "has no 'units' attribute.", fix)])
    try:
        source, target = parse_units(str(found)), parse_units(units)
    except ValueError as error:
        raise UnitsError([Problem(label, str(error) + ".", fix)]) from None
    if source.is_compatible_with(target) and _converts(source, target.units):
        factor = source
    elif water and _water(source, target) is not None:
        factor = _water(source, target)
    else:
        raise UnitsError([Problem(label, f"units {found!r} cannot be converted to {units!r}.",
                                  fix)])
    bare = xr.DataArray(da.data, dims=da.dims)
    q = bare.pint.quantify(factor.units, unit_registry=UREG) * float(factor.magnitude)
    converted = q.pint.to(target.units).pint.dequantify().data / float(target.magnitude)
    return da.copy(data=converted).assign_attrs(units=units)


def _plans(ds: xr.Dataset, roles: Mapping[str, str] | None, found: Mapping[str, str] | None):
    if found is None:
        found = find_variables(ds, roles=roles)
    plans, problems = {}, []
    for canonical, name in found.items():
        plan = _plan(variable(canonical), name, _units_of(ds[name]),
                     lambda name=name: time_step(ds, name, UREG))
        if isinstance(plan, Problem):
            problems.append(plan)
        else:
            plans[name] = (variable(canonical), *plan)
    return plans, problems


def unit_problems(
    ds: xr.Dataset, roles: Mapping[str, str] | None = None, *,
    found: Mapping[str, str] | None = None,
) -> list[Problem]:
    """All unit problems of the declared variables in ``ds``, without raising or converting.

    ``found`` is an already computed ``{canonical_name: data_var_name}`` mapping (from
    :func:`xdifferland.contract.find.match_variables`); by default variables are discovered here and
    discovery problems raise :class:`~xdifferland.errors.DataError`.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"VPD": ("time", np.ones(2), {"units": "m"}), "GPP": ("time", np.ones(2))})
    >>> for p in unit_problems(ds):
    ...     print(p.variable, "|", p.message)
    vpd | units 'm' (in 'VPD') cannot be converted to kPa.
    gpp | has no 'units' attribute (observation in 'GPP'); expected units convertible to g m-2 d-1.
    """
    return _plans(ds, roles, found)[1]


def to_canonical_units(ds: xr.Dataset, roles: Mapping[str, str] | None = None) -> xr.Dataset:
    """Convert every declared variable found in ``ds`` to its canonical units.

    Variable names are kept (use :func:`xdifferland.contract.find.canonicalize` to rename); other
    variables and coordinates are untouched. Converted variables carry a plain ``units`` string
    attribute spelled as in :data:`xdifferland.contract.declare.VARIABLES`. Dask-backed data stay
    lazy.

    Parameters
    ----------
    ds : xarray.Dataset
        The user's data, with ``units`` attributes (or pint-quantified data).
    roles : mapping, optional
        Explicit ``{canonical_name: data_var_name}`` choices (see
        :func:`xdifferland.contract.find.find_variables`).

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    UnitsError
        Listing *every* variable whose units are missing (see the module docstring for the only
        exception), unparsable or not convertible, with the units found and those expected.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({
    ...     "VPD": ("time", [10.0, 20.0], {"units": "hPA"}),
    ...     "tmin": ("time", [273.15, 283.15], {"units": "K"}),
    ...     "pr": ("time", [1e-5, 2e-5], {"units": "kg m-2 s-1"}),
    ... })
    >>> out = to_canonical_units(ds)
    >>> out["VPD"].values, out["VPD"].attrs["units"]
    (array([1., 2.]), 'kPa')
    >>> out["tmin"].values.round(6)
    array([ 0., 10.])
    >>> out["pr"].values.round(6)
    array([0.864, 1.728])
    """
    converted, problems = convert_units(ds, roles)
    if problems:
        raise UnitsError(problems, header="Units problems in the Dataset (nothing was converted):")
    return converted


def convert_units(
    ds: xr.Dataset, roles: Mapping[str, str] | None = None, *,
    found: Mapping[str, str] | None = None,
) -> tuple[xr.Dataset, list[Problem]]:
    """Lenient :func:`to_canonical_units`: convert what can be converted, return the problems.

    Variables with unit problems are left as they are. ``found`` is as in :func:`unit_problems`.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"VPD": ("time", [10.0], {"units": "hPa"}),
    ...                  "CO2": ("time", [400.0], {"units": "furlong"})})
    >>> out, problems = convert_units(ds)
    >>> float(out["VPD"][0]), out["CO2"].attrs["units"], [p.variable for p in problems]
    (1.0, 'furlong', ['co2'])
    """
    plans, problems = _plans(ds, roles, found)
    converted = {name: _convert(ds[name], v, source, water)
                 for name, (v, source, water) in plans.items()}
    return ds.assign(converted), problems
