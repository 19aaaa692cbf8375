"""The loss accumulated inside the time loop equals the loss on stacked outputs, term by term."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.engine.parity_data import load_case, parity_cases
from tests.engine.test_loss import PARITY_TOLERANCE, TERM_NAMES, _as_jax, reference  # noqa: F401
from xdifferland.engine import simulate
from xdifferland.engine.loss import (
    LOSS_TERMS,
    OBSERVATION_STREAMS,
    LossTerm,
    Observation,
    active_terms,
    loss_terms,
    required_outputs,
)
from xdifferland.engine.loss_in_loop import IN_LOOP_TERMS, replay, simulated_loss_terms
from xdifferland.engine.loss_primitives import observation_sse
from xdifferland.engine.outputs import series_outputs
from xdifferland.engine.step import init


@pytest.mark.shared
def test_replay_matches_every_reference_term(reference, x64):  # noqa: F811
    outputs, observations, pools = _as_jax(reference)
    ours = jax.jit(lambda o, b, p: replay(o, b, p, batch_size=64))(outputs, observations, pools)
    assert set(ours) == set(TERM_NAMES)  # (jit returns a dict in key order)
    for term in TERM_NAMES:
        np.testing.assert_allclose(float(ours[term]), reference["terms"][term],
                                   rtol=PARITY_TOLERANCE, err_msg=term)


def test_every_built_in_term_is_accumulated_in_the_loop():
    assert IN_LOOP_TERMS == set(LOSS_TERMS)


def _observations(n_time, n_pixel, seed=0, uncertainty=True, gaps=0.3):
    """Every stream, with a random share of missing entries and positive uncertainties."""
    rng = np.random.default_rng(seed)
    streams = {}
    for stream in OBSERVATION_STREAMS:
        mask = (rng.uniform(size=(n_time, n_pixel)) > gaps).astype(float)
        value = np.where(mask > 0, rng.uniform(0.0, 5.0, (n_time, n_pixel)), -9999.0)
        if stream in ("biomass", "som"):
            value = np.where(mask > 0, rng.uniform(1e3, 1e4, (n_time, n_pixel)), -9999.0)
        if stream in ("biomass", "vod", "nbe"):  # some whole years observed: annual terms bite
            mask[:12] = 1.0
            value[:12] = rng.uniform(0.0, 5.0, (12, n_pixel)) * (1e3 if stream == "biomass" else 1)
        sigma = rng.uniform(0.5, 2.0, (n_time, n_pixel)) if uncertainty else None
        streams[stream] = Observation(jnp.asarray(value), jnp.asarray(mask),
                                      None if sigma is None else jnp.asarray(sigma))
    return streams


def _stacked(params, forcing, observations, **options):
    """The reference path: simulate the outputs the loss needs, then loss_terms."""
    needed = required_outputs(active_terms(observations, options.get("weights")))
    run = simulate(params, forcing, needed)
    return loss_terms(run.outputs, observations, init(params), **options)


CASES = [case for case in parity_cases() if case[1] in (None, 0, 3)]


@pytest.mark.shared
@pytest.mark.parametrize("use_uncertainty", [False, True])
@pytest.mark.parametrize("name,climate", CASES)
def test_simulated_terms_match_the_stacked_loss(name, climate, use_uncertainty, x64):
    params, forcing, _, _ = load_case(name, climate)
    n_time, n_pixel = forcing.t_min.shape
    n_time -= n_time % 12  # the annual terms need whole years
    forcing = jax.tree_util.tree_map(lambda x: x[:n_time] if jnp.ndim(x) == 2 else x, forcing)
    observations = _observations(n_time, n_pixel, seed=n_time)
    options = dict(batch_size=n_pixel + 3, use_uncertainty=use_uncertainty)
    expected = jax.jit(lambda p, f, o: _stacked(p, f, o, **options))(params, forcing, observations)
    ours = jax.jit(lambda p, f, o: simulated_loss_terms(p, f, o, **options))(
        params, forcing, observations)
    assert tuple(ours) == tuple(expected)
    for term in expected:
        np.testing.assert_allclose(float(ours[term]), float(expected[term]),
                                   rtol=PARITY_TOLERANCE, err_msg=term)


@pytest.mark.shared
@pytest.mark.parametrize("adjoint", [False, True])
@pytest.mark.parametrize("name,climate", CASES[1:2])
def test_gradients_match_the_stacked_loss(name, climate, adjoint, x64):
    params, forcing, _, _ = load_case(name, climate)
    n_time, n_pixel = forcing.t_min.shape
    observations = _observations(n_time, n_pixel, seed=1)

    def total(loss, **options):
        return lambda p: sum(loss(p, forcing, observations, use_uncertainty=True,
                                  **options).values())

    expected = jax.jit(jax.grad(total(_stacked)))(params)
    ours = jax.jit(jax.grad(total(simulated_loss_terms, adjoint=adjoint)))(params)
    for field, want, got in zip(params._fields, expected, ours):
        scale = float(jnp.max(jnp.abs(want))) or 1.0
        np.testing.assert_allclose(np.asarray(got) / scale, np.asarray(want) / scale,
                                   atol=1e-6, err_msg=field)


def _small_run(n_time=24, n_pixel=4, burned_area=0.01):
    from xdifferland.engine import midpoint_parameters
    from xdifferland.engine.types import Forcing

    months = jnp.arange(float(n_time))
    def full(value):
        return jnp.full((n_time, n_pixel), value)

    forcing = Forcing(
        time_days=jnp.broadcast_to((months * 30 + 15)[:, None], (n_time, n_pixel)),
        t_min=full(5.0), t_max=full(15.0) + jnp.sin(months)[:, None],
        shortwave_radiation=full(15.0), co2=full(400.0),
        day_of_year=jnp.broadcast_to(((months * 30 + 15) % 365)[:, None], (n_time, n_pixel)),
        burned_area=full(burned_area), vpd=full(1.0), precipitation=full(2.0),
        latitude=jnp.linspace(-40.0, 60.0, n_pixel), delta_t=jnp.array(30.0),
        mean_temperature=jnp.full((n_pixel,), 10.0), mean_precipitation=jnp.full((n_pixel,), 2.0))
    return midpoint_parameters(n_pixel), forcing


@pytest.mark.parametrize("options", [
    dict(mass_conserving=True), dict(water_stress="nothing"), dict(water_stress="nn_paw"),
    dict(water_stress="gpp_acm_et_nn"),
])
def test_simulation_options_reach_the_loop(options, x64):
    from xdifferland.engine.water_stress import init_water_stress

    params, forcing = _small_run(burned_area=0.2)  # fire beyond what some pools hold
    if options.get("water_stress", "default") != "default":
        options = options | {"stress_weights": init_water_stress(options["water_stress"], 0)}
    observations = _observations(24, 4, seed=2)
    needed = required_outputs(active_terms(observations))
    run = simulate(params, forcing, needed, **options)
    expected = loss_terms(run.outputs, observations, init(params))
    ours = simulated_loss_terms(params, forcing, observations, **options)
    default = simulated_loss_terms(params, forcing, observations)
    for term in expected:
        np.testing.assert_allclose(float(ours[term]), float(expected[term]),
                                   rtol=PARITY_TOLERANCE, err_msg=term)
    assert any(float(ours[t]) != float(default[t]) for t in ours)  # the option changed the run


@pytest.mark.parametrize("options", [
    {"use_uncertainty": True, "weights": {"violation": 3.0}}, {"mass_conserving": True},
    {"water_stress": "nothing"},
])
def test_adjoint_gradients_equal_automatic_ones_under_heavy_fire(options, x64):
    from xdifferland.engine.water_stress import init_water_stress

    params, forcing = _small_run(n_time=36, burned_area=0.2)
    if options.get("water_stress"):
        options = options | {"stress_weights": init_water_stress(options["water_stress"], 0)}
    observations = _observations(36, 4, seed=4)

    def total(adjoint):
        return lambda p: sum(simulated_loss_terms(p, forcing, observations, adjoint=adjoint,
                                                  **options).values())

    automatic = jax.grad(total(False))(params)
    adjoint = jax.grad(total(True))(params)
    for field, want, got in zip(params._fields, automatic, adjoint):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6,
                                   atol=1e-9 * float(jnp.max(jnp.abs(want)) + 1e-300),
                                   err_msg=field)


def test_user_terms_read_stacked_outputs_and_extra_quantities():
    params, forcing = _small_run()
    observations = _observations(24, 4, uncertainty=False)
    runoff = LossTerm("runoff_mean", 2.0, None, ("runoff", "leaf_mass"),
                      lambda out, obs, ctx: jnp.sum(out["runoff"]) * jnp.sum(out["leaf_mass"]), "")
    gpp_again = LossTerm("gpp_twice", 0.5, "gpp_ec", ("gpp",),
                         lambda out, obs, ctx: observation_sse(out["gpp"], obs), "")
    extra = {"leaf_mass": jnp.full((4,), 3.0)}
    ours = simulated_loss_terms(params, forcing, observations, extra_terms=(runoff, gpp_again),
                                extra_outputs=extra, weights={"gpp_twice": 1.0})
    run = simulate(params, forcing, None)
    stacked = loss_terms({**run.outputs, **extra}, observations, init(params),
                         extra_terms=(runoff, gpp_again), weights={"gpp_twice": 1.0})
    assert tuple(ours) == tuple(stacked)
    for term in stacked:
        np.testing.assert_allclose(float(ours[term]), float(stacked[term]), rtol=2e-5,
                                   err_msg=term)
    np.testing.assert_allclose(float(ours["gpp_twice"]), float(ours["fluxnet_gpp"]) / 100.0,
                               rtol=1e-6)


@pytest.mark.parametrize("weights,expected", [
    ({"edc": 0}, {"sif", "violation"}),
    ({"violation": None, "sif": 0.0}, {"edc"}),
    ({}, {"sif", "violation", "edc"}),
])
def test_weights_switch_terms_off(weights, expected):
    params, forcing = _small_run()
    observations = {"sif": _observations(24, 4)["sif"]}
    assert set(simulated_loss_terms(params, forcing, observations, weights=weights)) == expected


def test_annual_terms_need_whole_years():
    params, forcing = _small_run(n_time=18)
    observations = {"vod": _observations(18, 4)["vod"]}
    with pytest.raises(ValueError, match="multiple of 12"):
        simulated_loss_terms(params, forcing, observations)
    monthly = {"sif": _observations(18, 4)["sif"]}
    assert set(simulated_loss_terms(params, forcing, monthly)) == {"sif", "violation", "edc"}


def test_replay_uses_no_more_than_the_series_it_compares():
    outputs = {name: jnp.ones((12, 2)) for name in series_outputs(required_outputs(["sif"]))}
    outputs["water_balance_violation"] = jnp.zeros((12, 2))
    terms = replay(outputs, {"sif": Observation(jnp.zeros((12, 2)), jnp.ones((12, 2)))}, None,
                   weights={"edc": 0})
    assert {k: float(v) for k, v in terms.items()} == {"sif": 400.0 * 24, "violation": 0.0}
