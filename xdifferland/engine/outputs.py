"""The 44 DALEC993 outputs: names, published aliases, units and CF metadata, in reference order.

Any output can also be asked for as a *time total*, ``"sum:<name>"``: summed over all steps inside
the time loop and returned as ``(pixel,)``, so a caller that needs only the total (the loss's EDC
and violation terms) never has the series stacked over time.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OutputSpec", "OUTPUTS", "OUTPUT_NAMES", "TOTAL_PREFIX", "is_total", "resolve_output",
           "resolve_outputs", "series_outputs", "total_base"]


@dataclass(frozen=True)
class OutputSpec:
    """One simulated quantity (a daily-rate flux, a pool after the step, or a diagnostic)."""

    name: str
    alias: str
    units: str
    long_name: str
    standard_name: str | None = None


_F = "g/m**2/day"  # carbon flux, daily rate
_O = OutputSpec
OUTPUTS: tuple[OutputSpec, ...] = (
    _O("lai", "lai", "m**2/m**2", "leaf area index (start of step)", "leaf_area_index"),
    _O("gpp", "gpp", _F, "gross primary production",
       "gross_primary_productivity_of_biomass_expressed_as_carbon"),
    _O("et", "ET", "mm/day", "evapotranspiration", "water_evapotranspiration_flux"),
    _O("rate_modifier", "temperate", "dimensionless",
       "temperature and moisture modifier of decomposition"),
    _O("autotrophic_respiration", "respiration_auto", _F, "autotrophic respiration",
       "plant_respiration_carbon_flux"),
    _O("foliar_production", "leaf_production", _F, "allocation to foliage"),
    _O("labile_production", "labile_production", _F, "allocation to the labile pool"),
    _O("root_production", "root_production", _F, "allocation to fine roots"),
    _O("wood_production", "wood_production", _F, "allocation to wood"),
    _O("leaf_fall_factor", "lff", "1/day", "daily leaf-fall fraction"),
    _O("labile_release_factor", "lrf", "1/day", "daily labile-release fraction"),
    _O("labile_release", "labile_release", _F, "labile release to foliage"),
    _O("leaf_litter", "leaf_litter", _F, "leaf litterfall"),
    _O("wood_litter", "wood_litter", _F, "wood turnover to soil organic matter"),
    _O("root_litter", "root_litter", _F, "fine-root turnover to litter"),
    _O("litter_respiration", "respiration_hetero_litter", _F,
       "heterotrophic respiration of litter"),
    _O("som_respiration", "respiration_hetero_som", _F,
       "heterotrophic respiration of soil organic matter"),
    _O("litter_to_som", "litter_to_som", _F, "decomposition of litter to soil organic matter"),
    _O("runoff", "runoff", "mm/day", "runoff and drainage", "runoff_flux"),
    _O("labile_fire_combust", "labile_fire_combust", _F, "fire combustion of labile carbon"),
    _O("foliar_fire_combust", "foliar_fire_combust", _F, "fire combustion of foliar carbon"),
    _O("root_fire_combust", "root_fire_combust", _F, "fire combustion of root carbon"),
    _O("wood_fire_combust", "wood_fire_combust", _F, "fire combustion of wood carbon"),
    _O("litter_fire_combust", "litter_fire_combust", _F, "fire combustion of litter carbon"),
    _O("som_fire_combust", "som_fire_combust", _F, "fire combustion of soil organic matter"),
    _O("labile_fire_transfer", "labile_fire_transfer", _F, "fire mortality of labile carbon"),
    _O("foliar_fire_transfer", "foliar_fire_transfer", _F, "fire mortality of foliar carbon"),
    _O("root_fire_transfer", "root_fire_transfer", _F, "fire mortality of root carbon"),
    _O("wood_fire_transfer", "wood_fire_transfer", _F, "fire mortality of wood carbon"),
    _O("litter_fire_transfer", "litter_fire_transfer", _F, "fire transfer of litter to SOM"),
    _O("fire_emission", "total_fire_combust", _F, "total fire carbon emission",
       "surface_upward_mass_flux_of_carbon_dioxide_expressed_as_carbon_due_to_emission_from_fires"),
    _O("nee", "nee", _F, "net ecosystem exchange (positive = source)"),
    _O("nbe", "nbe", _F, "net biosphere exchange (NEE + fire; positive = source)"),
    _O("labile_pool", "next_labile_pool", "g/m**2", "labile carbon (end of step)"),
    _O("foliar_pool", "next_foliar_pool", "g/m**2", "foliar carbon (end of step)",
       "leaf_mass_content_of_carbon"),
    _O("root_pool", "next_root_pool", "g/m**2", "fine-root carbon (end of step)",
       "root_mass_content_of_carbon"),
    # no CF standard name: "stem_mass_content_of_carbon" is narrower than DALEC's wood pool
    _O("wood_pool", "next_wood_pool", "g/m**2", "wood carbon (end of step)"),
    _O("litter_pool", "next_litter_pool", "g/m**2", "litter carbon (end of step)",
       "litter_mass_content_of_carbon"),
    _O("som_pool", "next_som_pool", "g/m**2", "soil organic carbon (end of step)",
       "soil_mass_content_of_carbon"),
    _O("water_pool", "next_water_pool", "mm", "plant-available water (end of step)"),
    _O("water_stress", "beta", "dimensionless", "water-stress factor on GPP (beta)"),
    _O("sif", "SIF", "mW/m**2/nm/sr", "solar-induced fluorescence (linear GPP operator)"),
    _O("water_balance_violation", "violation", "mm/day",
       "water-balance violation penalty, max(-0.01 runoff, 0)"),
    _O("vod", "vod", "dimensionless", "vegetation optical depth"),
)
del _O, _F

OUTPUT_NAMES: tuple[str, ...] = tuple(o.name for o in OUTPUTS)
_BY_NAME = {o.name: o for o in OUTPUTS}
_ALIASES = {o.alias: o.name for o in OUTPUTS} | {o.alias.lower(): o.name for o in OUTPUTS}


#: Prefix of a time total: ``"sum:gpp"`` is GPP summed over all steps, ``(pixel,)``.
TOTAL_PREFIX = "sum:"


def is_total(name: str) -> bool:
    """Whether ``name`` asks for a time total (``"sum:<output>"``)."""
    return name.startswith(TOTAL_PREFIX)


def total_base(name: str) -> str:
    """The output a time total sums: ``"sum:gpp"`` → ``"gpp"``."""
    return name[len(TOTAL_PREFIX):]


def resolve_output(name: str) -> str:
    """Canonical output name for a readable name or a published alias (e.g. ``"ET"`` → ``"et"``).

    A time total keeps its prefix: ``"sum:ET"`` → ``"sum:et"``.
    """
    if is_total(name):
        return TOTAL_PREFIX + resolve_output(total_base(name))
    if name in _BY_NAME:
        return name
    key = _ALIASES.get(name, _ALIASES.get(name.lower()))
    if key is None:
        raise KeyError(
            f"unknown DALEC993 output {name!r}; available outputs: {', '.join(OUTPUT_NAMES)}"
        )
    return key


def series_outputs(names) -> tuple[str, ...]:
    """The time series ``names`` read: each time total replaced by the output it sums.

    Examples
    --------
    >>> series_outputs(["gpp", "sum:gpp", "sum:et"])
    ('gpp', 'et')
    """
    return tuple(dict.fromkeys(total_base(n) if is_total(n) else n for n in names))


def resolve_outputs(names) -> tuple[str, ...]:
    """Canonical, de-duplicated output names in the order given; ``None`` or ``"all"`` = all 44."""
    if names is None or names == "all":
        return OUTPUT_NAMES
    if isinstance(names, str):
        names = (names,)
    resolved = tuple(dict.fromkeys(resolve_output(n) for n in names))
    if not resolved:
        raise ValueError("ask for at least one output")
    return resolved


def output_spec(name: str) -> OutputSpec:
    """Metadata of one output."""
    return _BY_NAME[resolve_output(name)]
