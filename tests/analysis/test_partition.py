"""Hierarchical partitioning equals the Shapley value of the score game and adds up."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import xarray as xr

from xdifferland import hierarchical_partition
from xdifferland.analysis import CONTROL, partition_shares


def _brute_force(scores, groups):
    """Average gain of each group over all n! orderings, the textbook definition."""
    gains = dict.fromkeys(groups, 0.0)
    orders = list(itertools.permutations(groups))
    for order in orders:
        present = frozenset()
        for g in order:
            gains[g] += scores[present | {g}] - scores[present]
            present = present | {g}
    return {g: v / len(orders) for g, v in gains.items()}


def _random_scores(groups, rng):
    return {frozenset(c): rng.random() for r in range(len(groups) + 1)
            for c in itertools.combinations(groups, r)}


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_equals_brute_force_shapley(n, rng):
    groups = ["PFT", "CLIM", "AGE", "SOIL"][:n]
    scores = _random_scores(groups, rng)
    parts = hierarchical_partition(scores, groups)
    expected = _brute_force(scores, groups)
    for g in groups:
        assert float(parts.sel(component=g)) == pytest.approx(expected[g], abs=1e-12)
    assert float(parts.sel(component=CONTROL)) == scores[frozenset()]
    assert float(parts.sum()) == pytest.approx(scores[frozenset(groups)], abs=1e-12)
    assert math.isclose(len(parts), n + 1)


def test_hand_solvable_two_groups():
    # CONTROL 0.1; A alone +0.4, B alone +0.2, both +0.5 over CONTROL.
    scores = {"CONTROL": 0.1, "A": 0.5, "B": 0.3, "A+B": 0.6}
    parts = hierarchical_partition(scores, ["A", "B"])
    # A: (0.4 + (0.6 - 0.3)) / 2 = 0.35 ; B: (0.2 + (0.6 - 0.5)) / 2 = 0.15
    assert parts.sel(component="A").item() == pytest.approx(0.35)
    assert parts.sel(component="B").item() == pytest.approx(0.15)
    assert parts.sel(component="CONTROL").item() == pytest.approx(0.1)
    shares = partition_shares(parts)
    assert shares.values.tolist() == pytest.approx([0.7, 0.3])
    assert partition_shares(parts, beyond_control=False).sum().item() == pytest.approx(1.0)


def test_additivity_per_pixel(rng):
    groups = ["PFT", "CLIM", "SOIL"]
    maps = {frozenset(c): xr.DataArray(rng.random((3, 4)), dims=("lat", "lon"))
            for r in range(4) for c in itertools.combinations(groups, r)}
    parts = hierarchical_partition(maps, groups)
    assert parts.dims == ("component", "lat", "lon")
    np.testing.assert_allclose(parts.sum("component"), maps[frozenset(groups)], atol=1e-12)
    # elementwise: each pixel equals the scalar partition of its own scores
    pixel = {k: float(v[1, 2]) for k, v in maps.items()}
    np.testing.assert_allclose(parts[:, 1, 2], hierarchical_partition(pixel, groups), atol=1e-12)


def test_missing_combination_is_named():
    scores = {frozenset(): 0.1, frozenset({"A"}): 0.3, frozenset({"B"}): 0.2}
    with pytest.raises(KeyError, match=r"A\+B"):
        hierarchical_partition(scores, ["A", "B"])
    with pytest.raises(KeyError, match="CONTROL"):
        hierarchical_partition({"A": 0.3, "B": 0.2, "A+B": 0.4}, ["A", "B"])


def test_groups_default_to_names_in_scores():
    parts = hierarchical_partition({"CONTROL": 0.0, "X": 1.0})
    assert parts.component.values.tolist() == ["X", "CONTROL"]
