"""What a fitted model needs of data it predicts for: its predictors, encoded and scored.

A model applies to any Dataset that carries its predictors, using only what it stored at
training: class predictors (IGBP one-hot columns, ``woody``) are encoded from the classes it was
trained on, and each location gets an ``extrapolation`` score (how far its predictors lie beyond
the training range, in training standard deviations), with a warning naming the predictors and
the furthest locations.
"""

from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np
import xarray as xr

from .training.batches import Standardization

__all__ = ["EXTRAPOLATION", "PREDICTION_SKIPS", "ExtrapolationWarning", "check_range",
           "encode_categories", "extrapolation_score", "location_labels", "pixel_labels",
           "training_categories"]

EXTRAPOLATION = ("warn", "clip", "allow")
#: Validation checks skipped on data a model predicts for: a predictor constant over the new
#: locations is fine (the standardization is the model's); observations' coverage is irrelevant.
PREDICTION_SKIPS = ("overlap", "constant_predictors")


class ExtrapolationWarning(UserWarning):
    """Predictors of some locations lie outside the range the model was trained on."""


def extrapolation_score(standardization: Standardization, x: np.ndarray) -> np.ndarray:
    """``(P,)``: how far each location's predictors lie beyond the training range, in training
    standard deviations (the largest over the predictors; 0 inside the range, NaN for models
    saved before the range was recorded)."""
    if standardization.lower is None:
        return np.full(len(x), np.nan)
    beyond = np.maximum(standardization.lower - x, x - standardization.upper)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(np.isfinite(standardization.std), beyond / standardization.std, 0.0)
    return np.clip(np.nan_to_num(score, nan=0.0), 0.0, None).max(axis=1, initial=0.0)


def check_range(standardization: Standardization, x: np.ndarray, valid: np.ndarray,
                 extrapolation: str, labels: Sequence[str] | None = None) -> None:
    """Warn, naming each predictor, how many locations and how far, when ``x`` leaves the
    training range (by more than 0.1 training standard deviations)."""
    if extrapolation not in EXTRAPOLATION:
        raise ValueError(f"extrapolation={extrapolation!r}; choose one of {EXTRAPOLATION}")
    if extrapolation != "warn":
        return
    outside = standardization.outside_range(x) & valid[:, None]
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
        "deviations beyond it; the result's 'extrapolation' variable gives it per location), "
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
