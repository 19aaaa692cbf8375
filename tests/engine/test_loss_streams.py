"""A user's stream term computes what the built-in terms of the same kind compute."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from xdifferland.engine.loss import LOSS_TERMS, LossContext, Observation
from xdifferland.engine.loss_streams import StreamTerm, stream_term

rng = np.random.default_rng(4)
T, P = 24, 5
OUTPUTS = {name: jnp.asarray(rng.random((T, P)) * 5)
           for name in ("gpp", "autotrophic_respiration", "nbe", "vod")}
MASK = jnp.asarray(rng.random((T, P)) > 0.3, float)
OBS = Observation(jnp.asarray(rng.random((T, P)) * 3) * MASK, MASK,
                  jnp.asarray(0.5 + rng.random((T, P))))
CONTEXT = LossContext(batch_size=8)


@pytest.mark.parametrize("use_uncertainty", [False, True])
def test_pixel_term_is_the_masked_sse_of_the_combination(use_uncertainty):
    term = stream_term("npp_obs", {"gpp": 1, "autotrophic_respiration": -1})
    npp = np.asarray(OUTPUTS["gpp"] - OUTPUTS["autotrophic_respiration"])
    residual = (npp - np.asarray(OBS.value)) / (np.asarray(OBS.uncertainty)
                                                if use_uncertainty else 1.0)
    expected = np.sum(np.asarray(MASK) * residual ** 2)
    got = term.function(OUTPUTS, OBS, CONTEXT._replace(use_uncertainty=use_uncertainty))
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)


@pytest.mark.parametrize(("builtin", "settings"), [
    ("nbe", dict(simulated="nbe", scale="patch")),  # monthly patch error
    ("nbe_iav", dict(simulated="nbe", scale="patch", annual=True)),  # annual patch error
    ("vod", dict(simulated="vod", annual=True)),  # annual SSE
])
def test_scales_and_years_match_the_builtin_terms(builtin, settings):
    term = stream_term("mine", **settings)
    expected = LOSS_TERMS[builtin].function(OUTPUTS, OBS, CONTEXT)
    np.testing.assert_allclose(float(term.function(OUTPUTS, OBS, CONTEXT)), float(expected),
                               rtol=1e-6)


def test_term_describes_and_records_itself():
    term = stream_term("npp_obs", ["gpp", "nbe"], weight=3.0, scale="patch", name="npp")
    assert isinstance(term, StreamTerm)
    assert (term.name, term.observation, term.default_weight) == ("npp", "npp_obs", 3.0)
    assert term.outputs == ("gpp", "nbe")
    assert term.description == "patch error, npp_obs vs 1 gpp + 1 nbe"
    assert term.record() == {"term": "npp", "simulated": {"gpp": 1.0, "nbe": 1.0},
                             "scale": "patch", "annual": False}
    hash(term)  # hashable: fits with the same term share compiled steps


def test_bad_settings_are_named_together():
    with pytest.raises(ValueError) as info:
        stream_term("x", {"gpp": 1, "npp": 1}, scale="region", weight=0, name="lai")
    for piece in ("['npp'] are not engine outputs", "scale='region'", "weight=0",
                  "name='lai' is a built-in term"):
        assert piece in str(info.value)
