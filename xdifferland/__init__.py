"""xdifferland: differentiable hybrid land modelling (DifferLand / DALEC993) for xarray.

What ``import xdifferland`` does
--------------------------------
* Registers the ``.differland`` accessor on :class:`xarray.Dataset`.
* Imports xarray and nothing heavy: the public functions and classes below (``simulate``,
  ``fit``, ``DifferLandModel``, ...) are imported on first use (module ``__getattr__``, PEP 562),
  and with them JAX, pint, cf-xarray, dask; xskillscore, shap/numba, matplotlib and distributed
  only by the functions that need them. ``from xdifferland import simulate`` works as before.
* Changes one process-wide setting, the environment variable ``XLA_FLAGS`` (below), and no
  other: no other environment variable, no ``jax.config`` option, no warnings filter, no
  NumPy error state, no logging configuration.

The one process-wide setting: ``XLA_FLAGS``
-------------------------------------------
Unless ``XDIFFERLAND_COMPILE_LOOPS_WHOLE=0`` is set before the import, the import appends the XLA
CPU backend option ``xla_cpu_small_while_loop_byte_threshold=1000000000`` to ``XLA_FLAGS`` in
``os.environ`` (merged into an existing ``--xla_backend_extra_options=...`` list; other flags are
kept). It makes XLA's CPU backend compile each time loop into one function instead of
dispatching its ~100 kernels one by one every step: the same operations, so the same numbers,
and a twin-world training epoch takes 0.28 s instead of 0.45 s on a 2-core machine (see
:func:`xdifferland.parallel.compile_loops_whole`). XLA reads the variable once, when JAX starts
its backends, so the option then applies to every JAX computation of the process (not only to
xdifferland's) and is inherited by subprocesses; GPU and TPU backends ignore it. Nothing changes
when the option is already in ``XLA_FLAGS`` or when JAX had started before the import.

Opt out: ``XDIFFERLAND_COMPILE_LOOPS_WHOLE=0`` in the environment before ``import xdifferland``.
"""

from __future__ import annotations

import importlib as _importlib
import os as _os
from typing import TYPE_CHECKING

from . import parallel as _parallel  # standard library only

if _os.environ.get("XDIFFERLAND_COMPILE_LOOPS_WHOLE", "1") != "0":
    _parallel.compile_loops_whole()  # the documented XLA_FLAGS setting (see above)

from . import accessor as _accessor  # noqa: E402,F401  (registers ds.differland; xarray only)
from ._version import __version__  # noqa: E402
from .errors import (  # noqa: E402
    DataError,
    FileFormatError,
    ModelFileError,
    Problem,
    UnitsError,
    ValidationError,
)

#: Public name → submodule it is imported from on first use.
_LAZY = {
    "Ensemble": "ensemble", "fit_ensemble": "ensemble", "load_ensemble": "ensemble",
    "evaluate": "evaluation",
    "factorial": "analysis", "hierarchical_partition": "analysis",
    "open_cardamom_site": "io", "open_cardamom_sites": "io", "to_cmip": "io",
    "to_netcdf": "io", "to_zarr": "io",
    "open_differland_global": "io", "to_differland_global": "io",
    "DifferLandModel": "model", "ExtrapolationWarning": "model", "load_model": "model",
    "NetworkConfig": "network",
    "default_parameters": "parameters",
    "DERIVED": "registry", "PARAMETERS": "registry", "parameter_table": "registry",
    "budget": "simulation", "simulate": "simulation",
    "sensitivity": "sensitivity_maps",
    "laplace_posterior": "laplace", "LaplacePosterior": "laplace",
    "FitConfig": "training", "TrainingError": "training", "fit": "training",
    "to_canonical_units": "contract.convert",
    "validate": "contract.check",
    "PlausibilityWarning": "contract.plausibility",
}

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .analysis import factorial, hierarchical_partition
    from .ensemble import Ensemble, fit_ensemble, load_ensemble
    from .evaluation import evaluate
    from .io import open_cardamom_site, open_cardamom_sites, to_cmip, to_netcdf, to_zarr
    from .io import open_differland_global, to_differland_global
    from .model import DifferLandModel, ExtrapolationWarning, load_model
    from .network import NetworkConfig
    from .parameters import default_parameters
    from .registry import DERIVED, PARAMETERS, parameter_table
    from .sensitivity_maps import sensitivity
    from .laplace import LaplacePosterior, laplace_posterior
    from .simulation import budget, simulate
    from .training import FitConfig, TrainingError, fit
    from .contract.convert import to_canonical_units
    from .contract.plausibility import PlausibilityWarning
    from .contract.check import validate


def __getattr__(name: str):
    """Import a public name (or a submodule, ``xdifferland.io``) on first use."""
    if name in _LAZY:
        value = getattr(_importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later lookups do not come back here
        return value
    if not name.startswith("_"):
        try:
            return _importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise  # the submodule exists but something it imports does not
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "__version__",
    "PARAMETERS",
    "DERIVED",
    "parameter_table",
    "default_parameters",
    "simulate",
    "budget",
    "sensitivity",
    "laplace_posterior",
    "LaplacePosterior",
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
    "PlausibilityWarning",
    "to_canonical_units",
    "open_cardamom_site",
    "open_cardamom_sites",
    "open_differland_global",
    "to_differland_global",
    "to_netcdf",
    "to_zarr",
    "to_cmip",
    "DataError",
    "FileFormatError",
    "UnitsError",
    "ValidationError",
    "ModelFileError",
    "Problem",
]
