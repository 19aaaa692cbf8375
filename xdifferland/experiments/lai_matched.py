"""Sites with LAI but no fluxes, simulated with the calibrated sites whose parameters fit their LAI.

The paper's setting has satellite LAI everywhere and flux towers at some places. Given a model
fitted on tower sites, :func:`lai_matched` runs a new site's forcing with each tower site's
fitted parameters and initial pools, ranks those runs by how closely they reproduce the new
site's observed LAI, and averages the closest ``n``. The number ``n`` is chosen by
cross-validation on the tower sites themselves (:func:`runs_by_cross_validation`): each tower
site is predicted in the same way from the other tower sites' runs and scored on its fluxes.

Across the 12 shared FLUXNET sites (each predicted from a joint fit to the other eleven,
``examples/site_transfer.py``) this rule gave mean test-year NSE GPP 0.56, ET 0.37, NEE 0.18 and
LAI 0.24 against 0.41, 0.38, 0.19 and −0.02 of the satellite-informed network
(``docs/examples.md``).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..metrics import skill
from ..simulation import simulate

__all__ = ["lai_matched", "candidate_runs", "lai_ranking", "runs_by_cross_validation",
           "held_out_lai_matched", "fit_without", "others_than", "LAI_MATCHED_OUTPUTS"]

#: Outputs :func:`lai_matched` returns by default.
LAI_MATCHED_OUTPUTS = ("gpp", "et", "nee", "lai")
#: Observed flux → the output it is scored against in the cross-validation.
CV_FLUXES = {"gpp": "gpp", "et_ec": "et", "nee": "nee"}


def _require_sites(ds: xr.Dataset, role: str) -> None:
    if "site" not in ds.dims:
        raise ValueError(f"{role}: lai_matched works on site lists, a 'site' dimension (dims "
                         f"{tuple(ds.dims)}); read site files with prepare_sites")


def candidate_runs(model, training: xr.Dataset, target: xr.Dataset,
                   outputs: Sequence[str] = LAI_MATCHED_OUTPUTS) -> xr.Dataset:
    """The target's forcing run with each training site's fitted parameters and initial pools.

    Returns the outputs with a leading ``candidate`` dim named by the training sites.
    """
    _require_sites(training, "training")
    _require_sites(target, "target")
    parameters = model.parameters(training)
    names = [str(s) for s in training["site"].values]
    runs = [simulate(target, parameters.sel(site=name, drop=True), list(outputs))
            for name in names]
    return xr.concat(runs, dim=pd.Index(names, name="candidate"), combine_attrs="override")


def lai_ranking(runs: xr.Dataset, lai: xr.DataArray, *, exclude_self: bool = False,
                time_dim: str = "time") -> xr.DataArray:
    """Candidates ordered by the mean squared error of their LAI at each site.

    ``(site, rank)`` array of candidate names, closest first. The error is taken over the steps
    where the site's LAI is observed; a site with none raises. ``exclude_self`` leaves out the
    candidate named like the site (a training site predicted from the others).
    """
    error = ((runs["lai"] - lai) ** 2).mean(time_dim, skipna=True)
    unobserved = [str(s) for s in lai["site"].values if not lai.sel(site=s).notnull().any()]
    if unobserved:
        raise ValueError(f"lai: no LAI observed at {', '.join(unobserved)}; the LAI-matched rule "
                         "ranks the candidates by each site's observed LAI (e.g. MODIS): add it "
                         "or leave these sites out")
    if exclude_self:
        missing = sorted(set(map(str, error["site"].values))
                         - set(map(str, error["candidate"].values)))
        if missing:
            raise ValueError(f"exclude_self: {', '.join(missing)} are not among the candidates; "
                             "run the candidates over the training sites themselves")
        error = error.where(error["candidate"] != error["site"])
    error = error.fillna(np.inf).transpose("site", "candidate")
    order = np.argsort(error.values, axis=1, kind="stable")
    if exclude_self:
        order = order[:, :-1]  # the site itself ranks last (infinite error)
    names = np.array([str(name) for name in error["candidate"].values])[order]
    return xr.DataArray(names, dims=("site", "rank"),
                        coords={"site": error["site"].values, "rank": np.arange(order.shape[1])})


def _matched_mean(runs: xr.Dataset, ranking: xr.DataArray, n: int) -> xr.Dataset:
    """Per site, the mean of its ``n`` first-ranked candidates' runs."""
    chosen = ranking.isel(rank=slice(0, n))
    dtype = next(iter(runs.data_vars.values())).dtype  # float32 stays float32
    weights = ((runs["candidate"] == chosen).any("rank") / n).astype(dtype)  # (candidate, site)
    mean = (runs * weights).sum("candidate", skipna=False)
    for name, variable in runs.data_vars.items():
        mean[name].attrs = dict(variable.attrs)
    return mean


def runs_by_cross_validation(runs: xr.Dataset, training: xr.Dataset,
                             test: xr.DataArray | None = None, *, max_runs: int = 5,
                             time_dim: str = "time") -> tuple[int, dict[int, float]]:
    """How many LAI-matched runs to average, chosen on the training sites.

    Each training site is predicted from the other training sites' runs (``runs`` from
    :func:`candidate_runs` over the training sites themselves) for n = 1 .. ``max_runs``, and
    scored by the mean NSE of its observed GPP, ET and NEE over the ``test`` steps (default:
    every step). Returns the best n (the smallest on a tie) and the score of each n.
    """
    ranking = lai_ranking(runs, training["lai"], exclude_self=True, time_dim=time_dim)
    fluxes = {obs: out for obs, out in CV_FLUXES.items() if obs in training}
    if not fluxes:
        raise ValueError(f"training: none of the fluxes {tuple(CV_FLUXES)} is observed, so the "
                         "number of runs cannot be chosen; pass runs=")
    scores = {}
    for n in range(1, min(max_runs, ranking.sizes["rank"]) + 1):
        mean = _matched_mean(runs, ranking, n)
        nse = []
        for observed, output in fluxes.items():
            obs = training[observed] if test is None else training[observed].where(test)
            nse.append(skill(obs, mean[output], time_dim=time_dim,
                             spatial_dims=["site"])["temporal_nse"])
        scores[n] = float(xr.concat(nse, "flux").mean())
    return max(scores, key=lambda n: (scores[n], -n)), scores


def lai_matched(model, training: xr.Dataset, target: xr.Dataset, *, runs: int | None = None,
                max_runs: int = 5, test: xr.DataArray | None = None,
                outputs: Sequence[str] = LAI_MATCHED_OUTPUTS) -> xr.Dataset:
    """Simulate sites from the training sites whose fitted parameters best reproduce their LAI.

    Parameters
    ----------
    model : DifferLandModel
        A model fitted on ``training`` (e.g. ``site_validation(...).model`` or
        :func:`~xdifferland.fit`).
    training : xarray.Dataset
        The ``(time, site)`` data the model was fitted on (:func:`~.sites.prepare_sites`), with
        observed LAI and fluxes (``gpp``, ``et_ec``, ``nee``) for choosing ``runs``.
    target : xarray.Dataset
        The sites to simulate: forcing and observed ``lai`` (at least one step per site).
    runs : int, optional
        How many of the closest runs to average; default: chosen by
        :func:`runs_by_cross_validation` on ``training`` (1 to ``max_runs``).
    test : DataArray of bool, optional
        ``(time, site)`` steps of ``training`` the cross-validation scores (e.g. the test years
        of :func:`~.sites.temporal_split`); default every step.
    outputs : sequence of str
        Outputs to return (``lai`` is always simulated, for the ranking).

    Returns
    -------
    xarray.Dataset
        The outputs over the target's ``(time, site)``, each the mean of the site's matched
        runs; ``matched_sites`` ``(site, rank)`` names them, closest first. Attributes
        ``lai_matched_runs`` (n) and ``lai_matched_cv`` (each n's cross-validated score).

    Examples
    --------
    Fit on three tower sites of a folder of CARDAMOM site files, then simulate two others from
    their LAI alone:

    >>> from xdifferland.experiments import (lai_matched, prepare_sites, site_validation,
    ...                                      temporal_split)
    >>> towers = ["NL-Loo", "US-MMS", "US-Var"]
    >>> model = site_validation("fluxnet_sites/", sites=towers,
    ...                         leave_one_out=False).model  # doctest: +SKIP
    >>> training = prepare_sites("fluxnet_sites/", towers)  # doctest: +SKIP
    >>> _, test = temporal_split(training)  # doctest: +SKIP
    >>> new = prepare_sites("fluxnet_sites/", ["US-Ha1", "FR-Pue"])  # doctest: +SKIP
    >>> sim = lai_matched(model, training, new, test=test)  # doctest: +SKIP
    >>> sim["gpp"].dims, sim["matched_sites"].dims  # doctest: +SKIP
    (('time', 'site'), ('site', 'rank'))
    """
    if "lai" not in target:
        raise ValueError("lai: the target sites carry no 'lai' variable; the LAI-matched rule "
                         "needs each site's observed LAI (e.g. MODIS) to rank the candidates")
    n_training = training.sizes.get("site", 0)
    if runs is not None and not 1 <= runs <= n_training:
        raise ValueError(f"runs={runs}: choose 1 to {n_training} (the training sites)")
    wanted = list(dict.fromkeys([*outputs, "lai"]))
    target_runs = candidate_runs(model, training, target, wanted)
    ranking = lai_ranking(target_runs, target["lai"])
    scores: Mapping[int, float] = {}
    if runs is None:
        training_runs = candidate_runs(model, training, training,
                                       list(dict.fromkeys([*CV_FLUXES.values(), "lai"])))
        runs, scores = runs_by_cross_validation(training_runs, training, test, max_runs=max_runs)
    result = _matched_mean(target_runs[list(outputs)], ranking, runs)
    result["matched_sites"] = ranking.isel(rank=slice(0, runs))
    result["matched_sites"].attrs["long_name"] = "training sites whose parameters were averaged"
    result.attrs.update(lai_matched_runs=int(runs), lai_matched_cv=", ".join(
        f"{n}: {score:.3f}" for n, score in scores.items()))
    result.attrs["history"] = (f"{result.attrs.get('history', '')}; each site the mean of the "
                               f"{runs} training sites' runs closest to its LAI").lstrip("; ")
    return result


def others_than(ds: xr.Dataset, site: str) -> xr.Dataset:
    """Every site of ``ds`` but ``site``, without the class columns that are then constant (a
    class only ``site`` has), which a fit cannot standardize."""
    from ..contract.declare import PREDICTOR_GROUPS

    others = ds.sel(site=[s for s in ds["site"].values if str(s) != site])
    constant = [name for name in PREDICTOR_GROUPS["PFT"]
                if name in others and others[name].min() == others[name].max()]
    return others.drop_vars(constant)


def fit_without(ds: xr.Dataset, train: xr.DataArray, site: str, settings: Mapping,
                callback=None):
    """The joint model fitted on every site of ``ds`` but ``site`` (:func:`others_than`): their
    ``train`` steps, the record cut after the last of them (:func:`~.loso.training_window`);
    ``settings`` are :func:`~xdifferland.fit` keywords."""
    from ..training import fit
    from .loso import training_window

    training = others_than(ds, site)
    window, mask = training_window(training, train.sel(site=training["site"]))
    return fit(window, observation_mask=mask, callback=callback, **settings)


def held_out_lai_matched(ds: xr.Dataset, train: xr.DataArray, test: xr.DataArray,
                         settings: Mapping, *, max_runs: int = 5,
                         callback=None) -> dict[str, xr.Dataset]:
    """Each site by :func:`lai_matched` from a joint fit to the other sites (:func:`fit_without`).

    The site is simulated from the other sites' parameters, matched by its LAI (all steps: what
    the satellite-informed protocol sees), with the number of runs chosen on the other sites'
    ``test`` steps. Its fluxes are never seen. Returns ``{site: simulation}``.
    """
    simulated = {}
    for site in [str(s) for s in ds["site"].values]:
        model = fit_without(ds, train, site, settings, callback)
        training = others_than(ds, site)
        simulated[site] = lai_matched(model, training, ds.sel(site=[site]),
                                      test=test.sel(site=training["site"]), max_runs=max_runs)
    return simulated
