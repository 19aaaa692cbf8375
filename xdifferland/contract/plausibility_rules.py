"""The ``plausibility=`` option: per-variable modes and ranges, resolved once.

``validate``, ``simulate``, ``fit`` and the model's methods take ``plausibility="error"``
(default), ``"warn"``, ``"ignore"`` or a mapping ``{variable: mode or (low, high)}``;
:func:`plausibility_rules` resolves it (an unknown mode or variable is an error in the call),
:func:`apply_modes` sorts the problems found by :mod:`xdifferland.contract.plausibility` into
errors and warnings, and :func:`overrides_attribute` records what a result was computed with.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping

import numpy as np

from ..errors import Problem
from .declare import COORDINATES, Variable, variable

__all__ = ["MODES", "PlausibilityWarning", "apply_modes", "overrides_attribute",
           "plausibility_rules", "rule_mode", "rule_range"]

#: What ``plausibility=`` may set for all variables or for one.
MODES = ("error", "warn", "ignore")


class PlausibilityWarning(UserWarning):
    """Implausible values accepted because ``plausibility=`` asked for a warning."""


def _canonical(key: str) -> str:
    for c in COORDINATES:
        if key == c.name or key in c.aliases:
            return c.name
    try:
        return variable(key).name
    except KeyError:
        raise ValueError(f"plausibility={{{key!r}: ...}}: {key!r} is not a declared variable, "
                         "'latitude', 'longitude' or '*'") from None


def _rule(key: str, value):
    if isinstance(value, str) and value in MODES:
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            v is None or (isinstance(v, numbers.Real) and not isinstance(v, bool)
                          and np.isfinite(v)) for v in value):
        low, high = (None if v is None else float(v) for v in value)
        if low is None or high is None or low <= high:
            return low, high
    raise ValueError(f"plausibility for {key!r} is {value!r}; use one of {MODES} or a range "
                     "(low, high) in canonical units (None for an open side)")


def plausibility_rules(plausibility: str | Mapping | None = None) -> dict[str, object]:
    """The ``plausibility=`` option resolved: ``{"*": default mode, name: mode or range}``.

    Raises
    ------
    ValueError
        For an unknown mode or variable (a mistake in the call, not in the data).

    Examples
    --------
    >>> plausibility_rules("warn")
    {'*': 'warn'}
    >>> plausibility_rules({"T2M_MIN": "ignore", "co2": (100, 3000)})
    {'*': 'error', 't_min': 'ignore', 'co2': (100.0, 3000.0)}
    """
    if plausibility is None:
        return {"*": "error"}
    if isinstance(plausibility, str):
        return {"*": _rule("*", plausibility)}
    if not isinstance(plausibility, Mapping):
        raise ValueError(f"plausibility={plausibility!r}; use one of {MODES} or a mapping "
                         "{variable: mode or (low, high)}")
    rules = {"*": _rule("*", plausibility.get("*", "error"))}
    if not isinstance(rules["*"], str):
        raise ValueError("plausibility={'*': ...} takes a mode, not a range")
    for key, value in plausibility.items():
        if key != "*":
            rules[_canonical(str(key))] = _rule(str(key), value)
    return rules


def overrides_attribute(rules: Mapping[str, object]) -> str | None:
    """What ``rules`` change from the default, as JSON for the outputs' provenance (or None).

    Examples
    --------
    >>> overrides_attribute(plausibility_rules({"t_min": "warn"}))
    '{"t_min": "warn"}'
    >>> overrides_attribute(plausibility_rules()) is None
    True
    """
    changed = {k: (list(v) if isinstance(v, tuple) else v) for k, v in rules.items()
               if v != "error"}
    return json.dumps(changed) if changed else None


def rule_mode(rules: Mapping[str, object], name: str) -> str:
    """``"error"``, ``"warn"`` or ``"ignore"`` for the problems of ``name`` (a range: error)."""
    rule = rules.get(name, rules.get("*", "error"))
    return rule if isinstance(rule, str) else "error"


def rule_range(rules: Mapping[str, object], v: Variable) -> tuple[float | None, float | None]:
    """The plausible range of ``v``: the user's, else the table's."""
    rule = rules.get(v.name)
    return rule if isinstance(rule, tuple) else v.plausible_range


def apply_modes(problems: list[Problem], rules: Mapping[str, object]
                ) -> tuple[list[Problem], list[Problem]]:
    """Split plausibility problems into (errors, warnings) by the mode of their variable.

    Problems of variables set to ``"ignore"`` are dropped.

    Examples
    --------
    >>> problems = [Problem("vpd", "is odd.", "check it."), Problem("lai", "is odd.", "check.")]
    >>> errors, warned = apply_modes(problems, plausibility_rules({"vpd": "warn"}))
    >>> [p.variable for p in errors], [p.variable for p in warned]
    (['lai'], ['vpd'])
    """
    errors = [p for p in problems if rule_mode(rules, p.variable) == "error"]
    warned = [p for p in problems if rule_mode(rules, p.variable) == "warn"]
    return errors, warned
