"""The extrapolation score and warning of data a model predicts for (prediction_inputs.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from xdifferland.prediction_inputs import (
    SCALE_FLOOR,
    ExtrapolationWarning,
    check_range,
    extrapolation_scale,
    extrapolation_score,
)
from xdifferland.training.batches import Standardization


def _standardization(names, std, lower, upper):
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    return Standardization(tuple(names), mean=(lower + upper) / 2, std=np.asarray(std, float),
                           hemisphere_mean=0.5, hemisphere_std=0.5, lower=lower, upper=upper)


# (predictor, training std, trained range, new value, expected score)
CASES = [
    # a cover fraction all but absent in training: 1e-7 beyond is no distance, 0.05 beyond is
    # 5 % of the 0-1 range, i.e. 5 units of 1 %
    ("needleleaf_forest", 4e-8, (0.0, 1.3e-7), 2.6e-7, 1.3e-5),
    ("needleleaf_forest", 4e-8, (0.0, 1.3e-7), 0.05 + 1.3e-7, 5.0),
    # the training spread is larger than the floor (1 % of 9500 m): plain standard deviations
    ("elevation", 300.0, (0.0, 2000.0), 2600.0, 2.0),
    # a predictor the table does not declare: floored at 1 % of its training range
    ("woody", 1e-6, (0.0, 0.5), 0.6, 20.0),
    ("mean_annual_temperature", 5.0, (0.0, 20.0), 10.0, 0.0),
]


@pytest.mark.parametrize("name, std, trained, value, expected", CASES)
def test_score_is_the_distance_in_a_non_degenerate_scale(name, std, trained, value, expected):
    s = _standardization([name], [std], [trained[0]], [trained[1]])
    score = extrapolation_score(s, np.array([[value]]))
    assert score[0] == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_scale_is_the_std_floored_at_a_share_of_the_plausible_range():
    s = _standardization(["needleleaf_forest", "elevation", "woody"], [4e-8, 300.0, 1e-6],
                         [0.0, 0.0, 0.0], [1.3e-7, 2000.0, 0.5])
    np.testing.assert_allclose(extrapolation_scale(s),
                               [SCALE_FLOOR * 1.0, 300.0, SCALE_FLOOR * 0.5])


def test_a_hair_beyond_a_near_zero_range_does_not_warn():
    s = _standardization(["needleleaf_forest"], [4e-8], [0.0], [1.3e-7])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExtrapolationWarning)
        check_range(s, np.array([[2.6e-7]]), np.array([True]), "warn")


def test_a_real_departure_warns_with_its_score():
    s = _standardization(["needleleaf_forest"], [4e-8], [0.0], [1.3e-7])
    with pytest.warns(ExtrapolationWarning, match=r"up to 30 training standard deviations"):
        check_range(s, np.array([[0.3 + 1.3e-7]]), np.array([True]), "warn", ["site-a"])
