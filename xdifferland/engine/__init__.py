"""The differentiable DALEC993 engine: pure JAX, no xarray or pint inside.

Layers: :mod:`~.types` (named pytrees), :mod:`~.acm`, :mod:`~.phenology`, :mod:`~.canopy` and
:mod:`~.water_stress` (process kernels), :mod:`~.step` (the ``init / prepare / step``
contract), :mod:`~.simulate` (the ``lax.scan`` driver), :mod:`~.budget` (mass-balance
residuals), :mod:`~.loss` (the published loss terms) and :mod:`~.sensitivity` (Fisher
information of the parameters).
"""

from __future__ import annotations

import jax.numpy as jnp

from ..registry import PARAMETERS
from .loss import (LOSS_TERMS, LossTerm, Observation, loss_terms, required_outputs,
                   total_loss)
from .loss_parameters import ParameterObservation, parameter_observation
from .loss_streams import StreamTerm, stream_term
from .outputs import OUTPUT_NAMES, OUTPUTS, output_spec, resolve_output, resolve_outputs
from .budget import BudgetResiduals, budget_residuals
from .sensitivity import fisher_information
from .simulate import Simulation, as_dtype, simulate
from .loss_in_loop import simulated_loss_terms
from .step import init, prepare, step
from .types import FORCING_FIELDS, POOL_BOUNDS, Forcing, Parameters, Pools

__all__ = [
    "Forcing", "Pools", "Parameters", "Simulation", "simulate", "init", "prepare", "step",
    "OUTPUTS", "OUTPUT_NAMES", "output_spec", "resolve_output", "resolve_outputs",
    "midpoint_parameters", "FORCING_FIELDS", "POOL_BOUNDS", "as_dtype", "budget_residuals",
    "BudgetResiduals", "LOSS_TERMS", "LossTerm", "Observation", "loss_terms", "total_loss",
    "required_outputs", "fisher_information", "stream_term", "StreamTerm",
    "parameter_observation", "ParameterObservation", "simulated_loss_terms",
]


def midpoint_parameters(n_pixels: int) -> Parameters:
    """Parameters at the middle of every range (x = 0 of the bounded transform) for ``n_pixels``.

    Examples
    --------
    >>> float(midpoint_parameters(2).canopy_efficiency[0])
    15.811388...
    """
    dtype = jnp.result_type(float)
    return Parameters(*(jnp.full((n_pixels,), p.midpoint, dtype) for p in PARAMETERS))
