"""Checks of configuration values that say which file, table and key is wrong."""

from __future__ import annotations

from collections.abc import Mapping
import math

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A configuration file with an unknown key or a bad value (the message names it)."""

    __module__ = "xdifferland.runconfig"  # where users import it from



class _Where:
    """Builds messages that say in which file and table a problem is."""

    def __init__(self, source: str, table: str | None = None):
        self.source, self.table = source, table

    def sub(self, table: str) -> _Where:
        return _Where(self.source, table if self.table is None else f"{self.table}.{table}")

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {message}")

    def key(self, key: str) -> str:
        return f"[{self.table}] {key}" if self.table else key


def _check_keys(table: Mapping, allowed, where: _Where, label: str | None = None) -> None:
    if not isinstance(table, Mapping):
        raise where.error(f"{label or f'[{where.table}]'} must be a table")
    for key in table:
        if key not in allowed:
            raise where.error(f"unknown key {key!r} in {label or f'[{where.table}]'}; "
                              f"allowed: {', '.join(allowed)}")


def _expect(value, kind: str, where: _Where, key: str, allowed: str | None = None):
    """Check a scalar's type; ``kind`` is int, float, bool, str or path."""
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool)
        and math.isfinite(value),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
    }[kind]
    if not ok:
        names = {"int": "an integer", "float": "a number", "bool": "true or false",
                 "str": "a string"}
        raise where.error(f"{where.key(key)} = {value!r}: expected {allowed or names[kind]}")
    return float(value) if kind == "float" else value


def _choice(value, choices, where: _Where, key: str) -> str:
    if value not in choices:
        raise where.error(f"{where.key(key)} = {value!r}: allowed values are "
                          f"{', '.join(map(repr, choices))}")
    return value


def _str_list(value, where: _Where, key: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise where.error(f"{where.key(key)} = {value!r}: expected a string or a list of strings")
    return list(value)
