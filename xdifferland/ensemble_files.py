"""Ensemble folders: one model file per member plus an ``ensemble.json`` index, checked at load.

The index is what a user hands on with the members, so it is read like a model file: bounded in
size, parsed as JSON only (no pickle), every entry checked for its keys and types, and member file
names restricted to the names :func:`save_members` writes (``member_003.npz``,
``member_003_v1.npz``), so an index can never point outside its folder. Each member then goes
through the validating model reader. Every problem is a :class:`~xdifferland.errors.ModelFileError`
saying what is wrong and what to do.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from .errors import ModelFileError
from .io.atomic import refuse_existing
from .io.text import write_text_atomic

__all__ = ["INDEX_FILE", "read_index", "save_members"]

INDEX_FILE = "ensemble.json"
KIND = "xdifferland-ensemble"
MEMBER_FILE = re.compile(r"member_\d{3,}(?:_v(\d+))?\.npz")
#: An index lists members and a few settings: a megabyte is thousands of members.
MAX_INDEX_BYTES = 1 << 20


def save_members(directory: Path, members, member_ids, seeds, losses, info: dict, *,
                 overwrite: bool) -> Path:
    """Write the members, then the index (atomically, last), then remove replaced members.

    A crash at any point leaves the previous complete ensemble or none: members of a replaced
    ensemble get new names (``_v1``, ``_v2``, ...) and the old files go only after the new index
    is in place.
    """
    index = directory / INDEX_FILE
    refuse_existing(index, overwrite)
    old = _old_members(index)
    version = 1 + max((int(MEMBER_FILE.fullmatch(n)[1] or 0) for n in old), default=-1)
    entries = []
    for model, mid, seed, loss in zip(members, member_ids, seeds, losses):
        name = f"member_{mid:03d}{f'_v{version}' if version else ''}.npz"
        model.save(directory / name, overwrite=overwrite)
        entries.append({"file": name, "member": mid, "seed": seed, "loss": loss})
    text = json.dumps({"kind": KIND, "members": entries, "info": dict(info)}, indent=1)
    write_text_atomic(index, text, overwrite=overwrite)
    for name in old - {e["file"] for e in entries}:
        (directory / name).unlink(missing_ok=True)
    return directory


def read_index(directory: Path) -> tuple[list[dict], dict]:
    """The checked member entries and ``info`` of an ensemble folder's index.

    Raises
    ------
    ModelFileError
        Listing every problem of the index (missing, too large, not JSON, wrong kind, entries
        without ``file``/``member``/``seed``/``loss`` or with wrong types, a file name that is
        not a member name, duplicates, a member file that is missing).
    """
    index = Path(directory) / INDEX_FILE
    fix = "re-save the ensemble with Ensemble.save(), or restore the folder from a backup"
    if not index.is_file():
        raise ModelFileError(f"{directory} has no {INDEX_FILE}: is it a folder written by "
                             "Ensemble.save()?")
    if index.stat().st_size > MAX_INDEX_BYTES:
        raise ModelFileError(f"{index} is {index.stat().st_size:,} bytes, more than an ensemble "
                             f"index can be ({MAX_INDEX_BYTES:,}); {fix}")
    try:
        meta = json.loads(index.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{index} is not valid JSON ({error}); {fix}") from None
    if not isinstance(meta, dict) or meta.get("kind") != KIND:
        raise ModelFileError(f"{index} is not an xdifferland ensemble index (kind "
                             f"{meta.get('kind') if isinstance(meta, dict) else None!r})")
    members, info = meta.get("members"), meta.get("info", {})
    problems = []
    if not isinstance(members, list) or not members:
        problems.append("'members' must be a non-empty list")
        members = []
    if not isinstance(info, dict):
        problems.append("'info' must be a JSON object")
    if isinstance(info, dict) and "observation_error" in info:
        from .interval_error import ObservationError

        try:
            ObservationError.from_dict(info["observation_error"])
        except ValueError as error:
            problems.append(f"info: {error}")
    seen = set()
    for i, entry in enumerate(members):
        problems += [f"member {i}: {p}" for p in _entry_problems(entry, Path(directory), seen)]
    if problems:
        raise ModelFileError(f"{index} is damaged: " + "; ".join(problems) + f". Fix: {fix}")
    return members, info


def _entry_problems(entry, directory: Path, seen: set) -> list[str]:
    if not isinstance(entry, dict):
        return ["not a JSON object"]
    problems = []
    name = entry.get("file")
    if not isinstance(name, str) or not MEMBER_FILE.fullmatch(name):
        # also what keeps a crafted index from reading "../../elsewhere.npz"
        problems.append(f"file {name!r} is not a member file name (member_NNN[_vK].npz)")
    elif name in seen:
        problems.append(f"file {name!r} is listed twice")
    elif not (directory / name).is_file():
        problems.append(f"file {name!r} is missing from the folder")
    else:
        seen.add(name)
    for key in ("member", "seed"):
        if not isinstance(entry.get(key), int) or isinstance(entry.get(key), bool) \
                or entry.get(key) < 0:
            problems.append(f"{key!r} must be a non-negative integer, got {entry.get(key)!r}")
    loss = entry.get("loss")
    if not isinstance(loss, (int, float)) or isinstance(loss, bool) or math.isnan(loss):
        problems.append(f"'loss' must be a number, got {loss!r}")
    return problems


def _old_members(index: Path) -> set[str]:
    """Member files an existing index names; only names ``save`` writes (never delete others)."""
    try:
        names = {str(e["file"]) for e in json.loads(index.read_text())["members"]}
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    return {n for n in names if MEMBER_FILE.fullmatch(n)}
