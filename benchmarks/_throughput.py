"""The benchmarks ``run_all.py`` runs, each in a child process of its own, and the helpers
``gpu.py``, ``step_variants.py`` and ``hlo_work.py`` share with it: timing calls, the training
step of a 320-pixel batch, forward runs, the global run."""

from __future__ import annotations

import resource
import time

N_MONTHS = 168
TYPICAL = ("lai", "gpp", "et", "nee", "nbe", "sif")
PAPER_CELLS = 164_040


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_calls(fn, repeats: int):
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


def outputs_named(kind: str):
    from xdifferland.engine import OUTPUT_NAMES, required_outputs

    return {"all": OUTPUT_NAMES, "loss": required_outputs(), "typical": TYPICAL}[kind]


def bench_forward(n_pixels: int, outputs: str, repeats: int, engine: str = "xdifferland"):
    from _synthetic import engine_forcing, engine_parameters
    from xdifferland import parallel
    from xdifferland.engine.simulate import as_dtype

    names = outputs_named(outputs)
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
    result = time_calls(fn, repeats)
    result["pixel_months"] = n_pixels * N_MONTHS
    result["n_outputs"] = len(names)
    return result


def train_step_fn(engine: str, n_pixels: int = 320, **settings):
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

    train_step, batch, weights, opt_state, n_terms = train_step_fn(engine)
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
    result = time_calls(fn, repeats)
    loss = float(np.asarray(fn()[2]).ravel()[-1])
    for key in ("median_s", "min_s", "cpu_median_s"):  # per training step
        result[key] /= steps_per_call
    result.update(pixel_months=320 * N_MONTHS, n_loss_terms=n_terms,
                  loss_finite=math.isfinite(loss),
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
    result["peak_rss_mb"] = peak_rss_mb()
    result["devices"] = [str(d) for d in jax.devices()]
    return result
