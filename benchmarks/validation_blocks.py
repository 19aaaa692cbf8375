"""How long the value checks take on a paper-sized Zarr store, by the block size they read.

    python benchmarks/validation_blocks.py STORE.zarr          # write the world if absent
    python benchmarks/validation_blocks.py STORE.zarr --quick  # a 4 % world (CI-sized)

The store is the world of ``zarr_training.py`` (360 x 456 cells x 168 months, every stream, in
chunks of 32 x 40 cells by all months). Each run is a child process (its own peak RSS) that
opens the store with ``xr.open_zarr`` and calls ``xdifferland.contract.check.validate`` on it:
``chunks`` reduces the store's own chunks, ``<N> MiB`` merges them into blocks of at most N MiB
first (:func:`xdifferland.contract._checks.in_check_blocks`; the default is
``CHECK_BLOCK_BYTES``). The runs alternate for ``--rounds`` rounds (the machine's speed drifts);
results go to ``benchmarks/results/validation_blocks.json`` (full size only).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "validation_blocks.json"
LIMITS_MIB = (None, 4, 16, 64)  #: None: the store's own chunks


def child(store: str, limit_mib: int | None) -> dict:
    """Validate ``store`` once with blocks of ``limit_mib`` (None: its chunks)."""
    import xarray as xr

    from xdifferland.contract import _checks, check

    if limit_mib is None:
        check.in_check_blocks = lambda ds, mask=None: (ds, mask)
    else:
        limit = limit_mib * 2**20
        check.in_check_blocks = lambda ds, mask=None: _checks.in_check_blocks(ds, mask, limit)
    ds = xr.open_zarr(store)
    start = time.perf_counter()
    report = check.validate(ds)
    return {"blocks": "chunks" if limit_mib is None else f"{limit_mib} MiB",
            "validate_s": time.perf_counter() - start, "problems": len(report.problems),
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        limit = None if args.child == "chunks" else int(args.child)
        print(json.dumps(child(str(args.store), limit)))
        return
    if not args.store.exists():
        sys.path.insert(0, str(HERE))
        from zarr_training import write_world

        write_world(args.store, "quick" if args.quick else "full")
    runs = []
    for number in range(args.rounds):
        for limit in LIMITS_MIB:
            out = subprocess.run(
                [sys.executable, "-W", "ignore", __file__, str(args.store), "--child",
                 "chunks" if limit is None else str(limit)],
                capture_output=True, text=True, env=dict(os.environ), check=True)
            run = json.loads(out.stdout.strip().splitlines()[-1]) | {"round": number + 1}
            runs.append(run)
            print(f"round {number + 1}  {run['blocks']:>7}  validate {run['validate_s']:6.1f} s  "
                  f"peak RSS {run['peak_rss_gb']:5.2f} GB  problems {run['problems']}",
                  flush=True)
    by = {}
    for run in runs:
        by.setdefault(run["blocks"], []).append(run["validate_s"])
    base = statistics.median(by["chunks"])
    for blocks, times in by.items():
        print(f"{blocks:>7}: median {statistics.median(times):6.1f} s, "
              f"{base / statistics.median(times):4.2f}x the store's chunks")
    if not args.quick:
        RESULTS.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "runs": runs},
                                      indent=1) + "\n")


if __name__ == "__main__":
    main()
