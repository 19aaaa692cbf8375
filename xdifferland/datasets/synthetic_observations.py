"""Noisy, gappy observation streams of the embedded world, drawn from its true simulation.

Noise model (``noise`` is the relative level, default 0.15). For each stream ``s`` the noise
standard deviation is ``sigma_s = noise * std(true s)``, the standard deviation of the true stream
over all land pixel-steps (for the coarse streams: over the patch means), and

* additive Gaussian noise ``N(0, sigma_s)``, independent for every pixel (or patch) and step, for
  ``lai`` (then clipped at 0), ``sif``, ``et``, ``biomass`` (one draw per pixel-year), ``som``
  (one draw per pixel), ``nbe``, ``ewt_anomaly`` and the towers' ``gpp``, ``reco``, ``et_ec``;
* multiplicative log-normal noise ``exp(N(0, noise))`` for ``fire_emission`` (stays >= 0 and 0
  where nothing burns); its uncertainty is ``noise * value``.

``<stream>_unc`` holds ``sigma_s`` where the stream has a value (NaN in the gaps).

Gaps (fractions are per step unless said otherwise): ``lai`` 5 % at random plus up to 50 % in
cloudy months (cloud cover > 0.55); ``sif`` 8 % plus the same cloudy-month gaps; ``et`` 3 %;
``biomass`` a quarter of the years missing everywhere (product years) plus 5 % of pixel-years;
``som`` 5 % of pixels; ``nbe`` 5 % of patch-months; ``ewt_anomaly`` 8 % of months everywhere
(instrument gaps); ``nbe`` and ``ewt_anomaly`` only in patches with at least 80 % land cells (as
in the paper); towers record a random window covering at least half of the record, with 10 % of
its months missing.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["NOISE_STREAMS", "coarse_mean", "make_observations", "patch_ids", "pick_towers"]

NOISE_STREAMS = ("lai", "sif", "et", "biomass", "som", "nbe", "fire_emission", "ewt_anomaly",
                 "gpp", "reco", "et_ec")
_MIN_LAND_SHARE = 0.8  # coarse NBE/EWT are assimilated only in mostly-land patches


def patch_ids(lat, lon, patch_size=(4.0, 5.0)) -> np.ndarray:
    """Global patch number of each cell, ``(lat, lon)`` int: row from -90, column from -180.

    With the default 4 x 5 degree patches there are 45 x 72 = 3240 patches on the globe, as in
    the paper; ids do not depend on the window, so two worlds share patch numbers.
    """
    d_lat, d_lon = map(float, patch_size)
    n_cols = int(np.ceil(360.0 / d_lon))
    row = np.floor((np.asarray(lat) + 90.0) / d_lat).astype(np.int64)
    col = np.floor((np.asarray(lon) + 180.0) / d_lon).astype(np.int64) % n_cols
    return row[:, None] * n_cols + col[None, :]


def coarse_mean(field: np.ndarray, patch: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Mean over the valid cells of each patch, written back onto every cell of the patch.

    ``field`` is ``(time, lat, lon)`` and ``valid`` broadcasts to it; a patch without any valid
    cell at a step gets NaN.
    """
    labels, index = np.unique(patch, return_inverse=True)
    index = index.reshape(patch.shape)
    valid = np.broadcast_to(valid, field.shape)
    values = np.where(valid, field, 0.0)
    members = [index == k for k in range(labels.size)]  # few patches: a loop reads clearest
    sums = np.stack([values[:, cells].sum(axis=1) for cells in members], axis=1)
    counts = np.stack([valid[:, cells].sum(axis=1) for cells in members], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    return means[:, index]


def pick_towers(rng, tower_pixels, lat, lon, candidates: np.ndarray) -> np.ndarray:
    """Boolean ``(lat, lon)`` mask of tower cells: a count drawn among ``candidates``, or the
    cells nearest to a sequence of ``(lat, lon)`` positions in degrees."""
    mask = np.zeros(candidates.shape, bool)
    if isinstance(tower_pixels, (int, np.integer)):
        pool = np.flatnonzero(candidates)
        chosen = rng.choice(pool, size=min(int(tower_pixels), pool.size), replace=False)
        mask.flat[chosen] = True
        return mask
    for site_lat, site_lon in tower_pixels:
        mask[np.argmin(np.abs(lat - site_lat)), np.argmin(np.abs(lon - site_lon))] = True
    return mask


def _drop(rng, shape, chance) -> np.ndarray:
    """True where a value goes missing."""
    return rng.uniform(size=shape) < chance


def make_observations(rng, truth: Mapping[str, np.ndarray], land: np.ndarray, patch: np.ndarray,
                      towers: np.ndarray, cloud: np.ndarray, noise: float):
    """Observation arrays, their uncertainties and the noise levels used.

    ``truth`` maps stream names to true ``(time, lat, lon)`` fields (``som`` and biomass are
    derived here from the pools); returns ``(observations, uncertainties, sigma)`` dicts.
    """
    n_t = truth["lai"].shape[0]
    shape = truth["lai"].shape
    land3 = np.broadcast_to(land, shape)
    obs, sigma = {}, {}

    def spread(name, values):
        sigma[name] = noise * float(np.nanstd(values))
        return sigma[name]

    def additive(name, true, missing, clip=None):
        s = spread(name, true)
        value = true + s * rng.standard_normal(true.shape)
        if clip is not None:
            value = np.maximum(value, clip)
        obs[name] = np.where(missing | np.isnan(true), np.nan, value)

    cloudy = 0.5 * np.clip((cloud - 0.55) / 0.3, 0.0, 1.0)
    additive("lai", truth["lai"], _drop(rng, shape, 0.05) | _drop(rng, shape, cloudy), clip=0.0)
    additive("sif", truth["sif"], _drop(rng, shape, 0.08) | _drop(rng, shape, cloudy))
    additive("et", truth["et"], _drop(rng, shape, 0.03))

    # Biomass: the annual mean of live carbon, one noisy value per pixel-year over its 12 months.
    year = np.arange(n_t) // 12
    n_years = year[-1] + 1
    live = truth["labile_pool"] + truth["foliar_pool"] + truth["root_pool"] + truth["wood_pool"]
    annual = np.stack([live[year == y].mean(axis=0) for y in range(n_years)])
    s = spread("biomass", annual)
    noisy = np.maximum(annual + s * rng.standard_normal(annual.shape), 0.0)
    missing = _drop(rng, (n_years, 1, 1), 0.25) | _drop(rng, annual.shape, 0.05)
    obs["biomass"] = np.where(missing | np.isnan(annual), np.nan, noisy)[year]

    som = truth["som_pool"].mean(axis=0)  # the SOM loss compares the time-mean pool
    additive("som", som, _drop(rng, som.shape, 0.05), clip=0.0)

    # Coarse streams: patch means over land cells, one noise draw per patch and month.
    share = coarse_mean(land3[:1].astype(float), patch, np.ones((1,) + land.shape, bool))[0]
    assimilated = share >= _MIN_LAND_SHARE
    labels, first = np.unique(patch, return_index=True)

    def per_patch(values):  # (time, patch) view of a patch-constant field
        return values.reshape(n_t, -1)[:, first]

    def coarse(name, field, missing, kind="additive"):
        mean = coarse_mean(field, patch, land3)
        series = per_patch(mean)
        if kind == "additive":
            s = spread(name, series)
            draws = s * rng.standard_normal(series.shape)
            noisy = series + draws
        else:
            sigma[name] = noise  # relative
            noisy = series * np.exp(noise * rng.standard_normal(series.shape))
        index = np.unique(patch, return_inverse=True)[1].reshape(patch.shape)
        # Values sit on the land cells of the patch only; ocean-like cells stay NaN everywhere.
        obs[name] = np.where(missing | ~land3 | np.isnan(mean), np.nan, noisy[:, index])

    ewt = truth["water_pool"] - truth["water_pool"].mean(axis=0)
    patch_missing = _drop(rng, (n_t, labels.size), 0.05)
    index = np.unique(patch, return_inverse=True)[1].reshape(patch.shape)
    coarse("nbe", truth["nbe"], patch_missing[:, index] | ~assimilated)
    coarse("fire_emission", truth["fire_emission"], np.zeros(shape, bool), kind="relative")
    coarse("ewt_anomaly", ewt, _drop(rng, (n_t, 1, 1), 0.08) | ~assimilated)

    # Eddy-covariance towers: a record window per tower, a few missing months inside it.
    start = rng.integers(0, max(n_t // 3, 1), size=land.shape)
    length = rng.integers(max(n_t // 2, min(12, n_t)), n_t + 1, size=land.shape)
    t = np.arange(n_t)[:, None, None]
    recorded = towers & (t >= start) & (t < start + length) & ~_drop(rng, shape, 0.10)
    reco = truth["gpp"] + truth["nee"]
    for name, true in (("gpp", truth["gpp"]), ("reco", reco), ("et_ec", truth["et"])):
        s = spread(name, true)
        obs[name] = np.where(recorded, true + s * rng.standard_normal(shape), np.nan)

    unc = {}
    for name, value in obs.items():
        scale = noise * np.abs(value) if name == "fire_emission" else sigma[name]
        unc[name] = np.where(np.isnan(value), np.nan, scale)
    return obs, unc, sigma
