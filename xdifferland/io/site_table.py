"""The site table of a CARDAMOM site folder (``site_coords.csv``): static predictors and
site coordinates, read on their own or attached to the sites' drivers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..contract.declare import variable

__all__ = ["read_site_coords"]

_LATLON_ATTRS = {
    name: {"units": f"degrees_{end}", "standard_name": name, "long_name": name}
    for name, end in (("latitude", "north"), ("longitude", "east"))
}


# Site-table column -> (name in the Dataset, kind). Predictors become data variables with the
# metadata of the declared table; the rest become coordinates on ``site``.
_SITE_TABLE = {
    "MAT": ("mean_annual_temperature", "predictor"),
    "MAP": ("mean_annual_precipitation", "predictor"),
    "ELEV": ("elevation", "predictor"),
    "lat": ("latitude", "coord"),
    "lon": ("longitude", "coord"),
    "IGBP": ("igbp", "coord"),
    "cluster": ("cluster", "coord"),
}


def read_site_coords(path: str | Path) -> xr.Dataset:
    """Read a ``site_coords.csv`` site table as static per-site predictors.

    Parameters
    ----------
    path : str or Path
        CSV with columns SITE_ID, cluster, lon, lat, ELEV (m), MAP (mm/year), MAT (degC), IGBP;
        further columns (start_year, end_year, ...) are ignored.

    Returns
    -------
    xarray.Dataset
        Dim ``site``; data variables ``mean_annual_temperature`` (degC),
        ``mean_annual_precipitation`` (mm/year) and ``elevation`` (m) with the metadata of the
        declared variable table; coordinates ``latitude``, ``longitude``, ``igbp`` (IGBP class)
        and ``cluster`` (climate cluster).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If a required column is missing (named in the message).

    Examples
    --------
    >>> table = read_site_coords("../shared/data/fluxnet_sites/site_coords.csv")
    >>> table.sizes["site"], str(table.igbp.sel(site="US-Ha1").item())
    (12, 'DBF')
    >>> table.mean_annual_precipitation.attrs["units"]
    'mm/year'
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"site table not found: {path}")
    frame = pd.read_csv(path)
    missing = [c for c in ("SITE_ID", *_SITE_TABLE) if c not in frame.columns]
    if missing:
        raise ValueError(f"site table {path} lacks column(s) {', '.join(missing)}")
    data_vars, coords = {}, {"site": ("site", frame["SITE_ID"].astype(str).to_numpy(dtype=str),
                                      {"long_name": "site identifier"})}
    for column, (name, kind) in _SITE_TABLE.items():
        values = frame[column].to_numpy()
        if kind == "predictor":
            declared = variable(name)
            attrs = {"units": declared.units, "long_name": declared.long_name,
                     "original_name": column}
            if declared.standard_name:
                attrs["standard_name"] = declared.standard_name
            data_vars[name] = ("site", values.astype("float64"), attrs)
        elif name in ("latitude", "longitude"):
            coords[name] = ("site", values.astype("float64"), _LATLON_ATTRS[name])
        else:
            long_name = "IGBP land-cover class" if name == "igbp" else "climate cluster"
            coords[name] = ("site", values.astype(str), {"long_name": long_name})
    return xr.Dataset(data_vars, coords=coords, attrs={"source": str(path)})


def _coords_from_table(csv: Path, site: str) -> tuple[float, float]:
    """(lat, lon) of a site from a site table next to its file; NaN when absent."""
    try:
        row = read_site_coords(csv).sel(site=site)
    except (OSError, ValueError, KeyError):
        # No table, a malformed one or no row for this site: a single-file read still works.
        return np.nan, np.nan
    return float(row.latitude), float(row.longitude)


def _add_site_table(ds: xr.Dataset, csv: Path) -> xr.Dataset:
    """Attach static predictors and site coordinates from a site table."""
    if not csv.is_file():
        raise FileNotFoundError(
            f"site table {csv} not found; pass coords_file=None to read the site files without "
            f"static predictors"
        )
    table = read_site_coords(csv)
    missing = [s for s in ds.site.values if s not in table.site.values]
    if missing:
        raise ValueError(f"site(s) {', '.join(map(str, missing))} not listed in {csv}")
    table = table.sel(site=ds.site.values)
    # Latitude from the files is authoritative; the table fills it only where a file has none.
    latitude = ds.latitude.fillna(table.latitude)
    table = table.drop_vars(["latitude", "site"])
    out = ds.assign(table.data_vars).assign_coords(
        {k: ("site", table[k].values, table[k].attrs) for k in table.coords if k != "site"}
    )
    return out.assign_coords(latitude=latitude)
