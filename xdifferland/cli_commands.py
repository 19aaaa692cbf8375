"""What each ``xdifferland`` command does (the parser and the entry point are
:mod:`xdifferland.cli`): the demo, a configured fit, simulating and evaluating with a saved model
or ensemble, validating data.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from .cli_data import open_cli_data
from .pipeline import (Step, finished_run, format_table, metrics_table, prepare_folder,
                       print_summary, refuse_file, run_job)

__all__ = ["DEMO_EPOCHS", "DEMO_WORLD", "QUICK_EPOCHS", "QUICK_WORLD", "UserError", "cmd_demo",
           "cmd_evaluate", "cmd_fit", "cmd_simulate", "cmd_validate"]

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


class UserError(Exception):
    """A problem to report in one line without a traceback."""



def cmd_demo(args, *, quiet: bool) -> None:
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


def cmd_fit(args, *, quiet: bool) -> None:
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
            raise UserError(f"the data have {len(report)} problem(s); see the list above")
        return
    prepare_folder(folder, args.overwrite, resume=args.resume)
    started = time.perf_counter()
    result = run_job(config, folder, overwrite=args.overwrite or args.resume, quiet=quiet,
                  figure=False, resume=checkpoint if args.resume else None)
    print_summary(result, folder, time.perf_counter() - started)
    model = result["model"]
    if args.strict and model.converged is False:
        raise UserError(f"--strict: {model.convergence} (outputs written to {folder})")


def cmd_simulate(args, *, quiet: bool) -> None:
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
    print(f"simulation: {out}  ({', '.join(result.data_vars)}; dims "
          f"{_written_dims(out, list(result.data_vars))})")
    if args.parameters:
        print(f"parameters: {args.parameters}")


def cmd_evaluate(args, *, quiet: bool) -> None:
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


def cmd_validate(args, *, quiet: bool) -> None:
    ds = open_cli_data(args)
    report = ds.differland.validate(_roles(args.role))
    if getattr(report, "ok", True):
        print("no problems found")
        # unused data variables, with the roles= (--role) that would use them
        for note in getattr(report, "notes", ()):
            print(note if note.startswith(" ") else f"note: {note}")
        return
    print(report)
    raise UserError(f"the data have {len(report)} problem(s); see the list above")


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
            raise UserError(f"--role {item!r}: write it as NAME=VARIABLE, e.g. t_min=tmn")
        roles[name.strip()] = target.strip()
    return roles or None


def _written_dims(path: Path, names: list[str]) -> dict[str, int]:
    """Sizes of the dims of ``names`` as written in ``path``: writing may lay them out otherwise
    than in memory (sites aligned by step are stored over ``(site, step)``)."""
    import xarray as xr

    engine = "zarr" if str(path).rstrip("/").endswith(".zarr") else None
    with xr.open_dataset(path, engine=engine, decode_times=False) as written:
        return {str(d): int(written.sizes[d]) for name in names if name in written.variables
                for d in written[name].dims}


def _write(ds, path: Path, overwrite: bool) -> Path:
    import xdifferland

    if str(path).rstrip("/").endswith(".zarr"):
        return xdifferland.to_zarr(ds, path, overwrite=overwrite)
    return xdifferland.to_netcdf(ds, path, overwrite=overwrite)
