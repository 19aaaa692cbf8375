"""Plant-trait maps as observations of DALEC993 parameters.

Trait upscaling products map leaf mass per area (LMA, grams of leaf dry mass per m² of leaf)
from plant-trait databases and remote sensing. DALEC993's ``leaf_carbon_mass_per_area`` (LCMA)
counts the carbon in that dry mass: LCMA = c · LMA, with c the carbon fraction of leaf dry
mass (about 0.48; 0.45-0.50 across biomes). The map and its one-sigma uncertainty both convert
this way; :func:`~xdifferland.engine.loss_parameters.parameter_observation` then weighs the
result in training.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .contract.convert import convert_to
from .errors import Problem, UnitsError

__all__ = ["DEFAULT_LEAF_CARBON_FRACTION", "lcma_from_lma"]

#: Carbon fraction of leaf dry mass used when none is given.
DEFAULT_LEAF_CARBON_FRACTION = 0.48

_LMA_UNITS = "g m-2"


def lcma_from_lma(lma, carbon_fraction: float = DEFAULT_LEAF_CARBON_FRACTION):
    """Leaf carbon mass per area (g C m-2) from leaf mass per area (dry mass).

    Parameters
    ----------
    lma : xarray.DataArray, numpy array or float
        Leaf mass per area. A DataArray must carry a ``units`` attribute convertible to
        ``g m-2`` (``kg m-2``, ``g/m2``, ...) and is converted first; bare numbers and arrays
        are taken as g m-2. Convert a map's one-sigma uncertainty the same way.
    carbon_fraction : float, default 0.48
        Carbon fraction of leaf dry mass, in (0, 1].

    Returns
    -------
    Same type as ``lma``
        LCMA in g C m-2 (a DataArray gets ``units="g m-2"`` and a ``long_name``; NaN stays
        NaN).

    Raises
    ------
    UnitsError
        If ``lma`` is a DataArray without units or with units that are not a mass per area.
    ValueError
        If ``carbon_fraction`` is not in (0, 1].

    Examples
    --------
    >>> lcma_from_lma(100.0)
    48.0
    >>> import xarray as xr
    >>> lma = xr.DataArray([0.08, float("nan")], dims="site", attrs={"units": "kg m-2"})
    >>> lcma = lcma_from_lma(lma, carbon_fraction=0.5)
    >>> lcma.values.tolist(), lcma.attrs["units"]
    ([40.0, nan], 'g m-2')
    """
    if not (isinstance(carbon_fraction, (int, float)) and 0 < carbon_fraction <= 1):
        raise ValueError(f"carbon_fraction={carbon_fraction!r}: give the carbon fraction of "
                         "leaf dry mass, a number in (0, 1] (typically 0.45-0.50)")
    if isinstance(lma, xr.DataArray):
        name = str(lma.name or "lma")
        if not lma.attrs.get("units"):
            raise UnitsError([Problem(name, "has no 'units' attribute.",
                                      "set its units to the leaf mass per area's units, e.g. "
                                      "lma.attrs['units'] = 'g m-2'")])
        grams = convert_to(lma, _LMA_UNITS, name=name)
        return (grams * carbon_fraction).assign_attrs(
            units=_LMA_UNITS, long_name="leaf carbon mass per leaf area",
            carbon_fraction=carbon_fraction)
    return np.asarray(lma, float) * carbon_fraction if np.ndim(lma) else \
        float(lma) * carbon_fraction
