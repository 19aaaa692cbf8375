"""The training step with the hand-written adjoint against JAX's derivative, side by side.

    python benchmarks/adjoint_step.py                 # 320 and 3,200 pixels x 168 months
    python benchmarks/adjoint_step.py --rounds 9 --pixels 320
    python benchmarks/adjoint_step.py --quick         # 80 pixels, 3 rounds, nothing written

One process builds two training steps that differ only in how the time loop is differentiated
(``simulate(adjoint=True)``, opt-in, and ``adjoint=False``, the default: JAX's automatic
derivative of the checkpointed scan, the reference). Every loss term is on (the synthetic batch of
``run_all.py``), the network, the gradient and Adam included. Rounds alternate the two steps;
each call is timed by process CPU time and wall time. Printed and written to
``benchmarks/results/adjoint_step.json``: medians, the per-round ratios (reference /
adjoint: above 1 when the adjoint is faster) and their median, and for both the pixel-months
per second, the projected paper-scale training time (164,040 cells x 168 months x 199 epochs,
one device, wall time) and the paper's 360-fit factorial on this machine.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
RESULTS = HERE / "results" / "adjoint_step.json"
PAPER_CELLS, MONTHS, EPOCHS, FITS = 164_040, 168, 199, 360


def _steps(n_pixels: int) -> dict:
    import jax

    import xdifferland.training.steps as steps
    from run_all import _train_step_fn
    from xdifferland.engine import simulate

    built = {}
    for label, adjoint in (("adjoint", True), ("reference", False)):  # reference: the default
        steps.simulate = functools.partial(simulate, adjoint=adjoint)
        fn, batch, weights, state, _ = _train_step_fn("xdifferland", n_pixels)
        out = fn(weights, state, batch)  # compile
        jax.block_until_ready(out)
        built[label] = (fn, batch, weights, state, float(out[2]))
    steps.simulate = simulate
    return built


def measure(n_pixels: int, rounds: int) -> dict:
    import jax

    built = _steps(n_pixels)
    times = {label: [] for label in built}
    for _ in range(rounds):
        for label, (fn, batch, weights, state, _) in built.items():
            cpu, wall = time.process_time(), time.perf_counter()
            jax.block_until_ready(fn(weights, state, batch))
            times[label].append((time.process_time() - cpu, time.perf_counter() - wall))
    adjoint, reference = np.array(times["adjoint"]), np.array(times["reference"])
    ratio = reference / adjoint
    seconds = {"adjoint": float(np.median(adjoint[:, 1])),
               "reference": float(np.median(reference[:, 1]))}
    paper_epoch = {k: s * PAPER_CELLS / n_pixels for k, s in seconds.items()}
    return {
        "pixels": n_pixels, "months": MONTHS, "rounds": rounds,
        "losses_equal": bool(np.isclose(built["adjoint"][4], built["reference"][4], rtol=1e-5)),
        "adjoint_cpu_ms": 1e3 * float(np.median(adjoint[:, 0])),
        "adjoint_wall_ms": 1e3 * seconds["adjoint"],
        "reference_cpu_ms": 1e3 * float(np.median(reference[:, 0])),
        "reference_wall_ms": 1e3 * float(np.median(reference[:, 1])),
        "cpu_ratio_per_round": ratio[:, 0].round(3).tolist(),
        "wall_ratio_per_round": ratio[:, 1].round(3).tolist(),
        "cpu_ratio_median": float(np.median(ratio[:, 0])),
        "wall_ratio_median": float(np.median(ratio[:, 1])),
        **{f"{k}_pixel_months_per_s": n_pixels * MONTHS / s for k, s in seconds.items()},
        **{f"{k}_paper_training_h": e * EPOCHS / 3600 for k, e in paper_epoch.items()},
        **{f"{k}_factorial_360_days": e * EPOCHS * FITS / 86400 for k, e in paper_epoch.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pixels", type=int, nargs="+", default=[320, 3200])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="80 pixels, 3 rounds, no JSON")
    args = parser.parse_args()
    if args.quick:
        args.pixels, args.rounds = [80], 3
    import jax

    import xdifferland

    results = {"xdifferland": xdifferland.__version__, "jax": jax.__version__,
               "machine": platform.processor() or platform.machine(),
               "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d"), "runs": []}
    for n_pixels in args.pixels:
        run = measure(n_pixels, args.rounds)
        results["runs"].append(run)
        print(f"{n_pixels:5d} px: adjoint {run['adjoint_cpu_ms']:7.2f} ms CPU "
              f"{run['adjoint_wall_ms']:7.2f} ms wall | reference {run['reference_cpu_ms']:7.2f}"
              f" / {run['reference_wall_ms']:7.2f} | ratio CPU {run['cpu_ratio_median']:.2f} "
              f"wall {run['wall_ratio_median']:.2f}", flush=True)
        for k in ("adjoint", "reference"):
            print(f"       {k:9s} {run[k + '_pixel_months_per_s'] / 1e6:5.2f} M pixel-months/s,"
                  f" paper-scale training {run[k + '_paper_training_h']:.2f} h, 360 fits "
                  f"{run[k + '_factorial_360_days']:.1f} days")
    if not args.quick:
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
