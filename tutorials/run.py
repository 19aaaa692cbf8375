"""Run tutorial scripts step by step and record what each step prints and draws.

A tutorial is a Python script in the "percent" cell format (the one jupytext and editors with
cell support read): ``# %% [markdown]`` starts a cell of prose written as comment lines,
``# %%`` a cell of code. Run as a script, a tutorial is ordinary Python. Run through this file,
each code cell is executed in one shared namespace, its printed text (standard output and
standard error: warnings included) is captured, and the PNG files it saves are noted. The
record, ``OUTPUT/<name>.json``, holds every cell's source, output, figures and seconds, the run's
mode, date, package version, CPU count, total runtime and the script's SHA-256. The docs hook
(``docs/tutorial_hook.py``) renders it into the tutorial's page and refuses a record whose
script has changed since.

Usage::

    python tutorials/run.py --quick                  # every tutorial, CI mode
    python tutorials/run.py own_files --quick        # one tutorial
    python tutorials/run.py own_files                # its full mode

Each tutorial receives ``--out OUTPUT/<name>`` (where it saves its figures) and ``--quick``
when given. A failing cell prints its traceback, leaves the previous record in place and makes
the exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import io
import json
import os
import re
import sys
import time
import traceback
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_OUTPUT = ROOT / "docs" / "tutorials" / "output"
#: The tutorials, in the order of the docs' navigation.
TUTORIALS = ("own_files", "fluxnet_sites", "paper_analysis", "reproduce_paper")

_CELL = re.compile(r"^# %%(.*)$")


def split_cells(source: str) -> list[dict]:
    """The cells of a percent-format script: ``kind``, ``source`` and first ``line`` (1-based).

    Lines before the first marker form a code cell; a markdown cell's text has its leading
    ``# `` removed from every line. Empty cells are dropped.
    """
    cells, kind, lines, first = [], "code", [], 1
    for number, line in enumerate(source.splitlines(), start=1):
        match = _CELL.match(line)
        if match:
            cells.append({"kind": kind, "lines": lines, "line": first})
            kind = "markdown" if "[markdown]" in match.group(1) else "code"
            lines, first = [], number + 1
        else:
            lines.append(line)
    cells.append({"kind": kind, "lines": lines, "line": first})
    result = []
    for cell in cells:
        if cell["kind"] == "markdown":
            text = "\n".join(re.sub(r"^# ?", "", line) for line in cell["lines"]).strip()
        else:
            text = "\n".join(cell["lines"]).strip("\n")
        if text.strip():
            result.append({"kind": cell["kind"], "source": text, "line": cell["line"]})
    return result


def _pngs(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*.png")} if folder.exists() \
        else set()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _show_warning(message, category, *args, **kwargs):
    """A warning as a reader should see it: its category and message, not this machine's paths."""
    sys.stderr.write(f"{category.__name__}: {message}\n")


def _run_cell(cell: dict, namespace: dict, script: Path, figures: Path) -> dict:
    """Run one cell in ``namespace``; its record (a markdown cell's is its text)."""
    if cell["kind"] == "markdown":
        return {"kind": "markdown", "source": cell["source"]}
    before, buffer, start = _pngs(figures), io.StringIO(), time.perf_counter()
    # padded with newlines so a traceback names the script's own line numbers
    code = compile("\n" * (cell["line"] - 1) + cell["source"], str(script), "exec")
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        exec(code, namespace)  # noqa: S102 - running the tutorial is the point
    sys.__stdout__.write(buffer.getvalue())
    new = sorted(_pngs(figures) - before)
    return {"kind": "code", "source": cell["source"], "output": buffer.getvalue(),
            "figures": [f"{figures.name}/{f}" for f in new],
            "seconds": round(time.perf_counter() - start, 1)}


def run_tutorial(script: Path, output: Path, quick: bool) -> dict:
    """Execute ``script`` cell by cell; return its record (raises what a cell raises)."""
    import xdifferland

    source = script.read_text(encoding="utf-8")
    name = script.stem
    figures = output / name
    figures.mkdir(parents=True, exist_ok=True)
    for old in figures.glob("*.png"):  # figures a former version drew must not linger
        old.unlink()
    namespace = {"__name__": "__main__", "__file__": str(script)}
    argv = [str(script), "--out", str(figures)] + (["--quick"] if quick else [])
    cells, start = [], time.perf_counter()
    saved_argv = sys.argv
    sys.argv = argv
    try:
        with warnings.catch_warnings():  # restores the warning display afterwards
            warnings.showwarning = _show_warning
            for cell in split_cells(source):
                cells.append(_run_cell(cell, namespace, script, figures))
    finally:
        sys.argv = saved_argv
    path = script.resolve()
    path = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return {"name": name, "script": path.as_posix(),
            "sha256": hashlib.sha256(source.encode("utf-8")).hexdigest(),
            "mode": "quick" if quick else "full",
            "argv": [a.replace(f"{ROOT}/", "") for a in argv[1:]], "cells": cells,
            "seconds": round(time.perf_counter() - start), "cores": _cores(),
            "date": datetime.date.today().isoformat(), "version": xdifferland.__version__}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"tutorials to run (default: all of "
                        f"{', '.join(TUTORIALS)})")
    parser.add_argument("--quick", action="store_true", help="the short mode CI runs")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help="folder of the records and figures (default: %(default)s)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(TUTORIALS))
    if unknown:
        parser.error(f"unknown tutorial(s) {', '.join(unknown)}; known: {', '.join(TUTORIALS)}")
    status = 0
    for name in args.names or TUTORIALS:
        print(f"== tutorial {name} ({'quick' if args.quick else 'full'} mode)", flush=True)
        try:
            record = run_tutorial(HERE / f"{name}.py", args.output, args.quick)
        except Exception:  # noqa: BLE001 - report every tutorial's failure, then exit 1
            traceback.print_exc()
            print(f"== tutorial {name} FAILED: its record was not updated", file=sys.stderr)
            status = 1
            continue
        path = args.output / f"{name}.json"
        path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n",
                        encoding="utf-8")
        print(f"== tutorial {name}: {record['seconds']} s on {record['cores']} cores, "
              f"recorded in {path}", flush=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
