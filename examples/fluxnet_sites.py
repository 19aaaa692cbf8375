"""FLUXNET site validation: one hybrid model for 12 sites vs per-site calibrations.

Fits DifferLand jointly across the daily site drivers in ``../shared/data/fluxnet_sites`` on each
site's first ceil(n_years / 2) calendar years, scores every site's later years (the split of the
published per-site scores), repeats it leaving each site out, and writes:

* ``fluxnet_sites.csv`` - per-site test NSE of GPP, ET, NEE and LAI (hybrid, leave-one-site-out,
  published per-site DALEC) with the means,
* ``<SITE>.png`` - observed vs simulated daily GPP, NEE, ET and LAI over the test years.

Usage::

    python examples/fluxnet_sites.py                 # full run (see the docs for its timing)
    python examples/fluxnet_sites.py --quick         # 2 sites, few epochs (CI)
    python examples/fluxnet_sites.py --loso-only     # refresh the leave-one-site-out columns
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

import xdifferland  # noqa: E402,F401
from xdifferland.experiments import (LOSO_SEEDS, prepare_sites, site_validation,  # noqa: E402
                                     temporal_split)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fluxnet_sites"
PANELS = (("gpp", "gpp", "GPP (gC m-2 d-1)"), ("nee", "nee", "NEE (gC m-2 d-1)"),
          ("et_ec", "et", "ET (mm d-1)"), ("lai", "lai", "LAI (m2 m-2)"))


def plot_site(site: str, ds, simulated, test, out: Path) -> Path:
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(10, 9), sharex=True)
    one, sim, keep = ds.sel(site=site), simulated.sel(site=site), test.sel(site=site)
    dates = one["date"].where(keep, drop=True)
    for ax, (obs_name, sim_name, label) in zip(axes, PANELS):
        ax.plot(dates, one[obs_name].where(keep, drop=True), ".", ms=2, color="0.4",
                label="observed")
        ax.plot(dates, sim[sim_name].where(keep, drop=True), lw=1, color="C0", label="hybrid")
        ax.set_ylabel(label)
    axes[0].legend(loc="upper right", frameon=False)
    axes[0].set_title(f"{site}: test years")
    fig.tight_layout()
    path = out / f"{site}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def loso_options(args) -> dict:
    """Leave-one-site-out keywords of :func:`site_validation` from the command line."""
    options = {"loso_epochs": args.loso_epochs, "loso_seeds": args.loso_seeds,
               "loso_max_refits": args.loso_max_refits, "seed": args.seed}
    if args.loso_predictors:
        options["loso_predictors"] = args.loso_predictors
    return options


def loso_only(args):
    """Rerun only the leave-one-site-out part and update its columns of the committed table."""
    path = args.out / "fluxnet_sites.csv"
    start = time.perf_counter()
    result = site_validation(args.data, epochs=args.epochs, joint=False,
                             **loso_options(args))
    elapsed = time.perf_counter() - start
    table = pd.read_csv(path, index_col="site")
    loso = result.table.filter(like="loso_")
    loso.loc["mean"] = loso.mean()
    table[loso.columns] = loso.reindex(table.index)
    table.to_csv(path, float_format="%.3f")
    print(table.round(3).to_string())
    print(f"\nupdated the loso_* columns of {path} in {elapsed:.0f} s")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 sites, 20 epochs, no LOSO")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("-o", "--out", type=Path, default=Path("examples/results"))
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--loso-epochs", type=int, default=None,
                        help="epochs of the leave-one-site-out fits (default: LOSO_EPOCHS)")
    parser.add_argument("--loso-seeds", type=int, default=LOSO_SEEDS,
                        help=f"seeds averaged per held-out site (default {LOSO_SEEDS})")
    parser.add_argument("--loso-max-refits", type=int, default=2,
                        help="rounds of refitting leave-one-site-out members stuck in a poor "
                             "optimum (default 2; 0 keeps every member as trained)")
    parser.add_argument("--seed", type=int, default=0,
                        help="base seed of every fit (leave-one-site-out members: seed + 1000 k)")
    parser.add_argument("--loso-predictors", type=lambda text: tuple(text.split(",")),
                        default=None, help="comma-separated predictors of the leave-one-site-"
                                           "out fits (default: LOSO_PREDICTORS)")
    parser.add_argument("--no-variants", action="store_true",
                        help="skip the neural water-stress variants")
    parser.add_argument("--loso-only", action="store_true",
                        help="only the leave-one-site-out fits: replace the loso_* columns of "
                             "an existing fluxnet_sites.csv in the output folder")
    args = parser.parse_args(argv)
    if args.loso_only:
        return loso_only(args)

    sites = ["US-Ha1", "US-Var"] if args.quick else None
    epochs = args.epochs or (20 if args.quick else None)  # None: SITE_SETTINGS (2,500)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    variants = () if args.quick or args.no_variants else ("nn_paw", "gpp_acm_et_nn")
    result = site_validation(args.data, sites=sites, epochs=epochs, leave_one_out=not args.quick,
                             variants=variants, **loso_options(args),
                             progress=not args.quick)
    elapsed = time.perf_counter() - start
    columns = list(result.table.columns)
    print(result.table[columns].round(3).to_string())
    print("\nMeans over sites:")
    print(result.means[columns].round(3).to_string())
    name = "fluxnet_sites_quick.csv" if args.quick else "fluxnet_sites.csv"
    table = result.table.copy()
    table.loc["mean"] = result.means.iloc[0]
    table.to_csv(args.out / name, float_format="%.3f")

    ds = prepare_sites(args.data, sites)
    _, test = temporal_split(ds)
    simulated = result.model.simulate(ds, ["gpp", "nee", "et", "lai"])
    for site in ds["site"].values:
        plot_site(str(site), ds, simulated, test, args.out)
    print(f"\nwrote {args.out / name} and {ds.sizes['site']} site figures in {elapsed:.0f} s")
    return result


if __name__ == "__main__":
    main()
