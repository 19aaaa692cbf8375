"""Parameter identifiability: how consistently independently trained members agree.

A parameter that the observations constrain converges to similar values in every member; one
they do not constrain wanders. Following the DifferLand paper, the diagnostic is the pixelwise
coefficient of variation (CV = standard deviation / |mean|) across ensemble members, summarized by
its spatial median; a parameter is called identifiable when that median is below a threshold
(0.5 by default).

Layers: :func:`coefficient_of_variation` (numpy) → :func:`identifiability` (a parameters Dataset
with a ``member`` dim, or an :class:`~xdifferland.ensemble.Ensemble` and a Dataset).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["coefficient_of_variation", "identifiability"]


def coefficient_of_variation(values, axis: int = 0, ddof: int = 1) -> np.ndarray:
    """``std / |mean|`` along ``axis`` (NaN where the mean is 0 or values are missing).

    Examples
    --------
    >>> coefficient_of_variation(np.array([[1.0, 2.0], [3.0, 2.0]]))
    array([0.70710678, 0.        ])
    """
    values = np.asarray(values, float)
    ddof = ddof if values.shape[axis] > ddof else 0
    mean = values.mean(axis=axis)
    std = values.std(axis=axis, ddof=ddof)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean != 0, std / np.abs(mean), np.nan)


def identifiability(parameters, ds: xr.Dataset | None = None, *, threshold: float = 0.5,
                    dim: str = "member", ddof: int = 1) -> xr.Dataset:
    """Pixelwise CV across members, its spatial median and an identifiable flag per parameter.

    Parameters
    ----------
    parameters : xarray.Dataset or Ensemble
        Parameter maps with a ``dim`` (member) dimension, e.g. ``ensemble.parameters(ds)``; or
        an :class:`~xdifferland.ensemble.Ensemble`, applied to ``ds``.
    ds : xarray.Dataset, optional
        Needed when ``parameters`` is an Ensemble.
    threshold : float, default 0.5
        A parameter is identifiable when its spatial median CV is below this.
    dim : str, default "member"
    ddof : int, default 1
        Degrees of freedom of the standard deviation (sample standard deviation by default).

    Returns
    -------
    xarray.Dataset
        ``cv`` (parameter, *spatial), ``median_cv`` (parameter) and ``identifiable``
        (parameter, bool), with ``attrs["threshold"]``.

    Examples
    --------
    >>> p = xr.Dataset({"a": (("member", "x"), [[1.0, 1.0], [1.1, 0.9]]),
    ...                 "b": (("member", "x"), [[1.0, -1.0], [3.0, 2.0]])})
    >>> res = identifiability(p)
    >>> res.identifiable.values.tolist()
    [True, False]
    """
    if not isinstance(parameters, xr.Dataset):
        if ds is None:
            raise TypeError("pass the Dataset to apply the ensemble to: identifiability(ens, ds)")
        parameters = parameters.parameters(ds)
    if dim not in parameters.dims:
        raise ValueError(f"parameters have no {dim!r} dimension; pass ensemble.parameters(ds)")
    names = [n for n in parameters.data_vars if dim in parameters[n].dims]
    stacked = parameters[names].to_dataarray("parameter")
    cv = xr.apply_ufunc(coefficient_of_variation, stacked, input_core_dims=[[dim]],
                        kwargs={"axis": -1, "ddof": ddof})
    spatial = [d for d in cv.dims if d != "parameter"]
    median = cv.median(spatial, skipna=True) if spatial else cv
    out = xr.Dataset({"cv": cv, "median_cv": median, "identifiable": median < threshold})
    out["cv"].attrs["long_name"] = "coefficient of variation across members"
    out["median_cv"].attrs["long_name"] = "spatial median of the coefficient of variation"
    out.attrs.update(threshold=float(threshold), members=int(parameters.sizes[dim]))
    return out
