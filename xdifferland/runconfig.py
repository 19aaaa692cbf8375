"""Run configuration files for ``xdifferland fit``: schema, validation and a TOML writer.

A run is described by one TOML file with four tables::

    [data]                        # where the data are and how to read them
    paths = ["forcing/*.nc"]      # files, folders or globs: NetCDF, Zarr, CARDAMOM site files
    roles = { t_min = "tmn" }     # canonical name -> variable in the files (optional)
    predictors = ["mean_annual_temperature", "sand"]   # optional; default: all present
    # align = "calendar"          # CARDAMOM site files only: the reader's options (align, pad,
                                  # coords_file, sites; see xdifferland.cli_data)

    [training]                    # any field of xdifferland.FitConfig
    epochs = 50
    seed = 1
    [training.network]            # any field of xdifferland.NetworkConfig
    width = 64

    [loss_weights]                # term name -> weight; false switches a term off
    vod = false

    [output]
    directory = "runs/first"

Every key is checked before any data are read: an unknown key or a value of the wrong type or
range raises :class:`ConfigError`, whose message names the key and the allowed values. Relative
paths are taken relative to the folder of the configuration file.

:func:`write_config` writes the *resolved* configuration (every default filled in, globs
expanded) as TOML; ``xdifferland fit`` stores it as ``config.toml`` next to the model, and that
file can be run again as it is.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as a package (pip install tomli)
    import tomli as tomllib  # type: ignore[no-redef]

from .config_checks import ConfigError, _check_keys, _choice, _expect, _str_list, _Where
from .config_toml import Table, config_to_toml
from .io.text import write_text_atomic

__all__ = [
    "SECTIONS",
    "ConfigError",
    "RunConfig",
    "config_to_toml",
    "load_config",
    "open_data",
    "parse_config",
    "write_config",
]


#: Keys allowed in each table (``training`` also takes every FitConfig field).
SECTIONS: dict[str, tuple[str, ...]] = {
    "data": ("paths", "format", "synthetic", "roles", "predictors", "patch_variable",
             "align", "pad", "coords_file", "sites"),  # the last four: CARDAMOM reader options
    "training": (),  # filled from FitConfig at run time
    "loss_weights": (),  # loss term names
    "output": ("directory", "parameters", "simulation", "evaluate", "checkpoints"),
}
_FORMATS = ("auto", "netcdf", "zarr", "cardamom", "differland-global")  # cli_data.FORMATS
_SPLITS = ("test", "dev", "train", "all", "none")
_DEFAULT_OUTPUTS = ["lai", "gpp", "et", "nee", "nbe", "sif"]


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A validated run configuration (see the module documentation for the file format).

    Attributes
    ----------
    data : dict
        ``paths`` (list of expanded, absolute paths) or ``synthetic`` (arguments of
        :func:`xdifferland.datasets.synthetic_world`), ``format`` (as detected from the files'
        content when the file says ``"auto"``), ``roles``, ``predictors``, ``patch_variable``;
        for CARDAMOM site files the reader options ``align``, ``pad``, ``coords_file`` (false:
        none) and ``sites`` (when given), defaults filled in.
    fit : FitConfig
        Training settings, loss weights included.
    output : dict
        ``directory`` (absolute path), ``parameters`` (bool), ``simulation`` (output names),
        ``evaluate`` (split name or ``"none"``), ``checkpoints`` (bool).
    source : str
        Where the configuration came from (file name, for messages).
    """

    data: dict
    fit: Any
    output: dict
    source: str = "<config>"

    def to_dict(self) -> dict:
        """The resolved configuration as plain TOML-able tables."""
        training = self.fit.to_dict()
        weights = training.pop("loss_weights")
        network = training.pop("network")
        training["network"] = network
        data = {k: v for k, v in self.data.items() if v not in (None, {}, [])}
        return {"data": data, "training": training,
                "loss_weights": {k: (False if v is None else v) for k, v in weights.items()},
                "output": dict(self.output)}


# --- reading -------------------------------------------------------------------------------------

def load_config(path: str | os.PathLike, *, output: str | os.PathLike | None = None) -> RunConfig:
    """Read and validate a TOML run configuration.

    Parameters
    ----------
    path : path-like
        The TOML file.
    output : path-like, optional
        Output folder overriding ``[output] directory`` (relative to the working directory).

    Raises
    ------
    FileNotFoundError
        If the file (or a data path in it) does not exist.
    ConfigError
        For an unknown key or a bad value, naming the key and the allowed values.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"configuration file not found: {path}")
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    return parse_config(raw, base=path.resolve().parent, source=str(path), output=output)


def parse_config(raw: Mapping, *, base: str | os.PathLike = ".", source: str = "<config>",
                 output: str | os.PathLike | None = None) -> RunConfig:
    """Validate configuration tables (as read from TOML) into a :class:`RunConfig`.

    Examples
    --------
    >>> cfg = parse_config({"data": {"synthetic": {"seed": 1}},
    ...                     "training": {"epochs": 3}, "output": {"directory": "run"}})
    >>> cfg.fit.epochs, cfg.data["synthetic"]
    (3, {'seed': 1})
    >>> parse_config({"data": {"synthetic": {}}, "training": {"epoch": 3}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xdifferland.runconfig.ConfigError: <config>: unknown key 'epoch' in [training]; allowed: ...
    """
    from .training import FitConfig

    base = Path(base)
    where = _Where(source)
    _check_keys(raw, tuple(SECTIONS), where, "the top level")
    data = _parse_data(dict(raw.get("data", {})), base, where.sub("data"))
    fit = _parse_training(dict(raw.get("training", {})), dict(raw.get("loss_weights", {})),
                          where, FitConfig)
    out = _parse_output(dict(raw.get("output", {})), base, where.sub("output"), output)
    return RunConfig(data=data, fit=fit, output=out, source=source)


def _parse_data(table: dict, base: Path, where: _Where) -> dict:
    from .cli_data import READER_OPTIONS, DataArgumentError, expand_paths, resolve_data
    from .datasets import synthetic_world
    from .contract.declare import VARIABLES, variable

    _check_keys(table, SECTIONS["data"], where)
    if ("paths" in table) == ("synthetic" in table):
        raise where.error("[data] needs exactly one of 'paths' (NetCDF/Zarr/CARDAMOM files, "
                          "folders or globs) or 'synthetic' (arguments of synthetic_world)")
    fmt = _choice(table.get("format", "auto"), _FORMATS, where, "format")
    data: dict = {"format": fmt}
    options = {k: table[k] for k in READER_OPTIONS if k in table}
    if "paths" in table:
        try:
            paths = expand_paths(_str_list(table["paths"], where, "paths"), base)
            data.update(resolve_data(paths, fmt, options))
        except DataArgumentError as error:
            raise where.error(str(error)) from None
        except FileNotFoundError as error:
            raise FileNotFoundError(f"{where.source}: {error}") from None
    elif options:
        raise where.error(f"[data] {', '.join(options)}: option(s) of the CARDAMOM site reader; "
                          "they need 'paths' naming site files, not 'synthetic'")
    else:
        synthetic = table["synthetic"]
        allowed = [p for p in inspect.signature(synthetic_world).parameters
                   if p not in ("dask_chunks", "parameter_drivers")]
        _check_keys(synthetic, allowed, where, "[data.synthetic]")
        data["synthetic"] = _plain(synthetic)
    roles = table.get("roles", {})
    _check_keys(roles, [v.name for v in VARIABLES], where, "[data.roles]")
    for name, target in roles.items():
        _expect(target, "str", where.sub("roles"), name, "the name of a variable in the data")
    data["roles"] = dict(roles)
    if "predictors" in table:
        predictors = _str_list(table["predictors"], where, "predictors")
        for name in predictors:
            try:
                known = variable(name).role == "predictor"
            except KeyError:
                known = False
            if not known:
                names = [v.name for v in VARIABLES if v.role == "predictor"]
                raise where.error(f"[data] predictors: {name!r} is not a declared predictor; "
                                  f"allowed: {', '.join(names)}")
        data["predictors"] = predictors
    if "patch_variable" in table:
        data["patch_variable"] = _expect(table["patch_variable"], "str", where, "patch_variable")
    return data


def _plain(table: Mapping) -> dict:
    """TOML arrays of numbers become tuples where synthetic_world expects pairs."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}


def _annotation_kind(annotation: str) -> tuple[str | None, bool]:
    """``("int" | "float" | "str" | "bool" | "pair" | None, optional)`` of a field annotation."""
    text = str(annotation).replace(" ", "")
    optional = text.endswith("|None") or text.startswith("None|") or "Optional[" in text
    text = text.replace("|None", "").replace("None|", "")
    if text in ("int", "float", "str", "bool"):
        return text, optional
    if text.startswith("tuple[float,float]"):
        return "pair", optional
    return None, optional


def _parse_training(table: dict, weights: dict, where: _Where, FitConfig):
    from .engine.loss import LOSS_TERMS
    from .network import ACTIVATIONS, NetworkConfig

    fields = {f.name: f for f in dataclasses.fields(FitConfig)}
    settable = [n for n in fields if n not in ("loss_weights",)]
    w = where.sub("training")
    _check_keys(table, settable, w)
    values: dict = {}
    for name, value in table.items():
        if name == "network":
            continue
        kind, _ = _annotation_kind(fields[name].type)  # no null in TOML: omit a key for None
        if kind == "pair":
            if not (isinstance(value, list) and len(value) == 2 and all(
                    isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)):
                raise w.error(f"{w.key(name)} = {value!r}: expected two numbers, e.g. [4.0, 5.0]")
            values[name] = tuple(float(x) for x in value)
        elif kind is not None:
            values[name] = _expect(value, kind, w, name)
        else:
            values[name] = value

    net_table = table.get("network", {})
    nw = w.sub("network")
    net_fields = {f.name: f for f in dataclasses.fields(NetworkConfig)}
    _check_keys(net_table, list(net_fields), nw)
    net_values = {}
    for name, value in net_table.items():
        kind, _ = _annotation_kind(net_fields[name].type)
        if name == "activation":
            net_values[name] = _choice(value, sorted(ACTIVATIONS), nw, name)
        else:
            net_values[name] = _expect(value, kind, nw, name) if kind else value
    try:
        network = NetworkConfig(**net_values)
    except ValueError as error:
        raise nw.error(f"[training.network]: {_flat(error)}") from None

    lw = where.sub("loss_weights")
    _check_keys(weights, list(LOSS_TERMS), lw)
    loss_weights = {}
    for name, weight in weights.items():
        if weight is False:
            loss_weights[name] = None
        else:
            weight = _expect(weight, "float", lw, name, "a number >= 0, or false to switch the "
                             "term off")
            if weight < 0:
                raise lw.error(f"{lw.key(name)} = {weight!r}: expected a number >= 0, or false "
                               "to switch the term off")
            loss_weights[name] = weight
    try:
        return FitConfig(**values, network=network, loss_weights=loss_weights)
    except (ValueError, TypeError) as error:
        raise w.error(f"[training]: {_flat(error)}") from None


def _parse_output(table: dict, base: Path, where: _Where, override) -> dict:
    from .engine.outputs import resolve_outputs

    _check_keys(table, SECTIONS["output"], where)
    if override is not None:
        directory = Path(override).resolve()
    elif "directory" in table:
        directory = base / os.path.expanduser(_expect(table["directory"], "str", where,
                                                      "directory"))
    else:
        raise where.error("[output] directory is missing: say where the model and results go "
                          "(or pass --output)")
    out = {"directory": str(directory.resolve()),
           "parameters": _expect(table.get("parameters", True), "bool", where, "parameters"),
           "evaluate": _choice(table.get("evaluate", "test"), _SPLITS, where, "evaluate"),
           "checkpoints": _expect(table.get("checkpoints", True), "bool", where, "checkpoints")}
    outputs = table.get("simulation", _DEFAULT_OUTPUTS)
    if outputs is False:
        outputs = []
    outputs = _str_list(outputs, where, "simulation")
    try:
        out["simulation"] = list(resolve_outputs(outputs)) if outputs else []
    except (KeyError, ValueError) as error:
        raise where.error(f"[output] simulation: {_flat(error)}") from None
    return out


def _flat(error: BaseException) -> str:
    """An exception message on one line."""
    text = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    lines = [line.strip().removeprefix("- ") for line in str(text).splitlines() if line.strip()]
    return "; ".join(lines).replace(":;", ":")


def write_config(config: RunConfig, path: str | os.PathLike, *, header: str = "",
                 overwrite: bool = False) -> Path:
    """Write the resolved configuration as TOML (readable again by :func:`load_config`),
    atomically and with the umask's permissions (:func:`~xdifferland.io.write_text_atomic`)."""
    tables = config.to_dict()
    tables["training"] = Table(tables["training"])
    tables["training"]["network"] = Table(tables["training"]["network"])
    text = config_to_toml(tables, header)
    return write_text_atomic(path, text, overwrite=overwrite)


# --- data ----------------------------------------------------------------------------------------

def open_data(data: Mapping) -> tuple[Any, Any]:
    """Open the Dataset a ``[data]`` table describes; returns ``(ds, truth or None)``.

    Paths are read by :func:`xdifferland.cli_data.open_resolved`: NetCDF files and Zarr stores
    with xarray (several are combined by coordinates), CARDAMOM site files (the format detected
    from the content, or ``format = "cardamom"``) with :func:`xdifferland.open_cardamom_sites`
    and prepared for fitting as :func:`xdifferland.experiments.prepare_sites` does;
    ``synthetic`` builds the embedded synthetic world.
    """
    from .cli_data import READER_OPTIONS, open_resolved, resolve_data

    if "synthetic" in data:
        from .datasets import synthetic_world

        return synthetic_world(**data["synthetic"])
    options = {k: data[k] for k in READER_OPTIONS if k in data}
    resolved = resolve_data(list(data["paths"]), data.get("format", "auto"), options)
    return open_resolved(resolved), None
