"""Calibrated predictive intervals of an ensemble, their coverage of held-out data and the CRPS.

The interval of a stream is the ensemble mean plus or minus the normal quantile times a
predictive sd that combines the members' variance with an observation-error model estimated on
the dev patches (:mod:`xdifferland.interval_error`, which explains the model and its choices).

Scores (:func:`interval_scores`): the fraction of held-out observations inside the central
``level`` interval (coverage), the mean continuous ranked probability score of the Gaussian
predictive distribution (closed form; lower is better, in the stream's units) and the mean
interval width. Pixel-scale streams only: coarse streams on grids (NBE, fire, water storage) are
observed as patch means and are left out.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

from .evaluation import SIMULATED_COUNTERPART
from .gaussian_scores import gaussian_crps, normal_quantile
from .interval_error import (ObservationError, _as_ensemble, _moments, member_predictions,
                             observation_error)
from .simulation import prepare_dataset

__all__ = ["ObservationError", "interval_scores", "member_predictions", "observation_error",
           "predict_interval"]

#: key of an ensemble's ``info`` holding the error model :meth:`IntervalMethods.with_interval_error`
#: keeps
SAVED_ERROR = "observation_error"


def _resolve_error(ensemble, ds, error, level, kwargs) -> ObservationError:
    saved = getattr(ensemble, "info", {}).get(SAVED_ERROR)
    if error is None and saved is not None:  # estimated on the fit's dev data, kept with it
        return ObservationError.from_dict(saved)
    if error is None:
        return observation_error(ensemble, ds, level=level, **{
            k: v for k, v in kwargs.items() if k != "observation_mask"})
    if not isinstance(error, ObservationError):
        raise TypeError(f"error={type(error).__name__}: pass an ObservationError from "
                        "observation_error(ensemble, training_ds)")
    return error


def predict_interval(model, ds: xr.Dataset, level: float = 0.9, *,
                     error: ObservationError | None = None, streams=None,
                     **kwargs) -> xr.Dataset:
    """Central ``level`` predictive interval of every observed stream at every location and step.

    Parameters
    ----------
    model : Ensemble or DifferLandModel
    ds : xarray.Dataset
        Forcing and predictors (observations are not needed where ``error`` is given).
    level : float, default 0.9
    error : ObservationError, optional
        Default: estimated on the dev patches of ``ds`` (:func:`observation_error`); pass one
        estimated on the training data to predict new locations.
    streams : sequence of str, optional
        Default: the streams of ``error``.
    **kwargs
        ``warmup_months``, ``roles``, ``plausibility``.

    Returns
    -------
    xarray.Dataset
        Per stream ``s``: ``s`` (ensemble mean), ``s_sd`` (predictive sd), ``s_lower``,
        ``s_upper``; attributes ``level`` and the observation-error sd per stream.
    """
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level={level!r}: use a probability between 0 and 1, e.g. 0.9")
    ensemble = _as_ensemble(model)
    error = _resolve_error(ensemble, ds, error, level, kwargs)
    streams = list(streams) if streams is not None else list(error.variance)
    missing = [s for s in streams if s not in error.variance]
    if missing:
        raise ValueError(f"streams {missing} have no observation-error estimate; estimated: "
                         f"{sorted(error.variance)}")
    needed = sorted({o for s in streams for o in SIMULATED_COUNTERPART[s]})
    runs = ensemble.simulate(ds, needed, roles=kwargs.get("roles"),
                             plausibility=kwargs.get("plausibility"))
    half = normal_quantile(0.5 + float(level) / 2.0)
    out = {}
    for stream in streams:
        simulated = sum(runs[o] for o in SIMULATED_COUNTERPART[stream])
        n = simulated.sizes["member"]
        mean = simulated.mean("member")
        sd = error.predictive_sd(stream, simulated.var("member", ddof=1 if n > 1 else 0),
                                 mean)
        units = runs[SIMULATED_COUNTERPART[stream][0]].attrs.get("units", "")
        out[stream] = mean.assign_attrs(units=units, long_name=f"ensemble mean of {stream}")
        out[f"{stream}_sd"] = sd.assign_attrs(units=units,
                                              long_name=f"predictive standard deviation of "
                                                        f"{stream} (members and observation)")
        for bound, sign in (("lower", -1.0), ("upper", 1.0)):
            out[f"{stream}_{bound}"] = (mean + sign * half * sd).assign_attrs(
                units=units, long_name=f"{bound} end of the central {level:.0%} interval")
    result = xr.Dataset(out)
    result.attrs.update(level=float(level), error_split=error.split,
                        observation_error_sd=", ".join(f"{s}={error.sd(s):.4g}"
                                                       for s in streams))
    return result


def interval_scores(model, ds: xr.Dataset, split: str = "test", level: float = 0.9, *,
                    error: ObservationError | None = None, streams=None,
                    **kwargs) -> xr.Dataset:
    """Coverage of held-out observations by the ``level`` interval, and the mean CRPS, per stream.

    Parameters
    ----------
    model : Ensemble or DifferLandModel
    ds : xarray.Dataset
        Observations to score (and, without ``error``, the dev patches to estimate it on).
    split : str, default "test"
    level : float, default 0.9
    error : ObservationError, optional
        Default: :func:`observation_error` on the dev split of ``ds``.
    streams : sequence of str, optional
        Default: the streams of ``error`` that ``ds`` observes.
    **kwargs
        ``warmup_months``, ``roles``, ``observation_mask``, ``plausibility``; the mask
        applies to the scored observations only.

    Returns
    -------
    xarray.Dataset
        Over ``variable``: ``coverage``, ``crps``, ``interval_width``, ``observation_error_sd``,
        ``member_sd`` (root mean member variance) and ``n_observations``.

    Examples
    --------
    >>> from xdifferland.datasets import synthetic_world
    >>> ds, _ = synthetic_world(seed=0, n_years=3)
    >>> model = ds.differland.fit(epochs=1, predictors=["sand", "clay"], progress=False)
    >>> scores = interval_scores(model, ds, "test", 0.9, streams=["lai"])
    >>> 0.0 <= float(scores["coverage"].sel(variable="lai")) <= 1.0
    True
    """
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level={level!r}: use a probability between 0 and 1, e.g. 0.9")
    ensemble = _as_ensemble(model)
    error = _resolve_error(ensemble, ds, error, level, kwargs)
    prepared = prepare_dataset(ds, kwargs.get("roles"), check=False)
    if streams is None:
        streams = [s for s in error.variance if s in prepared.data]
    pairs = member_predictions(ensemble, ds, split, streams=streams, **kwargs)
    half = normal_quantile(0.5 + float(level) / 2.0)
    rows = {k: [] for k in ("coverage", "crps", "interval_width", "observation_error_sd",
                            "member_sd", "n_observations")}
    for stream, (observed, simulated) in pairs.items():
        y, m, v = _moments(observed, simulated)
        sd = error.predictive_sd(stream, v, m)
        empty = y.size == 0
        rows["coverage"].append(np.nan if empty else float(np.mean(np.abs(y - m) <= half * sd)))
        rows["crps"].append(np.nan if empty else float(np.mean(gaussian_crps(y, m, sd))))
        rows["interval_width"].append(np.nan if empty else float(np.mean(2 * half * sd)))
        rows["observation_error_sd"].append(error.sd(stream))
        rows["member_sd"].append(np.nan if empty else float(np.sqrt(np.mean(v))))
        rows["n_observations"].append(int(y.size))
    out = xr.Dataset({k: ("variable", v) for k, v in rows.items()},
                     coords={"variable": list(pairs)})
    out["coverage"].attrs = {"long_name": f"fraction of observations inside the central "
                                          f"{level:.0%} predictive interval", "units": "1"}
    out["crps"].attrs = {"long_name": "mean continuous ranked probability score (Gaussian), "
                                      "in the variable's units"}
    out["interval_width"].attrs = {"long_name": "mean interval width, in the variable's units"}
    out["observation_error_sd"].attrs = {"long_name": f"observation-error sd estimated on the "
                                                      f"{error.split} split"}
    out["member_sd"].attrs = {"long_name": "root mean member variance"}
    out.attrs.update(split=split, level=float(level), error_split=error.split)
    return out


class IntervalMethods:
    """:class:`~xdifferland.ensemble.Ensemble` methods of this module."""

    def with_interval_error(self, error: ObservationError):
        """This ensemble keeping ``error`` (e.g. ``ens.observation_error(training_ds)``): its
        intervals then use it wherever no ``error=`` is given, on new locations too, and
        :meth:`save` writes it with the members.

        Examples
        --------
        >>> from xdifferland import fit_ensemble
        >>> from xdifferland.datasets import synthetic_world
        >>> ds, _ = synthetic_world(seed=0, n_years=3)
        >>> ens = fit_ensemble(ds, 2, client="synchronous", epochs=1, progress=False,
        ...                    predictors=["sand", "clay"])
        >>> ens = ens.with_interval_error(ens.observation_error(ds, streams=["lai"]))
        >>> "lai_sd" in ens.predict_interval(ds.isel(lat=slice(0, 4)), streams=["lai"])
        True
        """
        if not isinstance(error, ObservationError):
            raise TypeError(f"error={type(error).__name__}: pass an ObservationError from "
                            "ens.observation_error(training_ds)")
        return dataclasses.replace(self, info={**dict(self.info), SAVED_ERROR: error.to_dict()})

    def observation_error(self, ds: xr.Dataset, **kwargs) -> ObservationError:
        """Per-stream observation error on the dev patches; see :func:`observation_error`."""
        return observation_error(self, ds, **kwargs)

    def predict_interval(self, ds: xr.Dataset, level: float = 0.9, **kwargs) -> xr.Dataset:
        """Predictive intervals of the observed streams; see :func:`predict_interval`."""
        return predict_interval(self, ds, level, **kwargs)

    def interval_scores(self, ds: xr.Dataset, split: str = "test", level: float = 0.9,
                        **kwargs) -> xr.Dataset:
        """Coverage and CRPS of held-out observations; see :func:`interval_scores`."""
        return interval_scores(self, ds, split, level, **kwargs)
