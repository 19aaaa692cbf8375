"""The declared variable table: every variable xdifferland reads, with role, units and CF names.

One row per variable (in the spirit of xclim's and pint-xarray's unit contracts): its canonical
name, role, canonical units (pint-parsable), CF ``standard_name`` where one exists, the dims it
must carry besides the spatial ones, accepted alternative names and the range of physically
plausible values. Unit conversion, discovery of variables in a user's Dataset and validation (see
:mod:`xdifferland.contract.convert`, :mod:`xdifferland.contract.check` and
:mod:`xdifferland.contract.plausibility`) are all driven by this table.

Plausible ranges are in canonical units and inclusive; ``None`` leaves a side open. They are wide
on purpose: a value outside is almost surely a units mistake or a fill value, not weather (record
temperatures, the wettest day, the tallest trees all lie inside). They are called *plausible*,
not *valid*, because CF's ``valid_range`` attribute means something else (values outside are
missing data). Uncertainties may be 0 here; where a fit uses them they must be positive.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Variable",
    "VARIABLES",
    "ROLES",
    "PREDICTOR_GROUPS",
    "FORCING_REQUIRED",
    "COORDINATES",
    "PLAUSIBLE_ORDER",
    "PLAUSIBLE_CLIMATE",
    "CLIMATE_FACTOR",
    "variables_with_role",
    "variable",
    "uncertainty_name",
]

#: Roles a variable can play.
ROLES = ("forcing", "predictor", "observation", "uncertainty")


@dataclass(frozen=True)
class Variable:
    """One declared variable (or, in :data:`COORDINATES`, a checked coordinate)."""

    name: str
    role: str
    units: str
    long_name: str
    standard_name: str | None = None
    dims: tuple[str, ...] = ()  #: non-spatial dims it must have (("time",) or ())
    #: Other names accepted in user data (CARDAMOM, ERA5, CMIP, ...); matched ignoring case
    #: where that names a single variable.
    aliases: tuple[str, ...] = ()
    group: str | None = None  #: predictor group (PFT, CLIM, AGE, SOIL)
    required: bool = False  #: forcing that must be present
    #: Inclusive (low, high) in canonical units; None: open on that side.
    plausible_range: tuple[float | None, float | None] = (None, None)


_V = Variable
_FLUX = "g/m**2/day"
_FRACTION = (0.0, 1.0)
VARIABLES: tuple[Variable, ...] = (
    # --- forcing (time-varying drivers) ---
    # ERA5 short names: mn2t, mx2t (K), ssrd (J m-2 per step), tp (m per step); CMIP: tasmin,
    # tasmax, rsds, pr. Totals per step are turned into rates with the data's time step.
    # Air temperature: the records are -89.2 and 56.7 degC.
    _V("t_min", "forcing", "degC", "daily minimum air temperature", None, ("time",),
       ("T2M_MIN", "tmin", "tasmin", "T_min", "mn2t"), required=True,
       plausible_range=(-90.0, 60.0)),
    _V("t_max", "forcing", "degC", "daily maximum air temperature", None, ("time",),
       ("T2M_MAX", "tmax", "tasmax", "T_max", "mx2t"), required=True,
       plausible_range=(-90.0, 60.0)),
    # The top-of-atmosphere daily maximum is about 45 MJ m-2 d-1 (polar summer).
    _V("shortwave_radiation", "forcing", "MJ/m**2/day", "downward shortwave radiation",
       "surface_downwelling_shortwave_flux_in_air", ("time",),
       ("SSRD", "swrad", "rsds", "SOLR", "ssrd"),
       required=True, plausible_range=(0.0, 45.0)),
    _V("co2", "forcing", "ppm", "atmospheric CO2 mole fraction",
       "mole_fraction_of_carbon_dioxide_in_air", ("time",), ("CO2",), required=True,
       plausible_range=(150.0, 2000.0)),
    _V("burned_area", "forcing", "dimensionless", "burned-area fraction per step", None,
       ("time",), ("BURNED_AREA", "BA"), plausible_range=_FRACTION),
    _V("vpd", "forcing", "kPa", "vapour-pressure deficit",
       "water_vapor_saturation_deficit_in_air", ("time",), ("VPD",), required=True,
       plausible_range=(0.0, 15.0)),
    # The wettest day on record is 1,825 mm.
    _V("precipitation", "forcing", "mm/day", "precipitation rate", "lwe_precipitation_rate",
       ("time",), ("TOTAL_PREC", "PREC", "precip", "pr", "tp"), required=True,
       plausible_range=(0.0, 2000.0)),
    # --- predictors (static, per location) ---
    *(
        _V(name, "predictor", "dimensionless", f"{label} cover fraction", None, (), (abbrev,),
           group="PFT", plausible_range=_FRACTION)
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
       ("MAT",), group="CLIM", plausible_range=(-70.0, 45.0)),
    _V("mean_annual_precipitation", "predictor", "mm/year", "mean annual precipitation", None,
       (), ("MAP",), group="CLIM", plausible_range=(0.0, 15000.0)),
    # From the Dead Sea shore (-430 m) to Everest (8,849 m).
    _V("elevation", "predictor", "m", "surface elevation", "surface_altitude", (),
       ("ELEVATION", "elevation_m"), group="CLIM", plausible_range=(-500.0, 9000.0)),
    _V("canopy_height", "predictor", "m", "forest canopy height", "canopy_height", (),
       ("CANOPY_HEIGHT",), group="AGE", plausible_range=(0.0, 120.0)),
    _V("forest_age", "predictor", "year", "forest stand age", None, (),
       ("tree_age_000_filled", "AGE"), group="AGE", plausible_range=(0.0, 5000.0)),
    # Quartz, the densest common soil mineral, is 2.65 g cm-3: no soil is denser in bulk.
    _V("bulk_density", "predictor", "g/cm**3", "soil bulk density", None, (), ("BULK_DEN",),
       group="SOIL", plausible_range=(0.0, 2.65)),
    _V("sand", "predictor", "dimensionless", "soil sand fraction", None, (), ("SAND",),
       group="SOIL", plausible_range=_FRACTION),
    _V("silt", "predictor", "dimensionless", "soil silt fraction", None, (), ("SILT",),
       group="SOIL", plausible_range=_FRACTION),
    _V("clay", "predictor", "dimensionless", "soil clay fraction", None, (), ("CLAY",),
       group="SOIL", plausible_range=_FRACTION),
    _V("gravel", "predictor", "dimensionless", "soil gravel fraction", None, (), ("GRAVEL",),
       group="SOIL", plausible_range=_FRACTION),
    # --- observations ---
    # Retrievals and eddy-covariance partitioning scatter slightly below zero around zero
    # fluxes; the lower bounds leave room for that noise, not for a flipped sign convention.
    _V("lai", "observation", "m**2/m**2", "leaf area index", "leaf_area_index", ("time",),
       ("LAI",), plausible_range=(0.0, 15.0)),
    _V("sif", "observation", "mW/m**2/nm/sr", "solar-induced fluorescence (or its proxy)", None,
       ("time",), ("SIF", "LCSPP"), plausible_range=(-5.0, 20.0)),
    _V("et", "observation", "mm/day", "evapotranspiration", "water_evapotranspiration_flux",
       ("time",), ("ET",), plausible_range=(-5.0, 30.0)),
    _V("biomass", "observation", "g/m**2", "live biomass carbon (annual)", None, ("time",),
       ("BIOMASS", "AGB"), plausible_range=(0.0, None)),
    _V("som", "observation", "g/m**2", "soil organic carbon", "soil_mass_content_of_carbon", (),
       ("SOM", "SOC", "initial_som"), plausible_range=(0.0, None)),
    _V("nbe", "observation", _FLUX, "net biosphere exchange (positive = source)", None,
       ("time",), ("NBE",), plausible_range=(-60.0, 60.0)),
    _V("fire_emission", "observation", _FLUX, "fire carbon emission", None, ("time",),
       ("FIRE", "GFED_FIRE_EMISSION"), plausible_range=(0.0, 2000.0)),
    _V("ewt_anomaly", "observation", "mm", "terrestrial water-storage anomaly", None, ("time",),
       ("EWT", "LWE_normalized", "TWS"), plausible_range=(-10000.0, 10000.0)),
    _V("vod", "observation", "dimensionless", "vegetation optical depth", None, ("time",),
       ("VOD",), plausible_range=(-0.5, 5.0)),
    _V("gpp", "observation", _FLUX, "gross primary production (eddy covariance)",
       "gross_primary_productivity_of_biomass_expressed_as_carbon", ("time",),
       ("GPP", "gpp_fluxnet", "GPP_ec"), plausible_range=(-10.0, 60.0)),
    _V("reco", "observation", _FLUX, "ecosystem respiration (eddy covariance)", None, ("time",),
       ("RECO", "reco_fluxnet", "RECO_ec"), plausible_range=(-10.0, 60.0)),
    _V("nee", "observation", _FLUX, "net ecosystem exchange (positive = source)", None,
       ("time",), ("NEE",), plausible_range=(-60.0, 60.0)),
    _V("et_ec", "observation", "mm/day", "evapotranspiration (eddy covariance)", None, ("time",),
       ("et_fluxnet", "ET_ec"), plausible_range=(-10.0, 30.0)),
)

#: Coordinates whose values are checked like variables (never converted; CF units).
COORDINATES: tuple[Variable, ...] = (
    _V("latitude", "coordinate", "degrees_north", "latitude", "latitude", (), ("lat",),
       plausible_range=(-90.0, 90.0)),
    # Both conventions, -180..180 and 0..360, are in use.
    _V("longitude", "coordinate", "degrees_east", "longitude", "longitude", (), ("lon",),
       plausible_range=(-180.0, 360.0)),
)

#: Pairs ``(a, b)`` of variables for which ``a <= b`` must hold wherever both have values.
PLAUSIBLE_ORDER: tuple[tuple[str, str], ...] = (("t_min", "t_max"),)

#: Forcing whose mean over a record of at least a year is a climate that a predictor states:
#: ``(forcing, predictor, factor)``, ``factor`` turning the forcing's canonical units into the
#: predictor's. The record's mean must be plausible as the predictor (its range) and, where the
#: predictor is given, agree with it within :data:`CLIMATE_FACTOR` at the median location: a
#: precipitation rate in kg m-2 s-1 or monthly totals labelled mm/day have every value in range
#: but a climate 86,400 or 30 times off.
PLAUSIBLE_CLIMATE: tuple[tuple[str, str, float], ...] = (
    ("precipitation", "mean_annual_precipitation", 365.25),)
#: A record of a few years and a long-term mean rarely differ by a factor of 2 at the median
#: location; the units mix-ups differ by 24 (mm/h), 30 (mm/month), 365 or more.
CLIMATE_FACTOR = 10.0
del _V


def uncertainty_name(observation: str) -> str:
    """Name of the uncertainty variable of an observation (``gpp`` → ``gpp_unc``)."""
    return f"{observation}_unc"


# Each observation may come with an uncertainty in the same units (CARDAMOM names: ``GPPunc``).
VARIABLES = VARIABLES + tuple(
    Variable(uncertainty_name(v.name), "uncertainty", v.units, f"uncertainty of {v.long_name}",
             None, v.dims,
             tuple(f"{a}unc" for a in v.aliases) + tuple(f"{a}_unc" for a in v.aliases),
             plausible_range=(0.0, None))
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
