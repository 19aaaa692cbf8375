"""The synthetic world's observations as ILAMB reference data, and the ilamb3 study that uses them.

ILAMB scores a model against *reference* files (observations on a grid or at sites, in CF form)
listed in a study file. Its public catalogue is downloaded from ilamb.org; the synthetic world's
observations are written here instead, so a benchmark of the model against the world it was
fitted to runs offline:

* one CF file per observation, named and converted like the CMIP export of the model
  (:mod:`xdifferland.io.cmip`): ``gpp``, ``lai``, ``evspsbl``, ``cVeg``, ``cSoil``, ``nbp``,
  ``fFire`` and ``reco``;
* ``references.csv``: the reference table (``key``, ``path``) that ilamb3's ``run_study`` takes
  as ``ref_datasets``;
* ``study.yaml``: the ilamb3 study (one block per observation, its ``sources`` naming the keys).

See ``docs/ilamb.md`` for the whole workflow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .cmip import cf_grid, convert
from .netcdf import to_netcdf
from .text import write_text_atomic

__all__ = ["REFERENCES", "Reference", "write_ilamb_references"]

#: Prefix of the reference keys (``synthetic/gpp.nc``); ilamb3 looks the keys up in the table.
KEY_PREFIX = "synthetic"


@dataclass(frozen=True)
class Reference:
    """One observation of the synthetic world as an ILAMB reference variable.

    ``observation`` is the world's variable, multiplied by ``sign`` (the world reports the net
    biosphere exchange upward; CMIP's ``nbp`` is downward). ``setup`` is merged into the
    study block: ``transforms`` tell ilamb3 how to build the variable from CMIP output
    (``reco = ra + rh``), ``variable_cmap`` the colours of its maps.
    """

    name: str
    observation: str
    units: str
    heading: str
    standard_name: str | None = None
    sign: float = 1.0
    water: bool = False
    setup: dict = field(default_factory=dict)


_R = Reference
_FLUX = "kg m-2 s-1"
#: The observations written as references, with their ILAMB headings and study settings.
REFERENCES: tuple[Reference, ...] = (
    _R("gpp", "gpp", _FLUX, "Gross Primary Productivity",
       "gross_primary_productivity_of_biomass_expressed_as_carbon",
       setup={"variable_cmap": "Greens"}),
    _R("lai", "lai", "1", "Leaf Area Index", "leaf_area_index",
       setup={"variable_cmap": "Greens"}),
    _R("evspsbl", "et", _FLUX, "Evapotranspiration", "water_evapotranspiration_flux",
       water=True, setup={"variable_cmap": "Blues"}),
    _R("cVeg", "biomass", "kg m-2", "Biomass", "vegetation_carbon_content",
       setup={"variable_cmap": "Greens"}),
    _R("cSoil", "som", "kg m-2", "Soil Carbon", "soil_mass_content_of_carbon"),
    _R("nbp", "nbe", _FLUX, "Net Biome Production",
       "surface_net_downward_mass_flux_of_carbon_dioxide_expressed_as_carbon_due_to_all_land_"
       "processes", sign=-1.0),
    _R("fFire", "fire_emission", _FLUX, "Fire Emissions",
       "surface_upward_mass_flux_of_carbon_dioxide_expressed_as_carbon_due_to_emission_from_"
       "fires_excluding_anthropogenic_land_use_change"),
    # no CF standard name exists for ecosystem respiration; ilamb3 sums the model's ra and rh
    _R("reco", "reco", _FLUX, "Ecosystem Respiration",
       setup={"transforms": [{"expression": {"expr": "reco = ra + rh"}}]}),
)
del _R

#: Title of the study's top level (ILAMB's "section"), and its output folder.
STUDY_SECTION = "Synthetic world"


def write_ilamb_references(world: xr.Dataset, directory: str | os.PathLike, *,
                           overwrite: bool = False) -> Path:
    """Write a synthetic world's observations as ILAMB references, with table and study.

    Parameters
    ----------
    world : xarray.Dataset
        The first value of :func:`xdifferland.datasets.synthetic_world` (any gridded Dataset
        holding some of the observations in :data:`REFERENCES`, with ``units``).
    directory : str or path-like
        Folder for the files; created if missing.
    overwrite : bool
        Replace existing files. Default False: refuse before anything is written.

    Returns
    -------
    Path
        The study file ``directory/study.yaml``; next to it ``references.csv`` (``key``,
        absolute ``path``) and one ``{name}.nc`` per observation.

    Raises
    ------
    FileExistsError
        If a target exists and ``overwrite`` is False.
    ValueError
        If ``world`` holds none of the observations.

    Examples
    --------
    >>> import tempfile
    >>> from xdifferland.datasets import synthetic_world
    >>> world, _ = synthetic_world(n_lat=4, n_lon=5, n_years=1, spinup_years=1)
    >>> study = write_ilamb_references(world, tempfile.mkdtemp())
    >>> pd.read_csv(study.with_name("references.csv"))["key"].tolist()[:3]
    ['synthetic/gpp.nc', 'synthetic/lai.nc', 'synthetic/evspsbl.nc']
    >>> "reco = ra + rh" in study.read_text()
    True
    """
    import yaml

    chosen = [r for r in REFERENCES if r.observation in world]
    if not chosen:
        raise ValueError("the world holds none of the observations "
                         f"{', '.join(r.observation for r in REFERENCES)}")
    folder = Path(directory)
    targets = {r.name: folder / f"{r.name}.nc" for r in chosen}
    study, table = folder / "study.yaml", folder / "references.csv"
    if not overwrite:
        existing = [str(p) for p in [*targets.values(), study, table] if p.exists()]
        if existing:
            raise FileExistsError(f"{existing[0]} exists; pass overwrite=True to replace the "
                                  f"references in {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    keys, blocks = [], {}
    for ref in chosen:
        ds = _reference_dataset(world, ref)
        to_netcdf(ds, targets[ref.name], overwrite=overwrite,
                  encoding={ref.name: {"_FillValue": np.float32(1.0e20)}})
        key = f"{KEY_PREFIX}/{ref.name}.nc"
        keys.append({"key": key, "path": str(targets[ref.name].resolve())})
        blocks[ref.heading] = {"xdifferland synthetic world": {"sources": {ref.name: key},
                                                               **ref.setup}}
    write_text_atomic(table, pd.DataFrame(keys, columns=["key", "path"]).to_csv(index=False))
    text = yaml.safe_dump({STUDY_SECTION: blocks}, sort_keys=False)
    write_text_atomic(study, f"# ilamb3 study of the xdifferland synthetic world; the keys are "
                             f"looked up in {table.name}\n{text}")
    return study


def _reference_dataset(world: xr.Dataset, ref: Reference) -> xr.Dataset:
    """One observation of ``world`` as a CF reference Dataset in CMIP units."""
    obs = world[ref.observation]
    da = (ref.sign * convert(obs, ref.units, water=ref.water)).astype(np.float32)
    attrs = {"long_name": f"synthetic observations of {ref.heading.lower()}",
             "units": ref.units,
             "cell_methods": "area: mean where land" + (" time: mean" if "time" in da.dims
                                                        else "")}
    if ref.standard_name:
        attrs["standard_name"] = ref.standard_name
    if ref.sign < 0:
        attrs["comment"] = f"minus the world's {ref.observation} (CMIP sign convention)"
    ds = cf_grid(xr.Dataset({ref.name: da.assign_attrs(attrs)}),
                 title=f"xdifferland synthetic world: {ref.name} observations",
                 what=f"write_ilamb_references {ref.name} (seed {world.attrs.get('seed', '?')})")
    generator = world.attrs.get("generator_version")
    # the data come from the world's generator, not from a model run; ilamb3 shows
    # title, variable_id, institution and version on its result pages
    ds.attrs.update(source=f"{world.attrs.get('source', 'xdifferland synthetic world')}"
                           + (f" (generator {generator})" if generator else ""),
                    variable_id=ref.name, institution="xdifferland (synthetic data)",
                    version=str(generator or ""))
    return ds
