"""Atomic, shareable files and folders: every file the package writes goes through here.

A target is written into a temporary sibling (same folder, hence same filesystem, so the final
rename is atomic), flushed to disk and renamed into place; a failure at any point leaves the old
target, or none, never a truncated one. The temporary is named ``.{name}.{8 characters}.tmp``
(``.{name}.{8 characters}.old`` for a replaced folder moved aside), so that leftovers of a killed
writer are recognisable: :func:`remove_orphans` deletes those of one target, and every writer calls
it before it writes that target.

Permissions: temporaries are created with mode ``0o666`` (files) or ``0o777`` (folders) and the
kernel applies the umask (or a folder's default ACL) to them, so ``umask 022`` gives ``0644`` /
``0755``, as ``open()`` and ``mkdir`` would. ``tempfile.mkstemp``/``mkdtemp`` are not used: they
create ``0600``/``0700`` whatever the umask, and the rename keeps that mode, so collaborators in a
shared folder could not read the results. Creating with the full mode also avoids reading the
umask, which Python can only do by setting it (``os.umask``), process-wide and racy with threads.

Orphans: the rule is one writer per target at a time (a second writer of the same target would
replace the first one's result anyway), so a writer treats any temporary of its own target as
left behind by a killed writer. Only names of that exact pattern, for that exact target, are
touched. A folder moved aside (``.old``) while the target is missing is the previous complete
store of a writer killed between its two renames: it is put back rather than deleted.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_open", "atomic_path", "refuse_existing", "remove_orphans"]

#: The characters of a temporary's random part: those of :mod:`tempfile`, so that the orphans of
#: earlier versions (which used ``mkstemp``/``mkdtemp`` with the same prefix and suffix) match too.
_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_TOKEN = 8
_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation on the raw descriptor


def refuse_existing(path: str | os.PathLike, overwrite: bool) -> None:
    """Raise :class:`FileExistsError` if ``path`` exists (or is a link) and not ``overwrite``."""
    path = Path(path)
    if not overwrite and (path.exists() or path.is_symlink()):
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = True,
                directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; on success it replaces ``path``.

    Parameters
    ----------
    path : str or path-like
        The target file (or folder, with ``directory=True``). Its parent must exist.
    overwrite : bool, default True
        Replace an existing target. False: refuse (:class:`FileExistsError`), both before the
        temporary is made and again just before the rename (another process may have created
        the target meanwhile).
    directory : bool, default False
        The target is a folder (a Zarr store): the temporary is an empty folder; an existing
        target is moved aside, replaced, and deleted only once the new one is in place.

    Yields
    ------
    Path
        The temporary: an empty file (mode ``0o666`` less the umask) or an empty folder
        (``0o777`` less the umask). Write it by name, e.g. with a library that opens it itself.

    Notes
    -----
    On leaving the block without an exception the temporary is flushed to disk (``fsync`` of
    every file and folder in it), renamed onto ``path``, and the containing folder is flushed so
    the rename itself survives a crash. An exception deletes the temporary and leaves ``path``
    as it was. Directory ``fsync`` is skipped where the platform or filesystem refuses it.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "table.csv"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("a,b\\n")
    >>> target.read_text()
    'a,b\\n'
    """
    path = Path(path)
    refuse_existing(path, overwrite)
    remove_orphans(path)
    tmp = _create(path, directory)
    try:
        yield tmp
        _sync_tree(tmp)
        refuse_existing(path, overwrite)
        aside = _replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    _sync_folder(path.parent)
    if aside is not None:
        _discard(aside)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *, overwrite: bool = True,
                encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; on success it replaces ``path``.

    ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8 unless ``encoding``); see :func:`atomic_path`
    for ``overwrite``, permissions and what a failure leaves.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_open(target, "w") as handle:
    ...     _ = handle.write("done\\n")
    >>> target.read_text()
    'done\\n'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode={mode!r}: use 'w' or 'wb'")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, mode, encoding=encoding) as fh:
        yield fh


def remove_orphans(path: str | os.PathLike) -> list[Path]:
    """Delete what killed writers of ``path`` left behind; returns what was deleted.

    Temporaries ``.{name}.XXXXXXXX.tmp`` (files or folders) and folders moved aside
    ``.{name}.XXXXXXXX.old`` are deleted, where ``name`` is the target's name and ``XXXXXXXX``
    eight of ``[a-z0-9_]``. If the target is missing, the newest folder moved aside is the
    previous complete target (its writer was killed between moving it aside and renaming the new
    one in) and is renamed back instead. Call it only where no other process is writing
    ``path`` at the same time: their temporary would count as an orphan.
    """
    path = Path(path)
    try:
        siblings = list(path.parent.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[{_CHARACTERS}]{{{_TOKEN}}}\.(tmp|old)")
    found = [p for p in siblings if pattern.fullmatch(p.name)]
    asides = sorted((p for p in found if p.name.endswith(".old")), key=_mtime)
    if asides and not (path.exists() or path.is_symlink()):
        os.replace(asides.pop(), path)  # the newest: the store its writer was replacing
    removed = [p for p in found if p.name.endswith(".tmp")] + asides
    for p in removed:
        _remove(p)
    return removed


# --- helpers ---------------------------------------------------------------------------------


def _sibling(path: Path, suffix: str) -> Path:
    token = "".join(secrets.choice(_CHARACTERS) for _ in range(_TOKEN))
    return path.with_name(f".{path.name}.{token}.{suffix}")


def _create(path: Path, directory: bool) -> Path:
    """A new, empty temporary sibling; the full mode, so that the umask alone restricts it."""
    for _ in range(100):
        tmp = _sibling(path, "tmp")
        try:
            if directory:
                os.mkdir(tmp, 0o777)
            else:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o666))
            return tmp
        except FileExistsError:
            continue  # astronomically unlikely with 37**8 names; try another
    raise FileExistsError(f"no free temporary name next to {path}")


def _replace(tmp: Path, path: Path) -> Path | None:
    """Rename ``tmp`` onto ``path``. A new folder moves an existing target aside first
    (``os.replace`` cannot replace a non-empty folder), put back if the second rename fails.
    Returns what was moved aside, for the caller to delete once the rename is on disk."""
    if not (tmp.is_dir() and (path.exists() or path.is_symlink())):
        os.replace(tmp, path)
        return None
    aside = _sibling(path, "old")
    os.replace(path, aside)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(aside, path)
        raise
    return aside


def _discard(aside: Path) -> None:
    """Delete a folder moved aside; first renamed to a ``.tmp`` name, so that a writer killed
    while deleting leaves an orphan that :func:`remove_orphans` deletes, not a partial ``.old``
    that it would take for a complete previous store."""
    doomed = aside.with_name(aside.name[:-len("old")] + "tmp")
    try:
        os.replace(aside, doomed)
    except OSError:
        doomed = aside
    _remove(doomed)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("-inf")


def _sync_tree(tmp: Path) -> None:
    """fsync a file, or every file and folder of a folder (its folders last, bottom up)."""
    if not tmp.is_dir():
        _sync_file(tmp)
        return
    for root, _, files in os.walk(tmp, topdown=False):
        for name in files:
            _sync_file(Path(root, name))
        _sync_folder(Path(root))


def _sync_file(path: Path) -> None:
    # Read-write: Windows refuses fsync on a descriptor opened read-only. A umask that takes
    # the owner's write permission away leaves read-only, which POSIX systems accept.
    try:
        fd = os.open(path, os.O_RDWR | _BINARY)
    except PermissionError:
        fd = os.open(path, os.O_RDONLY | _BINARY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(path: Path) -> None:
    """fsync a folder, so that the names created or renamed in it are on disk too; skipped
    where folders cannot be opened (Windows) or the filesystem refuses (some network ones)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
