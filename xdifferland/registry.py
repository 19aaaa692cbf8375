"""The DALEC993 parameter registry: the single source of truth for the 40 calibrated entries.

Every entry has a readable name, the name used by the published code (kept as an alias), its
physical bounds, pint-parsable units, a group, the network head that predicts it and a one-line
description. Everything else in the package (the engine's ``Parameters`` pytree, the network heads,
labeled outputs, documentation tables) is derived from :data:`PARAMETERS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

__all__ = [
    "ParameterSpec",
    "PARAMETERS",
    "PARAMETER_NAMES",
    "DAYS_PER_YEAR",
    "PHENOLOGY_DAYS",
    "HEADS",
    "DERIVED",
    "resolve_name",
    "parameter_table",
]


@dataclass(frozen=True)
class ParameterSpec:
    """One calibrated DALEC993 entry."""

    name: str
    alias: str
    min: float
    max: float
    units: str
    group: str
    head: str
    description: str

    @property
    def midpoint(self) -> float:
        """Physical value of the bounded transform at x = 0: sqrt(min * max)."""
        return float(np.sqrt(np.float64(self.min) * np.float64(self.max)))


_P = ParameterSpec
# Order = the published bound arrays (spec section 2.1, 0-based index = position here).
PARAMETERS: tuple[ParameterSpec, ...] = (
    _P("decomposition_rate", "decomposition_rate", 1.0e-5, 0.01, "1/day", "decomposition",
       "process", "Litter to soil-organic-matter decomposition rate (times the rate modifier)."),
    _P("autotrophic_fraction", "f_gpp", 0.2, 0.8, "dimensionless", "allocation", "process",
       "Fraction of GPP respired autotrophically (f_auto)."),
    _P("foliar_allocation", "f_fol", 0.01, 0.5, "dimensionless", "allocation", "process",
       "Fraction of NPP allocated to foliage."),
    _P("root_allocation", "f_root", 0.01, 1.0, "dimensionless", "allocation", "process",
       "Fraction of NPP left after foliage and labile that goes to fine roots."),
    _P("leaf_lifespan", "leaf_lifespan", 1.001, 8.0, "year", "phenology", "process",
       "Leaf lifespan; sets the fraction of foliage shed in each annual leaf fall."),
    _P("wood_turnover", "tor_wood", 2.5e-5, 0.001, "1/day", "turnover", "process",
       "Daily turnover rate of wood to soil organic matter."),
    _P("root_turnover", "tor_root", 1.0e-4, 0.01, "1/day", "turnover", "process",
       "Daily turnover rate of fine roots to litter."),
    _P("litter_turnover", "tor_litter", 1.0e-4, 0.01, "1/day", "decomposition", "process",
       "Heterotrophic respiration rate of litter (times the rate modifier)."),
    _P("som_turnover", "tor_som", 1.0e-7, 0.001, "1/day", "decomposition", "process",
       "Heterotrophic respiration rate of soil organic matter (times the rate modifier)."),
    _P("temperature_sensitivity", "Q10", 0.018, 0.08, "1/delta_degC", "decomposition", "process",
       "Log temperature sensitivity q of decomposition; effective Q10 = exp(10 q)."),
    _P("canopy_efficiency", "canopy_efficiency", 5.0, 50.0, "g/m**2/day", "photosynthesis",
       "process", "ACM canopy efficiency (maximum carboxylation capacity per unit leaf area)."),
    _P("labile_release_day", "Bday", 365.25, 1461.0, "day", "phenology", "phenology",
       "Timing of labile release (bud burst); acts modulo 365.25 days."),
    _P("labile_allocation", "flab", 0.01, 0.5, "dimensionless", "allocation", "process",
       "Fraction of NPP left after foliage allocated to the labile pool."),
    _P("labile_release_period", "clab_release_period", 30.4375, 100.0, "day", "phenology",
       "process", "Duration of the annual labile release."),
    _P("leaf_fall_day", "Fday", 365.25, 1461.0, "day", "phenology", "phenology",
       "Timing of leaf fall; acts modulo 365.25 days."),
    _P("leaf_fall_period", "leaf_fall_period", 30.4375, 150.0, "day", "phenology", "process",
       "Duration of the annual leaf fall."),
    _P("leaf_carbon_mass_per_area", "LCMA", 5.0, 200.0, "g/m**2", "photosynthesis", "process",
       "Leaf carbon mass per leaf area (LAI = foliar carbon / LCMA)."),
    _P("initial_labile", "Clab", 1.0, 2000.0, "g/m**2", "initial_pools", "initial_pools",
       "Initial labile carbon pool."),
    _P("initial_foliar", "Cfol", 1.0, 2000.0, "g/m**2", "initial_pools", "initial_pools",
       "Initial foliar carbon pool."),
    _P("initial_root", "Croot", 1.0, 2000.0, "g/m**2", "initial_pools", "initial_pools",
       "Initial fine-root carbon pool."),
    _P("initial_wood", "Cwood", 1.0, 100000.0, "g/m**2", "initial_pools", "initial_pools",
       "Initial wood carbon pool."),
    _P("initial_litter", "Clitter", 1.0, 2000.0, "g/m**2", "initial_pools", "initial_pools",
       "Initial litter carbon pool."),
    _P("initial_som", "Csom", 1.0, 200000.0, "g/m**2", "initial_pools", "initial_pools",
       "Initial soil organic matter carbon pool."),
    _P("intrinsic_wue", "IWUE", 10.0, 50.0, "g*kPa/kg", "water", "process",
       "Intrinsic water-use efficiency; predicted but unused by DALEC993 (uWUE form is used)."),
    _P("runoff_focal_point", "runoff_focal_point", 1.0, 100000.0, "mm", "water", "process",
       "Runoff shape parameter (about 4 x maximum plant-available water storage)."),
    _P("field_capacity", "field_capacity", 1.0, 10000.0, "mm", "water", "process",
       "Field capacity of the plant-available water bucket."),
    _P("initial_water", "initial_water", 1.0, 10000.0, "mm", "initial_pools", "initial_pools",
       "Initial plant-available water."),
    _P("foliar_combustion", "foliar_cf", 0.01, 1.0, "dimensionless", "fire", "process",
       "Combustion factor of burned foliage."),
    _P("ligneous_combustion", "ligneous_cf", 0.01, 1.0, "dimensionless", "fire", "process",
       "Combustion factor of burned labile, root and wood carbon."),
    _P("soil_combustion", "dom_cf", 0.01, 1.0, "dimensionless", "fire", "process",
       "Combustion factor of burned soil organic matter."),
    _P("fire_resilience", "resilience", 0.01, 1.0, "dimensionless", "fire", "process",
       "Fraction of burned, non-combusted biomass that survives."),
    _P("labile_lifespan", "lab_lifespan", 1.001, 8.0, "year", "phenology", "process",
       "Labile 'lifespan'; sets the fraction of labile carbon released each year."),
    _P("moisture_factor", "moisture_factor", 0.01, 1.0, "dimensionless", "decomposition",
       "process", "Precipitation sensitivity of the decomposition rate modifier."),
    _P("underlying_wue", "uWUE", 0.5, 30.0, "g*kPa**0.5/kg", "water", "process",
       "Underlying water-use efficiency: transpiration = GPP sqrt(VPD) / uWUE."),
    _P("radiation_et_coefficient", "boese_r", 0.01, 0.3, "mm*m**2/MJ", "water", "process",
       "Radiation-driven evaporation per unit shortwave radiation (Boese et al.)."),
    _P("wilting_point_fraction", "wilting_point_frac", 0.01, 0.5, "dimensionless", "water",
       "process", "Wilting point as a fraction of field capacity."),
    _P("sif_slope", "sif_alpha", 3.0, 35.0, "g/m**2/day", "observation_operator", "process",
       "Slope of the linear GPP-SIF relation (GPP per SIF unit)."),
    _P("sif_intercept_plus_three", "sif_beta_plus_three", 1.0, 9.0, "g/m**2/day",
       "observation_operator", "process",
       "Intercept of the GPP-SIF relation plus 3 (intercept = value - 3)."),
    _P("vod_foliar_coefficient", "p_fol", 1.0e-4, 0.01, "m**2/g", "observation_operator",
       "process", "Vegetation optical depth per unit foliar carbon."),
    _P("vod_wood_coefficient", "p_wood", 1.0e-6, 8.0e-5, "m**2/g", "observation_operator",
       "process", "Vegetation optical depth per unit wood carbon."),
)
del _P

PARAMETER_NAMES: tuple[str, ...] = tuple(p.name for p in PARAMETERS)

#: Days per year: the period of the phenology timings (spec 2.3) and of annual sums.
DAYS_PER_YEAR = 365.25
#: The timings that act modulo a year (their registry range spans three years).
PHENOLOGY_DAYS: tuple[str, ...] = ("labile_release_day", "leaf_fall_day")

# Network heads (spec section 2.2), each listed in head order.
HEADS: dict[str, tuple[str, ...]] = {
    head: tuple(p.name for p in PARAMETERS if p.head == head)
    for head in ("process", "phenology", "initial_pools")
}

_BY_NAME: dict[str, ParameterSpec] = {p.name: p for p in PARAMETERS}
_ALIASES: dict[str, str] = {p.alias: p.name for p in PARAMETERS}
_ALIASES.update({p.alias.lower(): p.name for p in PARAMETERS})
_ALIASES["f_auto"] = "autotrophic_fraction"


def resolve_name(name: str) -> str:
    """Return the registry name for ``name``, which may be a readable name or a spec alias.

    Examples
    --------
    >>> resolve_name("LCMA")
    'leaf_carbon_mass_per_area'
    >>> resolve_name("Fday")
    'leaf_fall_day'
    """
    if name in _BY_NAME:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    if name.lower() in _ALIASES:
        return _ALIASES[name.lower()]
    raise KeyError(
        f"unknown DALEC993 parameter {name!r}; use one of the names in "
        "xdifferland.parameter_table() (column 'name' or 'alias')"
    )


def spec(name: str) -> ParameterSpec:
    """Registry entry for a readable name or alias."""
    return _BY_NAME[resolve_name(name)]


@dataclass(frozen=True)
class DerivedSpec:
    """A quantity computed from registry parameters."""

    name: str
    units: str
    description: str
    function: Callable[[Mapping], object]


# Derived quantities used in analysis (spec section 2.3 and 11). ``p`` maps names to arrays.
DERIVED: dict[str, DerivedSpec] = {
    d.name: d
    for d in (
        DerivedSpec("effective_q10", "dimensionless", "Effective Q10 = exp(10 q).",
                    lambda p: np.exp(10.0 * p["temperature_sensitivity"])),
        DerivedSpec("carbon_use_efficiency", "dimensionless", "CUE = 1 - autotrophic fraction.",
                    lambda p: 1.0 - p["autotrophic_fraction"]),
        DerivedSpec("sif_intercept", "g/m**2/day", "Intercept of GPP = slope SIF + intercept.",
                    lambda p: p["sif_intercept_plus_three"] - 3.0),
        DerivedSpec("leaf_allocation_fraction", "dimensionless", "Share of GPP to foliage.",
                    lambda p: (1 - p["autotrophic_fraction"]) * p["foliar_allocation"]),
        DerivedSpec("labile_allocation_fraction", "dimensionless", "Share of GPP to labile.",
                    lambda p: (1 - p["autotrophic_fraction"]) * (1 - p["foliar_allocation"])
                    * p["labile_allocation"]),
        DerivedSpec("root_allocation_fraction", "dimensionless", "Share of GPP to roots.",
                    lambda p: (1 - p["autotrophic_fraction"]) * (1 - p["foliar_allocation"])
                    * (1 - p["labile_allocation"]) * p["root_allocation"]),
        DerivedSpec("wood_allocation_fraction", "dimensionless", "Share of GPP to wood.",
                    lambda p: (1 - p["autotrophic_fraction"]) * (1 - p["foliar_allocation"])
                    * (1 - p["labile_allocation"]) * (1 - p["root_allocation"])),
    )
}


def derived(name: str, parameters: Mapping) -> object:
    """Evaluate derived quantity ``name`` from a mapping of parameter names to values.

    Examples
    --------
    >>> round(float(derived("effective_q10", {"temperature_sensitivity": 0.0693147})), 4)
    2.0
    """
    return DERIVED[name].function(parameters)


def parameter_table():
    """The parameter registry as a :class:`pandas.DataFrame`, one row per entry.

    Columns: ``name``, ``alias`` (name in the published code), ``min``, ``max``, ``midpoint``
    (value at x = 0 of the bounded transform), ``units`` (pint-parsable), ``group``, ``head``
    (network head that predicts it) and ``description``.

    Examples
    --------
    >>> import xdifferland
    >>> table = xdifferland.parameter_table()
    >>> len(table)
    40
    >>> table.set_index("alias").loc["LCMA", "name"]
    'leaf_carbon_mass_per_area'
    """
    import pandas as pd

    return pd.DataFrame(
        {
            "name": [p.name for p in PARAMETERS],
            "alias": [p.alias for p in PARAMETERS],
            "min": [p.min for p in PARAMETERS],
            "max": [p.max for p in PARAMETERS],
            "midpoint": [p.midpoint for p in PARAMETERS],
            "units": [p.units for p in PARAMETERS],
            "group": [p.group for p in PARAMETERS],
            "head": [p.head for p in PARAMETERS],
            "description": [p.description for p in PARAMETERS],
        }
    )
