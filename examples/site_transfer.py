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
  by the mean NSE of GPP, ET and NEE; column ``lai_cv_runs``).

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

import xdifferland as xd  # noqa: E402
from xdifferland.experiments import prepare_sites, site_validation, temporal_split  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fluxnet_sites"
#: Published label → (observed variable, simulated output).
SCORED = {"GPP": ("gpp", "gpp"), "ET": ("et_ec", "et"), "NEE": ("nee", "nee"),
          "LAI": ("lai", "lai")}
LAI_MATCHED = (1, 3, 5)  # runs averaged by the LAI-matched choices
FLUXES = ("GPP", "ET", "NEE")


def transfer_runs(data: Path, sites: list[str] | None, epochs: int | None,
                  seed: int) -> tuple[dict, object, object]:
    """``runs[k][j][label]``: daily outputs ``(time, site)`` at every site with site j's
    parameters, from a joint fit to every site but k; with the observations and the test mask."""
    ds = prepare_sites(data, sites)
    _, test = temporal_split(ds)
    names = [str(s) for s in ds["site"].values]
    outputs = [output for _, output in SCORED.values()]
    runs: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for k in names:
        others = [s for s in names if s != k]
        fit = site_validation(data, sites=others, epochs=epochs, seed=seed,
                              leave_one_out=False, progress=False)
        parameters = fit.model.parameters(prepare_sites(data, others))
        runs[k] = {}
        for j in others:
            simulated = xd.simulate(ds, parameters.sel(site=j, drop=True), outputs)
            runs[k][j] = {label: simulated[output].transpose("time", "site").values
                          for label, (_, output) in SCORED.items()}
        print(f"  {k}: fitted on the other {len(others)} sites", flush=True)
    return runs, ds, test


def nse(observed: np.ndarray, simulated: np.ndarray) -> float:
    """Nash-Sutcliffe efficiency over the steps where both are finite."""
    keep = np.isfinite(observed) & np.isfinite(simulated)
    o, s = observed[keep], simulated[keep]
    return float(1.0 - np.sum((o - s) ** 2) / np.sum((o - o.mean()) ** 2))


class Fold:
    """The runs of one fold (a joint fit without site ``k``) and the observations they meet."""

    def __init__(self, k: str, runs: dict, ds, test):
        self.k, self.runs = k, runs[k]
        self.names = [str(s) for s in ds["site"].values]
        self.ds, self.test = ds, test

    def observed(self, site: str, label: str, test_only: bool = True) -> np.ndarray:
        values = self.ds[SCORED[label][0]].sel(site=site).values
        return np.where(self.test.sel(site=site).values, values, np.nan) if test_only else values

    def score(self, site: str, label: str, chosen) -> float:
        """Test-year NSE at ``site`` of the mean of the runs with the ``chosen`` parameters."""
        column = self.names.index(site)
        simulated = np.mean([self.runs[j][label][:, column] for j in chosen], axis=0)
        return nse(self.observed(site, label), simulated)

    def by_lai(self, site: str) -> list[str]:
        """Candidate parameter sites (not ``site`` itself), closest LAI at ``site`` first, over
        all years: what the satellite-informed protocol may see."""
        column, lai = self.names.index(site), self.observed(site, "LAI", test_only=False)

        def distance(j):
            simulated = self.runs[j]["LAI"][:, column]
            seen = np.isfinite(lai) & np.isfinite(simulated)
            return float(np.mean((lai[seen] - simulated[seen]) ** 2))

        return sorted((j for j in self.runs if j != site), key=distance)

    def lai_count_by_cv(self) -> int:
        """The number of LAI-matched runs to average, chosen on this fold's training sites: each
        predicted from the other training sites' runs, by its mean flux NSE."""
        counts = {n: [] for n in range(1, max(LAI_MATCHED) + 1)}
        for site in self.runs:  # the fold's training sites
            ranked = self.by_lai(site)
            for n, scores in counts.items():
                scores.append(np.mean([self.score(site, label, ranked[:n]) for label in FLUXES]))
        return max(counts, key=lambda n: np.mean(counts[n]))


def site_scores(fold: Fold) -> dict[str, float]:
    """The choices' test-year NSE at the fold's held-out site, by variable."""
    k, others = fold.k, list(fold.runs)
    ranked, n_cv = fold.by_lai(k), fold.lai_count_by_cv()
    row: dict[str, float] = {"lai_cv_runs": n_cv}
    for label in SCORED:
        row[f"best_{label}"] = max(fold.score(k, label, [j]) for j in others)
        row[f"best_pair_{label}"] = max(fold.score(k, label, pair)
                                        for pair in itertools.combinations(others, 2))
        row[f"all_{label}"] = fold.score(k, label, others)
        for n in LAI_MATCHED:
            row[f"lai{n}_{label}"] = fold.score(k, label, ranked[:n])
        row[f"lai_cv_{label}"] = fold.score(k, label, ranked[:n_cv])
    return row


def gpp_matrix(folds: list[Fold]) -> pd.DataFrame:
    """GPP test NSE of site k (rows) run with site j's parameters (columns)."""
    names = [fold.k for fold in folds]
    matrix = pd.DataFrame(np.nan, index=names, columns=names)
    for fold in folds:
        for j in fold.runs:
            matrix.loc[fold.k, j] = fold.score(fold.k, "GPP", [j])
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
    runs, ds, test = transfer_runs(args.data, sites, epochs, args.seed)
    folds = [Fold(k, runs, ds, test) for k in runs]
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
