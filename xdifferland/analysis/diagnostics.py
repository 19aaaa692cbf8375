"""Carbon-budget diagnostics: cell areas, area-weighted net carbon flux, site comparisons.

* :func:`cell_area`: area of each cell of a lat/lon grid on a sphere (m²), from the cell
  edges halfway between centres (the one implementation,
  :func:`xdifferland.io.conventions.cell_area`, which also gives written files their ``cell_area``
  variable).
* :func:`net_carbon_flux`: global and regional totals of a flux density such as simulated NBE
  (g C m⁻² d⁻¹) in Pg C yr⁻¹: ``Σ flux × area × 365.25 / 1e15``, regions being latitude bands or
  user masks.
* :func:`site_comparison`: time means of simulated and observed series at the observed
  locations (e.g. eddy-covariance towers) and their spatial correlation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from ..io.conventions import EARTH_RADIUS, cell_area, cell_edges
from ..registry import DAYS_PER_YEAR
from ..contract.convert import convert_to

__all__ = ["EARTH_RADIUS", "cell_area", "cell_edges", "net_carbon_flux", "site_comparison"]

_G_PER_PG = 1e15


def _regions(lat: xr.DataArray, regions, bands) -> dict[str, xr.DataArray]:
    out = {"global": xr.ones_like(lat, dtype=bool)}
    for south, north in bands or ():
        out[f"{south:g} to {north:g} degN"] = (lat >= south) & (lat < north)
    for name, mask in (regions or {}).items():
        out[str(name)] = mask.astype(bool)
    return out


def net_carbon_flux(flux: xr.DataArray, *, area: xr.DataArray | None = None,
                    bands: Sequence[tuple[float, float]] | None = None,
                    regions: Mapping[str, xr.DataArray] | None = None,
                    time_mean: bool = False) -> xr.DataArray:
    """Area-integrated flux in Pg C yr⁻¹, globally and per region.

    Parameters
    ----------
    flux : xarray.DataArray
        Carbon flux density over ``(…, lat, lon)``, e.g. simulated NBE (positive = source to the
        atmosphere), with a ``units`` attribute convertible to g m⁻² d⁻¹ (``kg m-2 s-1``,
        ``gC/m2/d``, ...): it is converted first. Missing cells (NaN) count as zero.
    area : xarray.DataArray, optional
        Cell areas in m² (default :func:`cell_area` of the grid).
    bands : sequence of (south, north), optional
        Latitude bands (degrees; south inclusive, north exclusive).
    regions : mapping of name → bool DataArray, optional
        User region masks over ``(lat, lon)``.
    time_mean : bool, default False
        Average over ``time`` as well (the mean annual flux).

    Returns
    -------
    xarray.DataArray
        Dims ``(region, …)`` with ``region`` = ``"global"``, the bands, then the user regions.

    Raises
    ------
    UnitsError
        If ``flux`` has no ``units`` or units that are not a mass flux density.

    Examples
    --------
    >>> lat, lon = np.arange(-89.5, 90.0, 1.0), np.arange(-179.5, 180.0, 1.0)
    >>> flux = xr.DataArray(np.ones((180, 360)), dims=("lat", "lon"),
    ...                     coords={"lat": lat, "lon": lon}, attrs={"units": "g m-2 d-1"})
    >>> total = net_carbon_flux(flux, bands=[(0, 90)])  # 1 g m-2 d-1 over the whole sphere
    >>> [round(float(v), 1) for v in total]  # 5.1e14 m2 * 365.25 d / 1e15
    [186.3, 93.2]
    """
    flux = convert_to(flux, "g/m**2/day", name=str(flux.name or "flux"))
    if area is None:
        area = cell_area(flux["lat"].values, flux["lon"].values)
        area = area.assign_coords(lat=flux["lat"], lon=flux["lon"])
    else:
        area = convert_to(area, "m**2", name=str(area.name or "area"))
    lat = flux["lat"].broadcast_like(area)
    masks = _regions(lat, regions, bands)
    weighted = flux.fillna(0.0) * area * DAYS_PER_YEAR / _G_PER_PG
    totals = [weighted.where(mask, 0.0).sum(("lat", "lon")) for mask in masks.values()]
    out = xr.concat(totals, dim=xr.DataArray(list(masks), dims="region"))
    if time_mean and "time" in out.dims:
        out = out.mean("time")
    out.name = "net_carbon_flux"
    out.attrs.update(units="Pg yr-1",
                     long_name="area-integrated carbon flux (Pg C per year of 365.25 days)")
    return out


def site_comparison(simulated: xr.DataArray, observed: xr.DataArray, *,
                    time_dim: str = "time", min_count: int = 3) -> xr.Dataset:
    """Site means of simulated vs observed series and their spatial correlation.

    Each location's means are taken over the times where both are finite; locations with fewer
    than ``min_count`` such times (e.g. grid cells without a tower) are dropped.

    Parameters
    ----------
    simulated, observed : xarray.DataArray
        ``(time, site)`` or ``(time, lat, lon)`` with NaN where unobserved. When both declare
        ``units``, the simulation is converted to the observed units first (a ValueError names
        both when they cannot be).

    Returns
    -------
    xarray.Dataset
        ``simulated_mean``, ``observed_mean`` over a ``location`` dim, and scalars ``r``
        (Pearson correlation of the means), ``bias`` (mean difference) and ``n_sites``.

    Examples
    --------
    >>> obs = xr.DataArray(np.arange(12.0).reshape(4, 3), dims=("time", "site"))
    >>> res = site_comparison(obs * 2 + 1, obs)
    >>> float(res.r), int(res.n_sites)
    (1.0, 3)
    """
    from ..metrics import in_units_of

    simulated = in_units_of(simulated, observed)
    simulated, observed = xr.align(simulated, observed, join="inner")
    both = simulated.notnull() & observed.notnull()
    spatial = [d for d in observed.dims if d != time_dim]
    count = both.sum(time_dim)
    keep = count >= min_count
    sim = simulated.where(both).mean(time_dim).where(keep)
    obs = observed.where(both).mean(time_dim).where(keep)
    if len(spatial) > 1:
        sim, obs, count = (x.stack(location=spatial) for x in (sim, obs, count))
    else:
        sim, obs, count = (x.rename({spatial[0]: "location"}) for x in (sim, obs, count))
    ok = (sim.notnull() & obs.notnull()).values
    sim, obs, count = sim[ok], obs[ok], count[ok]
    r = np.corrcoef(sim.values, obs.values)[0, 1] if ok.sum() >= 2 else np.nan
    out = xr.Dataset({"simulated_mean": sim, "observed_mean": obs, "n_times": count,
                      "r": r, "bias": float((sim - obs).mean()) if ok.any() else np.nan,
                      "n_sites": int(ok.sum())})
    if len(spatial) > 1:
        out = out.reset_index("location")
    return out
