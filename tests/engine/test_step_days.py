"""Whole-day steps: the compounded rates take their power by multiplication, same numbers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.engine.test_simulate import make_forcing
from xdifferland.engine import midpoint_parameters, simulate
from xdifferland.engine.simulate import whole_step_days
from xdifferland.engine.step import _power, integer_power

OUTPUTS = ["lai", "gpp", "nbe", "som_pool", "sum:litter_respiration"]


@pytest.mark.parametrize("n", [1, 2, 3, 7, 30, 31, 365])
def test_integer_power_follows_pow(n, x64):
    base = jnp.array([0.999, 0.5, 0.0, -0.5, -1.2, 1.0 - 1e-6, jnp.nan])
    expected = np.power(np.asarray(base), n)
    np.testing.assert_allclose(np.asarray(integer_power(base, n)), expected, rtol=1e-14)
    # the general power agrees to the rounding of its log/exp (its error grows with n)
    np.testing.assert_allclose(np.asarray(_power(base, jnp.asarray(float(n)))), expected,
                               rtol=1e-12)


@pytest.mark.parametrize("n", [0, -1, 2.0, None])
def test_integer_power_needs_a_whole_number(n):
    with pytest.raises(ValueError, match="whole number"):
        integer_power(jnp.ones(2), n)


@pytest.mark.parametrize("delta_t, expected", [
    (30.0, 30), (1.0, 1), (np.full((24, 1), 30.0), 30), (7.5, None), (0.0, None),
    (np.array([30.0, 31.0]), None), (400.0, None),
])
def test_whole_step_days(delta_t, expected):
    assert whole_step_days(delta_t) == expected


@pytest.mark.parametrize("delta_t", [30.0, 1.0])
@pytest.mark.parametrize("mass_conserving", [False, True])
def test_whole_day_run_equals_the_general_power(delta_t, mass_conserving, x64):
    params, forcing = midpoint_parameters(3), make_forcing(n_time=36, delta_t=delta_t)
    fast = simulate(params, forcing, OUTPUTS, mass_conserving=mass_conserving)
    # Inside a jit the step length is traced: the general exp(dt log(1 - k)) path.
    general = jax.jit(lambda p, f: simulate(p, f, OUTPUTS, mass_conserving=mass_conserving))(
        params, forcing)
    for name in OUTPUTS:
        np.testing.assert_allclose(fast.outputs[name], general.outputs[name], rtol=1e-11,
                                   atol=1e-14, err_msg=name)


def test_whole_day_gradients_equal_the_general_power(x64):
    params, forcing = midpoint_parameters(3), make_forcing(n_time=36)

    def run(scale, f):
        p = params._replace(litter_turnover=params.litter_turnover * scale,
                            leaf_fall_period=params.leaf_fall_period * scale)
        return simulate(p, f, ["nbe", "lai"]).outputs

    def loss(scale, runner):
        return sum(jnp.sum(v ** 2) for v in runner(scale, forcing).values())

    scale = jnp.array([0.9, 1.0, 1.1])
    fast = jax.grad(loss)(scale, run)  # delta_t concrete: whole-day powers
    general = jax.grad(loss)(scale, jax.jit(run))  # delta_t traced: exp(dt log(1 - k))
    assert bool(jnp.all(fast != 0))
    np.testing.assert_allclose(fast, general, rtol=1e-10)


def test_step_days_is_checked_against_a_concrete_delta_t():
    params, forcing = midpoint_parameters(1), make_forcing(n_time=12, n_pixels=1)
    with pytest.raises(ValueError, match="step_days=31 does not match forcing.delta_t"):
        simulate(params, forcing, ["gpp"], step_days=31)
    with pytest.raises(ValueError, match="step_days=2.5"):
        simulate(params, forcing, ["gpp"], step_days=2.5)
    # inside a jit it is taken on trust and gives the whole-day path
    inside = jax.jit(lambda f: simulate(params, f, ["gpp"], step_days=30).outputs["gpp"])(forcing)
    np.testing.assert_allclose(inside, simulate(params, forcing, ["gpp"]).outputs["gpp"],
                               rtol=1e-5)
