"""How far can fitted parameters travel between the FLUXNET sites?

Predicting a site no one calibrated means giving it parameters learned elsewhere. This script
measures what the other sites' own parameters can do there, as a yardstick for the held-out-site
protocols of ``fluxnet_sites.py``. For each site k of ``../shared/data/fluxnet_sites``, the joint
hybrid model is fitted (``SITE_SETTINGS``, training years) on the *other* sites only; site k's
forcing is then run with each of those sites' fitted parameters and initial pools in turn, and
every run is scored on k's test years (NSE of daily GPP, ET, NEE and LAI). Nothing of site k is
seen by the fits. From these runs, per site and variable:

* ``best`` - the best single other site's parameters, picked knowing k's test-year score
  (hindsight: no method that picks one site's parameters can do better);
* ``best_pair`` - the best mean of two other sites' runs, also picked in hindsight;
* ``all`` - the mean of the runs of all other sites (no choice at all);
* ``lai<n>`` - the mean of the n runs (1, 3, 5) whose LAI is closest to k's observed LAI (all
  years): what the satellite-informed protocol may see, without hindsight;
* ``lai_cv`` - the same with n chosen in each fold by cross-validation on its training sites
  (each training site predicted from the other training sites' runs in the same way, n = 1-5,
  by the mean NSE of GPP, ET and NEE; column ``lai_cv_runs``): the rule of
  ``xdifferland.experiments.lai_matched``, which applies it to sites with LAI and no fluxes.

Written: ``site_transfer.csv`` (per site, with the means) and ``site_transfer_gpp.png`` (the GPP
NSE of every site run with every other site's parameters).

Usage::

    python examples/site_transfer.py            # 12 folds, 2,500 epochs each (about 5 min)
    python examples/site_transfer.py --quick    # 3 sites, 20 epochs (CI)
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from xdifferland.experiments import (candidate_runs, lai_ranking, prepare_sites,  # noqa: E402
                                     runs_by_cross_validation, temporal_split)
from xdifferland.experiments.lai_matched import fit_without, others_than  # noqa: E402
from xdifferland.experiments.sites import SITE_SETTINGS  # noqa: E402
from xdifferland.metrics import skill  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fluxnet_sites"
#: Published label → (observed variable, simulated output).
SCORED = {"GPP": ("gpp", "gpp"), "ET": ("et_ec", "et"), "NEE": ("nee", "nee"),
          "LAI": ("lai", "lai")}
LAI_MATCHED = (1, 3, 5)  # runs averaged by the LAI-matched choices


class Fold:
    """A joint fit to every site but ``k``, and every site run with each training site's fitted
    parameters (``runs``: ``candidate_runs`` over all sites)."""

    def __init__(self, k: str, ds, train, test, settings: dict):
        self.k, self.ds, self.test = k, ds, test
        self.others = [str(s) for s in ds["site"].values if str(s) != k]
        model = fit_without(ds, train, k, settings)  # as site_validation(lai_matching=True)
        outputs = [output for _, output in SCORED.values()]
        self.runs = candidate_runs(model, others_than(ds, k), ds, outputs).load()

    def score(self, label: str, chosen) -> float:
        """Test-year NSE at ``k`` of the mean of the runs with the ``chosen`` parameters."""
        observed_name, output = SCORED[label]
        site = [self.k]
        observed = self.ds[observed_name].sel(site=site).where(self.test.sel(site=site))
        simulated = self.runs[output].sel(site=site, candidate=list(chosen)).mean("candidate")
        return float(skill(observed, simulated, spatial_dims=["site"])["temporal_nse"][0])

    def lai_cv_runs(self) -> int:
        """The LAI-matched count chosen on this fold's training sites (1-5)."""
        training = self.ds.sel(site=self.others)
        n, _ = runs_by_cross_validation(self.runs.sel(site=self.others), training,
                                        self.test.sel(site=self.others), max_runs=5)
        return n


def site_scores(fold: Fold) -> dict[str, float]:
    """The choices' test-year NSE at the fold's held-out site, by variable."""
    k, others = fold.k, fold.others
    # all years of k's LAI: what the satellite-informed protocol may see
    ranked = list(lai_ranking(fold.runs.sel(site=[k]), fold.ds["lai"].sel(site=[k]))
                  .isel(site=0).values)
    n_cv = fold.lai_cv_runs()
    row: dict[str, float] = {"lai_cv_runs": n_cv}
    for label in SCORED:
        row[f"best_{label}"] = max(fold.score(label, [j]) for j in others)
        row[f"best_pair_{label}"] = max(fold.score(label, pair)
                                        for pair in itertools.combinations(others, 2))
        row[f"all_{label}"] = fold.score(label, others)
        for n in LAI_MATCHED:
            row[f"lai{n}_{label}"] = fold.score(label, ranked[:n])
        row[f"lai_cv_{label}"] = fold.score(label, ranked[:n_cv])
    return row


def gpp_matrix(folds: list[Fold]) -> pd.DataFrame:
    """GPP test NSE of site k (rows) run with site j's parameters (columns)."""
    names = [fold.k for fold in folds]
    matrix = pd.DataFrame(np.nan, index=names, columns=names)
    for fold in folds:
        for j in fold.others:
            matrix.loc[fold.k, j] = fold.score("GPP", [j])
    return matrix


def plot_matrix(matrix: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    colours = plt.get_cmap("RdBu").copy()
    colours.set_bad("0.8")  # the diagonal: a site is never run with its own parameters
    image = ax.imshow(np.ma.masked_invalid(matrix.clip(lower=-1).values), cmap=colours,
                      vmin=-1, vmax=1)
    ax.set_xticks(range(len(matrix)), matrix.columns, rotation=90)
    ax.set_yticks(range(len(matrix)), matrix.index)
    ax.set_xlabel("parameters fitted at (joint fit without the row's site)")
    ax.set_ylabel("site simulated")
    ax.set_title("GPP NSE at the row's test years (below -1 shown as -1)")
    fig.colorbar(image, ax=ax, shrink=0.8, label="NSE")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 sites, 20 epochs")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("-o", "--out", type=Path, default=Path("examples/results"))
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of each fold's joint fit (default: SITE_SETTINGS)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sites = ["US-Ha1", "US-Var", "DE-Tha"] if args.quick else None
    epochs = args.epochs or (20 if args.quick else None)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    ds = prepare_sites(args.data, sites)
    train, test = temporal_split(ds)
    settings = SITE_SETTINGS | {"seed": args.seed, "test_fraction": 0.0, "dev_fraction": 0.0,
                                "progress": False}
    if epochs is not None:
        settings["epochs"] = epochs
    folds = []
    for k in ds["site"].values:
        folds.append(Fold(str(k), ds, train, test, settings))
        print(f"  {k}: fitted on the other {len(folds[-1].others)} sites", flush=True)
    table = pd.DataFrame.from_dict({fold.k: site_scores(fold) for fold in folds},
                                   orient="index")
    table.loc["mean"] = table.mean()
    suffix = "_quick" if args.quick else ""
    table.to_csv(args.out / f"site_transfer{suffix}.csv", float_format="%.3f")
    plot_matrix(gpp_matrix(folds), args.out / f"site_transfer_gpp{suffix}.png")
    means = table.loc["mean"]
    choices = ("best", "best_pair", "all") + tuple(f"lai{n}" for n in LAI_MATCHED) + ("lai_cv",)
    summary = pd.DataFrame({choice: [means[f"{choice}_{label}"] for label in SCORED]
                            for choice in choices}, index=list(SCORED)).T
    print("\nMean test-year NSE over the held-out sites, by how the other sites' runs are used:")
    print(summary.round(3).to_string())
    counts = table["lai_cv_runs"].drop("mean").astype(int)
    print(f"LAI-matched runs chosen by each fold's cross-validation: {counts.to_dict()}")
    print(f"\nwrote {args.out / f'site_transfer{suffix}.csv'} and the GPP matrix figure in "
          f"{time.perf_counter() - start:.0f} s")
    return table


if __name__ == "__main__":
    main()
