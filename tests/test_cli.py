"""The ``xdifferland`` command line: demo, fit from a TOML file, simulate, evaluate, errors.

Trainings here are 1-2 epochs on the small default synthetic world: these tests check the
plumbing (files, messages, exit codes), not the skill.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

import xdifferland
from tests.conftest import Umask
from xdifferland.cli import main
from xdifferland.datasets import synthetic_world
from xdifferland.pipeline import finished_run
from xdifferland.runconfig import ConfigError, config_to_toml, parse_config, tomllib


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def world_nc(tmp_path_factory):
    """The small default synthetic world (seed 0) as a NetCDF file."""
    ds, _ = synthetic_world(seed=0)
    path = tmp_path_factory.mktemp("data") / "world.nc"
    xdifferland.to_netcdf(ds, path)
    return path


def _config(world_nc, out, **training) -> str:
    training = {"epochs": 1, "eval_every": 1, **training}
    return config_to_toml({
        "data": {"paths": [str(world_nc)]},
        "training": training,
        "loss_weights": {"vod": False},
        "output": {"directory": str(out), "simulation": ["gpp", "lai"]},
    })


@pytest.fixture(scope="module")
def fitted(world_nc, tmp_path_factory):
    """``xdifferland fit`` on the NetCDF world into a folder that already holds a file: refused
    first, then done with ``--overwrite``. Returns the output folder."""
    base = tmp_path_factory.mktemp("fit")
    out = base / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    config = base / "run.toml"
    config.write_text(_config(world_nc, out))
    assert main(["--quiet", "fit", str(config)]) == 1  # refused: the folder holds a file
    assert not (out / "model.npz").exists()
    assert main(["--quiet", "fit", str(config), "--overwrite"]) == 0
    return out


def test_demo_quick_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    code, stdout, stderr = _run(capsys, "demo", "--quick", "-o", str(out))
    assert code == 0, stderr
    for name in ("model.npz", "config.toml", "parameters.nc", "simulation.nc", "metrics.json",
                 "metrics.nc", "summary.png"):
        assert (out / name).is_file(), name
    png = (out / "summary.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    Umask(_current_umask()).check(out)  # readable by the group where the umask allows it
    for variable in ("LAI", "SIF", "ET", "NBE"):
        assert variable in stdout
    assert str(out) in stdout and "NSE" in stdout
    # The test patches extrapolate some predictors: said once, although three steps apply the model.
    assert stderr.count("outside the training range") == 1 and "note: " in stderr
    params = xr.open_dataset(out / "parameters.nc")
    assert "canopy_efficiency" in params and params["canopy_efficiency"].dims == ("lat", "lon")
    params.close()
    with xr.open_dataset(out / "simulation.nc") as sim:
        assert {"gpp", "lai"} <= set(sim.data_vars)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "test" and "lai" in metrics["metrics"]
    # held-out skill is set against the training patches' skill, in the file and the printout
    assert set(metrics["train_nse"]) == {"lai", "sif", "et", "nbe"}
    train_row = next(line for line in stdout.splitlines() if "training patches" in line)
    assert train_row.split()[2:] == [f"{metrics['train_nse'][v]:.3f}"
                                     for v in ("lai", "sif", "et", "nbe")]
    # the resolved configuration is complete and valid again
    resolved = tomllib.loads((out / "config.toml").read_text())
    assert resolved["training"]["epochs"] == 2 and resolved["data"]["synthetic"]["seed"] == 0
    parse_config(resolved, source="config.toml")

    # a second run refuses to overwrite, with a one-line reason and no traceback
    code, _, stderr = _run(capsys, "demo", "--quick", "-o", str(out))
    assert code == 1
    assert stderr.strip().splitlines() == [stderr.strip()]
    assert stderr.startswith("xdifferland: error:") and "--overwrite" in stderr
    assert "Traceback" not in stderr


def test_output_folder_refused_unless_overwrite(fitted, tmp_path, capsys, world_nc):
    config = tmp_path / "run.toml"
    config.write_text(_config(world_nc, fitted))
    code, _, stderr = _run(capsys, "fit", str(config))
    assert code == 1 and "already holds files" in stderr and "--overwrite" in stderr
    assert (fitted / "notes.txt").read_text() == "keep me"  # --overwrite replaced only ours


def test_fit_from_toml(fitted):
    for name in ("model.npz", "config.toml", "parameters.nc", "simulation.nc", "metrics.json",
                 "checkpoints/checkpoint.npz"):
        assert (fitted / name).is_file(), name
    model = xdifferland.load_model(fitted / "model.npz")
    assert model.config.epochs == 1 and model.config.loss_weights["vod"] is None
    resolved = tomllib.loads((fitted / "config.toml").read_text())
    assert resolved["loss_weights"] == {"vod": False}
    assert resolved["training"]["learning_rate"] == model.config.learning_rate
    assert resolved["training"]["network"]["width"] == 32
    with xr.open_dataset(fitted / "simulation.nc") as sim:
        assert set(sim.data_vars) == {"gpp", "lai", "cell_area", "extrapolation"}  # + areas, score


@pytest.mark.parametrize(("rate", "code"), [(1e4, 1), (5e-4, 0)])  # diverged, converged
def test_strict_fails_a_diverged_fit(world_nc, tmp_path, capsys, rate, code):
    config = tmp_path / "run.toml"
    config.write_text(_config(world_nc, tmp_path / "out", epochs=2, learning_rate=rate))
    returned, _, stderr = _run(capsys, "--quiet", "fit", str(config), "--strict")
    assert returned == code
    model = xdifferland.load_model(tmp_path / "out" / "model.npz")  # written either way
    assert model.converged is (code == 0)
    error = [line for line in stderr.splitlines() if line.startswith("xdifferland: error:")]
    assert "Traceback" not in stderr and len(error) == code
    if code:
        assert "--strict: the fit diverged" in error[0] and "lower learning_rate" in error[0]


@pytest.mark.parametrize("edit, named", [
    ({"training": {"epoch": 3}}, ["'epoch'", "[training]", "epochs"]),
    ({"training": {"epochs": "ten"}}, ["[training] epochs", "'ten'", "integer"]),
    ({"training": {"schedule": "linear"}}, ["schedule", "'constant'", "'cosine'"]),
    ({"training": {"network": {"activation": "sigmoid"}}},
     ["[training.network] activation", "'leaky_relu'"]),
    ({"loss_weights": {"lia": 1.0}}, ["'lia'", "[loss_weights]", "lai"]),
    ({"loss_weights": {"lai": -1.0}}, ["[loss_weights] lai", ">= 0"]),
    ({"output": {"simulation": ["gpp", "nope"]}}, ["simulation", "nope"]),
    ({"data": {"format": "grib"}}, ["[data] format", "'netcdf'"]),
    ({"extra": {}}, ["'extra'", "allowed: data, training, loss_weights, output"]),
])
def test_config_errors_name_the_key(tmp_path, capsys, world_nc, edit, named):
    raw = tomllib.loads(_config(world_nc, tmp_path / "out"))
    for table, values in edit.items():
        raw.setdefault(table, {}).update(values)
    with pytest.raises(ConfigError) as info:
        parse_config(raw, source="run.toml")
    for piece in named:
        assert piece in str(info.value)
    # through the command line: exit 1, one line, nothing written
    path = tmp_path / "run.toml"
    path.write_text(config_to_toml(raw))
    code, _, stderr = _run(capsys, "fit", str(path))
    assert code == 1 and len(stderr.strip().splitlines()) == 1
    assert named[0] in stderr and "Traceback" not in stderr
    assert not (tmp_path / "out").exists()


def test_missing_files_fail_cleanly(tmp_path, capsys):
    code, _, stderr = _run(capsys, "fit", str(tmp_path / "nope.toml"))
    assert code == 1 and "not found" in stderr
    (tmp_path / "run.toml").write_text(config_to_toml({
        "data": {"paths": "missing/*.nc"}, "output": {"directory": "out"}}))
    code, _, stderr = _run(capsys, "fit", str(tmp_path / "run.toml"))
    assert code == 1 and "nothing matches 'missing/*.nc'" in stderr
    code, _, stderr = _run(capsys, "evaluate", str(tmp_path / "model.npz"), "x.nc")
    assert code == 1 and "model file not found" in stderr


def test_simulate_and_evaluate(fitted, world_nc, tmp_path, capsys):
    model = str(fitted / "model.npz")
    out = tmp_path / "sim.nc"
    code, stdout, stderr = _run(capsys, "simulate", model, str(world_nc), "-o", str(out),
                                "--outputs", "gpp,lai", "--parameters",
                                str(tmp_path / "p.nc"))
    assert code == 0, stderr
    with xr.open_dataset(out) as sim:
        assert set(sim.data_vars) == {"gpp", "lai", "cell_area", "extrapolation"}  # + areas, score
        assert sim["gpp"].dims == ("time", "lat", "lon")
    assert (tmp_path / "p.nc").is_file() and str(out) in stdout
    # existing result: refused; bad output name: named
    code, _, stderr = _run(capsys, "simulate", model, str(world_nc), "-o", str(out))
    assert code == 1 and "--overwrite" in stderr
    code, _, stderr = _run(capsys, "simulate", model, str(world_nc), "-o",
                           str(tmp_path / "x.nc"), "--outputs", "gpp,bogus")
    assert code == 1 and "bogus" in stderr and not (tmp_path / "x.nc").exists()

    code, stdout, stderr = _run(capsys, "evaluate", model, str(world_nc), "--split", "test")
    assert code == 0, stderr
    assert "lai" in stdout and "nse" in stdout
    code, stdout, _ = _run(capsys, "-q", "evaluate", model, str(world_nc), "--json",
                           "--split", "all")
    result = json.loads(stdout)
    assert result["split"] == "all" and set(result["metrics"]["lai"]) >= {"nse", "rmse"}


def test_evaluate_on_an_empty_split_fails_with_the_reason(tmp_path, capsys):
    # one 4 x 5 degree patch: the fit says at its start that it holds nothing out...
    ds, _ = synthetic_world(n_lat=4, n_lon=4, n_years=1, spinup_years=1)
    data = tmp_path / "one-patch.nc"
    xdifferland.to_netcdf(ds, data)
    config = tmp_path / "run.toml"
    config.write_text(config_to_toml({
        "data": {"paths": [str(data)]}, "training": {"epochs": 1},
        "output": {"directory": str(tmp_path / "run"), "simulation": [], "parameters": False,
                   "evaluate": "test"}}))
    code, _, stderr = _run(capsys, "fit", str(config))
    assert code == 0, stderr
    warned = stderr.index("no test and no dev patches: the data form 1 patch")
    assert warned < stderr.index("evaluation skipped: the test split is empty")
    assert not (tmp_path / "run" / "metrics.json").exists()
    # ...and evaluating its test split exits non-zero with the reason, not a table of NaN
    code, stdout, stderr = _run(capsys, "evaluate", str(tmp_path / "run" / "model.npz"),
                                str(data), "--split", "test")
    assert code == 1 and stdout == ""
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("xdifferland: error: the test split is empty") and "patch" in last
    assert "Traceback" not in stderr and "nan" not in stderr.lower()
    code, stdout, stderr = _run(capsys, "evaluate", str(tmp_path / "run" / "model.npz"),
                                str(data), "--split", "train", "--warmup-months", "0")
    assert code == 0 and "Skill on the train split (14 locations" in stdout  # land cells


def test_demo_world_is_the_preset():
    from xdifferland.cli import DEMO_WORLD
    from xdifferland.datasets import DEMO_PRESET

    assert DEMO_WORLD == DEMO_PRESET


@pytest.mark.parametrize("command", [None, "demo", "fit", "simulate", "evaluate", "validate"])
def test_help(capsys, command):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"] if command else ["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: xdifferland")
    if command:
        assert command in out.splitlines()[0]


def test_usage_error_exit_code(capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--epochs", "0"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


def test_validate_reports_problems(tmp_path, capsys, world_nc):
    bad = xr.open_dataset(world_nc).load().drop_vars("t_min")
    bad["vpd"].attrs["units"] = "m"
    path = tmp_path / "bad.nc"
    bad.to_netcdf(path)
    code, stdout, stderr = _run(capsys, "validate", str(path))
    assert code == 1
    assert "t_min" in stdout and "vpd" in stdout
    # progress messages may precede it; the failure itself is one last line
    assert stderr.strip().splitlines()[-1].startswith("xdifferland: error: the data have 2")
    assert stderr.count("xdifferland: error") == 1
    code, stdout, _ = _run(capsys, "validate", str(world_nc))
    assert code == 0 and "no problems" in stdout


def test_validate_notes_unused_variables(tmp_path, capsys, world_nc):
    renamed = xr.open_dataset(world_nc).load().rename(lai="Lai_500m")
    del renamed["Lai_500m"].attrs["standard_name"]  # else it is found by its standard name
    path = tmp_path / "renamed.nc"
    renamed.to_netcdf(path)
    code, stdout, _ = _run(capsys, "validate", str(path))
    assert code == 0
    assert stdout.splitlines()[-2:] == [
        "note: not used: 'Lai_500m' (no declared variable has these names)",
        "  if 'Lai_500m' is leaf area index, pass roles={'lai': 'Lai_500m'}"]


def test_console_script_one_line_error(tmp_path):
    """As users run it: a separate process, exit status 1, one line on stderr."""
    result = subprocess.run([sys.executable, "-m", "xdifferland.cli", "fit",
                             str(tmp_path / "absent.toml")], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"xdifferland: error: configuration file not found: {tmp_path / 'absent.toml'}"]


def _current_umask() -> int:
    mask = os.umask(0)  # tests run single-threaded: the swap is safe here
    os.umask(mask)
    return mask


def _state(folder):
    """Bytes and mtime of every file under ``folder``, hidden ones included."""
    return {p.relative_to(folder): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_run_files_follow_the_umask(fitted):
    Umask(_current_umask()).check(fitted)  # model, config, results, checkpoints folder and file


def test_finished_run(fitted, tmp_path):
    assert "finished (model.npz, 1 epoch);" in finished_run(fitted, None)
    assert finished_run(fitted, 1) and finished_run(fitted, 2) is None  # more epochs: resume
    assert finished_run(tmp_path, None) is None
    (tmp_path / "model.npz").write_bytes(b"not a model")
    assert finished_run(tmp_path, None) is None


def test_resume_of_a_finished_run(fitted, world_nc, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(fitted, run)
    orphans = [run / ".model.npz.k1ll3d_0.tmp",
               run / "checkpoints" / ".checkpoint.npz.k1ll3d_1.tmp"]
    for orphan in orphans:
        orphan.write_bytes(b"")  # what kill -9 during a write leaves
    config = tmp_path / "run.toml"
    config.write_text(_config(world_nc, run))
    before = _state(run)
    code, stdout, stderr = _run(capsys, "fit", str(config), "--resume")
    assert code == 0, stderr
    assert "finished" in stdout and "nothing was changed" in stdout and "--overwrite" in stdout
    assert _state(run) == before  # model.npz, config.toml, ... byte-identical and untouched
    # --overwrite: the outputs are written again (training is over: no epoch is added), and the
    # temporaries the killed run left are gone
    code, _, stderr = _run(capsys, "--quiet", "fit", str(config), "--resume", "--overwrite")
    assert code == 0, stderr
    after = _state(run)
    assert not any(o.exists() for o in orphans)
    for name in ("model.npz", "config.toml", "parameters.nc"):
        assert after[Path(name)][1] > before[Path(name)][1], name
    assert xdifferland.load_model(run / "model.npz").config.epochs == 1
