"""Labeled simulation: ``xdifferland.simulate(ds, parameters)`` → an xarray Dataset of outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import xarray as xr

from .contract import handoff
from ._version import __version__
from .contract.axes import Axes, find_axes, missing_time
from .contract.find import canonicalize
from .engine.outputs import output_spec, resolve_outputs
from .errors import DataError, Problem
from .io.conventions import cf_result, udunits
from .parameters import parameter_arrays
from .contract.plausibility import overrides_attribute, plausibility_rules
from .registry import PARAMETER_NAMES
from .contract.convert import to_canonical_units
from .contract.blockwise import BLOCK_CHECKS, checked_when_computed
from .contract.check import validate
from .contract.declare import PREDICTOR_GROUPS

__all__ = ["simulate", "budget", "prepare_dataset", "engine_arrays", "PreparedData",
           "DEFAULT_OUTPUTS"]

DEFAULT_OUTPUTS = ("lai", "gpp", "et", "nee", "nbe", "sif")
_DAYS_PER_YEAR_MAP = 365.22  # the published model divides MAP (mm/yr) by 365.22, not 365.25
_VALUE_CHECKS = ("alignment", "nan", "finite", "plausibility", "hemisphere",
                 "constant_predictors", "overlap")
_PREDICTORS = tuple(name for names in PREDICTOR_GROUPS.values() for name in names)


@dataclass(frozen=True)
class PreparedData:
    """A user's Dataset after discovery, unit conversion and validation, ready for the engine."""

    data: xr.Dataset  #: canonical names and units
    spatial_dims: tuple[str, ...]
    time: handoff.TimeAxis
    inputs: dict[str, xr.DataArray]  #: engine inputs by name (FORCING_INPUTS + STATIC_INPUTS)
    valid: xr.DataArray  #: boolean, spatial dims: pixels that are computed
    #: the user's axes; ``axes.to_user`` labels results with the user's dim and coordinate names
    axes: Axes = Axes(time="time")


def _latitude(ds: xr.Dataset, spatial_dims: Sequence[str], axes: Axes) -> xr.DataArray:
    """Latitude per location (1-D over a grid's ``lat`` or a station list, 2-D over ``(y, x)``)."""
    name = axes.internal(axes.latitude)
    if name is not None and name in ds.variables:
        return ds[name]
    raise DataError([Problem(
        "latitude", "no latitude coordinate found.",
        f"add a 'lat' or 'latitude' coordinate (degrees north) over {tuple(spatial_dims)}")])


def prepare_dataset(ds: xr.Dataset, roles: Mapping[str, str] | None = None, *,
                    mask: xr.DataArray | None = None, check: bool = True,
                    skip: Sequence[str] = (),
                    plausibility: str | Mapping | None = None,
                    lazy_values: bool = False) -> PreparedData:
    """Discover, convert and validate ``ds`` and assemble the engine's inputs (still labeled).

    The Dataset's axes are found by CF attributes (see :mod:`xdifferland.contract.axes`) and renamed
    to the internal ``time``/``lat``/``lon``/``site`` here, so ``PreparedData.data`` always has the
    canonical layout; ``PreparedData.axes.to_user`` puts the user's names back on results.

    Raises :class:`~xdifferland.errors.ValidationError` listing every problem before any JAX
    code runs, and :class:`~xdifferland.errors.DataError` when no time dimension (or two) is
    found. The values of dask-backed data are checked here only with ``lazy_values`` (it reads
    them: for ``fit``, which reads them all anyway); otherwise each chunk's forcing and
    predictors are checked when the chunk is computed
    (:func:`~xdifferland.contract.blockwise.checked_when_computed`), so a lazy ``simulate``
    stays lazy and still refuses impossible values.
    """
    axes = find_axes(ds)
    if axes.time is None:
        raise missing_time(ds, axes)
    ds, mask = axes.to_internal(ds), axes.to_internal(mask)
    if check:
        # Value checks (NaN, ranges, constant predictors, overlap) read the data; on dask-backed
        # input reading it all here would defeat laziness, unless asked for (fit reads it all).
        lazy = any(v.chunks is not None for v in ds.variables.values())
        later = _VALUE_CHECKS if lazy and not lazy_values else ()
        validate(ds, roles, mask=mask, skip=set(skip) | set(later),
                 plausibility=plausibility).raise_if_any()
        if later:  # each chunk's values are checked when it is computed, before the engine
            ds = checked_when_computed(ds, roles, mask=mask, plausibility=plausibility,
                                       checks=[c for c in BLOCK_CHECKS if c not in skip])
    data = canonicalize(to_canonical_units(ds, roles), roles)
    spatial_dims = handoff.spatial_dims_of(data, "t_min")
    time_coord = data["date"] if "date" in data.coords and data["date"].ndim == 2 else data["time"]
    axis = handoff.time_axis(time_coord)

    inputs: dict[str, xr.DataArray] = {
        "time_days": axis.time_days, "day_of_year": axis.day_of_year,
        "burned_area": data["burned_area"] if "burned_area" in data else xr.zeros_like(
            data["t_min"]),
    }
    for name in ("t_min", "t_max", "shortwave_radiation", "co2", "vpd", "precipitation"):
        inputs[name] = data[name]
    if "mean_annual_temperature" in data:
        inputs["mean_temperature"] = data["mean_annual_temperature"]
    else:  # long-term mean from the forcing itself (the site pipeline's choice)
        inputs["mean_temperature"] = (0.5 * (data["t_min"] + data["t_max"])).mean("time")
    if "mean_annual_precipitation" in data:
        inputs["mean_precipitation"] = data["mean_annual_precipitation"] / _DAYS_PER_YEAR_MAP
    else:
        inputs["mean_precipitation"] = data["precipitation"].mean("time")
    inputs["latitude"] = _latitude(data, spatial_dims, axes)
    inputs["delta_t"] = xr.DataArray(axis.delta_t)

    template = data["t_min"].isel(time=0, drop=True)
    valid = xr.ones_like(template, dtype=bool)
    for name in _PREDICTORS:
        if name in data and "time" not in data[name].dims:
            valid = valid & data[name].notnull()
    if mask is not None:
        valid = valid & mask.astype(bool)
    return PreparedData(data, spatial_dims, axis, inputs, valid, axes)


def engine_arrays(ds: xr.Dataset, parameters: xr.Dataset, *,
                  roles: Mapping[str, str] | None = None, mask: xr.DataArray | None = None,
                  plausibility: str | Mapping | None = None
                  ) -> tuple[PreparedData, list[xr.DataArray]]:
    """The engine's inputs as pixel-stacked DataArrays, in :mod:`~xdifferland.contract.handoff`
    order.

    Returns the prepared data and the list of forcing ``(pixel, time)`` arrays
    (:data:`~xdifferland.contract.handoff.FORCING_INPUTS`), static ``(pixel,)`` arrays
    (:data:`~xdifferland.contract.handoff.STATIC_INPUTS`) and the 40 parameter arrays, NaN outside
    the valid pixels, chunked alike over pixels when any input is dask-backed.
    """
    # Observations play no part in a simulation, so their time coverage is not checked here; nor
    # are predictors (a predictor constant over the locations is no problem for simulating).
    prepared = prepare_dataset(ds, roles, mask=mask, skip=("overlap", "constant_predictors"),
                               plausibility=plausibility)
    params = parameter_arrays(prepared.axes.to_internal(parameters))
    template = prepared.valid
    spatial = prepared.spatial_dims

    def pixels(da: xr.DataArray) -> xr.DataArray:
        da = da.broadcast_like(template) if not set(spatial) <= set(da.dims) else da
        return handoff.stack_pixels(da, spatial)

    valid = pixels(template)
    forcing = [pixels(prepared.inputs[n].where(template)) for n in handoff.FORCING_INPUTS]
    static = [pixels(prepared.inputs[n].where(template) if n != "delta_t"
                     else prepared.inputs[n]) for n in handoff.STATIC_INPUTS]
    param_das = [pixels(params[n].where(valid.unstack("pixel"))) for n in PARAMETER_NAMES]
    arrays = forcing + static + param_das
    if any(a.chunks is not None for a in arrays):
        chunks = next(a.chunks for a in arrays if a.chunks is not None)
        pixel_chunks = chunks[arrays[0].get_axis_num("pixel")] if arrays[0].chunks else None
        arrays = [a.chunk({"pixel": pixel_chunks or "auto", **({"time": -1} if "time" in a.dims
                                                                else {})}) for a in arrays]
    return prepared, arrays


def simulate(ds: xr.Dataset, parameters: xr.Dataset, outputs: Sequence[str] | str | None = None,
             *, roles: Mapping[str, str] | None = None, mass_conserving: bool = False,
             mask: xr.DataArray | None = None, water_stress: tuple | None = None,
             plausibility: str | Mapping | None = None, samples: int | None = None,
             seed: int = 0) -> xr.Dataset:
    """Run DALEC993 over a Dataset's forcing with the given parameters.

    Parameters
    ----------
    ds : xarray.Dataset
        Forcing on a grid ``(time, lat, lon)``, a site list ``(time, site)`` or a projected grid
        ``(time, y, x)`` with 2-D latitude, the axes found by their CF attributes whatever their
        names (ERA5's ``valid_time``/``latitude``/``longitude`` too; see
        :mod:`xdifferland.contract.axes`), in any convertible units (see
        :mod:`xdifferland.contract.declare`). Dask-backed data stay
        lazy: the result is computed chunk by chunk over pixels when it is computed. For lazy
        data the structural checks run here and each chunk's forcing and predictors are
        checked when the chunk is computed (NaN, ``±inf``, plausible ranges: the errors
        ``validate`` gives); ``ds.differland.validate()`` also checks the latitude against the
        seasons.
    parameters : xarray.Dataset
        One variable per registry entry (names or published aliases), broadcastable to the
        spatial dims, e.g. from :func:`xdifferland.default_parameters` or a fitted model.
    outputs : sequence of str, optional
        Output names (see ``xdifferland.engine.OUTPUT_NAMES``; default: lai, gpp, et, nee, nbe,
        sif); ``"all"`` for all 44.
    roles : mapping, optional
        Explicit ``{canonical_name: variable_in_ds}`` choices.
    mass_conserving : bool, default False
        Repair the published quirks that break carbon and water budgets.
    mask : DataArray of bool, optional
        Pixels to compute (others come back NaN), in addition to pixels with NaN predictors.
    water_stress : (str, weights), optional
        A neural water-stress variant and its network weights (fitted models pass theirs);
        default: the published linear stress.
    plausibility : {"error", "warn", "ignore"} or mapping, optional
        Accept physically implausible input values (see :mod:`xdifferland.contract.plausibility`);
        any override is recorded in the attribute ``plausibility_overrides``.
    samples, seed : int, optional
        With a :class:`~xdifferland.laplace.LaplacePosterior` as ``parameters``: simulate
        ``samples`` parameter draws (seeded by ``seed``), stacked along a ``sample`` dim.

    Returns
    -------
    xarray.Dataset
        Requested outputs with dims ``(time, *spatial)``, CF attributes and provenance, labeled
        with ``ds``'s own dim and coordinate names.

    Examples
    --------
    >>> import xdifferland
    >>> from xdifferland.datasets import synthetic_world
    >>> ds, _ = synthetic_world(seed=0)
    >>> out = xdifferland.simulate(ds, xdifferland.default_parameters(like=ds), ["gpp", "lai"])
    >>> out["gpp"].dims, out["gpp"].attrs["units"]
    (('time', 'lat', 'lon'), 'g m-2 d-1')
    """
    from .laplace import LaplacePosterior, sampled_simulation

    if samples is not None or isinstance(parameters, LaplacePosterior):
        return sampled_simulation(ds, parameters, outputs, samples, seed, roles=roles,
                                  mask=mask, plausibility=plausibility)
    names = resolve_outputs(DEFAULT_OUTPUTS if outputs is None else outputs)
    prepared, arrays = engine_arrays(ds, parameters, roles=roles, mask=mask,
                                     plausibility=plausibility)
    spatial = prepared.spatial_dims
    n_forcing = len(handoff.FORCING_INPUTS)
    dtype = np.float64 if _x64() else np.float32

    def kernel(*blocks, **kwargs):
        out = handoff.simulate_block(*blocks, **kwargs)
        return out if len(out) > 1 else out[0]  # apply_ufunc wants a bare array for one output

    results = xr.apply_ufunc(
        kernel, *arrays,
        input_core_dims=[["time"]] * n_forcing + [[]] * (len(arrays) - n_forcing),
        output_core_dims=[["time"]] * len(names),
        kwargs={"outputs": names, "mass_conserving": bool(mass_conserving),
                "water_stress": water_stress},
        dask="parallelized", output_dtypes=[dtype] * len(names),
        keep_attrs=False,  # outputs carry their own metadata, never an input's or a coordinate's
    )
    results = results if isinstance(results, tuple) else (results,)
    variables = {}
    for name, da in zip(names, results):
        da = handoff.unstack_pixels(da, spatial)
        da.attrs = output_attrs(name)
        variables[name] = da
    out = xr.Dataset(variables).assign_coords(time=prepared.data["time"])
    out.attrs.update(_provenance(mass_conserving, prepared.time, water_stress,
                                 overrides_attribute(plausibility_rules(plausibility))))
    out = cf_result(out, title="DALEC993 simulation", what=f"simulate {', '.join(names)}")
    return prepared.axes.to_user(out)


def output_attrs(name: str) -> dict:
    """CF attributes of one simulated output: UDUNITS units, names, cell methods.

    Fluxes are means over the step (``time: mean``); pools and LAI are states at one instant of
    the step (``time: point``).
    """
    meta = output_spec(name)
    units = udunits(meta.units, meta.standard_name)
    attrs = {"long_name": meta.long_name}
    if meta.standard_name:
        attrs["standard_name"] = meta.standard_name
    attrs["units"] = units if units is not None else meta.units
    state = meta.units in ("g/m**2", "mm", "m**2/m**2")
    attrs["cell_methods"] = f"time: {'point' if state else 'mean'}"
    return attrs


def _x64() -> bool:
    import jax

    return bool(jax.config.jax_enable_x64)


def _provenance(mass_conserving: bool, axis: handoff.TimeAxis, water_stress=None,
                plausibility_overrides: str | None = None) -> dict:
    attrs = {
        "source": f"xdifferland {__version__}, DALEC993 simulation",
        "xdifferland_version": __version__,
        "model": "DALEC993",
        "model_variant": "mass_conserving" if mass_conserving else "reference",
        "water_stress": "default" if water_stress is None else water_stress[0],
        "time_step_days": axis.delta_t,
    }
    if plausibility_overrides is not None:  # inputs accepted outside their plausible ranges
        attrs["plausibility_overrides"] = plausibility_overrides
    return attrs


def budget(ds: xr.Dataset, parameters: xr.Dataset, *, roles: Mapping[str, str] | None = None,
           mass_conserving: bool = False, mask: xr.DataArray | None = None,
           plausibility: str | Mapping | None = None) -> xr.Dataset:
    """Per-step carbon and water budget residuals of a labeled run.

    ``carbon_residual`` = ΔC_total − Δt (GPP − Ra − Rh − fire) and ``water_residual`` =
    ΔW − Δt (P − ET − runoff), each ``(time, *spatial)``. They vanish (to rounding) with
    ``mass_conserving=True`` and show the published quirks otherwise.

    Examples
    --------
    >>> import xdifferland
    >>> from xdifferland.datasets import synthetic_world
    >>> ds, _ = synthetic_world(seed=0)
    >>> r = xdifferland.budget(ds, xdifferland.default_parameters(like=ds), mass_conserving=True)
    >>> bool(abs(r["carbon_residual"]).max() < 1e-2)
    True
    """
    from .engine.budget import BUDGET_OUTPUTS

    axes = find_axes(ds)  # computed on the internal names, labeled with the user's at the end
    ds, parameters, mask = (axes.to_internal(obj) for obj in (ds, parameters, mask))
    out = simulate(ds, parameters, BUDGET_OUTPUTS, roles=roles, mass_conserving=mass_conserving,
                   mask=mask, plausibility=plausibility)
    params = parameter_arrays(parameters)
    pools = ["labile", "foliar", "root", "wood", "litter", "som"]
    carbon = sum(out[f"{p}_pool"] for p in pools)
    carbon_start = sum(params[f"initial_{p}"] for p in pools)
    carbon_before = carbon.shift(time=1).fillna(0) + carbon_start.where(
        carbon["time"] == carbon["time"][0], 0.0)
    water_before = out["water_pool"].shift(time=1).fillna(0) + params["initial_water"].where(
        out["time"] == out["time"][0], 0.0)
    dt = out.attrs["time_step_days"]
    precipitation = prepare_dataset(ds, roles, check=False).data["precipitation"]
    uptake = (out["gpp"] - out["autotrophic_respiration"] - out["litter_respiration"]
              - out["som_respiration"] - out["fire_emission"])
    residuals = xr.Dataset({
        "carbon_residual": ((carbon - carbon_before) - dt * uptake).assign_attrs(
            units="g/m**2", long_name="carbon budget residual per step"),
        "water_residual": ((out["water_pool"] - water_before)
                           - dt * (precipitation - out["et"] - out["runoff"])).assign_attrs(
            units="mm", long_name="water budget residual per step"),
        "total_carbon": carbon.assign_attrs(units="g/m**2", long_name="total carbon"),
    })
    residuals.attrs.update(out.attrs)
    return axes.to_user(residuals)
