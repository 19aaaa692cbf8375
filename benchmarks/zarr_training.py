"""Training from a Zarr store at paper scale: one epoch streamed against one epoch in memory.

    python benchmarks/zarr_training.py STORE.zarr          # write the world if absent, compare
    python benchmarks/zarr_training.py STORE.zarr --quick  # a 4 % world (CI-sized)

The world is about the paper's size (164,040 cells): a 360 x 456 grid of 0.5-degree cells from
90 S (164,160 cells, 150,660 of them land) x 168 months, every stream, tiled from a 24 x
24-cell synthetic world (so values are plausible and the loss is the model's). It is written
once, in chunks of 4 x 4 patches of 4 x 5 degrees (32 x 40 cells) by all months. Each run is a
child process (its own peak RSS):

* ``memory``: ``xr.open_zarr(store).load()``, then ``fit``: every array in memory;
* ``store``: ``xr.open_zarr(store)`` as it is (dask-backed), then ``fit``: patches are read
  from the store a batch at a time on a background thread. By default (``shuffle_blocks=
  "auto"``) an epoch visits the patches of each chunk together, so each chunk is read once per
  epoch; the ``memory`` run is given the same blocks, so both train in the same order.

The two alternate for ``--rounds`` rounds (default 3; the machine's speed drifts, so the ratio
is taken per round and its median reported). Both train four epochs with the same seed; the
median wall time of epochs 2-4 is the epoch speed (the first includes compilation), with the
process CPU time and the seconds the training loop waited for batches in those epochs
(``waited``, median). Results go to ``benchmarks/results/zarr_training.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
import resource
import statistics
import subprocess
import sys
import time

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "zarr_training.json"
TILE = 24  #: cells of the synthetic world tiled to the paper's grid
GRID = {"full": (360, 456), "quick": (72, 96)}  #: lat x lon cells
OCEAN = {"full": 120, "quick": 0}  #: cells of the last row without predictors
STORE_CHUNKS = {"time": -1, "lat": 32, "lon": 40}  #: 4 x 4 patches of 8 x 10 cells


def write_world(store: Path, size: str) -> None:
    """Tile a small synthetic world to ``GRID[size]`` and write it to ``store`` (Zarr)."""
    import dask.array
    import numpy as np
    import xarray as xr

    from xdifferland.datasets import synthetic_world

    n_lat, n_lon = GRID[size]
    small, _ = synthetic_world(n_lat=TILE, n_lon=TILE, n_years=14, seed=0)
    reps = (n_lat // TILE, n_lon // TILE)
    lat = -90.0 + 0.5 * np.arange(n_lat) + 0.25
    lon = -180.0 + 0.5 * np.arange(n_lon) + 0.25
    out = xr.Dataset(coords={"time": small["time"], "lat": ("lat", lat, small["lat"].attrs),
                             "lon": ("lon", lon, small["lon"].attrs)})
    for name, da in small.data_vars.items():
        if not {"lat", "lon"} <= set(da.dims):
            out[name] = da
            continue
        da = da.transpose(..., "lat", "lon")
        lead = (1,) * (da.ndim - 2)
        tiled = dask.array.tile(dask.array.from_array(da.values), lead + reps)
        out[name] = (da.dims, tiled, da.attrs)
    if OCEAN[size]:  # a strip of ocean: no predictors there, so no training pixel
        ocean = xr.zeros_like(out["lat"] * out["lon"], dtype=bool)
        ocean[-1, :OCEAN[size]] = True
        for name in [v for v in out.data_vars if set(out[v].dims) == {"lat", "lon"}]:
            out[name] = out[name].where(~ocean)
    out.attrs = dict(small.attrs)
    out.chunk(STORE_CHUNKS).to_zarr(store, mode="w-", consolidated=True)


EPOCHS = 4  #: the first compiles; the others are timed


def child(store: str, mode: str) -> dict:
    """Fit ``EPOCHS`` epochs from ``store`` (``mode``: memory or store); wall, CPU, peak RSS."""
    import xarray as xr

    import xdifferland  # noqa: F401  (registers the accessor)

    waits = []

    class Waits(logging.Handler):
        def emit(self, record):
            if "waiting for batches" in record.getMessage():
                waits.append(record.args[1])

    logger = logging.getLogger("xdifferland.training")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(Waits())
    start = time.perf_counter()
    ds = xr.open_zarr(store)
    if mode == "memory":
        ds = ds.load()
    loaded = time.perf_counter() - start
    marks = []
    # the store's run resolves shuffle_blocks="auto" to its chunks; memory is given them
    same_order = ({"shuffle_blocks": {"lat": STORE_CHUNKS["lat"], "lon": STORE_CHUNKS["lon"]}}
                  if mode == "memory" else {})
    model = ds.differland.fit(
        epochs=EPOCHS, seed=0, progress=False, eval_every=100, **same_order,
        callback=lambda epoch, history: marks.append((time.perf_counter(), time.process_time())))
    walls = [b[0] - a[0] for a, b in zip(marks, marks[1:])]
    cpus = [b[1] - a[1] for a, b in zip(marks, marks[1:])]
    return {"mode": mode, "load_s": loaded, "fit_s": time.perf_counter() - start - loaded,
            "epoch_s": statistics.median(walls), "epochs_s": walls,
            "epoch_cpu_s": statistics.median(cpus),
            "waited_s": statistics.median(waits[1:]) if len(waits) > 1 else None,
            "train_loss": model.history["train_loss"], "n_pixels": model.metadata["n_pixels"],
            "shuffle_blocks": model.config.shuffle_blocks,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="alternated store/memory pairs")
    parser.add_argument("--child", choices=["memory", "store"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(str(args.store), args.child)))
        return
    size = "quick" if args.quick else "full"
    if not args.store.exists():
        start = time.perf_counter()
        write_world(args.store, size)
        print(f"wrote {args.store} ({size}) in {time.perf_counter() - start:.0f} s")
    rounds = []
    for number in range(args.rounds):  # alternated: the machine's speed drifts
        runs = {}
        for mode in ("store", "memory"):
            out = subprocess.run([sys.executable, __file__, str(args.store), "--child", mode],
                                 capture_output=True, text=True, env=dict(os.environ))
            if out.returncode:
                sys.exit(out.stderr[-3000:])
            runs[mode] = r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"round {number + 1} {mode:6s} pixels {r['n_pixels']}  load {r['load_s']:5.1f} s"
                  f"  epoch {r['epoch_s']:5.1f} s (CPU {r['epoch_cpu_s']:5.1f} s)  waited "
                  f"{r['waited_s'] or 0:5.2f} s  peak RSS {r['peak_rss_gb']:5.2f} GB")
        runs["speed_ratio"] = runs["memory"]["epoch_s"] / runs["store"]["epoch_s"]
        runs["cpu_ratio"] = runs["memory"]["epoch_cpu_s"] / runs["store"]["epoch_cpu_s"]
        runs["same_losses"] = runs["store"]["train_loss"] == runs["memory"]["train_loss"]
        rounds.append(runs)
    speed = statistics.median(r["speed_ratio"] for r in rounds)
    cpu = statistics.median(r["cpu_ratio"] for r in rounds)
    same = all(r["same_losses"] for r in rounds)
    each = ", ".join(f"{r['speed_ratio']:.2f}" for r in rounds)
    print(f"store epoch speed / memory epoch speed: median {speed:.2f} (rounds {each}); "
          f"CPU time ratio {cpu:.2f}; same losses: {same}")
    if not args.quick:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "rounds": rounds,
                                       "speed_ratio": speed, "cpu_ratio": cpu,
                                       "same_losses": same}, indent=1) + "\n")


if __name__ == "__main__":
    main()
