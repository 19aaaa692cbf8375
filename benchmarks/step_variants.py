"""Ways of computing the training step, timed side by side against the default step.

    python benchmarks/step_variants.py                 # 320 and 3,200 pixels x 168 months
    python benchmarks/step_variants.py --rounds 9 --pixels 320
    python benchmarks/step_variants.py --quick         # 80 pixels, 3 rounds, nothing written

One process builds training steps that differ only in how the loss and its gradient are formed:

- ``reference``: the default, JAX's automatic derivative of the checkpointed time loop, the
  loss read from the simulated series stacked over time;
- ``adjoint``: the time loop differentiated by its hand-written adjoint
  (``simulate(adjoint=True)``, opt-in);
- ``loss_in_loop``: the loss accumulated inside the time loop with the observations as its
  inputs (``FitConfig(loss_in_loop=True)``, opt-in; :mod:`xdifferland.engine.loss_in_loop`);
- ``adjoint_loss_in_loop``: both, the loss's cotangents formed month by month inside the
  adjoint's reverse loop (``simulated_loss_terms(..., adjoint=True)``).

Every loss term is on (the synthetic batch of ``run_all.py``), the network, the gradient and Adam
included. Rounds alternate the steps; each call is timed by process CPU time and wall time.
Printed and written to ``benchmarks/results/step_variants.json``: medians, each variant's
per-round ratios (reference / variant: above 1 when the variant is faster) and their median, and
for every step the pixel-months per second, the projected paper-scale training time (164,040
cells x 168 months x 199 epochs, one device, wall time) and the paper's 360-fit factorial on this
machine.
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
RESULTS = HERE / "results" / "step_variants.json"
PAPER_CELLS, MONTHS, EPOCHS, FITS = 164_040, 168, 199, 360


#: Each variant's FitConfig settings and whether the time loop takes the hand-written adjoint.
VARIANTS = {"reference": ({}, False), "adjoint": ({}, True),
            "loss_in_loop": ({"loss_in_loop": True}, False),
            "adjoint_loss_in_loop": ({"loss_in_loop": True}, True)}


def use_adjoint(adjoint: bool) -> None:
    """Make the training steps built next differentiate the time loop by its hand-written
    adjoint (``True``) or by JAX (``False``, the default)."""
    import xdifferland.training.steps as steps
    from xdifferland.engine import simulate, simulated_loss_terms

    steps.simulate = functools.partial(simulate, adjoint=adjoint)
    steps.simulated_loss_terms = functools.partial(simulated_loss_terms, adjoint=adjoint)


def _steps(n_pixels: int) -> dict:
    import jax

    from _throughput import train_step_fn

    built = {}
    for label, (settings, adjoint) in VARIANTS.items():
        use_adjoint(adjoint)
        fn, batch, weights, state, _ = train_step_fn("xdifferland", n_pixels, **settings)
        out = fn(weights, state, batch)  # compile
        jax.block_until_ready(out)
        built[label] = (fn, batch, weights, state, float(out[2]))
    use_adjoint(False)
    return built


def measure(n_pixels: int, rounds: int) -> dict:
    import jax

    built = _steps(n_pixels)
    for fn, batch, weights, state, _ in built.values():  # one untimed call each after compiling
        jax.block_until_ready(fn(weights, state, batch))
    times = {label: [] for label in built}
    for r in range(rounds):
        order = list(built) if r % 2 == 0 else list(built)[::-1]
        for label in order:
            fn, batch, weights, state, _ = built[label]
            cpu, wall = time.process_time(), time.perf_counter()
            jax.block_until_ready(fn(weights, state, batch))
            times[label].append((time.process_time() - cpu, time.perf_counter() - wall))
    times = {label: np.array(t) for label, t in times.items()}
    reference_loss = built["reference"][4]
    result = {"pixels": n_pixels, "months": MONTHS, "rounds": rounds}
    for label, t in times.items():
        seconds = float(np.median(t[:, 1]))
        paper_epoch = seconds * PAPER_CELLS / n_pixels
        result[label] = {
            "loss_equal": bool(np.isclose(built[label][4], reference_loss, rtol=1e-5)),
            "cpu_ms": 1e3 * float(np.median(t[:, 0])), "wall_ms": 1e3 * seconds,
            "pixel_months_per_s": n_pixels * MONTHS / seconds,
            "paper_training_h": paper_epoch * EPOCHS / 3600,
            "factorial_360_days": paper_epoch * EPOCHS * FITS / 86400,
        }
        if label != "reference":
            ratio = times["reference"] / t
            result[label].update({
                "cpu_ratio_per_round": ratio[:, 0].round(3).tolist(),
                "wall_ratio_per_round": ratio[:, 1].round(3).tolist(),
                "cpu_ratio_median": float(np.median(ratio[:, 0])),
                "wall_ratio_median": float(np.median(ratio[:, 1])),
            })
    return result


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
        for label in VARIANTS:
            v = run[label]
            ratio = ("" if label == "reference" else
                     f" | ratio CPU {v['cpu_ratio_median']:.2f} wall {v['wall_ratio_median']:.2f}")
            print(f"{n_pixels:5d} px {label:20s} {v['cpu_ms']:7.2f} ms CPU {v['wall_ms']:7.2f} ms "
                  f"wall, {v['pixel_months_per_s'] / 1e6:5.2f} M pixel-months/s, paper-scale "
                  f"training {v['paper_training_h']:.2f} h, 360 fits "
                  f"{v['factorial_360_days']:.1f} days, same loss {v['loss_equal']}{ratio}",
                  flush=True)
    if not args.quick:
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
