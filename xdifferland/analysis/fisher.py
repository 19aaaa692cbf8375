"""Local identifiability: what the observed streams can pin down at each pixel (Fisher information).

:func:`identifiability` asks whether independently trained members *agree*; this asks whether
the data *could* tell the parameters apart at all. At given parameters, each pixel's Fisher
information of the 40 unconstrained parameters (:func:`xdifferland.engine.fisher_information`)
with a weak Gaussian prior gives a Laplace (Cramér-Rao) posterior:

* ``conditional_sd`` -- the uncertainty of a parameter were all others known;
* ``posterior_sd`` -- its uncertainty with all 40 free, which grows where parameters trade off;
* ``variance_inflation`` -- their squared ratio (1: no trade-off);
* ``partner`` and ``partner_correlation`` -- the parameter it trades off with most, and how.

All in unconstrained units, the scale on which the network works (a unit is about a third of a
parameter's log-range near its midpoint); compare them with the spatial spread of a parameter to
judge whether its map can be recovered pixel by pixel. A parameter poorly constrained at each
pixel may still be recovered through its spatial relation to the predictors, which is what the
spatialization network exploits.

Layers: :func:`xdifferland.engine.fisher_information` (JAX) →
:func:`xdifferland.contract.handoff.fisher_block` (NumPy, per block of pixels) →
:func:`local_identifiability` (``xr.apply_ufunc``, dask-parallel over pixels).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from ..contract import handoff
from ..engine import resolve_output
from ..errors import DataError, Problem
from ..registry import PARAMETER_NAMES

__all__ = ["local_identifiability", "posterior_summary"]


def posterior_summary(information, prior_sd: float = 10.0) -> dict[str, np.ndarray]:
    """Laplace posterior summaries from Fisher information ``(..., k, k)`` and a prior sd.

    Returns ``posterior_sd``, ``conditional_sd``, ``variance_inflation`` (each ``(..., k)``),
    ``partner`` (index of the most correlated other parameter) and ``partner_correlation``.
    NaN information gives NaN (and partner -1).

    Examples
    --------
    >>> info = np.array([[4.0, 3.9], [3.9, 4.0]])  # two nearly interchangeable parameters
    >>> out = posterior_summary(info, prior_sd=100.0)
    >>> out["conditional_sd"].round(3).tolist(), out["posterior_sd"].round(2).tolist()
    ([0.5, 0.5], [2.25, 2.25])
    >>> out["partner"].tolist(), out["partner_correlation"].round(3).tolist()
    ([1, 0], [-0.975, -0.975])
    """
    info = np.asarray(information, np.float64)
    k = info.shape[-1]
    bad = ~np.isfinite(info).all(axis=(-2, -1))
    info = np.where(bad[..., None, None], 0.0, info)
    # Invert through the eigen-decomposition: information computed in float32 can have tiny
    # negative eigenvalues along directions the data do not constrain; those are set to zero, so
    # the prior alone sets the variance there and every variance stays positive.
    info = 0.5 * (info + np.swapaxes(info, -1, -2))
    eigenvalues, vectors = np.linalg.eigh(info)
    eigenvalues = np.maximum(eigenvalues, 0.0) + 1.0 / prior_sd**2
    covariance = np.einsum("...ij,...j,...kj->...ik", vectors, 1.0 / eigenvalues, vectors)
    variance = np.diagonal(covariance, axis1=-2, axis2=-1)
    posterior_sd = np.sqrt(variance)
    precision_diagonal = np.diagonal(info, axis1=-2, axis2=-1).clip(0.0) + 1.0 / prior_sd**2
    conditional_sd = 1.0 / np.sqrt(precision_diagonal)
    correlation = covariance / (posterior_sd[..., :, None] * posterior_sd[..., None, :])
    off = np.where(np.eye(k, dtype=bool), 0.0, correlation)
    partner = np.argmax(np.abs(off), axis=-1)
    partner_correlation = np.take_along_axis(off, partner[..., None], axis=-1)[..., 0]
    out = {"posterior_sd": posterior_sd, "conditional_sd": conditional_sd,
           "variance_inflation": (posterior_sd / conditional_sd) ** 2,
           "partner_correlation": partner_correlation}
    for name, value in out.items():
        out[name] = np.where(bad[..., None], np.nan, value)
    out["partner"] = np.where(bad[..., None], -1, partner)
    return out


def _check(noise, warmup_months: int, prior_sd: float) -> dict[str, float]:
    """Canonical stream names → noise sd; every problem collected and raised at once."""
    problems, resolved = [], {}
    if not noise:
        problems.append(Problem("noise", "no observed streams given.",
                                "pass {output: noise sd}, e.g. {'lai': 0.3, 'gpp': 0.8}"))
    for name, sd in dict(noise or {}).items():
        try:
            canonical = resolve_output(name)
        except (KeyError, ValueError):
            problems.append(Problem(str(name), "is not an engine output.",
                                    "use a name of xdifferland.engine.OUTPUT_NAMES, e.g. 'lai'"))
            continue
        if not np.isfinite(sd) or sd <= 0:
            problems.append(Problem(str(name), f"noise sd {sd!r} is not a positive number.",
                                    "give the observation noise standard deviation in the "
                                    "output's units"))
            continue
        resolved[canonical] = float(sd)
    if warmup_months < 0:
        problems.append(Problem("warmup_months", f"{warmup_months} is negative.",
                                "use 0 or more steps"))
    if not prior_sd > 0:
        problems.append(Problem("prior_sd", f"{prior_sd!r} is not positive.",
                                "use a positive prior sd in unconstrained units, e.g. 10"))
    if problems:
        raise DataError(problems)
    return resolved


def local_identifiability(ds: xr.Dataset, parameters: xr.Dataset, noise: Mapping[str, float],
                          *, warmup_months: int = 24, prior_sd: float = 10.0,
                          roles: Mapping[str, str] | None = None, mask: xr.DataArray | None = None,
                          mass_conserving: bool = False) -> xr.Dataset:
    """How well each parameter is constrained at each pixel by the given observed streams.

    Parameters
    ----------
    ds : xarray.Dataset
        Forcing (as for :func:`xdifferland.simulate`); dask-backed data stay lazy and are
        computed chunk by chunk over pixels.
    parameters : xarray.Dataset
        The 40 parameters at which to evaluate (e.g. ``model.parameters(ds)`` or a twin's truth);
        values must lie strictly inside the registry bounds.
    noise : mapping of str to float
        Observed output → noise standard deviation in that output's units, e.g.
        ``{"lai": 0.3, "sif": 0.04}``; the streams the information comes from.
    warmup_months : int, default 24
        Leading steps left out, as in :meth:`DifferLandModel.evaluate`.
    prior_sd : float, default 10
        Standard deviation of a weak Gaussian prior on every unconstrained parameter; an
        unconstrained parameter comes back with ``posterior_sd`` close to it.
    roles, mask, mass_conserving
        As in :func:`xdifferland.simulate`.

    Returns
    -------
    xarray.Dataset
        ``posterior_sd``, ``conditional_sd``, ``variance_inflation``, ``partner_correlation``
        (``(parameter, *spatial)``) and ``partner`` (name of the most correlated parameter).

    Examples
    --------
    >>> import xdifferland
    >>> from xdifferland.datasets import synthetic_world
    >>> ds, truth = synthetic_world(seed=0)
    >>> site = ds.isel(lat=[8], lon=[10])
    >>> out = local_identifiability(site, truth.isel(lat=[8], lon=[10]), {"lai": 0.3})
    >>> out["posterior_sd"].sel(parameter="vod_wood_coefficient").item()  # no effect on LAI
    10.0
    >>> bool(out["conditional_sd"].sel(parameter="leaf_carbon_mass_per_area").item() < 0.1)
    True
    """
    resolved = _check(noise, int(warmup_months), float(prior_sd))
    from ..simulation import engine_arrays

    prepared, arrays = engine_arrays(ds, parameters, roles=roles, mask=mask)
    n_forcing = len(handoff.FORCING_INPUTS)
    k = len(PARAMETER_NAMES)

    def kernel(*blocks):
        info = handoff.fisher_block(*blocks, noise=resolved, warmup=int(warmup_months),
                                     mass_conserving=bool(mass_conserving))
        out = posterior_summary(info, float(prior_sd))
        return (out["posterior_sd"], out["conditional_sd"], out["variance_inflation"],
                out["partner_correlation"], out["partner"].astype(np.int64))

    results = xr.apply_ufunc(
        kernel, *arrays,
        input_core_dims=[["time"]] * n_forcing + [[]] * (len(arrays) - n_forcing),
        output_core_dims=[["parameter"]] * 5,
        dask="parallelized", output_dtypes=[np.float64] * 4 + [np.int64],
        dask_gufunc_kwargs={"output_sizes": {"parameter": k}},
    )
    names = ("posterior_sd", "conditional_sd", "variance_inflation", "partner_correlation",
             "partner")
    spatial = prepared.spatial_dims
    out = xr.Dataset({n: handoff.unstack_pixels(r, spatial) for n, r in zip(names, results)})
    out = out.assign_coords(parameter=list(PARAMETER_NAMES))
    labels = np.array(list(PARAMETER_NAMES) + [""], dtype=object)  # index -1 (no data) -> ""
    out["partner"] = xr.apply_ufunc(lambda i: labels[i], out["partner"], dask="parallelized",
                                    output_dtypes=[object])
    out["posterior_sd"].attrs = {"long_name": "Laplace posterior standard deviation of the "
                                              "unconstrained parameter, all parameters free",
                                 "units": "1"}
    out["conditional_sd"].attrs = {"long_name": "posterior standard deviation of the "
                                                "unconstrained parameter were the others known",
                                   "units": "1"}
    out["variance_inflation"].attrs = {"long_name": "posterior over conditional variance "
                                                    "(trade-off with other parameters)",
                                       "units": "1"}
    out["partner_correlation"].attrs = {"long_name": "posterior correlation with the partner",
                                        "units": "1"}
    out["partner"].attrs = {"long_name": "parameter this one trades off with most"}
    out.attrs.update(streams=",".join(resolved),
                     noise_sd=",".join(f"{n}={v:g}" for n, v in resolved.items()),
                     warmup_months=int(warmup_months), prior_sd=float(prior_sd))
    return out.transpose("parameter", ...)
