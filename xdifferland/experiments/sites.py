"""Daily FLUXNET site validation: joint hybrid fit, temporal holdout and leave-one-site-out.

The published per-site calibrations (DifferLand v1.0) are scored on each site's later years; the
split is the first ceil(n_years / 2) calendar years for training and the rest for testing. Here
one hybrid model is fitted jointly across sites (each site one pixel, no coarse terms) and scored
on the same years, and leave-one-site-out fits predict each site from its predictors alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..io import open_cardamom_sites
from ..metrics import skill
from ..training.data import default_predictors
from ..variables import PREDICTOR_GROUPS

__all__ = ["IGBP_TO_PFT", "prepare_sites", "temporal_split", "published_scores",
           "site_validation", "SiteValidation", "SCORED", "SITE_SETTINGS"]

log = logging.getLogger("xdifferland.experiments")

#: IGBP class → the PFT fraction variable set to 1 (one-hot predictors).
IGBP_TO_PFT = {
    "ENF": "needleleaf_forest", "DNF": "needleleaf_forest", "EBF": "evergreen_broadleaf_forest",
    "DBF": "deciduous_broadleaf_forest", "MF": "mixed_forest", "CSH": "shrubland",
    "OSH": "shrubland", "WSA": "savanna", "SAV": "savanna", "GRA": "grassland",
    "WET": "wetland", "CRO": "cropland",
}
#: Scored variables: our name → (simulated outputs summed, published column label).
SCORED = {"gpp": (("gpp",), "GPP"), "et_ec": (("et",), "ET"), "nee": (("nee",), "NEE"),
          "lai": (("lai",), "LAI")}
_OBSERVATIONS = ("gpp", "reco", "nee", "et_ec", "lai")


def prepare_sites(directory: str | Path, sites: Sequence[str] | None = None) -> xr.Dataset:
    """Site drivers as one ``(time, site)`` Dataset ready for fitting.

    Records are aligned by step and cut to the length all sites share (they differ by a day or
    two); eddy-covariance ET and NEE (the files' ``ET`` and ``NBE``) become ``et_ec`` and ``nee``;
    IGBP classes become one-hot PFT predictors next to MAT, MAP and elevation.
    """
    ds = open_cardamom_sites(directory, sites=sites)
    forcing_ok = np.all([ds[v].notnull().all("site").values
                         for v in ("t_min", "t_max", "shortwave_radiation", "vpd",
                                   "precipitation", "co2")], axis=0)
    ds = ds.isel(time=slice(0, int(np.argmin(forcing_ok)) if not forcing_ok.all() else None))
    ds = ds.rename({"et": "et_ec", "nbe": "nee", "et_unc": "et_ec_unc", "nbe_unc": "nee_unc"})
    keep = set(_OBSERVATIONS) | {f"{v}_unc" for v in _OBSERVATIONS}
    drop = [v for v in ds.data_vars if ds[v].dims == ("time", "site") and v not in keep
            and v not in ("t_min", "t_max", "shortwave_radiation", "co2", "vpd",
                          "precipitation", "burned_area", "day_of_year")]
    ds = ds.drop_vars(drop)
    for pft in PREDICTOR_GROUPS["PFT"]:
        onehot = np.array([IGBP_TO_PFT.get(str(c)) == pft for c in ds["igbp"].values], float)
        if onehot.any():
            ds[pft] = ("site", onehot, {"units": "1", "long_name": f"{pft} (IGBP one-hot)"})
    return ds


def temporal_split(ds: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    """Boolean ``(time, site)`` masks: first ceil(n_years/2) calendar years train, rest test."""
    dates = ds["date"]
    years = dates.dt.year
    first = years.min("time")
    n_years = years.max("time") - first + 1
    cutoff = first + np.ceil(n_years / 2)
    train = (years < cutoff) & dates.notnull()
    test = (years >= cutoff) & dates.notnull()
    return train, test


def published_scores(directory: str | Path) -> pd.DataFrame:
    """The published per-site test NSE (``published_site_scores.csv``), indexed by site."""
    return pd.read_csv(Path(directory) / "published_site_scores.csv").set_index("site")


def _site_nse(model, ds: xr.Dataset, test: xr.DataArray) -> pd.DataFrame:
    simulated = model.simulate(ds, sorted({o for outs, _ in SCORED.values() for o in outs}))
    rows = {}
    for name, (outputs, label) in SCORED.items():
        if name not in ds:
            continue
        sim = sum(simulated[o] for o in outputs)
        result = skill(ds[name].where(test), sim.where(test), spatial_dims=["site"])
        rows[label] = result["temporal_nse"].to_series()
    return pd.DataFrame(rows)


@dataclass
class SiteValidation:
    """Per-site test NSE of the joint fit (and leave-one-site-out) next to the published ones."""

    table: pd.DataFrame
    means: pd.DataFrame
    model: object

    def to_csv(self, path: str | Path) -> Path:
        path = Path(path)
        self.table.to_csv(path, float_format="%.3f")
        return path


#: Settings of the site experiment. Daily site data give one batch per epoch, so many epochs
#: are cheap; satellite LAI is up-weighted (the published weight 10 is tuned for gridded data and
#: leaves LAI ~50x lighter than eddy-covariance GPP at sites).
SITE_SETTINGS = {"epochs": 2500, "schedule": "cosine", "learning_rate": 1e-3,
                 "loss_weights": {"lai": 300.0}}


def site_validation(directory: str | Path, *, sites: Sequence[str] | None = None,
                    epochs: int | None = None, loso_epochs: int | None = None, seed: int = 0,
                    leave_one_out: bool = True, variants: Sequence[str] = (),
                    progress: bool = True, **fit_kwargs) -> SiteValidation:
    """Fit jointly across sites on their training years and score every site's test years.

    Returns per-site NSE of GPP, ET, NEE and LAI for the joint fit (``hybrid_*``), for
    leave-one-site-out predictions (``loso_*``, each from a fit to the other sites with
    ``loso_epochs``, default a third of ``epochs``) and the published per-site DALEC calibration
    (``published_*``), plus their means over sites. ``variants`` adds a joint fit per neural
    water-stress variant (``"nn_paw"``, ``"gpp_acm_et_nn"``; columns ``<variant>_*``).
    Defaults: :data:`SITE_SETTINGS`.
    """
    from ..training import fit

    ds = prepare_sites(directory, sites)
    train, test = temporal_split(ds)
    settings = SITE_SETTINGS | dict(seed=seed, test_fraction=0.0, dev_fraction=0.0,
                                    progress=progress) | fit_kwargs
    if epochs is not None:
        settings["epochs"] = epochs
    loso_epochs = loso_epochs or max(1, settings["epochs"] // 3)
    model = fit(ds, observation_mask=train, **settings)
    table = _site_nse(model, ds, test).add_prefix("hybrid_")

    for variant in variants:
        hybrid = fit(ds, observation_mask=train, **(settings | {"water_stress": variant}))
        table = table.join(_site_nse(hybrid, ds, test).add_prefix(f"{variant}_"))

    if leave_one_out:
        rows = []
        for site in ds["site"].values:
            others = ds.drop_sel(site=site)
            predictors = _predictors(others)
            # A class seen only at the held-out site is constant among the others: drop it.
            others = others.drop_vars([p for p in default_predictors(others)
                                       if p not in predictors])
            held = fit(others, observation_mask=train.drop_sel(site=site), predictors=predictors,
                       **(settings | {"progress": False, "epochs": loso_epochs}))
            rows.append(_site_nse(held, ds.sel(site=[site]), test.sel(site=[site])))
        table = table.join(pd.concat(rows).add_prefix("loso_"))

    published = published_scores(directory)
    for label in ("GPP", "ET", "NEE", "LAI"):
        table[f"published_{label}"] = published.reindex(table.index)[
            f"per_site_dalec_{label}_nse"]
    means = table.mean().to_frame("mean").T
    return SiteValidation(table, means, model)


def _predictors(ds: xr.Dataset) -> list[str]:
    """Declared predictors present and not constant across the given sites."""
    return [p for p in default_predictors(ds) if float(ds[p].std()) > 0]
