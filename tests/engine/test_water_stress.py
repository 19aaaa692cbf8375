"""Neural water-stress variants (spec 6.11): engine behaviour and joint training."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.engine.test_simulate import make_forcing
from xdifferland.engine import midpoint_parameters, simulate
from xdifferland.engine.water_stress import (WATER_STRESS_VARIANTS, WHOLE_NETWORK_VARIANTS,
                                             init_water_stress)


NETWORK_VARIANTS = ("nn_paw", "gpp_acm_et_nn", "nn_whole", "nn_whole_no_lai")


def test_every_variant_of_the_spec_is_accepted():
    assert set(WATER_STRESS_VARIANTS) == {"default", "nothing", *NETWORK_VARIANTS}


@pytest.mark.parametrize("variant", NETWORK_VARIANTS)
def test_variant_runs_and_differentiates(variant):
    params, forcing = midpoint_parameters(3), make_forcing(24, 3)
    weights = init_water_stress(variant, seed=0)
    run = simulate(params, forcing, ["gpp", "et", "water_stress"], water_stress=variant,
                   stress_weights=weights)
    beta = np.asarray(run.outputs["water_stress"])
    if variant in WHOLE_NETWORK_VARIANTS:
        assert np.isnan(beta).all()  # no β: GPP does not factor as ACM x β
    else:
        assert ((beta > 0) & (beta < 1)).all()  # a sigmoid of the water pool
    assert np.isfinite(run.outputs["gpp"]).all() and np.isfinite(run.outputs["et"]).all()
    grads = jax.grad(lambda w: simulate(params, forcing, ["gpp", "et"], water_stress=variant,
                                        stress_weights=w).outputs["et"].sum())(weights)
    leaves = jax.tree_util.tree_leaves(grads)
    assert all(bool(jnp.isfinite(g).all()) for g in leaves)
    assert any(float(jnp.abs(g).max()) > 0 for g in leaves)


def test_et_network_replaces_the_uwue_form():
    params, forcing = midpoint_parameters(2), make_forcing(12, 2)
    paw = simulate(params, forcing, ["et"], water_stress="nn_paw",
                   stress_weights=init_water_stress("nn_paw", 1)).outputs["et"]
    both = simulate(params, forcing, ["et"], water_stress="gpp_acm_et_nn",
                    stress_weights=init_water_stress("gpp_acm_et_nn", 1)).outputs["et"]
    assert not np.allclose(paw, both)


def test_et_network_output_is_floored():
    """ET = max(0.01 x, x): a raw output of -100 gives -1."""
    from xdifferland.engine.water_stress import WaterStressDrivers, network_et

    weights = init_water_stress("gpp_acm_et_nn", 0)
    last = f"layer_{len(weights['et']) - 1}"
    weights["et"][last] = {"kernel": jnp.zeros_like(weights["et"][last]["kernel"]),
                           "bias": jnp.full((1,), -100.0)}
    zeros = jnp.zeros(3)
    et = network_et(weights, WaterStressDrivers(zeros, zeros, zeros, zeros), zeros + 1.0,
                    zeros + 100.0, zeros + 2.0)
    np.testing.assert_allclose(et, -1.0, rtol=1e-6)
    weights["et"][last]["bias"] = jnp.full((1,), 3.0)
    np.testing.assert_allclose(network_et(weights, WaterStressDrivers(zeros, zeros, zeros, zeros),
                                          zeros + 1.0, zeros + 100.0, zeros + 2.0), 3.0,
                               rtol=1e-6)


def test_neural_variant_needs_weights_and_a_known_name():
    params, forcing = midpoint_parameters(1), make_forcing(12, 1)
    with pytest.raises(ValueError, match="needs its network weights"):
        simulate(params, forcing, ["gpp"], water_stress="nn_paw")
    with pytest.raises(ValueError, match="choose one of"):
        simulate(params, forcing, ["gpp"], water_stress="nn_whole_lai_only")


@pytest.mark.parametrize("variant, network", [("nn_paw", "beta"), ("nn_whole", "whole"),
                                              ("nn_whole_no_lai", "whole"), ("nothing", None)])
def test_fit_trains_the_water_stress_network_jointly(tmp_path, variant, network):
    import xdifferland
    from xdifferland.datasets import synthetic_world

    ds, _ = synthetic_world(n_lat=4, n_lon=10, n_years=1, seed=4)
    model = xdifferland.fit(ds, epochs=2, progress=False, water_stress=variant)
    start = init_water_stress(variant, model.config.seed)
    if network is None:
        assert model.weights.get("water_stress", {}) == {}  # no network to train
    else:
        trained = model.weights["water_stress"][network]["layer_0"]["kernel"]
        assert not np.allclose(trained, start[network]["layer_0"]["kernel"])
    loaded = xdifferland.load_model(model.save(tmp_path / "m.npz"))
    assert loaded.config.water_stress == variant
    a = model.simulate(ds, ["gpp", "et"])
    b = loaded.simulate(ds, ["gpp", "et"])
    assert a.attrs["water_stress"] == b.attrs["water_stress"] == variant
    assert int(a["gpp"].notnull().sum()) > 0
    np.testing.assert_array_equal(a["gpp"], b["gpp"])
    np.testing.assert_array_equal(a["et"], b["et"])
