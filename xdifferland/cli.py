"""The ``xdifferland`` command line: ``demo``, ``fit``, ``simulate``, ``evaluate``, ``validate``.

Run ``xdifferland --help`` or ``xdifferland COMMAND --help``. User mistakes (bad data, bad
configuration, missing files, existing outputs) end with exit code 1 and one line on stderr,
``xdifferland: error: <reason>``; ``--verbose`` also shows the Python traceback. Usage errors
end with exit code 2 (argparse), an interruption with 130.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path

from .cli_data import add_data_options, open_cli_data
from .pipeline import (Step, finished_run, format_table, metrics_table, one_line, prepare_folder,
                       print_summary, refuse_file, run_job)

__all__ = ["DEMO_EPOCHS", "DEMO_WORLD", "QUICK_EPOCHS", "QUICK_WORLD", "build_parser", "main"]

log = logging.getLogger("xdifferland.cli")

#: The demo's synthetic world, :data:`xdifferland.datasets.DEMO_PRESET` (spelled out so that the
#: command line starts without the world generator; a test keeps the two equal): 48 x 80
#: half-degree cells over 12 degS-12 degN, 5-45 degE (56 patches of 4 x 5 degrees: 45 train,
#: 5 dev, 6 test), 5 years of monthly steps, 288 flux towers.
DEMO_WORLD = {
    "lat_range": (-12.0, 12.0), "lon_range": (5.0, 45.0), "n_years": 5, "tower_pixels": 288,
    "parameter_baselines": {"leaf_carbon_mass_per_area": 110.0},
    "land_cover_follows_canopy": True, "balance_pools": True,
}
#: ``--quick``: the small default world (16 x 20 cells, 4 patches).
QUICK_WORLD: dict = {}
#: 200 epochs (9,000 Adam steps): on the dev patches as good as 300 or 400 (seed 0: NSE LAI
#: 0.94 / 0.94 / 0.94, NBE 0.81 / 0.82 / 0.74) and the demo stays within 3 minutes on 2 cores.
DEMO_EPOCHS = 200
QUICK_EPOCHS = 2
#: Training settings of the full demo besides the epochs: a higher rate with cosine decay reaches
#: a good training fit within the demo's time budget (the quick demo uses the defaults).
DEMO_TRAINING = {"learning_rate": 3e-3, "schedule": "cosine"}
_DATA_HELP = ("NetCDF files, Zarr stores or CARDAMOM site files: files, folders or globs "
              "(format detected from the content)")


class _UserError(Exception):
    """A problem to report in one line without a traceback."""


# --- argument parsing ----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``xdifferland`` command."""
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="xdifferland",
        description="Differentiable hybrid land modelling (DifferLand / DALEC993) on xarray data.",
        epilog="Run 'xdifferland COMMAND --help' for the options of a command. Documentation: "
               "docs/ (build it with 'mkdocs serve').")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_verbosity(parser, None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    common = argparse.ArgumentParser(add_help=False)
    _add_verbosity(common, argparse.SUPPRESS)

    demo = commands.add_parser(
        "demo", parents=[common], help="fit the embedded synthetic world end to end",
        description="Build the embedded synthetic world, fit the hybrid model, evaluate it on "
                    "held-out test patches and write parameter maps, simulated fluxes, the model, "
                    "the resolved configuration, metrics and a summary figure.")
    demo.add_argument("--quick", action="store_true",
                      help=f"small world and {QUICK_EPOCHS} epochs: a smoke run (< 1 min)")
    demo.add_argument("-o", "--output", default="demo-output", metavar="OUT",
                      help="output folder (default: %(default)s)")
    demo.add_argument("--overwrite", action="store_true",
                      help="write into OUT even if it already holds files")
    demo.add_argument("--seed", type=int, default=0, help="seed of world and training "
                      "(default: %(default)s)")
    demo.add_argument("--epochs", type=_positive_int, default=None,
                      help=f"training epochs (default: {DEMO_EPOCHS}, --quick: {QUICK_EPOCHS})")
    demo.set_defaults(handler=_cmd_demo)

    fit = commands.add_parser(
        "fit", parents=[common], help="fit a model as a TOML configuration file describes",
        description="Fit the hybrid model to the data a TOML configuration names (data paths, "
                    "roles, predictors, training settings, loss weights, output folder); writes "
                    "model.npz, the resolved config.toml, metrics and result files.",
        epilog="See docs/fitting.md for the configuration format; every key is checked before "
               "any data are read.")
    fit.add_argument("config", metavar="CONFIG.toml", help="run configuration")
    fit.add_argument("-o", "--output", default=None, metavar="OUT",
                     help="output folder (overrides [output] directory)")
    fit.add_argument("--overwrite", action="store_true",
                     help="write into the output folder even if it already holds files")
    fit.add_argument("--resume", action="store_true",
                     help="continue a stopped run from OUT/checkpoints/checkpoint.npz; a "
                          "finished run is reported and left unchanged (exit code 0) unless "
                          "--overwrite is also given, which writes its outputs again")
    fit.add_argument("--check", action="store_true",
                     help="only validate the configuration (and data), then stop")
    fit.set_defaults(handler=_cmd_fit)

    sim = commands.add_parser(
        "simulate", parents=[common], help="simulate fluxes and pools with a fitted model",
        description="Predict parameters from the data's predictors with a fitted model and run "
                    "DALEC993 over the data's forcing; writes NetCDF (or Zarr if OUT ends in "
                    ".zarr).")
    sim.add_argument("model", metavar="MODEL", help="model file written by fit (model.npz), or "
                     "an ensemble folder (Ensemble.save; its members' mean is written)")
    sim.add_argument("data", metavar="DATA", nargs="+",
                     help=_DATA_HELP)
    sim.add_argument("-o", "--output", required=True, metavar="OUT", help="result file")
    sim.add_argument("--outputs", default=None, metavar="NAMES",
                     help="comma-separated outputs, e.g. gpp,lai (default: lai,gpp,et,nee,nbe,"
                          "sif; 'all' for all 44)")
    sim.add_argument("--parameters", default=None, metavar="FILE",
                     help="also write the predicted parameter maps to FILE")
    sim.add_argument("--mass-conserving", action="store_true",
                     help="run the mass-conserving variant instead of the model's own setting")
    sim.add_argument("--cmip", default=None, metavar="DIR",
                     help="also write CMIP-named files and the model table ILAMB reads to DIR "
                          "(without --outputs, the outputs every CMIP variable needs; see "
                          "docs/ilamb.md)")
    sim.add_argument("--overwrite", action="store_true", help="replace existing result files")
    add_data_options(sim)
    sim.set_defaults(handler=_cmd_simulate)

    ev = commands.add_parser(
        "evaluate", parents=[common], help="skill of a fitted model against observations",
        description="Compare a fitted model's simulation with the observations in DATA on one "
                    "split of patches (NSE, r2, RMSE, bias per observed variable).")
    ev.add_argument("model", metavar="MODEL", help="model file written by fit (model.npz), or "
                    "an ensemble folder (Ensemble.save; its members' mean is scored)")
    ev.add_argument("data", metavar="DATA", nargs="+",
                    help=_DATA_HELP)
    ev.add_argument("--split", default=None, choices=("test", "dev", "train", "all"),
                    help="patches to evaluate on (default: test on the data the model was "
                         "trained on, all on new locations such as sites it never saw)")
    ev.add_argument("--warmup-months", type=_nonnegative_int, default=24, metavar="N",
                    help="months left out at the start (default: %(default)s)")
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ev.add_argument("-o", "--output", default=None, metavar="FILE",
                    help="also write all metrics, maps included, to FILE (NetCDF)")
    ev.add_argument("--overwrite", action="store_true", help="replace an existing FILE")
    add_data_options(ev)
    ev.set_defaults(handler=_cmd_evaluate)

    val = commands.add_parser(
        "validate", parents=[common], help="check a dataset and list every problem",
        description="Find forcing, predictors and observations in DATA and report every problem "
                    "at once (missing variables, units, NaNs, time axis, ranges).")
    val.add_argument("data", metavar="DATA", nargs="+",
                     help=_DATA_HELP)
    add_data_options(val)
    val.set_defaults(handler=_cmd_validate)
    return parser


def _add_verbosity(parser: argparse.ArgumentParser, default) -> None:
    group = parser.add_mutually_exclusive_group()
    kw = {} if default is None else {"default": default}
    group.add_argument("-q", "--quiet", action="store_true", help="only warnings, errors and "
                       "results; no progress bar", **kw)
    group.add_argument("-v", "--verbose", action="store_true", help="detailed log messages and "
                       "tracebacks of errors", **kw)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: use an integer >= 1")
    return value


def _nonnegative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: use an integer >= 0")
    return value


# --- entry point ---------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 on success)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet, verbose = bool(getattr(args, "quiet", False)), bool(getattr(args, "verbose", False))
    _configure_logging(quiet, verbose)
    try:
        with warnings.catch_warnings():
            _say_extrapolation_once()
            args.handler(args, quiet=quiet)
    except KeyboardInterrupt:
        print("xdifferland: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001  (every failure ends in one line)
        if verbose or not _is_user_error(error):
            if not _is_user_error(error):
                print("xdifferland: unexpected error (a bug? please report it with this "
                      "traceback):", file=sys.stderr)
            import traceback

            traceback.print_exception(error, file=sys.stderr)
        print(f"xdifferland: error: {one_line(error)}", file=sys.stderr)
        return 1
    return 0


def _is_user_error(error: BaseException) -> bool:
    from .training import TrainingError

    return isinstance(error, (_UserError, ValueError, KeyError, FileExistsError,
                              FileNotFoundError, NotADirectoryError, IsADirectoryError,
                              PermissionError, TrainingError, ImportError))


def _configure_logging(quiet: bool, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if verbose:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                               "%H:%M:%S"))
    else:
        handler.setFormatter(logging.Formatter("%(message)s"))
    package = logging.getLogger("xdifferland")
    package.handlers[:] = [handler]
    package.propagate = False
    # Default: the command's own step messages; the per-epoch training log only with --verbose
    # (the progress bar shows it).
    package.setLevel(logging.DEBUG if verbose else logging.WARNING)
    log.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    if not verbose:
        # Library chatter (e.g. numerical RuntimeWarnings of all-NaN slices) is not the user's
        # concern in a command; --verbose shows it.
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)


def _say_extrapolation_once() -> None:
    """Each step that applies a model reports the same ExtrapolationWarning; log it once.

    Call inside ``warnings.catch_warnings()``, which puts the hook back afterwards.
    """
    from .model import ExtrapolationWarning

    seen: set[str] = set()
    show = warnings.showwarning

    def show_once(message, category, *args, **kwargs):
        if not issubclass(category, ExtrapolationWarning):
            return show(message, category, *args, **kwargs)
        if str(message) not in seen:
            seen.add(str(message))
            log.warning("note: %s", message)

    warnings.filterwarnings("always", category=ExtrapolationWarning)
    warnings.showwarning = show_once


# --- commands ------------------------------------------------------------------------------------

def _cmd_demo(args, *, quiet: bool) -> None:
    from .runconfig import parse_config

    world = dict(QUICK_WORLD if args.quick else DEMO_WORLD, seed=args.seed)
    epochs = args.epochs or (QUICK_EPOCHS if args.quick else DEMO_EPOCHS)
    raw = {"data": {"synthetic": world},
           "training": {"epochs": epochs, "seed": args.seed,
                        **({} if args.quick else DEMO_TRAINING)},
           "output": {"directory": str(Path(args.output).resolve())}}
    config = parse_config(raw, source="demo")
    folder = prepare_folder(Path(config.output["directory"]), args.overwrite)
    started = time.perf_counter()
    result = run_job(config, folder, overwrite=args.overwrite, quiet=quiet, figure=True,
                  title=f"xdifferland demo ({'quick, ' if args.quick else ''}{epochs} epochs)")
    print_summary(result, folder, time.perf_counter() - started)
    if not args.quick:
        print(f"\nRe-run it from its configuration: xdifferland fit {folder / 'config.toml'} "
              "-o OTHER_FOLDER")


def _cmd_fit(args, *, quiet: bool) -> None:
    from .runconfig import load_config, open_data

    config = load_config(args.config, output=args.output)
    folder = Path(config.output["directory"])
    checkpoint = folder / "checkpoints" / "checkpoint.npz"
    if args.resume and not (args.overwrite or args.check):
        if finished := finished_run(folder, config.fit.epochs):  # nothing to continue
            print(finished)
            return
    if args.resume and not checkpoint.exists():
        raise FileNotFoundError(f"--resume: no checkpoint at {checkpoint}")
    if args.check:
        with Step("opening the data to validate it"):
            ds, _ = open_data(config.data)
            report = ds.differland.validate(config.data.get("roles") or None)
        print(f"{config.source}: configuration OK")
        print(report if not getattr(report, "ok", True) else "data: no problems found")
        if not getattr(report, "ok", True):
            raise _UserError(f"the data have {len(report)} problem(s); see the list above")
        return
    prepare_folder(folder, args.overwrite, resume=args.resume)
    started = time.perf_counter()
    result = run_job(config, folder, overwrite=args.overwrite or args.resume, quiet=quiet,
                  figure=False, resume=checkpoint if args.resume else None)
    print_summary(result, folder, time.perf_counter() - started)


def _cmd_simulate(args, *, quiet: bool) -> None:
    from .engine.outputs import resolve_outputs

    out = Path(args.output)
    refuse_file(out, args.overwrite)
    if args.parameters:
        refuse_file(Path(args.parameters), args.overwrite)
    if args.cmip:
        from .io.cmip import CMIP_OUTPUTS, to_cmip

        refuse_file(Path(args.cmip) / "models.csv", args.overwrite)
    outputs = list(CMIP_OUTPUTS) if args.cmip else None
    if args.outputs:
        names = [n.strip() for n in args.outputs.split(",") if n.strip()]
        outputs = "all" if names == ["all"] else list(resolve_outputs(names))
    model = _load_model(args.model)
    ds = open_cli_data(args, predictors=model.predictors)
    roles = _roles(args.role)
    with Step(f"simulating {args.outputs or 'the default outputs'}"):
        kwargs = {"mass_conserving": True} if args.mass_conserving else {}
        result = model.simulate(ds, outputs, roles=roles, **kwargs)
        if "member" in result.dims:  # an ensemble: its mean is the prediction
            result = _member_mean(result)
        _write(result, out, args.overwrite)
    if args.parameters:
        with Step("predicting parameter maps"):
            params = model.parameters(ds, roles=roles)
            params = _member_mean(params) if "member" in params.dims else params
            _write(params, Path(args.parameters), args.overwrite)
    if args.cmip:
        with Step(f"writing CMIP files to {args.cmip}"):
            table = to_cmip(result, args.cmip, overwrite=args.overwrite)
        print(f"CMIP files: {args.cmip}  (model table for ILAMB: {table})")
    print(f"simulation: {out}  ({', '.join(result.data_vars)}; dims {dict(result.sizes)})")
    if args.parameters:
        print(f"parameters: {args.parameters}")


def _cmd_evaluate(args, *, quiet: bool) -> None:
    if args.output:
        refuse_file(Path(args.output), args.overwrite)
    model = _load_model(args.model)
    ds = open_cli_data(args, predictors=model.predictors)
    ensemble = not hasattr(model, "split_mask")
    with Step(f"evaluating on the {args.split or 'default'} split"):
        kwargs = {"mean": True} if ensemble else {}
        skill = model.evaluate(ds, args.split, warmup_months=args.warmup_months,
                               roles=_roles(args.role), **kwargs)
    split = skill.attrs.get("split", args.split)
    table = metrics_table(skill)
    if args.json:
        print(json.dumps({"split": split, "warmup_months": args.warmup_months,
                          **({"members": len(model)} if ensemble else {}),
                          "metrics": table}, indent=2))
    else:
        what = f", mean of {len(model)} members" if ensemble else ""
        print(f"Skill on the {split} split ({skill.attrs.get('n_locations', '?')} locations,"
              f" first {args.warmup_months} months left out{what}):")
        print(format_table(table))
    if args.output:
        _write(skill, Path(args.output), args.overwrite)
        if not args.json:
            print(f"metrics: {args.output}")


def _cmd_validate(args, *, quiet: bool) -> None:
    ds = open_cli_data(args)
    report = ds.differland.validate(_roles(args.role))
    if getattr(report, "ok", True):
        print("no problems found")
        return
    print(report)
    raise _UserError(f"the data have {len(report)} problem(s); see the list above")


# --- helpers -------------------------------------------------------------------------------------

def _load_model(path: str):
    """A model file, or an ensemble folder (holding ensemble.json)."""
    import xdifferland
    from .ensemble_files import INDEX_FILE

    if not Path(path).exists():
        raise FileNotFoundError(f"model file not found: {path}")
    if Path(path).is_dir():
        with Step(f"loading the ensemble {path}"):
            if not (Path(path) / INDEX_FILE).is_file():
                raise FileNotFoundError(f"{path} is a folder without {INDEX_FILE}: give a model "
                                        "file (model.npz) or a folder written by Ensemble.save")
            return xdifferland.load_ensemble(path)
    with Step(f"loading the model {path}"):
        return xdifferland.load_model(path)


def _member_mean(ds):
    from .ensemble import ensemble_mean

    out = ensemble_mean(ds).drop_vars(["seed", "loss"], errors="ignore")
    out.attrs["ensemble_members"] = int(ds.sizes["member"])
    return out


def _roles(items: list[str]) -> dict | None:
    roles = {}
    for item in items:
        name, sep, target = item.partition("=")
        if not sep or not name or not target:
            raise _UserError(f"--role {item!r}: write it as NAME=VARIABLE, e.g. t_min=tmn")
        roles[name.strip()] = target.strip()
    return roles or None


def _write(ds, path: Path, overwrite: bool) -> Path:
    import xdifferland

    if str(path).rstrip("/").endswith(".zarr"):
        return xdifferland.to_zarr(ds, path, overwrite=overwrite)
    return xdifferland.to_netcdf(ds, path, overwrite=overwrite)


def run() -> None:  # pragma: no cover - console-script convenience
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
