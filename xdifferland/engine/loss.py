"""The published DifferLand (global) loss as pure JAX functions (spec section 8).

Outputs and observations are time-major ``(time, pixel)`` arrays, exactly as returned by
:func:`~xdifferland.engine.simulate`; outputs are keyed by engine name (``"sif"``, ``"nbe"``,
``"water_pool"``, ...), and time totals ``(pixel,)`` by ``"sum:<name>"`` (the EDC and violation
terms need only those, so the time loop never stacks their fluxes). Observations are keyed by
stream name (:data:`OBSERVATION_STREAMS`) and are
:class:`~xdifferland.engine.loss_primitives.Observation` tuples.

:data:`LOSS_TERMS` declares the 15 terms (default weight, observation stream, needed outputs, the
function giving the unweighted value). :func:`loss_terms` evaluates the weighted terms that are
switched on and have their observation stream; :func:`total_loss` sums them. Terms are summed over
pixels, not averaged; patch terms divide by ``batch_size`` rows, padding included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..typing import Array
from .loss_edc import _EDC_OUTPUTS, EDC_BUDGETS, EDC_EPSILON, edc_loss, edc_per_pixel, time_total
from .loss_primitives import Observation, annual_mean, annualize, observation_sse, patch_error
from .outputs import TOTAL_PREFIX, is_total, total_base
from .types import Pools

__all__ = [
    "DEFAULT_WEIGHTS", "EDC_BUDGETS", "EDC_EPSILON", "LOSS_OUTPUTS", "LOSS_TERMS",
    "OBSERVATION_STREAMS", "WATER_MEAN_EPSILON", "LossContext", "LossTerm", "Observation",
    "active_terms", "biomass_loss", "default_edc_gate", "edc_loss", "edc_per_pixel", "fire_loss",
    "fluxnet_et_loss", "fluxnet_gpp_loss", "fluxnet_reco_loss", "gleam_et_loss", "lai_loss",
    "loss_terms", "nbe_iav_loss", "nbe_loss", "required_outputs", "sif_loss", "som_loss",
    "time_total", "total_loss", "violation_loss", "vod_loss", "water_loss",
]

#: Observation stream names, in the order of the reference label tensor's column pairs (spec 8.1).
OBSERVATION_STREAMS: tuple[str, ...] = (
    "sif", "nbe", "lai", "ewt_anomaly", "biomass", "fire_emission", "som", "vod",
    "gpp_ec", "reco_ec", "et_ec", "et", "nee_ec",
)

#: Epsilon of the water-pool anomaly mean (spec 8.4).
WATER_MEAN_EPSILON = 1e-3


class LossContext(NamedTuple):
    """Settings shared by the term functions.

    Attributes
    ----------
    batch_size : int
        Rows of the minibatch including padding; the divisor of the patch-error means.
    initial_pools : Pools or None
        Initial pools ``(pixel,)`` (needed by the EDC term only).
    use_uncertainty : bool
        Divide SSE residuals by the observation's uncertainty where one is given.
    edc_gate : Array or None
        Per-pixel ``(pixel,)`` weight of the EDC term; ``None`` means 1 for every pixel.
    epsilon : float
        The EDC epsilon.
    """

    batch_size: int
    initial_pools: Pools | None = None
    use_uncertainty: bool = False
    edc_gate: Array | None = None
    epsilon: float = EDC_EPSILON


TermFunction = Callable[[Mapping[str, Array], "Observation | None", LossContext], Array]


def _sse(predicted: Array, observation: Observation, context: LossContext) -> Array:
    return observation_sse(predicted, observation, context.use_uncertainty)


def _annual_sse(predicted: Array, observation: Observation, context: LossContext) -> Array:
    return observation_sse(annual_mean(predicted), annualize(observation), context.use_uncertainty)


# --- the 15 terms, unweighted --------------------------------------------------------------------

def sif_loss(outputs, observation, context):
    """SSE of modelled SIF against the SIF proxy."""
    return _sse(outputs["sif"], observation, context)


def lai_loss(outputs, observation, context):
    """SSE of modelled LAI (start of step) against observed LAI."""
    return _sse(outputs["lai"], observation, context)


def biomass_loss(outputs, observation, context):
    """Annual SSE of live biomass (labile + foliar + wood + root pools) against biomass."""
    live = (outputs["labile_pool"] + outputs["foliar_pool"] + outputs["wood_pool"]
            + outputs["root_pool"])
    return _annual_sse(live, observation, context)


def som_loss(outputs, observation, context):
    """SSE of the time-mean SOM pool against the first-step SOM observation, per pixel."""
    first = Observation(*(None if a is None else a[0] for a in observation))
    return _sse(jnp.mean(outputs["som_pool"], axis=0), first, context)


def nbe_loss(outputs, observation, context):
    """Monthly patch error of NBE."""
    return patch_error(outputs["nbe"], observation.value, observation.mask, context.batch_size)


def nbe_iav_loss(outputs, observation, context):
    """Annual patch error of NBE (interannual variability)."""
    annual = annualize(observation)
    return patch_error(annual_mean(outputs["nbe"]), annual.value, annual.mask, context.batch_size)


def fire_loss(outputs, observation, context):
    """Monthly patch error of fire carbon emission."""
    return patch_error(outputs["fire_emission"], observation.value, observation.mask,
                       context.batch_size)


def violation_loss(outputs, observation, context):
    """Sum of the water-balance violation over all rows (padding included) and times."""
    return jnp.sum(time_total(outputs, "water_balance_violation"))


def water_loss(outputs, observation, context):
    """Patch error of the modelled water-pool anomaly against the water-thickness anomaly.

    The anomaly subtracts the per-pixel mask-weighted mean over all steps,
    ``sum_t(W m) / (sum_t m + 1e-3)`` (spec 8.4).
    """
    water, mask = outputs["water_pool"], observation.mask
    mean = jnp.sum(water * mask, axis=0) / (jnp.sum(mask, axis=0) + WATER_MEAN_EPSILON)
    return patch_error(water - mean[None, :], observation.value, mask, context.batch_size)


def vod_loss(outputs, observation, context):
    """Annual SSE of vegetation optical depth."""
    return _annual_sse(outputs["vod"], observation, context)


def fluxnet_gpp_loss(outputs, observation, context):
    """SSE of GPP against eddy-covariance GPP."""
    return _sse(outputs["gpp"], observation, context)


def fluxnet_reco_loss(outputs, observation, context):
    """SSE of ecosystem respiration (GPP + NEE) against eddy-covariance RECO."""
    return _sse(outputs["gpp"] + outputs["nee"], observation, context)


def fluxnet_et_loss(outputs, observation, context):
    """SSE of ET against eddy-covariance ET."""
    return _sse(outputs["et"], observation, context)


def fluxnet_nee_loss(outputs, observation, context):
    """SSE of NEE against eddy-covariance NEE (an xdifferland addition for site data)."""
    return _sse(outputs["nee"], observation, context)


def gleam_et_loss(outputs, observation, context):
    """SSE of ET against GLEAM ET."""
    return _sse(outputs["et"], observation, context)


# --- the declarative table -----------------------------------------------------------------------

@dataclass(frozen=True)
class LossTerm:
    """One term of the loss.

    Attributes
    ----------
    name : str
    default_weight : float
        Weight of the published global calibration (spec 8.3).
    observation : str or None
        Observation stream it compares against; ``None`` for the constraint terms. In a user
        term (``fit(..., extra_terms=...)``) a name that is not a built-in stream
        (:data:`OBSERVATION_STREAMS`) is a Dataset variable, read as a stream of its own
        (with ``<name>_unc``); :func:`~xdifferland.engine.loss_streams.stream_term` builds
        such terms.
    outputs : tuple of str
        Engine outputs the term reads; ``"sum:<name>"`` for one it needs only summed over time
        (read it with :func:`time_total`, which also accepts the full series).
    function : callable
        ``function(outputs, observation, context) -> scalar``, the unweighted value.
    description : str
    """

    name: str
    default_weight: float
    observation: str | None
    outputs: tuple[str, ...]
    function: TermFunction
    description: str


_POOLS_LIVE = ("labile_pool", "foliar_pool", "root_pool", "wood_pool")
LOSS_TERMS: dict[str, LossTerm] = {term.name: term for term in (
    LossTerm("sif", 400.0, "sif", ("sif",), sif_loss, "SSE, SIF vs SIF proxy"),
    LossTerm("lai", 10.0, "lai", ("lai",), lai_loss, "SSE, LAI"),
    LossTerm("biomass", 5e-5, "biomass", _POOLS_LIVE, biomass_loss, "annual SSE, live biomass"),
    LossTerm("som", 3e-6, "som", ("som_pool",), som_loss, "SSE, time-mean SOM vs initial SOM"),
    LossTerm("nbe", 3000.0, "nbe", ("nbe",), nbe_loss, "monthly patch error, NBE"),
    LossTerm("nbe_iav", 3000.0 * 3.46, "nbe", ("nbe",), nbe_iav_loss, "annual patch error, NBE"),
    LossTerm("fire", 1000.0, "fire_emission", ("fire_emission",), fire_loss,
             "monthly patch error, fire C emission"),
    LossTerm("violation", 400.0, None, (TOTAL_PREFIX + "water_balance_violation",),
             violation_loss, "sum of the water-balance violation, padding included"),
    LossTerm("water", 0.2, "ewt_anomaly", ("water_pool",), water_loss,
             "patch error, water-pool anomaly vs water-thickness anomaly"),
    LossTerm("vod", 100.0, "vod", ("vod",), vod_loss, "annual SSE, VOD"),
    LossTerm("fluxnet_gpp", 100.0, "gpp_ec", ("gpp",), fluxnet_gpp_loss,
             "SSE, eddy-covariance GPP"),
    LossTerm("fluxnet_reco", 100.0, "reco_ec", ("gpp", "nee"), fluxnet_reco_loss,
             "SSE, eddy-covariance RECO = GPP + NEE"),
    LossTerm("fluxnet_et", 100.0, "et_ec", ("et",), fluxnet_et_loss, "SSE, eddy-covariance ET"),
    LossTerm("gleam_et", 1.0, "et", ("et",), gleam_et_loss, "SSE, GLEAM ET"),
    LossTerm("edc", 10.0, None, _EDC_OUTPUTS, edc_loss,
             "steady-state penalty, gated per pixel (reference: first-month LAI mask)"),
    LossTerm("fluxnet_nee", 100.0, "nee_ec", ("nee",), fluxnet_nee_loss,
             "SSE, eddy-covariance NEE (not in the published loss)"),
)}

DEFAULT_WEIGHTS: dict[str, float] = {name: t.default_weight for name, t in LOSS_TERMS.items()}
#: Engine outputs each term needs.
LOSS_OUTPUTS: dict[str, tuple[str, ...]] = {name: t.outputs for name, t in LOSS_TERMS.items()}


def required_outputs(term_names: Iterable[str] | None = None,
                     extra_terms: Iterable[LossTerm] = ()) -> tuple[str, ...]:
    """Engine outputs needed by the given terms (all 15 when ``None``), de-duplicated, in order.

    Examples
    --------
    >>> required_outputs(["fluxnet_reco", "nbe"])
    ('gpp', 'nee', 'nbe')
    >>> required_outputs(["violation"])  # a time total (see xdifferland.engine.outputs)
    ('sum:water_balance_violation',)
    """
    table = term_table(extra_terms)
    names = table if term_names is None else term_names
    return tuple(dict.fromkeys(out for name in names for out in _term(name, table).outputs))


def _term(name: str, table: Mapping[str, LossTerm] | None = None) -> LossTerm:
    table = LOSS_TERMS if table is None else table
    if name not in table:
        raise KeyError(f"unknown loss term {name!r}; terms: {', '.join(table)}")
    return table[name]


def term_table(extra_terms: Iterable[LossTerm] = ()) -> dict[str, LossTerm]:
    """The built-in terms plus user-defined ones (a user term may not reuse a built-in name)."""
    table = dict(LOSS_TERMS)
    for term in extra_terms:
        if term.name in LOSS_TERMS:
            raise ValueError(f"user loss term {term.name!r} clashes with a built-in term; "
                             "rename it or change the built-in term's weight instead")
        table[term.name] = term
    return table


def _is_off(weight) -> bool:
    return weight is None or (isinstance(weight, (int, float, np.number)) and weight == 0)


def active_terms(observations: Mapping[str, Observation] | Iterable[str],
                 weights: Mapping[str, float | None] | None = None,
                 extra_terms: Iterable[LossTerm] = ()) -> dict[str, float]:
    """Weights of the terms that will be evaluated: switched on and with their stream present.

    ``weights`` overrides :data:`DEFAULT_WEIGHTS` term by term; a weight of 0 or ``None`` switches
    a term off. Terms without an observation stream (violation, EDC) are always active otherwise.
    """
    table = term_table(extra_terms)
    weights = dict(weights or {})
    for name in weights:
        _term(name, table)
    streams = set(observations)
    known = set(OBSERVATION_STREAMS) | {t.observation for t in table.values() if t.observation}
    unknown = streams.difference(known)
    if unknown:
        raise KeyError(f"unknown observation streams {sorted(unknown)}; "
                       f"streams: {', '.join(OBSERVATION_STREAMS)}")
    chosen = {}
    for name, term in table.items():
        weight = weights.get(name, term.default_weight)
        if _is_off(weight) or (term.observation is not None and term.observation not in streams):
            continue
        chosen[name] = weight
    return chosen


def default_edc_gate(edc_gate: Array | None, observations: Mapping[str, Observation]):
    """``edc_gate``, or the reference's default: the LAI mask of the first step (spec 12.8)
    when the ``lai`` stream is given, else None (every pixel weighted 1)."""
    if edc_gate is None and "lai" in observations:
        return observations["lai"].mask[0]
    return edc_gate


def loss_terms(
    outputs: Mapping[str, Array],
    observations: Mapping[str, Observation],
    initial_pools: Pools | None,
    *,
    weights: Mapping[str, float | None] | None = None,
    batch_size: int | None = None,
    use_uncertainty: bool = False,
    edc_gate: Array | None = None,
    extra_terms: Iterable[LossTerm] = (),
) -> dict[str, Array]:
    """Weighted terms of the DifferLand loss (spec 8.3) for one minibatch.

    Parameters
    ----------
    outputs : mapping of str to Array
        Engine outputs ``(time, pixel)`` by engine name, and time totals ``(pixel,)`` by
        ``"sum:<name>"``; at least ``required_outputs(active_terms(observations, weights))``,
        where the full series of an output may stand in for its total.
    observations : mapping of str to Observation
        Streams by name (:data:`OBSERVATION_STREAMS`), ``(time, pixel)``. A term whose stream is
        absent is skipped.
    initial_pools : Pools or None
        Initial pools, each ``(pixel,)``; needed only when the EDC term is on.
    weights : mapping of str to float or None, optional
        Overrides of :data:`DEFAULT_WEIGHTS`; 0 or ``None`` switches a term off. Weights that are
        JAX arrays are always applied (only Python/NumPy zeros switch terms off).
    batch_size : int, optional
        Rows of the batch including padding, the divisor of the patch-error means (320 in the
        reference training). Defaults to the number of pixels in ``outputs``.
    use_uncertainty : bool, default False
        Divide the residuals of the SSE-type terms (sif, lai, biomass, som, vod, fluxnet_*,
        gleam_et) by the observation's ``uncertainty`` where it is not ``None`` (annual terms use
        the mean monthly uncertainty, SOM the first step's). Patch terms, violation and EDC are
        unchanged. Off reproduces the reference.
    edc_gate : Array, optional
        Per-pixel ``(pixel,)`` weight of the EDC term. Default: the LAI mask at the first step
        (the reference's gate, spec 12.8) when the ``lai`` stream is given, else 1.
    extra_terms : iterable of LossTerm, optional
        User-defined terms, evaluated like the built-in ones: ``function(outputs, observation,
        context)`` returns the unweighted value, ``default_weight`` weights it (``weights`` can
        override it by name) and its ``observation`` stream must be present unless ``None``.

    Returns
    -------
    dict of str to Array
        Weighted scalar terms, in :data:`LOSS_TERMS` order, for the active terms only.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from xdifferland.engine.types import Pools
    >>> from xdifferland.engine.outputs import series_outputs
    >>> outputs = {name: jnp.ones((12, 2)) for name in series_outputs(required_outputs())}
    >>> pools = Pools(*(jnp.ones(2) for _ in Pools._fields))
    >>> observations = {"sif": Observation(jnp.zeros((12, 2)), jnp.ones((12, 2)))}
    >>> terms = loss_terms(outputs, observations, pools, weights={"edc": 0})
    >>> {name: float(value) for name, value in terms.items()}  # 400 * 24 each
    {'sif': 9600.0, 'violation': 9600.0}
    """
    extra_terms = tuple(extra_terms)
    table = term_table(extra_terms)
    chosen = active_terms(observations, weights, extra_terms)
    if not chosen:
        return {}
    needed = required_outputs(chosen, extra_terms)
    missing = [out for out in needed if out not in outputs
               and not (is_total(out) and total_base(out) in outputs)]
    if missing:
        raise KeyError(f"loss terms {sorted(chosen)} need the engine outputs {missing}")
    if batch_size is None:
        batch_size = jnp.shape(next(iter(outputs.values())))[-1]  # pixels are the last axis
    edc_gate = default_edc_gate(edc_gate, observations)
    context = LossContext(int(batch_size), initial_pools, bool(use_uncertainty), edc_gate)
    return {
        name: weight * table[name].function(
            outputs, observations.get(table[name].observation), context)
        for name, weight in chosen.items()
    }


def total_loss(outputs: Mapping[str, Array], observations: Mapping[str, Observation],
               initial_pools: Pools | None, **options) -> Array:
    """Sum of :func:`loss_terms` (same arguments); 0 when no term is active."""
    return sum(loss_terms(outputs, observations, initial_pools, **options).values(),
               jnp.zeros(()))
