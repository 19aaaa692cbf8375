"""FLUXNET site validation: one hybrid model for 12 sites, new sites, and per-site calibrations.

Fits DifferLand jointly across the daily site drivers in ``../shared/data/fluxnet_sites`` on each
site's first ceil(n_years / 2) calendar years, scores every site's later years (the split of the
published per-site scores), predicts each site from fits to the others (leave-one-site-out:
nothing of the site is seen; satellite-informed: only its LAI is seen, all years, by the network
and by the LAI-matched rule of ``xdifferland.experiments.lai_matched``), and writes:

* ``fluxnet_sites.csv`` - per-site test NSE of GPP, ET, NEE and LAI (joint hybrid, its
  water-stress variants, leave-one-site-out, both satellite-informed protocols, published
  per-site DALEC) with the means,
* ``nse_by_site.png`` - those NSE per site and protocol,
* ``parameter_spread_<protocol>.csv`` - the held-out sites' parameters and their spread,
* ``<SITE>.png`` - observed vs simulated daily GPP, NEE, ET and LAI over the test years.

Usage::

    python examples/fluxnet_sites.py                 # full run (see the docs for its timing)
    python examples/fluxnet_sites.py --quick         # 3 sites, few epochs (CI)
    python examples/fluxnet_sites.py --held-out-only # refresh the loso_*, sat_*, satlai_* columns
    python examples/fluxnet_sites.py --variants-only --variants nothing,nn_whole  # add variants
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

import xdifferland  # noqa: E402,F401
from xdifferland.experiments import (LOSO_SEEDS, prepare_sites, site_validation,  # noqa: E402
                                     temporal_split)
from xdifferland.experiments.folds import predictor_sets  # noqa: E402
from xdifferland.experiments.loso import parameter_spread  # noqa: E402
from xdifferland.plot_labels import axis_label  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fluxnet_sites"
PANELS = (("gpp", "gpp"), ("nee", "nee"), ("et_ec", "et"), ("lai", "lai"))
#: Water-stress variants fitted jointly besides the default (spec 6.11).
DEFAULT_VARIANTS = ("nn_paw", "gpp_acm_et_nn")
PROTOCOLS = (("hybrid", "joint fit"), ("loso", "leave-one-site-out"),
             ("sat", "satellite-informed"), ("satlai", "satellite-informed, LAI-matched"),
             ("published", "published per-site DALEC"))


def plot_site(site: str, ds, simulated, test, out: Path) -> Path:
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(10, 9), sharex=True)
    one, sim, keep = ds.sel(site=site), simulated.sel(site=site), test.sel(site=site)
    dates = one["date"].where(keep, drop=True)
    for ax, (obs_name, sim_name) in zip(axes, PANELS):
        ax.plot(dates, one[obs_name].where(keep, drop=True), ".", ms=2, color="0.4",
                label="observed")
        ax.plot(dates, sim[sim_name].where(keep, drop=True), lw=1, color="C0", label="hybrid")
        ax.set_ylabel(axis_label(name=sim_name, units=one[obs_name].attrs.get("units")))
    axes[0].legend(loc="upper right", frameon=False)
    axes[0].set_title(f"{site}: test years")
    fig.tight_layout()
    path = out / f"{site}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_nse(table: pd.DataFrame, out: Path) -> Path:
    """Per-site test NSE of each protocol, one panel per variable (values below -1 at -1)."""
    sites = [s for s in table.index if s != "mean"]
    labels = ("GPP", "ET", "NEE", "LAI")
    fig, axes = plt.subplots(len(labels), 1, figsize=(13, 10), sharex=True)
    shown = [(p, name) for p, name in PROTOCOLS if f"{p}_GPP" in table]
    width = 0.8 / len(shown)
    for ax, label in zip(axes, labels):
        for k, (prefix, name) in enumerate(shown):
            values = table.loc[sites, f"{prefix}_{label}"].clip(lower=-1.0)
            mean = table.loc["mean", f"{prefix}_{label}"]
            ax.bar([i + (k - (len(shown) - 1) / 2) * width for i in range(len(sites))], values,
                   width, color=f"C{k}", label=f"{name} (mean {mean:.2f})")
        ax.axhline(0.0, color="0.3", lw=0.8)
        ax.set_ylim(-1.0, 1.0)
        ax.set_ylabel(f"{label} NSE")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    axes[-1].set_xticks(range(len(sites)), sites, rotation=30)
    axes[0].set_title("Test-year NSE per site (bars below -1 drawn at -1)")
    fig.tight_layout()
    path = out / "nse_by_site.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def loso_options(args) -> dict:
    """Leave-one-site-out keywords of :func:`site_validation` from the command line."""
    options = {"loso_epochs": args.loso_epochs, "loso_seeds": args.loso_seeds,
               "loso_max_refits": args.loso_max_refits, "seed": args.seed}
    if args.loso_predictors:
        options["loso_predictors"] = args.loso_predictors
    if args.sat_predictors:
        options["sat_predictors"] = args.sat_predictors
    return options


def write_spread(result, out: Path) -> Path | None:
    """The held-out sites' parameters, their spread across sites (``parameter_spread_<p>.csv``
    for each protocol run)."""
    path = None
    for protocol, simulated in result.held_out.items():
        path = _write_spread(protocol, simulated, out)
    return path


def _write_spread(protocol: str, simulated: dict, out: Path) -> Path:
    spread = parameter_spread(simulated)
    path = out / f"parameter_spread_{protocol}.csv"
    spread.to_csv(path, float_format="%.4g")
    wide = spread.sort_values("spread_share_of_range", ascending=False)
    print(f"\n{dict(PROTOCOLS)[protocol]} parameters across the held-out sites (largest "
          "spreads):")
    print(wide.head(8).to_string(float_format=lambda v: f"{v:.3g}"))
    print(f"median spread: {spread['spread_share_of_range'].median():.2f} of each range")
    return path


def held_out_only(args):
    """Rerun only the held-out-site protocols; update their columns of the committed table."""
    path = args.out / "fluxnet_sites.csv"
    start = time.perf_counter()
    result = site_validation(args.data, epochs=args.epochs, joint=False,
                             leave_one_out=not args.no_loso, satellite=not args.no_satellite,
                             lai_matching=not args.no_satellite, **loso_options(args))
    elapsed = time.perf_counter() - start
    table = pd.read_csv(path, index_col="site")
    fresh = result.table.filter(regex="^(loso|sat|satlai)_")
    fresh.loc["mean"] = fresh.mean()
    for column in fresh.columns:
        table[column] = fresh[column].reindex(table.index)
    table.to_csv(path, float_format="%.3f")
    print(table.round(3).to_string())
    write_spread(result, args.out)
    plot_nse(table, args.out)
    print(f"\nupdated the {', '.join(fresh.columns)} columns of {path} in {elapsed:.0f} s")
    return result


def variants_only(args):
    """Fit only the water-stress variants jointly; add or replace their columns of the table."""
    path = args.out / "fluxnet_sites.csv"
    start = time.perf_counter()
    result = site_validation(args.data, epochs=args.epochs, variants=args.variants,
                             joint_default=False, leave_one_out=False, satellite=False,
                             seed=args.seed)
    elapsed = time.perf_counter() - start
    table = pd.read_csv(path, index_col="site")
    fresh = result.table.filter(regex="^(" + "|".join(args.variants) + ")_")
    fresh.loc["mean"] = fresh.mean()
    first_published = list(table.columns).index("loso_GPP") if "loso_GPP" in table else None
    for column in fresh.columns:
        if column not in table and first_published is not None:
            table.insert(list(table.columns).index("loso_GPP"), column, np.nan)
        table[column] = fresh[column].reindex(table.index)
    table.to_csv(path, float_format="%.3f")
    print(table[list(fresh.columns)].round(3).to_string())
    print(f"\nupdated the {', '.join(fresh.columns)} columns of {path} in {elapsed:.0f} s")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 sites, 20 epochs (joint) and 2 (held-out), 1 member")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("-o", "--out", type=Path, default=Path("examples/results"))
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--loso-epochs", type=int, default=None,
                        help="epochs of the held-out-site fits (default: LOSO_EPOCHS)")
    parser.add_argument("--loso-seeds", type=int, default=LOSO_SEEDS,
                        help=f"members averaged per held-out site (default {LOSO_SEEDS})")
    parser.add_argument("--loso-max-refits", type=int, default=2,
                        help="rounds of refitting held-out-site members stuck in a poor "
                             "optimum (default 2; 0 keeps every member as trained)")
    parser.add_argument("--seed", type=int, default=0,
                        help="base seed of every fit (held-out-site members: seed + 1000 k)")
    parser.add_argument("--loso-predictors", type=predictor_sets, default=None,
                        help="comma-separated predictors of the held-out-site fits; several "
                             "sets, taken by the members in turn, separated by ';' (default: "
                             "LOSO_PREDICTORS)")
    parser.add_argument("--sat-predictors", type=lambda text: tuple(text.split(",")),
                        default=None, help="comma-separated predictors of the satellite-informed "
                                           "fits (default: SAT_PREDICTORS)")
    parser.add_argument("--variants", type=lambda text: tuple(v for v in text.split(",") if v),
                        default=DEFAULT_VARIANTS,
                        help="comma-separated water-stress variants fitted jointly besides the "
                             f"default (default: {','.join(DEFAULT_VARIANTS)}; '' for none)")
    parser.add_argument("--no-satellite", action="store_true",
                        help="skip the satellite-informed protocols (network and LAI-matched)")
    parser.add_argument("--no-loso", action="store_true",
                        help="with --held-out-only: only the satellite-informed protocol")
    parser.add_argument("--held-out-only", action="store_true",
                        help="only the held-out-site protocols: replace the loso_*, sat_* and "
                             "satlai_* columns of an existing fluxnet_sites.csv in the output "
                             "folder")
    parser.add_argument("--variants-only", action="store_true",
                        help="only the joint fits of --variants: add or replace their columns "
                             "of an existing fluxnet_sites.csv in the output folder")
    args = parser.parse_args(argv)
    if args.held_out_only:
        return held_out_only(args)
    if args.variants_only:
        return variants_only(args)

    sites = ["US-Ha1", "US-Var", "DE-Tha"] if args.quick else None
    if args.quick:  # every part runs, briefly
        args.loso_seeds, args.loso_epochs = 1, args.loso_epochs or 2
        args.loso_predictors = args.loso_predictors or ("mean_temperature", "moisture_index")
    epochs = args.epochs or (20 if args.quick else None)  # None: SITE_SETTINGS (2,500)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    variants = () if args.quick else args.variants
    result = site_validation(args.data, sites=sites, epochs=epochs, variants=variants,
                             satellite=not args.no_satellite, lai_matching=not args.no_satellite,
                             **loso_options(args), progress=not args.quick)
    elapsed = time.perf_counter() - start
    columns = list(result.table.columns)
    print(result.table[columns].round(3).to_string())
    print("\nMeans over sites:")
    print(result.means[columns].round(3).to_string())
    name = "fluxnet_sites_quick.csv" if args.quick else "fluxnet_sites.csv"
    table = result.table.copy()
    table.loc["mean"] = result.means.iloc[0]
    table.to_csv(args.out / name, float_format="%.3f")
    refits = {k: sum(s.attrs["refitted_members"] for s in v.values())
              for k, v in result.held_out.items()}
    members = {k: sum(s.attrs["ensemble_members"] for s in v.values())
               for k, v in result.held_out.items()}
    print(f"\nheld-out-site members averaged {members}, of them refitted {refits}")
    write_spread(result, args.out)
    plot_nse(table, args.out)

    ds = prepare_sites(args.data, sites)
    _, test = temporal_split(ds)
    simulated = result.model.simulate(ds, ["gpp", "nee", "et", "lai"])
    for site in ds["site"].values:
        plot_site(str(site), ds, simulated, test, args.out)
    print(f"\nwrote {args.out / name}, nse_by_site.png and {ds.sizes['site']} site figures "
          f"in {elapsed:.0f} s")
    return result


if __name__ == "__main__":
    main()
