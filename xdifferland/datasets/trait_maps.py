"""Observed parameter maps for synthetic worlds: a planted parameter plus Gaussian noise, as a
trait map would observe it, with its uncertainty."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..registry import resolve_name

__all__ = ["planted_parameter_map"]


def planted_parameter_map(truth: xr.Dataset, parameter: str = "LCMA", *,
                          noise_fraction: float = 0.2, where: xr.DataArray | None = None,
                          seed: int = 0, name: str | None = None) -> xr.Dataset:
    """A noisy map of a planted parameter and its uncertainty, ready to merge into the world.

    The noise is Gaussian with standard deviation ``noise_fraction`` times the spatial standard
    deviation of the planted map over the land; the uncertainty variable states that standard
    deviation at every observed pixel.

    Parameters
    ----------
    truth : xarray.Dataset
        The truth of :func:`~xdifferland.datasets.synthetic_world`.
    parameter : str, default "LCMA"
        Registry name or alias.
    noise_fraction : float, default 0.2
    where : xarray.DataArray of bool, optional
        Pixels observed (e.g. ``truth["tower_mask"]``); default every land pixel. NaN elsewhere.
    seed : int, default 0
    name : str, optional
        Variable name (default ``"<alias lower case>_obs"``, e.g. ``"lcma_obs"``); the
        uncertainty is ``"<name>_unc"``.

    Returns
    -------
    xarray.Dataset
        ``name`` and ``name_unc``, spatial dimensions only, in the parameter's units.

    Examples
    --------
    >>> from xdifferland.datasets import synthetic_world
    >>> ds, truth = synthetic_world(n_lat=4, n_lon=5, n_years=1, seed=0)
    >>> maps = planted_parameter_map(truth, "LCMA")
    >>> sorted(maps.data_vars), maps["lcma_obs"].attrs["units"]
    (['lcma_obs', 'lcma_obs_unc'], 'g/m**2')
    """
    key = resolve_name(parameter)
    planted = truth[key]
    land = planted.notnull() if "land_mask" not in truth else truth["land_mask"] & planted.notnull()
    spread = float(planted.where(land).std())
    sigma = noise_fraction * spread
    noise = np.random.default_rng(seed).standard_normal(planted.shape)
    observed = land if where is None else land & where.astype(bool)
    name = name or f"{truth[key].attrs.get('alias', key).lower()}_obs"
    units = planted.attrs.get("units", "")
    value = (planted + sigma * noise).where(observed)
    unc = xr.full_like(planted, sigma, dtype=float).where(observed)
    about = f"planted {key} + Gaussian noise ({noise_fraction:g} x its spatial sd over land)"
    return xr.Dataset({
        name: value.assign_attrs(units=units, long_name=f"observed {key}", comment=about),
        f"{name}_unc": unc.assign_attrs(units=units, long_name=f"one-sigma uncertainty of {name}"),
    })
