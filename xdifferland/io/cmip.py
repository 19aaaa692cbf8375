"""CMIP-named, CMIP-unit export of a simulation, laid out for ILAMB (ilamb3).

Benchmarking tools such as ILAMB find model output by CMIP variable name (``gpp``, ``cVeg``...)
and convert from the ``units`` each file declares, so a simulation is handed on as CMIP6 would
write it: one NetCDF file per variable named ``{variable}_{table}_{source}_{experiment}_{member}_
{grid}_{YYYYMM}-{YYYYMM}.nc``, the grid-cell area ``areacella`` and land fraction ``sftlf`` as
``fx`` files, and a *model table* ``models.csv`` (one row per file: ``source_id``, ``variable_id``,
``path``...) — the ``--model-db`` CSV that ``ilamb run`` reads and ilamb3's ``run_study`` takes
as a DataFrame.

:data:`CMIP_TABLE` declares, for each CMIP variable, the engine outputs it is built from and with
which sign, its CMIP units and CF standard name. Values are converted with pint
(:func:`xdifferland.contract.convert.parse_units`), never with hand-typed factors; water kept as a
depth (mm) becomes a mass per area through the density of liquid water. CF metadata common to all
results (time bounds, cell measures, ``Conventions``, ``title``, ``history``) come from
:func:`xdifferland.io.conventions.cf_result`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._version import __version__
from .conventions import cell_area, cell_edges, cf_result
from .netcdf import to_netcdf
from .text import write_text_atomic

__all__ = ["CMIP_OUTPUTS", "CMIP_TABLE", "CmipVariable", "cmip_dataset", "to_cmip"]

#: The model table's columns, as in the CSV files ilamb3 documents for CMIP6 data.
TABLE_COLUMNS = ("source_id", "experiment_id", "member_id", "grid_label", "table_id",
                 "variable_id", "frequency", "path")

# CMIP writes missing values as 1e20 (a value no land variable reaches) rather than NaN.
_FILL = np.float32(1.0e20)


@dataclass(frozen=True)
class CmipVariable:
    """How one CMIP variable is made from the engine's outputs.

    ``terms`` are ``(output, sign)`` pairs summed in that order: ``cVeg`` adds the four live
    pools; ``nbp`` (downward, land uptake positive) is minus the engine's upward ``nbe``.
    ``water`` marks a model water depth (mm) that becomes a mass per area (kg m-2).
    """

    name: str
    terms: tuple[tuple[str, float], ...]
    units: str
    standard_name: str
    long_name: str
    table_id: str = "Lmon"
    positive: str | None = None
    water: bool = False
    comment: str | None = None


_V = CmipVariable
_FLUX = "kg m-2 s-1"
_POOL = "kg m-2"
#: Engine output → CMIP variable: names, units, standard names and how each is derived.
CMIP_TABLE: tuple[CmipVariable, ...] = (
    _V("gpp", (("gpp", 1.0),), _FLUX,
       "gross_primary_productivity_of_biomass_expressed_as_carbon",
       "Carbon Mass Flux out of Atmosphere due to Gross Primary Production on Land"),
    _V("ra", (("autotrophic_respiration", 1.0),), _FLUX, "plant_respiration_carbon_flux",
       "Carbon Mass Flux into Atmosphere due to Autotrophic (Plant) Respiration on Land"),
    _V("rh", (("litter_respiration", 1.0), ("som_respiration", 1.0)), _FLUX,
       "heterotrophic_respiration_carbon_flux",
       "Total Heterotrophic Respiration on Land as Carbon Mass Flux",
       comment="litter plus soil organic matter respiration"),
    _V("nep", (("nee", -1.0),), _FLUX,
       "surface_net_downward_mass_flux_of_carbon_dioxide_expressed_as_carbon_due_to_all_land_"
       "processes_excluding_anthropogenic_land_use_change",
       "Net Carbon Mass Flux out of Atmosphere due to Net Ecosystem Productivity on Land",
       positive="down",
       comment="minus the net ecosystem exchange (nee = ra + rh - gpp, upward)"),
    _V("nbp", (("nbe", -1.0),), _FLUX,
       "surface_net_downward_mass_flux_of_carbon_dioxide_expressed_as_carbon_due_to_all_land_"
       "processes",
       "Carbon Mass Flux out of Atmosphere due to Net Biospheric Production on Land",
       positive="down", comment="minus the net biosphere exchange (nee plus fire emission)"),
    _V("fFire", (("fire_emission", 1.0),), _FLUX,
       "surface_upward_mass_flux_of_carbon_dioxide_expressed_as_carbon_due_to_emission_from_"
       "fires_excluding_anthropogenic_land_use_change",
       "Carbon Mass Flux into Atmosphere due to CO2 Emission from Fire", positive="up"),
    _V("lai", (("lai", 1.0),), "1", "leaf_area_index", "Leaf Area Index",
       comment="leaf area at the start of each model step"),
    _V("evspsbl", (("et", 1.0),), _FLUX, "water_evapotranspiration_flux",
       "Evaporation Including Sublimation and Transpiration", table_id="Amon", water=True),
    _V("mrso", (("water_pool", 1.0),), _POOL, "mass_content_of_water_in_soil",
       "Total Soil Moisture Content", water=True,
       comment="DALEC993's plant-available water store at the end of each model step"),
    _V("cVeg", (("labile_pool", 1.0), ("foliar_pool", 1.0), ("root_pool", 1.0),
                ("wood_pool", 1.0)), _POOL, "vegetation_carbon_content",
       "Carbon Mass in Vegetation", comment="labile + foliar + root + wood pools at the end of "
       "each model step"),
    _V("cSoil", (("som_pool", 1.0),), _POOL, "soil_mass_content_of_carbon",
       "Carbon Mass in Model Soil Pool", comment="soil organic matter pool at the end of each "
       "model step"),
    _V("cLitter", (("litter_pool", 1.0),), _POOL, "litter_mass_content_of_carbon",
       "Carbon Mass in Litter Pool", comment="litter pool at the end of each model step"),
)
del _V

_BY_NAME = {v.name: v for v in CMIP_TABLE}
#: The engine outputs the whole table needs: simulate these to export every CMIP variable.
CMIP_OUTPUTS: tuple[str, ...] = tuple(dict.fromkeys(t for v in CMIP_TABLE for t, _ in v.terms))


def cmip_dataset(result: xr.Dataset, variables=None) -> xr.Dataset:
    """The CMIP variables of a gridded simulation, converted, in one CF Dataset (in memory).

    Parameters
    ----------
    result : xarray.Dataset
        A simulation on ``(time, lat, lon)`` whose variables carry pint-readable ``units``
        (``model.simulate(ds, outputs="all")`` or a file it wrote).
    variables : sequence of str, optional
        CMIP names from :data:`CMIP_TABLE`. Default: every one whose outputs ``result`` holds.

    Returns
    -------
    xarray.Dataset
        The CMIP variables (float32, CMIP units), ``lat_bnds``/``lon_bnds``, ``time_bnds``
        and the cell area ``areacella`` their ``cell_measures`` name.

    Raises
    ------
    ValueError
        If ``result`` is not on a lat/lon grid (of at least 2 x 2 cells), or holds the outputs
        of none of the variables.
    KeyError
        If a requested variable is unknown or an output it needs is missing.

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> time = pd.date_range("2001-01-01", periods=2, freq="MS") + pd.Timedelta("14D")
    >>> sim = xr.Dataset({"gpp": (("time", "lat", "lon"), np.full((2, 2, 2), 8.64),
    ...                           {"units": "g m-2 d-1"})},
    ...                  coords={"time": time, "lat": [0.25, 0.75], "lon": [10.25, 10.75]})
    >>> out = cmip_dataset(sim)
    >>> out["gpp"].attrs["units"], round(float(out["gpp"][0, 0, 0]) * 1e7, 6)  # 8.64 g m-2 d-1
    ('kg m-2 s-1', 1.0)
    >>> out["gpp"].attrs["cell_measures"], out["gpp"].attrs["cell_methods"]
    ('area: areacella', 'area: mean where land time: mean')
    """
    if not {"lat", "lon"} <= set(result.dims):
        raise ValueError("to_cmip needs a gridded result on (time, lat, lon); got dims "
                         f"{tuple(result.dims)}")
    if min(result.sizes["lat"], result.sizes["lon"]) < 2:
        # cells need neighbours to have edges, hence bounds and an area
        raise ValueError("to_cmip needs at least two cells along lat and along lon")
    chosen = _choose(result, variables)
    out = xr.Dataset({v.name: _derive(result, v) for v in chosen}, attrs=result.attrs)
    out = out.assign_coords({name: result[name] for name in ("time", "lat", "lon")})
    # cf_result appends to the simulation's history, so the export says what it was made from
    return cf_grid(out, title=f"{_model_title(result)}: CMIP variables",
                   what=f"to_cmip {', '.join(v.name for v in chosen)}")


def to_cmip(result: xr.Dataset, directory: str | os.PathLike, *,
            model_name: str = "xdifferland", experiment_id: str = "synthetic",
            member_id: str = "r1i1p1f1", grid_label: str = "gn", variables=None,
            overwrite: bool = False) -> Path:
    """Write a simulation as CMIP-named files plus the model table ilamb3 reads.

    Parameters
    ----------
    result : xarray.Dataset
        A monthly simulation on ``(time, lat, lon)`` (see :func:`cmip_dataset`).
    directory : str or path-like
        Folder for the files; created if missing.
    model_name, experiment_id, member_id, grid_label : str
        The CMIP facets in file names, global attributes and the model table; ``model_name``
        is the ``source_id`` ILAMB shows as the model's name.
    variables : sequence of str, optional
        CMIP names to write (default: all that ``result`` can give, see :data:`CMIP_TABLE`).
    overwrite : bool
        Replace existing files. Default False: refuse before anything is written.

    Returns
    -------
    Path
        The model table ``directory/models.csv``: one row per file with ``source_id``,
        ``experiment_id``, ``member_id``, ``grid_label``, ``table_id``, ``variable_id``,
        ``frequency`` and the absolute ``path``.

    Raises
    ------
    FileExistsError
        If a target exists and ``overwrite`` is False.
    ValueError
        If ``result`` is not monthly and gridded, or gives none of the variables.

    Examples
    --------
    >>> import tempfile, numpy as np, pandas as pd, xarray as xr
    >>> time = pd.date_range("2001-01-01", periods=3, freq="MS") + pd.Timedelta("14D")
    >>> sim = xr.Dataset({"lai": (("time", "lat", "lon"), np.ones((3, 2, 2)),
    ...                           {"units": "m2 m-2"})},
    ...                  coords={"time": time, "lat": [0.25, 0.75], "lon": [10.25, 10.75]})
    >>> rows = pd.read_csv(to_cmip(sim, tempfile.mkdtemp()))
    >>> rows[["variable_id", "table_id"]].values.tolist()
    [['lai', 'Lmon'], ['areacella', 'fx'], ['sftlf', 'fx']]
    >>> Path(rows["path"][0]).name
    'lai_Lmon_xdifferland_synthetic_r1i1p1f1_gn_200101-200103.nc'
    """
    from ..contract.handoff import time_axis

    if "time" not in result.dims or time_axis(result["time"]).frequency != "monthly":
        raise ValueError("to_cmip writes monthly (Lmon) files; give it a monthly simulation")
    ds = cmip_dataset(result, variables)
    names = [n for n in ds.data_vars if n != "areacella"]
    ds["sftlf"] = _land_fraction(ds[names])
    folder = Path(directory)
    facets = {"source_id": model_name, "experiment_id": experiment_id, "member_id": member_id,
              "grid_label": grid_label}
    stem = "_".join(facets.values())
    span = "-".join(pd.Timestamp(t).strftime("%Y%m") for t in ds["time"].values[[0, -1]])
    tables = {n: _BY_NAME[n].table_id for n in names} | {"areacella": "fx", "sftlf": "fx"}
    targets = {n: folder / (f"{n}_fx_{stem}.nc" if table == "fx" else
                            f"{n}_{table}_{stem}_{span}.nc") for n, table in tables.items()}
    table_file = folder / "models.csv"
    if not overwrite:
        # refuse before writing anything: a half-replaced export would mix two runs
        existing = [str(p) for p in [*targets.values(), table_file] if p.exists()]
        if existing:
            raise FileExistsError(f"{existing[0]} exists; pass overwrite=True to replace the "
                                  f"export in {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, path in targets.items():
        fixed = tables[name] == "fx"
        # CF: the cell measure travels with the data it measures
        one = ds[[name] if fixed else [name, "areacella"]]
        # bounds share no dimension with the data ("nv"), so selecting drops them
        bounds = ["lat_bnds", "lon_bnds"] + ([] if fixed else ["time_bnds"])
        # ...and as data variables, not coordinates, or xarray lists them in `coordinates`
        one = one.assign({b: ds[b] for b in bounds})
        if fixed:
            one = one.drop_vars(["time"], errors="ignore")
        one.attrs.update(facets, table_id=tables[name], variable_id=name,
                         frequency="fx" if fixed else "mon",
                         realm="atmos" if tables[name] == "Amon" else "land",
                         product="model-output", xdifferland_version=__version__)
        # the writer adds the CF encoding (float time, no fill on coordinates and bounds)
        encoding = {name: {"_FillValue": _FILL}}
        if "areacella" in one:
            encoding["areacella"] = {"_FillValue": None}  # every cell has an area
        to_netcdf(one, path, overwrite=overwrite, encoding=encoding)
        rows.append({**facets, "table_id": tables[name], "variable_id": name,
                     "frequency": one.attrs["frequency"], "path": str(path.resolve())})
    write_text_atomic(table_file, pd.DataFrame(rows, columns=TABLE_COLUMNS).to_csv(index=False))
    return table_file


# --- helpers (cf_grid and convert are shared with xdifferland.io.ilamb) ---------------------------

def cf_grid(ds: xr.Dataset, *, title: str, what: str) -> xr.Dataset:
    """CF metadata (:func:`~xdifferland.io.conventions.cf_result`) plus CMIP's grid variables.

    Adds ``lat_bnds``/``lon_bnds`` and the cell area ``areacella`` that every data variable's
    ``cell_measures`` then names (CMIP's name rather than the package's ``cell_area``).

    Examples
    --------
    >>> ds = xr.Dataset({"cSoil": (("lat", "lon"), np.ones((2, 2)), {"units": "kg m-2"})},
    ...                 coords={"lat": [0.25, 0.75], "lon": [10.25, 10.75]})
    >>> out = cf_grid(ds, title="soil carbon", what="example")
    >>> out["cSoil"].attrs["cell_measures"], out["lat_bnds"].values.tolist()
    ('area: areacella', [[0.0, 0.5], [0.5, 1.0]])
    """
    out = cf_result(ds, title=title, what=what)
    for name in ("lat", "lon"):
        out = out.assign_coords({f"{name}_bnds": _bounds(out[name])})
        out[name].attrs["bounds"] = f"{name}_bnds"
    names = list(out.data_vars)
    # assigned as a bare variable: a DataArray's own lat/lon would replace the coordinates'
    # attributes
    area = cell_area(out["lat"], out["lon"])
    out["areacella"] = (area.dims, area.values, {
        **area.attrs, "long_name": "Grid-Cell Area for Atmospheric Grid Variables",
        "cell_methods": "area: sum"})
    for name in names:
        out[name].attrs["cell_measures"] = "area: areacella"
    return out


def _choose(result: xr.Dataset, variables) -> list[CmipVariable]:
    if variables is None:
        chosen = [v for v in CMIP_TABLE if all(t in result for t, _ in v.terms)]
        if not chosen:
            raise ValueError(
                "the result holds the outputs of no CMIP variable; simulate with "
                "outputs='all' (or e.g. gpp, lai, nee, nbe, et)")
        return chosen
    if isinstance(variables, str):
        variables = [variables]
    chosen = []
    for name in variables:
        if name not in _BY_NAME:
            raise KeyError(f"unknown CMIP variable {name!r}; known: {', '.join(_BY_NAME)}")
        v = _BY_NAME[name]
        missing = [t for t, _ in v.terms if t not in result]
        if missing:
            raise KeyError(f"{name} needs the output(s) {', '.join(missing)}, which the result "
                           "lacks; simulate with outputs='all'")
        chosen.append(v)
    return chosen


def _derive(result: xr.Dataset, v: CmipVariable) -> xr.DataArray:
    """Sum the signed terms, each converted to the CMIP units first (pint checks each)."""
    total = None
    methods = set()
    for output, sign in v.terms:
        da = convert(result[output], v.units, water=v.water)
        total = sign * da if total is None else total + sign * da
        # only the time part is the engine's; the area part is CMIP's (land cells only)
        found = re.search(r"time:\s*\w+", str(result[output].attrs.get("cell_methods", "")))
        methods.add(found.group(0) if found else "time: mean")
    if len(methods) > 1:
        raise ValueError(f"{v.name}: its terms have different cell_methods {sorted(methods)}")
    attrs = {"standard_name": v.standard_name, "long_name": v.long_name, "units": v.units,
             "cell_methods": f"area: mean where land {methods.pop()}"}
    if v.positive:
        attrs["positive"] = v.positive
    if v.comment:
        attrs["comment"] = v.comment
    return total.astype(np.float32).assign_attrs(attrs).rename(v.name)


def convert(da: xr.DataArray, units: str, *, water: bool = False) -> xr.DataArray:
    """``da`` in ``units``, through pint-xarray; with ``water`` a depth is weighed as liquid water.

    The result has no attributes: the caller declares them.

    Examples
    --------
    >>> et = xr.DataArray([8.64], dims="time", attrs={"units": "mm/day"})
    >>> round(float(convert(et, "kg m-2 s-1", water=True)[0]) * 1e4, 6)  # 1 mm = 1 kg m-2
    1.0
    """
    from ..contract.convert import UREG, WATER_DENSITY, parse_units

    if "units" not in da.attrs:
        raise ValueError(f"{da.name}: no units attribute, so it cannot be converted to {units}")
    source = parse_units(da.attrs["units"])
    target = parse_units(units).units
    # coordinates aside: pint-xarray would also try to read their units (degrees_north...)
    bare = da.drop_vars(list(da.coords)).astype(np.float64)
    # a numeric scale in the units string ("1e-3 kg m-2") multiplies the values
    q = (bare * float(source.magnitude)).pint.quantify(source.units, unit_registry=UREG)
    if water and source.dimensionality != target.dimensionality:
        q = q * WATER_DENSITY
    converted = q.pint.to(target).pint.dequantify()
    converted.attrs = {}
    return converted.assign_coords(da.coords)


def _bounds(centres: xr.DataArray) -> xr.DataArray:
    """Cell edges ``(n, 2)`` halfway between centres (as the cell areas use them)."""
    edges = cell_edges(centres.values)
    if centres.name == "lat":
        edges = np.clip(edges, -90.0, 90.0)
    return xr.DataArray(np.stack([edges[:-1], edges[1:]], axis=-1), dims=(centres.name, "nv"))


def _land_fraction(ds: xr.Dataset) -> xr.DataArray:
    """``sftlf`` (%): 100 where any variable has a value at any time, else 0.

    The model runs only on land cells with predictors, so a cell with output is land.
    """
    present = np.zeros((ds.sizes["lat"], ds.sizes["lon"]), dtype=bool)
    for da in ds.data_vars.values():
        valid = da.notnull()
        present |= np.asarray((valid.any("time") if "time" in da.dims else valid)
                              .transpose("lat", "lon"))
    # built from values: attributes of the data (their cell_measures) must not leak in
    return xr.DataArray(np.where(present, 100.0, 0.0).astype(np.float32), dims=("lat", "lon"),
                        attrs={"standard_name": "land_area_fraction",
                               "long_name": "Percentage of the Grid Cell Occupied by Land "
                                            "(Including Lakes)",
                               "units": "%", "cell_methods": "area: mean",
                               "comment": "100 where the model produced output, else 0"})


def _model_title(result: xr.Dataset) -> str:
    return str(result.attrs.get("title") or "xdifferland simulation")
