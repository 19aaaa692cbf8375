"""Principal components of parameter maps (standardized over pixels).

The parameters are stacked into a (pixel, parameter) matrix over the pixels where all of them are
defined, each column is standardized (z-score over pixels), and the matrix is decomposed by SVD.
Components are signed so that their largest loading is positive (deterministic output).

Layers: :func:`pca_matrix` (numpy) → :func:`parameter_pca` (labeled maps).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..parameters import parameter_variables

__all__ = ["parameter_pca", "pca_matrix"]


def pca_matrix(x, n_components: int | None = None, names: Sequence[str] | None = None):
    """PCA of the columns of ``x`` (samples × variables) after standardizing each column.

    Returns ``(explained_variance_ratio, loadings (component, variable), scores (sample,
    component))``. ``names`` label the columns in the error about a constant one.

    Raises
    ------
    ValueError
        Naming every column that is constant (it has no spread to standardize by).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.standard_normal(200)
    >>> ratio, loadings, scores = pca_matrix(np.c_[a, 2 * a + 0.01 * rng.standard_normal(200)])
    >>> round(float(ratio[0]), 3)
    1.0
    """
    x = np.asarray(x, float)
    std = x.std(axis=0)
    if np.any(std == 0):
        labels = list(names) if names is not None else [f"column {i}" for i in range(x.shape[1])]
        constant = [labels[i] for i in np.flatnonzero(std == 0)]
        raise ValueError(
            f"{', '.join(map(repr, constant))} {'is' if len(constant) == 1 else 'are'} constant "
            f"over the pixels and cannot be standardized; leave "
            f"{'it' if len(constant) == 1 else 'them'} out (for parameter_pca(p): names=[n for n "
            f"in xdifferland.parameters.parameter_variables(p) if n not in {constant!r}])")
    z = (x - x.mean(axis=0)) / std
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    k = min(n_components or len(s), len(s))
    ratio = s ** 2 / np.sum(s ** 2)
    signs = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])
    vt = vt * signs[:, None]
    return ratio[:k], vt[:k], z @ vt[:k].T


def parameter_pca(parameters: xr.Dataset, names: Sequence[str] | None = None, *,
                  n_components: int = 3) -> xr.Dataset:
    """PCA of parameter maps: explained-variance ratios, loadings and PC maps.

    Parameters
    ----------
    parameters : xarray.Dataset
        Parameter maps over spatial dims only (average a ``member`` dim first, e.g. with
        :meth:`Ensemble.mean <xdifferland.ensemble.Ensemble.mean>`).
    names : sequence of str, optional
        Parameters to use (default: the model parameters among the data variables, see
        :func:`~xdifferland.parameters.parameter_variables`, so an ``extrapolation`` score is
        left out); they must vary over space.
    n_components : int, default 3

    Returns
    -------
    xarray.Dataset
        ``explained_variance_ratio`` (component), ``loadings`` (component, parameter) and
        ``scores`` (component, *spatial) maps, NaN where a parameter is missing.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> a = rng.standard_normal((5, 6))
    >>> p = xr.Dataset({"x": (("lat", "lon"), a), "y": (("lat", "lon"), -a + 0.1),
    ...                 "z": (("lat", "lon"), rng.standard_normal((5, 6)))})
    >>> res = parameter_pca(p, n_components=2)
    >>> res.scores.dims, res.sizes["component"], bool(res.explained_variance_ratio[0] > 0.6)
    (('component', 'lat', 'lon'), 2, True)
    """
    names = list(names) if names is not None else parameter_variables(parameters)
    table = parameters[names].to_dataarray("parameter")
    spatial = [d for d in table.dims if d != "parameter"]
    stacked = table.stack(_pixel=spatial).transpose("_pixel", "parameter")
    values = stacked.values
    ok = np.isfinite(values).all(axis=1)
    if ok.sum() < 2:
        raise ValueError("fewer than two pixels have every chosen parameter")
    ratio, loadings, scores = pca_matrix(values[ok], n_components, names)
    component = np.arange(1, len(ratio) + 1)
    full = np.full((len(ok), len(ratio)), np.nan)
    full[ok] = scores
    maps = xr.DataArray(full, dims=("_pixel", "component"),
                        coords={"_pixel": stacked["_pixel"], "component": component})
    maps = maps.unstack("_pixel").transpose("component", *spatial)
    out = xr.Dataset({
        "explained_variance_ratio": ("component", ratio),
        "loadings": (("component", "parameter"), loadings),
        "scores": maps}, coords={"component": component, "parameter": names})
    out["scores"].attrs["long_name"] = "principal component scores"
    out.attrs["n_pixels"] = int(ok.sum())
    return out
