"""The embedded synthetic world: seeded forcing, predictors, hidden truth and observations.

:func:`synthetic_world` is the default dataset of the demo, the tests and twin experiments. It
needs no download and reads no file: climate, predictors, the hidden predictor -> parameter
mapping and the observation noise are all drawn from one seed, and the true pools and fluxes come
from the package's own engine. The pieces live in :mod:`.synthetic_climate`,
:mod:`.synthetic_predictors`, :mod:`.synthetic_truth` and :mod:`.synthetic_observations`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from ..contract.handoff import time_axis
from ..engine import Forcing, output_spec
from ..io.conventions import history_line, udunits
from ..registry import PARAMETER_NAMES, spec
from ..contract.declare import variable
from .synthetic_climate import (
    make_burned_area,
    make_climate,
    make_grid,
    month_times,
)
from .synthetic_observations import (
    NOISE_STREAMS,
    coarse_mean,
    make_observations,
    patch_ids,
    pick_towers,
)
from .presets import DEMO_PRESET, TWIN_PLAUSIBILITY, TWIN_PRESET  # re-exported here
from .synthetic_predictors import independent_predictors, make_predictors
from .synthetic_truth import (draw_mapping, evaluate_mapping, resolve_drivers, simulate_truth,
                              southern_phenology, spin_up)

__all__ = [
    "DEFAULT_NOISE",
    "DEMO_PRESET",
    "GENERATOR_VERSION",
    "MODEL_STEP_DAYS",
    "TWIN_PLAUSIBILITY",
    "TWIN_PRESET",
    "synthetic_world",
]

#: 1.6: parameter_baselines (set in the demo preset; default worlds as before); 1.5:
#: balance_pools (on in the twin preset; default worlds as before); 1.4:
#: land_cover_follows_canopy (likewise).
GENERATOR_VERSION = "1.6"
DEFAULT_NOISE = 0.15  #: noise standard deviation as a fraction of each stream's standard deviation
MODEL_STEP_DAYS = 30.0  #: every monthly step is a 30-day model step, as in the reference
BARE_LAI = 0.3  #: true mean LAI at or below which a cell counts as holding no canopy

_FORCING = ("t_min", "t_max", "shortwave_radiation", "precipitation", "vpd", "co2",
            "burned_area")


def _attrs(name: str, units: str | None = None) -> dict:
    """CF attributes of a declared variable (optionally overriding the units), in UDUNITS."""
    v = variable(name)
    units = units or v.units
    attrs = {"units": udunits(units, v.standard_name) or units, "long_name": v.long_name}
    if v.standard_name:
        attrs["standard_name"] = v.standard_name
    return attrs


def _coords(grid, times) -> dict:
    return {
        "time": ("time", times, {"standard_name": "time", "long_name": "time (mid-month)",
                                 "axis": "T"}),
        "lat": ("lat", grid.lat, {"units": "degrees_north", "standard_name": "latitude",
                                  "long_name": "latitude", "axis": "Y"}),
        "lon": ("lon", grid.lon, {"units": "degrees_east", "standard_name": "longitude",
                                  "long_name": "longitude", "axis": "X"}),
    }


def _scatter(values, land):
    """``(time, pixel)`` or ``(pixel,)`` land values onto the grid, NaN elsewhere."""
    values = np.asarray(values, np.float64)
    out = np.full(values.shape[:-1] + land.shape, np.nan)
    out[..., land] = values
    return out


def synthetic_world(
    *,
    n_lat: int = 16,
    n_lon: int = 20,
    resolution: float = 0.5,
    lat_range: Sequence[float] | None = None,
    lon_range: Sequence[float] | None = None,
    start: str = "2001-01",
    n_years: int = 5,
    seed: int = 0,
    noise: float = DEFAULT_NOISE,
    parameter_drivers: Mapping[str, Sequence[str] | str] | None = None,
    parameter_amplitudes: Mapping[str, float] | None = None,
    parameter_baselines: Mapping[str, float] | None = None,
    tower_pixels: int | Sequence[tuple[float, float]] = 4,
    patch_size: tuple[float, float] = (4.0, 5.0),
    dask_chunks: Mapping[str, int] | None = None,
    spinup_years: int = 100,
    independent_groups: Sequence[str] = (),
    land_cover_follows_canopy: bool = False,
    balance_pools: bool = False,
) -> tuple[xr.Dataset, xr.Dataset]:
    """A seeded synthetic land world with known parameters: forcing, predictors, observations.

    The climate depends on latitude, season, elevation and smooth random fields; the 20 static
    predictors (PFT, CLIM, AGE, SOIL groups) are derived from it; a hidden smooth nonlinear map
    turns the predictors into the 40 DALEC993 parameters; the initial pools are spun up to near
    steady state; the engine simulates the true pools and fluxes (float32, 30-day steps); and
    noisy, gappy observations are drawn from the truth, including coarse 4 x 5 degree patch
    streams and a few eddy-covariance towers.

    Parameters
    ----------
    n_lat, n_lon : int, default 16, 20
        Number of cells when no range is given; the grid then starts at 2 degN, 10 degE, so the
        default window (2-10 degN, 10-20 degE, 4 patches) spans a wet-to-dry savanna gradient.
    resolution : float, default 0.5
        Cell size in degrees.
    lat_range, lon_range : (float, float), optional
        Cell edges ``(south, north)`` / ``(west, east)`` in degrees; they win over the counts.
    start : str, default "2001-01"
        First month. ``time`` holds mid-month dates (the 15th); each step is a 30-day model step.
    n_years : int, default 5
        Length of the record in years (12 steps each).
    seed : int, default 0
        Seed of everything random; the same arguments always give identical worlds.
    noise : float, default 0.15
        Observation noise standard deviation as a fraction of each stream's true standard
        deviation (see :mod:`.synthetic_observations` for the noise and gap model).
    parameter_drivers : mapping, optional
        Predictor groups (``"PFT"``, ``"CLIM"``, ``"AGE"``, ``"SOIL"``) and/or predictor names
        driving each parameter (registry names or aliases); key ``"default"`` covers the rest.
        Default: every parameter depends on all four groups.
    parameter_amplitudes : mapping of str to float, optional
        Amplitude ``A_p`` of the spatial variation of the named parameters (registry names or
        aliases) in unconstrained units, in [0, 1]; the rest keep
        :data:`~xdifferland.datasets.synthetic_truth.AMPLITUDES`. 0 plants a uniform parameter.
    parameter_baselines : mapping of str to float, optional
        Physical value at the centre of the mapping of the named parameters (registry names or
        aliases; inside the parameter's bounds); the rest keep
        :data:`~xdifferland.datasets.synthetic_truth.BASELINES`. The random draws do not depend
        on it, so only the named centres move (e.g. a higher leaf carbon mass per area for a
        canopy of plausible leaf area, as in :data:`DEMO_PRESET`).
    tower_pixels : int or sequence of (lat, lon), default 4
        Number of eddy-covariance towers drawn among vegetated cells, or their positions.
    patch_size : (float, float), default (4.0, 5.0)
        Latitude and longitude size (degrees) of the coarse patches, aligned on -90 / -180.
    dask_chunks : mapping, optional
        Chunk sizes; when given, the returned Dataset is dask-backed.
    spinup_years : int, default 100
        Years of cycled forcing (the record's first whole years, at most ten) run before the
        record; the resulting pools replace the mapped initial pools, so the world starts near
        the steady state its parameters imply. 0 keeps the mapped initial pools.
    independent_groups : sequence of {"AGE", "SOIL"}, default ()
        Predictor groups drawn independently of the climate, of PFT and of each other (a designed
        experiment, e.g. to test that a partition attributes nothing to groups that drive no
        parameter): smooth random fields from their own random stream, in the usual units and
        plausible ranges (see :func:`.synthetic_predictors.independent_predictors`). Everything
        else (climate, the other predictors, land mask, the random draws of mapping, fire,
        observations and towers) is drawn as in the default world; the empty default gives the
        default world exactly.
    land_cover_follows_canopy : bool, default False
        Make the land-cover map agree with the planted vegetation, as a satellite land-cover
        product does: ``non_vegetated`` then drives no parameter, and at land cells that hold no
        canopy in the true simulation (mean LAI <= 0.3: the planted parameters cannot sustain
        leaves) it is redrawn in [0.6, 0.95] (its own random stream, so everything else is drawn
        as without it). The other nine fractions keep the vegetation the climate favours, so at
        those cells the ten shares sum to more than 1. Off, about a third of a tropical world's
        land loses its canopy where the land cover shows savanna or forest, and nothing a
        network sees tells those cells apart.
    balance_pools : bool, default False
        After the spin-up, scale each carbon pool by its inflow over its outflow across the
        record (twice; see :func:`.synthetic_truth.spin_up`), so that the planted truth starts in
        the balance the loss's steady-state (EDC) term assumes. A century of cycling settles the
        fast pools but not the soil, whose turnover takes centuries: in the twin world it still
        gained carbon over the record (inflow 1.8 times outflow) and the EDC term penalized the
        truth. On in :data:`TWIN_PRESET`; off, the world is that of generator 1.4.

    Returns
    -------
    ds : xarray.Dataset
        Dims ``time, lat, lon``: forcing (``t_min``, ``t_max``, ``shortwave_radiation``,
        ``precipitation``, ``vpd``, ``co2``, ``burned_area``), the 20 predictors, ``land_mask``,
        observations (``lai``, ``sif``, ``et``, ``biomass``, ``som``, ``nbe``,
        ``fire_emission``, ``ewt_anomaly``, ``gpp``, ``reco``, ``et_ec``) and their ``*_unc``.
        ``biomass`` repeats each year's value over its 12 months.
    truth : xarray.Dataset
        The 40 true parameters ``(lat, lon)``, the true outputs ``(time, lat, lon)``
        (``lai``, ``gpp``, ``et``, ``nee``, ``nbe``, ``reco``, ``sif``, ``fire_emission``, the
        pools, ``biomass``, ``water_anomaly`` and the noiseless patch means ``*_coarse``),
        the mapping coefficients over ``(parameter, predictor)``, ``patch_id``, ``land_mask``,
        ``tower_mask`` and ``noise_std`` per ``stream``.

    Notes
    -----
    Twin experiments: ``synthetic_world(**TWIN_PRESET)`` gives 3840 cells (12 degS-12 degN,
    5-45 degE; 3532 land cells, of which 2197 keep a canopy, mean LAI > 0.3, in 51 patches) over
    12 years, with 288 flux towers and the planted contrasts described at :data:`TWIN_PRESET`.

    Examples
    --------
    >>> ds, truth = synthetic_world(seed=1)
    >>> dict(ds.sizes)
    {'time': 60, 'lat': 16, 'lon': 20}
    >>> ds["lai"].attrs["units"], truth["canopy_efficiency"].attrs["units"]
    ('1', 'g/m**2/day')
    >>> bool((ds["burned_area"] >= 0).all())
    True
    """
    if noise < 0:
        raise ValueError("noise must be >= 0")
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
    climate_rng, predictor_rng, mapping_rng, fire_rng, observation_rng, tower_rng = rngs

    grid = make_grid(n_lat, n_lon, resolution, lat_range, lon_range)
    times = month_times(start, 12 * int(n_years))
    climate = make_climate(climate_rng, grid, times)
    independent = None
    if independent_groups:
        # a stream of its own (child 6 of the seed), so the six streams above are unchanged
        own_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(6,)))
        independent = independent_predictors(own_rng, grid, independent_groups)
    predictors, land = make_predictors(predictor_rng, grid, climate, independent)
    fire_prone = predictors["savanna"] + predictors["grassland"] + 0.5 * predictors["shrubland"]
    burned_area = make_burned_area(fire_rng, climate, fire_prone)

    drivers = resolve_drivers(parameter_drivers)
    if land_cover_follows_canopy:
        drivers = _without_land_cover_driver(drivers)
    mapping = draw_mapping(mapping_rng, predictors, land, drivers, parameter_amplitudes,
                           parameter_baselines)
    parameters = {k: v.astype(np.float32) for k, v in
                  evaluate_mapping({n: v[land] for n, v in predictors.items()}, mapping).items()}

    # The same calendar as every labeled run (boundary.time_axis), so simulating the true
    # parameters through xdifferland.simulate reproduces the truth.
    axis = time_axis(xr.DataArray(times, dims="time"))
    time_days, day_of_year = axis.time_days.values, axis.day_of_year.values
    on_land = lambda field: np.asarray(field[:, land], np.float32)
    forcing = Forcing(
        time_days=time_days[:, None], t_min=on_land(climate.t_min), t_max=on_land(climate.t_max),
        shortwave_radiation=on_land(climate.shortwave_radiation), co2=climate.co2[:, None],
        day_of_year=day_of_year[:, None], burned_area=on_land(burned_area),
        vpd=on_land(climate.vpd), precipitation=on_land(climate.precipitation),
        latitude=np.broadcast_to(grid.lat[:, None], land.shape)[land],
        delta_t=np.float32(MODEL_STEP_DAYS),
        mean_temperature=predictors["mean_annual_temperature"][land],
        # The reference divides MAP by 365.22 (spec 1.1); MAP here is mean rate x 365.25.
        mean_precipitation=predictors["mean_annual_precipitation"][land] / 365.22,
    )
    parameters = southern_phenology(parameters, forcing.latitude)
    parameters = spin_up(parameters, forcing, spinup_years,
                         balance_passes=2 if balance_pools else 0)
    true = {k: _scatter(v, land) for k, v in simulate_truth(parameters, forcing).items()}

    patch = patch_ids(grid.lat, grid.lon, patch_size)
    mean_lai = np.zeros(land.shape)
    mean_lai[land] = true["lai"][:, land].mean(axis=0)
    if land_cover_follows_canopy:
        # a stream of its own (child 7 of the seed), so the six streams above are unchanged
        cover_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,)))
        bare_share = cover_rng.uniform(0.6, 0.95, land.shape)
        predictors["non_vegetated"] = np.where(land & (mean_lai <= BARE_LAI), bare_share,
                                               predictors["non_vegetated"])
    candidates = land & (predictors["non_vegetated"] < 0.5) & (mean_lai > 0.5)
    towers = pick_towers(tower_rng, tower_pixels, grid.lat, grid.lon,
                         candidates if candidates.any() else land)
    obs, unc, sigma = make_observations(observation_rng, true, land, patch, towers,
                                        climate.cloud_fraction, noise)

    coords = _coords(grid, times)
    tll, ll = ("time", "lat", "lon"), ("lat", "lon")
    data = {name: (tll, getattr(climate, name), _attrs(name)) for name in _FORCING
            if name not in ("co2", "burned_area")}
    data["co2"] = ("time", climate.co2, _attrs("co2"))
    data["burned_area"] = (tll, burned_area, _attrs("burned_area"))
    data |= {name: (ll, value, _attrs(name)) for name, value in predictors.items()}
    data["land_mask"] = (ll, land, {"long_name": "valid land cell (predictors defined)"})
    for name, value in obs.items():
        dims = ll if value.ndim == 2 else tll
        data[name] = (dims, value, _attrs(name))
        data[f"{name}_unc"] = (dims, unc[name], _attrs(f"{name}_unc"))
    ds = xr.Dataset(data, coords=coords)
    for name in ds.data_vars:
        if ds[name].dtype == np.float64:
            ds[name] = ds[name].astype(np.float32)
    ds.attrs = {
        "title": "xdifferland synthetic world",
        "description": (
            "Fully synthetic, seeded data: latitude/season-dependent climate with smooth random "
            "anomalies, climate-consistent static predictors, a hidden smooth nonlinear mapping "
            "from predictors to the 40 DALEC993 parameters, true pools and fluxes simulated by "
            "the xdifferland engine (float32, 30-day steps), and observations with Gaussian "
            f"noise ({noise:g} x each stream's standard deviation; log-normal for fire) and gaps; "
            "nbe, fire_emission and ewt_anomaly are patch means repeated on the patch's cells; "
            "gpp, reco and et_ec exist only at tower cells; biomass repeats each annual value "
            "over its 12 months. Not real data."),
        "source": "xdifferland.datasets.synthetic_world",
        "history": history_line(f"synthetic_world(seed={int(seed)})"),
        "seed": int(seed),
        "generator_version": GENERATOR_VERSION,
        "Conventions": "CF-1.8",
        "noise_fraction": float(noise),
        "model_step_days": MODEL_STEP_DAYS,
        "patch_size_degrees": [float(x) for x in patch_size],
        "time_convention": "mid-month (15th); each step is a 30-day model step",
    }
    if land_cover_follows_canopy:
        ds.attrs["land_cover_follows_canopy"] = 1
    if balance_pools:
        ds.attrs["balance_pools"] = 1
    if parameter_baselines:
        ds.attrs["parameter_baselines"] = ", ".join(
            f"{k}={float(v):g}" for k, v in parameter_baselines.items())
    if independent:
        ds.attrs["independent_groups"] = " ".join(g for g in ("AGE", "SOIL")
                                                  if g in set(independent_groups))
    if dask_chunks is not None:
        ds = ds.chunk(dict(dask_chunks))
    return ds, _truth_dataset(coords, true, parameters, land, patch, towers, mapping, sigma,
                              seed)


def _without_land_cover_driver(drivers: dict[str, tuple[str, ...]]
                               ) -> dict[str, tuple[str, ...]]:
    """``drivers`` without ``non_vegetated``, which is then written from the true canopy."""
    alone = sorted(p for p, names in drivers.items() if names == ("non_vegetated",))
    if alone:
        raise ValueError(f"{alone} are driven by non_vegetated alone; with "
                         "land_cover_follows_canopy=True that share follows the canopy and "
                         "drives no parameter: give them other drivers")
    return {p: tuple(n for n in names if n != "non_vegetated") for p, names in drivers.items()}


def _truth_dataset(coords, true, parameters, land, patch, towers, mapping, sigma, seed):
    tll, ll = ("time", "lat", "lon"), ("lat", "lon")
    data = {}
    for name in PARAMETER_NAMES:
        p = spec(name)
        data[name] = (ll, _scatter(parameters[name], land).astype(np.float32),
                      {"units": p.units, "long_name": p.description, "alias": p.alias})
    for name, value in true.items():
        o = output_spec(name)
        attrs = {"units": variable("sif").units if name == "sif" else o.units,
                 "long_name": f"true {o.long_name}"}
        if o.standard_name:
            attrs["standard_name"] = o.standard_name
        data[name] = (tll, value.astype(np.float32), attrs)
    flux = {"units": "g/m**2/day"}
    land3 = np.broadcast_to(land, true["lai"].shape)
    water_anomaly = true["water_pool"] - true["water_pool"].mean(axis=0)
    derived = {
        "reco": (true["gpp"] + true["nee"], flux | {"long_name": "true ecosystem respiration"}),
        "biomass": (true["labile_pool"] + true["foliar_pool"] + true["root_pool"]
                    + true["wood_pool"], {"units": "g/m**2", "long_name": "true live biomass"}),
        "water_anomaly": (water_anomaly, {"units": "mm", "long_name":
                                          "true water pool minus its time mean"}),
        "nbe_coarse": (coarse_mean(true["nbe"], patch, land3),
                       flux | {"long_name": "true patch-mean nbe"}),
        "fire_emission_coarse": (coarse_mean(true["fire_emission"], patch, land3),
                                 flux | {"long_name": "true patch-mean fire emission"}),
        "ewt_anomaly_coarse": (coarse_mean(water_anomaly, patch, land3),
                               {"units": "mm", "long_name": "true patch-mean water anomaly"}),
    }
    for name, (value, attrs) in derived.items():
        data[name] = (tll, np.where(land3, value, np.nan).astype(np.float32), attrs)
    data["patch_id"] = (ll, patch, {"long_name": "global patch number (row from -90 deg x "
                                                  "columns + column from -180 deg)"})
    data["land_mask"] = (ll, land, {"long_name": "valid land cell"})
    data["tower_mask"] = (ll, towers, {"long_name": "eddy-covariance tower cell"})
    data["noise_std"] = ("stream", [sigma[s] for s in NOISE_STREAMS],
                         {"long_name": "observation noise standard deviation (stream units; "
                                       "relative for fire_emission)"})
    truth = xr.Dataset(data, coords=coords | {"stream": list(NOISE_STREAMS)})
    truth = truth.merge(mapping)
    truth.attrs = {"title": "truth of the xdifferland synthetic world", "seed": int(seed),
                   "generator_version": GENERATOR_VERSION,
                   "mapping": ("x_p = centre + amplitude * tanh(l + curvature * (q**2 - 1)), see "
                               "xdifferland.datasets.synthetic_truth; physical = to_physical(x)")}
    return truth
