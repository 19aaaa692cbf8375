"""The catalogue of deliberate input mistakes (benchmarks/bad_inputs.py), validate step only.

The benchmark runs every case through validate, simulate and a 1-epoch fit; here only the cases
that ``validate`` itself should refuse, and only ``validate``: none may pass silently or escape
as a foreign exception. The valid layouts (ERA5 names, transposed dims, other unit spellings, ...)
must pass it.
"""

from __future__ import annotations

import pytest

from tests.benchmark_scripts import load

CATALOGUE = load("bad_inputs")
CAUGHT_BY_VALIDATE = [c for c in CATALOGUE.CASES if c.kind == "mistake"
                      and c.caught_by == "validate" and c.mutate is not None]
VALID = [c for c in CATALOGUE.CASES if c.kind == "valid"]


def test_the_catalogue_covers_what_the_issue_measured():
    mistakes = [c for c in CATALOGUE.CASES if c.kind == "mistake"]
    assert len(mistakes) >= 58
    assert {c.category for c in mistakes} >= {"units", "values", "coordinates", "dtypes",
                                               "structure", "uncertainties", "files"}
    assert len({c.name for c in CATALOGUE.CASES}) == len(CATALOGUE.CASES)


@pytest.mark.parametrize("case", CAUGHT_BY_VALIDATE, ids=lambda c: c.name)
def test_validate_refuses_the_mistake(case, tmp_path):
    result = CATALOGUE.run_case(case, tmp_path, only_validate=True)
    assert result.outcome not in CATALOGUE.FAILING, (result.outcome, result.error, result.message)
    assert result.outcome == "clear", result.message  # names the variable, says what to do


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.name)
def test_validate_accepts_the_valid_layout(case, tmp_path):
    result = CATALOGUE.run_case(case, tmp_path, only_validate=True)
    assert result.outcome == "accepted", result.message
