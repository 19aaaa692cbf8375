"""What a model or checkpoint file must hold, checked completely when it is read.

Before anything uses a file, :func:`read_model` and :func:`read_checkpoint` check the format tag
and version, that every expected array is present with the shape the stored configuration
implies (from :func:`jax.eval_shape` of the network's initialization: shapes only, nothing is
computed), that the predictor list and the standardization agree with the network, that the
array sizes declared by the file are bounded before any data is decompressed
(:class:`~xdifferland.training.archive.Archive`) and that every value is finite. Everything found
wrong is reported in one :class:`~xdifferland.errors.ModelFileError` naming the file, each
problem and what to do: a file that loads is one the model can use.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

import jax
import numpy as np

from ..engine.water_stress import init_water_stress
from ..errors import ModelFileError
from ..network import init_network
from .archive import Archive, Member
from .batches import Standardization
from .checkpoint import _META_KEY, FORMAT, FORMAT_VERSION
from .config import FitConfig

__all__ = ["expected_weights", "manifest", "read_checkpoint", "read_file", "read_model"]

#: name → (shape, kind): "f" floats, "i" integers, "b" booleans.
Expected = dict[str, tuple[tuple[int, ...], str]]
#: ``expect(meta, members)`` → problems; may raise ModelFileError when nothing more can be said.
Expectation = Callable[[dict, Mapping[str, Member]], list[str]]

_FIX_MODEL = ("The file was edited, corrupted or written for another network: re-save it from "
              "the fitted model (DifferLandModel.save) or fit the model again.")
_FIX_CHECKPOINT = ("The checkpoint was edited, corrupted or written by another run: start the "
                   "run again without resume (it writes a new checkpoint).")
_FIX_NONFINITE = ("Non-finite weights give NaN parameters everywhere: the training diverged or "
                  "the file was damaged; fit the model again (or resume from an earlier "
                  "checkpoint).")
_KIND_NAMES = {"f": "floating-point", "i": "integer", "b": "boolean"}


def _kind(dtype) -> str:
    kind = np.dtype(dtype).kind
    return "i" if kind == "u" else kind


def _specs(tree: Any, prefix: str) -> Expected:
    """Flattened like :func:`~xdifferland.training.checkpoint.flatten`, shapes and kinds only."""
    out: Expected = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) or hasattr(value, "items"):
            out.update(_specs(value, name + "/"))
        else:
            out[name] = (tuple(int(n) for n in np.shape(value)), _kind(value.dtype))
    return out


def manifest(arrays: Mapping[str, np.ndarray]) -> dict:
    """``{name: {"dtype", "shape"}}`` of the arrays a file is about to hold.

    Stored in the file's metadata (key ``"arrays"``), so that a reader knows what every member
    must declare before it reads any data.

    Examples
    --------
    >>> manifest({"weights/b": np.zeros(3, np.float32)})
    {'weights/b': {'dtype': '<f4', 'shape': [3]}}
    """
    return {name: {"dtype": np.asarray(a).dtype.str, "shape": list(np.shape(a))}
            for name, a in arrays.items()}


def expected_weights(config: FitConfig, n_predictors: int) -> Expected:
    """Every weight array a model of ``config`` on ``n_predictors`` predictors holds.

    Examples
    --------
    >>> spec = expected_weights(FitConfig(), 4)
    >>> spec["weights/embedding_0/kernel"], spec["weights/process_head/bias"][0]
    (((4, 32), 'f'), (31,))
    """
    def init():
        weights = dict(init_network(config.network, n_predictors, 0))
        if config.water_stress != "default":
            weights["water_stress"] = init_water_stress(config.water_stress, 0)
        return weights

    return _specs(jax.eval_shape(init), "weights/")


def _raise(path, problems: list[str], fix: str) -> None:
    if problems:
        n = len(problems)
        raise ModelFileError(f"{path} cannot be used ({n} problem{'s' * (n > 1)}):\n"
                             + "\n".join(f"- {p}" for p in problems) + "\n" + fix)


def _check_format(meta: dict, path) -> None:
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not an xdifferland model file (format "
                             f"{meta.get('format')!r}); load files written by "
                             "DifferLandModel.save() or by fit's checkpoints")
    version = meta.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer xdifferland (format {version}, this version reads "
            f"up to {FORMAT_VERSION}); upgrade xdifferland to load it")
    if not (isinstance(version, int) and not isinstance(version, bool) and version >= 1):
        raise ModelFileError(f"{path} has the invalid format version {version!r} (this version "
                             f"reads 1 to {FORMAT_VERSION}); it was edited or corrupted: "
                             "re-save it from the fitted model")


def _manifest_problems(meta: dict, members: Mapping[str, Member]) -> list[str]:
    declared = meta.get("arrays")
    if declared is None:  # written before the manifest: the archive's size bound still applies
        return []
    if not isinstance(declared, dict):
        return ["metadata: its table of arrays is not a mapping"]
    problems = []
    for name in [*declared, *(n for n in members if n not in declared)]:
        if name not in members:
            problems.append(f"{name}: listed in the metadata but missing from the file")
            continue
        if name not in declared:
            problems.append(f"{name}: in the file but not listed in its metadata")
            continue
        entry, found = declared[name], members[name]
        try:
            shape, dtype = tuple(entry["shape"]), np.dtype(entry["dtype"])
        except (KeyError, TypeError, ValueError):
            problems.append(f"{name}: its metadata entry {entry!r} is malformed")
            continue
        if shape != found.shape or dtype != found.dtype:
            problems.append(f"{name}: the metadata declares shape {shape} of {dtype}, the file "
                            f"holds {found.shape} of {found.dtype}")
    return problems


def _shape_problems(expected: Expected, members: Mapping[str, Member], what: str) -> list[str]:
    problems = []
    for name in [*expected, *(n for n in members if n not in expected)]:
        if name not in members:
            problems.append(f"{name}: missing (expected shape {expected[name][0]} for {what})")
        elif name not in expected:
            problems.append(f"{name}: not part of {what}")
        else:
            (shape, kind), found = expected[name], members[name]
            if found.shape != shape:
                problems.append(f"{name}: expected shape {shape} for {what}, found {found.shape}")
            if _kind(found.dtype) != kind:
                problems.append(f"{name}: expected {_KIND_NAMES[kind]} values, found "
                                f"{found.dtype}")
    return problems


def _finite_problems(arrays: Mapping[str, np.ndarray]) -> list[str]:
    problems = []
    for name, values in arrays.items():
        if values.dtype.kind == "f":
            bad = values.size - int(np.count_nonzero(np.isfinite(values)))
            if bad:
                problems.append(f"{name}: {bad} of {values.size} values are NaN or infinite")
    return problems


def read_file(path: str | os.PathLike, expect: Expectation | None = None, *,
              fix: str = _FIX_MODEL) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays and metadata of a file written by
    :func:`~xdifferland.training.checkpoint.write_arrays`, validated before any data is read.

    Parameters
    ----------
    path : path-like
        The file.
    expect : callable, optional
        ``expect(meta, members)`` → list of problems with what the file declares (names,
        shapes, dtypes of ``members``; its metadata), called before any array data is read.
    fix : str
        What to do, ending the message of a :class:`~xdifferland.errors.ModelFileError`.

    Returns
    -------
    arrays : dict of str to numpy.ndarray
    meta : dict

    Raises
    ------
    ModelFileError
        Anything wrong with the file, all problems found at once where possible.
    """
    with Archive(path, _META_KEY) as archive:
        meta = archive.metadata
        _check_format(meta, archive.path)
        problems = _manifest_problems(meta, archive.members)
        if expect is not None:
            problems += expect(meta, archive.members)
        _raise(archive.path, problems, fix)
        arrays = {name: archive.read(name) for name in archive.members}
    _raise(path, _finite_problems(arrays), _FIX_NONFINITE)
    return arrays, meta


def _config(meta: dict, path) -> FitConfig:
    try:
        config = FitConfig.from_dict(meta["config"])
        network = config.network
        if not all(isinstance(n, int) and not isinstance(n, bool)
                   for n in (network.width, network.depth)):
            raise ValueError(f"network width and depth must be integers: {network}")
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ModelFileError(f"{path} has unreadable training settings ({error}); it was edited "
                             "or corrupted: re-save it from the fitted model") from None
    return config


def _standardization_problems(stored: Any, predictors: list[str] | None) -> list[str]:
    try:
        std = Standardization.from_dict(stored)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        return [f"standardization: unreadable ({error!r})"]
    problems = []
    n = len(predictors) if predictors is not None else len(std.names)
    if predictors is not None and list(std.names) != predictors:
        problems.append(f"standardization: made for the predictors {list(std.names)}, but the "
                        f"model lists {predictors}")
    sizes_ok = True
    for label in ("mean", "std", "lower", "upper"):
        values = getattr(std, label)
        if values is not None and (values.ndim != 1 or values.size != n):
            problems.append(f"standardization: {label} has shape {values.shape} for {n} "
                            "predictors")
            sizes_ok = False
    if not sizes_ok:
        return problems
    if not np.isfinite(std.mean).all():
        problems.append("standardization: the means are not all finite")
    if not (std.std > 0).all():  # infinite: a predictor ignored as constant
        problems.append("standardization: the standard deviations are not all positive")
    if (std.lower is None) != (std.upper is None) or (
            std.lower is not None and not (np.isfinite(std.lower) & np.isfinite(std.upper)
                                           & (std.lower <= std.upper)).all()):
        problems.append("standardization: the training range (lower, upper) is not a finite "
                        "range per predictor")
    if not (np.isfinite(std.hemisphere_mean) and np.isfinite(std.hemisphere_std)
            and std.hemisphere_std > 0):
        problems.append("standardization: the hemisphere mean and standard deviation are not "
                        "finite and positive")
    return problems


def _field_problems(meta: dict) -> list[str]:
    """The remaining metadata :meth:`DifferLandModel.load` builds the model from."""
    problems = []
    splits = meta.get("splits")
    if not (isinstance(splits, dict) and set(splits) == {"train", "dev", "test"}
            and all(isinstance(v, list) and all(isinstance(i, int) for i in v)
                    for v in splits.values())):
        problems.append("splits: expected lists of patch ids for train, dev and test")
    for key in ("history", "metadata"):
        if not isinstance(meta.get(key), dict):
            problems.append(f"{key}: missing or not a mapping")
    if not isinstance(meta.get("patch_variable", 0), (str, type(None))):
        problems.append("patch_variable: missing or not a name")
    metadata = meta.get("metadata") if isinstance(meta.get("metadata"), dict) else {}
    # written since prediction on new data encodes categories and tells new sites from trained
    # ones; older files lack them and load as before
    categories = metadata.get("categories", {})
    if not (isinstance(categories, dict) and all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(c, str) for c in v)
            for k, v in categories.items())):
        problems.append("metadata: 'categories' must map a name (igbp) to a list of class codes")
    locations = metadata.get("locations", [])
    if not (isinstance(locations, list) and all(isinstance(x, str) for x in locations)):
        problems.append("metadata: 'locations' must be a list of site names")
    return problems


def _model_expectation(path) -> Expectation:
    def expect(meta: dict, members: Mapping[str, Member]) -> list[str]:
        kind = meta.get("kind")
        if kind == "checkpoint":
            raise ModelFileError(f"{path} is a training checkpoint, not a model; resume "
                                 "training with fit(..., resume=path) instead")
        if kind != "model":
            raise ModelFileError(f"{path} is not a model file (kind {kind!r}); re-save it from "
                                 "the fitted model (DifferLandModel.save)")
        config = _config(meta, path)
        predictors = meta.get("predictors")
        problems = []
        if not (isinstance(predictors, list) and predictors
                and all(isinstance(p, str) for p in predictors)):
            problems.append("predictors: missing or not a list of predictor names")
            predictors = None
        elif len(set(predictors)) < len(predictors):
            problems.append(f"predictors: names repeat in {predictors}")
        problems += _standardization_problems(meta.get("standardization"), predictors)
        problems += _field_problems(meta)
        network = config.network
        first = members.get("weights/embedding_0/kernel")
        if first is not None and len(first.shape) == 2:  # name what the weights were made for
            n_in, width = first.shape
            if predictors is not None and n_in != len(predictors):
                problems.append(f"predictors: the network's first layer takes {n_in} predictors "
                                f"but the file lists {len(predictors)}")
            if width != network.width:
                problems.append(f"network: the weights were written for a network of width "
                                f"{width}, but the stored configuration says width "
                                f"{network.width}")
        if network.depth > len(members):  # cannot match, and would take long to trace
            problems.append(f"network: the stored configuration says depth {network.depth}, "
                            f"but the file holds only {len(members)} arrays")
        elif predictors is not None:
            what = (f"{len(predictors)} predictors and a network of width {network.width}, "
                    f"depth {network.depth}")
            problems += _shape_problems(expected_weights(config, len(predictors)), members,
                                        what)
        return problems

    return expect


def read_model(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays and metadata of a model file (:meth:`DifferLandModel.save`), validated.

    Raises
    ------
    ModelFileError
        Anything wrong with the file (see the module's description).
    """
    return read_file(path, _model_expectation(path))


def read_checkpoint(path: str | os.PathLike, config: FitConfig, weights: Any,
                    opt_state: Any) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays and metadata of a training checkpoint, validated against the run resuming it.

    Parameters
    ----------
    path : path-like
        The checkpoint.
    config : FitConfig
        The resuming run's settings; only ``epochs`` may differ from the checkpoint's.
    weights, opt_state
        The resuming run's initial weights and optimizer state, whose shapes every stored
        array must have (``weights/``, optional ``average/``, ``optimizer/NNNN``).

    Raises
    ------
    ModelFileError
        Anything wrong with the file.
    ValueError
        The checkpoint was written with other settings.
    """
    expected = _specs(weights, "weights/")
    leaves = jax.tree_util.tree_leaves(opt_state)
    optimizer = {f"optimizer/{i:04d}": (tuple(int(n) for n in np.shape(leaf)), _kind(leaf.dtype))
                 for i, leaf in enumerate(leaves)}

    def expect(meta: dict, members: Mapping[str, Member]) -> list[str]:
        if meta.get("kind") != "checkpoint":
            raise ModelFileError(f"{path} is a saved model, not a training checkpoint; load it "
                                 "with load_model(), or resume from the checkpoint.npz the run "
                                 "wrote")
        saved = _config(meta, path)
        if saved.to_dict() | {"epochs": 0} != config.to_dict() | {"epochs": 0}:
            diff = sorted(k for k, v in saved.to_dict().items()
                          if k != "epochs" and config.to_dict().get(k) != v)
            raise ValueError(f"cannot resume {path}: settings differ from the checkpoint's in "
                             f"{diff}; resume with the same settings (only epochs may change)")
        problems = [f"{key}: missing or not a count" for key in ("epoch", "restarts")
                    if not (isinstance(meta.get(key), int) and meta[key] >= 0)]
        if not isinstance(meta.get("history"), dict):
            problems.append("history: missing or not a mapping")
        first, want = members.get("weights/embedding_0/kernel"), expected.get(
            "weights/embedding_0/kernel")
        if (first is not None and want is not None and len(first.shape) == 2
                and first.shape[0] != want[0][0]):
            problems.append(f"predictors: the checkpoint was trained on {first.shape[0]} "
                            f"predictors, this run has {want[0][0]}; resume with the same "
                            "predictors")
        names = dict(expected)
        if any(n.startswith("average/") for n in members):  # written once averaging began
            names |= {"average/" + n[8:]: spec for n, spec in expected.items()}
        return problems + _shape_problems(names | optimizer, members, "this run")

    return read_file(path, expect, fix=_FIX_CHECKPOINT)
