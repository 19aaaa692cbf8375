"""Run every xdifferland benchmark, print a table and write ``benchmarks/results/<tag>.json``.

    python benchmarks/run_all.py                 # everything (a few minutes on 2 cores)
    python benchmarks/run_all.py --quick         # fewer repeats, no 10,000-pixel or global run
    python benchmarks/run_all.py --only train    # benchmarks whose name contains "train"

Each benchmark runs in its own Python process so that its peak RSS and its JAX device count are
its own; ``_2dev`` (and ``_1dev_loops``) runs configure themselves with
``xdifferland.parallel.configure_host_devices`` (one device per core, time loops compiled whole).
Timings: ``compile_s`` is the first call (tracing + XLA compilation + one run), ``median_s`` the
median of the steady-state repeats, ``throughput`` pixel-months per second from the median.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

N_MONTHS = 168
TYPICAL = ("lai", "gpp", "et", "nee", "nbe", "sif")
PAPER_CELLS = 164_040
PUBLISHED = {"train_step_pm_per_s": 390_000, "forward_320_pm_per_s": 2.2e6,
             "forward_3200_pm_per_s": 3.0e6}


# --- children ------------------------------------------------------------------------------------

def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _time_calls(fn, repeats: int):
    import jax
    import numpy as np

    start = time.perf_counter()
    jax.block_until_ready(fn())
    compile_s = time.perf_counter() - start
    walls, cpus = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn())
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return {"compile_s": compile_s, "median_s": float(np.median(walls)),
            "min_s": float(np.min(walls)), "cpu_median_s": float(np.median(cpus)),
            "repeats": repeats}


def _outputs(kind: str):
    from xdifferland.engine import OUTPUT_NAMES, required_outputs

    return {"all": OUTPUT_NAMES, "loss": required_outputs(), "typical": TYPICAL}[kind]


def bench_forward(n_pixels: int, outputs: str, repeats: int, engine: str = "xdifferland"):
    from _synthetic import engine_forcing, engine_parameters
    from xdifferland import parallel
    from xdifferland.engine.simulate import as_dtype

    names = _outputs(outputs)
    forcing, params = engine_forcing(n_pixels), engine_parameters(n_pixels)
    if engine == "baseline":
        from _baseline import simulate_in_loop

        forcing, params = as_dtype(forcing), as_dtype(params)
        fn = lambda: simulate_in_loop(params, forcing, names)  # noqa: E731
    else:
        n_dev = parallel.device_count()
        params, forcing, _ = parallel.pad_pixels(params, forcing, n_dev)
        mesh = parallel.pixel_mesh()
        params = parallel.shard_pixels(as_dtype(params), 0, mesh)
        forcing = parallel.shard_pixels(as_dtype(forcing), parallel._time_major_axis, mesh)
        from xdifferland.engine import simulate

        fn = lambda: simulate(params, forcing, names).outputs  # noqa: E731
    result = _time_calls(fn, repeats)
    result["pixel_months"] = n_pixels * N_MONTHS
    result["n_outputs"] = len(names)
    return result


def _train_step_fn(engine: str, n_pixels: int = 320, **settings):
    """(train_step, batch, weights, opt_state) for an ``n_pixels`` x 168 batch with every loss
    term on; ``settings`` are :class:`~xdifferland.training.config.FitConfig` options."""
    import jax
    import optax

    from _synthetic import synthetic_batch
    from xdifferland import parallel
    from xdifferland.engine import init, loss_terms
    from xdifferland.engine.loss import active_terms, required_outputs
    from xdifferland.network import init_network, predict_parameters
    from xdifferland.training.config import FitConfig

    batch = synthetic_batch(n_pixels)
    config = FitConfig(**settings)
    weights_map: dict = {}
    terms = active_terms(batch.observations, weights_map)
    outputs = required_outputs(terms)
    optimizer = config.optimizer(100)
    weights = init_network(config.network, batch.predictors.shape[1], 0)
    opt_state = optimizer.init(weights)
    if engine == "xdifferland":
        from xdifferland.training.steps import _make_steps

        # as fit() does: the batch's step length (30 days) passed in as a whole number
        train_step, _ = _make_steps(config, weights_map, outputs, (), optimizer,
                                    batch.forcing.delta_t)
    else:
        from _baseline import simulate_in_loop

        def loss_fn(w, b):
            params = predict_parameters(w, config.network, b.predictors, b.hemisphere)
            out = simulate_in_loop(params, b.forcing, outputs)
            t = loss_terms(out, b.observations, init(params), weights=weights_map,
                           batch_size=b.valid.shape[0], edc_gate=b.valid)
            return sum(t.values()), t

        @jax.jit
        def train_step(w, s, b):
            (loss, t), g = jax.value_and_grad(loss_fn, has_aux=True)(w, b)
            updates, s = optimizer.update(g, s, w)
            return optax.apply_updates(w, updates), s, loss, t

    mesh = parallel.pixel_mesh()
    batch = parallel.shard_batch(batch, mesh)
    weights, opt_state = parallel.replicate(weights, mesh), parallel.replicate(opt_state, mesh)
    return train_step, batch, weights, opt_state, len(terms)


def bench_train(repeats: int, engine: str = "xdifferland", steps_per_call: int = 1):
    """Seconds per training step; ``steps_per_call`` > 1 times the fused calls ``fit`` makes."""
    import math

    import numpy as np

    train_step, batch, weights, opt_state, n_terms = _train_step_fn(engine)
    if steps_per_call > 1:
        from _synthetic import synthetic_batch
        from xdifferland import parallel
        from xdifferland.training.batches import stack_batches
        from xdifferland.training.steps import fused_steps

        host = synthetic_batch(320)  # the same data as `batch`, unplaced, to stack
        group = parallel.shard_batch(stack_batches([host] * steps_per_call),
                                     parallel.pixel_mesh(), stacked=True)
        steps = fused_steps(train_step)
        fn = lambda: steps(weights, opt_state, group, steps_per_call)  # noqa: E731
    else:
        fn = lambda: train_step(weights, opt_state, batch)  # noqa: E731
    result = _time_calls(fn, repeats)
    loss = float(np.asarray(fn()[2]).ravel()[-1])
    for key in ("median_s", "min_s", "cpu_median_s"):  # per training step
        result[key] /= steps_per_call
    result.update(pixel_months=320 * N_MONTHS, n_loss_terms=n_terms, loss_finite=math.isfinite(loss),
                  steps_per_call=steps_per_call)
    steps_per_epoch = math.ceil(PAPER_CELLS / 320)
    result["paper_epoch_steps"] = steps_per_epoch
    result["paper_epoch_s"] = steps_per_epoch * result["median_s"]
    result["paper_200_epochs_h"] = 200 * steps_per_epoch * result["median_s"] / 3600.0
    return result


def bench_global(n_pixels: int, chunk: int):
    """xdifferland.simulate on a dask-chunked (time, site) Dataset of n_pixels synthetic sites."""
    import dask.array as da
    import numpy as np
    import pandas as pd
    import xarray as xr

    import xdifferland
    from _synthetic import forcing_arrays

    time_coord = pd.date_range("2001-01-15", periods=N_MONTHS, freq="MS") + pd.Timedelta(days=14)
    starts = list(range(0, n_pixels, chunk))
    sizes = [min(chunk, n_pixels - s) for s in starts]
    units = {"t_min": "degC", "t_max": "degC", "shortwave_radiation": "MJ/m**2/day",
             "precipitation": "mm/day", "vpd": "kPa", "burned_area": "1"}
    # One chunk of synthetic forcing (generated before the clock starts) backs every chunk:
    # the data are NumPy, chunked over sites, and no chunk is ever materialized twice.
    block = forcing_arrays(chunk, N_MONTHS, 0)
    data = {}
    for name, unit in units.items():
        arr = da.concatenate([da.from_array(block[name][:, :n], chunks=(N_MONTHS, n))
                              for n in sizes], axis=1)
        data[name] = (("time", "site"), arr, {"units": unit})
    lat = np.random.default_rng(0).uniform(-60, 75, n_pixels)
    data["co2"] = (("time",), (370 + 2 * np.arange(N_MONTHS) / 12).astype(np.float32),
                   {"units": "ppm"})
    data["mean_annual_temperature"] = (("site",), da.from_array(
        (25 - 0.45 * np.abs(lat)).astype(np.float32), chunks=chunk), {"units": "degC"})
    data["mean_annual_precipitation"] = (("site",), da.full(n_pixels, 900.0, np.float32,
                                                            chunks=chunk), {"units": "mm/year"})
    ds = xr.Dataset(data, coords={"time": time_coord, "lat": ("site", lat),
                                  "lon": ("site", np.zeros(n_pixels))})
    params = xdifferland.default_parameters(like=ds)
    start = time.perf_counter()
    out = xdifferland.simulate(ds, params, ["lai", "gpp", "et", "nbe"])
    build_s = time.perf_counter() - start
    out = out.compute()
    wall = time.perf_counter() - start
    finite = float(np.isfinite(out["gpp"].values).mean())
    return {"wall_s": wall, "graph_build_s": build_s, "pixel_months": n_pixels * N_MONTHS,
            "chunk_pixels": chunk, "n_chunks": len(starts), "finite_fraction": finite,
            "throughput": n_pixels * N_MONTHS / wall}


def run_child(spec: dict) -> dict:
    from xdifferland import parallel

    if spec.get("devices", 1) > 1 or spec.get("whole_loops"):
        # What a user gets from xdifferland.parallel.configure_host_devices: one device per
        # core and every time loop compiled whole.
        parallel.configure_host_devices(spec.get("devices", 1))
    import jax

    kind = spec["kind"]
    if kind == "forward":
        result = bench_forward(spec["pixels"], spec["outputs"], spec["repeats"], spec["engine"])
    elif kind == "train":
        result = bench_train(spec["repeats"], spec["engine"], spec.get("steps_per_call", 1))
    elif kind == "global":
        result = bench_global(spec["pixels"], spec["chunk"])
    else:
        raise ValueError(kind)
    if "median_s" in result:
        result["throughput"] = result["pixel_months"] / result["median_s"]
    result["peak_rss_mb"] = _peak_rss_mb()
    result["devices"] = [str(d) for d in jax.devices()]
    return result


# --- parent --------------------------------------------------------------------------------------

def machine() -> dict:
    import jax
    import jaxlib

    cpu = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = round(int(line.split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count(),
            "memory_gb": mem, "platform": platform.platform(), "python": platform.python_version(),
            "jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
            "load_average_start": os.getloadavg()}


def plan(quick: bool) -> list[dict]:
    r = 3 if quick else 7
    specs = []
    sizes = (320, 3200) if quick else (320, 3200, 10000)
    for n in sizes:
        for outputs in ("typical", "loss", "all"):
            for dev in (1, 2):
                if outputs == "all" and dev == 2:
                    continue
                specs.append({"name": f"forward_{n}_{outputs}_{dev}dev", "kind": "forward",
                              "pixels": n, "outputs": outputs, "repeats": r, "devices": dev,
                              "engine": "xdifferland"})
    for n in (320, 3200):
        specs.append({"name": f"baseline_forward_{n}_typical", "kind": "forward", "pixels": n,
                      "outputs": "typical", "repeats": r, "devices": 1, "engine": "baseline"})
    for dev, loops in ((1, False), (1, True), (2, True)):
        specs.append({"name": f"train_320_{dev}dev" + ("_loops" if dev == 1 and loops else ""),
                      "kind": "train", "repeats": r + 3, "devices": dev, "whole_loops": loops,
                      "engine": "xdifferland"})
    for dev in (1, 2):  # the way fit runs them: 8 steps per call (FitConfig.steps_per_call)
        specs.append({"name": f"train_320_{dev}dev_fused8", "kind": "train", "repeats": r + 3,
                      "devices": dev, "whole_loops": True, "engine": "xdifferland",
                      "steps_per_call": 8})
    specs.append({"name": "baseline_train_320", "kind": "train", "repeats": 3, "devices": 1,
                  "engine": "baseline"})
    if not quick:
        specs.append({"name": "global_250000", "kind": "global", "pixels": 250_000,
                      "chunk": 25_000, "devices": 1})
    return specs


def run_spec(spec: dict) -> dict:
    env = dict(os.environ)  # the child configures its devices itself (run_child)
    env["XLA_FLAGS"] = " ".join(
        f for f in env.get("XLA_FLAGS", "").split()
        if not f.startswith(("--xla_force_host_platform_device_count",
                             "--xla_backend_extra_options")))
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env,
                          capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        return {"error": (proc.stderr or proc.stdout)[-2000:]}
    return json.loads(lines[-1])


def _fmt(name: str, r: dict) -> str:
    if "error" in r:
        return f"{name:34s} ERROR {r['error'].strip().splitlines()[-1][:80]}"
    thr = r.get("throughput", float("nan"))
    t = r.get("median_s", r.get("wall_s", float("nan")))
    comp = r.get("compile_s", float("nan"))
    return (f"{name:34s} {thr / 1e6:9.2f} {t * 1e3:10.1f} {r.get('min_s', t) * 1e3:9.1f} "
            f"{comp:8.1f} {r['peak_rss_mb']:8.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated substrings of names to run")
    parser.add_argument("--tag", default=None, help="results file name (default: from the CPU)")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return

    info = machine()
    specs = plan(args.quick)
    if args.only:
        keys = args.only.split(",")
        specs = [s for s in specs if any(k in s["name"] for k in keys)]
    print(f"{info['cpu']} | {info['usable_cores']} cores | {info['memory_gb']} GB | "
          f"jax {info['jax']} ({info['backend']}) | load {info['load_average_start']}")
    print(f"{'benchmark':34s} {'Mpm/s':>9s} {'median ms':>10s} {'min ms':>9s} "
          f"{'compile s':>8s} {'RSS MB':>8s}")
    results = {}
    for spec in specs:
        r = run_spec(spec)
        r["spec"] = spec
        r["load_average"] = os.getloadavg()
        results[spec["name"]] = r
        print(_fmt(spec["name"], r), flush=True)

    summary = {}
    t1 = results.get("train_320_1dev", {})
    t2 = results.get("train_320_2dev", {})
    t1_loops = results.get("train_320_1dev_loops", {})
    fused = [results.get(f"train_320_{d}dev_fused8", {}) for d in (1, 2)]
    best_train = min((r for r in (t1, t1_loops, t2, *fused) if "median_s" in r),
                     key=lambda r: r["median_s"], default=None)
    if best_train:
        summary["train_step_best"] = best_train["spec"]["name"]
        summary["train_step_pm_per_s"] = best_train["throughput"]
        summary["train_speedup_vs_published"] = best_train["throughput"] / PUBLISHED[
            "train_step_pm_per_s"]
        summary["paper_epoch_s"] = best_train["paper_epoch_s"]
        summary["paper_200_epochs_h"] = best_train["paper_200_epochs_h"]
    for n in (320, 3200, 10000):
        best = [results[k]["throughput"] for k in (f"forward_{n}_typical_1dev",
                                                    f"forward_{n}_typical_2dev")
                if "throughput" in results.get(k, {})]
        if best:
            summary[f"forward_{n}_pm_per_s"] = max(best)
    for a, b, key in (("forward_3200_typical_2dev", "forward_3200_typical_1dev",
                       "forward_3200_two_device_speedup"),
                      ("train_320_2dev", "train_320_1dev", "train_two_device_speedup"),
                      ("forward_3200_typical_1dev", "baseline_forward_3200_typical",
                       "forward_speedup_vs_in_loop_baseline"),
                      ("train_320_1dev", "baseline_train_320", "train_speedup_vs_in_loop_baseline")):
        if "median_s" in results.get(a, {}) and "median_s" in results.get(b, {}):
            summary[key] = results[b]["median_s"] / results[a]["median_s"]
    if "global_250000" in results and "wall_s" in results["global_250000"]:
        g = results["global_250000"]
        summary["global_250k_wall_s"] = g["wall_s"]
        summary["global_250k_peak_rss_gb"] = g["peak_rss_mb"] / 1024
    print("\nsummary:")
    for k, v in summary.items():
        print(f"  {k:40s} {v:,.3f}" if isinstance(v, float) else f"  {k:40s} {v}")
    tag = args.tag or ("cpu-" + "".join(c if c.isalnum() else "-" for c in info["cpu"]).strip(
        "-").lower() + f"-{info['usable_cores']}core")
    out = HERE / "results" / f"{tag}.json"
    out.parent.mkdir(exist_ok=True)
    info["load_average_end"] = os.getloadavg()
    out.write_text(json.dumps({"machine": info, "published_reference": PUBLISHED,
                               "summary": summary, "benchmarks": results}, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
