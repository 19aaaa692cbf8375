"""Fisher information of the parameters: equal to JᵀJ of the full Jacobian, pixel by pixel."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.engine.parity_data import load_case, parity_cases
from xdifferland.engine import Parameters, fisher_information, simulate
from xdifferland.registry import PARAMETER_NAMES
from xdifferland.transforms import to_physical, to_unconstrained

pytestmark = pytest.mark.shared

NOISE = {"lai": 0.5, "gpp": 1.5, "et": 0.4}


def _pixel(tree, i):
    """Pixel ``i`` of parameters (``(pixel,)``) or forcing (``(time, pixel)`` fields)."""
    def take(a):
        a = jnp.asarray(a)
        if a.ndim == 2 and a.shape[1] > 1:
            return a[:, i:i + 1]
        if a.ndim == 1 and a.shape[0] > 1:
            return a[i:i + 1]
        return a
    return type(tree)(*(take(a) for a in tree))


@pytest.mark.parametrize(("name", "climate"), parity_cases()[:2])
def test_information_is_the_gram_matrix_of_the_jacobian(x64, name, climate):
    params, forcing, _, _ = load_case(name, climate)
    info = np.asarray(fisher_information(params, forcing, NOISE, warmup=6))
    for i in (0, int(params.decomposition_rate.shape[0]) - 1):
        p, f = _pixel(params, i), _pixel(forcing, i)
        x0 = to_unconstrained(jnp.stack([getattr(p, n) for n in PARAMETER_NAMES], -1))[0]

        def observed(x):
            run = simulate(Parameters(*to_physical(x[None])[0][:, None]), f, tuple(NOISE),
                           forward_mode=True)
            return jnp.concatenate([run.outputs[s][6:, 0] / sd for s, sd in NOISE.items()])

        jacobian = np.asarray(jax.jacfwd(observed)(x0))  # (steps x streams, 40)
        np.testing.assert_allclose(info[i], jacobian.T @ jacobian, rtol=1e-9,
                                   atol=1e-12 * np.abs(info[i]).max())


def test_information_is_symmetric_and_positive_semidefinite(x64):
    params, forcing, _, _ = load_case(*parity_cases()[0])
    info = np.asarray(fisher_information(params, forcing, {"lai": 0.3}))
    np.testing.assert_allclose(info, np.swapaxes(info, 1, 2))
    assert np.linalg.eigvalsh(info).min() > -1e-9 * np.abs(info).max()
