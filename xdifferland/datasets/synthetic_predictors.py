"""Static predictors of the embedded world, consistent with its climate.

The four predictor groups of the paper (PFT, CLIM, AGE, SOIL; names from
:data:`xdifferland.variables.PREDICTOR_GROUPS`) are derived from the generated climate and smooth
random fields, so they are spatially coherent and correlated the way real maps are:

* **CLIM**: ``mean_annual_temperature`` is the record mean of ``(t_min + t_max) / 2``,
  ``mean_annual_precipitation`` the record mean precipitation times 365.25 (mm/year), and
  ``elevation`` the surface height used by the climate.
* **PFT**: each vegetated type has a Gaussian climate niche in (MAT, log MAP, dry-season length);
  niche scores plus smooth noise go through a softmax. The non-vegetated share grows in deserts
  and cold or high places, and a small open-water share makes the ten fractions sum to at most 1.
* **AGE**: canopy height scales with the forest fraction and a wet-warm height potential;
  forest age is a smooth field, lower where fires are frequent (savanna).
* **SOIL**: sand/silt/clay from a softmax of climate-related scores and smooth noise (dry places
  sandy, wet tropics clayey) so they sum to 1; gravel rises with elevation; bulk density rises
  with sand and falls in cold, wet (organic) soils.
* **land_mask**: about 8 % of the cells (a smooth field's lowest values) are ocean-like and get
  NaN predictors.
"""

from __future__ import annotations

import numpy as np

from ..variables import PREDICTOR_GROUPS
from .synthetic_climate import Climate, Grid, smooth_field

__all__ = ["OCEAN_FRACTION", "make_predictors"]

OCEAN_FRACTION = 0.08

# Climate niche of each vegetated type: (MAT centre, MAT width, log10 MAP centre, log10 MAP
# width, preference for a long dry season in [-1, 1]).
_NICHES = {
    "needleleaf_forest": (2.0, 6.0, 2.75, 0.25, 0.0),
    "deciduous_broadleaf_forest": (11.0, 5.0, 2.95, 0.2, 0.0),
    "evergreen_broadleaf_forest": (25.0, 4.0, 3.35, 0.2, -1.0),
    "mixed_forest": (7.0, 5.0, 2.85, 0.2, 0.0),
    "shrubland": (16.0, 10.0, 2.45, 0.2, 0.5),
    "savanna": (24.0, 5.0, 3.0, 0.2, 1.0),
    "grassland": (12.0, 10.0, 2.6, 0.25, 0.3),
    "wetland": (10.0, 15.0, 3.0, 0.4, -0.5),
    "cropland": (15.0, 8.0, 2.85, 0.3, 0.0),
}


def _pft_fractions(rng, clim: Climate, mat, map_mm, dry_months, length):
    shape = mat.shape
    log_map = np.log10(np.maximum(map_mm, 1.0))
    dryness = np.clip((dry_months - 3.0) / 3.0, -1.0, 1.0)
    names = PREDICTOR_GROUPS["PFT"]
    vegetated = [n for n in names if n != "non_vegetated"]
    noise = smooth_field(rng, shape, length, len(vegetated))
    scores = []
    for k, name in enumerate(vegetated):
        t0, tw, p0, pw, dry = _NICHES[name]
        scores.append(-0.5 * ((mat - t0) / tw) ** 2 - 0.5 * ((log_map - p0) / pw) ** 2
                      + 0.6 * dry * dryness + 0.8 * noise[k])
    scores = np.stack(scores)
    shares = np.exp(2.0 * (scores - scores.max(axis=0)))
    shares /= shares.sum(axis=0)
    bare = 1.0 / (1.0 + np.exp((map_mm - 180.0) / 50.0))  # deserts
    bare = np.maximum(bare, 1.0 / (1.0 + np.exp((mat + 6.0) / 2.0)))  # ice and tundra
    bare = np.clip(bare + 0.04 * np.abs(smooth_field(rng, shape, length)), 0.0, 1.0)
    water = 0.03 * np.maximum(smooth_field(rng, shape, length), 0.0)
    fractions = dict(zip(vegetated, shares * (1.0 - bare) * (1.0 - water)))
    fractions["non_vegetated"] = bare * (1.0 - water)
    return {name: fractions[name] for name in names}


def _soil(rng, mat, map_mm, elevation, length):
    shape = mat.shape
    noise = smooth_field(rng, shape, length, 4)
    aridity = np.clip((800.0 - map_mm) / 800.0, -1.0, 1.0)
    warm_wet = np.clip((mat - 15.0) / 10.0, -1.0, 1.0) * np.clip((map_mm - 1000.0) / 1000.0, 0, 1)
    logits = np.stack([0.9 * aridity + 0.5 * noise[0],  # sand
                       0.2 + 0.5 * noise[1],  # silt
                       -0.2 + 1.0 * warm_wet + 0.5 * noise[2]])  # clay
    texture = np.exp(logits - logits.max(axis=0))
    texture /= texture.sum(axis=0)
    sand, silt, clay = texture
    gravel = np.clip(0.05 + 0.12 * elevation / 1000.0 + 0.04 * noise[3], 0.0, 0.6)
    organic = np.clip((5.0 - mat) / 15.0, 0.0, 1.0) * np.clip(map_mm / 1000.0, 0.0, 1.0)
    bulk_density = np.clip(1.15 + 0.45 * sand - 0.4 * organic + 0.05 * noise[0], 0.6, 1.8)
    return {"bulk_density": bulk_density, "sand": sand, "silt": silt, "clay": clay,
            "gravel": gravel}


def make_predictors(rng, grid: Grid, clim: Climate) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """All predictors ``(lat, lon)`` float64 and the boolean land mask (see the module doc)."""
    shape = (grid.lat.size, grid.lon.size)
    length = 2.5 / grid.resolution
    mat = (0.5 * (clim.t_min + clim.t_max)).mean(axis=0)
    map_mm = clim.precipitation.mean(axis=0) * 365.25
    n_years = max(clim.precipitation.shape[0] / 12.0, 1.0)
    dry_months = (clim.precipitation < 1.0).sum(axis=0) / n_years  # months/yr below 30 mm

    pft = _pft_fractions(rng, clim, mat, map_mm, dry_months, length)
    forest = sum(pft[n] for n in ("needleleaf_forest", "deciduous_broadleaf_forest",
                                  "evergreen_broadleaf_forest", "mixed_forest"))
    height_potential = 8.0 + 32.0 * np.clip((mat + 5.0) / 30.0, 0, 1) * np.clip(
        map_mm / 2000.0, 0, 1)
    canopy_height = np.clip((forest + 0.3 * pft["savanna"]) * height_potential
                            * np.exp(0.2 * smooth_field(rng, shape, length)), 0.0, None)
    age_field = 90.0 * np.exp(0.5 * smooth_field(rng, shape, length))
    forest_age = np.clip(age_field * (1.0 - 0.6 * pft["savanna"]) * (0.3 + 0.7 * forest),
                         1.0, 400.0)

    predictors = {**pft,
                  "mean_annual_temperature": mat,
                  "mean_annual_precipitation": map_mm,
                  "elevation": clim.elevation,
                  "canopy_height": canopy_height,
                  "forest_age": forest_age,
                  **_soil(rng, mat, map_mm, clim.elevation, length)}
    ocean_score = smooth_field(rng, shape, 2.0 * length)
    land_mask = ocean_score > np.quantile(ocean_score, OCEAN_FRACTION)
    for name, value in predictors.items():
        predictors[name] = np.where(land_mask, value, np.nan)
    ordered = [n for group in PREDICTOR_GROUPS.values() for n in group]
    return {n: predictors[n] for n in ordered}, land_mask
