"""Predictor-group factorial experiments (the paper's Fig. 2 design).

An ensemble is fitted for every non-empty combination of predictor groups, plus two controls:

* **CONTROL** -- the only predictor is seeded white noise, so any skill comes from the model
  structure and the forcing (the empty combination of hierarchical partitioning);
* **LATLON** -- latitude and longitude are the predictors (a sanity check against mere spatial
  interpolation; not part of the partition).

All members of all setups are submitted as one batch of Dask tasks (see
:func:`xdifferland.tasks.run_tasks`); every setup shares the same train/dev/test split (the
split depends on the base seed and the valid pixels only). The result is an ``xr.Dataset`` of
skill metrics over ``(setup, member, variable)`` -- and, with ``maps=True``, the per-pixel
temporal metrics -- which :func:`factorial_scores` turns into the input of
:func:`~xdifferland.analysis.partition.hierarchical_partition`. Following the paper, a setup's
score is the mean of its members' metric.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from ..ensemble import plan_ensemble
from ..simulation import prepare_dataset
from ..tasks import run_tasks
from ..contract.declare import PREDICTOR_GROUPS
from .partition import CONTROL, combination, combination_label

__all__ = [
    "CONTROL_PREDICTORS",
    "LATLON",
    "NOISE",
    "factorial",
    "factorial_scores",
    "setup_predictors",
    "with_control_predictors",
]

NOISE = "noise"  #: name of the CONTROL control in ``controls``
LATLON = "LATLON"  #: label of the latitude/longitude control setup
#: Variables added to the Dataset for the controls.
CONTROL_PREDICTORS = {"noise": ("control_noise",), "latlon": ("latlon_lat", "latlon_lon")}
_SCALARS = ("nse", "r2", "rmse", "bias", "spatial_nse", "spatial_r2", "median_temporal_nse",
            "median_temporal_r2")


def _groups(ds: xr.Dataset, groups: Mapping[str, Sequence[str]] | None) -> dict:
    if groups is None:
        groups = {g: [n for n in names if n in ds] for g, names in PREDICTOR_GROUPS.items()}
        groups = {g: names for g, names in groups.items() if names}
    groups = {str(g): tuple(names) for g, names in groups.items()}
    if not groups:
        raise ValueError("no predictor group: pass groups={'CLIM': [...], ...}")
    for g, names in groups.items():
        if g in (CONTROL, LATLON) or "+" in g:
            raise ValueError(f"group name {g!r} is reserved or contains '+'")
        missing = [n for n in names if n not in ds]
        if missing or not names:
            raise KeyError(f"group {g!r}: predictors {missing or '(none)'} are not in the Dataset")
    return groups


def setup_predictors(ds: xr.Dataset, groups: Mapping[str, Sequence[str]] | None = None,
                     controls: Sequence[str] = ("noise", "latlon")) -> dict[str, tuple]:
    """Predictors of every setup, by label: CONTROL, each combination (``"CLIM+PFT"``), LATLON.

    Examples
    --------
    >>> ds = xr.Dataset({"a": ("x", [1.0]), "b": ("x", [2.0])})
    >>> list(setup_predictors(ds, {"A": ["a"], "B": ["b"]}))
    ['CONTROL', 'A', 'B', 'A+B', 'LATLON']
    """
    groups = _groups(ds, groups)
    unknown = set(controls) - set(CONTROL_PREDICTORS)
    if unknown:
        raise ValueError(f"unknown controls {sorted(unknown)}; use 'noise' and/or 'latlon'")
    setups = {CONTROL: CONTROL_PREDICTORS["noise"]} if "noise" in controls else {}
    names = list(groups)
    for size in range(1, len(names) + 1):
        for combo in itertools.combinations(names, size):
            label = combination_label(combo)
            setups[label] = tuple(p for g in names if g in combo for p in groups[g])
    if "latlon" in controls:
        setups[LATLON] = CONTROL_PREDICTORS["latlon"]
    return setups


def with_control_predictors(ds: xr.Dataset, seed: int = 0, roles=None) -> xr.Dataset:
    """``ds`` plus the control predictors: seeded white noise and latitude/longitude maps."""
    prepared = prepare_dataset(ds, roles, check=False)
    template = prepared.valid
    noise = np.random.default_rng([int(seed), 0x401_5E]).standard_normal(template.shape)
    latitude = prepared.inputs["latitude"].broadcast_like(template)
    longitude = (ds["lon"] if "lon" in ds.coords else ds.cf["longitude"]).broadcast_like(template)
    attrs = {"units": "1", "long_name": "white noise (CONTROL predictor)"}
    return ds.assign(
        control_noise=xr.DataArray(noise, dims=template.dims, coords=template.coords,
                                   attrs=attrs),
        latlon_lat=latitude.astype(float).assign_attrs(units="1", long_name="latitude (degrees)"),
        latlon_lon=longitude.astype(float).assign_attrs(units="1",
                                                        long_name="longitude (degrees)"))


def factorial(ds: xr.Dataset, groups: Mapping[str, Sequence[str]] | None = None, *,
              controls: Sequence[str] = ("noise", "latlon"), n_members: int = 1,
              select_best: int | None = None, split: str = "test",
              variables: Sequence[str] | None = None, maps: bool = False, client=None,
              retries: int = 2, progress: bool = True, noise_seed: int = 0,
              bootstrap: bool = True, n_workers: int | None = 2, return_ensembles: bool = False,
              **fit_kwargs):
    """Fit an ensemble per predictor-group setup and return their skill labeled by ``setup``.

    Parameters
    ----------
    ds : xarray.Dataset
        Forcing, predictors and observations.
    groups : mapping of group → predictor names, optional
        Default: :data:`xdifferland.contract.declare.PREDICTOR_GROUPS` restricted to ``ds``.
    controls : sequence, default ("noise", "latlon")
        Control setups to add: CONTROL (white noise) and LATLON.
    n_members, select_best : int
        Members fitted per setup and best kept (by final training loss); see
        :func:`xdifferland.fit_ensemble`.
    split : str, default "test"
        Split the skill is measured on ("train", "dev", "test" or "all").
    variables : sequence of str, optional
        Observed variables to keep (default: all evaluated ones).
    maps : bool, default False
        Keep the per-pixel temporal metrics (``temporal_nse``, ``temporal_r2``) for pixelwise
        partitioning.
    client, retries, progress, n_workers, bootstrap
        As in :func:`xdifferland.fit_ensemble`; all setups' members run as one batch of tasks.
    noise_seed : int, default 0
        Seed of the CONTROL white noise.
    return_ensembles : bool, default False
        Also return ``{setup: Ensemble}``.
    **fit_kwargs
        Training settings (``epochs``, ``seed``, ...) and ``fit`` keywords except
        ``predictors``.

    Returns
    -------
    xarray.Dataset
        Scalar metrics over ``(setup, member, variable)``, the members' ``seed`` and ranking
        ``loss`` over ``(setup, member)`` (``member`` = rank, best first), a ``predictors``
        coordinate on ``setup``; ``attrs["groups"]`` (JSON) records the groups.
    """
    if "predictors" in fit_kwargs:
        raise TypeError("factorial chooses the predictors of each setup; pass groups= instead")
    augmented = with_control_predictors(ds, noise_seed, fit_kwargs.get("roles"))
    setups = setup_predictors(ds, groups, controls)
    plans = {label: plan_ensemble(augmented, n_members, bootstrap=bootstrap,
                                  select_best=select_best, predictors=list(preds), **fit_kwargs)
             for label, preds in setups.items()}
    tasks = [task for plan in plans.values() for task in plan.tasks]
    payloads = run_tasks(_fit_task, tasks, client=client, retries=retries, progress=progress,
                         description="factorial", n_workers=n_workers)
    ensembles, start = {}, 0
    for label, plan in plans.items():
        ensembles[label] = plan.finish(payloads[start:start + len(plan.tasks)])
        start += len(plan.tasks)

    results = []
    for label, ensemble in ensembles.items():
        skill = ensemble.evaluate(augmented, split)
        keep = [m for m in _SCALARS if m in skill]
        if maps:
            keep += [m for m in ("temporal_nse", "temporal_r2") if m in skill]
        # members ranked best first; their seeds and ranking losses become variables
        skill = skill[keep + ["seed", "loss"]].reset_coords(["seed", "loss"])
        skill = skill.assign_coords(member=np.arange(skill.sizes["member"]))
        results.append(skill)
    out = xr.concat(results, dim=xr.DataArray(list(ensembles), dims="setup"), join="outer",
                    coords="minimal", compat="override")
    if variables is not None:
        out = out.sel(variable=list(variables))
    out = out.assign_coords(predictors=("setup", [" ".join(setups[s]) for s in ensembles]))
    out.attrs.update(groups=json.dumps({g: list(v) for g, v in _groups(ds, groups).items()}),
                     controls=" ".join(controls), split=split, n_members=n_members,
                     select_best=select_best or n_members,
                     score="setup score = mean of its members' metric (factorial_scores)")
    return (out, ensembles) if return_ensembles else out


def _fit_task(*args):
    from ..ensemble import _fit_member

    return _fit_member(*args)


def factorial_scores(result: xr.Dataset, metric: str = "r2", variable: str = "lai", *,
                     reduce: str = "mean") -> dict:
    """``{frozenset of groups: score}`` for :func:`hierarchical_partition` (LATLON dropped).

    The score of a setup is its members' ``metric`` reduced over ``member`` (``"mean"`` as in the
    paper, or ``"median"``); per-pixel metrics (``temporal_r2``) give per-pixel maps.

    Examples
    --------
    >>> res = xr.Dataset({"r2": (("setup", "member", "variable"), [[[0.1]], [[0.5]], [[0.3]]])},
    ...                  coords={"setup": ["CONTROL", "A", "LATLON"], "variable": ["lai"]})
    >>> factorial_scores(res)
    {frozenset(): 0.1, frozenset({'A'}): 0.5}
    """
    if metric not in result:
        raise KeyError(f"metric {metric!r} is not in the result: {', '.join(result.data_vars)}")
    values = result[metric].sel(variable=variable)
    values = getattr(values, reduce)("member") if "member" in values.dims else values
    scores = {}
    for label in values["setup"].values.tolist():
        if label == LATLON:
            continue
        value = values.sel(setup=label, drop=True)
        scores[combination(label)] = float(value) if value.ndim == 0 else value
    return scores
