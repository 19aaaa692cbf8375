"""Gradients through the whole run: finite everywhere, equal to finite differences off the clamps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.engine.parity_data import load_case, parity_cases
from xdifferland.engine import Forcing, Parameters, simulate
from xdifferland.registry import PARAMETER_NAMES
from xdifferland.transforms import to_physical, to_unconstrained

pytestmark = pytest.mark.shared

LOSS_OUTPUTS = ("gpp", "lai", "nbe", "et", "water_pool", "som_pool")


def per_pixel_loss(raw, forcing):
    """A smooth scalar per pixel from several outputs; ``raw`` is (pixel, 40) unconstrained."""
    physical = to_physical(raw, PARAMETER_NAMES)
    params = Parameters(*(physical[:, j] for j in range(len(PARAMETER_NAMES))))
    out = simulate(params, forcing, LOSS_OUTPUTS).outputs
    return (out["gpp"].mean(0) + 0.1 * out["lai"].mean(0) + out["nbe"].mean(0)
            + out["et"].mean(0) + 1e-3 * out["water_pool"].mean(0)
            + 1e-4 * out["som_pool"].mean(0))


def _raw(params):
    physical = jnp.stack([getattr(params, n) for n in PARAMETER_NAMES], axis=1)
    return to_unconstrained(physical, PARAMETER_NAMES)


def _tile(forcing, n):
    return Forcing(*(jnp.broadcast_to(f[:, :1], (f.shape[0], n)) for f in forcing))


@pytest.mark.parametrize(("name", "climate"), parity_cases())
def test_gradient_is_finite_for_every_case(x64, name, climate):
    params, forcing, _, _ = load_case(name, climate)
    raw = _raw(params)
    grad = jax.grad(lambda x: per_pixel_loss(x, forcing).sum())(raw)
    assert np.all(np.isfinite(np.asarray(grad)))
    assert np.abs(np.asarray(grad)).max() > 0


def _away_from_clamps(reference, params, set_index):
    """No carbon pool ever on a clamp bound, and the water stress not starting on its kink.

    The water pool's lower clamp is piecewise smooth and allowed. The mid-range parameter set has
    initial water == field capacity, which puts beta exactly on its clip at 1 on the first step:
    a kink where one-sided derivatives differ, so it is excluded.
    """
    out = reference.isel(parameter_set=set_index)
    pools = out.sel(output=["next_labile_pool", "next_foliar_pool", "next_root_pool",
                            "next_wood_pool", "next_litter_pool", "next_som_pool"]).values
    water = float(params.initial_water[set_index])
    wilting = float(params.field_capacity[set_index] * params.wilting_point_fraction[set_index])
    beta0 = (water - wilting) / (float(params.field_capacity[set_index]) - wilting)
    on_kink = abs(beta0 - 1.0) < 1e-9 or abs(beta0) < 1e-9
    return not np.isin(pools, [1.0, 2000.0, 100000.0, 200000.0]).any() and not on_kink


def smooth_cases():
    cases = []
    for name, climate in parity_cases()[:6]:
        params, _, reference, _ = load_case(name, climate)
        cases += [(name, climate, s) for s in range(reference.sizes["parameter_set"])
                  if _away_from_clamps(reference, params, s)]
    return cases


def test_enough_smooth_cases_exist(x64):
    assert len(smooth_cases()) >= 20


def test_gradient_matches_central_differences(x64):
    h = 1e-5
    checked = 0
    for name, climate, s in smooth_cases()[::2]:
        params, forcing, _, _ = load_case(name, climate)
        raw = _raw(params)[s]
        grad = np.asarray(jax.grad(lambda x: per_pixel_loss(x[None], _tile(forcing, 1))[0])(raw))
        n = raw.shape[0]
        steps = jnp.concatenate([jnp.eye(n), -jnp.eye(n)]) * h
        values = np.asarray(per_pixel_loss(raw[None] + steps, _tile(forcing, 2 * n)))
        finite_difference = (values[:n] - values[n:]) / (2 * h)
        error = np.abs(grad - finite_difference).max() / np.abs(grad).max()
        assert error <= 1e-5, (climate, s, error)
        checked += 1
    assert checked >= 10
