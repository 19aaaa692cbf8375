"""The DifferLand loss accumulated inside the time loop: same terms, no stacked outputs.

:func:`~.loss.loss_terms` reads the model's series stacked over time, ``(time, pixel)`` for every
flux and pool a term compares (38 of the 44 outputs for the full loss), and a gradient then flows
back through all of them. Here the observations are inputs of the time loop instead: each month,
the step's fluxes are compared with that month's observations and the terms keep running sums in
the loop's carry: per pixel for the sums of squared errors, the running annual means, the SOM and
water totals and the EDC budgets, one number per month for the patch terms (the batch mean of
the model; the observed side, which the model does not change, is formed outside the loop).
Nothing the size of the record leaves the loop but those monthly numbers.

The values are :func:`~.loss.loss_terms`'s up to the order of summation (the parity test holds
both to the reference's terms to 1e-8 in float64). Terms the loop cannot carry (user terms of
``extra_terms``, which may read any output or the parameters) are evaluated as before on the
outputs they need, which the loop then stacks.

:func:`simulated_loss_terms` runs the simulation and the loss in one; :func:`replay` runs the
same accumulation over outputs already stacked (how the tests compare it with the reference).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..typing import Array
from .loss import (
    LOSS_TERMS,
    WATER_MEAN_EPSILON,
    LossTerm,
    Observation,
    active_terms,
    default_edc_gate,
    loss_terms,
    required_outputs,
)
from .loss_edc import EDC_BUDGETS, EDC_EPSILON, EDC_FLUXES, edc_penalty
from .loss_primitives import (
    MONTHS_PER_YEAR,
    annualize,
    observation_sse,
    patch_error_of_means,
    scaled_residual,
)
from .outputs import resolve_outputs
from .simulate import _n_time, normalized, run_loop
from .step import init
from .types import Pools

__all__ = ["EDC_SERIES", "IN_LOOP_TERMS", "LoopLoss", "replay", "simulated_loss_terms"]

_Predicted = Callable[[Mapping[str, Array]], Array]


_LIVE_POOLS = ("labile_pool", "foliar_pool", "wood_pool", "root_pool")


def _output(name: str) -> _Predicted:
    return lambda fluxes: fluxes[name]


def _live(fluxes):
    labile, foliar, wood, root = (fluxes[name] for name in _LIVE_POOLS)
    return labile + foliar + wood + root


#: Monthly sums of squared errors: the model quantity each compares.
_MONTHLY_SSE: dict[str, _Predicted] = {
    "sif": _output("sif"), "lai": _output("lai"), "fluxnet_gpp": _output("gpp"),
    "fluxnet_reco": lambda f: f["gpp"] + f["nee"], "fluxnet_et": _output("et"),
    "gleam_et": _output("et"), "fluxnet_nee": _output("nee"),
}
#: Annual sums of squared errors (means over each block of 12 months).
_ANNUAL_SSE: dict[str, _Predicted] = {"biomass": _live, "vod": _output("vod")}
#: Monthly patch errors.
_MONTHLY_PATCH: dict[str, _Predicted] = {"nbe": _output("nbe"), "fire": _output("fire_emission")}
#: Annual patch errors.
_ANNUAL_PATCH: dict[str, _Predicted] = {"nbe_iav": _output("nbe")}
#: The series :func:`~.loss.loss_terms` reads for the EDC term (its totals and pools).
EDC_SERIES: tuple[str, ...] = (*("sum:" + flux for flux in EDC_FLUXES),
                               *(state for _, _, state in EDC_BUDGETS.values()))

#: The built-in terms the loop accumulates (all of :data:`~.loss.LOSS_TERMS`).
IN_LOOP_TERMS: frozenset[str] = frozenset(
    [*_MONTHLY_SSE, *_ANNUAL_SSE, *_MONTHLY_PATCH, *_ANNUAL_PATCH,
     "som", "water", "violation", "edc"])


#: The step fluxes each term reads.
_READS: dict[str, tuple[str, ...]] = {
    "sif": ("sif",), "lai": ("lai",), "fluxnet_gpp": ("gpp",), "fluxnet_reco": ("gpp", "nee"),
    "fluxnet_et": ("et",), "gleam_et": ("et",), "fluxnet_nee": ("nee",), "biomass": _LIVE_POOLS,
    "vod": ("vod",), "nbe": ("nbe",), "fire": ("fire_emission",), "nbe_iav": ("nbe",),
    "som": ("som_pool",), "water": ("water_pool",), "violation": ("water_balance_violation",),
    "edc": (*EDC_FLUXES, *(state for _, _, state in EDC_BUDGETS.values())),
}


def _stream(term: str) -> str:
    return LOSS_TERMS[term].observation


def _at_year_end(annual: Array, n_time: int) -> Array:
    """``(year, ...)`` values placed at months 11, 23, ... of a ``(time, ...)`` array of zeros."""
    placed = jnp.zeros((n_time,) + annual.shape[1:], annual.dtype)
    return placed.at[MONTHS_PER_YEAR - 1::MONTHS_PER_YEAR].set(annual)


class LoopLoss(NamedTuple):
    """The loss terms one time loop accumulates (static and hashable).

    Attributes
    ----------
    terms : tuple of str
        Built-in terms (of :data:`IN_LOOP_TERMS`), in :data:`~.loss.LOSS_TERMS` order.
    scaled : tuple of str
        The terms whose residuals are divided by the observation's uncertainty.
    batch_size : int
        Rows of the batch including padding, the divisor of the patch means.
    """

    terms: tuple[str, ...]
    scaled: tuple[str, ...]
    batch_size: int

    @classmethod
    def plan(cls, terms: Iterable[str], observations: Mapping[str, Observation],
             batch_size: int, use_uncertainty: bool = False) -> LoopLoss:
        """The loop's share of ``terms`` (names of active terms; others are left out)."""
        chosen = tuple(name for name in LOSS_TERMS if name in set(terms))
        scaled = tuple(name for name in chosen
                       if use_uncertainty and (name in _MONTHLY_SSE or name in _ANNUAL_SSE
                                               or name == "som")
                       and observations[_stream(name)].uncertainty is not None)
        return cls(chosen, scaled, int(batch_size))

    @property
    def reads(self) -> tuple[str, ...]:
        """The step fluxes :meth:`update` reads."""
        return tuple(dict.fromkeys(name for term in self.terms for name in _READS[term]))

    @property
    def kept(self) -> tuple[str, ...]:
        """Carry entries that enter :meth:`update` other than linearly (the running annual
        sums); a reverse pass needs their values, not those of the plain sums."""
        return tuple(term + ".running" for term in self.terms
                     if term in _ANNUAL_SSE or term in _ANNUAL_PATCH)

    def inputs(self, observations: Mapping[str, Observation], n_time: int) -> dict[str, Array]:
        """What each month of the loop reads, as ``(time, ...)`` arrays (data only)."""
        x: dict[str, Array] = {}
        if {"edc", *_ANNUAL_SSE, *_ANNUAL_PATCH} & set(self.terms):
            month = jnp.arange(n_time) % MONTHS_PER_YEAR  # a float flag: inputs are data
            x["year_end"] = (month == MONTHS_PER_YEAR - 1).astype(jnp.result_type(float))
        for term in self.terms:
            if term in ("violation", "edc", "som"):
                continue
            obs = observations[_stream(term)]
            if term in _MONTHLY_SSE:
                x[term + ".value"], x[term + ".mask"] = obs.value, obs.mask
                if term in self.scaled:
                    x[term + ".sigma"] = obs.uncertainty
            elif term in _ANNUAL_SSE or term in _ANNUAL_PATCH:
                annual = annualize(obs)  # raises for a record that is not whole years
                x[term + ".mask"] = _at_year_end(annual.mask, n_time)
                if term in _ANNUAL_SSE:
                    x[term + ".value"] = _at_year_end(annual.value, n_time)
                    if term in self.scaled:
                        x[term + ".sigma"] = _at_year_end(annual.uncertainty, n_time)
            else:  # monthly patch terms and water read the monthly mask
                x[term + ".mask"] = obs.mask
        return x

    def start(self, n_pixel: int, dtype) -> dict[str, Array]:
        """The carry before the first month: zeros."""
        zero = jnp.zeros((n_pixel,), dtype)
        names = []
        for term in self.terms:
            if term in _ANNUAL_SSE or term in _ANNUAL_PATCH:
                names.append(term + ".running")
            if term == "edc":
                names += ["edc.sum:" + flux for flux in EDC_FLUXES]
                names += ["edc.january:" + pool for pool in EDC_BUDGETS]
            elif term not in _MONTHLY_PATCH and term != "nbe_iav":
                names.append(term)
        return {name: zero for name in names}

    def update(self, carry, fluxes, x):
        """One month: ``(carry, monthly numbers)`` after comparing ``fluxes`` with ``x``."""
        carry, monthly = dict(carry), {}
        for term in self.terms:
            if term in _MONTHLY_SSE:
                residual = scaled_residual(_MONTHLY_SSE[term](fluxes), x[term + ".value"],
                                           x[term + ".mask"], x.get(term + ".sigma"))
                carry[term] = carry[term] + residual ** 2 * x[term + ".mask"]
            elif term in _ANNUAL_SSE or term in _ANNUAL_PATCH:
                predicted = (_ANNUAL_SSE.get(term) or _ANNUAL_PATCH[term])(fluxes)
                running = carry[term + ".running"] + predicted
                mean, mask = running / MONTHS_PER_YEAR, x[term + ".mask"]
                if term in _ANNUAL_SSE:
                    residual = scaled_residual(mean, x[term + ".value"], mask,
                                               x.get(term + ".sigma"))
                    carry[term] = carry[term] + residual ** 2 * mask
                else:
                    monthly[term] = jnp.sum(mean * mask) / self.batch_size
                carry[term + ".running"] = jnp.where(x["year_end"] > 0, 0.0, running)
            elif term in _MONTHLY_PATCH:
                predicted = _MONTHLY_PATCH[term](fluxes)
                monthly[term] = jnp.sum(predicted * x[term + ".mask"]) / self.batch_size
            elif term == "water":
                masked = fluxes["water_pool"] * x["water.mask"]
                carry["water"] = carry["water"] + masked
                monthly["water"] = jnp.sum(masked) / self.batch_size
            elif term == "som":
                carry["som"] = carry["som"] + fluxes["som_pool"]
            elif term == "violation":
                carry["violation"] = carry["violation"] + fluxes["water_balance_violation"]
            elif term == "edc":
                for flux in EDC_FLUXES:
                    carry["edc.sum:" + flux] = carry["edc.sum:" + flux] + fluxes[flux]
                for pool, (_, _, state) in EDC_BUDGETS.items():
                    key = "edc.january:" + pool
                    carry[key] = carry[key] + jnp.where(x["year_end"] > 0, fluxes[state], 0.0)
        return carry, monthly

    def finish(self, carry, monthly, observations: Mapping[str, Observation], n_time: int,
               initial_pools: Pools | None, edc_gate: Array | None,
               epsilon: float = EDC_EPSILON) -> dict[str, Array]:
        """The unweighted terms from the carry after the last month and the monthly numbers."""
        size = self.batch_size
        values = {}
        for term in self.terms:
            obs = observations.get(_stream(term)) if _stream(term) else None
            if term in _MONTHLY_SSE or term in _ANNUAL_SSE or term == "violation":
                values[term] = jnp.sum(carry[term])
            elif term in _MONTHLY_PATCH:
                values[term] = patch_error_of_means(monthly[term], obs.value, obs.mask,
                                                    size)
            elif term in _ANNUAL_PATCH:
                annual = annualize(obs)
                year_ends = monthly[term][MONTHS_PER_YEAR - 1::MONTHS_PER_YEAR]
                values[term] = patch_error_of_means(year_ends, annual.value, annual.mask, size)
            elif term == "water":
                mask = obs.mask
                mean = carry["water"] / (jnp.sum(mask, axis=0) + WATER_MEAN_EPSILON)
                anomaly = monthly["water"] - jnp.sum(mean[None, :] * mask, axis=1) / size
                values[term] = patch_error_of_means(anomaly, obs.value, mask, size)
            elif term == "som":
                first = Observation(*(None if a is None else a[0] for a in obs))
                values[term] = observation_sse(carry["som"] / n_time, first, term in self.scaled)
            elif term == "edc":
                values[term] = _edc(carry, n_time, initial_pools, edc_gate, epsilon)
        return values


def _edc(carry, n_time, initial_pools, edc_gate, epsilon):
    if initial_pools is None:
        raise ValueError("the EDC term needs the initial pools")
    if n_time < MONTHS_PER_YEAR:
        raise ValueError(f"the EDC term needs at least 12 time steps, got {n_time}")
    years = n_time // MONTHS_PER_YEAR
    totals = {flux: carry["edc.sum:" + flux] for flux in EDC_FLUXES}
    january = {pool: carry["edc.january:" + pool] / years for pool in EDC_BUDGETS}
    per_pixel = edc_penalty(totals, january, initial_pools, epsilon)
    return jnp.sum(per_pixel * (1.0 if edc_gate is None else edc_gate))


def replay(outputs: Mapping[str, Array], observations: Mapping[str, Observation],
           initial_pools: Pools | None, *, weights: Mapping[str, float | None] | None = None,
           batch_size: int | None = None, use_uncertainty: bool = False,
           edc_gate: Array | None = None) -> dict[str, Array]:
    """The built-in terms of :func:`~.loss.loss_terms`, accumulated month by month over ``outputs``.

    Same arguments and result as :func:`~.loss.loss_terms` (without user terms); ``outputs``
    must hold the ``(time, pixel)`` series of every quantity the active terms compare (totals
    are formed in the loop). It runs the accumulation of :func:`simulated_loss_terms` over
    series already stacked, which is how it is checked against the reference.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> outputs = {"sif": jnp.ones((12, 2)), "water_balance_violation": jnp.ones((12, 2))}
    >>> observations = {"sif": Observation(jnp.zeros((12, 2)), jnp.ones((12, 2)))}
    >>> terms = replay(outputs, observations, None, weights={"edc": 0})
    >>> {name: float(value) for name, value in terms.items()}  # 400 * 24 each
    {'sif': 9600.0, 'violation': 9600.0}
    """
    chosen = active_terms(observations, weights)
    series = {name: value for name, value in outputs.items() if jnp.ndim(value) == 2}
    n_time, n_pixel = jnp.shape(next(iter(series.values())))
    batch_size = n_pixel if batch_size is None else batch_size
    plan = LoopLoss.plan(chosen, observations, batch_size, use_uncertainty)
    dtype = jnp.result_type(*series.values())

    def body(carry, month):
        return plan.update(carry, *month)

    carry, monthly = jax.lax.scan(body, plan.start(n_pixel, dtype),
                                  (series, plan.inputs(observations, n_time)))
    values = plan.finish(carry, monthly, observations, n_time, initial_pools,
                         default_edc_gate(edc_gate, observations))
    return {name: weight * values[name] for name, weight in chosen.items()}


def simulated_loss_terms(
    parameters, forcing, observations: Mapping[str, Observation], *,
    weights: Mapping[str, float | None] | None = None, batch_size: int | None = None,
    use_uncertainty: bool = False, edc_gate: Array | None = None,
    extra_terms: Iterable[LossTerm] = (), extra_outputs: Mapping[str, Array] | None = None,
    mass_conserving: bool = False, water_stress: str = "default", stress_weights=None,
    step_days: int | None = None, unroll: int = 1, adjoint: bool = False,
) -> dict[str, Array]:
    """Simulate and evaluate the loss in one time loop; the terms of :func:`~.loss.loss_terms`.

    Parameters
    ----------
    parameters, forcing
        As for :func:`~.simulate.simulate`.
    observations, weights, batch_size, use_uncertainty, edc_gate, extra_terms
        As for :func:`~.loss.loss_terms` (``batch_size`` defaults to the number of pixels).
    extra_outputs : mapping of str to Array, optional
        Quantities that are not engine outputs but that user terms read (a fitted model's
        parameters, :func:`~.loss_parameters.parameter_outputs`).
    mass_conserving, water_stress, stress_weights, step_days, unroll, adjoint
        As for :func:`~.simulate.simulate`. With ``adjoint`` the loop's reverse pass is the
        hand-written adjoint with each month's loss cotangents formed inside it (JAX's
        derivative of one month's accumulation), so no cotangent series enters the loop.

    Returns
    -------
    dict of str to Array
        Weighted scalar terms, in the order of :func:`~.loss.loss_terms`.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from xdifferland.engine import Forcing, init, midpoint_parameters, simulate
    >>> from xdifferland.engine.loss import Observation, loss_terms
    >>> from xdifferland.engine.loss_in_loop import EDC_SERIES, simulated_loss_terms
    >>> months = jnp.arange(24.0)
    >>> forcing = Forcing(
    ...     time_days=(months * 30 + 15)[:, None], t_min=jnp.full((24, 1), 5.0),
    ...     t_max=jnp.full((24, 1), 15.0), shortwave_radiation=jnp.full((24, 1), 15.0),
    ...     co2=jnp.full((24, 1), 400.0), day_of_year=((months * 30 + 15) % 365)[:, None],
    ...     burned_area=jnp.zeros((24, 1)), vpd=jnp.full((24, 1), 1.0),
    ...     precipitation=jnp.full((24, 1), 2.0), latitude=jnp.array([45.0]),
    ...     delta_t=jnp.array(30.0), mean_temperature=jnp.array([10.0]),
    ...     mean_precipitation=jnp.array([2.0]))
    >>> gpp = Observation(jnp.full((24, 1), 3.0), jnp.ones((24, 1)))
    >>> params = midpoint_parameters(1)
    >>> in_loop = simulated_loss_terms(params, forcing, {"gpp_ec": gpp})
    >>> run = simulate(params, forcing, ["gpp", "sum:water_balance_violation", *EDC_SERIES])
    >>> stacked = loss_terms(run.outputs, {"gpp_ec": gpp}, init(params))
    >>> sorted(in_loop) == sorted(stacked)
    True
    >>> bool(jnp.allclose(in_loop["fluxnet_gpp"], stacked["fluxnet_gpp"], rtol=1e-5))
    True
    """
    extra_terms = tuple(extra_terms)
    extra_outputs = dict(extra_outputs or {})
    chosen = active_terms(observations, weights, extra_terms)
    parameters, forcing, step_days = normalized(parameters, forcing, step_days)
    n_time = _n_time(forcing)
    n_pixel = jnp.shape(parameters.decomposition_rate)[0]
    batch_size = n_pixel if batch_size is None else int(batch_size)
    edc_gate = default_edc_gate(edc_gate, observations)
    plan = LoopLoss.plan([n for n in chosen if n in IN_LOOP_TERMS], observations, batch_size,
                         use_uncertainty)
    user = {name: w for name, w in chosen.items() if name not in IN_LOOP_TERMS}
    needed = tuple(name for name in required_outputs(user, extra_terms)
                   if name not in extra_outputs)
    run, (carry, monthly) = run_loop(
        parameters, forcing, resolve_outputs(needed) if needed else (), mass_conserving, unroll,
        water_stress, stress_weights, False, step_days, bool(adjoint), plan,
        plan.inputs(observations, n_time))
    initial_pools = init(parameters)
    values = plan.finish(carry, monthly, observations, n_time, initial_pools, edc_gate)
    if user:
        off = {name: 0 for name in LOSS_TERMS}
        values.update(loss_terms({**run.outputs, **extra_outputs}, observations, initial_pools,
                                 weights={**off, **user}, batch_size=batch_size,
                                 use_uncertainty=use_uncertainty, edc_gate=edc_gate,
                                 extra_terms=extra_terms))
        return {name: (values[name] if name in user else weight * values[name])
                for name, weight in chosen.items()}
    return {name: weight * values[name] for name, weight in chosen.items()}
