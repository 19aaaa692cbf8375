"""Assemble a labeled Dataset into the arrays training needs (pixels, patches, streams, splits)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import dask
import numpy as np
import xarray as xr

from ..contract import handoff
from ..contract._checks import label
from ..errors import DataError, Problem, ValidationError
from ..contract.plausibility import overrides_attribute, plausibility_rules
from ..simulation import prepare_dataset
from ..contract.declare import PREDICTOR_GROUPS
from .pixel_store import OPEN_BLOCKS, BoxReader, Columns, is_lazy

__all__ = ["STREAMS", "TrainingData", "training_data", "default_predictors", "patch_ids"]

#: Dataset variable (canonical name) → loss observation stream.
STREAMS: dict[str, str] = {
    "sif": "sif", "nbe": "nbe", "lai": "lai", "ewt_anomaly": "ewt_anomaly",
    "biomass": "biomass", "fire_emission": "fire_emission", "som": "som", "vod": "vod",
    "gpp": "gpp_ec", "reco": "reco_ec", "et_ec": "et_ec", "et": "et", "nee": "nee_ec",
}
#: Streams observed at coarse (patch) scale.
COARSE_STREAMS = ("nbe", "fire_emission", "ewt_anomaly")


def default_predictors(ds: xr.Dataset) -> tuple[str, ...]:
    """Every declared predictor present in ``ds``, in the published group order."""
    return tuple(n for names in PREDICTOR_GROUPS.values() for n in names if n in ds)


@dataclass
class TrainingData:
    """Pixel-major arrays of a Dataset, ready for batching. ``P`` pixels, ``T`` steps."""

    predictors: np.ndarray  #: (P, n_predictors), raw units
    predictor_names: tuple[str, ...]
    hemisphere: np.ndarray  #: (P,) sigmoid of latitude (degrees)
    forcing: dict[str, np.ndarray]  #: FORCING_INPUTS → (T, P); STATIC_INPUTS → (P,)
    observations: dict[str, dict[str, np.ndarray]]  #: stream → value/mask/uncertainty (T, P)
    patch: np.ndarray  #: (P,) patch number 0..n_patches-1
    patch_coverage: np.ndarray  #: (n_patches,) valid fraction of each patch's cells
    patch_labels: np.ndarray  #: (n_patches,) patch ids as computed by :func:`patch_ids`
    pixel_index: xr.DataArray  #: (pixel,) stacked spatial coordinates of the kept pixels
    spatial_dims: tuple[str, ...]
    time: xr.DataArray
    delta_t: float
    extra: dict = field(default_factory=dict)
    #: (P, n_spatial) index of each kept pixel along each spatial dim (None: not recorded)
    positions: np.ndarray | None = None
    #: spatial dim → cells per chunk of a store-backed Dataset (empty when held in memory)
    store_chunks: dict[str, int] = field(default_factory=dict)

    @property
    def n_pixels(self) -> int:
        return self.predictors.shape[0]

    @property
    def n_patches(self) -> int:
        return int(self.patch_coverage.shape[0])


def patch_ids(ds: xr.Dataset, spatial_dims: Sequence[str], patch_size=(4.0, 5.0),
              patch_variable: str | None = None) -> xr.DataArray:
    """Integer patch id of every location: a coarse lat/lon cell, or a user variable."""
    if patch_variable is not None:
        return ds[patch_variable].astype(int)
    if "lat" not in spatial_dims or "lon" not in spatial_dims:  # sites, projected grids: one patch
        return xr.DataArray(np.zeros([ds.sizes[d] for d in spatial_dims], int),
                            dims=tuple(spatial_dims),
                            coords={d: ds[d] for d in spatial_dims if d in ds.coords})
    lat, lon = ds["lat"], ds["lon"]
    row = np.floor((lat - (-90.0)) / patch_size[0]).astype(int)
    col = np.floor((lon - (-180.0)) / patch_size[1]).astype(int)
    return (row * 100000 + col).broadcast_like(lat * lon)


def _cells_per_patch(ds, spatial_dims, patch_size) -> float | None:
    if "lat" in spatial_dims and "lon" in spatial_dims and ds.sizes["lat"] > 1:
        dlat = float(abs(ds["lat"][1] - ds["lat"][0]))
        dlon = float(abs(ds["lon"][1] - ds["lon"][0]))
        return round(patch_size[0] / dlat) * round(patch_size[1] / dlon)
    return None


def training_data(ds: xr.Dataset, *, predictors: Sequence[str] | None = None,
                  roles: Mapping[str, str] | None = None, patch_size=(4.0, 5.0),
                  patch_variable: str | None = None, mask: xr.DataArray | None = None,
                  observation_mask: xr.DataArray | None = None,
                  use_uncertainty: bool = False,
                  plausibility: str | Mapping | None = None,
                  extra_streams: Mapping[str, str] | None = None) -> TrainingData:
    """Discover, convert, validate and flatten ``ds`` into :class:`TrainingData`.

    With ``use_uncertainty`` every observed value with an uncertainty variable must have a
    positive, finite uncertainty (residuals are divided by it); otherwise a
    :class:`~xdifferland.errors.ValidationError` names each observation that has not.
    ``plausibility`` is passed to :func:`~xdifferland.contract.check.validate`.
    ``extra_streams`` maps further Dataset variables to the loss term that reads each (a
    user's own streams): they become streams of their own name, with ``<name>_unc``, read like
    the built-in ones; a :class:`~xdifferland.errors.DataError` names any that is missing or
    has no observed value. ``extra["own_streams"]`` records, for each, its units (and its
    uncertainty's), whether it is static (no time axis) and at how many pixels an observed value
    has a missing, zero or negative uncertainty.
    """
    # values are checked on a store too: training reads every value anyway (two passes, see
    # contract._checks.LAZY_PASSES), and a wrong one would train silently
    prepared = prepare_dataset(ds, roles, mask=mask, plausibility=plausibility,
                               lazy_values=True)
    data, spatial = prepared.data, prepared.spatial_dims
    extra_streams = dict(extra_streams or {})
    absent = [Problem(v, f"named by the loss term {term!r} (extra_terms=) but not in the "
                      "Dataset.", f"add {v!r} (NaN where unobserved, optionally with {v}_unc), "
                      "or leave the term out")
              for v, term in extra_streams.items() if v not in data]
    if absent:
        raise DataError(absent)
    names = tuple(predictors) if predictors is not None else default_predictors(data)
    missing = [n for n in names if n not in data]
    if missing or not names:
        raise DataError([Problem(
            "predictors", f"not found: {', '.join(missing) or 'no predictors at all'}.",
            "give predictors=[...] naming variables of the Dataset (see "
            "xdifferland.contract.declare)")])

    valid = prepared.valid
    for name in names:
        valid = valid & data[name].notnull()
    inputs = dict(prepared.inputs)
    # A dask-backed Dataset stays in its store: its (time, pixel) arrays are read a batch at a
    # time (pixel_store); everything else, and every array of an in-memory Dataset, is loaded.
    lazy = any(is_lazy(a) for a in [*inputs.values(), *data.data_vars.values()]
               if "time" in a.dims)
    lazy_streams = [v for v in STREAMS if v in data and v not in extra_streams
                    and "time" in data[v].dims and is_lazy(data[v])] if lazy else []
    observed_any, bad_uncertainty = {}, {}
    if lazy:
        data, inputs, valid, observed_any, bad_uncertainty = _load_static(
            data, inputs, valid, lazy_streams, observation_mask, prepared.axes, use_uncertainty)
    stacked_valid = handoff.stack_pixels(valid, spatial).values.astype(bool)
    if not stacked_valid.any():
        raise DataError([Problem("mask", "no valid pixel to train on.",
                                 "check the predictors and the mask for NaN everywhere")])

    n_kept, n_time = int(stacked_valid.sum()), data.sizes["time"]
    shape = [data.sizes[d] for d in spatial]
    positions = np.stack(np.unravel_index(np.flatnonzero(stacked_valid), shape), axis=1)
    reader = BoxReader(positions, spatial, n_time, open_chunks=OPEN_BLOCKS) if lazy else None

    def pixels(da: xr.DataArray, name: str | None = None):
        da = da if set(spatial) <= set(da.dims) else da.broadcast_like(valid)
        if reader is not None and name is not None and "time" in da.dims and is_lazy(da):
            reader.register(name, da)
            return Columns(reader, (name,), n_kept)
        values = handoff.stack_pixels(da, spatial)
        values = values.transpose("time", "pixel") if "time" in values.dims else values
        return np.asarray(values.values, float)[..., stacked_valid]

    forcing = {n: pixels(inputs[n], n) for n in handoff.FORCING_INPUTS}
    for n in ("time_days", "day_of_year"):  # 1-D time axes broadcast over pixels
        if forcing[n].ndim == 1:
            forcing[n] = np.repeat(forcing[n][:, None], n_kept, axis=1)
    for n in handoff.STATIC_INPUTS:
        if n == "delta_t":
            continue
        forcing[n] = pixels(inputs[n])
    latitude = forcing["latitude"]

    observations, unusable, unobserved, described = {}, {}, [], {}
    own = [(v, v) for v in extra_streams if v not in STREAMS.values()]
    for variable, stream in [*STREAMS.items(), *own]:
        if variable not in data:
            continue
        if variable in lazy_streams:
            if observed_any[variable]:
                observations[stream] = _lazy_stream(reader, data, variable, valid, n_kept,
                                                    observation_mask, prepared.axes,
                                                    bad_uncertainty.get(variable, False),
                                                    unusable, use_uncertainty)
            continue
        value = pixels(data[variable])
        if value.ndim == 1:  # static observation (e.g. SOM): repeat over time
            value = np.repeat(value[None], n_time, axis=0)
        unc_name = f"{variable}_unc"
        uncertainty = None
        if unc_name in data:
            uncertainty = pixels(data[unc_name])
            uncertainty = uncertainty if uncertainty.ndim == 2 else np.repeat(
                uncertainty[None], n_time, axis=0)
        observed = np.isfinite(value)
        if observation_mask is not None:
            allowed = prepared.axes.to_internal(observation_mask).astype(bool)
            allowed = allowed.broadcast_like(data[variable]) if "time" in data[variable].dims \
                else allowed.broadcast_like(data["t_min"])
            observed &= pixels(allowed).astype(bool).reshape(observed.shape)
        if not observed.any():
            if variable in extra_streams:
                unobserved.append(Problem(
                    variable, f"named by the loss term {extra_streams[variable]!r} but none of "
                    "its values is observed (all NaN, outside the mask or observation_mask).",
                    "give it observed values at the training locations, or leave the term out"))
            continue
        bad = None if uncertainty is None else observed & ~(
            np.isfinite(uncertainty) & (uncertainty > 0))
        if use_uncertainty and bad is not None and bad.any():
            unusable[unc_name] = (bad, int(observed.sum()))
        if variable in extra_streams:  # what a user term checks before it reads the stream
            described[variable] = {
                "units": data[variable].attrs.get("units"),
                "static": "time" not in data[variable].dims,
                "uncertainty_units": data[unc_name].attrs.get("units") if unc_name in data
                else None,
                "bad_uncertainty": 0 if bad is None else int(bad.any(axis=0).sum())}
        observations[stream] = {"value": np.where(observed, value, 0.0),
                                "mask": observed.astype(float),
                                "uncertainty": None if uncertainty is None else np.where(
                                    np.isfinite(uncertainty) & (uncertainty > 0), uncertainty,
                                    1.0)}

    if unobserved:
        raise DataError(unobserved)
    ids = pixels(patch_ids(data, spatial, patch_size, patch_variable)).astype(int)
    unique, patch = np.unique(ids, return_inverse=True)
    cells = _cells_per_patch(data, spatial, patch_size)
    all_ids = handoff.stack_pixels(patch_ids(data, spatial, patch_size, patch_variable),
                                    spatial).values
    coverage = np.array([
        np.sum(patch == k) / (cells or np.sum(all_ids == u)) for k, u in enumerate(unique)])
    pixel_index = handoff.stack_pixels(valid, spatial)["pixel"][stacked_valid]
    if unusable:
        raise _uncertainty_error(unusable, data["time"].values, pixel_index, spatial)
    return TrainingData(
        predictors=np.stack([pixels(data[n]) for n in names], axis=1),
        predictor_names=names,
        hemisphere=1.0 / (1.0 + np.exp(-latitude)),
        forcing=forcing, observations=observations, patch=patch, patch_coverage=coverage,
        patch_labels=unique,
        pixel_index=pixel_index, spatial_dims=spatial, time=data["time"],
        delta_t=prepared.time.delta_t,
        extra={"plausibility_overrides": overrides_attribute(plausibility_rules(plausibility)),
               "own_streams": described},
        positions=positions, store_chunks=_store_chunks(data, spatial) if lazy else {},
    )


def _store_chunks(data: xr.Dataset, spatial: Sequence[str]) -> dict[str, int]:
    """Cells per chunk along each spatial dim of the first store-backed ``(time, ...)``
    variable (its first chunk; the last one may be smaller)."""
    for da in data.data_vars.values():
        if "time" in da.dims and is_lazy(da) and set(spatial) <= set(da.dims):
            sizes = dict(zip(da.dims, da.data.chunks))
            return {d: int(sizes[d][0]) for d in spatial}
    return {}


def _allowed(data: xr.Dataset, variable: str, observation_mask, axes) -> xr.DataArray:
    """The observation mask on ``variable``'s dims."""
    return axes.to_internal(observation_mask).astype(bool).broadcast_like(data[variable])


def _observed(data: xr.Dataset, variable: str, valid, observation_mask, axes) -> xr.DataArray:
    """Lazy booleans: where ``variable`` is observed at a kept location (and allowed)."""
    observed = np.isfinite(data[variable]) & valid
    if observation_mask is not None:
        observed = observed & _allowed(data, variable, observation_mask, axes)
    return observed


def _unusable(data: xr.Dataset, variable: str, observed: xr.DataArray) -> xr.DataArray:
    """Lazy booleans: observed values whose uncertainty is missing, zero or negative."""
    unc = data[f"{variable}_unc"].broadcast_like(data[variable])
    return observed & ~(np.isfinite(unc) & (unc > 0))


def _load_static(data: xr.Dataset, inputs: dict, valid: xr.DataArray, streams, observation_mask,
                 axes, use_uncertainty: bool):
    """One pass over a dask-backed Dataset: every field without a time axis loaded, the valid
    mask, whether each lazy stream is observed anywhere (streams without an observation are
    left out, as the in-memory path leaves them out) and, with ``use_uncertainty``, whether any
    observed value has an unusable uncertainty."""
    static_data = {v: data[v] for v in data.data_vars
                   if "time" not in data[v].dims and is_lazy(data[v])}
    static_inputs = {n: a for n, a in inputs.items() if "time" not in a.dims and is_lazy(a)}
    observed = {v: _observed(data, v, valid, observation_mask, axes) for v in streams}
    checks = {v: o.any() for v, o in observed.items()}
    bad = {v: _unusable(data, v, o).any() for v, o in observed.items()
           if use_uncertainty and f"{v}_unc" in data}
    static_data, static_inputs, valid, checks, bad = dask.compute(static_data, static_inputs,
                                                                  valid, checks, bad)
    return (data.assign(static_data), {**inputs, **static_inputs}, valid,
            {v: bool(c) for v, c in checks.items()}, {v: bool(c) for v, c in bad.items()})


def _lazy_stream(reader: BoxReader, data: xr.Dataset, variable: str, valid: xr.DataArray,
                 n_kept: int, observation_mask, axes, bad_uncertainty: bool,
                 unusable: dict, use_uncertainty: bool) -> dict:
    """An observed stream of a dask-backed Dataset as :class:`~.pixel_store.Columns` (value,
    mask and uncertainty derived per batch as the in-memory path derives them). Without
    ``use_uncertainty`` the loss ignores the uncertainty, so the store reads it only on
    demand."""
    raw = data[variable]
    names = (f"obs:{variable}",)
    reader.register(names[0], raw)
    if observation_mask is not None:
        names += (f"allowed:{variable}",)
        reader.register(names[1], _allowed(data, variable, observation_mask, axes).astype(float))

    def seen(value, allowed=None):
        ok = np.isfinite(value)
        return ok if allowed is None else ok & (allowed > 0)

    uncertainty = None
    unc_name = f"{variable}_unc"
    if unc_name in data:
        reader.register(f"unc:{variable}", data[unc_name].broadcast_like(raw),
                        on_demand=not use_uncertainty)
        if bad_uncertainty:  # an error follows: its message reads where, so this is loaded
            bad = Columns(reader, names + (f"unc:{variable}",), n_kept, lambda v, *rest: seen(
                v, *rest[:-1]) & ~(np.isfinite(rest[-1]) & (rest[-1] > 0)))
            observed = _observed(data, variable, valid, observation_mask, axes)
            unusable[unc_name] = (np.asarray(bad).astype(bool), int(observed.sum()))
        uncertainty = Columns(reader, (f"unc:{variable}",), n_kept,
                              lambda u: np.where(np.isfinite(u) & (u > 0), u, 1.0))
    last: dict = {}

    def observed(v, *allowed) -> dict:
        """The batch's value (0 where unobserved) and 0/1 mask, made once for both: a batch
        asks for each, and the reader hands both the same ``v``."""
        if last.get("raw") is not v:
            ok = seen(v, *allowed)
            last.update(raw=v, value=np.where(ok, v, 0.0), mask=ok.astype(v.dtype))
        return last

    return {"value": Columns(reader, names, n_kept, lambda *r: observed(*r)["value"]),
            "mask": Columns(reader, names, n_kept, lambda *r: observed(*r)["mask"]),
            "uncertainty": uncertainty}


def _uncertainty_error(unusable: Mapping[str, tuple[np.ndarray, int]], times: np.ndarray,
                       pixel_index: xr.DataArray, spatial: Sequence[str]) -> ValidationError:
    """The observations whose uncertainties cannot divide residuals, all in one error."""
    problems = []
    for name, (bad, observed) in unusable.items():
        t, p = np.unravel_index(int(np.argmax(bad)), bad.shape)
        where = pixel_index.values[p]
        where = where if isinstance(where, tuple) else (where,)
        where = ", ".join(f"{d}={label(v)}" for d, v in zip(spatial, where))
        problems.append(Problem(
            name, f"{int(bad.sum())} of the {observed} observed values have a zero, negative or "
            f"missing uncertainty (the first at time={label(times[t])}, {where}); "
            "use_uncertainty=True divides residuals by it.",
            f"give every observed value a positive uncertainty (e.g. a floor: ds[{name!r}] = "
            f"ds[{name!r}].clip(min=...)), mask the others with observation_mask=, or fit with "
            "use_uncertainty=False."))
    return ValidationError(problems, header="Uncertainties unusable with use_uncertainty=True:")
