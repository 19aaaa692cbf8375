"""Identifiability (CV across members) and PCA of parameter maps."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xdifferland.analysis import identifiability, parameter_pca
from xdifferland.registry import PARAMETER_NAMES


def test_identifiability_cv_median_and_flag(rng):
    members, shape = 5, (4, 6)
    stable = 10.0 + 0.1 * rng.standard_normal((members, *shape))
    wild = 1.0 + 2.0 * rng.standard_normal((members, *shape))
    p = xr.Dataset({"stable": (("member", "lat", "lon"), stable),
                    "wild": (("member", "lat", "lon"), wild)})
    res = identifiability(p)
    expected = stable.std(0, ddof=1) / np.abs(stable.mean(0))
    np.testing.assert_allclose(res.cv.sel(parameter="stable"), expected)
    assert res.median_cv.sel(parameter="stable") == pytest.approx(np.median(expected))
    assert res.identifiable.values.tolist() == [True, False]
    assert identifiability(p, threshold=1e-6).identifiable.values.tolist() == [False, False]
    with pytest.raises(ValueError, match="member"):
        identifiability(p.isel(member=0))


def _fitted_parameters(rng, members=None, n=12):
    """All 40 registry parameters varying over ``n`` pixels, plus a constant extrapolation score
    (as a fit's or an ensemble's parameters carry it)."""
    shape = (n,) if members is None else (members, n)
    dims = ("pixel",) if members is None else ("member", "pixel")
    p = xr.Dataset({name: (dims, 1.0 + rng.random(shape)) for name in PARAMETER_NAMES})
    p["extrapolation"] = (dims, np.zeros(shape))
    return p


def test_identifiability_counts_only_the_model_parameters(rng):
    res = identifiability(_fitted_parameters(rng, members=3))
    assert res.sizes["parameter"] == 40
    assert "extrapolation" not in res["parameter"].values


def test_parameter_pca_leaves_the_extrapolation_score_out(rng):
    res = parameter_pca(_fitted_parameters(rng))
    assert res.sizes["parameter"] == 40 and "extrapolation" not in res["parameter"].values


@pytest.mark.parametrize("constant", [["autotrophic_fraction"], ["x", "z"]])
def test_a_constant_parameter_is_named_with_the_fix(rng, constant):
    if constant == ["x", "z"]:
        p = xr.Dataset({n: ("pixel", rng.random(6)) for n in ["x", "y", "z"]})
    else:
        p = _fitted_parameters(rng)
    for name in constant:
        p[name] = ("pixel", np.full(6 if constant == ["x", "z"] else 12, 2.0))
    with pytest.raises(ValueError) as info:
        parameter_pca(p)
    text = str(info.value)
    assert all(f"'{name}'" in text for name in constant)
    assert "names=" in text and "extrapolation" not in text


def test_pca_matches_sklearn_and_maps_are_labeled(rng):
    from sklearn.decomposition import PCA

    n_lat, n_lon = 8, 9
    a, b = rng.standard_normal((2, n_lat, n_lon))
    p = xr.Dataset({"x": (("lat", "lon"), a), "y": (("lat", "lon"), 3 * a + 0.2 * b),
                    "z": (("lat", "lon"), b), "w": (("lat", "lon"), a - b)},
                   coords={"lat": np.arange(n_lat), "lon": np.arange(n_lon)})
    p["x"][0, 0] = np.nan
    res = parameter_pca(p, ["x", "y", "z", "w"], n_components=3)
    table = np.stack([p[n].values.ravel() for n in ["x", "y", "z", "w"]], axis=1)
    table = table[np.isfinite(table).all(axis=1)]
    z = (table - table.mean(0)) / table.std(0)
    ref = PCA(3).fit(z)
    np.testing.assert_allclose(res.explained_variance_ratio, ref.explained_variance_ratio_,
                               rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(np.abs(res.loadings[:2]), np.abs(ref.components_[:2]), atol=1e-8)
    np.testing.assert_allclose(res.loadings.values @ res.loadings.values.T, np.eye(3), atol=1e-10)
    assert res.scores.dims == ("component", "lat", "lon")
    assert np.isnan(res.scores[0, 0, 0]) and np.isfinite(res.scores[:, 1:, :]).all()
    assert res.explained_variance_ratio[:2].sum() > 0.99  # two latent fields


def test_parameter_recovery_per_parameter_with_cyclic_timings_and_a_mask():
    from xdifferland.analysis import parameter_recovery

    x = np.linspace(0.0, 1.0, 12).reshape(3, 4)
    planted = xr.Dataset({"canopy_efficiency": (("lat", "lon"), 10 + 5 * x),
                          "leaf_fall_day": (("lat", "lon"), 400 + 100 * x),
                          "sif_slope": (("lat", "lon"), np.full((3, 4), 15.0))})
    fitted = xr.Dataset({"canopy_efficiency": (("lat", "lon"), 20 - 5 * x),  # reversed
                         "leaf_fall_day": (("lat", "lon"), 400 + 100 * x + 365.25),  # a year on
                         "sif_slope": (("lat", "lon"), 15 + x)})
    r = parameter_recovery(fitted, planted)
    assert list(r["parameter"].values) == ["canopy_efficiency", "leaf_fall_day", "sif_slope"]
    assert r.sel(parameter="canopy_efficiency") == pytest.approx(-1.0)
    assert r.sel(parameter="leaf_fall_day") == pytest.approx(1.0)
    assert np.isnan(r.sel(parameter="sif_slope"))  # a uniform planted map has no spatial r
    where = xr.DataArray(x > 0.5, dims=("lat", "lon"))
    fitted["canopy_efficiency"] = fitted["canopy_efficiency"].where(~where, 10 + 5 * x)
    assert parameter_recovery(fitted, planted, where).sel(
        parameter="canopy_efficiency") == pytest.approx(1.0)


@pytest.mark.parametrize("shift", [0.0, 50.0, 120.0, 200.0, 300.0])
def test_cyclic_recovery_does_not_depend_on_where_the_calendar_starts(shift):
    from xdifferland.analysis import recovery_r

    rng = np.random.default_rng(4)
    planted = 650 + 40 * rng.standard_normal(200)  # leaf fall around late October
    fitted = planted + 20 * rng.standard_normal(200) + 365.25 * rng.integers(-1, 2, 200)
    expected = np.corrcoef(planted, planted + (fitted - planted + 182.625) % 365.25 - 182.625)
    r = recovery_r(fitted + shift, planted + shift, cyclic=True)
    assert r == pytest.approx(expected[0, 1], abs=1e-9)
    assert 0.85 < r < 0.93  # errors of 20 days on a spread of 40


@pytest.mark.parametrize("chunked", [False, True])
def test_leaf_area_per_gpp_combines_allocation_respiration_and_lcma(chunked):
    from xdifferland.analysis import leaf_area_per_gpp

    p = xr.Dataset({
        "foliar_allocation": ("x", [0.2, 0.1]), "labile_allocation": ("x", [0.1, 0.3]),
        "autotrophic_fraction": ("x", [0.5, 0.25]),
        "leaf_carbon_mass_per_area": ("x", [50.0, 100.0])})
    p = p.chunk({"x": 1}) if chunked else p
    out = leaf_area_per_gpp(p)
    assert out.attrs["units"] == "m2 g-1" and out.name == "leaf_area_per_gpp"
    assert (out.chunks is not None) == chunked  # lazy stays lazy
    np.testing.assert_allclose(out.values, [0.3 * 0.5 / 50.0, 0.4 * 0.75 / 100.0])
    # what LAI sees is unchanged when LCMA and both allocations scale together
    scaled = p.assign(foliar_allocation=2 * p.foliar_allocation,
                      labile_allocation=2 * p.labile_allocation,
                      leaf_carbon_mass_per_area=2 * p.leaf_carbon_mass_per_area)
    np.testing.assert_allclose(leaf_area_per_gpp(scaled).values, out.values)
