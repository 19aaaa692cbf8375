"""xdifferland: differentiable hybrid land modelling (DifferLand / DALEC993) for xarray.

Importing the package registers the ``.differland`` accessor on :class:`xarray.Dataset`.
"""

from __future__ import annotations

import os as _os

from . import parallel as _parallel

# Before anything starts JAX: compile time loops whole on the CPU (1.6x faster training on
# small patches; see xdifferland.parallel.compile_loops_whole).
# XDIFFERLAND_COMPILE_LOOPS_WHOLE=0 opts out.
if _os.environ.get("XDIFFERLAND_COMPILE_LOOPS_WHOLE", "1") != "0":
    _parallel.compile_loops_whole()

from . import accessor as _accessor  # noqa: F401  (registers ds.differland)
from ._version import __version__
from .errors import DataError, ModelFileError, Problem, UnitsError, ValidationError
from .ensemble import Ensemble, fit_ensemble, load_ensemble
from .evaluation import evaluate
from .analysis import factorial, hierarchical_partition
from .io import open_cardamom_site, open_cardamom_sites, to_cmip, to_netcdf, to_zarr
from .model import DifferLandModel, ExtrapolationWarning, load_model
from .network import NetworkConfig
from .parameters import default_parameters
from .registry import DERIVED, PARAMETERS, parameter_table
from .simulation import budget, simulate
from .training import FitConfig, TrainingError, fit
from .units import to_canonical_units
from .validation import validate

__all__ = [
    "__version__",
    "PARAMETERS",
    "DERIVED",
    "parameter_table",
    "default_parameters",
    "simulate",
    "budget",
    "fit",
    "FitConfig",
    "NetworkConfig",
    "DifferLandModel",
    "ExtrapolationWarning",
    "load_model",
    "evaluate",
    "fit_ensemble",
    "Ensemble",
    "load_ensemble",
    "factorial",
    "hierarchical_partition",
    "TrainingError",
    "validate",
    "to_canonical_units",
    "open_cardamom_site",
    "open_cardamom_sites",
    "to_netcdf",
    "to_zarr",
    "to_cmip",
    "DataError",
    "UnitsError",
    "ValidationError",
    "ModelFileError",
    "Problem",
]
