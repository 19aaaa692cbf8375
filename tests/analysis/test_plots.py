"""The analysis figures: headless, labelled with quantity and units, text that does not collide.

Each test saves its figure through the ``save_figure`` fixture, so a CI run with
``XDIFFERLAND_FIGURE_DIR`` set keeps the images to look at.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from tests.figure_checks import RAW_UNITS, axis_texts, overlapping, tick_labels
from xdifferland.analysis import functional_form, hierarchical_partition, parameter_pca, plots
from xdifferland.analysis.biplot import DEFAULT_LOADINGS
from xdifferland.parameters import parameter_attrs
from xdifferland.registry import PARAMETER_NAMES


def _grid(rng, n=3):
    coords = {"lat": np.arange(4) + 0.25, "lon": np.arange(5) + 10.25}
    return xr.Dataset({f"p{k}": (("lat", "lon"), rng.random((4, 5))) for k in range(n)},
                      coords=coords)


def _all_parameter_maps(rng, shape=(30, 40)):
    """Maps of the 40 DALEC993 parameters driven by three shared fields: a crowded biplot."""
    fields = rng.normal(size=(3, *shape))
    maps = {name: (("lat", "lon"), np.tensordot(rng.normal(size=3) * [1.0, 0.6, 0.3], fields, 1)
                   + 0.8 * rng.normal(size=shape)) for name in PARAMETER_NAMES}
    return xr.Dataset(maps, coords={"lat": 0.5 * np.arange(shape[0]),
                                    "lon": 0.5 * np.arange(shape[1])})


@pytest.fixture(scope="module")
def crowded_pca():
    return parameter_pca(_all_parameter_maps(np.random.default_rng(3)))


@pytest.mark.parametrize("k, drawn", [(None, 40), (DEFAULT_LOADINGS, DEFAULT_LOADINGS), (3, 3)])
def test_biplot_draws_the_k_longest_loadings_with_names_that_do_not_overlap(
        crowded_pca, save_figure, k, drawn):
    fig = plots.pca_biplot(crowded_pca, **({} if k == DEFAULT_LOADINGS else {"k": k}))
    save_figure(fig, f"biplot-k{k}")
    ax = fig.axes[0]
    names = [t.get_text() for t in ax.texts]
    assert len(names) == drawn == len(set(names))
    loading = crowded_pca["loadings"].sel(component=[1, 2])
    length = np.hypot(*loading.values)
    longest = {str(p) for p in crowded_pca["parameter"].values[np.argsort(-length)[:drawn]]}
    assert set(names) == longest
    assert overlapping(ax.texts) == []
    frame = ax.get_window_extent()
    assert all(frame.contains(*t.get_window_extent().get_points().mean(0)) for t in ax.texts)
    ratio = 100 * crowded_pca["explained_variance_ratio"].values
    assert ax.get_xlabel().startswith(f"PC1: {ratio[0]:.0f} % of the variance")
    assert ax.get_ylabel().startswith(f"PC2: {ratio[1]:.0f} % of the variance")
    if drawn < 40:
        share = np.sort(length ** 2)[::-1][:drawn].sum() / (length ** 2).sum()
        assert f"the {drawn} longest of 40 parameter loadings" in ax.get_title()
        assert f"({100 * share:.0f} % of the loadings' squared length" in ax.get_title()
    else:
        assert "all 40 parameter loadings" in ax.get_title()


def test_biplot_of_other_components_and_bad_requests(crowded_pca, save_figure):
    fig = plots.pca_biplot(crowded_pca, (1, 3), k=5)
    save_figure(fig, "biplot-pc1-pc3")
    assert fig.axes[0].get_ylabel().startswith("PC3: ")
    with pytest.raises(ValueError, match="component 4 is not in the PCA"):
        plots.pca_biplot(crowded_pca, (1, 4))
    with pytest.raises(ValueError, match="k=0"):
        plots.pca_biplot(crowded_pca, k=0)


def _shap_result(rng, target="leaf_carbon_mass_per_area"):
    """SHAP values of three predictors with wide values (m, mm/year) and latitude."""
    x = np.c_[rng.uniform(0, 5000, 300), rng.uniform(0, 4000, 300), rng.uniform(-60, 70, 300)]
    shap = np.c_[1e-3 * x[:, 0], np.sin(x[:, 1] / 1000), 0.01 * x[:, 2]]
    return xr.Dataset(
        {"shap": (("sample", "predictor"), shap + 0.1 * rng.normal(size=shap.shape)),
         "feature_value": (("sample", "predictor"), x)},
        coords={"predictor": ["elevation", "mean_annual_precipitation", "latitude"]},
        attrs={"target": target})


def test_shap_dependence_labels_units_and_keeps_tick_labels_apart(rng, save_figure):
    fig = plots.shap_dependence(_shap_result(rng))
    save_figure(fig, "shap-dependence")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_xlabel().replace("\n", " ") for ax in axes] == [
        "surface elevation (m)", "mean annual precipitation (mm yr⁻¹)", "latitude (°N)"]
    for ax in axes:
        assert ax.get_ylabel().replace("\n", " ") == \
            "SHAP value of leaf carbon mass per area (g C m⁻²)"
        for axis in "xy":
            assert 3 <= len(tick_labels(ax, axis)) <= 6
            assert overlapping(tick_labels(ax, axis)) == []
    # labels of neighbouring panels do not run into each other either
    assert overlapping([t for ax in axes for t in (ax.xaxis.label, ax.yaxis.label)]) == []


def test_shap_dependence_units_of_undeclared_predictors_and_fits_given(rng, save_figure):
    x = rng.normal(size=(60, 2))
    res = xr.Dataset({"shap": (("sample", "predictor"), np.c_[x[:, 0] ** 2, 0 * x[:, 1]]),
                      "feature_value": (("sample", "predictor"), x)},
                     coords={"predictor": ["soil_moisture", "b"]},
                     attrs={"target": "effective_q10"})
    fig = plots.shap_dependence(res, top=2, units={"soil_moisture": "m3 m-3"},
                                fits={"soil_moisture": functional_form(res, "soil_moisture")})
    save_figure(fig, "shap-undeclared")
    axes = [a for a in fig.axes if a.get_visible()]
    assert [a.get_xlabel() for a in axes] == ["soil moisture (m³ m⁻³)", "b"]
    assert axes[0].get_ylabel() == "SHAP value of effective Q₁₀"  # a ratio: no units


def test_parameter_maps_colour_bars_say_quantity_and_units(rng, save_figure):
    params = _all_parameter_maps(rng, (6, 8))[["canopy_efficiency", "initial_wood",
                                               "temperature_sensitivity"]]
    for name in params:
        params[name].attrs = parameter_attrs(name)
    fig = plots.parameter_maps(params.expand_dims(member=2))
    save_figure(fig, "parameter-maps")
    bars = [ax.get_ylabel() for ax in fig.axes[3:]]
    assert bars == ["canopy efficiency (g C m⁻² d⁻¹)", "initial wood (g C m⁻²)",
                    "temperature sensitivity (K⁻¹)"]
    assert [ax.get_xlabel() for ax in fig.axes[:3]] == ["longitude (°E)"] * 3
    assert not [t for t in axis_texts(fig) if RAW_UNITS.search(t)]


def test_partition_and_dominant_group_figures(rng, save_figure):
    params = _grid(rng)
    maps = {c: params["p0"] * rng.random() for c in ["CONTROL", "A", "B", "A+B"]}
    parts = hierarchical_partition(maps, ["A", "B"])
    fig = plots.partition_bars(parts.mean(("lat", "lon")))
    assert len(fig.axes[0].patches) == parts.sizes["component"]
    assert fig.axes[0].get_ylabel() == "contribution to the score"
    stacked = parts.isel(lat=0).rename(lon="variable")
    fig = plots.partition_bars(stacked.assign_attrs(long_name="NSE of LAI", units="1"),
                               across="variable")
    save_figure(fig, "partition-bars")
    assert fig.axes[0].get_ylabel() == "contribution to the NSE of LAI"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == \
        [str(v) for v in stacked["variable"].values]
    fig = plots.dominant_group_map(parts)
    save_figure(fig, "dominant-group")
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == ["A", "B"]


@pytest.mark.parametrize("values", [
    {"CLIM": 0.235, "SOIL": -0.145},
    {"PFT": 0.1, "SOIL": -0.05, "CLIM": 0.2, "AGE": -0.02},
])
def test_partition_bars_draw_each_contribution_at_its_own_length(values):
    parts = xr.DataArray(list(values.values()), dims="component",
                         coords={"component": list(values)})
    ax = plots.partition_bars(parts).axes[0]
    drawn = {bars.get_label(): bars.patches[0] for bars in ax.containers}
    assert len(ax.patches) == len(values)
    above = below = 0.0
    for name, value in values.items():
        patch = drawn[name]
        assert patch.get_height() == pytest.approx(value)
        # positive parts sit on the positive ones before them, negative ones hang below 0
        assert patch.get_y() == pytest.approx(above if value >= 0 else below)
        above, below = above + max(value, 0), below + min(value, 0)
    clim = drawn["CLIM"]
    assert clim.get_y() + clim.get_height() == pytest.approx(sum(v for v in values.values()
                                                                  if v > 0))


def test_identifiability_bars(rng, save_figure):
    local = xr.Dataset({"posterior_sd": (("parameter", "lat"), rng.random((3, 4)) + 1),
                        "conditional_sd": (("parameter", "lat"), rng.random((3, 4)))},
                       coords={"parameter": ["p0", "p1", "p2"]})
    fig = plots.identifiability_bars(local, xr.DataArray([1.0, 2.0, 4.0], dims="parameter"))
    save_figure(fig, "identifiability-bars")
    assert isinstance(fig, Figure)
    widths = [p.get_width() for p in fig.axes[0].patches]
    assert len(widths) == 6 and widths[3] == float(local["posterior_sd"][0].median())
    assert overlapping(tick_labels(fig.axes[0], "y")) == []
