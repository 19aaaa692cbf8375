"""Synthetic climate of the embedded world: grid, smooth random fields and monthly forcing.

Everything is plain NumPy and depends only on the latitude/longitude of each cell, the calendar
and a seeded generator, so the same seed always gives the same climate. The recipe (all rates are
monthly means of daily values, held over a 30-day model step):

* **Temperature.** The annual mean falls from 28 degC at the equator as ``32 sin^2(lat)`` and with
  a 6.5 K/km lapse rate; the seasonal half-amplitude grows with ``|lat|`` (0.5 K + 0.3 K/degree,
  at most 20 K) with opposite phase in the two hemispheres, warmest around 20 July in the north.
  The diurnal range is wider in dry, clear places. Monthly anomalies are spatially smooth noise.
* **Shortwave radiation.** Top-of-atmosphere daily insolation at mid-month (FAO-56 formula)
  times an Angstrom-type cloudiness factor ``0.25 + 0.5 (1 - cloud)``; cloud cover rises with
  precipitation.
* **Precipitation.** An ITCZ rain belt that follows the sun between about 8 degS and 8 degN (two
  rainy seasons at the equator, a single monsoon season near 10 deg), dry subtropics, a
  mid-latitude storm track with a winter maximum, a small base rate, a smooth zonal and random
  wetness pattern (so a small window still spans wet and dry cells) and log-normal monthly noise.
* **VPD** from the saturation vapour pressure (Tetens) of the daily extremes and a relative
  humidity that rises with precipitation.
* **CO2** is the same for all cells: 387 ppm in 2010 rising 2.3 ppm/yr, with a 2.2 ppm seasonal
  cycle (a fit to the NOAA global monthly means 2010-2023; no data file is read).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "Climate",
    "Grid",
    "co2_ppm",
    "engine_calendar",
    "make_climate",
    "make_grid",
    "month_times",
    "smooth_field",
    "toa_insolation",
]

_EPOCH = np.datetime64("2000-01-01", "D")  #: origin of the engine's ``time_days`` (reference)


class Grid(NamedTuple):
    """Cell-centre coordinates (degrees) of a regular latitude/longitude grid."""

    lat: np.ndarray  #: (n_lat,) ascending
    lon: np.ndarray  #: (n_lon,) ascending
    resolution: float


class Climate(NamedTuple):
    """Monthly forcing on the grid, each ``(time, lat, lon)`` float64 unless noted."""

    t_min: np.ndarray
    t_max: np.ndarray
    shortwave_radiation: np.ndarray
    precipitation: np.ndarray
    vpd: np.ndarray
    co2: np.ndarray  #: (time,)
    cloud_fraction: np.ndarray  #: kept for the observation gaps (cloudy months)
    elevation: np.ndarray  #: (lat, lon), m


def make_grid(n_lat, n_lon, resolution, lat_range, lon_range) -> Grid:
    """Cell centres; a ``(south, north)`` / ``(west, east)`` range wins over the cell count."""
    def axis(n, span, start_default):
        if span is not None:
            start, stop = map(float, span)
            n = round((stop - start) / resolution)
        else:
            start = start_default
        if n < 1:
            raise ValueError("the grid needs at least one cell along each axis")
        return start + resolution * (np.arange(n) + 0.5)

    lat = axis(n_lat, lat_range, 2.0)
    lon = axis(n_lon, lon_range, 10.0)
    if lat.min() < -90 or lat.max() > 90:
        raise ValueError("latitudes must lie within [-90, 90]")
    return Grid(lat, lon, float(resolution))


def month_times(start: str, n_months: int) -> np.ndarray:
    """Mid-month (the 15th) dates of ``n_months`` consecutive months, ``datetime64[ns]``."""
    first = np.datetime64(start, "M")
    months = first + np.arange(n_months)
    return (months.astype("datetime64[D]") + np.timedelta64(14, "D")).astype("datetime64[ns]")


def engine_calendar(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``time_days`` (days since 2000-01-01, as in the reference drivers) and day of year."""
    days = times.astype("datetime64[D]")
    year_start = days.astype("datetime64[Y]").astype("datetime64[D]")
    time_days = (days - _EPOCH).astype(np.float64)
    day_of_year = (days - year_start).astype(np.float64) + 1.0
    return time_days, day_of_year


def smooth_field(rng, shape, length_cells, n_fields=None):
    """Unit-variance Gaussian random field(s) with correlation length ``length_cells``.

    White noise filtered in Fourier space with a Gaussian kernel; the grid is padded so the
    periodic wrap of the FFT does not tie opposite edges together. ``n_fields`` stacks
    independent fields along a new first axis.
    """
    n_lat, n_lon = shape
    pad = int(np.ceil(2 * length_cells))
    full = (n_lat + pad, n_lon + pad)
    lead = () if n_fields is None else (n_fields,)
    noise = rng.standard_normal(lead + full)
    k_lat = np.fft.fftfreq(full[0])[:, None]
    k_lon = np.fft.rfftfreq(full[1])[None, :]
    kernel = np.exp(-2.0 * (np.pi * length_cells) ** 2 * (k_lat**2 + k_lon**2))
    field = np.fft.irfft2(np.fft.rfft2(noise) * kernel, s=full)[..., :n_lat, :n_lon]
    axes = (-2, -1)
    field = field - field.mean(axis=axes, keepdims=True)
    return field / np.maximum(field.std(axis=axes, keepdims=True), 1e-12)


def co2_ppm(times: np.ndarray) -> np.ndarray:
    """Global CO2: 387 ppm at 2010.0, +2.3 ppm/yr, seasonal cycle of 2.2 ppm amplitude."""
    year = times.astype("datetime64[Y]").astype(np.float64) + 1970.0
    month = times.astype("datetime64[M]").astype(np.int64) % 12
    decimal = year + (month + 0.5) / 12.0
    return 387.0 + 2.3 * (decimal - 2010.0) + 2.2 * np.cos(2 * np.pi * (decimal - 0.195))


def toa_insolation(lat_deg, day_of_year):
    """Daily top-of-atmosphere shortwave radiation (MJ m-2 d-1), FAO-56 eq. 21."""
    phi = np.deg2rad(lat_deg)
    dr = 1.0 + 0.033 * np.cos(2 * np.pi * day_of_year / 365.0)
    delta = 0.409 * np.sin(2 * np.pi * day_of_year / 365.0 - 1.39)
    omega = np.arccos(np.clip(-np.tan(phi) * np.tan(delta), -1.0, 1.0))
    return (24 * 60 / np.pi) * 0.0820 * dr * (
        omega * np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.sin(omega))


def _saturation_vapour_pressure(t):
    """Tetens formula, kPa."""
    return 0.6108 * np.exp(17.27 * t / (t + 237.3))


def make_elevation(rng, grid: Grid) -> np.ndarray:
    """Surface elevation (m): smooth hills and a few ranges up to about 3 km."""
    length = 3.0 / grid.resolution  # correlation length of about 3 degrees
    base = smooth_field(rng, (grid.lat.size, grid.lon.size), length)
    ranges = smooth_field(rng, (grid.lat.size, grid.lon.size), 0.6 * length)
    return 400.0 * np.exp(0.6 * base) + 900.0 * np.maximum(ranges - 0.8, 0.0) ** 1.5


def make_climate(rng, grid: Grid, times: np.ndarray) -> Climate:
    """Monthly forcing on ``grid`` for mid-month ``times`` (see the module docstring)."""
    n_t, shape = times.size, (grid.lat.size, grid.lon.size)
    length = 2.0 / grid.resolution  # weather anomalies are coherent over about 2 degrees
    lat = grid.lat[None, :, None]
    lon = grid.lon[None, None, :]
    _, doy = engine_calendar(times)
    doy3 = doy[:, None, None]
    season = np.cos(2 * np.pi * (doy3 - 201.0) / 365.25)  # +1 near 20 July
    hemisphere = np.tanh(lat / 5.0)

    elevation = make_elevation(rng, grid)
    # Annual-mean temperature: latitude, lapse rate, a little smooth spatial noise.
    t_annual = (28.0 - 32.0 * np.sin(np.deg2rad(lat)) ** 2 - 6.5e-3 * elevation[None]
                + 0.7 * smooth_field(rng, shape, length)[None])
    amplitude = np.minimum(0.5 + 0.3 * np.abs(lat), 20.0)
    t_anomaly = 1.0 * smooth_field(rng, shape, length, n_t)
    t_mean = t_annual + amplitude * hemisphere * season + t_anomaly

    # Precipitation regimes, mm/day.
    itcz = 8.0 * np.sin(2 * np.pi * (doy3 - 110.0) / 365.25)
    tropical = 7.0 * np.exp(-(((lat - itcz) / 9.0) ** 2))
    winter = -hemisphere * season
    storm_track = 2.4 * np.exp(-(((np.abs(lat) - 45.0) / 13.0) ** 2)) * (1 + 0.35 * winter)
    wetness = np.exp(0.35 * np.sin(2 * np.pi * lon / 40.0)
                     + 0.35 * smooth_field(rng, shape, 1.5 * length)[None])
    monthly_noise = np.exp(0.4 * smooth_field(rng, shape, length, n_t) - 0.5 * 0.4**2)
    precipitation = (0.25 + tropical + storm_track) * wetness * monthly_noise

    cloud = np.clip(0.15 + 0.6 * (1.0 - np.exp(-precipitation / 4.0))
                    + 0.05 * smooth_field(rng, shape, length, n_t), 0.05, 0.95)
    radiation = toa_insolation(lat, doy3) * (0.25 + 0.5 * (1.0 - cloud))
    radiation = np.broadcast_to(radiation, (n_t,) + shape)

    diurnal_range = 6.0 + 8.0 * (1.0 - cloud)
    t_min = t_mean - 0.5 * diurnal_range
    t_max = t_mean + 0.5 * diurnal_range
    humidity = np.clip(0.3 + 0.55 * (1.0 - np.exp(-precipitation / 3.0))
                       + 0.05 * smooth_field(rng, shape, length, n_t), 0.1, 0.97)
    saturation = 0.5 * (_saturation_vapour_pressure(t_min) + _saturation_vapour_pressure(t_max))
    vpd = (1.0 - humidity) * saturation
    return Climate(t_min, t_max, np.ascontiguousarray(radiation), precipitation, vpd,
                   co2_ppm(times), cloud, elevation)


def make_burned_area(rng, clim: Climate, fire_prone: np.ndarray) -> np.ndarray:
    """Burned-area fraction per step ``(time, lat, lon)``: mostly 0, dry-season fires.

    A cell can burn in a month with less than 1.5 mm/day of rain; the chance grows with its
    ``fire_prone`` share (savanna, grassland, half the shrubland) and with the wetness of the
    preceding year (fuel). A fire burns a log-normal share (median 5 %) of the fire-prone area.
    """
    precip = clim.precipitation
    dry = np.clip((1.5 - precip) / 1.5, 0.0, 1.0)
    fuel = np.clip(precip.mean(axis=0) / 2.0, 0.0, 1.0)  # about 700 mm/yr for full fuel
    chance = 0.5 * np.nan_to_num(fire_prone)[None] * fuel[None] * dry
    burns = rng.uniform(size=precip.shape) < chance
    share = np.exp(rng.normal(np.log(0.05), 0.8, size=precip.shape))
    return np.where(burns, np.clip(share * np.nan_to_num(fire_prone)[None], 0.0, 0.6), 0.0)
