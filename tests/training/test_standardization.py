"""Predictor standardization: constant predictors, clipping to the training range, round trip."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from xdifferland.training.batches import Standardization


def _data(columns):
    x = np.array(columns, float).T
    return SimpleNamespace(predictors=x, predictor_names=tuple(f"p{k}" for k in range(x.shape[1])),
                           hemisphere=np.linspace(0.2, 0.8, x.shape[0]))


def test_constant_predictor_is_an_error_unless_ignored():
    data = _data([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="p1"):
        Standardization.from_training(data, np.arange(3))
    std = Standardization.from_training(data, np.arange(3), ignore_constant=True)
    z, _ = std.apply(np.array([[2.0, 0.0], [2.0, 1.0]]), np.array([0.5, 0.5]))
    # The constant column is 0 wherever it is applied, as if it had been dropped.
    np.testing.assert_array_equal(z[:, 1], [0.0, 0.0])
    np.testing.assert_allclose(z[:, 0], [0.0, 0.0])


def test_clip_holds_new_locations_inside_the_training_range():
    data = _data([[1.0, 2.0, 3.0]])
    std = Standardization.from_training(data, np.arange(3))
    x = np.array([[10.0], [2.5], [-4.0]])
    z_plain, _ = std.apply(x, np.zeros(3))
    z_clip, _ = std.apply(x, np.zeros(3), clip=True)
    np.testing.assert_allclose(z_clip[:, 0], (np.array([3.0, 2.5, 1.0]) - 2.0) / np.std([1, 2, 3]))
    assert z_plain[0, 0] > z_clip[0, 0] and z_plain[2, 0] < z_clip[2, 0]


def test_round_trip_through_json_keeps_constant_and_bounds():
    data = _data([[1.0, 2.0, 3.0], [4.0, 4.0, 4.0]])
    std = Standardization.from_training(data, np.arange(3), ignore_constant=True)
    again = Standardization.from_dict(json.loads(json.dumps(std.to_dict())))
    x = np.array([[0.0, 9.0], [2.0, 4.0]])
    for a, b in zip(std.apply(x, np.ones(2), clip=True), again.apply(x, np.ones(2), clip=True)):
        np.testing.assert_array_equal(a, b)
    assert np.isinf(again.std[1]) and again.upper[0] == 3.0
    # a predictor constant in training never counts as outside the range
    assert not std.outside_range(np.array([[2.0, 9.0]]))[0, 1]
