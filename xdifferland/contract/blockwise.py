"""Value checks of a dask-backed Dataset, run on each chunk when the chunk is computed.

Checking the values of a lazily held Dataset up front means reading all of it, which a lazy
``simulate`` must not do. Instead :func:`checked_when_computed` returns the Dataset with its
forcing and predictors wrapped so that computing a chunk first runs the per-location value
checks of :func:`~xdifferland.contract.check.validate` on that chunk (NaN at computed locations,
``±inf``, plausible ranges, ``t_min <= t_max``, the record's climate against its predictor) and
raises the same :class:`~xdifferland.errors.ValidationError`, naming the variable, the first
offending location and the fix, before the engine sees the chunk. Nothing is read early and
every chunk is read once, as before.

Checks that need the whole Dataset at once (the latitude's hemisphere against the seasons, time
alignment of observations, predictors constant over the locations) are not run this way; call
``validate(ds)`` (or ``ds.differland.validate()``) for them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import xarray as xr

from ._quiet import runtime_warnings_ignored
from .check import CHECKS, validate
from .find import find_variables

__all__ = ["BLOCK_CHECKS", "checked_when_computed"]

#: The checks that judge each location on its own, so a chunk can be checked alone.
BLOCK_CHECKS = ("nan", "finite", "plausibility")

_MASK = "__xdifferland_mask__"  #: the mask travels with the chunks under this name


def checked_when_computed(ds: xr.Dataset, roles: Mapping[str, str] | None = None, *,
                          mask: xr.DataArray | None = None,
                          checks: Iterable[str] = BLOCK_CHECKS,
                          plausibility: str | Mapping | None = None) -> xr.Dataset:
    """``ds`` with its forcing and predictors value-checked chunk by chunk when computed.

    Parameters
    ----------
    ds : xarray.Dataset
        Data with the internal axis names (``time``, ``lat``/``lon`` or ``site``), dask-backed.
    roles, mask, plausibility
        As for :func:`~xdifferland.contract.check.validate`.
    checks : iterable of str
        The checks to run, of :data:`BLOCK_CHECKS` (others are ignored).

    Returns
    -------
    xarray.Dataset
        The same values, still lazy; computing a chunk raises
        :class:`~xdifferland.errors.ValidationError` if a check fails on it.

    Examples
    --------
    >>> import numpy as np
    >>> from xdifferland.datasets import synthetic_world
    >>> ds, _ = synthetic_world(seed=0)
    >>> ds["precipitation"][0, 10, 10] = -5.0  # a land cell
    >>> lazy = checked_when_computed(ds.chunk({"lat": 4}))
    >>> bool(lazy["precipitation"].isel(lat=slice(4, 8)).min() >= 0)  # a clean chunk
    True
    >>> lazy["precipitation"].values
    Traceback (most recent call last):
    ...
    xdifferland.errors.ValidationError: The Dataset failed validation (1 problem):
    ...
    """
    checks = [c for c in checks if c in BLOCK_CHECKS]
    # validation has passed, so discovery finds each variable once
    predictors = list(find_variables(ds, "predictor", roles).values())
    forcing = list(find_variables(ds, "forcing", roles).values())
    if not checks or not any(ds[n].chunks is not None for n in predictors + forcing):
        return ds
    skip = set(CHECKS) - set(checks)

    def check(block: xr.Dataset) -> xr.Dataset:
        where = block[_MASK] if _MASK in block else None
        block = block.drop_vars(_MASK, errors="ignore")
        with runtime_warnings_ignored():  # a chunk of ocean only: means of nothing
            report = validate(block, roles, mask=where, skip=skip, plausibility=plausibility)
        report.raise_if_any()
        return block

    def checked(names: list[str], returned: list[str]) -> dict[str, xr.DataArray]:
        """``returned`` of ``names``, each chunk checked with the others of its location."""
        work = ds[names] if mask is None else ds[names].assign({_MASK: mask})
        work = work.unify_chunks()
        out = xr.map_blocks(check, work, template=work.drop_vars(_MASK, errors="ignore"))
        return {n: out[n] for n in returned if ds[n].chunks is not None}

    # predictors alone (computing a parameter map reads no forcing); the forcing with the
    # predictors, which say where the locations to compute are
    lazy = [n for n in predictors if ds[n].chunks is not None]
    return ds.assign({**(checked(predictors, predictors) if lazy else {}),
                      **(checked(forcing + predictors, forcing) if forcing else {})})

