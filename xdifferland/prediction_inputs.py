"""What a fitted model needs of data it predicts for: its predictors, encoded and scored.

A model applies to any Dataset that carries its predictors, using only what it stored at
training: class predictors (IGBP one-hot columns, ``woody``) are encoded from the classes it was
trained on, and each location gets an ``extrapolation`` score (how far its predictors lie beyond
the training range, in training standard deviations floored at a share of the plausible range),
with a warning naming the predictors and the furthest locations.
"""

from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np
import xarray as xr

from .training.batches import Standardization

__all__ = ["EXTRAPOLATION", "PREDICTION_SKIPS", "SCALE_FLOOR", "TOLERANCE", "ExtrapolationWarning",
           "check_range", "encode_categories", "extrapolation_scale", "extrapolation_score",
           "location_labels", "pixel_labels", "training_categories"]

EXTRAPOLATION = ("warn", "clip", "allow")
#: Validation checks skipped on data a model predicts for: a predictor constant over the new
#: locations is fine (the standardization is the model's); observations' coverage is irrelevant.
PREDICTION_SKIPS = ("overlap", "constant_predictors")


class ExtrapolationWarning(UserWarning):
    """Predictors of some locations lie outside the range the model was trained on."""


#: The least scale, as a share of a predictor's declared plausible range (or, for a predictor
#: the variable table does not declare, of its training range), that distances beyond the
#: training range are measured in. A predictor nearly constant in training (a cover fraction of
#: 1e-7 everywhere) has so small a standard deviation that any new value would lie "thousands of
#: standard deviations" away; 1 % of a fraction's 0-1 range is 0.01.
SCALE_FLOOR = 0.01
#: Distances (in :func:`extrapolation_scale` units) up to this are still interpolation.
TOLERANCE = 0.1


def _plausible_width(name: str) -> float:
    from .contract.declare import variable

    try:
        low, high = variable(name).plausible_range
    except KeyError:
        return np.nan
    return np.nan if low is None or high is None else float(high) - float(low)


def extrapolation_scale(standardization: Standardization) -> np.ndarray:
    """``(K,)``: the unit of distance beyond the training range of each predictor: its training
    standard deviation, but at least :data:`SCALE_FLOOR` of its declared plausible range (or of
    its training range where none is declared).

    Examples
    --------
    >>> from xdifferland.training.batches import Standardization
    >>> s = Standardization(("needleleaf_forest", "elevation"), mean=np.array([5e-8, 500.0]),
    ...                     std=np.array([4e-8, 300.0]), hemisphere_mean=0.5, hemisphere_std=0.5,
    ...                     lower=np.array([0.0, 0.0]), upper=np.array([1.3e-7, 2000.0]))
    >>> extrapolation_scale(s).tolist()
    [0.01, 300.0]
    """
    std = np.asarray(standardization.std, float)
    declared = np.array([_plausible_width(n) for n in standardization.names], float)
    trained = np.asarray(standardization.upper, float) - np.asarray(standardization.lower, float)
    floor = SCALE_FLOOR * np.where(np.isfinite(declared), declared, trained)
    return np.fmax(std, floor)


def _distances(standardization: Standardization, x: np.ndarray) -> np.ndarray:
    """``(P, K)``: each predictor's distance beyond the training range, in scale units (0 inside
    the range or where the scale is not finite)."""
    beyond = np.maximum(standardization.lower - x, x - standardization.upper)
    scale = extrapolation_scale(standardization)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(np.isfinite(scale) & (scale > 0), beyond / scale, 0.0)
    return np.clip(np.nan_to_num(score, nan=0.0), 0.0, None)


def extrapolation_score(standardization: Standardization, x: np.ndarray) -> np.ndarray:
    """``(P,)``: how far each location's predictors lie beyond the training range, in units of
    :func:`extrapolation_scale` (training standard deviations, floored at a share of the
    plausible range); the largest over the predictors; 0 inside the range, NaN for models
    saved before the range was recorded.

    Examples
    --------
    >>> from xdifferland.training.batches import Standardization
    >>> s = Standardization(("needleleaf_forest",), mean=np.array([5e-8]), std=np.array([4e-8]),
    ...                     hemisphere_mean=0.5, hemisphere_std=0.5, lower=np.array([0.0]),
    ...                     upper=np.array([1.3e-7]))
    >>> float(extrapolation_score(s, np.array([[2.6e-7]]))[0]) < 1e-4
    True
    >>> float(extrapolation_score(s, np.array([[0.05]]))[0])
    4.999987
    """
    if standardization.lower is None:
        return np.full(len(x), np.nan)
    return _distances(standardization, x).max(axis=1, initial=0.0)


def check_range(standardization: Standardization, x: np.ndarray, valid: np.ndarray,
                 extrapolation: str, labels: Sequence[str] | None = None) -> None:
    """Warn, naming each predictor, how many locations and how far, when ``x`` leaves the
    training range (by more than :data:`TOLERANCE` in :func:`extrapolation_scale` units)."""
    if extrapolation not in EXTRAPOLATION:
        raise ValueError(f"extrapolation={extrapolation!r}; choose one of {EXTRAPOLATION}")
    if extrapolation != "warn":
        return
    if standardization.lower is None:
        return
    outside = (_distances(standardization, x) > TOLERANCE) & valid[:, None]
    if not outside.any():
        return
    lines = []
    columns = np.flatnonzero(outside.any(axis=0))
    score = extrapolation_score(standardization, x)
    for k in columns[:5]:
        values, n = x[valid, k], int(outside[:, k].sum())
        lines.append(f"{standardization.names[k]}: {n} location{'s' * (n != 1)}, "
                     f"{values.min():.4g} to {values.max():.4g} vs trained "
                     f"{standardization.lower[k]:.4g} to {standardization.upper[k]:.4g}")
    if len(columns) > 5:
        lines.append(f"and {len(columns) - 5} more predictors")
    where = ""
    if labels is not None:
        worst = [i for i in np.argsort(-score) if outside[i].any()][:5]
        where = " Furthest: " + ", ".join(f"{labels[i]} ({score[i]:.2g})" for i in worst) + "."
    warnings.warn(
        f"{int(outside.any(axis=1).sum())} of {int(valid.sum())} locations have predictors "
        f"outside the training range (up to {np.nanmax(score[valid]):.3g} training standard "
        "deviations, or 1 % of a plausible range where that is more, beyond it; the result's "
        "'extrapolation' variable gives it per location), "
        "so their parameters are extrapolated by the network ("
        + "; ".join(lines) + ")." + where + " Pass extrapolation='clip' to hold them at the "
        "edge of the range, or extrapolation='allow' to silence this.", ExtrapolationWarning,
        stacklevel=3)


def training_categories(ds: xr.Dataset) -> dict[str, list[str]]:
    """The categories a Dataset's locations carry (its IGBP classes), stored in a fitted model
    so that prediction encodes new data the same way and reports classes it never saw."""
    if "igbp" not in ds.variables:
        return {}
    return {"igbp": sorted({str(c) for c in np.asarray(ds["igbp"].values).ravel()})}


def encode_categories(ds: xr.Dataset, predictors: Sequence[str],
                       categories: Mapping) -> tuple[xr.Dataset, list[str]]:
    """``ds`` with the model's predictors that are encodings of the IGBP class added where it
    lacks them (a one-hot PFT column no location has is all zero; ``woody``, ``forest``, ... as
    :func:`~xdifferland.experiments.loso.add_site_climate` derives them; the forcing's climate,
    :data:`~xdifferland.experiments.loso.FORCING_CLIMATE`, also without IGBP classes), and the
    IGBP classes of ``ds`` the model never saw in training."""
    missing = [p for p in predictors if p not in ds.variables]
    from .contract.declare import PREDICTOR_GROUPS
    from .experiments.loso import FORCING_CLIMATE, add_site_climate, forcing_climate
    from .experiments.sites import IGBP_TO_PFT

    added = {}
    from_forcing = set(missing) & set(FORCING_CLIMATE)
    if from_forcing and {"t_min", "t_max", "precipitation", "shortwave_radiation"} <= set(ds):
        climate = forcing_climate(ds)
        added |= {n: climate[n] for n in from_forcing}
    if "igbp" not in ds.variables:
        return (ds.assign(added) if added else ds), []
    classes = np.asarray(ds["igbp"].values).astype(str)
    dims = ds["igbp"].dims
    for name in missing:
        if name in PREDICTOR_GROUPS["PFT"]:
            onehot = np.vectorize(lambda c: IGBP_TO_PFT.get(c) == name, otypes=[float])(classes)
            added[name] = (dims, onehot, {"units": "1", "long_name": f"{name} (IGBP one-hot)"})
    derived = {"forest", "tree_cover", "woody", "evergreen"}
    if set(missing) & derived:
        climate = add_site_climate(ds)
        added |= {n: climate[n] for n in set(missing) & derived}
    seen = categories.get("igbp")
    unseen = sorted(set(classes.ravel()) - set(seen)) if seen is not None else []
    return (ds.assign(added) if added else ds), unseen




def location_labels(data) -> list[str] | None:
    """Names of a site list's training locations (None on a grid or for unnamed locations)."""
    if len(data.spatial_dims) != 1 or {"lat", "lon"} <= set(data.spatial_dims):
        return None
    index = data.pixel_index
    dim = data.spatial_dims[0]
    values = index[dim].values if dim in index.coords else index.values
    labels = [v[0] if isinstance(v, tuple) else v for v in np.asarray(values).tolist()]
    if not labels or len(labels) > 100_000 or not all(isinstance(v, str) for v in labels):
        return None
    return sorted(labels)


def pixel_labels(template: xr.DataArray, spatial) -> list[str] | None:
    """Names of a site list's locations, in stacked order (None on a grid)."""
    if len(spatial) != 1 or spatial[0] not in template.coords:
        return None
    return [str(v) for v in template[spatial[0]].values]
