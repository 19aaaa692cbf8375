"""Parameter identifiability: how consistently independently trained members agree, and how well
a fit recovers parameters planted in a twin experiment.

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

from ..parameters import parameter_variables
from ..registry import DAYS_PER_YEAR

__all__ = ["coefficient_of_variation", "identifiability", "leaf_area_per_gpp", "parameter_recovery",
           "recovery_r"]


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
    names = [n for n in parameter_variables(parameters) if dim in parameters[n].dims]
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


def recovery_r(fitted, planted, cyclic: bool = False) -> float:
    """Pearson r between fitted and planted values over the locations where both are finite.

    ``cyclic`` values are days that act modulo one year (phenology timings). The planted days
    are unwrapped into the year centred on their circular mean, and each fitted day is moved by
    whole years to lie within half a year of its planted day; r is then taken on these days.
    So a timing one year later counts as the same, a fitted day's error is its distance on the
    calendar circle, and r does not depend on where the calendar starts (a projection such as
    ``cos(2 pi day / 365.25)`` would: it flattens days near its turning points).
    NaN when fewer than three locations remain or either side is constant.

    Examples
    --------
    >>> round(recovery_r([1.0, 2.0, 3.0, 4.0], [1.1, 1.9, 3.2, 3.9]), 3)
    0.993
    >>> round(recovery_r([100.0, 200.0, 300.0], [465.25, 565.25, 665.25], cyclic=True), 3)
    1.0
    >>> round(recovery_r([360.0, 5.0, 20.0], [1090.0, 1100.0, 1120.0], cyclic=True), 3)
    0.997
    """
    a, b = np.ravel(np.asarray(fitted, float)), np.ravel(np.asarray(planted, float))
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    a, b = a[ok], b[ok]
    if cyclic:
        b, a = _unwrapped_days(a, b)
    if np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _unwrapped_days(fitted: np.ndarray, planted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Planted days in the year around their circular mean; fitted days within half a year of
    their planted day."""
    angle = 2 * np.pi * planted / DAYS_PER_YEAR
    centre = np.arctan2(np.sin(angle).sum(), np.cos(angle).sum()) * DAYS_PER_YEAR / (2 * np.pi)
    planted = centre + _wrapped(planted - centre)
    return planted, planted + _wrapped(fitted - planted)


def _wrapped(days: np.ndarray) -> np.ndarray:
    """Days moved by whole years into [-half a year, half a year)."""
    return (days + DAYS_PER_YEAR / 2) % DAYS_PER_YEAR - DAYS_PER_YEAR / 2


def parameter_recovery(fitted: xr.Dataset, planted: xr.Dataset,
                       where: xr.DataArray | None = None) -> xr.DataArray:
    """Spatial Pearson r between fitted and planted maps of every registry parameter.

    Parameters
    ----------
    fitted : xarray.Dataset
        Parameter maps, e.g. ``model.parameters(ds)``.
    planted : xarray.Dataset
        The true maps on the same grid, e.g. the ``truth`` of
        :func:`~xdifferland.datasets.synthetic_world`.
    where : xarray.DataArray of bool, optional
        Locations to compare, e.g. ``model.split_mask(ds, "test")``; default all.

    Returns
    -------
    xarray.DataArray
        ``r`` over a ``parameter`` dim in registry order; the phenology timings
        (bud burst and leaf-fall day) are compared modulo one year (:func:`recovery_r`).
    """
    from ..registry import HEADS, PARAMETER_NAMES

    names = [n for n in PARAMETER_NAMES if n in fitted and n in planted]
    values = []
    for name in names:
        a, b = fitted[name], planted[name]
        if where is not None:
            a, b = a.where(where), b.where(where)
        values.append(recovery_r(a.values, b.values, cyclic=name in HEADS["phenology"]))
    return xr.DataArray(values, dims="parameter", coords={"parameter": names}, name="r",
                        attrs={"long_name": "spatial Pearson r, fitted vs planted"})


def leaf_area_per_gpp(parameters: xr.Dataset) -> xr.DataArray:
    """Leaf area grown per unit GPP: (foliar + labile allocation)(1 - autotrophic fraction)/LCMA.

    The part of the foliar carbon balance that LAI and GPP observations identify. Nothing in the
    loss weighs foliar carbon itself (LAI is foliar carbon over LCMA), so LCMA and the allocation
    fractions trade off along this combination: in twin experiments it is recovered where LCMA
    alone is not.

    Parameters
    ----------
    parameters : xarray.Dataset
        Parameter maps, e.g. ``model.parameters(ds)`` or a twin world's truth.

    Returns
    -------
    xarray.DataArray
        m2 of leaf per gC of GPP.

    Examples
    --------
    >>> p = xr.Dataset({"foliar_allocation": 0.2, "labile_allocation": 0.1,
    ...                 "autotrophic_fraction": 0.5, "leaf_carbon_mass_per_area": 50.0})
    >>> round(float(leaf_area_per_gpp(p)), 6)
    0.003
    """
    supply = ((parameters["foliar_allocation"] + parameters["labile_allocation"])
              * (1 - parameters["autotrophic_fraction"]))
    out = supply / parameters["leaf_carbon_mass_per_area"]
    return out.rename("leaf_area_per_gpp").assign_attrs(
        units="m2 g-1", long_name="leaf area grown per unit GPP")
