"""Safe, atomic checkpoint and model files: arrays in ``.npz`` plus JSON metadata, never pickle."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelFileError
from ..io.atomic import atomic_open, refuse_existing

__all__ = ["FORMAT", "FORMAT_VERSION", "flatten", "unflatten", "write_arrays", "read_arrays",
           "ModelFileError"]

FORMAT = "xdifferland-model"
FORMAT_VERSION = 1
_META_KEY = "__metadata__"


def flatten(tree: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """Nested dicts of arrays → ``{"a/b/c": array}``."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) or hasattr(value, "items"):
            out.update(flatten(value, name + "/"))
        else:
            out[name] = np.asarray(value)
    return out


def unflatten(flat: dict[str, np.ndarray]) -> dict:
    """Inverse of :func:`flatten`."""
    tree: dict = {}
    for name, value in flat.items():
        node = tree
        *parents, leaf = name.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def write_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray], metadata: dict, *,
                 overwrite: bool = False) -> Path:
    """Write arrays and JSON metadata to one ``.npz`` file, atomically (temp file + rename).

    The file gets the permissions the umask gives; a temporary left by a writer killed earlier
    is removed first (:mod:`xdifferland.io.atomic`). Missing parent folders are created.
    """
    path = Path(path)
    refuse_existing(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **metadata}
    payload = dict(arrays)
    payload[_META_KEY] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with atomic_open(path, "wb", overwrite=overwrite) as handle:
        np.savez(handle, **payload)
    return path


def read_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by :func:`write_arrays`; no code can run (``allow_pickle=False``).

    Validated before any array data is read: format tag and version, array sizes bounded by
    what the file declares, every value finite (:func:`xdifferland.training.model_file.read_file`;
    :func:`~xdifferland.training.model_file.read_model` and ``read_checkpoint`` also check the
    arrays against the stored configuration).
    """
    from .model_file import read_file  # builds on this module

    return read_file(path)
