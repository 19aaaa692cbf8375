"""Training from a Zarr store at paper scale: one epoch streamed against one epoch in memory.

    python benchmarks/zarr_training.py STORE.zarr          # write the world if absent, compare
    python benchmarks/zarr_training.py STORE.zarr --quick  # a 4 % world (CI-sized)
    python benchmarks/zarr_training.py STORE8.zarr --patches-per-chunk 8  # larger chunks
    python benchmarks/zarr_training.py STORE8.zarr --batches-only  # the batch producer alone

The world is about the paper's size (164,040 cells): a 360 x 456 grid of 0.5-degree cells from
90 S (164,160 cells, 150,660 of them land) x 168 months, every stream, tiled from a 24 x
24-cell synthetic world (so values are plausible and the loss is the model's). It is written
once, in chunks of 4 x 4 patches of 4 x 5 degrees (32 x 40 cells) by all months
(``--patches-per-chunk N``: N x N patches; a store is written only if absent, so give each
chunking its own path). Each run is a child process (its own peak RSS):

* ``memory``: ``xr.open_zarr(store).load()``, then ``fit``: every array in memory;
* ``store``: ``xr.open_zarr(store)`` as it is (dask-backed), then ``fit``: patches are read
  from the store a batch at a time on a background thread. By default (``shuffle_blocks=
  "auto"``) an epoch visits the patches of each chunk together, so each chunk is read once per
  epoch; the ``memory`` run is given the same blocks, so both train in the same order.

The two alternate for ``--rounds`` rounds (default 3; the machine's speed drifts, so the ratio
is taken per round and its median reported). Both train four epochs with the same seed; the
median wall time of epochs 2-4 is the epoch speed (the first includes compilation), with the
process CPU time and the seconds the training loop waited for batches in those epochs
(``waited``, median). Results go to ``benchmarks/results/zarr_training.json``
(``zarr_training_NxN.json`` for other chunks).

``--batches-only`` times the batch producer alone: the batches of four epochs built as ``fit``
builds them (same data, splits, order and dtype), without training, from the store and from
memory; it prints the median CPU time of epochs 2-4 and writes no results.
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
PATCHES_PER_CHUNK = 4  #: default chunks: 4 x 4 patches of 8 x 10 cells (--patches-per-chunk)


def write_world(store: Path, size: str, patches: int = PATCHES_PER_CHUNK) -> None:
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
    chunks = {"time": -1, "lat": 8 * patches, "lon": 10 * patches}
    out.chunk(chunks).to_zarr(store, mode="w-", consolidated=True)


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
    # the store's run resolves shuffle_blocks="auto" to its chunks; memory is given them
    same_order = {}
    if mode == "memory":
        same_order = {"shuffle_blocks": {d: int(ds.chunks[d][0]) for d in ("lat", "lon")}}
        ds = ds.load()
    loaded = time.perf_counter() - start
    marks = []
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


def batches_child(store: str, mode: str) -> dict:
    """CPU time of ``EPOCHS`` epochs of ``fit``'s default batches from ``store``, no training."""
    import numpy as np
    import xarray as xr

    from xdifferland.training import FitConfig
    from xdifferland.training.batches import (Standardization, epoch_batches, patch_blocks,
                                              patch_members)
    from xdifferland.training.data import training_data
    from xdifferland.training.splits import split_patches

    ds = xr.open_zarr(store)
    blocks = {d: int(ds.chunks[d][0]) for d in ("lat", "lon")}
    ds = ds.load() if mode == "memory" else ds
    config = FitConfig(seed=0)
    data = training_data(ds, patch_size=config.patch_size, use_uncertainty=False)
    members = patch_members(data)
    train = split_patches(data.n_patches, config).train
    std = Standardization.from_training(data, np.concatenate([members[k] for k in train]))
    coarse_ok = data.patch_coverage >= config.coverage_threshold
    order = patch_blocks(data, members, blocks)
    cpus = []
    for epoch in range(EPOCHS):
        start = time.process_time()
        for _ in epoch_batches(data, train, members, max(len(m) for m in members), std,
                               coarse_ok, np.random.default_rng([0, 0, epoch]), np.float32,
                               order, uncertain=()):
            pass
        cpus.append(time.process_time() - start)
    return {"mode": mode, "epoch_cpu_s": statistics.median(cpus[1:]), "epochs_cpu_s": cpus}


def compare_batches(store: Path, rounds: int) -> None:
    """Print the producer's CPU time an epoch, store against memory, alternated by round."""
    for number in range(rounds):
        runs = {}
        for mode in ("store", "memory"):
            out = subprocess.run([sys.executable, __file__, str(store), "--child", mode,
                                  "--batches-only"], capture_output=True, text=True,
                                 env=dict(os.environ))
            if out.returncode:
                sys.exit(out.stderr[-3000:])
            runs[mode] = json.loads(out.stdout.strip().splitlines()[-1])["epoch_cpu_s"]
        print(f"round {number + 1} batches only: store {runs['store']:.2f} s, memory "
              f"{runs['memory']:.2f} s of CPU an epoch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="alternated store/memory pairs")
    parser.add_argument("--patches-per-chunk", type=int, default=PATCHES_PER_CHUNK,
                        help="chunks of N x N patches in space when the store is written")
    parser.add_argument("--batches-only", action="store_true",
                        help="time the batch producer alone (no training, no results file)")
    parser.add_argument("--child", choices=["memory", "store"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run = batches_child if args.batches_only else child
        print(json.dumps(run(str(args.store), args.child)))
        return
    size = "quick" if args.quick else "full"
    if not args.store.exists():
        start = time.perf_counter()
        write_world(args.store, size, args.patches_per_chunk)
        print(f"wrote {args.store} ({size}) in {time.perf_counter() - start:.0f} s")
    if args.batches_only:
        compare_batches(args.store, args.rounds)
        return
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
        n = args.patches_per_chunk
        results = RESULTS if n == PATCHES_PER_CHUNK else RESULTS.with_name(
            f"{RESULTS.stem}_{n}x{n}{RESULTS.suffix}")
        results.parent.mkdir(exist_ok=True)
        results.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "rounds": rounds,
                                       "speed_ratio": speed, "cpu_ratio": cpu,
                                       "same_losses": same}, indent=1) + "\n")


if __name__ == "__main__":
    main()
