"""Datasets shipped with xdifferland: the seeded synthetic world (no download needed)."""

from __future__ import annotations

from .synthetic import (DEFAULT_NOISE, DEMO_PRESET, GENERATOR_VERSION, TWIN_PLAUSIBILITY,
                        TWIN_PRESET, synthetic_world)
from .synthetic_truth import evaluate_mapping, resolve_drivers

__all__ = [
           "DEFAULT_NOISE",
           "DEMO_PRESET",
           "GENERATOR_VERSION",
           "TWIN_PLAUSIBILITY",
           "TWIN_PRESET",
           "evaluate_mapping",
           "resolve_drivers",
           "synthetic_world",
]
