"""Sensitivity maps: how much a simulated output moves per unit change of each parameter, per pixel.

:func:`sensitivity` returns, for every location, the derivative of one output reduced over time
(its mean over the steps, its total over the record, or every step) with respect to each of the
40 parameters, in the output's units per unit of the parameter, and the elasticity
``d log|output| / d log parameter`` (dimensionless: the relative change of the output per
relative change of the parameter, comparable across parameters of any units). The derivatives
are exact (forward-mode automatic differentiation through the whole time loop), one forward
pass per parameter for all pixels of a chunk at once, since no pixel depends on another.
:func:`plot_sensitivity` draws the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from .contract import handoff
from .engine.outputs import OUTPUT_NAMES, is_total, output_spec, resolve_output
from .engine.sensitivity import REDUCTIONS
from .errors import DataError, Problem
from .io.conventions import udunits
from .registry import PARAMETER_NAMES, resolve_name, spec

__all__ = ["sensitivity", "plot_sensitivity", "REDUCTIONS"]

_ELASTICITY = "_elasticity"


def _problems(output, wrt, reduce) -> tuple[str, tuple[str, ...]]:
    """The canonical output and parameter names, or a DataError naming every bad argument."""
    problems = []
    name = None
    if not isinstance(output, str) or is_total(output):
        problems.append(Problem("output", f"{output!r} is not one output name.",
                                "name one output, e.g. 'gpp'; reduce over time with reduce="))
    else:
        try:
            name = resolve_output(output)
        except KeyError:
            problems.append(Problem("output", f"{output!r} is not a DALEC993 output.",
                                    f"use one of {', '.join(OUTPUT_NAMES)}"))
    if isinstance(wrt, str):
        wrt = (wrt,)
    names = []
    for entry in PARAMETER_NAMES if wrt is None else wrt:
        try:
            names.append(resolve_name(str(entry)))
        except KeyError:
            problems.append(Problem(
                "wrt", f"{entry!r} is not a DALEC993 parameter.",
                "use registry names or aliases (xdifferland.parameter_table())"))
    if wrt is not None and not list(wrt):
        problems.append(Problem("wrt", "no parameter given.", "name at least one, or pass None "
                                "for all 40"))
    if reduce not in REDUCTIONS:
        problems.append(Problem("reduce", f"{reduce!r} is not a reduction.",
                                f"use one of {', '.join(REDUCTIONS)}"))
    elif reduce == "time-sum" and name is not None and not _is_rate(name):
        problems.append(Problem("reduce", f"'time-sum' of {name} ({output_spec(name).units}) is "
                                "not a total: it is not a rate per day.",
                                "use reduce='time-mean' for states and fractions"))
    if problems:
        raise DataError(problems, header="sensitivity: bad arguments")
    return name, tuple(dict.fromkeys(names))


def _is_rate(name: str) -> bool:
    from .contract.convert import UREG

    return UREG.Unit(output_spec(name).units).dimensionality.get("[time]", 0) == -1


def _reduced_units(name: str, reduce: str) -> str:
    """Pint units of the reduced output: a total over the record drops the 'per day'."""
    units = output_spec(name).units
    return f"({units})*day" if reduce == "time-sum" else units


def _units_attrs(units: str, standard_name: str | None = None) -> dict:
    """``units`` in UDUNITS spelling, or ``units_description`` where UDUNITS cannot spell it."""
    from .contract.convert import UREG

    unit = UREG.Unit(units)
    spelled = udunits(str(unit), standard_name) if unit != UREG.dimensionless else "1"
    return {"units": spelled} if spelled is not None else {"units_description": f"{unit:~}"}


def _kernel(*blocks, output, wrt, reduce, mass_conserving, water_stress):
    """NumPy kernel for :func:`xarray.apply_ufunc`: one block of pixels through the engine.

    Returns the reduced output ``(pixel[, time])`` and its derivatives and elasticities
    ``(pixel[, time], parameter)``, NaN at pixels with non-finite inputs.
    """
    import jax.numpy as jnp

    from .engine.sensitivity import output_sensitivity

    engine_forcing, engine_params, valid = handoff._engine_inputs(
        blocks, len(handoff.FORCING_INPUTS), len(handoff.STATIC_INPUTS))
    variant, weights = water_stress or ("default", None)
    indices = [PARAMETER_NAMES.index(n) for n in wrt]
    value, derivatives = output_sensitivity(
        engine_params, engine_forcing, output, indices, reduce, mass_conserving=mass_conserving,
        water_stress=variant, stress_weights=weights)
    value = np.array(value, np.float64)  # (pixel,) or (time, pixel); a writable copy
    derivatives = np.array(derivatives, np.float64)  # (parameter, ...)
    theta = np.stack([np.asarray(engine_params[i], np.float64) for i in indices])  # (k, pixel)
    with np.errstate(divide="ignore", invalid="ignore"):
        elasticity = np.where(value != 0, derivatives * theta.reshape(
            theta.shape[:1] + (1,) * (derivatives.ndim - 2) + theta.shape[1:]) / value, np.nan)
    # engine layout (..., pixel) to apply_ufunc's (pixel, ...[, parameter])
    value = np.moveaxis(value, -1, 0)
    derivatives, elasticity = (np.moveaxis(np.moveaxis(a, 0, -1), -2, 0)
                               for a in (derivatives, elasticity))
    for a in (value, derivatives, elasticity):
        a[~valid] = np.nan
    dtype = np.result_type(jnp.result_type(float))
    return tuple(a.astype(dtype) for a in (value, derivatives, elasticity))


def sensitivity(ds: xr.Dataset, parameters_or_model, output: str,
                wrt: Sequence[str] | str | None = None, reduce: str = "time-mean", *,
                roles: Mapping[str, str] | None = None, mask: xr.DataArray | None = None,
                mass_conserving: bool | None = None,
                plausibility: str | Mapping | None = None) -> xr.Dataset:
    """Per-pixel derivatives and elasticities of a reduced output with respect to parameters.

    Parameters
    ----------
    ds : xarray.Dataset
        Forcing, as for :func:`xdifferland.simulate`. Dask-backed data stay lazy: the result is
        computed chunk by chunk over pixels when it is computed.
    parameters_or_model : xarray.Dataset or DifferLandModel
        The 40 parameters (e.g. ``model.parameters(ds)`` or
        :func:`xdifferland.default_parameters`), or a fitted model: its parameters for ``ds``,
        its water-stress variant and networks, and its ``mass_conserving`` setting are used.
    output : str
        One output (name or published alias, see ``xdifferland.engine.OUTPUT_NAMES``).
    wrt : sequence of str, optional
        Parameters to differentiate with respect to (names or aliases); default all 40.
    reduce : {"time-mean", "time-sum", "none"}, default "time-mean"
        ``"time-mean"``: the mean over the steps; ``"time-sum"``: the total over the record,
        ``sum(output) * step length`` (daily rates only: a flux in g m-2 d-1 gives g m-2);
        ``"none"``: every step (the result has a time dim).
    roles, mask, plausibility
        As in :func:`xdifferland.simulate`.
    mass_conserving : bool, optional
        As in :func:`xdifferland.simulate`; default the model's setting, else False.

    Returns
    -------
    xarray.Dataset
        One variable per parameter of ``wrt``, named after it: ``d(reduced output) / d
        parameter`` in the output's units per unit of the parameter; one ``<parameter>_
        elasticity`` per parameter, ``(d output / d parameter) * parameter / output``
        (units ``1``; NaN where the reduced output is 0); and the reduced output itself under
        the output's name. Dims are ``ds``'s spatial dims (and time for ``"none"``).

    Raises
    ------
    DataError
        An unknown output or parameter, an unknown reduction, or ``"time-sum"`` of an output that
        is not a daily rate; raised before anything is computed.

    Examples
    --------
    >>> import xdifferland
    >>> from xdifferland.datasets import synthetic_world
    >>> ds, _ = synthetic_world(n_lat=2, n_lon=3, n_years=2, seed=0)
    >>> params = xdifferland.default_parameters(like=ds)
    >>> sens = xdifferland.sensitivity(ds, params, "gpp", wrt=["canopy_efficiency", "LCMA"])
    >>> sens["canopy_efficiency"].dims  # the efficiency is in g m-2 d-1 too: units '1'
    ('lat', 'lon')
    >>> sens["leaf_carbon_mass_per_area"].attrs["units"]  # g m-2 d-1 of GPP per g m-2 of leaf
    'd-1'
    >>> bool(sens["canopy_efficiency_elasticity"].median() > 0)  # more efficiency, more GPP
    True
    """
    name, wrt_names = _problems(output, wrt, reduce)
    variant_weights, parameters = None, parameters_or_model
    if not isinstance(parameters_or_model, xr.Dataset):
        model = parameters_or_model
        if not (hasattr(model, "parameters") and hasattr(model, "config")):
            raise DataError([Problem(
                "parameters_or_model", f"a {type(model).__name__} is neither a parameters "
                "Dataset nor a fitted model.",
                "pass model.parameters(ds), xdifferland.default_parameters(like=ds) or a model")])
        parameters = model.parameters(ds, roles=roles, mask=mask, plausibility=plausibility)
        if model.config.water_stress != "default":
            variant_weights = (model.config.water_stress, model.weights.get("water_stress", {}))
        if mass_conserving is None:
            mass_conserving = model.config.mass_conserving
    from .simulation import engine_arrays

    prepared, arrays = engine_arrays(ds, parameters, roles=roles, mask=mask,
                                     plausibility=plausibility)
    n_forcing = len(handoff.FORCING_INPUTS)
    time_dims = ["time"] if reduce == "none" else []
    dtype = np.float64 if _x64() else np.float32
    value, derivatives, elasticity = xr.apply_ufunc(
        _kernel, *arrays,
        input_core_dims=[["time"]] * n_forcing + [[]] * (len(arrays) - n_forcing),
        output_core_dims=[time_dims, time_dims + ["parameter"], time_dims + ["parameter"]],
        kwargs={"output": name, "wrt": wrt_names, "reduce": reduce,
                "mass_conserving": bool(mass_conserving), "water_stress": variant_weights},
        dask="parallelized", output_dtypes=[dtype] * 3,
        dask_gufunc_kwargs={"output_sizes": {"parameter": len(wrt_names)}},
        keep_attrs=False)
    return _labelled(prepared, name, wrt_names, reduce, value, derivatives, elasticity,
                     variant_weights, bool(mass_conserving))


def _labelled(prepared, name, wrt_names, reduce, value, derivatives, elasticity,
              variant_weights, mass_conserving) -> xr.Dataset:
    """The result Dataset with units, names and provenance, on the user's dim names."""
    spatial = prepared.spatial_dims
    what = {"time-mean": "time-mean", "time-sum": "total", "none": ""}[reduce]
    described = f"{what} {name}".strip()
    out_units = _reduced_units(name, reduce)
    standard_name = output_spec(name).standard_name if reduce == "time-mean" else None
    variables = {name: handoff.unstack_pixels(value, spatial).assign_attrs(
        long_name=f"{described} ({output_spec(name).long_name})",
        **_units_attrs(out_units, standard_name))}
    for i, parameter in enumerate(wrt_names):
        d = handoff.unstack_pixels(derivatives.isel(parameter=i, drop=True), spatial)
        variables[parameter] = d.assign_attrs(
            long_name=f"derivative of {described} with respect to {parameter}",
            **_units_attrs(f"({out_units})/({spec(parameter).units})"))
        e = handoff.unstack_pixels(elasticity.isel(parameter=i, drop=True), spatial)
        variables[parameter + _ELASTICITY] = e.assign_attrs(
            long_name=f"elasticity of {described} with respect to {parameter} "
                      "(d log|output| / d log parameter)", units="1")
    out = xr.Dataset(variables)
    if reduce == "none":
        out = out.assign_coords(time=prepared.data["time"])
    out.attrs.update(output=name, reduce=reduce, parameters=",".join(wrt_names),
                     water_stress="default" if variant_weights is None else variant_weights[0],
                     model_variant="mass_conserving" if mass_conserving else "reference")
    return prepared.axes.to_user(out)


def _x64() -> bool:
    import jax

    return bool(jax.config.jax_enable_x64)


def plot_sensitivity(result: xr.Dataset, parameter: str | None = None, *, top: int = 15,
                     ax=None):
    """Bar chart of the pixel-median elasticities, or the map of one parameter's derivative.

    Parameters
    ----------
    result : xarray.Dataset
        From :func:`sensitivity` with ``reduce`` "time-mean" or "time-sum".
    parameter : str, optional
        Without it: the ``top`` parameters by absolute median elasticity over the pixels, as
        horizontal bars with the 10th-90th percentile range. With it: that parameter's derivative
        as a map (``lat``/``lon`` data) or over the locations, labelled with its units.
    top : int, default 15
        Number of bars.
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import xdifferland
    >>> from xdifferland.datasets import synthetic_world
    >>> from xdifferland.sensitivity_maps import plot_sensitivity
    >>> ds, _ = synthetic_world(n_lat=2, n_lon=3, n_years=2, seed=0)
    >>> sens = xdifferland.sensitivity(ds, xdifferland.default_parameters(like=ds), "lai",
    ...                                wrt=["LCMA", "f_fol", "canopy_efficiency"])
    >>> ax = plot_sensitivity(sens)
    >>> ax.get_xlabel()
    'elasticity of time-mean lai (d log|lai| / d log parameter, 1)'
    >>> ax = plot_sensitivity(sens, "leaf_carbon_mass_per_area")
    >>> ax.figure.axes[-1].get_ylabel()  # the colour bar
    'd(time-mean lai)/d(leaf_carbon_mass_per_area) (m2 g-1)'
    """
    import matplotlib.pyplot as plt

    output = result.attrs.get("output", "output")
    if "time" in result.dims:
        raise ValueError("plot_sensitivity draws reduce='time-mean' or 'time-sum' results; "
                         "select one step first, e.g. result.isel(time=-1)")
    described = {"time-sum": "total", "time-mean": "time-mean"}.get(
        result.attrs.get("reduce", ""), "")
    described = f"{described} {output}".strip()
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 5), layout="constrained")
    if parameter is not None:
        name = resolve_name(parameter)
        if name not in result:
            raise ValueError(f"parameter {parameter!r} is not in the result; it has "
                             f"{result.attrs.get('parameters', '')}")
        field = result[name]
        units = field.attrs.get("units", field.attrs.get("units_description"))
        label = f"d({described})/d({name}) ({units})"
        if {"lat", "lon"} <= set(field.dims):
            mesh = ax.pcolormesh(field["lon"], field["lat"], field.transpose("lat", "lon"),
                                 shading="nearest", cmap="RdBu_r")
            ax.figure.colorbar(mesh, ax=ax, label=label)
            ax.set(xlabel="longitude (°E)", ylabel="latitude (°N)")
        else:
            values = field.stack(location=field.dims) if field.ndim > 1 else field
            ax.plot(np.arange(values.size), values.values, "o")
            ax.set(xlabel="location", ylabel=label)
        return ax
    names = [n[:-len(_ELASTICITY)] for n in result.data_vars if n.endswith(_ELASTICITY)]
    stats = {n: np.nanpercentile(result[n + _ELASTICITY].values, [10, 50, 90]) for n in names}
    ranked = sorted(names, key=lambda n: -abs(stats[n][1]))[:top][::-1]
    medians = np.array([stats[n][1] for n in ranked])
    spread = np.array([[stats[n][1] - stats[n][0], stats[n][2] - stats[n][1]] for n in ranked]).T
    ax.barh(np.arange(len(ranked)), medians, xerr=spread, color="tab:blue", capsize=2)
    ax.set_yticks(np.arange(len(ranked)), [n.replace("_", " ") for n in ranked])
    ax.axvline(0.0, color="0.3", lw=0.8)
    ax.set(xlabel=f"elasticity of {described} (d log|{output}| / d log parameter, 1)",
           title=f"Median over {result[ranked[-1] + _ELASTICITY].size} locations "
                 "(bars: 10th-90th percentile)" if ranked else "")
    return ax
