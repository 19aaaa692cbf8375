"""A user's own observation streams in training: the Dataset variables that user loss terms read,
the checks made before training, and the record the model keeps of them.

A user term (``fit(..., extra_terms=[...])``) whose ``observation`` is not one of the built-in
streams (:data:`~xdifferland.engine.loss.OBSERVATION_STREAMS`) names a Dataset variable: it is
read like the built-in streams (NaN and ``observation_mask`` mask it, ``<name>_unc`` is its
uncertainty), its term appears in the loss history, and the model records it in
``metadata["streams"]``, which ``evaluate`` uses to score it.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
import xarray as xr

from ..engine.loss import OBSERVATION_STREAMS, LossTerm
from ..errors import DataError, Problem
from .data import STREAMS, TrainingData
from .parameter_maps import prepare_parameter_maps

__all__ = ["stream_variables", "check_streams", "mask_uncovered", "stream_records",
           "recorded_streams"]


def stream_variables(extra_terms: Iterable[LossTerm]) -> dict[str, str]:
    """Dataset variable → name of the user term reading it, for streams not built in.

    Examples
    --------
    >>> from xdifferland.engine.loss_streams import stream_term
    >>> stream_variables([stream_term("npp_obs", "gpp"), stream_term("lai", "lai", name="l2")])
    {'npp_obs': 'npp_obs'}
    """
    return {t.observation: t.name for t in extra_terms
            if t.observation is not None and t.observation not in OBSERVATION_STREAMS}


def check_streams(extra_terms: Iterable[LossTerm], data: TrainingData) -> None:
    """Raise a :class:`~xdifferland.errors.DataError` before training for user terms that cannot
    take part: their built-in stream is absent, they are annual without whole years of
    monthly steps, or they observe a parameter map that cannot be used (converting the usable
    maps to their quantity's units, see :mod:`~xdifferland.training.parameter_maps`)."""
    problems = []
    from_variable = {stream: variable for variable, stream in STREAMS.items()}
    whole_years = data.delta_t == 30.0 and data.time.size % 12 == 0
    for term in extra_terms:
        if term.observation is not None and term.observation not in data.observations:
            source = from_variable.get(term.observation, term.observation)
            problems.append(Problem(
                source, f"the loss term {term.name!r} reads the stream {term.observation!r}, "
                "which the Dataset does not provide (no observed value).",
                f"add {source!r} to the Dataset, or leave the term out"))
        if getattr(term, "annual", False) and not whole_years:
            problems.append(Problem(
                term.observation, f"the annual loss term {term.name!r} needs whole years of "
                f"monthly steps; the data have {data.time.size} steps of {data.delta_t:g} days.",
                "use annual=False, or give whole years of monthly data"))
    problems.extend(prepare_parameter_maps(extra_terms, data))
    if problems:
        raise DataError(problems)


def mask_uncovered(extra_terms: Iterable[LossTerm], data: TrainingData,
                   coarse_ok: np.ndarray) -> None:
    """Leave patch-scale user streams out of patches with too little valid area (in place), as
    the batches do for the built-in coarse streams (``coverage_threshold``)."""
    covered = np.asarray(coarse_ok, float)[data.patch][None, :]
    for term in extra_terms:
        if getattr(term, "scale", "pixel") == "patch" and term.observation in data.observations:
            stream = data.observations[term.observation]
            stream["mask"] = stream["mask"] * covered


def stream_records(extra_terms: Iterable[LossTerm], ds: xr.Dataset,
                   data: TrainingData) -> dict[str, dict]:
    """What the model stores about each user stream (JSON): the term reading it, the modelled
    combination it is compared with (``None`` for a plain ``LossTerm``, which ``evaluate``
    cannot score), its scale, whether it is annual, its units and observed values."""
    records = {}
    for variable, name in stream_variables(extra_terms).items():
        term = next(t for t in extra_terms if t.name == name)
        record = term.record() if hasattr(term, "record") else {
            "term": name, "simulated": None, "scale": "pixel", "annual": False}
        units = ds[variable].attrs.get("units") if variable in ds else None
        record |= {"units": None if units is None else str(units),
                   "uncertainty": data.observations[variable]["uncertainty"] is not None,
                   "n_observed": int(data.observations[variable]["mask"].sum())}
        records[variable] = record
    return records


def recorded_streams(metadata: Mapping) -> dict[str, dict]:
    """The user streams a model records that ``evaluate`` can score: variable → record with a
    ``simulated`` combination (``{output: coefficient}``), ``scale`` and ``units``.

    Examples
    --------
    >>> recorded_streams({"streams": {"npp_obs": {"simulated": {"gpp": 1.0}, "scale": "pixel"},
    ...                               "x": {"simulated": None}}})
    {'npp_obs': {'simulated': {'gpp': 1.0}, 'scale': 'pixel'}}
    >>> recorded_streams({})  # a model without user streams, or saved before they were recorded
    {}
    """
    streams = metadata.get("streams") or {}
    return {v: dict(r) for v, r in streams.items()
            if isinstance(r, Mapping) and isinstance(r.get("simulated"), Mapping)}
