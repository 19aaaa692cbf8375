"""Check a fresh ``xdifferland demo`` against the numbers the README shows.

``docs/images/demo-metrics.json`` and ``docs/images/demo-summary.png`` are the ``metrics.json``
and ``summary.png`` of one demo run, and README.md quotes that run's NSE table. ``--record``
writes all three from a demo's folder (after a change that moves the demo, regenerate them from
one run: ``xdifferland demo -o DIR && python benchmarks/demo_drift.py DIR --record``). Otherwise
the script fails (exit 1, one line per problem) when

* README.md does not quote the recorded numbers (to the 3 decimals it prints), or
* a fresh demo's test-patch or training-patch NSE of LAI, SIF, ET or NBE differs from the
  recorded one by more than :data:`TOLERANCE`, or
* the fresh demo misses the README's claim: test NSE >= 0.8 for LAI, SIF and ET, >= 0.5 for NBE.

Usage (CI: after ``xdifferland demo -q -o DEMO_DIR``, about 1-1.5 minutes on 2 cores)::

    python benchmarks/demo_drift.py DEMO_DIR          # or DEMO_DIR/metrics.json
    python benchmarks/demo_drift.py DEMO_DIR --recorded docs/images/demo-metrics.json

Tolerances (NSE). The same machine repeats the demo bit for bit (measured: twice, and with XLA
limited to AVX2 or single-threaded Eigen). What changes the numbers is the order of XLA's
floating-point reductions, which follows the CPU cores available: the demo on one core instead of
two (``taskset -c 0``), seed 0, moved test NSE by LAI 0.003, SIF 0.006, ET 0.024, NBE 0.177 and
training NSE by at most 0.025 (NBE). 9,000 Adam steps amplify the rounding into a different fit;
NBE on the 6 test patches (139 patch-months) is its most sensitive score. The tolerances leave
about 10x (LAI, SIF), 2x (ET) and 1.4x (NBE) that measured spread; CI on another machine is the
first measurement of a third core count, so a failure there may mean the tolerance, not the
code, needs a second look: rerun the demo on the same machine (it repeats exactly) and compare.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "docs" / "images" / "demo-metrics.json"
README = ROOT / "README.md"
HEADLINE = ("lai", "sif", "et", "nbe")
#: Largest accepted |fresh - recorded| NSE, test and training patches alike (see the module text).
TOLERANCE = {"lai": 0.03, "sif": 0.03, "et": 0.05, "nbe": 0.25}
#: The README's claim for the test patches.
TARGET = {"lai": 0.8, "sif": 0.8, "et": 0.8, "nbe": 0.5}


def load(path: Path) -> dict:
    """``{"test": {var: nse}, "train": {var: nse}}`` of a demo's metrics.json (or its folder)."""
    path = path / "metrics.json" if path.is_dir() else path
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("split") != "test":
        raise SystemExit(f"{path}: not a demo's metrics (split {raw.get('split')!r}, not 'test')")
    return {"test": {v: raw["metrics"][v]["nse"] for v in HEADLINE},
            "train": {v: raw["train_nse"][v] for v in HEADLINE}}


def readme_rows(numbers: dict) -> list[str]:
    """The README table rows that quote ``numbers`` (NSE to 3 decimals)."""
    return [f"| {label} | " + " | ".join(f"{numbers[split][v]:.3f}" for v in HEADLINE) + " |"
            for split, label in (("test", "test patches"), ("train", "training patches"))]


def problems(fresh: dict, recorded: dict, readme: str, name: str = "README.md") -> list[str]:
    """Every way ``fresh`` drifts from ``recorded`` or the README text ``readme`` misquotes it."""
    found = [f"{name} does not quote the recorded demo: missing the row {row!r}"
             for row in readme_rows(recorded) if row not in readme]
    for split in ("test", "train"):
        for v in HEADLINE:
            delta = fresh[split][v] - recorded[split][v]
            if abs(delta) > TOLERANCE[v]:
                found.append(f"{split} NSE {v.upper()} {fresh[split][v]:.3f} differs from the "
                             f"recorded {recorded[split][v]:.3f} by {delta:+.3f} (tolerance "
                             f"{TOLERANCE[v]})")
    found += [f"test NSE {v.upper()} {fresh['test'][v]:.3f} is below the README's claim "
              f"{TARGET[v]}" for v in HEADLINE if not fresh["test"][v] >= TARGET[v]]
    return found


def record(folder: Path, recorded: Path, readme: Path) -> None:
    """Copy a demo's metrics.json and summary.png next to each other under docs/images and put
    its numbers into the README's table (the rows that start with the same labels)."""
    numbers = load(folder)
    shutil.copyfile(folder / "metrics.json", recorded)
    shutil.copyfile(folder / "summary.png", recorded.with_name("demo-summary.png"))
    lines = readme.read_text(encoding="utf-8").splitlines(keepends=True)
    rows = {row.split(" | ")[0]: row for row in readme_rows(numbers)}
    replaced = 0
    for i, line in enumerate(lines):
        for start, row in rows.items():
            if line.startswith(start + " | "):
                lines[i], replaced = row + "\n", replaced + 1
    if replaced != len(rows):
        raise SystemExit(f"{readme}: expected one row each starting with {list(rows)}")
    readme.write_text("".join(lines), encoding="utf-8")
    print(f"recorded {folder} into {recorded}, {recorded.with_name('demo-summary.png')} and "
          f"{readme}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fresh", type=Path, help="a fresh demo's folder or its metrics.json")
    parser.add_argument("--recorded", type=Path, default=RECORDED,
                        help="the recorded metrics (default: %(default)s)")
    parser.add_argument("--readme", type=Path, default=README, help="default: %(default)s")
    parser.add_argument("--record", action="store_true",
                        help="make FRESH (a demo folder) the recorded run: copy its metrics.json "
                             "and summary.png and write its numbers into the README")
    args = parser.parse_args(argv)
    if args.record:
        record(args.fresh, args.recorded, args.readme)
        return 0
    fresh, recorded = load(args.fresh), load(args.recorded)
    print(f"{'NSE':22s}" + "".join(f"{v.upper():>8s}" for v in HEADLINE))
    for split in ("test", "train"):
        for label, numbers in (("recorded", recorded), ("fresh", fresh)):
            print(f"  {split:5s} {label:14s}" + "".join(f"{numbers[split][v]:8.3f}"
                                                      for v in HEADLINE))
    print(f"  {'tolerance':20s}" + "".join(f"{TOLERANCE[v]:8.2f}" for v in HEADLINE))
    found = problems(fresh, recorded, args.readme.read_text(encoding="utf-8"), args.readme.name)
    for line in found:
        print(f"demo drift: {line}", file=sys.stderr)
    if not found:
        print("demo drift: the fresh demo matches the recorded numbers and the README")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
