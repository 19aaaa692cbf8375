"""Predictive intervals and parameter uncertainty on a twin world with known truth.

Fits a small bootstrap ensemble on the twin world (:data:`~xdifferland.datasets.TWIN_PRESET`,
fewer years and epochs than the twin experiment so that several members fit in minutes),
estimates each stream's observation error on the dev patches, and prints for the test patches:

* the coverage of held-out LAI, SIF and ET (and the towers' streams) by the 90 % predictive
  interval, its width and the mean CRPS, next to the planted noise sd;
* the per-pixel Laplace posterior sd of the parameters of the best member, against the
  ensemble's spread and the planted error (|fitted - planted|), on the vegetated test pixels;
* the sd of LAI and GPP from 20 Laplace samples against the members' spread.

Usage::

    python examples/uncertainty.py                 # reduced twin: 8 years, 3 members, 100 epochs
    python examples/uncertainty.py --quick         # small world, 2 members, 3 epochs (CI)
    python examples/uncertainty.py --members 4 --epochs 150 --years 12   # closer to the twin
    python examples/uncertainty.py --fluxnet       # coverage at the FLUXNET sites' test years
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
import warnings

import numpy as np

import xdifferland
from xdifferland.datasets import TWIN_PLAUSIBILITY, TWIN_PRESET, synthetic_world
from xdifferland.ensemble import ensemble_mean, ensemble_spread
from xdifferland.ensemble_intervals import observation_error
from xdifferland.laplace import laplace_posterior
from xdifferland.registry import DAYS_PER_YEAR, PHENOLOGY_DAYS

# Test patches are held out on purpose; their predictors may lie outside the training range.
warnings.filterwarnings("ignore", category=xdifferland.ExtrapolationWarning)

KEY_PARAMETERS = ("canopy_efficiency", "leaf_carbon_mass_per_area", "leaf_fall_day",
                  "underlying_wue", "autotrophic_fraction", "foliar_allocation")
VEGETATED_LAI = 0.3  #: a pixel is vegetated when its true mean LAI exceeds this (as the twin)
FLUXNET = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fluxnet_sites"


def interval_table(ens, ds, plausibility) -> None:
    """Test-patch coverage and CRPS with one error variance per stream and with the default
    value classes (both with their dev-calibrated factors), and their dev coverage."""
    one = ens.observation_error(ds, level=0.9, classes=1, plausibility=plausibility)
    default = ens.observation_error(ds, level=0.9, plausibility=plausibility)
    print(default)
    scores = {(name, split): ens.interval_scores(ds, split, 0.9, error=error,
                                                 plausibility=plausibility)
              for name, error in (("one", one), ("default", default))
              for split in ("test", "dev")}
    print("\n90 % predictive intervals, test patches (members + observation-error model "
          "estimated on the dev\npatches; 'one class': one variance per stream, 'classes': "
          "one per value class, the default):")
    print(f"{'stream':8s} {'cover':>9s} {'cover':>7s} {'dev cover':>9s} {'CRPS':>9s} "
          f"{'CRPS':>9s} {'width':>9s} {'obs sd':>8s} {'planted':>8s} {'member sd':>9s} "
          f"{'n test':>7s}")
    print(f"{'':8s} {'one class':>9s} {'classes':>7s} {'classes':>9s} {'one class':>9s} "
          f"{'classes':>9s} {'classes':>9s}")
    test = scores["default", "test"]
    for s in test["variable"].values:
        row, plain = test.sel(variable=s), scores["one", "test"].sel(variable=s)
        dev = scores["default", "dev"]
        dev_cover = (float(dev["coverage"].sel(variable=s)) if s in dev["variable"]
                     else float("nan"))
        planted = float(ds[f"{s}_unc"].max()) if f"{s}_unc" in ds else float("nan")
        print(f"{s:8s} {float(plain['coverage']):9.3f} {float(row['coverage']):7.3f} "
              f"{dev_cover:9.3f} {float(plain['crps']):9.4g} {float(row['crps']):9.4g} "
              f"{float(row['interval_width']):9.4g} {float(row['observation_error_sd']):8.4g} "
              f"{planted:8.4g} {float(row['member_sd']):9.4g} {int(row['n_observations']):7d}")


def parameter_table(ens, ds, truth, posterior, where, plausibility) -> None:
    """Laplace sd vs ensemble spread vs planted error, medians over ``where``."""
    laplace_sd = posterior.sd(samples=100, seed=0)
    members = ens.parameters(ds, plausibility=plausibility)
    spread, mean = ensemble_spread(members), ensemble_mean(members)
    best = members.isel(member=0)

    def error(fitted, name):  # phenology days count modulo one year
        gap = abs(fitted[name] - truth[name])
        return np.minimum(gap % DAYS_PER_YEAR, -gap % DAYS_PER_YEAR) if (
            name in PHENOLOGY_DAYS) else gap

    print("\nParameter uncertainty on the vegetated test pixels (medians; physical units):")
    print(f"{'parameter':28s} {'Laplace sd':>10s} {'ens. sd':>10s} {'|best-planted|':>14s} "
          f"{'|mean-planted|':>14s}")
    ratios = []
    for name in posterior.mode.data_vars:
        values = [float(np.nanmedian(x.where(where).values)) for x in (
            laplace_sd[name], spread[name], error(best, name), error(mean, name))]
        ratios.append(values[0] / values[2] if values[2] > 0 else np.nan)
        if name in KEY_PARAMETERS:
            print(f"{name:28s} {values[0]:10.4g} {values[1]:10.4g} {values[2]:14.4g} "
                  f"{values[3]:14.4g}")
    ratios = np.asarray(ratios)
    print(f"over all 40 parameters, median Laplace sd / median |best-planted|: "
          f"{np.nanmedian(ratios):.2f} (below 1 for {int(np.sum(ratios < 1))} of "
          f"{int(np.isfinite(ratios).sum())})")


def flux_table(ens, ds, posterior, where, plausibility) -> None:
    """Sd of LAI and GPP from Laplace samples vs the members' spread, over ``where``."""
    sampled = xdifferland.simulate(ds, posterior, ["lai", "gpp"], samples=20, seed=0,
                                   plausibility=plausibility)
    runs = ens.simulate(ds, ["lai", "gpp"], plausibility=plausibility)
    print("\nFlux sd on the vegetated test pixels (median over pixel-steps):")
    for name in ("lai", "gpp"):
        a = float(np.nanmedian(sampled[name].std("sample").where(where).values))
        b = float(np.nanmedian(runs[name].std("member", ddof=1).where(where).values))
        print(f"{name:4s} Laplace (20 samples) {a:.4g}   ensemble members {b:.4g}")


def fluxnet_coverage(members: int, epochs: int) -> None:
    """Coverage at the FLUXNET sites' test years by a joint site ensemble.

    A site list is one patch, so the dev data are years: each site's last training year
    (of the first ceil(n/2) calendar years) is held out of the fit and the error model is
    estimated there; the later years are scored.
    """
    from xdifferland.ensemble_intervals import interval_scores
    from xdifferland.evaluation import SIMULATED_COUNTERPART
    from xdifferland.experiments import fit_site_ensemble, prepare_sites, temporal_split
    from xdifferland.experiments.loso import add_site_climate

    start = time.perf_counter()
    ds = add_site_climate(prepare_sites(FLUXNET))
    train, test = temporal_split(ds)
    years = ds["date"].dt.year
    dev = train & (years == years.where(train).max("time"))
    streams = [v for v in SIMULATED_COUNTERPART if v in ds and "time" in ds[v].dims]
    fit_part = ds.assign({v: ds[v].where(train & ~dev) for v in streams})
    ens = fit_site_ensemble(fit_part, leave_site_out=False, seeds=members, epochs=epochs)
    print(f"FLUXNET: {ds.sizes['site']} sites, {ens}  ({time.perf_counter() - start:.0f} s)")
    error = observation_error(ens, ds, split="all", observation_mask=dev, level=0.9)
    print(error)
    scores = interval_scores(ens, ds, "all", 0.9, error=error, observation_mask=test)
    one = observation_error(ens, ds, split="all", observation_mask=dev, level=0.9, classes=1)
    plain = interval_scores(ens, ds, "all", 0.9, error=one, observation_mask=test)
    print("\n90 % intervals at the sites' test years (dev: each site's last training year):")
    print(f"{'stream':8s} {'cover 1 class':>13s} {'cover classes':>13s} {'CRPS':>8s} "
          f"{'obs sd':>8s} {'member sd':>9s} {'classes':>7s} {'n':>6s}")
    for s in scores["variable"].values:
        row = scores.sel(variable=s)
        print(f"{s:8s} {float(plain['coverage'].sel(variable=s)):13.3f} "
              f"{float(row['coverage']):13.3f} {float(row['crps']):8.4g} "
              f"{float(row['observation_error_sd']):8.4g} {float(row['member_sd']):9.4g} "
              f"{error.classes(s):7d} {int(row['n_observations']):6d}")
    print(f"total {time.perf_counter() - start:.0f} s")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small world, 2 members (CI)")
    parser.add_argument("--members", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--years", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ensemble", type=Path, default=None,
                        help="folder to save the fitted ensemble in, or to load it from when "
                             "it holds one (same settings)")
    parser.add_argument("--fluxnet", action="store_true",
                        help="the FLUXNET sites instead of the twin (members x epochs of a "
                             "joint site ensemble; default 3 x 100)")
    args = parser.parse_args(argv)
    if args.fluxnet:
        return fluxnet_coverage(args.members or 3, args.epochs or 100)

    start = time.perf_counter()
    world = (dict(seed=args.seed, n_years=3) if args.quick
             else dict(TWIN_PRESET, seed=args.seed, n_years=args.years))
    members = args.members or (2 if args.quick else 3)
    epochs = args.epochs or (3 if args.quick else 100)
    plausibility = TWIN_PLAUSIBILITY
    ds, truth = synthetic_world(**world)
    print(f"world: {dict(ds.sizes)}, noise {ds.attrs['noise_fraction']:.0%} of each stream's "
          f"std; {members} members x {epochs} epochs")
    predictors = ["sand", "clay"] if args.quick else None
    saved = args.ensemble is not None and (args.ensemble / "ensemble.json").exists()
    if saved:  # the members of an earlier run of the same settings
        ens = xdifferland.load_ensemble(args.ensemble)
    else:
        ens = xdifferland.fit_ensemble(ds, members, client="synchronous", progress=False,
                                       epochs=epochs, seed=args.seed, plausibility=plausibility,
                                       **({"predictors": predictors} if predictors else {}))
        if args.ensemble is not None:
            ens.save(args.ensemble)
    splits = {k: len(v) for k, v in ens.members[0].splits.items()}
    print(f"{ens}  patches {splits}  ({time.perf_counter() - start:.0f} s)")

    interval_table(ens, ds, plausibility)

    best = ens.members[0]
    posterior = laplace_posterior(ds, best, plausibility=plausibility)  # noise: dev residuals
    print("\nLaplace posterior of the best member, noise sd from its dev residuals: "
          + ", ".join(f"{s} {v:.3g}" for s, v in posterior.noise.items()) + ", prior sd "
          f"{posterior.prior_sd:g} ({time.perf_counter() - start:.0f} s)")
    where = best.split_mask(ds, "test") & (truth["lai"].mean("time") > VEGETATED_LAI)
    if not bool(where.any()):
        where = best.split_mask(ds, "test")
    parameter_table(ens, ds, truth, posterior, where, plausibility)
    flux_table(ens, ds, posterior, where, plausibility)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
