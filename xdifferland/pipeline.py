"""The job behind ``xdifferland demo`` and ``xdifferland fit``: fit, save, predict, score, draw.

:func:`run_job` takes a resolved :class:`~xdifferland.runconfig.RunConfig` and an output folder and
writes the fitted model, the resolved configuration, parameter maps, simulations, metrics (NetCDF
and JSON) and the summary figure, refusing to overwrite anything unless asked. The command line
(:mod:`xdifferland.cli`) parses arguments and reports errors; this module does the work.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

from .io.atomic import remove_orphans
from .io.text import write_text_atomic

__all__ = ["KEY_VARIABLES", "RUN_FILES", "Step", "finished_run", "metrics_table",
           "format_table", "prepare_folder", "print_summary", "refuse_file", "run_job",
           "skill_comparison", "training_skill"]

log = logging.getLogger("xdifferland.cli")

KEY_VARIABLES = ("lai", "sif", "et", "nbe")
#: Files a run writes into its folder (:func:`run_job`); their orphaned temporaries are removed
#: when a new run starts there.
RUN_FILES = ("config.toml", "model.npz", "parameters.nc", "simulation.nc", "metrics.nc",
             "metrics.json", "summary.png", "checkpoints/checkpoint.npz")
_METRICS = ("nse", "r2", "rmse", "bias", "n")
_GAP = 0.2  #: NSE gap between training and held-out patches worth a hint


class Step:
    """Logs ``message ...`` and, on exit, how long it took."""

    def __init__(self, message: str):
        self.message = message

    def __enter__(self):
        log.info("%s ...", self.message)
        self.start = time.perf_counter()
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            log.info("  done in %.1f s", time.perf_counter() - self.start)
        return False


# --- output folders ------------------------------------------------------------------------------

def prepare_folder(folder: Path, overwrite: bool, *, resume: bool = False) -> Path:
    """Refuse a folder that holds files unless ``overwrite`` (or ``resume``); otherwise create
    it and remove what writers killed in an earlier run left of :data:`RUN_FILES`.

    The orphans go only once this run is allowed to write there: a refused run must not delete
    the temporary of a run still writing into the same folder.
    """
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"output {folder} exists and is not a folder")
    if folder.exists() and any(folder.iterdir()) and not (overwrite or resume):
        raise FileExistsError(f"output folder {folder} already holds files; choose another "
                              "folder or pass --overwrite to replace them")
    folder.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        for orphan in remove_orphans(folder / name):
            log.info("removed %s, left by an interrupted run", orphan)
    return folder


def finished_run(folder: Path, epochs: int | None) -> str | None:
    """What to say of the finished run in ``folder``, or None if there is none to leave alone.

    A run is finished once its ``model.npz`` is written (after the last epoch) and it was
    trained for at least ``epochs`` (the configuration's; None: any number). No model, an
    unreadable one, or fewer epochs than asked for: None, and resuming continues the run.
    """
    from .model import load_model

    path = folder / "model.npz"
    if not path.is_file():
        return None
    try:
        trained = load_model(path).config.epochs
    except (OSError, ValueError):  # ModelFileError is a ValueError
        return None
    if epochs is not None and trained < epochs:
        return None
    return (f"{folder}: the run is finished ({path.name}, {trained} epoch"
            f"{'s' * (trained != 1)}); nothing was "
            "changed. Pass --overwrite to write its outputs again, or raise [training] epochs "
            "to train on.")


def refuse_file(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; choose another name or pass --overwrite")


# --- the pipeline shared by demo and fit ---------------------------------------------------------

def run_job(config, folder: Path, *, overwrite: bool, quiet: bool, figure: bool, title: str = "",
            resume: Path | None = None) -> dict:
    """Fit ``config`` and write every requested output into ``folder``.

    Returns ``{"model", "files", "fit_seconds"}`` plus ``"metrics"`` and ``"split"`` when the
    configuration asks for an evaluation. ``resume`` continues from a checkpoint file.
    """
    import xdifferland

    from ._version import __version__
    from .runconfig import open_data, write_config

    with Step("writing the resolved configuration"):
        write_config(config, folder / "config.toml", overwrite=True, header=(
            f"Resolved configuration written by xdifferland {__version__} on "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}.\nEvery setting is spelled out; run it again "
            "with: xdifferland fit config.toml -o OTHER_FOLDER"))
    data = config.data
    if "synthetic" in data:
        label = "the synthetic world " + ", ".join(f"{k}={v}" for k, v in data["synthetic"].items())
    elif data.get("format") == "cardamom":
        from .cli_data import describe

        label = describe(data)
    else:
        label = f"{len(data['paths'])} data path(s)"
    with Step(f"opening {label}"):
        ds, _ = open_data(data)
        ds = ds.load()
    roles = data.get("roles") or None
    log.info("fitting %s epochs (progress bar below)",
             config.fit.epochs or "the default number of")
    start = time.perf_counter()
    model = xdifferland.fit(
        ds, config.fit, predictors=data.get("predictors"), roles=roles,
        patch_variable=data.get("patch_variable"),
        checkpoint_dir=folder / "checkpoints" if config.output["checkpoints"] else None,
        resume=resume, progress=not quiet)
    fit_seconds = time.perf_counter() - start
    log.info("  fitted in %.1f s: %s", fit_seconds, model)
    files = {"model": model.save(folder / "model.npz", overwrite=overwrite),
             "config": folder / "config.toml"}
    result: dict = {"model": model, "files": files, "fit_seconds": fit_seconds}
    simulation = parameters = None
    if config.output["parameters"] or figure:
        with Step("predicting parameter maps"):
            parameters = model.parameters(ds, roles=roles)
        files["parameters"] = xdifferland.to_netcdf(parameters, folder / "parameters.nc",
                                                    overwrite=overwrite)
    outputs = list(config.output["simulation"])
    if figure:
        outputs = list(dict.fromkeys([*outputs, "gpp", "lai"]))
    if outputs:
        with Step(f"simulating {', '.join(outputs)}"):
            simulation = model.simulate(ds, outputs, roles=roles)
        files["simulation"] = xdifferland.to_netcdf(simulation, folder / "simulation.nc",
                                                    overwrite=overwrite)
    split = config.output["evaluate"]
    skill = None
    if split != "none":
        with Step(f"evaluating on the {split} patches"):
            try:
                skill = model.evaluate(ds, split, roles=roles)
            except ValueError as error:  # no observations, or an empty split
                log.warning("evaluation skipped: %s", one_line(error))
        if skill is not None:
            files["metrics"] = xdifferland.to_netcdf(skill, folder / "metrics.nc",
                                                     overwrite=overwrite)
            table = metrics_table(skill)
            summary = {"split": split, "metrics": table, "fit_seconds": round(fit_seconds, 1)}
            if split in ("test", "dev"):  # held-out skill means more next to the training skill
                with Step("evaluating on the training patches, for comparison"):
                    summary["train_nse"] = result["train_nse"] = training_skill(model, ds, roles)
            path = folder / "metrics.json"
            refuse_file(path, overwrite)
            write_text_atomic(path, json.dumps(summary, indent=2) + "\n")
            files["metrics_json"] = path
            result["metrics"] = table
            result["split"] = split
    if figure:
        with Step("drawing the summary figure"):
            path = folder / "summary.png"
            refuse_file(path, overwrite)
            from .figures import summary_figure

            summary_figure(model, ds, parameters, simulation, skill, path, title=title)
        files["figure"] = path
    return result


def print_summary(result: dict, folder: Path, seconds: float) -> None:
    print(f"\nDone in {seconds:.0f} s. Files in {folder}:")
    labels = {"model": "fitted model", "config": "resolved configuration",
              "parameters": "parameter maps", "simulation": "simulated fluxes and pools",
              "metrics": "metrics (with maps)", "metrics_json": "metrics (JSON)",
              "figure": "summary figure"}
    for key, path in result["files"].items():
        print(f"  {Path(path).name:16s} {labels.get(key, key)}")
    metrics = result.get("metrics")
    if metrics:
        print(f"\nSkill on the {result['split']} patches (NSE = Nash-Sutcliffe efficiency; 1 is "
              "perfect):")
        keys = [v for v in KEY_VARIABLES if v in metrics]
        print("  " + "   ".join(f"{v.upper()} {metrics[v]['nse']:.3f}" for v in keys))
        print(format_table(metrics))
        train = result.get("train_nse")
        if train:
            print(skill_comparison({k: metrics[k]["nse"] for k in keys}, train,
                                   result["split"]))


def training_skill(model, ds, roles=None) -> dict:
    """NSE of the headline variables on the training patches (to set held-out skill against)."""
    skill = model.evaluate(ds, "train", roles=roles)
    names = [str(v) for v in skill["variable"].values]
    return {v: float(skill["nse"].sel(variable=v)) for v in KEY_VARIABLES if v in names}


def skill_comparison(held_out: dict, train: dict, split: str) -> str:
    """Training against held-out NSE of the headline variables, with a hint on a large gap.

    Examples
    --------
    >>> print(skill_comparison({"lai": 0.2, "et": 0.5}, {"lai": 0.95, "et": 0.7}, "test"))
    <BLANKLINE>
    NSE                     LAI       ET
      training patches    0.950    0.700
      test patches        0.200    0.500
    The test patches score well below the training patches: the network generalizes there
    from other patches (and extrapolates where their predictors lie outside the training
    range); more, or more varied, training patches narrow the gap.
    """
    keys = [k for k in held_out if k in train]
    lines = ["", f"{'NSE':18s}" + "".join(f"{k.upper():>9s}" for k in keys)]
    for label, values in (("training patches", train), (f"{split} patches", held_out)):
        lines.append(f"  {label:16s}" + "".join(f"{values[k]:9.3f}" for k in keys))
    if any(train[k] - held_out[k] > _GAP for k in keys):
        lines.append(
            f"The {split} patches score well below the training patches: the network "
            "generalizes there\nfrom other patches (and extrapolates where their predictors lie "
            "outside the training\nrange); more, or more varied, training patches narrow the gap.")
    return "\n".join(lines)


def metrics_table(skill) -> dict:
    table = {}
    for name in skill["variable"].values:
        row = {}
        for m in _METRICS:
            if m in skill:
                value = float(skill[m].sel(variable=name))
                row[m] = int(value) if m == "n" and math.isfinite(value) else value
        table[str(name)] = row
    return table


def format_table(table: dict) -> str:
    columns = [m for m in _METRICS if any(m in row for row in table.values())]
    lines = ["  " + f"{'variable':15s}" + "".join(f"{c:>11s}" for c in columns)]
    for name, row in table.items():
        cells = []
        for c in columns:
            value = row.get(c, float("nan"))
            cells.append(f"{value:>11d}" if isinstance(value, int) else f"{value:>11.4g}")
        lines.append("  " + f"{name:15s}" + "".join(cells))
    return "\n".join(lines)



def one_line(error: BaseException) -> str:
    from .runconfig import _flat

    text = _flat(error)
    return text if text else type(error).__name__
