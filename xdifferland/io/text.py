"""Atomic text files: written to a temporary sibling and renamed into place."""

from __future__ import annotations

import os
from pathlib import Path

from .atomic import atomic_open

__all__ = ["write_text_atomic"]


def write_text_atomic(path: str | os.PathLike, text: str, *, overwrite: bool = True) -> Path:
    """Replace ``path`` with ``text`` (UTF-8) in one rename; a failure leaves the old file.

    The file gets the permissions the umask gives (``0644`` with ``umask 022``); see
    :mod:`xdifferland.io.atomic`. With ``overwrite=False`` an existing ``path`` is refused
    (:class:`FileExistsError`); by default callers decide beforehand.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "notes.txt"
    >>> write_text_atomic(target, "first\\n").read_text()
    'first\\n'
    """
    path = Path(path)
    with atomic_open(path, "w", overwrite=overwrite) as handle:
        handle.write(text)
    return path
