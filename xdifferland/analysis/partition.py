"""Hierarchical partitioning of a score among predictor groups (Chevan & Sutherland, 1991).

A factorial experiment scores every combination of predictor groups, e.g. the explained variance
of LAI by models that see only {CLIM}, {CLIM, PFT}, ..., plus a CONTROL model that sees no real
predictor (white noise). The *independent contribution* of a group is its gain in score when it
joins a set of other groups, averaged over every order in which the groups can be added. This
equals the Shapley value of the cooperative game ``v(S) = score(S) - score(CONTROL)``, so the
contributions add up exactly to ``score(all groups) - score(CONTROL)``; the CONTROL score itself is
the share explained by model structure and forcing alone.

Layers: :func:`shapley_weights` (numbers) → :func:`hierarchical_partition` (numbers or
DataArrays, elementwise, e.g. per-pixel maps) → :func:`partition_shares` (fractions).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import xarray as xr

__all__ = [
    "CONTROL",
    "combination",
    "combination_label",
    "hierarchical_partition",
    "partition_shares",
    "shapley_weights",
]

#: Name of the empty combination (no predictor group): model structure and forcing.
CONTROL = "CONTROL"


def combination(key) -> frozenset:
    """Normalize a combination key: a set of group names, ``"CLIM+PFT"`` or ``"CONTROL"``.

    Examples
    --------
    >>> sorted(combination("PFT+CLIM"))
    ['CLIM', 'PFT']
    >>> combination("CONTROL") == frozenset() == combination(())
    True
    """
    if isinstance(key, str):
        return frozenset() if key == CONTROL else frozenset(k for k in key.split("+") if k)
    return frozenset(key)


def combination_label(key) -> str:
    """Readable label of a combination: sorted names joined by ``+``, or ``"CONTROL"``.

    Examples
    --------
    >>> combination_label({"PFT", "CLIM"})
    'CLIM+PFT'
    >>> combination_label(frozenset())
    'CONTROL'
    """
    names = sorted(combination(key))
    return "+".join(names) if names else CONTROL


def shapley_weights(n_groups: int) -> dict[int, float]:
    """Weight of a gain from a coalition of size ``s`` among ``n_groups``: ``s!(n-s-1)!/n!``.

    It is the share of the ``n!`` orderings in which exactly those ``s`` groups precede the
    joining group.

    Examples
    --------
    >>> shapley_weights(2)
    {0: 0.5, 1: 0.5}
    >>> round(sum(w * math.comb(2, s) for s, w in shapley_weights(3).items()), 12)
    1.0
    """
    n = int(n_groups)
    return {s: math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)
            for s in range(n)}


def _as_array(value) -> xr.DataArray:
    return value if isinstance(value, xr.DataArray) else xr.DataArray(np.asarray(value, float))


def hierarchical_partition(scores: Mapping, groups: Sequence[Hashable] | None = None, *,
                           dim: str = "component") -> xr.DataArray:
    """Independent contribution of each predictor group to a score, plus the CONTROL share.

    Parameters
    ----------
    scores : mapping
        Score of every combination of groups: keys are frozensets of group names (also accepted:
        any iterable of names, ``"CLIM+PFT"`` strings, and ``"CONTROL"`` for the empty set);
        values are numbers or DataArrays (e.g. per-pixel maps; they are broadcast together and
        partitioned element by element). The empty combination is the CONTROL experiment.
    groups : sequence of str, optional
        The groups to partition among (default: every name appearing in ``scores``). All
        ``2**len(groups)`` combinations must be present.
    dim : str, default "component"
        Name of the new dimension holding the groups and ``"CONTROL"``.

    Returns
    -------
    xarray.DataArray
        Contributions along ``dim`` (the groups in the given order, then ``"CONTROL"``); they sum
        to the score of the full combination. ``attrs["total"]`` names the full combination.

    Raises
    ------
    KeyError
        Naming every missing combination.

    Examples
    --------
    >>> scores = {frozenset(): 0.2, frozenset({"A"}): 0.5, frozenset({"B"}): 0.4,
    ...           frozenset({"A", "B"}): 0.6}
    >>> part = hierarchical_partition(scores, ["A", "B"])
    >>> [round(float(v), 3) for v in part]  # A: (0.3 + 0.2)/2, B: (0.2 + 0.1)/2
    [0.25, 0.15, 0.2]
    >>> round(float(part.sum()), 12)
    0.6
    """
    table = {combination(k): v for k, v in scores.items()}
    if groups is None:
        groups = sorted(set().union(*table)) if table else []
    groups = list(groups)
    if len(set(groups)) != len(groups) or CONTROL in groups:
        raise ValueError(f"groups must be distinct names other than {CONTROL!r}: {groups}")
    if not groups:
        raise ValueError("give at least one group to partition among")
    needed = [frozenset(c) for r in range(len(groups) + 1)
              for c in itertools.combinations(groups, r)]
    missing = [combination_label(c) for c in needed if c not in table]
    if missing:
        raise KeyError(f"scores lack {len(missing)} of the {len(needed)} combinations of "
                       f"{groups}: {', '.join(missing)} (CONTROL is the empty set); run those "
                       "setups or partition among fewer groups")
    values = {c: _as_array(table[c]) for c in needed}
    control = values[frozenset()]
    weights = shapley_weights(len(groups))
    parts = []
    for group in groups:
        others = [g for g in groups if g != group]
        total = 0.0
        for size in range(len(others) + 1):
            for coalition in itertools.combinations(others, size):
                before = frozenset(coalition)
                gain = values[before | {group}] - values[before]
                total = total + weights[size] * gain
        parts.append(_as_array(total))
    parts.append(control)
    parts = xr.broadcast(*parts)
    out = xr.concat(parts, dim=dim, coords="minimal", compat="override", join="outer")
    out = out.assign_coords({dim: [str(g) for g in groups] + [CONTROL]})
    out.attrs.update(total=combination_label(groups),
                     method="hierarchical partitioning "
                            "(Shapley value of score(S) - score(CONTROL))")
    return out


def partition_shares(parts: xr.DataArray, *, beyond_control: bool = True,
                     dim: str = "component") -> xr.DataArray:
    """Contributions as fractions of the explained score.

    With ``beyond_control`` (default) the groups' contributions are divided by the score gained
    over CONTROL (``full - CONTROL``) and CONTROL is dropped; otherwise every part, CONTROL
    included, is divided by the full score.

    Examples
    --------
    >>> scores = {"CONTROL": 0.2, "A": 0.5, "B": 0.4, "A+B": 0.6}
    >>> shares = partition_shares(hierarchical_partition(scores, ["A", "B"]))
    >>> [round(float(v), 3) for v in shares]
    [0.625, 0.375]
    """
    if beyond_control:
        groups = parts.drop_sel({dim: CONTROL})
        return groups / groups.sum(dim)
    return parts / parts.sum(dim)

