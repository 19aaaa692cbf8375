"""Static predictors of the embedded world, consistent with its climate.

The four predictor groups of the paper (PFT, CLIM, AGE, SOIL; names from
:data:`xdifferland.contract.declare.PREDICTOR_GROUPS`) are derived from the generated climate and
smooth random fields, so they are spatially coherent and correlated the way real maps are:

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

Designed experiments can make the AGE and/or SOIL group *independent* of the climate and of each
other (:func:`independent_predictors`): the group's predictors then come from smooth random
fields of their own random stream, with a shorter correlation length (:data:`INDEPENDENT_LENGTH`
degrees), mapped into the same units and plausible ranges. The default predictors are drawn
first either way, so every other predictor, the land mask and the rest of the world are unchanged.
"""

from __future__ import annotations

import numpy as np

from ..contract.declare import PREDICTOR_GROUPS
from .synthetic_climate import Climate, Grid, smooth_field

__all__ = ["INDEPENDENT_GROUPS", "INDEPENDENT_LENGTH", "OCEAN_FRACTION", "independent_predictors",
           "make_predictors"]

OCEAN_FRACTION = 0.08
#: Predictor groups that :func:`independent_predictors` can draw independently of the climate.
INDEPENDENT_GROUPS = ("AGE", "SOIL")
#: Correlation length (degrees) of the fields behind independent predictors.
INDEPENDENT_LENGTH = 0.25

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


def _independent_age(fields):
    """Canopy height (m, 3-35) and forest age (years, 1-400) from two unit fields."""
    canopy_height = 3.0 + 32.0 / (1.0 + np.exp(-1.5 * fields[0]))
    forest_age = np.clip(90.0 * np.exp(0.5 * fields[1]), 1.0, 400.0)
    return {"canopy_height": canopy_height, "forest_age": forest_age}


def _independent_soil(fields):
    """Texture fractions summing to 1, gravel (0-0.6) and bulk density (0.6-1.8 g/cm3)."""
    logits = np.stack([0.7 * fields[0], 0.2 + 0.7 * fields[1], -0.2 + 0.7 * fields[2]])
    texture = np.exp(logits - logits.max(axis=0))
    texture /= texture.sum(axis=0)
    sand, silt, clay = texture
    gravel = np.clip(0.08 + 0.05 * fields[3], 0.0, 0.6)
    bulk_density = np.clip(1.15 + 0.45 * sand + 0.1 * fields[4], 0.6, 1.8)
    return {"bulk_density": bulk_density, "sand": sand, "silt": silt, "clay": clay,
            "gravel": gravel}


def independent_predictors(rng, grid: Grid, groups) -> dict[str, np.ndarray]:
    """Predictors of ``groups`` (AGE, SOIL) independent of the climate and of each other.

    Each predictor is a smooth random field (correlation length :data:`INDEPENDENT_LENGTH`
    degrees) drawn from ``rng`` alone, mapped into its usual units and a plausible range:
    canopy height 3-35 m, forest age 1-400 years, sand/silt/clay fractions summing to 1, gravel
    fraction 0-0.6, bulk density 0.6-1.8 g cm-3 (denser in sandy soils). A designed experiment:
    the combinations are not meant to be realistic (tall canopies can stand on bare ground).

    Parameters
    ----------
    rng : numpy.random.Generator
        The random stream of these predictors only.
    grid : Grid
        The world's grid.
    groups : iterable of str
        Subset of :data:`INDEPENDENT_GROUPS`; fields are drawn in that order (AGE, then SOIL)
        whatever order is given.

    Returns
    -------
    dict of str to numpy.ndarray
        ``(lat, lon)`` float64 values of every predictor of the chosen groups (no land mask).
    """
    groups = set(groups)
    unknown = groups - set(INDEPENDENT_GROUPS)
    if unknown:
        raise ValueError(f"only {INDEPENDENT_GROUPS} can be independent, not {sorted(unknown)} "
                         "(CLIM is the forcing's own climate; PFT sets the fire regime)")
    shape = (grid.lat.size, grid.lon.size)
    length = INDEPENDENT_LENGTH / grid.resolution
    out = {}
    if "AGE" in groups:
        out.update(_independent_age(smooth_field(rng, shape, length, 2)))
    if "SOIL" in groups:
        out.update(_independent_soil(smooth_field(rng, shape, length, 5)))
    return out


def make_predictors(rng, grid: Grid, clim: Climate, independent=None
                    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """All predictors ``(lat, lon)`` float64 and the boolean land mask (see the module doc).

    ``independent`` (optional) maps predictor names to fields that replace the derived ones
    before the land mask is applied (see :func:`independent_predictors`); the derived fields are
    still drawn, so ``rng`` is consumed identically and the other predictors do not change.
    """
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
    predictors.update(independent or {})
    ocean_score = smooth_field(rng, shape, 2.0 * length)
    land_mask = ocean_score > np.quantile(ocean_score, OCEAN_FRACTION)
    for name, value in predictors.items():
        predictors[name] = np.where(land_mask, value, np.nan)
    ordered = [n for group in PREDICTOR_GROUPS.values() for n in group]
    return {n: predictors[n] for n in ordered}, land_mask
