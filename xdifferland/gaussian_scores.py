"""Scores of a Gaussian predictive distribution: its quantiles and its CRPS (closed form)."""

from __future__ import annotations

import numpy as np

__all__ = ["gaussian_crps", "normal_quantile"]


def normal_quantile(probability: float) -> float:
    """Standard normal quantile, e.g. 1.6449 for 0.95 (the half-width of a 90 % interval).

    Examples
    --------
    >>> round(normal_quantile(0.95), 4)
    1.6449
    """
    from statistics import NormalDist

    return float(NormalDist().inv_cdf(float(probability)))


def gaussian_crps(observed, mean, sd) -> np.ndarray:
    """CRPS of ``N(mean, sd²)`` for each observation (closed form, Gneiting et al. 2005).

    ``sd * (z (2 Φ(z) - 1) + 2 φ(z) - 1/√π)`` with ``z = (observed - mean) / sd``; it reduces
    to the absolute error as ``sd → 0``.

    Examples
    --------
    >>> round(float(gaussian_crps(0.0, 0.0, 1.0)), 4)  # (√2 - 1)/√π
    0.2337
    >>> round(float(gaussian_crps(3.0, 0.0, 1e-9)), 4)
    3.0
    """
    from math import erf

    observed, mean, sd = np.broadcast_arrays(*(np.asarray(a, np.float64)
                                               for a in (observed, mean, sd)))
    sd = np.maximum(sd, 1e-12)
    z = (observed - mean) / sd
    cdf = 0.5 * (1.0 + np.vectorize(erf, otypes=[np.float64])(z / np.sqrt(2.0)))
    pdf = np.exp(-0.5 * z**2) / np.sqrt(2.0 * np.pi)
    return sd * (z * (2.0 * cdf - 1.0) + 2.0 * pdf - 1.0 / np.sqrt(np.pi))
