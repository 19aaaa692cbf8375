"""A parameter-observation term is the Gaussian NLL of the observed map at its valid pixels, for
registry parameters and derived quantities, and its gradient reaches the parameter."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xdifferland.engine.loss import LossContext, Observation, loss_terms
from xdifferland.engine.loss_parameters import (PARAMETER_PREFIX, parameter_observation,
                                                parameter_outputs, resolve_quantity)
from xdifferland.engine.types import Parameters
from xdifferland.registry import PARAMETERS

T, P = 6, 5
rng = np.random.default_rng(2)
PARAMS = Parameters(*(jnp.asarray(p.min + (p.max - p.min) * rng.random(P), jnp.float32)
                      for p in PARAMETERS))
OUTPUTS = parameter_outputs(PARAMS)
MASK = np.array([1.0, 1.0, 0.0, 1.0, 0.0])
CONTEXT = LossContext(batch_size=P)


def _static(values, mask=MASK, sigma=None) -> Observation:
    """A static map as the training batch carries it: repeated at every step."""
    def repeat(a):
        return None if a is None else jnp.asarray(np.repeat(np.asarray(a, float)[None], T, 0))
    return Observation(repeat(np.asarray(values) * mask), repeat(mask), repeat(sigma))


@pytest.mark.parametrize(("parameter", "truth", "sigma"), [
    ("LCMA", lambda p: p.leaf_carbon_mass_per_area, np.array([5.0, 8.0, 1.0, 2.0, 1.0])),
    ("cue", lambda p: 1.0 - p.autotrophic_fraction, 0.05),
    ("effective_q10", lambda p: np.exp(10.0 * p.temperature_sensitivity), 0.3),
])
def test_value_is_half_the_masked_sum_of_squared_standardized_errors(parameter, truth, sigma):
    predicted = np.asarray(truth(PARAMS), float)
    observed = predicted + rng.normal(0.0, 1.0, P) * np.mean(sigma)
    fixed = None if np.ndim(sigma) else sigma
    term = parameter_observation(parameter, "map", uncertainty=fixed, weight=3.0)
    stream = _static(observed, sigma=None if fixed else sigma)
    expected = 0.5 * np.sum(MASK * ((predicted - observed) / sigma) ** 2)
    np.testing.assert_allclose(float(term.function(OUTPUTS, stream, CONTEXT)), expected,
                               rtol=1e-4)
    weighted = loss_terms(OUTPUTS, {"map": stream}, None, weights={"edc": 0, "violation": 0},
                          extra_terms=[term])
    np.testing.assert_allclose(float(weighted["map"]), 3.0 * expected, rtol=1e-4)


def test_masked_pixels_do_not_count():
    term = parameter_observation("LCMA", "map", uncertainty=4.0)
    base = np.asarray(PARAMS.leaf_carbon_mass_per_area) + 4.0
    other = base.copy()
    other[MASK == 0] = 1e6  # nonsense where the map is invalid
    value = float(term.function(OUTPUTS, _static(base), CONTEXT))
    assert value == pytest.approx(0.5 * MASK.sum())  # one sigma off at 3 pixels
    assert float(term.function(OUTPUTS, _static(other), CONTEXT)) == value


def test_gradient_reaches_the_observed_parameter_only():
    term = parameter_observation("LCMA", "map", uncertainty=2.0)
    stream = _static(np.full(P, 60.0))

    def loss(params):
        return term.function(parameter_outputs(params), stream, CONTEXT)

    grads = jax.grad(loss)(PARAMS)
    expected = MASK * (np.asarray(PARAMS.leaf_carbon_mass_per_area) - 60.0) / 4.0
    np.testing.assert_allclose(np.asarray(grads.leaf_carbon_mass_per_area), expected, rtol=1e-4)
    assert float(jnp.abs(grads.foliar_allocation).sum()) == 0.0


def test_quantities_resolve_with_their_units():
    assert resolve_quantity("f_auto").name == "autotrophic_fraction"
    assert resolve_quantity("carbon_use_efficiency").units == "dimensionless"
    assert resolve_quantity("LCMA").units == "g/m**2"
    assert PARAMETER_PREFIX + "leaf_carbon_mass_per_area" in OUTPUTS


@pytest.mark.parametrize(("arguments", "named"), [
    (dict(parameter="Q10", variable="q10_obs"), "ambiguous"),
    (dict(parameter="leaf_mass", variable="x"), "neither a DALEC993 parameter"),
    (dict(parameter="LCMA", variable="x", uncertainty=0.0), "uncertainty=0.0"),
    (dict(parameter="LCMA", variable="x", weight=-1.0), "weight=-1.0"),
    (dict(parameter="LCMA", variable="lai", name="lai"), "built-in term"),
])
def test_unusable_settings_are_refused_with_the_fix(arguments, named):
    with pytest.raises(ValueError, match=named):
        parameter_observation(**arguments)


def test_a_term_without_the_parameters_says_what_is_missing():
    term = parameter_observation("LCMA", "map", uncertainty=1.0)
    with pytest.raises(KeyError, match="parameter_outputs"):
        term.function({"lai": jnp.ones((T, P))}, _static(np.ones(P)), CONTEXT)
