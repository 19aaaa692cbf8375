"""xdifferland: differentiable hybrid land modelling (DifferLand / DALEC993) for xarray."""

from __future__ import annotations

from ._version import __version__
from .registry import PARAMETERS, parameter_table

__all__ = ["__version__", "PARAMETERS", "parameter_table"]
