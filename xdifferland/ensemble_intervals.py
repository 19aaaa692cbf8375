"""Calibrated predictive intervals of an ensemble: member spread plus an observation-error model.

An ensemble's members disagree about what they were not constrained on, but even a perfect model
would miss each observation by its noise (and by the model's structural error, which the members
share). The predictive distribution of an observed stream ``s`` at one location and step is taken
as Gaussian,

.. math::

    y \\sim N\\bigl(\\bar m,\\; \\sigma^2_{members} + \\sigma^2_{s}\\bigr),

with ``m̄`` the ensemble mean, ``σ²_members`` the members' variance there (``ddof=1``), and
``σ²_s`` one observation-error variance per stream, estimated on the **dev** patches (held out
of training, never the test patches):

.. math::

    \\sigma^2_s = \\max\\bigl(\\overline{(y - \\bar m)^2}
                     - \\overline{\\sigma^2_{members}},\\; 0\\bigr).

With a ``level`` (the default, 0.9), the predictive sd is then multiplied by one factor per
stream chosen so that the dev interval covers ``level`` of the dev observations: it corrects what
one Gaussian variance per stream gets wrong at that level (heavy tails, errors that grow with the
value, members that disagree more than they err). It is close to 1 where the Gaussian model holds.

Why additive rather than an inflation factor of the spread alone: the residual of a few bootstrap
members is dominated by what they all share (observation noise, structural error), not by their
disagreement, and an inflated spread would give near-zero width wherever the members happen to
agree. Why dev rather than train: the training residuals are what the network was fitted to and
understate the error at locations it never saw; dev patches are unseen like the test patches.

Scores (:func:`interval_scores`): the fraction of held-out observations inside the central
``level`` interval (coverage), the mean continuous ranked probability score of the Gaussian
predictive distribution (closed form; lower is better, in the stream's units) and the mean
interval width. Pixel-scale streams only: coarse streams on grids (NBE, fire, water storage) are
observed as patch means and are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from .evaluation import SIMULATED_COUNTERPART, _warmup_steps
from .gaussian_scores import gaussian_crps, normal_quantile
from .simulation import prepare_dataset
from .training.data import COARSE_STREAMS

__all__ = ["ObservationError", "interval_scores", "member_predictions", "observation_error",
           "predict_interval"]


@dataclass(frozen=True)
class ObservationError:
    """Per-stream observation-error variances of an ensemble, and how they were estimated.

    ``variance[s]`` is ``σ²_s`` in the stream's squared units; ``residual_variance`` the mean
    squared residual of the ensemble mean and ``member_variance`` the mean member variance over
    the ``n`` observations of ``split`` they came from.
    """

    variance: Mapping[str, float]
    residual_variance: Mapping[str, float] = field(default_factory=dict)
    member_variance: Mapping[str, float] = field(default_factory=dict)
    n: Mapping[str, int] = field(default_factory=dict)
    split: str = "dev"
    #: factor on the predictive sd that makes the ``level`` interval cover ``level`` of the
    #: ``split`` observations (1 where no level was calibrated)
    scale: Mapping[str, float] = field(default_factory=dict)
    level: float | None = None

    def sd(self, stream: str) -> float:
        """Observation-error standard deviation of ``stream``."""
        return float(np.sqrt(self.variance[stream]))

    def predictive_sd(self, stream: str, member_variance):
        """``scale * sqrt(member variance + error variance)`` of ``stream``."""
        return self.scale.get(stream, 1.0) * np.sqrt(member_variance + self.variance[stream])

    def __repr__(self) -> str:
        parts = ", ".join(f"{s}: sd {self.sd(s):.4g}, scale {self.scale.get(s, 1.0):.3g} "
                          f"(n {self.n.get(s, 0)})" for s in self.variance)
        return f"<ObservationError on the {self.split} split: {parts}>"


def _as_ensemble(model):
    from .ensemble import Ensemble

    if isinstance(model, Ensemble):
        return model
    return Ensemble((model,), (0,), (0,), (0.0,), {})


def _scope(ensemble, ds, split):
    """Locations of ``split`` (a location is in it if it is for any member)."""
    from .ensemble import _MeanOfMembers

    return _MeanOfMembers(ensemble).split_mask(ds, split)


def member_predictions(ensemble, ds: xr.Dataset, split: str = "all", *,
                       streams=None, warmup_months: int = 24,
                       roles: Mapping[str, str] | None = None,
                       observation_mask: xr.DataArray | None = None,
                       plausibility=None) -> dict[str, tuple[xr.DataArray, xr.DataArray]]:
    """``{stream: (observed, simulated)}`` on the internal axes; simulated has a ``member`` dim.

    Observations are kept in ``split``, after the warm-up and inside ``observation_mask``;
    elsewhere NaN. ``streams`` defaults to every pixel-scale stream ``ds`` observes.
    """
    prepared = prepare_dataset(ds, roles, check=False)
    data, axes = prepared.data, prepared.axes
    gridded = {"lat", "lon"} <= set(prepared.spatial_dims)
    if streams is None:
        streams = [v for v in SIMULATED_COUNTERPART if v in data and "time" in data[v].dims
                   and not (gridded and v in COARSE_STREAMS)]
    else:
        unknown = [s for s in streams if s not in SIMULATED_COUNTERPART]
        if unknown:
            raise ValueError(f"streams {unknown}: no simulated counterpart; use any of "
                             f"{', '.join(SIMULATED_COUNTERPART)}")
    if not streams:
        raise ValueError("the Dataset has no pixel-scale observations to score; expected any of "
                         + ", ".join(v for v in SIMULATED_COUNTERPART if v not in COARSE_STREAMS))
    needed = sorted({o for s in streams for o in SIMULATED_COUNTERPART[s]})
    inside = axes.to_internal(_scope(ensemble, ds, split))
    runs = axes.to_internal(ensemble.simulate(ds, needed, roles=roles, plausibility=plausibility))
    warmup = _warmup_steps(warmup_months, prepared.time.delta_t)
    after = xr.DataArray(np.arange(data.sizes["time"]) >= warmup, dims="time",
                         coords={"time": data["time"]})
    keep = inside & after
    if observation_mask is not None:
        keep = keep & axes.to_internal(observation_mask).astype(bool)
    out = {}
    for stream in streams:
        if stream not in data:
            raise ValueError(f"stream {stream!r} is not observed in the Dataset")
        simulated = sum(runs[o] for o in SIMULATED_COUNTERPART[stream])
        out[stream] = (data[stream].where(keep), simulated)
    return out


def _moments(observed, simulated):
    """Flat observed values, ensemble means and member variances where all are finite."""
    n = simulated.sizes["member"]
    mean = simulated.mean("member")
    variance = simulated.var("member", ddof=1 if n > 1 else 0)
    y, m, v = (np.asarray(a.transpose(*observed.dims).values, np.float64).ravel()
               for a in (observed, mean, variance))
    ok = np.isfinite(y) & np.isfinite(m) & np.isfinite(v)
    return y[ok], m[ok], v[ok]


def observation_error(model, ds: xr.Dataset, *, split: str = "dev", level: float | None = 0.9,
                      streams=None, **kwargs) -> ObservationError:
    """Estimate each stream's observation-error variance on ``split`` (dev by default).

    The variance comes from the moments (mean squared residual minus mean member variance,
    floored at 0). With a ``level``, a factor on the predictive sd is then chosen so that the
    central ``level`` interval covers exactly ``level`` of the ``split`` observations: the
    ``level`` quantile of the standardized absolute residuals over the normal quantile. It
    corrects what one Gaussian variance per stream gets wrong at that level (heavy tails,
    errors that grow with the value, members that disagree more than they err); 1 means the
    moment model already covers as it should.

    Parameters
    ----------
    model : Ensemble or DifferLandModel
        A single model counts as a one-member ensemble (no member variance).
    ds : xarray.Dataset
        Data holding the ``split`` locations and their observations (the training Dataset).
    split : str, default "dev"
        Held-out locations to estimate on; never the test split you score on.
    level : float or None, default 0.9
        Interval level to calibrate the sd factor at; None keeps the moment model (factor 1).
    streams : sequence of str, optional
        Default: every pixel-scale stream of ``ds``.
    **kwargs
        ``warmup_months``, ``roles``, ``observation_mask``, ``plausibility`` as in
        :func:`~xdifferland.evaluation.evaluate`.

    Examples
    --------
    >>> from xdifferland.datasets import synthetic_world
    >>> ds, _ = synthetic_world(seed=0, n_years=3)
    >>> model = ds.differland.fit(epochs=1, predictors=["sand", "clay"], progress=False)
    >>> error = observation_error(model, ds)
    >>> error.split, "lai" in error.variance, error.sd("lai") > 0
    ('dev', True, True)
    """
    ensemble = _as_ensemble(model)
    if split == "test":
        raise ValueError("split='test': estimate the observation error on held-out data other "
                         "than the test split you score on, e.g. split='dev'")
    if level is not None and not 0.0 < float(level) < 1.0:
        raise ValueError(f"level={level!r}: use a probability between 0 and 1, e.g. 0.9")
    pairs = member_predictions(ensemble, ds, split, streams=streams, **kwargs)
    variance, residual, members, counts, scale = {}, {}, {}, {}, {}
    for stream, (observed, simulated) in pairs.items():
        y, m, v = _moments(observed, simulated)
        if y.size == 0:
            continue
        residual[stream] = float(np.mean((y - m) ** 2))
        members[stream] = float(np.mean(v))
        variance[stream] = max(residual[stream] - members[stream], 0.0)
        counts[stream] = int(y.size)
        sd = np.sqrt(v + variance[stream])
        if level is not None and np.all(sd > 0):
            standardized = np.abs(y - m) / sd
            scale[stream] = float(np.quantile(standardized, float(level))
                                  / normal_quantile(0.5 + float(level) / 2.0))
    if not variance:
        raise ValueError(f"the {split} split of this Dataset holds no observations to estimate "
                         "the observation error on (a site list is one patch, with no dev "
                         "split): pass observation_mask= to pick held-out steps, or another "
                         "split")
    return ObservationError(variance, residual, members, counts, split, scale,
                            None if level is None else float(level))


def _resolve_error(ensemble, ds, error, level, kwargs) -> ObservationError:
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
        sd = error.predictive_sd(stream, simulated.var("member", ddof=1 if n > 1 else 0))
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
        sd = error.predictive_sd(stream, v)
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
