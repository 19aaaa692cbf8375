"""The ``xdifferland`` command line: ``demo``, ``fit``, ``simulate``, ``evaluate``, ``validate``.

Run ``xdifferland --help`` or ``xdifferland COMMAND --help``. User mistakes (bad data, bad
configuration, missing files, existing outputs) end with exit code 1 and one line on stderr,
``xdifferland: error: <reason>``; ``--verbose`` also shows the Python traceback. Usage errors
end with exit code 2 (argparse), an interruption with 130.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from .cli_commands import (DEMO_EPOCHS, DEMO_WORLD, QUICK_EPOCHS, QUICK_WORLD, UserError,
                           cmd_demo, cmd_evaluate, cmd_fit, cmd_simulate, cmd_validate)
from .cli_data import add_data_options
from .cli_sites import add_fit_sites_parser
from .pipeline import one_line

__all__ = ["DEMO_EPOCHS", "DEMO_WORLD", "QUICK_EPOCHS", "QUICK_WORLD", "build_parser", "main"]

log = logging.getLogger("xdifferland.cli")

_DATA_HELP = ("NetCDF files, Zarr stores or CARDAMOM site files: files, folders or globs "
              "(format detected from the content)")


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
    demo.set_defaults(handler=cmd_demo)

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
    fit.add_argument("--strict", action="store_true",
                     help="exit with code 1 when the fit diverged (its loss ended above its "
                          "start, kept rising, or the dev loss did); the outputs are written "
                          "either way and the model records why (model.convergence)")
    fit.set_defaults(handler=cmd_fit)

    add_fit_sites_parser(commands, common, _positive_int)

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
    sim.set_defaults(handler=cmd_simulate)

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
    ev.set_defaults(handler=cmd_evaluate)

    val = commands.add_parser(
        "validate", parents=[common], help="check a dataset and list every problem",
        description="Find forcing, predictors and observations in DATA and report every problem "
                    "at once (missing variables, units, NaNs, time axis, ranges).")
    val.add_argument("data", metavar="DATA", nargs="+",
                     help=_DATA_HELP)
    add_data_options(val)
    val.set_defaults(handler=cmd_validate)
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

    return isinstance(error, (UserError, ValueError, KeyError, FileExistsError,
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


def run() -> None:  # pragma: no cover - console-script convenience
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
