"""Statistics over an ensemble's ``member`` dim that keep their meaning and metadata.

Phenology days are taken modulo 365.25 first (a leaf-fall day of 10 and one of 375 are the same
day), and results carry CF attributes named for what they are: an ensemble mean keeps the
quantity's standard name, a spread does not (a standard deviation of GPP is not GPP).
"""

from __future__ import annotations

import xarray as xr

from .registry import DAYS_PER_YEAR, PHENOLOGY_DAYS

__all__ = ["ensemble_mean", "ensemble_spread"]


def ensemble_mean(obj, dim: str = "member"):
    """Mean over members (phenology days are taken modulo 365.25 first).

    Examples
    --------
    >>> da = xr.DataArray([1.0, 3.0], dims="member")
    >>> float(ensemble_mean(da))
    2.0
    """
    return _relabel(_wrap_days(obj).mean(dim, keep_attrs=True), "ensemble mean of ",
                    keep_standard_name=True)


def ensemble_spread(obj, dim: str = "member"):
    """Sample standard deviation over members (``ddof=1``; phenology days modulo 365.25).

    Examples
    --------
    >>> float(ensemble_spread(xr.DataArray([1.0, 3.0], dims="member")))
    1.4142135623730951
    """
    return _relabel(_wrap_days(obj).std(dim, ddof=1 if obj.sizes[dim] > 1 else 0,
                                        keep_attrs=True),
                    "ensemble standard deviation of ", keep_standard_name=False)


def _wrap_days(obj):
    # attributes set explicitly: whether arithmetic keeps them depends on the xarray version
    def wrap(da):
        return (da % DAYS_PER_YEAR).assign_attrs(da.attrs)

    if isinstance(obj, xr.Dataset):
        return obj.assign({n: wrap(obj[n]) for n in PHENOLOGY_DAYS if n in obj})
    return wrap(obj) if obj.name in PHENOLOGY_DAYS else obj


def _relabel(obj, prefix: str, keep_standard_name: bool):
    """Member statistics named for what they are; a spread is not the quantity's standard name."""
    arrays = obj.data_vars.values() if isinstance(obj, xr.Dataset) else [obj]
    for da in arrays:
        if "long_name" in da.attrs:
            da.attrs["long_name"] = prefix + da.attrs["long_name"]
        if not keep_standard_name:
            da.attrs.pop("standard_name", None)
    return obj
