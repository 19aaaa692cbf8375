"""The observation-error model of an ensemble's predictive intervals, estimated on held-out data.

The predictive distribution of an observed stream ``s`` at one location and step is taken as
Gaussian,

.. math::

    y \\sim N\\bigl(\\bar m,\\; c_{s,k}^2\\,(\\sigma^2_{members} + \\sigma^2_{s,k})\\bigr),

with ``m̄`` the ensemble mean, ``σ²_members`` the members' variance there (``ddof=1``), and
``σ²_{s,k}`` an observation-error variance per stream and per **value class** ``k`` of the
ensemble mean (quantile bins of ``m̄``), estimated on the **dev** patches (held out of training,
never the test patches) as the mean squared residual minus the mean member variance, floored at
0. With a ``level``, ``c_{s,k}`` is the factor that makes the class's dev interval cover
``level`` of its dev observations (the ``level`` quantile of the standardized absolute residuals
over the normal quantile): it corrects what a Gaussian gets wrong at that level (heavy tails,
members that disagree more than they err).

Why value classes: errors grow with the value. A stream's residual sd on the twin world is
0.5 at bare pixels (mean LAI < 0.5) and 1.5-2.7 under dense canopies; one variance per stream is
too wide at the first and too narrow at the second, so its coverage of new places depends on
how many of each they hold (the test patches of the twin hold three times the dev patches'
share of bare pixels). The default of two classes (below and above the dev median) was chosen
by leave-one-dev-patch-out cross-validation on the twin world among 1, 2, 3, 5, 8, 10 and 20
classes: it had the lowest mean CRPS and coverage error over LAI, SIF and ET, while more classes
follow the few dev patches too closely (``python benchmarks/interval_classes.py``). A class
keeps at least ``MIN_PER_CLASS`` observations, so its quantile is stable (the binomial error of
a 90 % quantile from 500 draws is 1.3 points of coverage); smaller dev sets use one class.

Why additive rather than an inflation factor of the spread alone: the residual of a few bootstrap
members is dominated by what they all share (observation noise, structural error), not by their
disagreement, and an inflated spread would give near-zero width wherever the members happen to
agree. Why dev rather than train: the training residuals are what the network was fitted to and
understate the error at locations it never saw; dev patches are unseen like the test patches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from .evaluation import SIMULATED_COUNTERPART, _warmup_steps
from .gaussian_scores import normal_quantile
from .simulation import prepare_dataset
from .training.data import COARSE_STREAMS

__all__ = ["MIN_PER_CLASS", "ObservationError", "member_predictions", "observation_error",
           "stream_error"]

#: fewest dev observations per value class of the error model
MIN_PER_CLASS = 500


@dataclass(frozen=True)
class ObservationError:
    """Per-stream observation-error variances of an ensemble, and how they were estimated.

    ``variance[s]`` is ``σ²_s`` over all values, in the stream's squared units;
    ``residual_variance`` the mean squared residual of the ensemble mean and
    ``member_variance`` the mean member variance over the ``n`` observations of ``split`` they
    came from. With value classes, ``edges[s]`` are the inner class edges on the ensemble mean
    and ``class_variance[s]`` / ``class_scale[s]`` the variance and coverage factor of each
    class; the predictive sd then uses the class of each prediction.
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
    edges: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    class_variance: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    class_scale: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    @classmethod
    def from_streams(cls, models: Mapping[str, dict], split: str = "dev",
                     level: float | None = None) -> ObservationError:
        """Collect per-stream models of :func:`stream_error` (``{stream: fields}``)."""
        def of(key):
            return {s: model[key] for s, model in models.items() if key in model}

        return cls(of("variance"), of("residual"), of("members"), of("n"), split, of("scale"),
                   None if level is None else float(level), of("edges"),
                   of("class_variance"), of("class_scale"))

    def to_dict(self) -> dict:
        """JSON-compatible form, saved with an ensemble (:meth:`from_dict` reads it)."""
        def plain(mapping):
            return {s: list(v) if isinstance(v, tuple) else v for s, v in mapping.items()}

        return {"split": self.split, "level": self.level, "variance": plain(self.variance),
                "residual_variance": plain(self.residual_variance),
                "member_variance": plain(self.member_variance), "n": plain(self.n),
                "scale": plain(self.scale), "edges": plain(self.edges),
                "class_variance": plain(self.class_variance),
                "class_scale": plain(self.class_scale)}

    @classmethod
    def from_dict(cls, d: Mapping) -> ObservationError:
        """The error model of :meth:`to_dict`, every value checked first (a file can be edited
        or damaged); a :class:`ValueError` lists what is wrong."""
        problems = []

        lowest = {"any": -np.inf, "non-negative": 0.0, "positive": np.nextafter(0.0, 1.0)}

        def numbers(key, kind="non-negative", many=False):
            table = d.get(key, {})
            if not isinstance(table, Mapping):
                problems.append(f"{key!r} is not a mapping of stream names")
                return {}
            out = {}
            for stream, value in table.items():
                values = value if many else [value]
                if not (isinstance(values, list) and all(
                        isinstance(v, (int, float)) and not isinstance(v, bool)
                        and np.isfinite(v) and v >= lowest[kind] for v in values)):
                    problems.append(f"{key}[{stream!r}] = {value!r} is not "
                                    f"{'a list of ' if many else ''}{kind} finite number(s)")
                    continue
                out[str(stream)] = tuple(float(v) for v in values) if many else values[0]
            return out

        if not isinstance(d, Mapping):
            raise ValueError(f"an observation-error model is a JSON object, not {type(d).__name__}")
        fields = {k: numbers(k) for k in ("variance", "residual_variance", "member_variance")}
        fields["n"] = {s: int(v) for s, v in numbers("n").items()}
        fields["scale"] = numbers("scale", "positive")
        edges = numbers("edges", "any", many=True)
        class_variance = numbers("class_variance", many=True)
        class_scale = numbers("class_scale", "positive", many=True)
        for stream, e in edges.items():
            if list(e) != sorted(e) or len(class_variance.get(stream, ())) != len(e) + 1 or (
                    stream in class_scale and len(class_scale[stream]) != len(e) + 1):
                problems.append(f"the value classes of {stream!r} do not match: {len(e)} "
                                "increasing edges need one variance (and factor) more")
        missing = sorted((set(edges) | set(class_variance)) - set(fields["variance"]))
        if missing:
            problems.append(f"streams {missing} have classes but no variance")
        level = d.get("level")
        if level is not None and not (isinstance(level, (int, float)) and 0 < level < 1):
            problems.append(f"level = {level!r} is not a probability")
        if not isinstance(d.get("split", "dev"), str):
            problems.append("'split' is not a string")
        if problems:
            raise ValueError("damaged observation-error model: " + "; ".join(problems))
        return cls(fields["variance"], fields["residual_variance"], fields["member_variance"],
                   fields["n"], d.get("split", "dev"), fields["scale"], level, edges,
                   class_variance, class_scale)

    def sd(self, stream: str) -> float:
        """Observation-error standard deviation of ``stream`` over all values."""
        return float(np.sqrt(self.variance[stream]))

    def classes(self, stream: str) -> int:
        """Number of value classes of ``stream`` (1: one variance for all values)."""
        return len(self.class_variance.get(stream, ())) or 1

    def predictive_sd(self, stream: str, member_variance, mean=None):
        """``scale * sqrt(member variance + error variance)`` of ``stream``.

        With value classes, ``mean`` (the ensemble mean, same shape) picks each prediction's
        class; without ``mean`` the all-values variance and factor are used.
        """
        if mean is None or self.classes(stream) == 1:
            return self.scale.get(stream, 1.0) * np.sqrt(member_variance
                                                         + self.variance[stream])
        edges = np.asarray(self.edges[stream], np.float64)
        variance = np.asarray(self.class_variance[stream], np.float64)
        scale = np.asarray(self.class_scale.get(stream, (1.0,) * variance.size), np.float64)

        def by_class(m, v):
            k = np.searchsorted(edges, m, side="right")
            return scale[k] * np.sqrt(v + variance[k])

        if isinstance(mean, xr.DataArray):
            return xr.apply_ufunc(by_class, mean, member_variance, dask="parallelized",
                                  output_dtypes=[np.float64])
        return by_class(np.asarray(mean, np.float64), np.asarray(member_variance, np.float64))

    def __repr__(self) -> str:
        parts = ", ".join(f"{s}: sd {self.sd(s):.4g}, scale {self.scale.get(s, 1.0):.3g}, "
                          f"{self.classes(s)} classes (n {self.n.get(s, 0)})"
                          for s in self.variance)
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


def _class_edges(mean: np.ndarray, classes: int) -> np.ndarray:
    """Inner edges of up to ``classes`` quantile classes of ``mean`` with at least
    :data:`MIN_PER_CLASS` values each (repeated quantiles merge classes)."""
    k = max(1, min(int(classes), mean.size // MIN_PER_CLASS))
    return np.unique(np.quantile(mean, np.linspace(0.0, 1.0, k + 1)[1:-1]))


def _error_variance(y, m, v) -> float:
    return max(float(np.mean((y - m) ** 2) - np.mean(v)), 0.0)


def _coverage_factor(y, m, sd, level: float) -> float:
    """Factor on ``sd`` whose central ``level`` interval covers ``level`` of ``y``."""
    if not np.all(sd > 0):
        return 1.0
    return float(np.quantile(np.abs(y - m) / sd, level) / normal_quantile(0.5 + level / 2.0))


def stream_error(y, m, v, level: float | None, classes: int) -> dict:
    """The error model of one stream from flat observations ``y``, ensemble means ``m`` and
    member variances ``v``: the fields of :class:`ObservationError` for that stream.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> m = rng.uniform(0.0, 6.0, 4000)
    >>> y = m + (0.1 + 0.5 * m) * rng.standard_normal(m.size)  # errors grow with the value
    >>> model = stream_error(y, m, np.zeros_like(m), 0.9, classes=2)
    >>> model["n"], len(model["class_variance"])
    (4000, 2)
    >>> model["class_variance"][1] > 4 * model["class_variance"][0]
    True
    >>> error = ObservationError.from_streams({"lai": model}, level=0.9)
    >>> error.classes("lai")
    2
    """
    out = {"residual": float(np.mean((y - m) ** 2)), "members": float(np.mean(v)),
           "variance": _error_variance(y, m, v), "n": int(y.size)}
    if level is not None:
        out["scale"] = _coverage_factor(y, m, np.sqrt(v + out["variance"]), float(level))
    edges = _class_edges(m, classes)
    if edges.size:
        k = np.searchsorted(edges, m, side="right")
        groups = [k == c for c in range(edges.size + 1)]
        out["edges"] = tuple(float(e) for e in edges)
        out["class_variance"] = tuple(_error_variance(y[g], m[g], v[g]) for g in groups)
        if level is not None:
            out["class_scale"] = tuple(
                _coverage_factor(y[g], m[g], np.sqrt(v[g] + s2), float(level))
                for g, s2 in zip(groups, out["class_variance"]))
    return out


def observation_error(model, ds: xr.Dataset, *, split: str = "dev", level: float | None = 0.9,
                      classes: int = 2, streams=None, **kwargs) -> ObservationError:
    """Estimate each stream's observation-error model on ``split`` (dev by default).

    Per stream and per value class of the ensemble mean (quantile classes, see the module
    notes), the variance comes from the moments (mean squared residual minus mean member
    variance, floored at 0). With a ``level``, a factor on the predictive sd is then chosen per
    class so that the central ``level`` interval covers exactly ``level`` of the class's
    ``split`` observations. The all-values variance and factor are kept for reporting.

    Parameters
    ----------
    model : Ensemble or DifferLandModel
        A single model counts as a one-member ensemble (no member variance).
    ds : xarray.Dataset
        Data holding the ``split`` locations and their observations (the training Dataset).
    split : str, default "dev"
        Held-out locations to estimate on; never the test split you score on.
    level : float or None, default 0.9
        Interval level to calibrate the sd factors at; None keeps the moment model (factor 1).
    classes : int, default 2
        Value classes of the ensemble mean (quantile classes, two: below and above the median);
        fewer where the split holds fewer than ``classes * MIN_PER_CLASS`` observations of a
        stream; 1 is one variance per stream.
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
    if int(classes) < 1:
        raise ValueError(f"classes={classes!r}: use 1 (one variance per stream) or more")
    pairs = member_predictions(ensemble, ds, split, streams=streams, **kwargs)
    models = {}
    for stream, (observed, simulated) in pairs.items():
        y, m, v = _moments(observed, simulated)
        if y.size:
            models[stream] = stream_error(y, m, v, level, classes)
    if not models:
        raise ValueError(f"the {split} split of this Dataset holds no observations to estimate "
                         "the observation error on (a site list is one patch, with no dev "
                         "split): pass observation_mask= to pick held-out steps, or another "
                         "split")
    return ObservationError.from_streams(models, split, level)
