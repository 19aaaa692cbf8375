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
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _throughput import run_child  # noqa: E402

PUBLISHED = {"train_step_pm_per_s": 390_000, "forward_320_pm_per_s": 2.2e6,
             "forward_3200_pm_per_s": 3.0e6}


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
                      ("train_320_1dev", "baseline_train_320",
                       "train_speedup_vs_in_loop_baseline")):
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
