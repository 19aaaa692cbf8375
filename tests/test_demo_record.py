"""The README's demo numbers and figure come from one recorded run (benchmarks/demo_drift.py).

The full demo itself runs in CI (``python benchmarks/demo_drift.py DEMO_DIR``); here only what
needs no fit: the README quotes the recorded metrics, which meet the README's claim, and the
check reports drift beyond its tolerances.
"""

from __future__ import annotations

from pathlib import Path

from tests.benchmark_scripts import load

ROOT = Path(__file__).resolve().parents[1]


def test_readme_quotes_the_recorded_demo_and_its_figure_is_there():
    drift = load("demo_drift")
    recorded = drift.load(drift.RECORDED)
    assert drift.problems(recorded, recorded, drift.README.read_text(encoding="utf-8")) == []
    assert (ROOT / "docs" / "images" / "demo-summary.png").stat().st_size > 10_000


def test_drift_beyond_the_tolerance_and_a_missed_claim_are_reported():
    drift = load("demo_drift")
    recorded = drift.load(drift.RECORDED)
    readme = drift.README.read_text(encoding="utf-8")
    fresh = {split: dict(values) for split, values in recorded.items()}
    fresh["test"]["lai"] += 0.9 * drift.TOLERANCE["lai"]  # within: fine
    assert drift.problems(fresh, recorded, readme) == []
    fresh["test"]["nbe"] = 0.45
    fresh["train"]["et"] -= 2 * drift.TOLERANCE["et"]
    found = drift.problems(fresh, recorded, readme)
    assert any("test NSE NBE 0.450 differs" in p for p in found)
    assert any("train NSE ET" in p for p in found)
    assert any("below the README's claim 0.5" in p for p in found)
    assert drift.problems(recorded, recorded, "no table")[0].startswith(
        "README.md does not quote the recorded demo")
