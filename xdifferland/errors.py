"""Errors raised at the boundaries, before any JAX code runs: input data and model files.

A user's Dataset usually has several things wrong at once (a missing variable, units in hPa, a NaN
somewhere). Reporting them one per run is frustrating, so every error here carries the *whole*
list of :class:`Problem` s found, each naming the variable, what is wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DataError", "ModelFileError", "Problem", "UnitsError", "ValidationError"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one variable of the input data.

    Parameters
    ----------
    variable : str
        Name of the variable concerned (canonical name when known, else the Dataset's name), or a
        short label such as ``"time"`` for problems that concern a coordinate.
    message : str
        What is wrong, as a full sentence.
    fix : str
        What the user should do about it, as an imperative sentence.

    Examples
    --------
    >>> p = Problem("vpd", "units 'm' cannot be converted to kPa.", "set the real units.")
    >>> str(p)
    "- vpd: units 'm' cannot be converted to kPa. Fix: set the real units."
    """

    variable: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"- {self.variable}: {self.message} Fix: {self.fix}"


class DataError(ValueError):
    """Input data problems, all of them at once.

    Parameters
    ----------
    problems : iterable of Problem
        Everything found wrong; must not be empty.
    header : str, optional
        First line of the message (defaults to a count of the problems).

    Examples
    --------
    >>> err = DataError([Problem("t_min", "is missing.", "add it."),
    ...                  Problem("co2", "has no units.", "set ds['co2'].attrs['units'].")])
    >>> print(err)
    2 problems with the input data:
    - t_min: is missing. Fix: add it.
    - co2: has no units. Fix: set ds['co2'].attrs['units'].
    >>> [p.variable for p in err.problems]
    ['t_min', 'co2']
    """

    def __init__(self, problems: Iterable[Problem], header: str | None = None):
        self.problems: list[Problem] = list(problems)
        if not self.problems:
            raise ValueError(f"{type(self).__name__} needs at least one Problem")
        n = len(self.problems)
        self.header = header or f"{n} problem{'s' if n > 1 else ''} with the input data:"
        super().__init__(self.header + "\n" + "\n".join(str(p) for p in self.problems))

    @property
    def variables(self) -> list[str]:
        """Names of the variables with problems, in order, without repeats."""
        return list(dict.fromkeys(p.variable for p in self.problems))

    def __str__(self) -> str:
        return self.args[0]

    def __reduce__(self):
        # The default reduce would call cls(message); rebuild from the problems instead so the
        # error survives pickling (multiprocessing, dask distributed).
        return (type(self), (self.problems, self.header))


class FileFormatError(DataError):
    """A file or store that cannot be read as the data it should hold (not NetCDF, truncated,
    an empty store, required fields missing): one problem naming the file, with the fix.

    Examples
    --------
    >>> print(FileFormatError("notes.txt is not a NetCDF file", path="notes.txt"))
    The data file cannot be read:
    - notes.txt: notes.txt is not a NetCDF file Fix: check the path; give a NetCDF file, a Zarr store or CARDAMOM site files (or say which with --format / [data] format).
    """

    _FIX = ("check the path; give a NetCDF file, a Zarr store or CARDAMOM site files (or say "
            "which with --format / [data] format).")

    def __init__(self, message, header: str | None = None, *, path=None, fix: str | None = None):
        if isinstance(message, str):  # the readers' form; a list of Problems when unpickled
            message = [Problem(str(path) if path is not None else "file", message,
                               fix or self._FIX)]
        super().__init__(message, header or "The data file cannot be read:")


class UnitsError(DataError):
    """Units missing or not convertible to the canonical units of the variable table."""


class ValidationError(DataError):
    """The Dataset fails validation (see :func:`xdifferland.contract.check.validate`)."""


class ModelFileError(ValueError):
    """A model or checkpoint file that cannot be used: corrupted, edited, incompatible or not ours.

    Raised while the file is read, before anything uses it (see
    :mod:`xdifferland.training.model_file`); the message names the file, everything found wrong
    with it and what to do.
    """
