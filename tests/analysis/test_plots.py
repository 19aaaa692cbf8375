"""Every figure function works headless (Agg) and returns a Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from xdifferland.analysis import (
    functional_form,
    hierarchical_partition,
    parameter_pca,
    plots,
)


def _grid(rng, n=3):
    coords = {"lat": np.arange(4) + 0.25, "lon": np.arange(5) + 10.25}
    return xr.Dataset({f"p{k}": (("lat", "lon"), rng.random((4, 5))) for k in range(n)},
                      coords=coords)


def test_figures(rng):
    params = _grid(rng)
    assert isinstance(plots.parameter_maps(params.expand_dims(member=2)), Figure)
    maps = {c: params["p0"] * rng.random() for c in ["CONTROL", "A", "B", "A+B"]}
    parts = hierarchical_partition(maps, ["A", "B"])
    assert isinstance(plots.partition_bars(parts.mean(("lat", "lon"))), Figure)
    stacked = parts.isel(lat=0).rename(lon="variable")
    assert isinstance(plots.partition_bars(stacked, across="variable"), Figure)
    assert isinstance(plots.dominant_group_map(parts), Figure)
    x = rng.normal(size=(60, 2))
    res = xr.Dataset({"shap": (("sample", "predictor"), np.c_[x[:, 0] ** 2, 0 * x[:, 1]]),
                      "feature_value": (("sample", "predictor"), x)},
                     coords={"predictor": ["a", "b"]}, attrs={"target": "q"})
    fig = plots.shap_dependence(res, top=2, fits={"a": functional_form(res, "a")})
    assert isinstance(fig, Figure) and len([a for a in fig.axes if a.get_visible()]) == 2
    assert isinstance(plots.pca_biplot(parameter_pca(params)), Figure)
    local = xr.Dataset({"posterior_sd": (("parameter", "lat"), rng.random((3, 4)) + 1),
                        "conditional_sd": (("parameter", "lat"), rng.random((3, 4)))},
                       coords={"parameter": ["p0", "p1", "p2"]})
    fig = plots.identifiability_bars(local, xr.DataArray([1.0, 2.0, 4.0], dims="parameter"))
    widths = [p.get_width() for p in fig.axes[0].patches]
    assert len(widths) == 6 and widths[3] == float(local["posterior_sd"][0].median())
    import matplotlib.pyplot as plt

    plt.close("all")
