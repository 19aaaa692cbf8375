"""The job behind ``demo`` / ``fit``: the training-versus-held-out skill summary."""

import doctest

import pytest

from xdifferland import pipeline
from xdifferland.pipeline import skill_comparison


def test_docstring_examples():
    assert doctest.testmod(pipeline).failed == 0


@pytest.mark.parametrize("held_out, hint", [
    ({"lai": 0.90, "nbe": 0.55}, False),   # gaps 0.05 and 0.15: below the 0.2 threshold
    ({"lai": 0.90, "nbe": 0.45}, True),    # NBE 0.25 below its training skill
    ({"lai": -1.60, "nbe": 0.70}, True),
])
def test_skill_comparison_rows_and_hint(held_out, hint):
    train = {"lai": 0.95, "nbe": 0.70}
    text = skill_comparison(held_out, train, "test")
    rows = {line.split("patches")[0].strip(): line.split("patches")[1].split()
            for line in text.splitlines() if "patches  " in line}
    assert [float(v) for v in rows["training"]] == [0.95, 0.70]
    assert [float(v) for v in rows["test"]] == [held_out["lai"], held_out["nbe"]]
    assert text.splitlines()[1].split() == ["NSE", "LAI", "NBE"]
    assert ("score well below" in text) is hint


def test_skill_comparison_keeps_only_shared_variables():
    text = skill_comparison({"lai": 0.5, "sif": 0.4}, {"lai": 0.6}, "dev")
    assert "SIF" not in text and "dev patches" in text
