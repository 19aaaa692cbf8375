"""Figures of the analysis workflow (matplotlib; cartopy maps when cartopy is installed).

Every function returns a :class:`matplotlib.figure.Figure` and never calls ``show``, so it works
headless (``matplotlib.use("Agg")``) and in notebooks alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from ..parameters import parameter_variables
from ..plot_labels import axis_label, quantity_name, wrap_label as _wrap
from .biplot import pca_biplot

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
        ax.set_xlabel(axis_label(name="lon"))
        ax.set_ylabel(axis_label(name="lat"))
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
    names = list(names) if names is not None else parameter_variables(parameters)
    fig, axes = _figure(len(names), geographic=True)
    for ax, name in zip(axes, names):
        mesh = _map(ax, parameters[name], name, cmap=cmap)
        label = _wrap(axis_label(parameters[name], name=name))
        fig.colorbar(mesh, ax=ax, shrink=0.8, label=label)
    fig.tight_layout()
    return fig


def partition_bars(parts: xr.DataArray, *, dim: str = "component", across: str | None = None):
    """Stacked bars of a hierarchical partition (one bar per ``across`` label, e.g. variable).

    Positive contributions stack upwards from zero and negative ones downwards, so every
    segment's length is its own contribution.

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
    # Positive parts stack up from 0 and negative parts down from 0, so each segment is as long
    # as its own contribution: stacking a negative part on a positive one would hide both.
    above, below = np.zeros(len(labels)), np.zeros(len(labels))
    for component in parts[dim].values:
        height = parts.sel({dim: component}).values.astype(float)
        known = np.nan_to_num(height)
        ax.bar(labels, height, bottom=np.where(known >= 0, above, below), label=str(component))
        above, below = above + np.maximum(known, 0), below + np.minimum(known, 0)
    if np.any(below < 0):
        ax.axhline(0.0, color="black", linewidth=0.8)
    # the partitioned score (its long_name, e.g. "NSE of LAI") and its units where it has them
    ax.set_ylabel(axis_label(parts, name=str(parts.name) if parts.name is not None else None,
                             quantity="contribution to the "
                                      + str(parts.attrs.get("long_name", "score"))))
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
                    fits: dict | None = None, top: int = 3,
                    units: Mapping[str, str] | None = None):
    """SHAP value vs feature value for the top predictors, with the fitted functional form.

    Parameters
    ----------
    result : xarray.Dataset
        The result of :func:`~xdifferland.analysis.shap_analysis.shap_values` (its
        ``attrs["target"]`` names the explained quantity).
    predictors : str or sequence of str, optional
        Predictors to draw, one panel each; default: the ``top`` of
        :func:`~xdifferland.analysis.shap_analysis.shap_ranking`.
    fits : dict, optional
        Predictor → :func:`~xdifferland.analysis.shap_analysis.functional_form` result;
        missing fits are computed.
    top : int, default 3
    units : mapping, optional
        Units of predictors the package does not declare (declared ones, and ``latitude``, are
        labelled with their canonical units, the units ``shap_values`` feeds the network).

    Returns
    -------
    matplotlib.figure.Figure
        Panels labelled ``<predictor> (<units>)`` and ``SHAP value of <target> (<units>)``,
        with at most 5 ticks on each axis so that tick labels never overlap.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> x = np.random.default_rng(0).normal(size=(50, 1)) * 10 + 15
    >>> res = xr.Dataset({"shap": (("sample", "predictor"), 0.1 * x - 1.5),
    ...                   "feature_value": (("sample", "predictor"), x)},
    ...                  coords={"predictor": ["mean_annual_temperature"]},
    ...                  attrs={"target": "canopy_efficiency"})
    >>> ax = shap_dependence(res).axes[0]
    >>> print(ax.get_xlabel(), ax.get_ylabel(), sep="; ")
    mean annual air temperature (°C); SHAP value of canopy efficiency
    (g C m⁻² d⁻¹)
    """
    from matplotlib.ticker import MaxNLocator

    from .shap_analysis import functional_form, shap_ranking

    if predictors is None:
        predictors = [str(p) for p in shap_ranking(result)["predictor"].values[:top]]
    predictors = [predictors] if isinstance(predictors, str) else list(predictors)
    fits = dict(fits or {})
    units = dict(units or {})
    target = str(result.attrs.get("target", "target"))
    y_label = _wrap(axis_label(name=target, quantity=f"SHAP value of {quantity_name(target)}"))
    fig, axes = _figure(len(predictors))
    for ax, name in zip(axes, predictors):
        x = result["feature_value"].sel(predictor=name).values
        y = result["shap"].sel(predictor=name).values
        ax.scatter(x, y, s=6, alpha=0.5, color="C0", linewidths=0)
        fit = fits.get(name) or functional_form(result, name)
        ax.plot(fit["grid"].values, fit["curve"].values, color="C3", lw=2,
                label=f"degree-{fit.attrs['degree']} ridge fit")
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.set_xlabel(_wrap(axis_label(name=name, units=units.get(name))))
        ax.set_ylabel(y_label)
        # five ticks at most: wide values (elevation, precipitation) never collide
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, min_n_ticks=3))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5, min_n_ticks=3))
        ax.legend(fontsize=7, frameon=False)
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
