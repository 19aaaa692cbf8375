"""Loss terms on observed parameter maps: a predicted parameter, or a quantity derived from the
parameters (CUE, effective Q10, ...), against a map of it and its uncertainty.

Trait maps (leaf mass per area from trait upscaling, see :mod:`xdifferland.traits`) constrain
what the flux and stock streams leave open: LAI weighs foliar carbon divided by LCMA, so LCMA and
the allocation fractions trade off unless something observes LCMA itself.

The training step hands every term the predicted parameters of the batch's pixels next to the
engine outputs, keyed ``"parameter:<registry name>"`` (:func:`parameter_outputs`);
:func:`parameter_observation` builds the term, ``fit(..., extra_terms=[...])`` reads its map
(a Dataset variable without a time axis, NaN where unobserved) and ``<variable>_unc``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import jax.numpy as jnp

from ..registry import DERIVED, PARAMETER_NAMES, resolve_name, spec
from .loss import LOSS_TERMS, LossTerm

__all__ = ["PARAMETER_PREFIX", "OBSERVABLE_DERIVED", "ParameterObservation",
           "parameter_observation", "parameter_outputs", "resolve_quantity"]

#: Key prefix of the predicted parameters among the outputs a loss term receives.
PARAMETER_PREFIX = "parameter:"


@dataclass(frozen=True)
class _Quantity:
    name: str
    units: str
    function: Callable[[Mapping], object]


def _derived(name: str, function=None) -> _Quantity:
    entry = DERIVED[name]
    return _Quantity(name, entry.units, function or entry.function)


#: Derived quantities a term can observe (the registry's ``DERIVED``, written so that JAX traces
#: them: the registry's effective Q10 uses NumPy's exp), by name and short name.
OBSERVABLE_DERIVED: dict[str, _Quantity] = {
    q.name: q for q in (
        _derived("carbon_use_efficiency"),
        _derived("effective_q10", lambda p: jnp.exp(10.0 * p["temperature_sensitivity"])),
        _derived("sif_intercept"),
        _derived("leaf_allocation_fraction"),
        _derived("labile_allocation_fraction"),
        _derived("root_allocation_fraction"),
        _derived("wood_allocation_fraction"),
    )
}
_SHORT_NAMES = {"cue": "carbon_use_efficiency", "q10_effective": "effective_q10"}


def resolve_quantity(name: str) -> _Quantity:
    """The observable quantity called ``name``: a registry parameter (name or alias) or a derived
    quantity (:data:`OBSERVABLE_DERIVED`, or ``"cue"``).

    ``"Q10"`` is refused: the registry's alias ``Q10`` is the log sensitivity q
    (``temperature_sensitivity``), while an observed Q10 is the effective ``exp(10 q)``.

    Examples
    --------
    >>> q = resolve_quantity("LCMA")
    >>> q.name, q.units
    ('leaf_carbon_mass_per_area', 'g/m**2')
    >>> float(resolve_quantity("cue").function({"autotrophic_fraction": 0.45}))
    0.55
    """
    key = _SHORT_NAMES.get(str(name).lower(), name)
    if key in OBSERVABLE_DERIVED:
        return OBSERVABLE_DERIVED[key]
    if str(name).lower() == "q10":
        raise ValueError(
            "parameter='Q10' is ambiguous: the registry's alias Q10 is the log temperature "
            "sensitivity q (temperature_sensitivity, 1/delta_degC), an observed Q10 is exp(10 q); "
            "use parameter='effective_q10' for a Q10 map (e.g. 2.0) or 'temperature_sensitivity' "
            "for a map of q")
    try:
        entry = spec(resolve_name(str(name)))
    except KeyError:
        raise ValueError(
            f"parameter={name!r} is neither a DALEC993 parameter (xdifferland.parameter_table(), "
            f"name or alias) nor a derived quantity ({', '.join(OBSERVABLE_DERIVED)}, cue)"
        ) from None
    return _Quantity(entry.name, entry.units, lambda p, key=entry.name: p[key])


def parameter_outputs(parameters) -> dict:
    """The predicted parameters as loss terms read them: ``"parameter:<name>"`` → ``(pixel,)``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from xdifferland.engine.types import Parameters
    >>> params = Parameters(*(jnp.full(2, float(i)) for i in range(40)))
    >>> parameter_outputs(params)["parameter:leaf_carbon_mass_per_area"].tolist()
    [16.0, 16.0]
    """
    return {PARAMETER_PREFIX + name: value
            for name, value in zip(PARAMETER_NAMES, parameters)}


class _Predicted(Mapping):
    """Read-only view of the parameters among a term's outputs, by registry name."""

    def __init__(self, outputs: Mapping):
        self._outputs = outputs

    def __getitem__(self, name):
        key = PARAMETER_PREFIX + name
        if key not in self._outputs:
            raise KeyError(f"a parameter observation needs the predicted parameters among the "
                           f"loss outputs ({key!r}); pass parameter_outputs(params) with them")
        return self._outputs[key]

    def __iter__(self):
        return (k[len(PARAMETER_PREFIX):] for k in self._outputs if k.startswith(PARAMETER_PREFIX))

    def __len__(self):
        return sum(1 for _ in self)


@dataclass(frozen=True)
class ParameterObservation(LossTerm):
    """A :class:`~xdifferland.engine.loss.LossTerm` comparing a predicted quantity with a map.

    ``observation`` names the Dataset variable holding the map. Besides the fields of
    ``LossTerm``:

    Attributes
    ----------
    quantity : str
        Registry name of the parameter, or name of the derived quantity.
    units : str
        Units the term compares in (the quantity's); the map is converted to them before training.
    uncertainty : float or None
        One-sigma uncertainty in ``units`` at every pixel; ``None`` reads ``<variable>_unc``.
    """

    quantity: str = ""
    units: str = ""
    uncertainty: float | None = None

    def record(self) -> dict:
        """What the model stores about the term (JSON)."""
        return {"term": self.name, "simulated": None, "parameter": self.quantity,
                "parameter_units": self.units, "scale": "pixel", "annual": False,
                "fixed_uncertainty": self.uncertainty}


def parameter_observation(parameter: str, variable: str, *, uncertainty: float | None = None,
                          weight: float = 100.0, name: str | None = None,
                          description: str | None = None) -> ParameterObservation:
    r"""A loss term: the Gaussian negative log-likelihood of an observed parameter map.

    .. math::
        L = \tfrac12 \sum_i m_i \Big(\frac{\hat\theta_i - \theta^{obs}_i}{\sigma_i}\Big)^2

    over the batch's pixels :math:`i` where the map is valid (:math:`m_i = 1`), in the
    quantity's physical units; the constant :math:`\sum_i \log \sigma_i\sqrt{2\pi}` is left out.
    Like the flux terms (sums of squared errors over pixels and steps), it is summed over pixels,
    not averaged: each observed pixel counts once, as a pixel's month of LAI does, so the
    weight of the map does not depend on how many pixels a batch holds.

    Parameters
    ----------
    parameter : str
        A registry parameter (name or alias, e.g. ``"LCMA"``) or a derived quantity:
        ``"carbon_use_efficiency"`` (``"cue"``, 1 - autotrophic fraction), ``"effective_q10"``
        (exp(10 q)) or one of :data:`OBSERVABLE_DERIVED`.
    variable : str
        The Dataset variable holding the map, spatial dimensions only (no time), NaN where
        unobserved, with a ``units`` attribute convertible to the quantity's units (may be left
        out for a dimensionless quantity); ``fit``'s ``observation_mask=`` masks it further.
    uncertainty : float, optional
        One-sigma uncertainty in the quantity's units (``units`` of the term) at every pixel.
        Default: read the map ``<variable>_unc`` (same dimensions, positive where the map is
        valid, with units).
    weight : float, default 100
        Weight in the loss. At 1 the term is the map's bare log-likelihood, but the flux terms
        beside it are sums of squares times the published weights (spec 8.3), not likelihoods,
        and early in training their residuals lie far above the noise: they then move the
        parameter off the map faster than a likelihood of weight 1 holds it. On the training
        tests' small world (10 epochs, map noise 20 % of the planted spread) LCMA recovery was
        r -0.02 at weight 1, 0.55 at 100 and 0.63 at 1000 (-0.03 without the map). Lower it
        for a map you trust less than its stated uncertainty.
    name : str, optional
        Term name in the loss history (default: ``variable``).
    description : str, optional

    Returns
    -------
    ParameterObservation

    Examples
    --------
    >>> lcma = parameter_observation("LCMA", "lcma_obs")
    >>> lcma.name, lcma.quantity, lcma.units
    ('lcma_obs', 'leaf_carbon_mass_per_area', 'g/m**2')
    >>> import jax.numpy as jnp
    >>> from xdifferland.engine.loss_primitives import Observation
    >>> outputs = {"parameter:leaf_carbon_mass_per_area": jnp.array([50.0, 70.0, 90.0])}
    >>> observed = Observation(jnp.array([[40.0, 80.0, 0.0]]), jnp.array([[1.0, 1.0, 0.0]]),
    ...                        jnp.array([[5.0, 10.0, 1.0]]))
    >>> float(lcma.function(outputs, observed, None))  # (2^2 + 1^2) / 2, third pixel unobserved
    2.5
    """
    quantity = resolve_quantity(parameter)
    name = variable if name is None else name
    problems = []
    if not (isinstance(variable, str) and variable):
        problems.append(f"variable={variable!r}: give the name of a Dataset variable")
    if uncertainty is not None and not (isinstance(uncertainty, (int, float))
                                        and uncertainty > 0):
        problems.append(f"uncertainty={uncertainty!r}: give a positive number in "
                        f"{quantity.units}, or None to read {variable}_unc")
    if not (isinstance(weight, (int, float)) and weight > 0):
        problems.append(f"weight={weight!r}: use a positive number")
    if name in LOSS_TERMS:
        problems.append(f"name={name!r} is a built-in term; choose another name")
    if problems:
        raise ValueError(f"parameter observation of {parameter!r}:\n- " + "\n- ".join(problems))
    fixed = None if uncertainty is None else float(uncertainty)

    def negative_log_likelihood(outputs, observation, context):
        predicted = quantity.function(_Predicted(outputs))
        # The map is static: the stream repeats it at every step, the first step holds it all.
        observed, mask = observation.value[0], observation.mask[0]
        sigma = fixed if fixed is not None else observation.uncertainty[0]
        return 0.5 * jnp.sum(mask * ((predicted - observed) / sigma) ** 2)

    said = f"Gaussian NLL, {variable} vs predicted {quantity.name} ({quantity.units})"
    return ParameterObservation(name, float(weight), variable, (), negative_log_likelihood,
                                description or said, quantity=quantity.name,
                                units=quantity.units, uncertainty=fixed)
