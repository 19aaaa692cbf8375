"""Fit on one set of sites, predict any other: the site workflow as one public call.

:func:`fit_site_ensemble` trains, on a folder (or Dataset) of CARDAMOM sites, either a joint
ensemble (every member on every site, members differ by seed) or the leave-site-out ensemble of
the site experiment (for each site, members trained on all the others), all members side by
side (:func:`~.folds.fit_members`). The result is an ordinary :class:`~xdifferland.Ensemble`:
save it, load it, and apply it to sites it never saw (``Ensemble.simulate``,
``Ensemble.evaluate(..., mean=True)``, or ``xdifferland simulate|evaluate ENSEMBLE_DIR NEW/``).
The new sites' class predictors are encoded from the IGBP classes the members stored.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import xarray as xr

from ..training.config import FitConfig
from .folds import Member, fit_members, predictor_sets, refit_stuck
from .loso import LOSO_PREDICTORS, LOSO_START, add_site_climate

__all__ = ["fit_site_ensemble", "SITE_ENSEMBLE_SETTINGS"]

log = logging.getLogger("xdifferland.experiments")

#: Training settings of :func:`fit_site_ensemble`: those of the site experiment's
#: leave-one-site-out fits (:data:`~.sites.SITE_SETTINGS`, :data:`~.sites.LOSO_EPOCHS` epochs,
#: :data:`~.loso.LOSO_START`).
SITE_ENSEMBLE_SETTINGS = {"epochs": 200, "schedule": "cosine", "learning_rate": 1e-3,
                          "loss_weights": {"lai": 300.0}, "network": {"phenology": "bounded"},
                          "water_start": LOSO_START}


def fit_site_ensemble(sites: str | Path | xr.Dataset, *, leave_site_out: bool = True,
                      seeds: int = 3, predictors: Sequence[str] = LOSO_PREDICTORS,
                      seed: int = 0, max_refits: int = 2, stuck_factor: float = 2.0,
                      align: str = "step", progress: bool = False, callback=None,
                      **settings):
    """An :class:`~xdifferland.Ensemble` fitted on sites, for predicting other sites.

    Parameters
    ----------
    sites : path or xarray.Dataset
        A folder of CARDAMOM site files with its ``site_coords.csv`` (read with
        :func:`~.sites.prepare_sites`, ``align``), or a ``(time, site)`` Dataset from it.
    leave_site_out : bool, default True
        For each site, ``seeds`` members trained on all the other sites (the site
        experiment's recipe: the ensemble's spread includes how much one site changes the
        fit). False: ``seeds`` members trained on every site.
    seeds : int, default 3
        Members per held-out site (or in all, for a joint ensemble): one per default
        predictor set.
    predictors : sequence of str, or sequence of sequences of str
        Predictors (names in the Dataset or derived from the IGBP class by
        :func:`~.loso.add_site_climate`, as ``woody``), or several sets of them that a group's
        members take in turn; default :data:`~.loso.LOSO_PREDICTORS` (three sets).
    seed : int
        Base seed; member ``k`` of a group gets ``seed + 1000 k`` (+ the group's index).
    max_refits, stuck_factor
        Safety net: a member whose final training loss exceeds ``stuck_factor`` times the best
        of its group is refitted from a new seed, up to ``max_refits`` rounds
        (:func:`~.folds.refit_stuck`); one still stuck after them is left out. How often it
        fired is in ``info["refits"]``.
    **settings
        :class:`~xdifferland.training.FitConfig` settings over :data:`SITE_ENSEMBLE_SETTINGS`
        (e.g. ``epochs=50``).

    Returns
    -------
    xdifferland.Ensemble
        Members in group order; ``info`` records the sites, each member's held-out site, the
        predictors, settings and the refits.
    """
    from ..ensemble import Ensemble
    from .sites import prepare_sites

    ds = prepare_sites(sites, align=align) if not isinstance(sites, xr.Dataset) else sites
    ds = add_site_climate(ds) if "igbp" in ds.variables else ds
    names = [str(s) for s in ds["site"].values]
    if leave_site_out and len(names) < 3:
        raise ValueError(f"a leave-site-out ensemble needs at least 3 sites, got {len(names)} "
                         "(each member trains on all sites but one); use leave_site_out=False")
    if seeds < 1:
        raise ValueError(f"seeds={seeds!r}: use an integer >= 1")
    sets = predictor_sets(predictors)
    seen = xr.ones_like(ds["t_min"], dtype=bool)
    groups = names if leave_site_out else [None]
    members, held = [], []
    for g, out in enumerate(groups):
        part = ds.drop_sel(site=out) if out is not None else ds
        mask = seen.drop_sel(site=out) if out is not None else seen
        for k in range(seeds):
            members.append(Member(part, mask, sets[k % len(sets)], seed=seed + 1000 * k + g))
            held.append(out)
    config = FitConfig(**(SITE_ENSEMBLE_SETTINGS | dict(settings)
                          | {"test_fraction": 0.0, "dev_fraction": 0.0}))
    first = fit_members(members, config, progress=progress, callback=callback)
    group_of = [i // seeds for i in range(len(members))]
    models, stuck, refits = refit_stuck(first, members, config, group_of, factor=stuck_factor,
                                        max_refits=max_refits, progress=progress,
                                        callback=callback)
    keep = [i for i in range(len(models)) if i not in stuck]
    log.info("site ensemble: %d members, %d refitted (%d still stuck, left out)",
             len(members), refits, len(stuck))
    info = {"kind": "leave-site-out" if leave_site_out else "joint", "sites": names,
            "held_out": [held[i] for i in keep],
            "predictors": list(dict.fromkeys(name for i in keep
                                             for name in members[i].predictors)),
            "predictor_sets": [list(one) for one in sets
                               if any(members[i].predictors == one for i in keep)],
            "seeds_per_group": seeds, "n_fitted": len(members), "refits": refits,
            "refitted_members": sum(models[i] is not first[i] for i in keep),
            "left_out_stuck": len(stuck), "settings": config.to_dict(),
            "loss": "final-epoch training loss"}
    return Ensemble(tuple(models[i] for i in keep), tuple(keep),
                    tuple(members[i].seed for i in keep),
                    tuple(float(models[i].history["train_loss"][-1]) for i in keep), info)
