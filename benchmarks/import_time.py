"""Wall time of ``import xdifferland`` in fresh processes (first contact).

    python benchmarks/import_time.py                 # median of 7 fresh interpreters
    python benchmarks/import_time.py -n 11 --top 12  # more runs; the slowest imports too
    python benchmarks/import_time.py --first-call    # also import + the first simulate() call

Each run starts a new interpreter (nothing cached in memory; the OS file cache is warm after the
first run, as it is for a user) and times ``import xdifferland`` with ``time.perf_counter``
inside it, so interpreter start-up is not counted. ``--top`` adds the modules with the largest
cumulative import time from ``python -X importtime`` (one run). ``--path DIR`` puts another
checkout first on ``sys.path`` (to time a previous version the same way). Timings on a shared
machine vary with its load: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

_TIMED = ("import time; t = time.perf_counter(); import xdifferland; "
          "print(time.perf_counter() - t)")
_FIRST_CALL = (
    "import pickle, sys, time; ds = pickle.load(open(sys.argv[1], 'rb')); "
    "t = time.perf_counter(); import xdifferland; "
    "xdifferland.simulate(ds, xdifferland.default_parameters(like=ds), ['gpp']); "
    "print(time.perf_counter() - t)")


#: With ``--path``: an editable install's import hook would still find this checkout first.
_OTHER_CHECKOUT = (
    "import os, sys; sys.meta_path[:] = [f for f in sys.meta_path if not getattr("
    "f, '__module__', '').startswith('__editable__')]; "
    "sys.path.insert(0, os.environ['XDIFFERLAND_BENCH_PATH']); ")


def _env(path: str | None) -> dict:
    env = dict(os.environ)
    if path:
        env["XDIFFERLAND_BENCH_PATH"] = os.path.abspath(path)
    return env


def _run(code: str, env: dict, *args: str) -> float:
    code = (_OTHER_CHECKOUT if "XDIFFERLAND_BENCH_PATH" in env else "") + code
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def _top(env: dict, n: int) -> list[tuple[float, str]]:
    code = (_OTHER_CHECKOUT if "XDIFFERLAND_BENCH_PATH" in env else "") + "import xdifferland"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                          capture_output=True, text=True, env=env, check=True)
    rows = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]) / 1e6, parts[2].rstrip()))
    return sorted(rows, reverse=True)[:n]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=7, help="fresh interpreters (default 7)")
    parser.add_argument("--top", type=int, default=0, help="slowest imports to list")
    parser.add_argument("--path", help="checkout to put first on sys.path")
    parser.add_argument("--first-call", action="store_true",
                        help="also time the first simulate() after the import (world excluded)")
    args = parser.parse_args(argv)
    env = _env(args.path)
    code = _OTHER_CHECKOUT if args.path else ""
    code += "import xdifferland; print(xdifferland.__file__)"
    where = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                           check=True).stdout.strip()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"xdifferland from {where}; {cores} cores, load average {load[0]:.2f}")
    times = [_run(_TIMED, env) for _ in range(args.n)]
    print(f"import xdifferland: median {statistics.median(times):.3f} s over {args.n} fresh "
          f"processes (min {min(times):.3f}, max {max(times):.3f})")
    if args.first_call:
        import pickle
        import tempfile

        from xdifferland.datasets import synthetic_world

        ds, _ = synthetic_world(n_lat=2, n_lon=2, n_years=1, spinup_years=0)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "world.pkl")
            with open(path, "wb") as f:
                pickle.dump(ds, f)
            first = [_run(_FIRST_CALL, env, path) for _ in range(max(1, args.n // 2))]
        print(f"import + first simulate() (2 x 2 cells, 12 months): median "
              f"{statistics.median(first):.3f} s (imports JAX, pint, cf-xarray; compiles)")
    if args.top:
        print("slowest imports (cumulative s, one run with -X importtime):")
        for seconds, name in _top(env, args.top):
            print(f"  {seconds:7.3f}  {name}")


if __name__ == "__main__":
    main()
