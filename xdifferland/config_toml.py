"""TOML text of a run configuration (the writer; reading is :mod:`tomllib`).

Scalars, lists and mappings of scalars are written inline; a mapping wrapped in :class:`Table`
gets a ``[table]`` of its own. ``None`` values are left out (TOML has no null).
"""

from __future__ import annotations

from collections.abc import Mapping
import math

__all__ = ["Table", "config_to_toml"]


class Table(dict):
    """A mapping written as a ``[table]`` of its own rather than an inline table."""


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return {True: "inf", False: "-inf"}[value > 0] if math.isinf(value) else "nan"
        return repr(value)
    if isinstance(value, str):
        escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                   .replace("\t", "\\t"))
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}"
                                for k, v in value.items() if v is not None) + " }"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} to TOML")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)


def config_to_toml(tables: Mapping[str, Mapping], header: str = "") -> str:
    """TOML text of nested tables (scalars, lists and inline tables; ``None`` values omitted).

    Examples
    --------
    >>> print(config_to_toml({"training": {"epochs": 2, "clip_norm": None},
    ...                       "data": {"roles": {"t_min": "tmn"}}}))
    [training]
    epochs = 2
    <BLANKLINE>
    [data]
    roles = { t_min = "tmn" }
    <BLANKLINE>
    """
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]

    def table(name: str, body: Mapping) -> None:
        scalars = {k: v for k, v in body.items() if not _is_subtable(v)}
        if lines:
            lines.append("")
        lines.append(f"[{name}]")
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars.items()
                     if v is not None)
        for k, v in body.items():
            if _is_subtable(v):
                table(f"{name}.{_toml_key(k)}", v)

    for name, body in tables.items():
        table(_toml_key(name), body)
    return "\n".join(lines) + "\n"


def _is_subtable(value) -> bool:
    # Mappings of scalars (roles, synthetic arguments) are written as inline tables; nested
    # settings marked as Table (the network) get a [table] of their own.
    return isinstance(value, Table)
