"""Figures of the analysis workflow (matplotlib; cartopy maps when cartopy is installed).

Every function returns a :class:`matplotlib.figure.Figure` and never calls ``show``, so it works
headless (``matplotlib.use("Agg")``) and in notebooks alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

__all__ = [
    "dominant_group_map",
    "identifiability_bars",
    "parameter_maps",
    "partition_bars",
    "pca_biplot",
    "shap_dependence",
]


def _figure(n_panels: int = 1, geographic: bool = False, ncols: int | None = None):
    import matplotlib.pyplot as plt

    ncols = ncols or min(n_panels, 3)
    nrows = -(-n_panels // ncols)
    kwargs = {}
    if geographic:
        try:
            import cartopy.crs as ccrs

            kwargs["subplot_kw"] = {"projection": ccrs.PlateCarree()}
        except ImportError:
            pass
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False,
                             **kwargs)
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n_panels])


def _map(ax, da: xr.DataArray, title: str, **kwargs):
    extra = {}
    if hasattr(ax, "coastlines"):  # cartopy GeoAxes
        import cartopy.crs as ccrs

        extra["transform"] = ccrs.PlateCarree()
        ax.coastlines(linewidth=0.5)
    mesh = ax.pcolormesh(da["lon"].values, da["lat"].values, da.transpose("lat", "lon").values,
                         shading="auto", **extra, **kwargs)
    ax.set_title(title, fontsize=9)
    if not hasattr(ax, "coastlines"):
        ax.set_xlabel("longitude (°E)")
        ax.set_ylabel("latitude (°N)")
    return mesh


def parameter_maps(parameters: xr.Dataset, names: Sequence[str] | None = None, *,
                   cmap: str = "viridis"):
    """One map per parameter (a ``member`` dim is averaged first).

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> p = xr.Dataset({"a": (("lat", "lon"), np.ones((2, 3)))},
    ...                coords={"lat": [0.25, 0.75], "lon": [10.25, 10.75, 11.25]})
    >>> parameter_maps(p).axes[0].get_title()
    'a'
    """
    if "member" in parameters.dims:
        parameters = parameters.mean("member")
    names = list(names) if names is not None else list(parameters.data_vars)
    fig, axes = _figure(len(names), geographic=True)
    for ax, name in zip(axes, names):
        mesh = _map(ax, parameters[name], name, cmap=cmap)
        units = parameters[name].attrs.get("units", "")
        fig.colorbar(mesh, ax=ax, shrink=0.8, label=units)
    fig.tight_layout()
    return fig


def partition_bars(parts: xr.DataArray, *, dim: str = "component", across: str | None = None):
    """Stacked bars of a hierarchical partition (one bar per ``across`` label, e.g. variable).

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> parts = xr.DataArray([0.3, 0.1, 0.2], dims="component",
    ...                      coords={"component": ["CLIM", "PFT", "CONTROL"]})
    >>> len(partition_bars(parts).axes[0].patches)
    3
    """
    fig, (ax,) = _figure(1)
    if across is None:
        parts = parts.expand_dims(_bar=["total"])
        across = "_bar"
    parts = parts.transpose(across, dim)
    labels = [str(v) for v in parts[across].values]
    bottom = np.zeros(len(labels))
    for component in parts[dim].values:
        height = parts.sel({dim: component}).values
        ax.bar(labels, height, bottom=bottom, label=str(component))
        bottom = bottom + height
    ax.set_ylabel("contribution to the score")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def dominant_group_map(parts: xr.DataArray, *, dim: str = "component",
                       include_control: bool = False):
    """Map of the component with the largest contribution at each pixel.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> parts = xr.DataArray(np.random.default_rng(0).random((3, 2, 2)),
    ...                      dims=("component", "lat", "lon"),
    ...                      coords={"component": ["A", "B", "CONTROL"], "lat": [0, 1],
    ...                              "lon": [0, 1]})
    >>> dominant_group_map(parts).axes[0].get_title()
    'dominant component'
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap

    if not include_control:
        parts = parts.drop_sel({dim: "CONTROL"}, errors="ignore")
    names = [str(v) for v in parts[dim].values]
    filled = parts.fillna(-np.inf)
    index = filled.argmax(dim).where(parts.notnull().any(dim))
    colors = [f"C{k}" for k in range(len(names))]
    fig, (ax,) = _figure(1, geographic=True)
    mesh = _map(ax, index, "dominant component", cmap=ListedColormap(colors),
                norm=BoundaryNorm(np.arange(len(names) + 1) - 0.5, len(names)))
    bar = fig.colorbar(mesh, ax=ax, ticks=np.arange(len(names)), shrink=0.8)
    bar.ax.set_yticklabels(names)
    fig.tight_layout()
    return fig


def shap_dependence(result: xr.Dataset, predictors: Sequence[str] | str | None = None, *,
                    fits: dict | None = None, top: int = 3):
    """SHAP value vs feature value for the top predictors, with the fitted functional form.

    ``fits`` maps predictor → :func:`~xdifferland.analysis.shap_analysis.functional_form`
    result; missing fits are computed.
    """
    from .shap_analysis import functional_form, shap_ranking

    if predictors is None:
        predictors = [str(p) for p in shap_ranking(result)["predictor"].values[:top]]
    predictors = [predictors] if isinstance(predictors, str) else list(predictors)
    fits = dict(fits or {})
    fig, axes = _figure(len(predictors))
    for ax, name in zip(axes, predictors):
        x = result["feature_value"].sel(predictor=name).values
        y = result["shap"].sel(predictor=name).values
        ax.scatter(x, y, s=6, alpha=0.5, color="C0")
        fit = fits.get(name) or functional_form(result, name)
        ax.plot(fit["grid"].values, fit["curve"].values, color="C3", lw=2,
                label=f"degree-{fit.attrs['degree']} ridge fit")
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.set_xlabel(name)
        ax.set_ylabel(f"SHAP ({result.attrs.get('target', 'target')})")
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def pca_biplot(pca: xr.Dataset, components: tuple[int, int] = (1, 2), *,
               max_points: int = 2000, seed: int = 0):
    """PC scores of the pixels (points) and the parameter loadings (arrows).

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> from xdifferland.analysis.pca import parameter_pca
    >>> rng = np.random.default_rng(0)
    >>> p = xr.Dataset({k: (("lat", "lon"), rng.random((4, 5))) for k in "abc"})
    >>> pca_biplot(parameter_pca(p)).axes[0].get_xlabel()[:3]
    'PC1'
    """
    fig, (ax,) = _figure(1)
    i, j = components
    scores = pca["scores"].sel(component=[i, j])
    flat = scores.stack(_p=[d for d in scores.dims if d != "component"]).values.T
    flat = flat[np.isfinite(flat).all(axis=1)]
    if len(flat) > max_points:
        flat = flat[np.random.default_rng(seed).choice(len(flat), max_points, replace=False)]
    ax.scatter(flat[:, 0], flat[:, 1], s=4, alpha=0.3, color="0.5")
    scale = np.abs(flat).max() if len(flat) else 1.0
    for name in pca["parameter"].values:
        u = float(pca["loadings"].sel(component=i, parameter=name)) * scale
        v = float(pca["loadings"].sel(component=j, parameter=name)) * scale
        ax.annotate("", xy=(u, v), xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": "C3"})
        ax.text(u, v, str(name), fontsize=7, color="C3")
    ratio = pca["explained_variance_ratio"]
    ax.set_xlabel(f"PC{i} ({100 * float(ratio.sel(component=i)):.0f} %)")
    ax.set_ylabel(f"PC{j} ({100 * float(ratio.sel(component=j)):.0f} %)")
    fig.tight_layout()
    return fig


def identifiability_bars(local: xr.Dataset, spread: xr.DataArray | None = None, *,
                         where: xr.DataArray | None = None):
    """Median conditional and posterior sd per parameter (log scale), from
    :func:`~xdifferland.analysis.local_identifiability`.

    The gap between the two bars is the trade-off with other parameters. With ``spread`` (the
    spatial sd of each parameter's unconstrained map, over ``parameter``) both are divided by
    it, and a line at 1 marks where a pixel's record no longer resolves the map.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> local = xr.Dataset({"posterior_sd": ("parameter", [2.0, 0.1]),
    ...                     "conditional_sd": ("parameter", [0.05, 0.08])},
    ...                    coords={"parameter": ["a", "b"]})
    >>> len(identifiability_bars(local).axes[0].patches)
    4
    """
    spatial = [d for d in local["posterior_sd"].dims if d != "parameter"]
    stats = {}
    for name in ("conditional_sd", "posterior_sd"):
        da = local[name] if where is None else local[name].where(where)
        stats[name] = da.median(spatial) if spatial else da
        if spread is not None:
            stats[name] = stats[name] / spread
    names = [str(v) for v in local["parameter"].values]
    y = np.arange(len(names))
    fig, (ax,) = _figure(1)
    fig.set_size_inches(6.0, 1.0 + 0.22 * len(names))
    ax.barh(y - 0.2, stats["conditional_sd"].values, height=0.4, label="others known")
    ax.barh(y + 0.2, stats["posterior_sd"].values, height=0.4, label="all free")
    ax.set_xscale("log")
    ax.set_yticks(y, names, fontsize=7)
    ax.invert_yaxis()
    if spread is not None:
        ax.axvline(1.0, color="0.3", lw=0.8, ls="--")
    ax.set_xlabel("posterior sd" + (" / spatial sd of the map" if spread is not None else
                                    " (unconstrained units)"))
    ax.legend(fontsize=8, frameon=False, ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout()
    return fig
