"""``xdifferland fit-sites``: an ensemble fitted on a folder of CARDAMOM sites, for new sites.

The command-line face of :func:`xdifferland.experiments.fit_site_ensemble`: one command fits
the leave-site-out (or joint) ensemble and saves it as an ensemble folder, which
``xdifferland evaluate ENSEMBLE NEW_SITES/`` and ``xdifferland simulate ENSEMBLE NEW_SITES/ -o OUT``
then apply to sites it never saw.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

__all__ = ["add_fit_sites_parser", "cmd_fit_sites"]


def add_fit_sites_parser(commands, common: argparse.ArgumentParser, positive_int) -> None:
    """Register ``fit-sites`` on the ``commands`` sub-parser collection (imports nothing heavy:
    the defaults are resolved when the command runs)."""
    parser = commands.add_parser(
        "fit-sites", parents=[common],
        help="fit a site ensemble on a folder of CARDAMOM sites, for predicting other sites",
        description="Fit an ensemble on CARDAMOM site files (a folder with its site_coords.csv) "
                    "and save it as an ensemble folder. Leave-site-out (the "
                    "default): for each site, MEMBERS networks trained on all the other sites; "
                    "--joint: MEMBERS networks trained on every site. Apply it to sites it never "
                    "saw with 'xdifferland evaluate OUT NEW_SITES/' and 'xdifferland simulate "
                    "OUT NEW_SITES/ -o FILE'.",
        epilog="Predictors derived from the IGBP class (tree_cover, evergreen, woody, forest) "
               "and the forcing (mean_temperature, annual_precipitation, moisture_index, "
               "temperature_seasonality, precipitation_seasonality, mean_shortwave) are "
               "computed for any site; see docs/examples.md for how the defaults were chosen.")
    parser.add_argument("sites", metavar="SITES", help="folder of CARDAMOM site files")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="ensemble folder to write")
    parser.add_argument("--sites", dest="only", type=lambda text: text.split(","),
                        default=None, metavar="A,B,...",
                        help="fit on these sites of the folder only (default: all)")
    parser.add_argument("--joint", action="store_true",
                        help="every member trains on every site (default: leave-site-out)")
    parser.add_argument("--members", type=positive_int, default=3,
                        help="members per held-out site (or in all, with --joint; "
                             "default: %(default)s)")
    parser.add_argument("--predictors", type=_predictor_sets, default=None,
                        metavar="A,B[;C,D]",
                        help="comma-separated predictors; several sets, taken by the members "
                             "in turn, separated by ';' (default: "
                             "xdifferland.experiments.LOSO_PREDICTORS)")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="epochs per member (default: those of "
                             "xdifferland.experiments.SITE_ENSEMBLE_SETTINGS)")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default: %(default)s)")
    parser.add_argument("--align", choices=("step", "calendar"), default="step",
                        help="how the site records are lined up (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an ensemble already in OUT")
    parser.set_defaults(handler=cmd_fit_sites)


def _predictor_sets(text: str) -> tuple:
    """``"a,b"`` or ``"a;b,c"`` as predictor sets (:func:`~.experiments.folds.predictor_sets`)."""
    from .experiments.folds import predictor_sets

    try:
        return predictor_sets(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give predictor names separated by ',' "
                                         "(sets separated by ';')") from None


def cmd_fit_sites(args, *, quiet: bool) -> None:
    """Fit :func:`~xdifferland.experiments.fit_site_ensemble` and save it to ``args.output``."""
    from .cli_commands import UserError
    from .experiments.loso import LOSO_PREDICTORS
    from .experiments.site_ensemble import fit_site_ensemble

    out = Path(args.output)
    if (out / "ensemble.json").exists() and not args.overwrite:
        raise UserError(f"{out} already holds an ensemble; pass --overwrite to replace it, or "
                        "choose another -o folder")
    if not Path(args.sites).is_dir():
        raise UserError(f"SITES={args.sites!r} is not a folder: give the folder of the CARDAMOM "
                        "site files (with its site_coords.csv)")
    started = time.perf_counter()
    if args.only:
        from .experiments.sites import prepare_sites

        data = prepare_sites(args.sites, args.only, align=args.align)
    else:
        data = args.sites
    ensemble = fit_site_ensemble(data, leave_site_out=not args.joint,
                                 seeds=args.members,
                                 predictors=args.predictors or LOSO_PREDICTORS,
                                 seed=args.seed, align=args.align, progress=not quiet,
                                 **({"epochs": args.epochs} if args.epochs else {}))
    path = ensemble.save(out, overwrite=args.overwrite)
    info = ensemble.info
    print(f"{info['kind']} ensemble of {len(ensemble.members)} members on "
          f"{len(info['sites'])} sites ({', '.join(info['sites'])}), predictors "
          f"{', '.join(info['predictors'])}; {info['refitted_members']} member(s) refitted, "
          f"{info['left_out_stuck']} left out; {time.perf_counter() - started:.0f} s")
    print(f"wrote {path}; apply it with: xdifferland evaluate {path} NEW_SITES/")
