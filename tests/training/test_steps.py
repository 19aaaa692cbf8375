"""Fits with the same traced code share their jitted steps (training.steps._compiled_steps)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from xdifferland.datasets import synthetic_world
from xdifferland.engine import LossTerm
from xdifferland.training import FitConfig, fit, steps

TINY = dict(n_lat=4, n_lon=10, n_years=1, seed=5)


@pytest.fixture(scope="module")
def tiny_world():
    ds, _ = synthetic_world(**TINY)
    return ds


@pytest.fixture
def empty_cache():
    steps._STEP_CACHE.clear()
    yield steps._STEP_CACHE
    steps._STEP_CACHE.clear()


def same_weights(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in
               zip(jax.tree_util.tree_leaves(a.weights), jax.tree_util.tree_leaves(b.weights)))


def test_other_seeds_and_epochs_reuse_the_steps_and_match_fresh_ones(tiny_world, empty_cache):
    first = fit(tiny_world, epochs=1, seed=1, progress=False)
    assert len(empty_cache) == 1
    (built,) = empty_cache.values()
    shared = fit(tiny_world, epochs=2, seed=2, progress=False)
    assert len(empty_cache) == 1 and next(iter(empty_cache.values())) is built
    empty_cache.clear()
    fresh = fit(tiny_world, epochs=2, seed=2, progress=False)
    assert same_weights(shared, fresh)
    assert shared.history == fresh.history
    assert not same_weights(first, fresh)


@pytest.mark.parametrize("change", [dict(learning_rate=1e-3), dict(loss_weights={"lai": 1.0}),
                                    dict(schedule="cosine"), dict(mass_conserving=True),
                                    dict(network={"width": 8}), dict(weight_decay=0.1),
                                    dict(loss_in_loop=True)])
def test_a_setting_in_the_traced_code_builds_new_steps(change):
    config = FitConfig()
    key = steps._step_key(config, {}, ("lai",), (), 4, 30.0)
    other = FitConfig(**change)
    assert steps._step_key(other, dict(other.loss_weights), ("lai",), (), 4, 30.0) != key
    # settings outside the traced code do not
    assert steps._step_key(FitConfig(seed=9, epochs=7, eval_every=2), {}, ("lai",), (), 4,
                          30.0) == key


def test_cosine_steps_depend_on_the_run_length_and_unhashable_terms_are_not_cached():
    cosine = FitConfig(schedule="cosine", epochs=10)
    assert steps._step_key(cosine, {}, ("lai",), (), 4, 30.0) != steps._step_key(
        cosine, {}, ("lai",), (), 5, 30.0)
    odd = LossTerm("odd", 1.0, None, ["gpp"], lambda o, obs, ctx: 0.0, "a list of outputs")
    assert steps._step_key(FitConfig(), {}, ("gpp",), (odd,), 4, 30.0) is None


@pytest.mark.parametrize("count", [3, 2])
def test_fused_steps_equal_single_steps_and_skip_the_padding(tiny_world, count):
    from xdifferland.engine.loss import active_terms, required_outputs
    from xdifferland.network import init_network
    from xdifferland.training.batches import (Standardization, build_batch, patch_members,
                                              stack_batches)
    from xdifferland.training.data import training_data

    data = training_data(tiny_world, patch_size=(1.0, 1.0))
    members = patch_members(data)
    assert len(members) >= 3
    std = Standardization.from_training(data, np.concatenate(members))
    size = max(len(m) for m in members)
    batches = [build_batch(data, m, size, std, True) for m in members[:3]]
    config = FitConfig()
    outputs = required_outputs(active_terms(data.observations, {}))
    optimizer = config.optimizer(3)
    train_step, _ = steps._make_steps(config, {}, outputs, (), optimizer, data.delta_t)
    weights = init_network(config.network, len(data.predictor_names), 0)
    state = optimizer.init(weights)

    w, s, losses = weights, state, []
    for b in batches[:count]:
        w, s, loss, _ = train_step(w, s, b)
        losses.append(float(loss))
    fw, fs, flosses, fterms = steps.fused_steps(train_step)(weights, state,
                                                            stack_batches(batches), count)
    for a, b in zip(jax.tree_util.tree_leaves((w, s)), jax.tree_util.tree_leaves((fw, fs))):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(flosses)[:count], losses, rtol=1e-6)
    assert np.all(np.asarray(flosses)[count:] == 0.0)  # the padded step was not run
    assert set(fterms) >= {"lai"} and np.asarray(fterms["lai"]).shape == (3,)


def test_loss_in_the_loop_trains_like_the_stacked_loss(tiny_world):
    stacked = fit(tiny_world, epochs=2, seed=3, progress=False)
    in_loop = fit(tiny_world, epochs=2, seed=3, progress=False, loss_in_loop=True)
    assert in_loop.config.loss_in_loop and not stacked.config.loss_in_loop
    for key in ("train_loss", "dev_loss"):
        np.testing.assert_allclose(in_loop.history[key], stacked.history[key], rtol=1e-4)
    for a, b in zip(jax.tree_util.tree_leaves(in_loop.weights),
                    jax.tree_util.tree_leaves(stacked.weights)):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_loss_in_loop_must_be_a_bool():
    with pytest.raises(ValueError, match="loss_in_loop='yes': use True or False"):
        FitConfig(loss_in_loop="yes")
