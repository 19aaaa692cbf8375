"""Pixel sharding across host devices gives the same numbers as the plain engine run."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.test_simulate import make_forcing
from xdifferland import parallel
from xdifferland.engine import midpoint_parameters, simulate


@pytest.mark.parametrize("n_pixels", [3, 4])
def test_sharded_simulation_matches_plain_run(n_pixels):
    params, forcing = midpoint_parameters(n_pixels), make_forcing(12, n_pixels)
    plain = simulate(params, forcing, ["gpp", "lai"])
    sharded = parallel.simulate(params, forcing, ["gpp", "lai"])
    for name in ("gpp", "lai"):
        assert sharded.outputs[name].shape == (12, n_pixels)
        np.testing.assert_allclose(sharded.outputs[name], plain.outputs[name], rtol=1e-6)


def test_padding_to_a_multiple_of_the_device_count():
    params, forcing = midpoint_parameters(5), make_forcing(6, 5)
    padded_params, padded_forcing, n = parallel.pad_pixels(params, forcing, 4)
    assert n == 5 and padded_params.decomposition_rate.shape == (8,)
    assert padded_forcing.t_min.shape == (6, 8)


def test_host_devices_cannot_be_reconfigured_after_jax_started():
    simulate(midpoint_parameters(1), make_forcing(2, 1), ["gpp"])  # JAX is running now
    if parallel.device_count() == 2:
        assert parallel.configure_host_devices(2) == 2  # already what was asked: fine
    else:
        with pytest.raises(RuntimeError):
            parallel.configure_host_devices(parallel.device_count() + 1)
