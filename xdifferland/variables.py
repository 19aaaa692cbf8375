"""The declared variable table: every variable xdifferland reads, with role, units and CF names.

One row per variable (in the spirit of xclim's and pint-xarray's unit contracts): its canonical
name, role, canonical units (pint-parsable), CF ``standard_name`` where one exists, the dims it
must carry besides the spatial ones, and accepted alternative names. Unit conversion, discovery of
variables in a user's Dataset and validation (see :mod:`xdifferland.units` and
:mod:`xdifferland.validation`) are all driven by this table.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Variable",
    "VARIABLES",
    "ROLES",
    "PREDICTOR_GROUPS",
    "FORCING_REQUIRED",
    "variables_with_role",
    "variable",
    "uncertainty_name",
]

#: Roles a variable can play.
ROLES = ("forcing", "predictor", "observation", "uncertainty")


@dataclass(frozen=True)
class Variable:
    """One declared variable."""

    name: str
    role: str
    units: str
    long_name: str
    standard_name: str | None = None
    dims: tuple[str, ...] = ()  #: non-spatial dims it must have (("time",) or ())
    aliases: tuple[str, ...] = ()  #: other names accepted in user data (CARDAMOM, ERA5, ...)
    group: str | None = None  #: predictor group (PFT, CLIM, AGE, SOIL)
    required: bool = False  #: forcing that must be present
    valid_range: tuple[float | None, float | None] = (None, None)  #: in canonical units


_V = Variable
_FLUX = "g/m**2/day"
VARIABLES: tuple[Variable, ...] = (
    # --- forcing (time-varying drivers) ---
    _V("t_min", "forcing", "degC", "daily minimum air temperature", None, ("time",),
       ("T2M_MIN", "tmin", "tasmin"), required=True),
    _V("t_max", "forcing", "degC", "daily maximum air temperature", None, ("time",),
       ("T2M_MAX", "tmax", "tasmax"), required=True),
    _V("shortwave_radiation", "forcing", "MJ/m**2/day", "downward shortwave radiation",
       "surface_downwelling_shortwave_flux_in_air", ("time",), ("SSRD", "swrad", "rsds", "SOLR"),
       required=True, valid_range=(0.0, None)),
    _V("co2", "forcing", "ppm", "atmospheric CO2 mole fraction",
       "mole_fraction_of_carbon_dioxide_in_air", ("time",), ("CO2",), required=True,
       valid_range=(0.0, None)),
    _V("burned_area", "forcing", "dimensionless", "burned-area fraction per step", None,
       ("time",), ("BURNED_AREA", "BA"), valid_range=(0.0, 1.0)),
    _V("vpd", "forcing", "kPa", "vapour-pressure deficit",
       "water_vapor_saturation_deficit_in_air", ("time",), ("VPD",), required=True,
       valid_range=(0.0, None)),
    _V("precipitation", "forcing", "mm/day", "precipitation rate", "lwe_precipitation_rate",
       ("time",), ("TOTAL_PREC", "PREC", "precip", "pr"), required=True,
       valid_range=(0.0, None)),
    # --- predictors (static, per location) ---
    *(
        _V(name, "predictor", "dimensionless", f"{label} cover fraction", None, (), (abbrev,),
           group="PFT", valid_range=(0.0, 1.0))
        for name, abbrev, label in (
            ("needleleaf_forest", "NF", "needleleaf forest"),
            ("deciduous_broadleaf_forest", "DBF", "deciduous broadleaf forest"),
            ("evergreen_broadleaf_forest", "EBF", "evergreen broadleaf forest"),
            ("mixed_forest", "MF", "mixed forest"),
            ("shrubland", "SH", "shrubland"),
            ("savanna", "SAV", "savanna"),
            ("grassland", "GRA", "grassland"),
            ("wetland", "WET", "permanent wetland"),
            ("cropland", "CRO", "cropland"),
            ("non_vegetated", "NVG", "non-vegetated"),
        )
    ),
    _V("mean_annual_temperature", "predictor", "degC", "mean annual air temperature", None, (),
       ("MAT",), group="CLIM"),
    _V("mean_annual_precipitation", "predictor", "mm/year", "mean annual precipitation", None,
       (), ("MAP",), group="CLIM", valid_range=(0.0, None)),
    _V("elevation", "predictor", "m", "surface elevation", "surface_altitude", (),
       ("ELEVATION", "elevation_m"), group="CLIM"),
    _V("canopy_height", "predictor", "m", "forest canopy height", "canopy_height", (),
       ("CANOPY_HEIGHT",), group="AGE", valid_range=(0.0, None)),
    _V("forest_age", "predictor", "year", "forest stand age", None, (),
       ("tree_age_000_filled", "AGE"), group="AGE", valid_range=(0.0, None)),
    _V("bulk_density", "predictor", "g/cm**3", "soil bulk density", None, (), ("BULK_DEN",),
       group="SOIL", valid_range=(0.0, None)),
    _V("sand", "predictor", "dimensionless", "soil sand fraction", None, (), ("SAND",),
       group="SOIL", valid_range=(0.0, 1.0)),
    _V("silt", "predictor", "dimensionless", "soil silt fraction", None, (), ("SILT",),
       group="SOIL", valid_range=(0.0, 1.0)),
    _V("clay", "predictor", "dimensionless", "soil clay fraction", None, (), ("CLAY",),
       group="SOIL", valid_range=(0.0, 1.0)),
    _V("gravel", "predictor", "dimensionless", "soil gravel fraction", None, (), ("GRAVEL",),
       group="SOIL", valid_range=(0.0, 1.0)),
    # --- observations ---
    _V("lai", "observation", "m**2/m**2", "leaf area index", "leaf_area_index", ("time",),
       ("LAI",)),
    _V("sif", "observation", "mW/m**2/nm/sr", "solar-induced fluorescence (or its proxy)", None,
       ("time",), ("SIF", "LCSPP")),
    _V("et", "observation", "mm/day", "evapotranspiration", "water_evapotranspiration_flux",
       ("time",), ("ET",)),
    _V("biomass", "observation", "g/m**2", "live biomass carbon (annual)", None, ("time",),
       ("BIOMASS", "AGB")),
    _V("som", "observation", "g/m**2", "soil organic carbon", "soil_mass_content_of_carbon", (),
       ("SOM", "SOC")),
    _V("nbe", "observation", _FLUX, "net biosphere exchange (positive = source)", None,
       ("time",), ("NBE",)),
    _V("fire_emission", "observation", _FLUX, "fire carbon emission", None, ("time",),
       ("FIRE", "GFED_FIRE_EMISSION")),
    _V("ewt_anomaly", "observation", "mm", "terrestrial water-storage anomaly", None, ("time",),
       ("EWT", "LWE_normalized", "TWS")),
    _V("vod", "observation", "dimensionless", "vegetation optical depth", None, ("time",),
       ("VOD",)),
    _V("gpp", "observation", _FLUX, "gross primary production (eddy covariance)",
       "gross_primary_productivity_of_biomass_expressed_as_carbon", ("time",),
       ("GPP", "gpp_fluxnet", "GPP_ec")),
    _V("reco", "observation", _FLUX, "ecosystem respiration (eddy covariance)", None, ("time",),
       ("RECO", "reco_fluxnet", "RECO_ec")),
    _V("nee", "observation", _FLUX, "net ecosystem exchange (positive = source)", None,
       ("time",), ("NEE",)),
    _V("et_ec", "observation", "mm/day", "evapotranspiration (eddy covariance)", None, ("time",),
       ("et_fluxnet", "ET_ec")),
)
del _V


def uncertainty_name(observation: str) -> str:
    """Name of the uncertainty variable of an observation (``gpp`` → ``gpp_unc``)."""
    return f"{observation}_unc"


# Each observation may come with an uncertainty in the same units (CARDAMOM names: ``GPPunc``).
VARIABLES = VARIABLES + tuple(
    Variable(uncertainty_name(v.name), "uncertainty", v.units, f"uncertainty of {v.long_name}",
             None, v.dims, tuple(f"{a}unc" for a in v.aliases) + tuple(f"{a}_unc" for a in v.aliases),
             valid_range=(0.0, None))
    for v in VARIABLES if v.role == "observation"
)

_BY_NAME = {v.name: v for v in VARIABLES}

#: Predictor groups of the paper, in the published order.
PREDICTOR_GROUPS: dict[str, tuple[str, ...]] = {
    group: tuple(v.name for v in VARIABLES if v.group == group)
    for group in ("PFT", "CLIM", "AGE", "SOIL")
}

#: Forcing variables that must be present in a Dataset to simulate.
FORCING_REQUIRED: tuple[str, ...] = tuple(v.name for v in VARIABLES if v.required)


def variables_with_role(role: str) -> tuple[Variable, ...]:
    """All declared variables of one role."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; use one of {ROLES}")
    return tuple(v for v in VARIABLES if v.role == role)


def variable(name: str) -> Variable:
    """Declared variable by canonical name or alias."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    for v in VARIABLES:
        if name in v.aliases:
            return v
    raise KeyError(f"{name!r} is not a declared xdifferland variable")
