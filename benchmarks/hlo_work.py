"""Static cost of the compiled engine: kernels and element operations per pixel-month.

    python benchmarks/hlo_work.py                # training step (320 px) and forward runs
    python benchmarks/hlo_work.py --top 15       # also the costliest kernels of each

Timings on a shared 2-core machine are noisy; the compiled HLO is not. For each program this
reads XLA's optimized HLO and counts, with while-loop bodies weighted by their trip count (the
168 steps), (a) the kernels per call (fusions, copies, reductions, update-slices: each a loop
over elements; with the loop option that ``import xdifferland`` sets, a time loop is wrapped in
one called function whose kernels are counted the same way, so both settings give the same
counts) and
(b) the element operations those kernels evaluate (arithmetic ops times their element count, fused
producers included, so a value recomputed in several kernels counts each time). The ratio to the
one-step jaxpr size shows how much work XLA duplicates. Current counts: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

N_MONTHS = 168
KERNELS = {"fusion", "copy", "reduce", "dynamic-update-slice", "custom-call", "dot", "concatenate"}
NOT_WORK = {"parameter", "constant", "bitcast", "get-tuple-element", "tuple", "broadcast",
            "reshape", "slice", "dynamic-slice", "iota", "transpose", "copy", "fusion", "while",
            "call", "dynamic-update-slice", "concatenate", "pad", "conditional"}
_INSTRUCTION = re.compile(r"\s+(?:ROOT )?%([\w.\-]+) = (\(.*?\)|\S+) ([a-z\-]+)\(")


def computations(hlo: str) -> tuple[dict[str, list[str]], str]:
    """Instruction lines of every computation, and the entry computation's name."""
    comps: dict[str, list[str]] = {}
    entry, current = "", None
    for line in hlo.splitlines():
        head = re.match(r"^(ENTRY )?%([\w.\-]+) ", line)
        if head and line.rstrip().endswith("{"):
            current = head.group(2)
            comps[current] = []
            entry = current if head.group(1) else entry
        elif current and line.startswith(("  %", "  ROOT %")):
            comps[current].append(line)
    return comps, entry


def _trips(line: str) -> int:
    """Trip count of a ``while`` instruction (XLA records it when known), else the months."""
    known = re.search(r'"known_trip_count":\{"n":"(\d+)"\}', line)
    return int(known.group(1)) if known else N_MONTHS


def _elements(shape: str) -> int:
    dims = re.match(r"\w+\[([\d,]*)\]", shape)
    count = 1
    for d in (dims.group(1).split(",") if dims else []):
        count *= int(d) if d else 1
    return count


def work(comps, name: str, memo: dict) -> int:
    """Element operations evaluated by one call of computation ``name``."""
    if name not in memo:
        total = 0
        for line in comps[name]:
            m = _INSTRUCTION.match(line)
            if not m:
                continue
            shape, op = m.group(2), m.group(3)
            total += 0 if op in NOT_WORK or op == "reduce" else _elements(shape)
            trips = _trips(line) if op == "while" else 1
            for callee in re.findall(r"(?:calls|to_apply|body)=%([\w.\-]+)", line):
                total += trips * work(comps, callee, memo)
        memo[name] = total
    return memo[name]


def kernels(comps, name: str, trips: int = 1, where: str = "") -> list[tuple[int, int, str, str]]:
    """(element ops per call, calls, loop, kernel) of every kernel reached from ``name``."""
    rows, memo = [], {}
    for line in comps[name]:
        m = _INSTRUCTION.match(line)
        if not m:
            continue
        if m.group(3) == "while":
            body = re.search(r"body=%([\w.\-]+)", line).group(1)
            rows += kernels(comps, body, trips * _trips(line), m.group(1))
        elif m.group(3) == "call":  # the loop option wraps each time loop in a called function
            callee = re.search(r"to_apply=%([\w.\-]+)", line).group(1)
            rows += kernels(comps, callee, trips, where)
        elif m.group(3) in KERNELS:
            callee = re.search(r"calls=%([\w.\-]+)", line)
            ops = work(comps, callee.group(1), memo) if callee else 0
            rows.append((ops, trips, where, m.group(1)))
    return rows


def report(label: str, hlo: str, pixel_months: int, top: int) -> dict:
    comps, entry = computations(hlo)
    rows = kernels(comps, entry)
    result = {"kernels_per_call": sum(calls for _, calls, _, _ in rows),
              "element_ops_per_pixel_month": work(comps, entry, {}) / pixel_months}
    print(f"{label:28s} kernels/call {result['kernels_per_call']:7d}   element ops per "
          f"pixel-month {result['element_ops_per_pixel_month']:8.0f}")
    for ops, calls, loop, kernel in sorted(rows, key=lambda r: -r[0] * r[1])[:top]:
        print(f"    {ops * calls / pixel_months:8.1f} ops/pm  {calls:5d}x  {loop or 'entry':12s} "
              f"{kernel}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=0, help="list the N costliest kernels")
    args = parser.parse_args()

    from _synthetic import engine_forcing, engine_parameters
    from _throughput import TYPICAL, outputs_named, train_step_fn
    from xdifferland.engine.simulate import _simulate, as_dtype

    step, batch, weights, opt_state, _ = train_step_fn("xdifferland")
    report("train_320 (all loss terms)", step.lower(weights, opt_state, batch).compile().as_text(),
           320 * N_MONTHS, args.top)
    for pixels in (320, 3200):
        forcing, params = as_dtype(engine_forcing(pixels)), as_dtype(engine_parameters(pixels))
        for kind in ("typical", "loss"):
            names = TYPICAL if kind == "typical" else outputs_named("loss")
            hlo = _simulate.lower(params, forcing, tuple(names), False, 1).compile().as_text()
            report(f"forward_{pixels}_{kind}", hlo, pixels * N_MONTHS, args.top)


if __name__ == "__main__":
    main()
