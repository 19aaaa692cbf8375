"""How many value classes the interval error model should use: leave-one-dev-patch-out CV.

The observation-error model of :mod:`xdifferland.interval_error` estimates one variance and one
coverage factor per value class of the ensemble mean. This script chooses the number of classes
on the **dev** patches only: each dev patch in turn is scored by the model estimated on the
other dev patches, and the mean CRPS and mean |coverage - 0.9| over the patches are printed per
stream and number of classes. The test patches are never read.

Usage::

    python examples/uncertainty.py --years 12 --members 4 --epochs 150 --ensemble ENS
    python benchmarks/interval_classes.py ENS        # same world: 12 years, seed 0
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

import xdifferland
from xdifferland.datasets import TWIN_PLAUSIBILITY, TWIN_PRESET, synthetic_world
from xdifferland.gaussian_scores import gaussian_crps, normal_quantile
from xdifferland.interval_error import (_class_edges, _coverage_factor, _error_variance,
                                        member_predictions)
from xdifferland.simulation import prepare_dataset

CANDIDATES = (1, 2, 3, 5, 8, 10, 20)
LEVEL = 0.9


def flat(observed, simulated, patch):
    """Observed, ensemble mean, member variance and patch id where all are finite."""
    arrays = (observed, simulated.mean("member"), simulated.var("member", ddof=1),
              patch.broadcast_like(observed))
    y, m, v, p = (np.asarray(a.transpose(*observed.dims).values, np.float64).ravel()
                  for a in arrays)
    ok = np.isfinite(y) & np.isfinite(m) & np.isfinite(v)
    return y[ok], m[ok], v[ok], p[ok]


def held_out_scores(y, m, v, p, classes):
    """Per dev patch: coverage and mean CRPS of the model estimated on the other patches."""
    half = normal_quantile(0.5 + LEVEL / 2.0)
    coverage, crps = [], []
    for patch in np.unique(p):
        fit, score = p != patch, p == patch
        edges = _class_edges(m[fit], classes)
        k_fit = np.searchsorted(edges, m[fit], side="right")
        k_score = np.searchsorted(edges, m[score], side="right")
        variance, factor = [], []
        for c in range(edges.size + 1):
            g = k_fit == c
            variance.append(_error_variance(y[fit][g], m[fit][g], v[fit][g]))
            factor.append(_coverage_factor(y[fit][g], m[fit][g],
                                           np.sqrt(v[fit][g] + variance[-1]), LEVEL))
        sd = np.asarray(factor)[k_score] * np.sqrt(v[score] + np.asarray(variance)[k_score])
        coverage.append(np.mean(np.abs(y[score] - m[score]) <= half * sd))
        crps.append(np.mean(gaussian_crps(y[score], m[score], sd)))
    return np.asarray(coverage), float(np.mean(crps))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ensemble", help="folder of an ensemble saved by examples/uncertainty.py")
    parser.add_argument("--years", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=xdifferland.ExtrapolationWarning)
    ds, _ = synthetic_world(**dict(TWIN_PRESET, seed=args.seed, n_years=args.years))
    ens = xdifferland.load_ensemble(args.ensemble)
    patch = ens.members[0]._patch_ids(prepare_dataset(ds, None, check=False))
    pairs = member_predictions(ens, ds, "dev", streams=["lai", "sif", "et"],
                               plausibility=TWIN_PLAUSIBILITY)
    totals = {c: [0.0, 0.0] for c in CANDIDATES}
    print(f"{'stream':6s} {'classes':>7s} {'CRPS':>9s} {'|cover-0.9|':>11s}  coverage per dev patch")
    for stream, (observed, simulated) in pairs.items():
        data = flat(observed, simulated, patch)
        baseline = None
        for classes in CANDIDATES:
            coverage, crps = held_out_scores(*data, classes)
            baseline = baseline or crps
            gap = float(np.mean(np.abs(coverage - LEVEL)))
            totals[classes][0] += crps / baseline / len(pairs)
            totals[classes][1] += gap / len(pairs)
            print(f"{stream:6s} {classes:7d} {crps:9.4g} {gap:11.4f}  {np.round(coverage, 3)}")
    print("\nover the streams: CRPS relative to one class, mean |coverage - 0.9|")
    for classes, (crps, gap) in totals.items():
        print(f"{classes:3d} classes  {crps:.4f}  {gap:.4f}")


if __name__ == "__main__":
    main()
