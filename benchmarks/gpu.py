"""Training-step and forward timings on a GPU (or any JAX default device), by batch size.

    pip install "jax[cuda12]"         # a GPU build of jaxlib
    python benchmarks/gpu.py          # on a machine with a GPU; refuses to run on a CPU
    python benchmarks/gpu.py --allow-cpu --quick    # the same script on a CPU (a check it runs)

Nothing in xdifferland is CPU-specific: the step has no host callbacks and no CPU-only branch,
and the loop option that ``import xdifferland`` sets is an XLA CPU option that other backends
ignore. What changes on a GPU is the batch size: a 320-pixel patch batch keeps a GPU mostly
idle (the month loop is sequential, each month's arithmetic is 320 wide), so the time per step
hardly grows with the batch; larger patches (``FitConfig(patch_size=...)``) or
``batch_size=`` raise the throughput until the GPU is busy. This script prints, per batch
size, the time per training step (every loss term, gradient, Adam), pixel-months per second and
the projected paper-scale epoch (164,040 cells x 168 months) and 199-epoch fit for each step
of ``step_variants.py`` (the default; the hand-written adjoint, ``simulate(adjoint=True)``,
fewer kernels per month; the loss accumulated in the time loop, ``FitConfig(loss_in_loop=True)``,
no series stacked over time; both together), and the forward run with all 44 outputs. Results
of a GPU run go to ``benchmarks/results/gpu.json``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
import sys
import time

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import xdifferland  # noqa: E402,F401  (before JAX starts: the CPU loop option)

from _throughput import N_MONTHS, PAPER_CELLS, bench_forward, time_calls, train_step_fn  # noqa: E402
from step_variants import VARIANTS, use_adjoint  # noqa: E402

EPOCHS = 199


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="320,1280,5120,20480",
                        help="comma-separated training batch sizes (pixels)")
    parser.add_argument("--forward", default="3200,32000", help="forward-run pixel counts")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="320 and 640 pixels, 3 repeats")
    parser.add_argument("--allow-cpu", action="store_true")
    args = parser.parse_args()
    import jax

    device = jax.devices()[0]
    if device.platform == "cpu" and not args.allow_cpu:
        sys.exit("no GPU: JAX's default device is the CPU (install a GPU build of jaxlib, or "
                 "pass --allow-cpu to run the script anyway)")
    batches = [320, 640] if args.quick else [int(b) for b in args.batches.split(",")]
    forward = [3200] if args.quick else [int(n) for n in args.forward.split(",")]
    repeats = 3 if args.quick else args.repeats
    print(f"device: {device.device_kind} ({device.platform}), {jax.device_count()} device(s), "
          f"jax {jax.__version__}")
    rows = {"device": device.device_kind, "platform": device.platform,
            "date": time.strftime("%Y-%m-%d"), "train": [], "forward": []}
    print(f"{'batch':>6s} {'variant':>20s} {'step ms':>9s} {'pixel-months/s':>15s} "
          f"{'paper epoch s':>14s} {'199 epochs min':>15s}")
    for n in batches:
        for label, (settings, adjoint) in VARIANTS.items():
            use_adjoint(adjoint)
            step, batch, weights, opt_state, _ = train_step_fn("xdifferland", n, **settings)
            timing = time_calls(lambda: step(weights, opt_state, batch), repeats)  # noqa: B023
            per_step = timing["median_s"]
            epoch = math.ceil(PAPER_CELLS / n) * per_step
            rows["train"].append({"batch": n, "variant": label, **timing,
                                  "paper_epoch_s": epoch})
            print(f"{n:6d} {label:>20s} {1e3 * per_step:9.2f} {n * N_MONTHS / per_step:15.3g} "
                  f"{epoch:14.1f} {EPOCHS * epoch / 60:15.1f}")
    use_adjoint(False)
    for n in forward:
        timing = bench_forward(n, "all", repeats)
        rows["forward"].append({"pixels": n, **timing})
        print(f"forward {n} pixels, {timing['n_outputs']} outputs: "
              f"{1e3 * timing['median_s']:.2f} ms ({n * N_MONTHS / timing['median_s']:.3g} "
              "pixel-months/s)")
    if device.platform != "cpu" and not args.quick:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "gpu.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
