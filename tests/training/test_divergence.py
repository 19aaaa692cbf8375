"""A diverging fit says so: it warns or stops with what to try, and the model records it."""

from __future__ import annotations

import dataclasses
import math
import warnings

import pytest

import xdifferland
from tests.factories import make_dataset
from xdifferland import fit
from xdifferland.training import FitConfig
from xdifferland.training.divergence import (DivergenceWarning, check_convergence,
                                             divergence_during)

#: A learning rate at which the tiny world's loss jumps up after the first steps and stays
#: there with finite weights (measured: 4.90e5 at epoch 1, 5.35e5 from epoch 2 on).
HUGE_RATE = 1e4


@pytest.fixture(scope="module")
def tiny():
    return make_dataset()


@pytest.fixture(scope="module")
def diverged(tiny):
    """A warned diverging fit of 6 epochs, and the warnings it issued."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = fit(tiny, epochs=6, learning_rate=HUGE_RATE, divergence_patience=3,
                    progress=False)
    return model, [w for w in caught if issubclass(w.category, DivergenceWarning)]


def test_diverging_fit_warns_with_what_to_try_and_records_it(diverged):
    model, caught = diverged
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "ended above its start" in message
    assert "lower learning_rate (now 10000; e.g. 1000)" in message and "clip_norm" in message
    assert len(model.history["train_loss"]) == 6  # "warn" finishes the run
    assert model.history["train_loss"][-1] > model.history["train_loss"][0]
    assert model.converged is False
    assert model.convergence == message


def test_stop_ends_the_run_at_the_epoch_a_rule_fires(tiny):
    with pytest.warns(DivergenceWarning, match="stopped at epoch 4"):
        model = fit(tiny, epochs=12, learning_rate=HUGE_RATE, divergence="stop",
                    divergence_patience=3, progress=False)
    # epoch 1 is the start; epochs 2-4 stayed above it
    assert len(model.history["train_loss"]) == 4
    assert model.converged is False
    assert "stayed above its start" in model.convergence


def test_ignore_is_silent_but_recorded(tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DivergenceWarning)
        model = fit(tiny, epochs=3, learning_rate=HUGE_RATE, divergence="ignore",
                    progress=False)
    assert model.converged is False


def test_normal_short_fit_converges_without_warning(tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DivergenceWarning)
        model = fit(tiny, epochs=4, progress=False)
    losses = model.history["train_loss"]
    assert losses[-1] < losses[0]
    assert model.converged is True
    assert model.convergence.startswith(f"the training loss fell from {losses[0]:.4g}")


def test_verdict_survives_save_and_load(diverged, tmp_path):
    model, _ = diverged
    loaded = xdifferland.load_model(model.save(tmp_path / "model.npz"))
    assert loaded.converged is False
    assert loaded.convergence == model.convergence


def test_models_without_a_verdict_load_as_not_recorded(diverged, tmp_path):
    model, _ = diverged
    older = dataclasses.replace(model, metadata={k: v for k, v in model.metadata.items()
                                                 if k != "convergence"})
    loaded = xdifferland.load_model(older.save(tmp_path / "older.npz"))
    assert loaded.converged is None
    assert loaded.convergence.startswith("not recorded")


CONFIG = FitConfig(epochs=40, eval_every=5, divergence_patience=4)


@pytest.mark.parametrize(("history", "during", "final", "words"), [
    # falling, with the wobble of a stochastic run: nothing fires
    ({"train_loss": [10, 8, 8.2, 7, 7.1, 7.2, 6.5]}, False, True, "fell from 10 to 6.5"),
    # four rises adding up to 30 %: fires while training, and at the end
    ({"train_loss": [10, 5, 5.5, 5.8, 6.1, 6.5]}, True, False, "rose in each of the last 4"),
    # four rises adding up to 4 % (under the 5 % tolerance): the wobble near a minimum
    ({"train_loss": [10, 5, 5.05, 5.1, 5.15, 5.2]}, False, True, "fell from 10 to 5.2"),
    # up and flat above the start (the saturated run): stuck during, above its start at the end
    ({"train_loss": [10, 12, 12, 12, 12]}, True, False, "above its start"),
    ({"train_loss": [10, 12, 12, 9.9]}, False, True, "fell from 10 to 9.9"),
    # the dev loss climbs by more than 5 % in 4 evaluations: overfitting or divergence
    ({"train_loss": [10, 9, 8, 7, 6, 5], "dev_loss": [5, 4, 4.2, 4.4, 4.6, 4.9],
      "dev_epoch": [5, 10, 15, 20, 25, 30]}, True, False,
     "dev loss rose in each of the last 4 evaluations"),
    # ...but a noisy dev loss, below its start, is not (the demo's: 0.29, 0.40, 0.29)
    ({"train_loss": [10, 9, 8, 7, 6, 5], "dev_loss": [5, 1.5, 2.0, 1.45, 1.5, 1.6],
      "dev_epoch": [5, 10, 15, 20, 25, 30]}, False, True, "the dev loss from 5 to 1.6"),
    # a dev loss ending within 5 % of its first evaluation is noise; beyond, it counts
    ({"train_loss": [10, 9, 8], "dev_loss": [5, 5.2], "dev_epoch": [5, 10]}, False, True,
     "fell from 10 to 8"),
    ({"train_loss": [10, 9, 8], "dev_loss": [5, 5.5], "dev_epoch": [5, 10]}, False, False,
     "dev loss ended above its start (5 at epoch 5, 5.5 at epoch 10). The network may fit"),
    ({"train_loss": [10, 9], "dev_loss": [5, math.inf], "dev_epoch": [5, 10]}, True, False,
     "dev loss is not finite (epoch 10)"),
])
def test_rules(history, during, final, words):
    stop = divergence_during(history, CONFIG)
    verdict = check_convergence(history, CONFIG)
    assert (stop is not None) == during
    assert verdict.converged == final
    assert words in (stop.reason if stop is not None else verdict.reason)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="divergence='often'.*\n.*divergence_patience=0"):
        FitConfig(divergence="often", divergence_patience=0)
