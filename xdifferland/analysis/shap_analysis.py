"""Kernel SHAP on the ensemble-averaged spatialization network (spec §11, paper Methods).

The explained function maps one pixel's raw predictors (the model's predictors in their units,
plus ``latitude`` in degrees) to the *mean over members* of a parameter or derived quantity. Each
member standardizes with its own training statistics and feeds the phenology head the hemisphere
input exactly as in training: ``sigmoid(latitude)``, standardized (the published script fed raw
latitude). ``labile_release_day`` (Bday) and ``leaf_fall_day`` (Fday) are taken modulo 365.25 per
member before averaging. Derived quantities are those of :data:`xdifferland.DERIVED`.

Sampling (fixing the published script's bugs, spec §12 item 17): the pixel pool is the chosen
split of the Dataset given (the training split by default), optionally restricted to pixels where
one PFT covers at least a threshold fraction -- the PFT mask is read from the same stacked pixels,
so it is aligned; 100 background and 1,000 explained pixels are drawn *without* replacement by a
seeded ``numpy.random.default_rng``.

Layers: :func:`ensemble_function` (numpy callable) → :func:`kernel_shap` (numpy, ``shap``) →
:func:`shap_values` (labeled) → :func:`shap_ranking` and :func:`functional_form`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..contract import handoff
from ..registry import (DAYS_PER_YEAR, DERIVED, PARAMETER_NAMES, PHENOLOGY_DAYS, derived,
                        resolve_name)
from ..simulation import prepare_dataset
from ..contract.declare import PREDICTOR_GROUPS

__all__ = [
    "LATITUDE",
    "ensemble_function",
    "functional_form",
    "kernel_shap",
    "shap_ranking",
    "shap_values",
]

#: Name of the extra feature holding latitude (degrees) for the phenology head.
LATITUDE = "latitude"


def _target_name(target: str) -> str:
    if target in DERIVED:
        return target
    try:
        return resolve_name(target)
    except KeyError:
        raise KeyError(f"unknown target {target!r}: use a parameter name or alias, or a derived "
                       f"quantity ({', '.join(DERIVED)})") from None


def ensemble_function(members: Sequence, target: str) -> Callable[[np.ndarray], np.ndarray]:
    """``f(X) -> (n,)``: the member-mean of ``target`` for raw feature rows ``X``.

    ``X`` has the members' predictors in order, then latitude in degrees. Each member sees
    its own standardization of the predictors and of ``sigmoid(latitude)``.
    """
    from ..model import _predict

    name = _target_name(target)
    members = list(members)
    predictors = members[0].predictors
    if any(m.predictors != predictors for m in members):
        raise ValueError("all members must use the same predictors in the same order")

    def member_value(model, x: np.ndarray) -> np.ndarray:
        hemisphere = 1.0 / (1.0 + np.exp(-x[:, -1]))
        z, zh = model.standardization.apply(x[:, :-1], hemisphere)
        p = _predict({k: v for k, v in model.weights.items()}, model.config.network,
                     jnp.asarray(z, jnp.float32), jnp.asarray(zh, jnp.float32))
        values = {n: np.asarray(v, float) for n, v in zip(PARAMETER_NAMES, p)}
        if name in DERIVED:
            return np.asarray(derived(name, values), float)
        value = values[name]
        return value % DAYS_PER_YEAR if name in PHENOLOGY_DAYS else value

    def f(x) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, float))
        return np.mean([member_value(m, x) for m in members], axis=0)

    return f


def kernel_shap(function: Callable, explain: np.ndarray, background: np.ndarray, *,
                nsamples="auto", seed: int = 0) -> tuple[np.ndarray, float]:
    """SHAP values ``(n_explain, n_features)`` and the base value, by ``shap.KernelExplainer``.

    Examples
    --------
    >>> f = lambda x: 2.0 * x[:, 0]  # the second feature is ignored
    >>> rng = np.random.default_rng(0)
    >>> values, base = kernel_shap(f, rng.normal(size=(3, 2)), rng.normal(size=(10, 2)))
    >>> bool(np.allclose(values[:, 1], 0.0, atol=1e-8))
    True
    """
    import shap

    state = np.random.get_state()  # shap samples coalitions with numpy's global RNG
    np.random.seed(seed)
    try:
        explainer = shap.KernelExplainer(function, np.asarray(background, float))
        values = explainer.shap_values(np.asarray(explain, float), nsamples=nsamples,
                                       silent=True)
    finally:
        np.random.set_state(state)
    base = float(np.ravel(explainer.expected_value)[0])
    return np.asarray(values, float).reshape(len(explain), -1), base


def _pool(ensemble, ds: xr.Dataset, pixels, pft: str | None, pft_threshold: float, roles):
    """Raw features, latitude/longitude of the pool pixels, aligned on one stacked index."""
    first = ensemble.members[0]
    prepared = prepare_dataset(ds, roles, check=False)
    data, spatial = prepared.data, prepared.spatial_dims
    if isinstance(pixels, str):
        inside = prepared.axes.to_internal(first.split_mask(ds, pixels, roles=roles))
    else:
        inside = prepared.valid & prepared.axes.to_internal(pixels).astype(bool)
    if pft is not None:
        if pft not in PREDICTOR_GROUPS["PFT"] or pft not in data:
            raise KeyError(f"pft={pft!r} is not a PFT cover variable of the Dataset "
                           f"({', '.join(n for n in PREDICTOR_GROUPS['PFT'] if n in data)})")
        inside = inside & (data[pft] >= pft_threshold)  # same grid, same stacking: aligned
    columns = [data[n].broadcast_like(inside) for n in first.predictors]
    columns.append(prepared.inputs["latitude"].broadcast_like(inside))
    table = xr.concat(columns, dim="feature").transpose(*spatial, "feature")
    stacked = handoff.stack_pixels(table, spatial).transpose("pixel", "feature")
    keep = handoff.stack_pixels(inside, spatial).values.astype(bool)
    keep &= np.isfinite(stacked.values).all(axis=1)
    if not keep.any():
        raise ValueError("no pixel left to explain: check the split, the PFT condition "
                         f"({pft} >= {pft_threshold}) and the predictors for NaN")
    return stacked.values[keep], stacked["pixel"].values[keep], spatial


def shap_values(ensemble, ds: xr.Dataset, target: str, *, n_background: int = 100,
                n_explain: int = 1000, seed: int = 0, pixels="train", pft: str | None = None,
                pft_threshold: float = 0.8, nsamples="auto", roles=None) -> xr.Dataset:
    """Kernel SHAP values of the ensemble-mean ``target`` at sampled pixels.

    Parameters
    ----------
    ensemble : Ensemble or DifferLandModel
        A single model is treated as a one-member ensemble.
    ds : xarray.Dataset
        Predictors (and coordinates) of the pixels to sample.
    target : str
        A parameter (name or published alias, e.g. ``"Bday"``) or a derived quantity
        (``"effective_q10"``, ``"carbon_use_efficiency"``, ...).
    n_background, n_explain : int, default 100, 1000
        Background and explained pixels, each drawn without replacement (fewer if the pool is
        smaller).
    seed : int, default 0
        Seeds the draws and shap's coalition sampling.
    pixels : str or bool DataArray, default "train"
        Pool: a split of the ensemble ("train", "dev", "test", "all") or a mask.
    pft, pft_threshold : str, float
        Restrict the pool to pixels where this PFT covers at least ``pft_threshold`` (0-1).
    nsamples : int or "auto"
        Coalitions per explained pixel (shap's default "auto" is ``2 M + 2048``).

    Returns
    -------
    xarray.Dataset
        ``shap`` (sample, predictor), ``feature_value`` (sample, predictor), ``prediction``
        (sample), ``base_value``, and the pixel coordinates of each sample; ``shap`` rows sum
        to ``prediction - base_value``.
    """
    members = getattr(ensemble, "members", (ensemble,))
    features, index, spatial = _pool(_Members(members), ds, pixels, pft, pft_threshold, roles)
    rng = np.random.default_rng(seed)
    n = len(features)
    explain = rng.choice(n, size=min(n_explain, n), replace=False)
    background = rng.choice(n, size=min(n_background, n), replace=False)
    function = ensemble_function(members, target)
    values, base = kernel_shap(function, features[explain], features[background],
                               nsamples=nsamples, seed=seed)
    names = list(members[0].predictors) + [LATITUDE]
    coords = {"predictor": names, "sample": np.arange(len(explain))}
    locations = index[explain]
    for k, dim in enumerate(spatial):
        coords[f"{dim}_of_sample"] = ("sample", np.array([loc[k] for loc in locations]))
    out = xr.Dataset({
        "shap": (("sample", "predictor"), values),
        "feature_value": (("sample", "predictor"), features[explain]),
        "prediction": ("sample", function(features[explain])),
        "base_value": base}, coords=coords)
    out.attrs.update(target=_target_name(target), n_background=len(background), seed=seed,
                     members=len(members), pool=str(pixels) if isinstance(pixels, str) else "mask",
                     pft=pft or "", pft_threshold=pft_threshold if pft else np.nan)
    return out


class _Members:
    def __init__(self, members):
        self.members = tuple(members)


def shap_ranking(result: xr.Dataset) -> xr.DataArray:
    """Mean |SHAP| per predictor, largest first, with its share of the total.

    Examples
    --------
    >>> res = xr.Dataset({"shap": (("sample", "predictor"), [[1.0, -3.0], [-1.0, 1.0]])},
    ...                  coords={"predictor": ["a", "b"]})
    >>> rank = shap_ranking(res)
    >>> rank.predictor.values.tolist(), rank.values.tolist(), rank.share.values.tolist()
    (['b', 'a'], [2.0, 1.0], [0.6666666666666666, 0.3333333333333333])
    """
    importance = np.abs(result["shap"]).mean("sample")
    order = np.argsort(-importance.values, kind="stable")
    ranked = importance.isel(predictor=order)
    ranked = ranked.assign_coords(share=("predictor", (ranked / ranked.sum()).values))
    ranked.name = "mean_abs_shap"
    return ranked


def functional_form(result: xr.Dataset, predictor: str, *, degree: int = 4, alpha: float = 0.5,
                    n_points: int = 100) -> xr.Dataset:
    """Ridge fit (α = 0.5) of a 4th-degree polynomial of SHAP value against feature value.

    The feature is z-scored over the samples before the polynomial expansion (so the ridge
    penalty does not depend on its units); the fitted curve is returned on a grid spanning the
    sampled values, with the fit's R².

    Examples
    --------
    >>> x = np.linspace(-2, 2, 50)
    >>> res = xr.Dataset({"shap": (("sample", "predictor"), (x ** 2)[:, None]),
    ...                   "feature_value": (("sample", "predictor"), x[:, None])},
    ...                  coords={"predictor": ["a"]})
    >>> fit = functional_form(res, "a")
    >>> bool(fit.r2 > 0.99), fit.curve.dims
    (True, ('grid',))
    """
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import PolynomialFeatures

    x = result["feature_value"].sel(predictor=predictor).values.astype(float)
    y = result["shap"].sel(predictor=predictor).values.astype(float)
    mean, std = x.mean(), x.std() or 1.0
    expand = PolynomialFeatures(degree, include_bias=False)
    design = expand.fit_transform(((x - mean) / std)[:, None])
    ridge = Ridge(alpha=alpha).fit(design, y)
    grid = np.linspace(x.min(), x.max(), n_points)
    curve = ridge.predict(expand.transform(((grid - mean) / std)[:, None]))
    return xr.Dataset({"curve": ("grid", curve), "coefficients": ("power", ridge.coef_),
                       "intercept": float(ridge.intercept_),
                       "r2": float(ridge.score(design, y))},
                      coords={"grid": grid, "power": np.arange(1, degree + 1)},
                      attrs={"predictor": predictor, "degree": degree, "alpha": alpha,
                             "feature_scaling": f"z = (x - {mean:.6g}) / {std:.6g}"})
