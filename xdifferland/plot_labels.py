"""Axis labels of every figure: a quantity and its units, in one style.

A label reads ``GPP (g C m⁻² d⁻¹)``: a short name of the quantity, then its units with unicode
superscripts. Units come from a DataArray's ``units`` attribute (UDUNITS spellings such as
``g m-2 d-1``, or pint spellings such as ``g/m**2/day``) or from the package's tables; they are
written as the data say (evapotranspiration stored in ``kg m-2 d-1`` is labelled so, one stored
in ``mm/day`` reads ``mm d⁻¹``). Masses per area (and areas per mass) of the quantities the
package knows as carbon -- fluxes and pools of the variable table
(:data:`xdifferland.contract.declare.VARIABLES`), of the model outputs
(:data:`xdifferland.engine.outputs.OUTPUTS`) and carbon parameters of the registry -- say so:
``g C m⁻² d⁻¹``.

Layers: :func:`unit_label` (a units string) → :func:`quantity_name` and :func:`is_carbon` (a
name) → :func:`axis_label` (a DataArray, or a name with units).
"""

from __future__ import annotations

import re
import textwrap
from functools import lru_cache

__all__ = ["axis_label", "is_carbon", "quantity_name", "unit_label", "wrap_label"]

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
_NO_UNITS = {"", "1", "dimensionless", "-", "unitless", "none", "fraction"}
# Spellings in the data → the symbol printed (UDUNITS, pint, CF and common site-file spellings).
_SYMBOLS = {
    "day": "d", "days": "d", "second": "s", "seconds": "s", "sec": "s", "hour": "h", "hours": "h",
    "year": "yr", "years": "yr", "a": "yr", "month": "month", "months": "month",
    "gram": "g", "grams": "g", "kilogram": "kg", "milligram": "mg", "meter": "m", "metre": "m",
    "meters": "m", "millimeter": "mm", "millimetre": "mm", "centimeter": "cm", "nanometer": "nm",
    "degC": "°C", "degree_Celsius": "°C", "celsius": "°C", "delta_degC": "°C",
    "delta_degree_Celsius": "°C", "degrees_north": "°N", "degree_north": "°N",
    "degrees_N": "°N", "degrees_east": "°E", "degree_east": "°E", "degrees_E": "°E",
    "degrees": "°", "degree": "°", "kelvin": "K", "kilopascal": "kPa", "pascal": "Pa",
    "megajoule": "MJ", "joule": "J", "watt": "W", "milliwatt": "mW", "steradian": "sr",
    "umol": "µmol", "micromole": "µmol", "mole": "mol", "parts_per_million": "ppm",
    "percent": "%",
}
# Mass symbols a carbon quantity's units start from, and the ones already saying "carbon".
_MASSES = {"g", "kg", "mg", "Mg", "Gg", "Tg", "Pg"}
_CARBON_MASSES = {"gC": "g", "kgC": "kg", "mgC": "mg", "MgC": "Mg", "TgC": "Tg", "PgC": "Pg"}
_FACTOR = re.compile(r"^([^\W\d]+|%|°[A-Z]?)(?:\*\*|\^)?([-+]?\d+(?:\.\d+)?)?$")
# Short names the community writes on axes (lower-case names of the tables → the symbol).
_SHORT = {
    "gpp": "GPP", "lai": "LAI", "et": "ET", "et_ec": "ET (eddy covariance)", "nee": "NEE",
    "nbe": "NBE", "reco": "Reco", "sif": "SIF", "vod": "VOD", "som": "SOM",
    "ewt_anomaly": "water-storage anomaly", "co2": "CO₂", "vpd": "VPD",
    "t_min": "minimum temperature", "t_max": "maximum temperature", "biomass": "biomass",
    "effective_q10": "effective Q₁₀",
}
_UNCERTAINTY = "_unc"


def _factors(units: str) -> list[tuple[str, float]] | None:
    """``[(symbol, power), ...]`` of a units string, or None where it is not a plain product."""
    text = str(units).strip().replace("·", " ").replace("**", "^")
    factors: list[tuple[str, float]] = []
    for k, part in enumerate(text.split("/")):
        tokens = [t for t in re.split(r"[\s*]+", part) if t]
        if k and len(tokens) != 1:  # a/b c is ambiguous: a/(b c) or (a/b) c
            return None
        for token in tokens:
            match = _FACTOR.match(token.replace("^", ""))
            if token == "1":
                continue
            if match is None:
                return None
            power = float(match[2]) if match[2] else 1.0
            factors.append((match[1], -power if k else power))
    return factors


def _power(symbol: str, power: float) -> str:
    if power == 1:
        return symbol
    if power == int(power):
        return symbol + str(int(power)).translate(_SUPERSCRIPT)
    if abs(power) == 0.5:  # the square root of VPD in the underlying water-use efficiency
        return f"√{symbol}" if power > 0 else f"(√{symbol})⁻¹"
    return f"{symbol}^{power:g}"


def unit_label(units: str | None, *, carbon: bool = False) -> str:
    """Units written for an axis: unicode superscripts, readable symbols, ``""`` for none.

    Parameters
    ----------
    units : str or None
        A UDUNITS (``"g m-2 d-1"``) or pint (``"g/m**2/day"``) spelling.
    carbon : bool, default False
        The quantity is carbon: its mass reads ``g C`` (``g C m⁻² d⁻¹``, ``m² (g C)⁻¹``).

    Returns
    -------
    str
        The units as printed; a spelling that is not a plain product of powers is returned as
        given, with ``**`` written ``^``.

    Examples
    --------
    >>> unit_label("g m-2 d-1", carbon=True), unit_label("g/m**2/day", carbon=True)
    ('g C m⁻² d⁻¹', 'g C m⁻² d⁻¹')
    >>> unit_label("m2 m-2"), unit_label("mm/day"), unit_label("1"), unit_label("degC")
    ('m² m⁻²', 'mm d⁻¹', '', '°C')
    """
    if units is None or str(units).strip().lower() in _NO_UNITS:
        return ""
    factors = _factors(str(units))
    if factors is None:
        return str(units).strip().replace("**", "^")
    words, carbon_done = [], False
    for symbol, power in factors:
        symbol = _SYMBOLS.get(symbol, symbol)
        if symbol in _CARBON_MASSES:  # gC m-2 d-1 in a site file: already says carbon
            symbol, carbon_done = f"{_CARBON_MASSES[symbol]} C", True
        elif carbon and not carbon_done and symbol in _MASSES:
            symbol, carbon_done = f"{symbol} C", True
        if " " in symbol and power != 1:
            symbol = f"({symbol})"
        words.append(_power(symbol, power))
    return " ".join(words)


@lru_cache(maxsize=1)
def _tables() -> dict[str, tuple[str, str]]:
    """Name (and alias) → (declared units, long name) of every variable, output and parameter."""
    from .contract.declare import COORDINATES, VARIABLES
    from .engine.outputs import OUTPUTS
    from .registry import DERIVED, PARAMETERS

    table: dict[str, tuple[str, str]] = {}
    for p in PARAMETERS:
        table.setdefault(p.alias, (p.units, p.description))
    for d in DERIVED.values():
        table[d.name] = (d.units, d.description)
    for o in OUTPUTS:
        table.setdefault(o.alias, (o.units, o.long_name))
    for v in VARIABLES:
        for alias in v.aliases:
            table.setdefault(alias, (v.units, v.long_name))
    # canonical names win over another entry's alias of the same spelling
    table |= {p.name: (p.units, p.description) for p in PARAMETERS}
    table |= {o.name: (o.units, o.long_name) for o in OUTPUTS}
    table |= {v.name: (v.units, v.long_name) for v in VARIABLES}
    for c in COORDINATES:
        table |= {c.name: (c.units, c.long_name)} | {a: (c.units, c.long_name) for a in c.aliases}
    return table


def _mass_per_area(units: str) -> bool:
    """Whether ``units`` are a mass per area (optionally per time) or an area per mass."""
    factors = _factors(units) or []
    mass = sum(p for s, p in factors if _SYMBOLS.get(s, s) in _MASSES | set(_CARBON_MASSES))
    area = sum(p for s, p in factors if _SYMBOLS.get(s, s) == "m")
    return mass in (1, -1) and area == -2 * mass


def _cancels(units: str) -> bool:
    """Whether ``units`` are a ratio of like units (``m**2/m**2``): dimensionless, yet said."""
    powers: dict[str, float] = {}
    for symbol, power in _factors(units) or []:
        powers[symbol] = powers.get(symbol, 0.0) + power
    return bool(powers) and not any(powers.values())


def is_carbon(name: str | None, *, long_name: str = "", units: str = "") -> bool:
    """Whether ``name`` is a carbon flux or pool (or a quantity per unit carbon).

    Declared names (variables, outputs, parameters and their aliases) are looked up: a mass per
    area in the package's tables is carbon (water is kept as a depth). Other names count as
    carbon when ``long_name`` says so and ``units`` are a mass per area.

    Examples
    --------
    >>> is_carbon("gpp"), is_carbon("nbe"), is_carbon("initial_wood"), is_carbon("et")
    (True, True, True, False)
    >>> is_carbon("my_flux", long_name="carbon uptake", units="g m-2 d-1")
    True
    """
    declared = _tables().get(str(name)) if name is not None else None
    if declared is not None:
        return _mass_per_area(declared[0])
    return "carbon" in long_name.lower() and _mass_per_area(units)


def quantity_name(name: str | None, long_name: str | None = None) -> str:
    """The quantity's name on an axis.

    The usual short name where there is one (``GPP``); a parameter's name with spaces (its
    description is a sentence); else ``long_name`` or the declared long name, less a closing
    parenthetical remark, when short enough for an axis (at most 40 characters); else ``name``
    with spaces.

    Examples
    --------
    >>> quantity_name("gpp"), quantity_name("canopy_efficiency"), quantity_name("clay")
    ('GPP', 'canopy efficiency', 'soil clay fraction')
    >>> quantity_name("x", "soil moisture"), quantity_name(None, "ET")
    ('soil moisture', 'ET')
    """
    key = str(name) if name is not None else ""
    if key.endswith(_UNCERTAINTY) and key[:-len(_UNCERTAINTY)] in _tables():
        return f"{quantity_name(key[:-len(_UNCERTAINTY)])} uncertainty"
    if key.lower() in _SHORT:
        return _SHORT[key.lower()]
    if key in _parameter_names():
        return key.replace("_", " ")
    for candidate in (long_name, _tables().get(key, ("", ""))[1]):
        # a long name's closing remark, "(end of step)", would stand beside the units
        candidate = re.sub(r"\s*\([^()]*\)$", "", str(candidate or ""))
        if candidate and len(candidate) <= 40:
            return candidate
    return key.replace("_", " ") or str(long_name or "")


@lru_cache(maxsize=1)
def _parameter_names() -> frozenset:
    from .registry import DERIVED, PARAMETERS

    return frozenset([p.name for p in PARAMETERS] + [p.alias for p in PARAMETERS] + list(DERIVED))


def axis_label(da=None, *, name: str | None = None, units: str | None = None,
               quantity: str | None = None) -> str:
    """``"<quantity> (<units>)"`` for a DataArray, or for a name and units.

    Parameters
    ----------
    da : xarray.DataArray, optional
        Its ``name`` and its ``units`` (or ``units_description``), ``long_name`` and
        ``quantity`` attributes are read.
    name, units, quantity : str, optional
        Override (or, without ``da``, give) the name, the units and the printed quantity
        (default: :func:`quantity_name`). Units default to the data's, else to the declared
        units of ``name``.

    Returns
    -------
    str
        The label; the quantity alone where it has no units (a fraction).

    Examples
    --------
    >>> import xarray as xr
    >>> axis_label(xr.DataArray([1.0], name="gpp", attrs={"units": "g m-2 d-1"}))
    'GPP (g C m⁻² d⁻¹)'
    >>> axis_label(name="lai", units="m2 m-2"), axis_label(name="et", units="kg m-2 d-1")
    ('LAI (m² m⁻²)', 'ET (kg m⁻² d⁻¹)')
    >>> axis_label(name="sand")  # a fraction: no units to print
    'soil sand fraction'
    >>> axis_label(xr.DataArray([1.0], name="lai", attrs={"units": "1"}))  # as a file spells it
    'LAI (m² m⁻²)'
    """
    attrs = dict(getattr(da, "attrs", {}) or {})
    if name is None and da is not None and da.name is not None:
        name = str(da.name)
    if units is None:
        units = attrs.get("units", attrs.get("units_description"))
    declared = _tables().get(name, (None, ""))[0] if name is not None else None
    if units is None or (not unit_label(units) and declared and _cancels(declared)):
        # files spell a ratio of like units "1"; the tables keep the m2 m-2 of LAI that says
        # what the ratio is
        units = declared
    long_name = attrs.get("long_name")
    printed = quantity or attrs.get("quantity") or quantity_name(name, long_name)
    carbon = is_carbon(name, long_name=long_name or "", units=units or "")
    text = unit_label(units, carbon=carbon)
    return f"{printed} ({text})" if text else str(printed)


def wrap_label(label: str, width: int = 34) -> str:
    """``label`` on more lines where it is wider than ``width`` characters, its units kept whole
    on the last line.

    Examples
    --------
    >>> print(wrap_label("SHAP value of leaf carbon mass per area (g C m⁻²)"))
    SHAP value of leaf carbon mass per
    area (g C m⁻²)
    >>> wrap_label("GPP (g C m⁻² d⁻¹)")
    'GPP (g C m⁻² d⁻¹)'
    """
    if len(label) <= width:
        return label
    head, units = label, ""
    if label.endswith(")") and " (" in label:
        head, units = label[:label.rindex(" (")], label[label.rindex(" (") + 1:]
    lines = textwrap.wrap(head, width, break_long_words=False)
    if units and len(lines[-1]) + 1 + len(units) <= width:
        lines[-1] = f"{lines[-1]} {units}"
    elif units:
        lines.append(units)
    return "\n".join(lines)
