"""Synthetic inputs shared by the benchmark scripts (plain NumPy, deterministic, no files)."""

from __future__ import annotations

import numpy as np

N_MONTHS = 168
DELTA_T = 30.0


def forcing_arrays(n_pixels: int, n_months: int = N_MONTHS, seed: int = 0,
                   dtype=np.float32) -> dict[str, np.ndarray]:
    """Plausible monthly drivers: time-varying ``(time, pixel)``, static ``(pixel,)``, scalar dt."""
    rng = np.random.default_rng(seed)
    months = np.arange(n_months, dtype=np.float64)
    lat = rng.uniform(-60.0, 75.0, n_pixels)
    season = np.cos(2 * np.pi * (months[:, None] - 6.5) / 12.0) * np.sign(lat)[None, :]
    base_t = 25.0 - 0.45 * np.abs(lat)[None, :]
    amp = 2.0 + 0.2 * np.abs(lat)[None, :]
    noise = rng.normal(0.0, 1.0, (n_months, n_pixels))
    t_mean = base_t + amp * season + noise
    t_range = rng.uniform(6.0, 14.0, (n_months, n_pixels))
    precip = np.maximum(rng.gamma(2.0, 1.2, (n_months, n_pixels))
                        * (1.0 + 0.5 * season), 0.0)
    burned = np.where(rng.random((n_months, n_pixels)) < 0.05,
                      rng.uniform(0.0, 0.05, (n_months, n_pixels)), 0.0)
    time_days = months * 30.4375 + 15.0
    doy = (time_days % 365.25) + 1.0
    out = {
        "time_days": np.broadcast_to(time_days[:, None], (n_months, n_pixels)),
        "t_min": t_mean - 0.5 * t_range,
        "t_max": t_mean + 0.5 * t_range,
        "shortwave_radiation": np.clip(18.0 + 8.0 * season + rng.normal(0, 2, noise.shape),
                                       1.0, None),
        "co2": np.broadcast_to((370.0 + 2.0 * months / 12.0)[:, None], (n_months, n_pixels)),
        "day_of_year": np.broadcast_to(doy[:, None], (n_months, n_pixels)),
        "burned_area": burned,
        "vpd": np.clip(0.8 + 0.05 * t_mean + rng.normal(0, 0.2, noise.shape), 0.05, None),
        "precipitation": precip,
        "latitude": lat,
        "delta_t": np.asarray(DELTA_T),
        "mean_temperature": t_mean.mean(axis=0),
        "mean_precipitation": precip.mean(axis=0) + 0.1,
    }
    return {k: np.ascontiguousarray(v, dtype=dtype) for k, v in out.items()}


def engine_forcing(n_pixels: int, n_months: int = N_MONTHS, seed: int = 0, dtype=np.float32):
    """An engine :class:`~xdifferland.engine.Forcing` of NumPy arrays."""
    from xdifferland.engine import FORCING_FIELDS, Forcing

    arrays = forcing_arrays(n_pixels, n_months, seed, dtype)
    return Forcing(*(arrays[name] for name in FORCING_FIELDS))


def engine_parameters(n_pixels: int, seed: int = 1, spread: float = 0.5, dtype=np.float32):
    """Random physical parameters around the middle of every range (bounded transform of N(0, s))."""
    from xdifferland.engine import Parameters
    from xdifferland.registry import PARAMETER_NAMES
    from xdifferland.transforms import to_physical

    rng = np.random.default_rng(seed)
    raw = rng.normal(0.0, spread, (n_pixels, len(PARAMETER_NAMES))).astype(dtype)
    physical = np.asarray(to_physical(raw), dtype)
    return Parameters(*(np.ascontiguousarray(physical[:, j]) for j in range(len(PARAMETER_NAMES))))


def synthetic_batch(n_pixels: int = 320, n_predictors: int = 12, n_months: int = N_MONTHS,
                    seed: int = 0, dtype=np.float32):
    """A training :class:`~xdifferland.training.batches.Batch` with every observation stream.

    Observations are smooth positive fields with ~20 % gaps and an uncertainty, so every one of
    the loss terms (including the annual ones, EDC and violation) is active and finite.
    """
    from xdifferland.engine import Observation
    from xdifferland.engine.loss import OBSERVATION_STREAMS
    from xdifferland.training.batches import Batch

    rng = np.random.default_rng(seed + 100)
    forcing = engine_forcing(n_pixels, n_months, seed, dtype)
    scale = {"sif": 0.5, "nbe": 0.2, "lai": 2.0, "ewt_anomaly": 20.0, "biomass": 5000.0,
             "fire_emission": 0.05, "som": 10000.0, "vod": 0.5, "gpp_ec": 3.0, "reco_ec": 3.0,
             "et_ec": 2.0, "et": 2.0, "nee_ec": 0.5}
    observations = {}
    for stream in OBSERVATION_STREAMS:
        value = scale[stream] * (1.0 + 0.3 * rng.standard_normal((n_months, n_pixels)))
        mask = (rng.random((n_months, n_pixels)) > 0.2).astype(dtype)
        if stream in ("biomass", "vod", "som"):  # annual products: whole years observed
            mask = np.repeat((rng.random((n_months // 12, n_pixels)) > 0.2), 12, axis=0)
            mask = mask.astype(dtype)
        value = np.where(mask > 0, value, 0.0)
        unc = np.full((n_months, n_pixels), 0.1 * scale[stream])
        observations[stream] = Observation(value.astype(dtype), mask, unc.astype(dtype))
    valid = np.ones(n_pixels, dtype)
    valid[-8:] = 0.0  # a little padding, as in real patches
    predictors = rng.standard_normal((n_pixels, n_predictors)).astype(dtype)
    hemisphere = rng.standard_normal((n_pixels, 1)).astype(dtype)
    return Batch(predictors, hemisphere, forcing, observations, valid)
