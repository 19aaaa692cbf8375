"""A catalogue of deliberate input mistakes, and how xdifferland reacts to each.

Every case breaks one thing in a valid input (a units label, a value, a coordinate, a dtype, the
layout, an uncertainty, a file) and then runs what a user would run, in order:

1. ``xdifferland.validate(ds)``;
2. if it reports nothing, ``xdifferland.simulate(ds, xdifferland.default_parameters(like=ds))``;
3. for mistakes in an observation or an uncertainty, if still nothing was refused,
   ``xdifferland.fit(ds, epochs=1, progress=False, use_uncertainty=...)``.

File cases call a reader instead (:func:`xdifferland.io.open_netcdf`,
:func:`~xdifferland.io.open_zarr`, the command line's reader ``xdifferland.cli_data.resolve_data``
+ ``open_resolved``, or ``xdifferland.cli.main(["validate", path])``) and validate what it
returns.

Outcomes of a mistake:

* ``clear``: a package error (:class:`~xdifferland.errors.DataError` and its subclasses, or a
  ``ValueError`` raised in xdifferland's own code) or a validation report with a problem that
  names the broken variable and says what to do (a non-empty fix);
* ``unclear``: refused by the package, but no problem names the broken variable or gives a fix;
* ``warned``: accepted with a ``UserWarning`` (e.g. a ``PlausibilityWarning``) naming it;
* ``foreign``: another exception escaped (pint, NumPy, xarray, JAX, ``KeyError``, ...);
* ``silent``: accepted without error or warning, with wrong but plausible results.

Valid layouts (ERA5's ``valid_time``/``latitude``/``longitude``, transposed dims, other unit
spellings, ...) are not mistakes: they must be accepted and simulate the same as the reference
world (``accepted``); ``refused`` or ``differs`` fails. Documented limitations (a mistake the
package cannot see by design, e.g. a flipped latitude sign inside the tropics) are run and
reported, but neither counted as mistakes nor failing.

World: ``synthetic_world(n_lat=8, n_lon=10, n_years=2, seed=0)`` (8 x 10 cells x 24 months at
2-6 degN, 10-15 degE; 73 land cells), a mid-latitude twin (40-44 degN) for the hemisphere check,
and ``tests/factories.make_dataset("site")`` for the site layout.

Usage::

    python benchmarks/bad_inputs.py               # all; writes benchmarks/results/bad_inputs.json
    python benchmarks/bad_inputs.py --only units  # category "units", or names containing "units"
    python benchmarks/bad_inputs.py --no-fit      # skip the 1-epoch fits

Exits 1 when any mistake is ``foreign`` or ``silent`` or any valid layout is not accepted, so it
serves as a check. ``tests/contract/test_bad_inputs.py`` runs the validate step of the cases
that ``validate`` should catch.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests.factories, and xdifferland from a checkout
    sys.path.insert(0, str(ROOT))

import xdifferland  # noqa: E402
from xdifferland.errors import DataError  # noqa: E402

if str(ROOT / "benchmarks") not in sys.path:  # the catalogue's modules, beside this one
    sys.path.insert(0, str(ROOT / "benchmarks"))
from _bad_input_catalogue import CASES, Case  # noqa: E402
from _bad_input_changes import MIDLATITUDE_WORLD, WORLD, cached_world, world  # noqa: E402
from _bad_input_files import CommandRefused  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "bad_inputs.json"
PACKAGE_DIR = Path(xdifferland.__file__).resolve().parent

MISTAKE_OUTCOMES = ("clear", "unclear", "warned", "foreign", "silent")
FAILING = ("foreign", "silent")


# ----------------------------------------------------------------------------- running a case
@dataclass
class Result:
    case: Case
    outcome: str
    step: str  #: where it was refused (or the last step run)
    error: str | None  #: exception type, if one escaped
    message: str
    seconds: float

    def as_dict(self) -> dict:
        return {"name": self.case.name, "category": self.case.category, "kind": self.case.kind,
                "expect": list(self.case.expect), "outcome": self.outcome, "step": self.step,
                "error": self.error, "message": self.message, "seconds": round(self.seconds, 2),
                **({"note": self.case.note} if self.case.note else {})}


def _names(variable: str, expect: tuple[str, ...]) -> bool:
    return variable in expect or Path(variable).name in expect


def _first_line(text: str) -> str:
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


def judge_problems(problems, expect) -> tuple[str, str]:
    """``(clear or unclear, message)`` of a refusal listing ``problems``."""
    problems = list(problems)
    good = [p for p in problems if _names(p.variable, expect) and p.fix.strip()]
    shown = good[0] if good else problems[0]
    return ("clear" if good else "unclear"), str(shown).removeprefix("- ")


def _raised_in_package(error: BaseException) -> bool:
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and Path(frames[-1].filename).resolve().is_relative_to(PACKAGE_DIR)


def judge_error(error: BaseException, expect) -> tuple[str, str]:
    """``(outcome, message)`` of an exception escaping a step."""
    if isinstance(error, DataError):
        return judge_problems(error.problems, expect)
    if isinstance(error, CommandRefused):
        if error.unexpected:
            return "foreign", _first_line(error.text.split("unexpected error")[-1])
        lines = [line for line in error.text.splitlines() if line.strip()]
        named = [line for line in lines if any(e in line for e in expect) and "Fix:" in line]
        shown = named[0] if named else (lines[-1] if lines else "")
        return ("clear" if named else "unclear"), shown.strip().removeprefix("- ")
    from xdifferland.training import TrainingError

    ours = isinstance(error, TrainingError) or (
        isinstance(error, ValueError) and type(error).__module__.split(".")[0] != "pint"
        and _raised_in_package(error))
    text = f"{type(error).__name__}: {_first_line(error)}"
    if not ours:
        return "foreign", text
    return ("clear" if any(e in str(error) for e in expect) else "unclear"), text


def _warned(caught, expect) -> str | None:
    for w in caught:
        if issubclass(w.category, UserWarning) and any(e in str(w.message) for e in expect):
            return f"{w.category.__name__}: {_first_line(w.message)}"
    return None


@lru_cache(maxsize=None)
def _reference_simulation(base: str) -> xr.Dataset:
    ds = cached_world(base)
    return xdifferland.simulate(ds, xdifferland.default_parameters(like=ds)).load()


def _same_simulation(out: xr.Dataset, case: Case) -> str | None:
    """Why ``out`` differs from the reference simulation, or None."""
    out = (case.back or (lambda o: o))(out).load()
    reference = _reference_simulation(case.base)
    out = out.sortby([d for d in reference.dims if d in out.indexes])
    for name, expected in reference.data_vars.items():
        got = out[name].transpose(*expected.dims)
        if got.sizes != expected.sizes:
            return f"{name}: sizes {dict(got.sizes)} instead of {dict(expected.sizes)}"
        for dim in expected.dims:
            if dim in expected.indexes and not got.indexes[dim].equals(expected.indexes[dim]):
                return f"{name}: other {dim} coordinate"
        # float32 engine; other unit spellings convert back with float32 round-off
        if not np.allclose(got.values, expected.values, rtol=2e-3, atol=1e-4, equal_nan=True):
            worst = float(np.nanmax(np.abs(got.values - expected.values)))
            return f"{name}: differs from the reference by up to {worst:g}"
    return None


def run_case(case: Case, tmp: Path, *, fit: bool = True, only_validate: bool = False) -> Result:
    """Run one case through validate, simulate and (maybe) fit, and classify the outcome."""
    result = _run_case(case, tmp, fit=fit, only_validate=only_validate)
    result.message = result.message.replace(str(tmp), "<tmp>")  # the same on every run
    return result


def _run_case(case: Case, tmp: Path, *, fit: bool, only_validate: bool) -> Result:
    start = time.perf_counter()
    step = "mutate"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if case.action is not None:
                step = "read"
                report = case.action(tmp)
                if report is not None and report.problems:
                    outcome, message = judge_problems(report.problems, case.expect)
                    return Result(case, outcome, step, None, message, _since(start))
            else:
                ds = case.mutate(world(case.base))
                step = "validate"
                report = xdifferland.validate(ds)
                if report.problems:
                    outcome, message = judge_problems(report.problems, case.expect)
                    return Result(case, outcome, step, None, message, _since(start))
                if only_validate:
                    return Result(case, _accepted(case, caught), step, None,
                                  _accepted_text(case, caught), _since(start))
                step = "simulate"
                out = xdifferland.simulate(ds, xdifferland.default_parameters(like=ds))
                if case.kind == "valid" and case.base == "site":  # no gridded reference
                    finite = bool(np.isfinite(out["gpp"].values).all())
                    return Result(case, "accepted" if finite else "differs", step, None,
                                  "simulated, every gpp value finite" if finite
                                  else "NaN in the simulated gpp", _since(start))
                if case.kind == "valid":
                    differs = _same_simulation(out, case)
                    return Result(case, "differs" if differs else "accepted", step, None,
                                  differs or "same simulation as the reference layout",
                                  _since(start))
                if case.fit and fit:
                    step = "fit"
                    xdifferland.fit(ds, epochs=1, progress=False,
                                    use_uncertainty=case.use_uncertainty)
        except Exception as error:  # noqa: BLE001  (every escape is classified)
            if case.kind == "valid":
                return Result(case, "refused", step, type(error).__name__,
                              _first_line(error), _since(start))
            outcome, message = judge_error(error, case.expect)
            return Result(case, outcome, step,
                          None if outcome in ("clear", "unclear") else type(error).__name__,
                          message, _since(start))
        return Result(case, _accepted(case, caught), step, None, _accepted_text(case, caught),
                      _since(start))


def _accepted(case: Case, caught) -> str:
    if case.kind == "valid":
        return "accepted"
    return "warned" if _warned(caught, case.expect) else "silent"


def _accepted_text(case: Case, caught) -> str:
    return _warned(caught, case.expect) or "accepted without error or warning"


def _since(start: float) -> float:
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- report
def totals(results: list[Result]) -> dict:
    mistakes = [r for r in results if r.case.kind == "mistake"]
    valid = [r for r in results if r.case.kind == "valid"]
    limits = [r for r in results if r.case.kind == "limitation"]
    out = {"mistakes": len(mistakes)}
    out.update({o: sum(r.outcome == o for r in mistakes) for o in MISTAKE_OUTCOMES})
    out["valid_layouts"] = len(valid)
    out["valid_layouts_accepted"] = sum(r.outcome == "accepted" for r in valid)
    out["documented_limitations"] = len(limits)
    return out


def failures(results: list[Result]) -> list[Result]:
    """Mistakes that escaped foreign or silent, valid layouts not accepted."""
    return [r for r in results if (r.case.kind == "mistake" and r.outcome in FAILING)
            or (r.case.kind == "valid" and r.outcome != "accepted")]


def print_table(results: list[Result], width: int = 110) -> None:
    name_w = max(len(r.case.name) for r in results)
    print(f"{'case':<{name_w}}  {'category':<13} {'outcome':<8} {'step':<8} message")
    print("-" * min(width + name_w, 200))
    for r in results:
        outcome = r.outcome if r.case.kind != "limitation" else f"({r.outcome})"
        message = r.message if len(r.message) <= width else r.message[:width - 3] + "..."
        print(f"{r.case.name:<{name_w}}  {r.case.category:<13} {outcome:<8} {r.step:<8} "
              f"{message}")


def selected(only: str | None) -> list[Case]:
    if not only:
        return list(CASES)
    keys = [k.strip() for k in only.split(",") if k.strip()]
    return [c for c in CASES if any(k in c.name or k == c.category for k in keys)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=None,
                        help="comma-separated name substrings or categories")
    parser.add_argument("--no-fit", action="store_true", help="skip the 1-epoch fits")
    parser.add_argument("--json", type=Path, default=None,
                        help=f"where to write the results (default: {RESULTS} for a run of "
                        "every case; a run with --only writes only where --json says)")
    args = parser.parse_args(argv)

    cases = selected(args.only)
    started = time.perf_counter()
    results = []
    tmp_root = Path(tempfile.mkdtemp(prefix="xdifferland-bad-inputs-"))
    try:
        for i, case in enumerate(cases):
            tmp = tmp_root / f"{i:03d}"
            tmp.mkdir()
            result = run_case(case, tmp, fit=not args.no_fit)
            results.append(result)
            print(f"[{i + 1:3d}/{len(cases)}] {case.name}: {result.outcome} "
                  f"({result.seconds:.1f} s)", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    runtime = time.perf_counter() - started

    print()
    print_table(results)
    counts = totals(results)
    print()
    print(f"{counts['mistakes']} mistakes: {counts['clear']} clear, {counts['unclear']} unclear, "
          f"{counts['warned']} warned, {counts['foreign']} foreign, {counts['silent']} silent; "
          f"{counts['valid_layouts_accepted']} of {counts['valid_layouts']} valid layouts "
          f"accepted; {counts['documented_limitations']} documented limitation(s); "
          f"{runtime:.0f} s")
    failed = failures(results)
    for r in failed:
        print(f"FAIL {r.case.name}: {r.outcome} ({r.error or r.step}): {r.message}")

    import jax

    record = {
        "what": "deliberate input mistakes: validate(), then simulate() / a 1-epoch fit",
        "date": _dt.date.today().isoformat(),
        "xdifferland": xdifferland.__version__,
        "python": sys.version.split()[0], "jax": jax.__version__, "xarray": xr.__version__,
        "world": {"grid": WORLD, "midlatitude": {**MIDLATITUDE_WORLD,
                                                 "lat_range": list(MIDLATITUDE_WORLD["lat_range"])},
                  "site": "tests/factories.make_dataset('site')"},
        "fit": not args.no_fit, "only": args.only, "runtime_s": round(runtime, 1),
        "cpu_count": os.cpu_count(),
        "totals": counts,
        "cases": [r.as_dict() for r in results],
    }
    if args.json is None and args.only:  # a subset must not replace the record of every case
        print("results not written (a run with --only; pass --json PATH to keep them)")
        return 1 if failed else 0
    path = args.json or RESULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"results: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
