"""Scores of a Gaussian predictive distribution."""

from __future__ import annotations

import numpy as np
import pytest

from xdifferland.gaussian_scores import gaussian_crps, normal_quantile


@pytest.mark.parametrize(("observed", "mean", "sd"), [(0.0, 0.0, 1.0), (1.3, 0.2, 0.5),
                                                     (-2.0, 1.0, 3.0)])
def test_gaussian_crps_matches_its_integral_definition(observed, mean, sd):
    # CRPS = integral of (F(x) - 1{x >= y})^2 dx, by quadrature on a fine grid
    from math import erf

    x = np.linspace(mean - 12 * sd, mean + 12 * sd, 200001)
    cdf = 0.5 * (1 + np.vectorize(erf)((x - mean) / (sd * np.sqrt(2))))
    integrand = (cdf - (x >= observed)) ** 2
    expected = float(np.sum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(x)))
    assert float(gaussian_crps(observed, mean, sd)) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(("level", "half"), [(0.9, 1.644854), (0.5, 0.674490)])
def test_normal_quantile_gives_the_interval_half_width(level, half):
    assert normal_quantile(0.5 + level / 2) == pytest.approx(half, abs=1e-6)
