"""Labeled parameter sets: DALEC993 parameters as xarray Datasets, one variable per entry."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import xarray as xr

from ._version import __version__
from .errors import DataError, Problem
from .io.conventions import udunits
from .registry import PARAMETER_NAMES, PARAMETERS, resolve_name, spec

__all__ = ["default_parameters", "parameter_attrs", "parameters_dataset", "parameter_arrays",
           "parameter_variables"]


def parameter_attrs(name: str) -> dict:
    """CF attributes of one parameter variable (UDUNITS units, bounds, published name).

    Units UDUNITS cannot spell (the ``kPa**0.5`` of the underlying water-use efficiency) are
    given in ``long_name`` and ``units_description`` rather than as an invalid ``units``.

    Examples
    --------
    >>> parameter_attrs("autotrophic_fraction")["units"]
    '1'
    >>> parameter_attrs("temperature_sensitivity")["units"]
    'K-1'
    """
    entry = spec(name)
    long_name = entry.description.rstrip(".")
    units = udunits(entry.units)
    attrs = {"long_name": long_name}
    if units is None:
        attrs["long_name"] = f"{long_name} [{entry.units}]"
        attrs["units_description"] = entry.units
    else:
        attrs["units"] = units
    attrs.update({"published_name": entry.alias, "valid_min": entry.min,
                  "valid_max": entry.max, "group": entry.group})
    return attrs


def _spatial_template(like: xr.Dataset | xr.DataArray, spatial_dims: Sequence[str] | None
                      ) -> xr.DataArray:
    if spatial_dims is None:
        # the time dim by CF attributes (ERA5's valid_time too)
        from .contract.axes import find_axes

        time = find_axes(like).time or "time"
        dims = [d for d in like.dims if d != time and d not in _bounds_only_dims(like)]
    else:
        dims = list(spatial_dims)
    coords = {d: like[d] for d in dims if d in like.coords}
    extra = {name: c for name, c in like.coords.items()
             if name not in dims and set(c.dims) and set(c.dims) <= set(dims)}
    shape = [like.sizes[d] for d in dims]
    return xr.DataArray(np.zeros(shape), dims=dims, coords={**coords, **extra})


def _bounds_only_dims(like: xr.Dataset | xr.DataArray) -> set:
    """Dims used only by CF cell-bounds variables (CMIP's ``bnds``), never spatial."""
    variables = like.variables if isinstance(like, xr.Dataset) else like.coords.variables
    bounds = {v.attrs.get("bounds", v.encoding.get("bounds")) for v in variables.values()}
    used = {d for name, v in variables.items() if name not in bounds for d in v.dims}
    if isinstance(like, xr.DataArray):
        used |= set(like.dims)
    return set(like.dims) - used


def default_parameters(like: xr.Dataset | xr.DataArray | None = None, *,
                       spatial_dims: Sequence[str] | None = None) -> xr.Dataset:
    """Mid-range values of all 40 parameters (x = 0 of the bounded transform).

    Parameters
    ----------
    like : Dataset or DataArray, optional
        Values are broadcast over its spatial (non-time) dims and coordinates; without it, the
        variables are scalars.
    spatial_dims : sequence of str, optional
        The dims to broadcast over (default: every dim of ``like`` except its time dim, found
        as in :func:`xdifferland.contract.axes.find_axes`, and dims used only by cell bounds).

    Returns
    -------
    xarray.Dataset
        One variable per registry entry with ``units``, ``long_name`` and bounds attributes.

    Examples
    --------
    >>> import xdifferland
    >>> p = xdifferland.default_parameters()
    >>> round(float(p["canopy_efficiency"]), 3), p["canopy_efficiency"].attrs["units"]
    (15.811, 'g m-2 d-1')
    """
    template = None if like is None else _spatial_template(like, spatial_dims)
    variables = {}
    for entry in PARAMETERS:
        value = np.float64(entry.midpoint)
        da = xr.DataArray(value) if template is None else xr.full_like(template, value)
        variables[entry.name] = _with_attrs(da, parameter_attrs(entry.name))
    return xr.Dataset(variables, attrs={"title": "DALEC993 mid-range parameters",
                                        "xdifferland_version": __version__})


def parameters_dataset(values: Mapping[str, np.ndarray], template: xr.DataArray,
                       attrs: Mapping | None = None) -> xr.Dataset:
    """Wrap per-pixel parameter arrays into a labeled Dataset shaped like ``template``."""
    variables = {
        resolve_name(name): _with_attrs(template.copy(data=np.asarray(v)), parameter_attrs(name))
        for name, v in values.items()
    }
    return xr.Dataset(variables, attrs=dict(attrs or {}))


def _with_attrs(da: xr.DataArray, attrs: dict) -> xr.DataArray:
    """``da`` carrying exactly ``attrs``: nothing of the template's (say, a mask's units) leaks."""
    da = da.copy(deep=False)
    da.attrs = dict(attrs)
    return da


def parameter_arrays(parameters: xr.Dataset) -> dict[str, xr.DataArray]:
    """Registry name → DataArray for a parameters Dataset (aliases accepted); all 40 required."""
    found: dict[str, xr.DataArray] = {}
    for name, da in parameters.data_vars.items():
        try:
            found[resolve_name(str(name))] = da
        except KeyError:
            continue
    missing = [p.name for p in PARAMETERS if p.name not in found]
    if missing:
        raise DataError([Problem(
            "parameters", f"missing {len(missing)} of 40 parameters: {', '.join(missing)}.",
            "start from xdifferland.default_parameters(like=ds) and overwrite the entries you "
            "want to change")])
    out_of_range = [
        Problem(name, f"values outside [{spec(name).min}, {spec(name).max}] ({spec(name).units}).",
                "use values within the registry bounds (xdifferland.parameter_table())")
        for name, da in found.items()
        if bool(((da < spec(name).min * (1 - 1e-6)) | (da > spec(name).max * (1 + 1e-6))).any())
    ]
    if out_of_range:
        raise DataError(out_of_range)
    return found


def parameter_variables(parameters: xr.Dataset) -> list[str]:
    """Names of the model parameters among the data variables of ``parameters``.

    A fit's or an ensemble's parameters carry companions that are no parameters (the
    ``extrapolation`` score); analyses of the parameters leave them out. A Dataset none of whose
    variables is a registry parameter (one built by hand, with names of its own) is taken whole.

    Examples
    --------
    >>> p = default_parameters()
    >>> p["extrapolation"] = 0.0
    >>> names = parameter_variables(p)
    >>> len(names), "extrapolation" in names
    (40, False)
    >>> parameter_variables(xr.Dataset({"a": 1.0, "b": 2.0}))
    ['a', 'b']
    """
    everything = [str(n) for n in parameters.data_vars]
    known = [n for n in everything if n in PARAMETER_NAMES]
    return known if known else everything
