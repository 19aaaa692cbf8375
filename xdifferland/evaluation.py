"""Skill of a fitted model against the observations of a Dataset, per split."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import xarray as xr

from .contract import handoff
from .io.conventions import cf_result, udunits
from .metrics import skill
from .simulation import prepare_dataset
from .training.data import COARSE_STREAMS, patch_ids
from .training.streams import recorded_streams
from .contract.declare import variable as declared

__all__ = ["evaluate", "SIMULATED_COUNTERPART"]

_LIVE = ("labile_pool", "foliar_pool", "root_pool", "wood_pool")
#: Observed variable → the simulated outputs whose sum it is compared with.
SIMULATED_COUNTERPART: dict[str, tuple[str, ...]] = {
    "lai": ("lai",), "sif": ("sif",), "et": ("et",), "et_ec": ("et",), "gpp": ("gpp",),
    "reco": ("gpp", "nee"), "nee": ("nee",), "nbe": ("nbe",), "biomass": _LIVE,
    "fire_emission": ("fire_emission",), "ewt_anomaly": ("water_pool",), "vod": ("vod",),
}
_SCALARS = ("nse", "r2", "rmse", "bias", "n", "spatial_nse", "spatial_r2", "spatial_rmse",
            "spatial_bias", "median_temporal_nse", "median_temporal_r2")
_MAPS = ("temporal_nse", "temporal_r2", "temporal_rmse", "temporal_bias")


def _warmup_steps(months: int, delta_t: float) -> int:
    return int(round(months * 30.4375 / delta_t)) if delta_t < 28 else int(months)


def _patch_series(observed, simulated, ids, spatial, anomaly: bool):
    """Coverage-weighted patch means of observed and simulated over observed pixels."""
    covered = observed.notnull()
    if anomaly:  # compare anomalies: each pixel's mean over its observed steps removed
        simulated = simulated - simulated.where(covered).mean("time")
    obs = handoff.stack_pixels(observed.where(covered, 0.0), spatial)
    sim = handoff.stack_pixels(simulated.where(covered, 0.0), spatial)
    weight = handoff.stack_pixels(covered.astype(float), spatial)
    group = handoff.stack_pixels(ids.broadcast_like(observed.isel(time=0, drop=True)), spatial)
    group = group.drop_vars(list(group.coords)).rename("patch")
    total = weight.drop_vars(["pixel", *spatial], errors="ignore").groupby(group).sum()
    as_patch = lambda x: x.drop_vars(["pixel", *spatial], errors="ignore").groupby(group).sum()
    total = total.where(total > 0)
    return as_patch(obs) / total, as_patch(sim) / total


def evaluate(model, ds: xr.Dataset, split: str | None = None, *, warmup_months: int = 24,
             roles: Mapping[str, str] | None = None,
             observation_mask: xr.DataArray | None = None,
             plausibility: str | Mapping | None = None) -> xr.Dataset:
    """Skill of ``model`` on the observations of ``ds`` within one split.

    ``split`` is "train", "dev", "test" or "all"; by default "test" when ``ds`` holds locations
    of the model's patches (the data it was trained on) and "all" otherwise (new sites, another
    region: every location is new to the model).

    Pixel-scale streams (LAI, SIF, ET, eddy-covariance fluxes, biomass) are compared pixel by
    pixel; coarse streams (NBE, fire emission, water-storage anomaly) on gridded data are compared
    as patch means over the observed pixels, as they are observed. A user's own streams that the
    model was trained on (:func:`~xdifferland.engine.loss_streams.stream_term`, recorded in
    ``model.metadata["streams"]``) are scored the same way, at their scale, against the
    combination of outputs they were fitted to, when ``ds`` holds them. Metrics (NSE, squared
    Pearson r, RMSE, bias) come flat, spatial (time means) and per location over time (maps),
    after excluding the first ``warmup_months``.

    ``plausibility`` is as in :func:`xdifferland.validate` (the data are validated before they
    are simulated). ``observation_mask`` (bool, ``(time, *spatial)`` or broadcastable) restricts
    the comparison to chosen observations, e.g. the held-out years of a temporal test.

    Returns
    -------
    xarray.Dataset
        Scalar metrics with a ``variable`` dim, plus ``temporal_*`` maps over the spatial dims
        for pixel-scale variables.

    Raises
    ------
    ValueError
        If the Dataset has no observations, or none of its locations lies in the split (e.g.
        ``"test"`` of a model whose training data formed too few patches to hold any out):
        the message says why, instead of a table of NaN.
    """
    prepared = prepare_dataset(ds, roles, check=False)
    data, spatial = prepared.data, prepared.spatial_dims
    own = recorded_streams(model.metadata)
    counterparts = {v: dict.fromkeys(outputs, 1.0) for v, outputs in SIMULATED_COUNTERPART.items()}
    counterparts |= {v: record["simulated"] for v, record in own.items()}
    observed = [v for v in counterparts if v in data and "time" in data[v].dims
                and bool(data[v].notnull().any())]
    if not observed:
        raise ValueError("the Dataset has no observations to evaluate against; expected any of "
                         f"{', '.join(counterparts)}")
    needed = sorted({o for v in observed for o in counterparts[v]})
    # results of the public calls are labeled with the user's axes; here we work on the internal
    axes = prepared.axes
    new_data = not model.trained_on(ds, roles=roles)
    if split is None:
        split = "all" if new_data else "test"
    elif split != "all" and new_data:
        raise ValueError(f"split {split!r}: this Dataset holds none of the locations the model "
                         "was trained on (" + _trained_where(model) + "), so it has no "
                         f"{split} split; every location is new to the model: evaluate on "
                         "split='all' (the default for such data)")
    inside = axes.to_internal(model.split_mask(ds, split, roles=roles))
    if not bool(inside.any()):
        raise ValueError(_empty_split(model, split))
    simulated = axes.to_internal(model.simulate(ds, needed, roles=roles,
                                                plausibility=plausibility))
    observation_mask = axes.to_internal(observation_mask)
    warmup = _warmup_steps(warmup_months, prepared.time.delta_t)
    gridded = "lat" in spatial and "lon" in spatial
    ids = patch_ids(data, spatial, model.config.patch_size, model.patch_variable)

    scalars, maps, metric_attrs = {}, {}, {}
    for name in observed:
        sim = sum(c * simulated[o] for o, c in counterparts[name].items()).where(inside)
        obs = data[name].where(inside)
        if observation_mask is not None:
            obs = obs.where(observation_mask.astype(bool))
        if (name in COARSE_STREAMS or own.get(name, {}).get("scale") == "patch") and gridded:
            obs, sim = _patch_series(obs, sim, ids, spatial, anomaly=name == "ewt_anomaly")
            result = skill(obs, sim, spatial_dims=["patch"], warmup=warmup)
        else:
            result = skill(obs, sim, spatial_dims=list(spatial), warmup=warmup)
            maps[name] = result[list(_MAPS)]
        scalars[name] = {m: float(result[m]) for m in _SCALARS if m in result}
        metric_attrs |= {m: dict(result[m].attrs) for m in (*_SCALARS, *_MAPS) if m in result}
    variables = list(scalars)
    out = xr.Dataset(
        {m: ("variable", [scalars[v].get(m, np.nan) for v in variables]) for m in _SCALARS},
        coords={"variable": variables})
    if maps:
        stacked = xr.concat(list(maps.values()), dim=xr.DataArray(list(maps), dims="variable"),
                            coords="minimal", compat="override")
        out = xr.merge([out, stacked.reindex(variable=variables)], compat="override")
    out = _describe(out, metric_attrs, {v: r.get("units") for v, r in own.items()})
    out.attrs.update({"split": split, "warmup_months": warmup_months, "warmup_steps": warmup,
                      "n_locations": int(inside.sum())})
    return axes.to_user(cf_result(out, title=f"DifferLand skill on the {split} split",
                                  what=f"evaluate on the {split} split"))


def _trained_where(model) -> str:
    sites = model.metadata.get("locations")
    if sites:
        return f"sites {', '.join(sites[:8])}{' ...' if len(sites) > 8 else ''}"
    n = sum(len(v) for v in model.splits.values())
    return f"{n} patch(es)"


def _empty_split(model, split: str) -> str:
    """Why ``split`` holds no location of the Dataset, and what to do instead."""
    if split == "all":
        return "the Dataset has no valid location (the predictors or forcing missing everywhere)"
    patches = model.splits[split]
    if not patches:
        held = {k: len(v) for k, v in model.splits.items()}
        return (f"the {split} split is empty: the model's training data formed "
                f"{sum(held.values())} patch(es) and none were held out for {split} "
                f"(train/dev/test = {held['train']}/{held['dev']}/{held['test']}; a site list "
                "without a patch variable is one patch). Evaluate on 'train' or 'all', or fit "
                "again with patch_variable= (an integer patch id per location) and enough "
                "patches to hold some out")
    return (f"none of the Dataset's locations lies in the model's {split} patches "
            f"({len(patches)} patch(es)); evaluate on data that cover them, or on 'all'")


def _describe(out: xr.Dataset, metric_attrs: dict, own_units: dict) -> xr.Dataset:
    """Metric attributes; RMSE and bias are in each variable's units (``variable_units``): the
    declared ones, or those a user stream had in training (``own_units``, "" if none)."""
    units = [own_units.get(str(v)) or "" if str(v) in own_units
             else udunits(declared(str(v)).units, declared(str(v)).standard_name)
             for v in out["variable"].values]
    out = out.assign_coords(variable_units=("variable", units))
    out["variable"].attrs = {"long_name": "observed variable"}
    out["variable_units"].attrs = {"long_name": "units of each variable's RMSE and bias"}
    for name, var in out.data_vars.items():
        attrs = dict(metric_attrs.get(name, {}))
        if name.endswith(("rmse", "bias")):
            attrs.pop("units", None)
            attrs["long_name"] = f"{attrs.get('long_name', name)}, in variable_units"
        var.attrs = attrs
    return out
