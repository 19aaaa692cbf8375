"""The hidden predictor -> parameter mapping of the embedded world and its true simulation.

For every registry parameter ``p`` with driver predictors ``D_p`` (chosen by groups or by name,
see :func:`resolve_drivers`), the unconstrained value is

.. math::

    z_j = 4 \\tanh\\big((x_j - \\mu_j) / (4 \\sigma_j)\\big),\\qquad
    \\ell = \\frac{\\sum_{j \\in D_p} w_{pj} z_j - a_p}{s_p},\\qquad
    q = \\frac{\\sum_{j \\in D_p} v_{pj} z_j - b_p}{r_p},

.. math::

    x_p = c_p + A_p \\tanh\\big(\\ell + \\kappa_p (q^2 - 1)\\big),

where ``mu_j``, ``sigma_j`` standardize predictor ``j`` over the land cells (the soft clip at 4
standard deviations keeps rare cover types from dominating), ``w`` and ``v`` are standard-normal
weights (zero outside ``D_p``), ``a, s`` and ``b, r`` standardize the two scores over the land
cells, ``kappa_p`` in [0.1, 0.3] sets the curvature, ``c_p`` is the unconstrained value of a
plausible physical baseline (:data:`BASELINES`) and ``A_p`` its amplitude (:data:`AMPLITUDES`,
0.1-0.5, or as overridden in [0, 1]), so ``|x_p| < 2`` and parameters stay well inside their
bounds. The physical value is :func:`xdifferland.transforms.to_physical` of ``x_p``. Every
coefficient is returned in the truth Dataset, and :func:`evaluate_mapping` recomputes the
parameters from any predictor values.

The initial pools are mapped the same way, around modest, near-steady-state baselines; with a
spin-up (:func:`spin_up`) the state after years of cycled forcing replaces them. Either way the
truth holds the initial pools actually used, so ``simulate(true parameters, forcing)`` reproduces
the true outputs exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from ..registry import DAYS_PER_YEAR, PARAMETER_NAMES, PHENOLOGY_DAYS, resolve_name
from ..transforms import to_physical, to_unconstrained
from ..contract.declare import PREDICTOR_GROUPS

__all__ = [
    "AMPLITUDES",
    "BASELINES",
    "DEFAULT_DRIVERS",
    "TRUE_OUTPUTS",
    "draw_mapping",
    "evaluate_mapping",
    "resolve_amplitudes",
    "resolve_baselines",
    "resolve_drivers",
    "simulate_truth",
]

PREDICTOR_NAMES: tuple[str, ...] = tuple(n for g in PREDICTOR_GROUPS.values() for n in g)
DEFAULT_DRIVERS: tuple[str, ...] = ("PFT", "CLIM", "SOIL", "AGE")

#: Physical value of each parameter at the centre of the mapping (x_p = c_p).
BASELINES: dict[str, float] = {
    "decomposition_rate": 1.0e-3, "autotrophic_fraction": 0.5, "foliar_allocation": 0.13,
    "root_allocation": 0.3, "leaf_lifespan": 1.6, "wood_turnover": 1.2e-4,
    "root_turnover": 1.5e-3, "litter_turnover": 2.0e-3, "som_turnover": 3.0e-5,
    "temperature_sensitivity": 0.05, "canopy_efficiency": 14.0,
    "labile_release_day": 850.0, "labile_allocation": 0.15, "labile_release_period": 45.0,
    "leaf_fall_day": 655.0, "leaf_fall_period": 60.0, "leaf_carbon_mass_per_area": 85.0,
    "initial_labile": 100.0, "initial_foliar": 200.0, "initial_root": 150.0,
    "initial_wood": 6000.0, "initial_litter": 250.0, "initial_som": 9000.0,
    "intrinsic_wue": 25.0, "runoff_focal_point": 4000.0, "field_capacity": 250.0,
    "initial_water": 150.0, "foliar_combustion": 0.3, "ligneous_combustion": 0.15,
    "soil_combustion": 0.05, "fire_resilience": 0.3, "labile_lifespan": 1.6,
    "moisture_factor": 0.1, "underlying_wue": 5.0, "radiation_et_coefficient": 0.025,
    "wilting_point_fraction": 0.1, "sif_slope": 15.0, "sif_intercept_plus_three": 3.5,
    "vod_foliar_coefficient": 1.0e-3, "vod_wood_coefficient": 1.0e-5,
}
#: Amplitude A_p of the unconstrained variation around the baseline.
AMPLITUDES: dict[str, float] = {name: 0.5 for name in PARAMETER_NAMES} | {
    name: 0.3 for name in PARAMETER_NAMES if name.startswith("initial_")} | {
    "labile_release_day": 0.1, "leaf_fall_day": 0.1, "leaf_lifespan": 0.25,
    "labile_lifespan": 0.2, "radiation_et_coefficient": 0.3, "autotrophic_fraction": 0.25,
    "foliar_allocation": 0.25,
    "leaf_carbon_mass_per_area": 0.25, "canopy_efficiency": 0.25, "labile_allocation": 0.25}

#: Outputs kept from the true simulation (engine names).
TRUE_OUTPUTS: tuple[str, ...] = (
    "lai", "gpp", "et", "nee", "nbe", "sif", "fire_emission", "autotrophic_respiration",
    "labile_pool", "foliar_pool", "root_pool", "wood_pool", "litter_pool", "som_pool",
    "water_pool")


def _expand(entry) -> tuple[str, ...]:
    """Predictor names of a driver entry: group names and/or predictor names."""
    entry = (entry,) if isinstance(entry, str) else tuple(entry)
    names: list[str] = []
    for item in entry:
        if item in PREDICTOR_GROUPS:
            names.extend(PREDICTOR_GROUPS[item])
        elif item in PREDICTOR_NAMES:
            names.append(item)
        else:
            raise ValueError(f"unknown predictor or group {item!r}; use one of "
                             f"{tuple(PREDICTOR_GROUPS)} or {PREDICTOR_NAMES}")
    if not names:
        raise ValueError("each parameter needs at least one driver")
    return tuple(n for n in PREDICTOR_NAMES if n in names)


def resolve_drivers(parameter_drivers: Mapping[str, Sequence[str] | str] | None
                    ) -> dict[str, tuple[str, ...]]:
    """Predictor names driving each parameter; key ``"default"`` applies to the unlisted ones.

    Examples
    --------
    >>> drivers = resolve_drivers({"canopy_efficiency": ("mean_annual_temperature",)})
    >>> drivers["canopy_efficiency"]
    ('mean_annual_temperature',)
    >>> len(drivers["sif_slope"])  # default: all four groups, 20 predictors
    20
    """
    given = dict(parameter_drivers or {})
    default = _expand(given.pop("default", DEFAULT_DRIVERS))
    chosen = {resolve_name(key): _expand(value) for key, value in given.items()}
    return {name: chosen.get(name, default) for name in PARAMETER_NAMES}


def resolve_amplitudes(amplitudes: Mapping[str, float] | None) -> dict[str, float]:
    """Amplitude ``A_p`` of every parameter: :data:`AMPLITUDES` with ``amplitudes`` applied.

    Examples
    --------
    >>> resolve_amplitudes({"Fday": 0.3})["leaf_fall_day"], resolve_amplitudes(None)["sif_slope"]
    (0.3, 0.5)
    """
    out = dict(AMPLITUDES)
    for key, value in (amplitudes or {}).items():
        if not 0 <= float(value) <= 1:
            raise ValueError(f"amplitude of {key!r} is {value!r}; use a value in [0, 1] (the "
                             "unconstrained variation around the baseline)")
        out[resolve_name(key)] = float(value)
    return out


def resolve_baselines(baselines: Mapping[str, float] | None) -> dict[str, float]:
    """Physical centre ``c_p`` of every parameter: :data:`BASELINES` with ``baselines`` applied.

    Each given value must lie strictly inside the parameter's registry bounds.

    Examples
    --------
    >>> resolve_baselines({"LCMA": 120.0})["leaf_carbon_mass_per_area"]
    120.0
    >>> resolve_baselines(None)["autotrophic_fraction"]
    0.5
    """
    from ..registry import spec

    out = dict(BASELINES)
    for key, value in (baselines or {}).items():
        name, value = resolve_name(key), float(value)
        entry = spec(name)
        if not entry.min < value < entry.max:
            raise ValueError(f"baseline of {key!r} is {value!r}; use a value inside its bounds "
                             f"({entry.min:g}, {entry.max:g}) {entry.units}")
        out[name] = value
    return out


def _standardized(predictors: Mapping[str, np.ndarray], mean, std) -> np.ndarray:
    """Soft-clipped z-scores, ``(..., predictor)``."""
    x = np.stack([np.asarray(predictors[n], np.float64) for n in PREDICTOR_NAMES], axis=-1)
    return 4.0 * np.tanh((x - mean) / (4.0 * std))


def draw_mapping(rng, predictors: Mapping[str, np.ndarray], land_mask: np.ndarray,
                 drivers: Mapping[str, tuple[str, ...]],
                 amplitudes: Mapping[str, float] | None = None,
                 baselines: Mapping[str, float] | None = None) -> xr.Dataset:
    """Random coefficients of the hidden mapping, as a Dataset over (parameter, predictor).

    ``amplitudes`` overrides :data:`AMPLITUDES` and ``baselines`` :data:`BASELINES` for the
    parameters they name (registry names or aliases); the random draws depend on neither, so
    only the named amplitudes and centres change.
    """
    amplitude = resolve_amplitudes(amplitudes)
    baseline = resolve_baselines(baselines)
    land = {n: np.asarray(predictors[n], np.float64)[land_mask] for n in PREDICTOR_NAMES}
    mean = np.array([land[n].mean() for n in PREDICTOR_NAMES])
    std = np.array([land[n].std() for n in PREDICTOR_NAMES])
    std = np.maximum(std, 1e-3 * (np.abs(mean) + 1e-2))  # constant predictors stay finite
    n_par, n_pred = len(PARAMETER_NAMES), len(PREDICTOR_NAMES)
    # Draw every coefficient (even unused ones) so a driver choice changes only what it names.
    linear = rng.standard_normal((n_par, n_pred))
    quadratic = rng.standard_normal((n_par, n_pred))
    curvature = rng.uniform(0.1, 0.3, n_par)
    uses = np.array([[n in drivers[p] for n in PREDICTOR_NAMES] for p in PARAMETER_NAMES])
    linear, quadratic = linear * uses, quadratic * uses

    z = _standardized(land, mean, std)
    scores = (z @ linear.T, z @ quadratic.T)  # (land pixel, parameter)
    offsets = [s.mean(axis=0) for s in scores]
    scales = [np.maximum(s.std(axis=0), 1e-9) for s in scores]
    centre = np.asarray(to_unconstrained(
        np.array([baseline[p] for p in PARAMETER_NAMES], np.float32)), np.float64)
    par, pred = ("parameter", list(PARAMETER_NAMES)), ("predictor", list(PREDICTOR_NAMES))
    return xr.Dataset(
        {
            "mapping_linear_weight": (("parameter", "predictor"), linear),
            "mapping_quadratic_weight": (("parameter", "predictor"), quadratic),
            "mapping_uses_predictor": (("parameter", "predictor"), uses),
            "mapping_linear_offset": ("parameter", offsets[0]),
            "mapping_linear_scale": ("parameter", scales[0]),
            "mapping_quadratic_offset": ("parameter", offsets[1]),
            "mapping_quadratic_scale": ("parameter", scales[1]),
            "mapping_curvature": ("parameter", curvature),
            "mapping_centre": ("parameter", centre),
            "mapping_amplitude": ("parameter", [amplitude[p] for p in PARAMETER_NAMES]),
            "mapping_drivers": ("parameter", [",".join(drivers[p]) for p in PARAMETER_NAMES]),
            "predictor_mean": ("predictor", mean),
            "predictor_std": ("predictor", std),
        },
        coords=dict([par, pred]),
    )


def evaluate_mapping(predictors: Mapping[str, np.ndarray], mapping: xr.Dataset,
                     *, unconstrained: bool = False) -> dict[str, np.ndarray]:
    """Parameters (physical, or unconstrained x_p) from predictor values and mapping coefficients.

    ``predictors`` maps every predictor name to an array (any shape, all alike; a Dataset
    works). Returns one float64 array of that shape per registry parameter.
    """
    m = mapping
    z = _standardized({n: np.asarray(predictors[n]) for n in PREDICTOR_NAMES},
                      m["predictor_mean"].values, m["predictor_std"].values)
    linear = (z @ m["mapping_linear_weight"].values.T - m["mapping_linear_offset"].values) \
        / m["mapping_linear_scale"].values
    quad = (z @ m["mapping_quadratic_weight"].values.T - m["mapping_quadratic_offset"].values) \
        / m["mapping_quadratic_scale"].values
    x = m["mapping_centre"].values + m["mapping_amplitude"].values * np.tanh(
        linear + m["mapping_curvature"].values * (quad**2 - 1.0))
    if not unconstrained:
        x = np.asarray(to_physical(np.nan_to_num(x).astype(np.float32)), np.float64) \
            * np.where(np.isnan(x), np.nan, 1.0)
    return {name: x[..., k] for k, name in enumerate(PARAMETER_NAMES)}


def southern_phenology(parameters: Mapping[str, np.ndarray], latitude: np.ndarray
                       ) -> dict[str, np.ndarray]:
    """Shift bud burst and leaf fall by half a year south of the equator.

    The mapped timings are northern-hemisphere seasons (bud burst in spring, leaf fall in
    autumn). The shift is half a year times ``1 - sigmoid(latitude in degrees)``: the hemisphere
    indicator the network's phenology head receives (as in the paper), so the planted timings
    stay in the network's reach. It is a full half-year beyond about 4 degrees from the equator
    and passes smoothly through a quarter-year on it, as the seasons of the synthetic climate do
    (their phase turns over within about 5 degrees); a step at the equator would ask the network
    for a jump that its inputs cannot express.

    Examples
    --------
    >>> days = southern_phenology({"leaf_fall_day": np.full(3, 600.0),
    ...                            "labile_release_day": np.full(3, 800.0)},
    ...                           np.array([-10.0, 0.0, 10.0]))
    >>> days["leaf_fall_day"].round(1)
    array([782.6, 691.3, 600. ], dtype=float32)
    """
    out = dict(parameters)
    southness = 1.0 - 1.0 / (1.0 + np.exp(-np.asarray(latitude, np.float64)))
    for name in PHENOLOGY_DAYS:
        out[name] = (np.asarray(out[name]) + DAYS_PER_YEAR / 2 * southness).astype(np.float32)
    return out


def spin_up(parameters: Mapping[str, np.ndarray], forcing, years: int,
            balance_passes: int = 0) -> dict[str, np.ndarray]:
    """Parameters whose initial pools are the state after ``years`` of cycled forcing.

    The first whole years of the record (at most ten) are repeated until ``years`` have passed.
    A century of cycling settles the fast pools but not the soil: with turnover times of
    centuries it would still gain carbon over the record (inflow 1.8 times its outflow in the
    twin world), and the loss's EDC term, which assumes each pool starts in balance, would then
    penalize the planted truth and pull fits away from it. So ``balance_passes`` times (0, the
    default: none, as before generator 1.5) each carbon pool is then scaled by its inflow over
    its outflow across the record itself (a pool loses carbon in proportion to its size, so this
    is its balanced size; the semi-analytic spin-up of land models). The pools become the
    initial-pool entries, clipped into their registry bounds. Pools that cannot be kept (a
    canopy that dies out) end at the lower bound.
    """
    import jax
    import jax.numpy as jnp

    from ..engine import Parameters, simulate
    from ..engine.loss import EDC_BUDGETS, time_total
    from ..registry import HEADS, spec

    if years <= 0:
        return dict(parameters)
    steps = forcing.t_min.shape[0]
    block = min(steps - steps % 12, 120) or steps
    cycles = int(np.ceil(12 * years / block))

    def tile(x):
        x = jnp.asarray(x)
        return jnp.tile(x[:block], (cycles,) + (1,) * (x.ndim - 1)) if x.ndim and x.shape[0] == \
            steps else x

    def clipped(name, values):
        entry = spec(name)
        values = np.nan_to_num(np.asarray(values, np.float64), nan=entry.midpoint)
        return np.clip(values, entry.min * 1.001, entry.max * 0.999).astype(np.float32)

    def as_parameters(values):
        return Parameters(*(jnp.asarray(values[n], jnp.float32) for n in PARAMETER_NAMES))

    spun = dict(parameters)
    final = simulate(as_parameters(spun), jax.tree_util.tree_map(tile, forcing),
                     outputs=["lai"]).final_pools
    spun.update({name: clipped(name, pool) for name, pool in zip(HEADS["initial_pools"], final)})
    budget_outputs = sorted({n for ins, outs, _ in EDC_BUDGETS.values() for n in ins + outs})
    for _ in range(balance_passes):
        run = simulate(as_parameters(spun), forcing, outputs=budget_outputs)
        for pool, (inflows, outflows, _) in EDC_BUDGETS.items():
            name = f"initial_{pool}"
            total_in = np.asarray(sum(time_total(run.outputs, n) for n in inflows), np.float64)
            total_out = np.asarray(sum(time_total(run.outputs, n) for n in outflows), np.float64)
            ratio = np.where(total_out > 0, total_in / np.maximum(total_out, 1e-30), 1.0)
            spun[name] = clipped(name, spun[name] * ratio)
    return spun


def simulate_truth(parameters: Mapping[str, np.ndarray], forcing) -> dict[str, np.ndarray]:
    """Run the engine (float32) for ``(pixel,)`` parameters and ``(time, pixel)`` forcing."""
    import jax.numpy as jnp

    from ..engine import Parameters, simulate

    params = Parameters(*(jnp.asarray(parameters[n], jnp.float32) for n in PARAMETER_NAMES))
    run = simulate(params, forcing, outputs=TRUE_OUTPUTS)
    return {name: np.asarray(value) for name, value in run.outputs.items()}
