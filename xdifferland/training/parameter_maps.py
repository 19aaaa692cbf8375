"""Observed parameter maps in training: the checks made before training and the conversion of
each map (and its uncertainty) to the units of the quantity it observes.

A :class:`~xdifferland.engine.loss_parameters.ParameterObservation` reads its map as a user
stream (:mod:`xdifferland.training.streams`): ``training_data`` flattens it, repeated over the
steps, and records its units and how many observed values lack a usable uncertainty; here that
record is checked and the values are brought to the quantity's units in place.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import xarray as xr

from ..contract.convert import convert_to, parse_units
from ..engine.loss import OBSERVATION_STREAMS, LossTerm
from ..engine.loss_parameters import ParameterObservation
from ..errors import Problem, UnitsError
from .data import TrainingData

__all__ = ["prepare_parameter_maps"]


def _dimensionless(units: str) -> bool:
    return parse_units(units).dimensionless


def _converted(values: np.ndarray, found: str | None, target: str, label: str):
    """``values`` in ``target`` units, or the problem that prevents it."""
    if not found:
        if _dimensionless(target):  # a fraction without units is a fraction
            return values, None
        return None, Problem(label, f"has no 'units' attribute; it observes a quantity in "
                             f"{target}.", f"set ds[{label!r}].attrs['units'] (convertible to "
                             f"{target}, e.g. 'g m-2')")
    try:
        return convert_to(xr.DataArray(values, attrs={"units": found}), target,
                          name=label).values, None
    except UnitsError as error:
        return None, error.problems[0]


def prepare_parameter_maps(extra_terms: Iterable[LossTerm], data: TrainingData) -> list[Problem]:
    """Check each parameter observation's map and convert it to the quantity's units in place.

    Returns the problems found (empty when every map can be used): a map observed as a built-in
    stream or with a time axis, units that do not convert, no uncertainty (neither
    ``<variable>_unc`` nor a number), or an uncertainty that is missing, zero or negative where
    the map is valid.
    """
    problems = []
    described = data.extra.get("own_streams", {})
    for term in extra_terms:
        if not isinstance(term, ParameterObservation):
            continue
        variable, unc_name = term.observation, f"{term.observation}_unc"
        if variable in OBSERVATION_STREAMS or variable not in data.observations:
            what = "a built-in stream" if variable in OBSERVATION_STREAMS else "not read"
            problems.append(Problem(
                variable, f"the parameter observation {term.name!r} needs a map of its own; "
                f"{variable!r} is {what}.",
                "put the map in a variable of its own name (e.g. 'lcma_obs')"))
            continue
        about = described[variable]
        if not about["static"]:
            problems.append(Problem(
                variable, f"the parameter map of {term.name!r} has a time axis; a parameter "
                "does not change in time.", f"give {variable!r} spatial dimensions only, e.g. "
                f"ds[{variable!r}].mean('time')"))
            continue
        stream = data.observations[variable]
        value, problem = _converted(stream["value"], about["units"], term.units, variable)
        if problem is not None:
            problems.append(problem)
            continue
        stream["value"] = value
        if term.uncertainty is not None:
            continue
        if stream["uncertainty"] is None:
            problems.append(Problem(
                unc_name, f"the parameter observation {term.name!r} needs the map's one-sigma "
                "uncertainty and the Dataset has none.",
                f"add {unc_name!r} (positive where {variable!r} is valid, with units), or give "
                f"uncertainty=<number in {term.units}> to parameter_observation"))
            continue
        if about["bad_uncertainty"]:
            problems.append(Problem(
                unc_name, f"{about['bad_uncertainty']} of the "
                f"{int(stream['mask'][0].sum())} valid pixels of {variable!r} have a missing, "
                "zero or negative uncertainty; the likelihood divides by it.",
                f"give every valid pixel a positive uncertainty (e.g. a floor: "
                f"ds[{unc_name!r}] = ds[{unc_name!r}].clip(min=...)), or mask those pixels "
                f"with NaN in {variable!r}"))
            continue
        sigma, problem = _converted(stream["uncertainty"], about["uncertainty_units"],
                                    term.units, unc_name)
        if problem is not None:
            problems.append(problem)
            continue
        stream["uncertainty"] = sigma
    return problems
