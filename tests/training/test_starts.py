"""Multi-start screening: the best of several initializations trains on, reproducibly."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

import xdifferland.training.loop as loop
from xdifferland.training import FitConfig, fit
from xdifferland.training.starts import Run, screen_starts, start_seed

def scripted(losses_of_start):
    """``new_run`` and ``advance`` of fake runs whose epochs have the given training losses."""
    def new_run(k):
        return Run(weights=k, opt_state=None, start=k, history={"train_loss": []})

    def advance(run):
        loss = losses_of_start[run.start][run.epoch]
        if not math.isfinite(loss):
            return False
        run.history["train_loss"].append(loss)
        run.epoch += 1
        return True

    return new_run, advance


@pytest.mark.parametrize("losses, chosen", [
    ([[9, 5, 4, 3], [9, 6, 2, 2], [9, 9, 9, 9]], 1),  # lowest over the last epoch
    ([[9, 5, 4, 3], [1, 1, float("nan"), 0], [9, 9, 9, 9]], 0),  # a non-finite start drops
    ([[5, 5, 5, 5], [5, 5, 5, 5]], 0),  # ties keep the earlier start
])
def test_screening_keeps_the_lowest_finishing_loss(losses, chosen):
    new_run, advance = scripted(losses)
    run, scores = screen_starts(new_run, advance, len(losses), epochs=4)
    assert run.start == chosen and run.epoch == 4
    assert scores[chosen] == min(scores)
    assert all(math.isinf(s) for s, row in zip(scores, losses) if not all(map(math.isfinite,
                                                                            row)))


def test_screening_scores_the_mean_of_the_last_tenth():
    new_run, advance = scripted([[100.0] * 18 + [4.0, 2.0]])
    _, scores = screen_starts(new_run, advance, 1, epochs=20)
    assert scores == [3.0]


def test_no_finite_start_gives_none():
    new_run, advance = scripted([[1.0, float("inf")], [float("nan"), 1.0]])
    assert screen_starts(new_run, advance, 2, epochs=2) == (None, [math.inf, math.inf])


def test_default_length_runs_screen_and_given_lengths_do_not():
    assert FitConfig().resolved_starts() == 4
    assert FitConfig(epochs=30).resolved_starts() == 1
    assert FitConfig(epochs=30, starts=2, screen_share=0.5).screen_epochs() == 15
    with pytest.raises(ValueError, match="starts"):
        FitConfig(starts=0)
    with pytest.raises(ValueError, match="screen_share"):
        FitConfig(screen_share=1.0)


def test_start_seeds_continue_the_single_start_run():
    assert start_seed(3, 0, 0) == 3  # starts=1 is the run of old
    assert len({start_seed(3, r, k) for r in range(4) for k in range(4)}) == 16


def test_a_screened_fit_equals_the_single_run_of_the_winning_start(small_world, monkeypatch):
    ds, _ = small_world
    settings = dict(epochs=4, seed=5, progress=False)
    screened = fit(ds, starts=3, screen_share=0.5, **settings)
    scores, chosen = screened.history["start_losses"], screened.history["start_chosen"]
    assert len(scores) == 3 and chosen == int(np.argmin(scores))
    assert screened.config.starts == 3 and len(screened.history["train_loss"]) == 4
    assert np.mean(screened.history["train_loss"][1:2]) == pytest.approx(scores[chosen])

    original = loop.init_network
    monkeypatch.setattr(loop, "init_network",
                        lambda net, n, seed: original(net, n, seed + chosen))
    alone = fit(ds, starts=1, **settings)
    assert alone.history["train_loss"] == pytest.approx(screened.history["train_loss"])
    for a, b in zip(jax.tree_util.tree_leaves(alone.weights),
                    jax.tree_util.tree_leaves(screened.weights)):
        np.testing.assert_array_equal(a, b)


def test_resume_after_the_screening_matches_an_uninterrupted_run(small_world, tmp_path,
                                                                 stop_after):
    ds, _ = small_world
    settings = dict(epochs=5, seed=2, starts=2, screen_share=0.4, checkpoint_every=10,
                    progress=False)
    full = fit(ds, **settings)

    with pytest.raises(KeyboardInterrupt):
        fit(ds, checkpoint_dir=tmp_path, callback=stop_after(3), **settings)
    # the checkpoint written right after the screening (epoch 2) is what resume continues from
    resumed = fit(ds, resume=tmp_path / "checkpoint.npz", **settings)
    assert resumed.history["train_loss"] == pytest.approx(full.history["train_loss"])
    assert resumed.history["start_chosen"] == full.history["start_chosen"]
    for a, b in zip(jax.tree_util.tree_leaves(resumed.weights),
                    jax.tree_util.tree_leaves(full.weights)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_centred_water_start_puts_the_bucket_mean_at_its_targets():
    import jax.numpy as jnp
    import numpy as np

    from xdifferland.network import (WATER_START, NetworkConfig, init_network,
                                     predict_parameters, water_start)

    config = NetworkConfig()
    z = jnp.asarray(np.random.default_rng(0).normal(size=(12, 3)), jnp.float32)
    zh = jnp.zeros((12, 1), jnp.float32)
    for seed in range(3):
        w = water_start(init_network(config, 3, seed), config, z, zh)
        p = predict_parameters(w, config, z, zh)
        # the mean unconstrained output sits at the target: the physical median is near it
        assert 0.2 < float(np.median(p.field_capacity)) / WATER_START["field_capacity"] < 5
        water = np.asarray(p.initial_water)
        wilting = np.asarray(p.field_capacity * p.wilting_point_fraction)
        assert (water > wilting).mean() > 0.5
