"""The hand-written adjoint of the time loop against JAX's automatic derivative (the oracle)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.engine.parity_data import load_case, parity_cases
from xdifferland.engine import Forcing, midpoint_parameters, simulate
from xdifferland.engine.acm import ACMDrivers
from xdifferland.engine.adjoint_loop import has_adjoint
from xdifferland.engine.outputs import OUTPUT_NAMES
from xdifferland.engine.step import DRIVER_OUTPUTS, StepDrivers, constants, step
from xdifferland.engine.fire_adjoint import fire_forward
from xdifferland.engine.step_adjoint import _forward, step_adjoint
from xdifferland.engine.types import POOL_BOUNDS, Pools

LOOP_OUTPUTS = tuple(OUTPUT_NAMES) + ("sum:gpp", "sum:runoff", "sum:som_fire_combust",
                                      "sum:water_balance_violation")
STEP_OUTPUTS = [n for n in OUTPUT_NAMES if n not in DRIVER_OUTPUTS]


def _weighted_sum(parameters, forcing, *, adjoint, mass_conserving, water_stress):
    """A scalar that reads every output, every time total and the final pools."""
    run = simulate(parameters, forcing, LOOP_OUTPUTS, mass_conserving=mass_conserving,
                   water_stress=water_stress, adjoint=adjoint,
                   stress_weights=None if water_stress == "default" else {})
    total = 0.0
    for i, (_, x) in enumerate(sorted(run.outputs.items())):
        weights = jnp.cos(i + 0.37 * jnp.arange(x.size, dtype=x.dtype).reshape(x.shape))
        total = total + jnp.sum(weights * x) / (1.0 + jnp.mean(jnp.abs(x)))
    return total + 1e-3 * sum(jnp.sum(pool) for pool in run.final_pools)


def _worst_relative_error(reference, candidate) -> float:
    worst = 0.0
    for ref, new in zip(jax.tree_util.tree_leaves(reference), jax.tree_util.tree_leaves(candidate)):
        scale = float(jnp.max(jnp.abs(ref)))
        if scale > 0:
            worst = max(worst, float(jnp.max(jnp.abs(new - ref))) / scale)
        else:
            assert float(jnp.max(jnp.abs(new))) == 0.0
    return worst


def _gradients(parameters, forcing, adjoint, **settings):
    loss = lambda p, f: _weighted_sum(p, f, adjoint=adjoint, **settings)  # noqa: E731
    return jax.grad(loss, argnums=(0, 1))(parameters, forcing)


# Every parity forcing (all its parameter sets) in the published mode; the mass-conserving mode
# on a monthly and the daily forcing (its fire limit and repaired fluxes are also checked on
# every branch of one step below).
_LOOP_CASES = ([(*case, False) for case in parity_cases()]
               + [(*parity_cases()[0], True), (*parity_cases()[-1], True)])


@pytest.mark.shared
@pytest.mark.parametrize(("name", "climate", "mass_conserving"), _LOOP_CASES)
def test_loop_gradient_equals_autodiff_for_every_parity_case(x64, name, climate,
                                                             mass_conserving):
    """Gradients with respect to all 40 parameters and every forcing field, every output read."""
    parameters, forcing, _, _ = load_case(name, climate)
    settings = {"mass_conserving": mass_conserving, "water_stress": "default"}
    hand = _gradients(parameters, forcing, True, **settings)
    oracle = _gradients(parameters, forcing, False, **settings)
    assert _worst_relative_error(oracle, hand) <= 1e-6


@pytest.mark.shared
@pytest.mark.parametrize("mass_conserving", [False, True])
def test_loop_gradient_without_water_stress(x64, mass_conserving):
    parameters, forcing, _, _ = load_case(*parity_cases()[2])
    settings = {"mass_conserving": mass_conserving, "water_stress": "nothing"}
    hand = _gradients(parameters, forcing, True, **settings)
    oracle = _gradients(parameters, forcing, False, **settings)
    assert _worst_relative_error(oracle, hand) <= 1e-6


def _broadcast_forcing(n_months=36, n_pixels=3):
    """Forcing with (time, 1) climate, (pixel,) statics and a scalar step length."""
    months = jnp.arange(float(n_months))
    column = lambda x: jnp.asarray(x)[:, None]  # noqa: E731
    return Forcing(
        time_days=column(months * 30 + 15), t_min=column(5 + 8 * jnp.sin(months / 1.9)),
        t_max=column(15 + 8 * jnp.sin(months / 1.9)), shortwave_radiation=jnp.full(
            (n_months, 1), 15.0), co2=jnp.full((n_months, 1), 400.0),
        day_of_year=column((months * 30 + 15) % 365), burned_area=column(
            0.02 * (months % 12 == 7)), vpd=jnp.full((n_months, 1), 1.0),
        precipitation=column(2.0 + jnp.cos(months / 1.9)), latitude=jnp.linspace(-30, 60, n_pixels),
        delta_t=jnp.array(30.0), mean_temperature=jnp.full((n_pixels,), 10.0),
        mean_precipitation=jnp.full((n_pixels,), 2.0))


def test_loop_gradient_with_broadcast_forcing_fields(x64):
    """Loop constants (scalars, (pixel,) fields) and (time, 1) loop inputs get summed cotangents."""
    forcing = _broadcast_forcing()
    parameters = midpoint_parameters(3)
    settings = {"mass_conserving": False, "water_stress": "default"}
    hand = _gradients(parameters, forcing, True, **settings)
    oracle = _gradients(parameters, forcing, False, **settings)
    assert jax.tree_util.tree_map(jnp.shape, hand) == jax.tree_util.tree_map(jnp.shape, oracle)
    assert _worst_relative_error(oracle, hand) <= 1e-6


def test_float32_gradient_is_close_to_autodiff():
    forcing = _broadcast_forcing()
    parameters = midpoint_parameters(3)
    settings = {"mass_conserving": False, "water_stress": "default"}
    hand = _gradients(parameters, forcing, True, **settings)
    oracle = _gradients(parameters, forcing, False, **settings)
    assert jax.tree_util.tree_leaves(hand)[0].dtype == jnp.float32
    assert _worst_relative_error(oracle, hand) <= 1e-3


def test_vectorized_members_match_one_at_a_time(x64):
    """``jax.vmap`` over members (as ``fit_members`` trains them) of the custom VJP."""
    forcing = _broadcast_forcing()
    members = jax.tree_util.tree_map(lambda x: jnp.stack([x, 1.1 * x]), midpoint_parameters(3))
    loss = lambda p: _weighted_sum(p, forcing, adjoint=True, mass_conserving=False,  # noqa: E731
                                   water_stress="default")
    together = jax.vmap(jax.grad(loss))(members)
    for k in range(2):
        alone = jax.grad(loss)(jax.tree_util.tree_map(lambda x: x[k], members))
        assert _worst_relative_error(alone, jax.tree_util.tree_map(lambda x: x[k], together)) \
            <= 1e-12


@pytest.mark.parametrize(("variant", "forward_mode", "expected"), [
    ("default", False, True), ("nothing", False, True), ("nn_paw", False, False),
    ("gpp_acm_et_nn", False, False), ("nn_whole", False, False), ("default", True, False)])
def test_network_variants_and_forward_mode_keep_autodiff(variant, forward_mode, expected):
    assert has_adjoint(variant, forward_mode) is expected


# One step, at every clamp -------------------------------------------------------------------

def _step_inputs(rng, n=400):
    """Pools and drivers that put every pixel-group on another branch of the step's clamps."""
    parameters = midpoint_parameters(n)
    parameters = parameters._replace(**{
        name: getattr(parameters, name) * rng.uniform(0.5, 1.5, n) for name in parameters._fields})
    uniform = lambda low, high: jnp.asarray(rng.uniform(low, high, n))  # noqa: E731

    def pool(name):  # near either bound, inside, or beyond
        low, high = POOL_BOUNDS[name]
        choice = rng.integers(0, 4, n)
        values = np.select([choice == 0, choice == 1, choice == 2],
                           [rng.uniform(0, 3, n), rng.uniform(low, high, n),
                            rng.uniform(0.97 * high, 1.05 * high, n)], rng.uniform(1, 1.5, n))
        return jnp.asarray(values)

    water = np.array(pool("water"))
    water[:20] = 0.0  # an empty bucket: no runoff, the violation max(., 0) at its tie
    pools = Pools(*(pool(k) for k in Pools._fields[:-1]), jnp.asarray(water))
    acm = ACMDrivers(uniform(0.5, 2), uniform(0.5, 5), uniform(350, 450), uniform(5, 30),
                     uniform(0.1, 0.5))
    burned = uniform(0, 0.05) * (rng.uniform(size=n) < 0.6)
    drivers = StepDrivers(acm, uniform(0.1, 1), uniform(0, 0.1), uniform(0, 20),
                          jnp.asarray(30.0), None, None, None, uniform(0, 0.05), uniform(0, 0.3),
                          uniform(0, 0.01), uniform(0, 0.003), uniform(0, 0.3), uniform(0, 0.01),
                          uniform(0, 0.3), burned, None)
    const = constants(parameters)
    # A far focal point drains little: these buckets fill past the upper bound.
    water[20:60] = 9990.0
    focal = np.array(const.runoff_focal_point)
    focal[20:60] = 1e6
    pools = pools._replace(water=jnp.asarray(water))
    return const._replace(runoff_focal_point=jnp.asarray(focal)), pools, drivers


@pytest.mark.parametrize("mass_conserving", [False, True])
@pytest.mark.parametrize("water_stress", ["default", "nothing"])
def test_step_adjoint_equals_autodiff_on_every_branch(x64, mass_conserving, water_stress):
    rng = np.random.default_rng(0)
    const, pools, drivers = _step_inputs(rng)

    def plain(c, p, d):
        return step(c, p, d, mass_conserving, water_stress, None, lambda x: x)

    (new, fluxes), pullback = jax.vjp(plain, const, pools, drivers)
    _assert_every_branch_taken(const, pools, drivers, mass_conserving, water_stress)
    g_new = Pools(*(jnp.asarray(rng.uniform(-1, 1, 400)) for _ in Pools._fields))
    g_outputs = {name: jnp.asarray(rng.uniform(-1, 1, 400)) for name in STEP_OUTPUTS}
    g_const, g_pools, g_drivers = pullback((g_new, {k: g_outputs[k] for k in fluxes}))
    hand_pools, hand_inputs = step_adjoint(const, pools, drivers, g_new, g_outputs,
                                           mass_conserving, water_stress)
    assert _worst_relative_error(g_pools, hand_pools) <= 1e-12

    def hand(prefix, tree):
        names = [".".join([prefix, *(k.name for k in path)])
                 for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]
        leaves = [jnp.broadcast_to(hand_inputs.get(n, 0.0), (400,)) for n in names]
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(tree), leaves)

    assert _worst_relative_error(g_const, hand("c", g_const)) <= 1e-12
    by_pixel = hand("d", g_drivers)  # the scalar step length's cotangent is summed over pixels
    assert float(jnp.abs(by_pixel.delta_t.sum() - g_drivers.delta_t)) <= 1e-12 * float(
        jnp.abs(by_pixel.delta_t).sum())
    zero_dt = {"delta_t": jnp.zeros(400)}
    assert _worst_relative_error(g_drivers._replace(**zero_dt), by_pixel._replace(**zero_dt)) \
        <= 1e-12


def _assert_every_branch_taken(const, pools, drivers, mass_conserving, water_stress):
    """Each clamp, sign test and fire limit goes both ways somewhere, or the check is void."""
    v = _forward(const, pools, drivers, mass_conserving, water_stress)
    masks = {"runoff form": v.runoff_high, "water low": v.above, "runoff sign": v.negative,
             "water high": v.wat_keep, "foliar low": v.fol_keep, "foliar high": v.fol_keep_high,
             "litter low": v.lit_keep, "decomposition sign": v.positive,
             "litter high": v.lit_keep_high}
    for name in ("lab", "root", "wood", "som"):
        masks[f"{name} low"], masks[f"{name} high"] = getattr(v, name)[0], getattr(v, name)[3]
    if water_stress == "default":
        masks["beta below 1"], masks["beta above 0"] = v.beta_raw <= 1.0, v.beta_1 >= 0.0
    if mass_conserving:
        clamped = {"labile": v.lab[4], "foliar": v.fol3, "root": v.root[4], "wood": v.wood[4],
                   "litter": v.lit3, "som": v.som[4]}
        fire = fire_forward(clamped, drivers.burned_per_day, const.fire, drivers.delta_t, True)
        for name, limit in fire.limit.items():
            masks[f"{name} fire limit"] = limit.too_much
    for label, mask in masks.items():
        assert 0 < int(jnp.sum(mask)) < mask.size, label


def test_unrequested_outputs_cost_nothing():
    """Only the cotangents asked for are formed: none given, no cotangent comes back."""
    const, pools, drivers = _step_inputs(np.random.default_rng(1), n=8)
    zero = Pools(*([None] * len(Pools._fields)))
    g_pools, g_inputs = step_adjoint(const, pools, drivers, zero, {})
    assert all(g is None for g in g_pools) and g_inputs == {}
