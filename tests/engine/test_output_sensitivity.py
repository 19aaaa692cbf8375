"""Derivatives of a reduced output: the per-pixel tangents equal each pixel's own Jacobian."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.engine.test_simulate import make_forcing
from xdifferland.engine import Parameters, midpoint_parameters, simulate
from xdifferland.engine.sensitivity import output_sensitivity
from xdifferland.registry import PARAMETER_NAMES

WRT = [PARAMETER_NAMES.index(n) for n in ("canopy_efficiency", "leaf_carbon_mass_per_area",
                                          "field_capacity")]


def test_reductions_agree_with_each_other():
    params, forcing = midpoint_parameters(3), make_forcing(24, 3)
    value, every = output_sensitivity(params, forcing, "gpp", WRT, "none")
    mean_value, mean = output_sensitivity(params, forcing, "gpp", WRT, "time-mean")
    total_value, total = output_sensitivity(params, forcing, "gpp", WRT, "time-sum")
    assert every.shape == (3, 24, 3) and mean.shape == (3, 3)
    np.testing.assert_allclose(mean, every.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(total, 30.0 * every.sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(total_value, 30.0 * value.sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(mean_value, value.mean(axis=0), rtol=1e-5)


def test_one_tangent_for_all_pixels_gives_each_pixel_its_own_derivative():
    params, forcing = midpoint_parameters(3), make_forcing(24, 3)
    params = params._replace(canopy_efficiency=jnp.array([8.0, 15.0, 30.0]))
    _, derivatives = output_sensitivity(params, forcing, "lai", WRT)
    for pixel in range(3):
        def mean_lai(theta, pixel=pixel):
            values = [jnp.asarray(p) for p in params]
            for j, k in enumerate(WRT):  # only this pixel's parameters move
                values[k] = values[k].at[pixel].set(theta[j])
            run = simulate(Parameters(*values), forcing, ["lai"], forward_mode=True)
            return run.outputs["lai"][:, pixel].mean()
        theta = jnp.stack([jnp.asarray(params[k])[pixel] for k in WRT])
        np.testing.assert_allclose(derivatives[:, pixel], jax.jacfwd(mean_lai)(theta),
                                   rtol=1e-5)


def test_unknown_reduction_is_refused():
    with pytest.raises(ValueError, match="reduce='yearly'"):
        output_sensitivity(midpoint_parameters(1), make_forcing(12, 1), "gpp", WRT, "yearly")
