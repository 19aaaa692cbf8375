"""Ensembles fitted as Dask tasks: determinism across schedulers, bootstrap, ranking, files."""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest

import xdifferland
from tests.analysis.conftest import FIT, client, lai_world, make_model  # noqa: F401
from xdifferland import Ensemble, fit_ensemble
from xdifferland.errors import ModelFileError
from xdifferland.tasks import TaskError, run_tasks


@pytest.fixture(scope="module")
def pair(lai_world, client):  # noqa: F811
    ds, _ = lai_world
    on_cluster = fit_ensemble(ds, 2, client=client, **FIT)
    in_process = fit_ensemble(ds, 2, client="synchronous", **FIT)
    return ds, on_cluster, in_process


def _same_weights(a, b):
    leaves = jax.tree_util.tree_leaves(jax.tree_util.tree_map(np.array_equal, a, b))
    return all(leaves)


def test_same_seeds_same_ensemble_on_any_scheduler(pair):
    _, on_cluster, in_process = pair
    assert on_cluster.seeds == in_process.seeds
    assert on_cluster.losses == in_process.losses
    for a, b in zip(on_cluster.members, in_process.members):
        assert _same_weights(a.weights, b.weights)
    assert len(set(on_cluster.seeds)) == 2


def test_bootstrap_resamples_training_patches_only(pair):
    _, ens, _ = pair
    splits = ens.members[0].splits
    for model in ens.members:
        drawn = {int(k) for k in model.metadata["bootstrap_patches"]}
        assert drawn <= set(splits["train"])
        assert sum(model.metadata["bootstrap_patches"].values()) == len(splits["train"])
        assert model.splits == splits  # common split for evaluation
    assert ens.info["bootstrap"] is True


def test_ranking_and_select_best(pair):
    _, ens, _ = pair
    assert list(ens.losses) == sorted(ens.losses)
    best = ens.best(1)
    assert best.losses[0] == min(ens.losses) and len(best) == 1
    with pytest.raises(ValueError, match="select_best"):
        fit_ensemble(pair[0], 2, select_best=3, client="synchronous", **FIT)


def test_member_dim_and_helpers(pair):
    ds, ens, _ = pair
    params = ens.parameters(ds)
    assert params["canopy_efficiency"].dims == ("member", "lat", "lon")
    assert params.member.values.tolist() == list(ens.member_ids)
    assert set(params.coords) >= {"seed", "loss"}
    mean, spread = ens.mean(ds), ens.spread(ds)
    assert "member" not in mean.dims and "member" not in spread.dims
    assert float(mean["leaf_fall_day"].max()) < 365.25
    out = ens.simulate(ds, ["lai"])
    assert out["lai"].dims[0] == "member"
    skill = ens.evaluate(ds, "test")
    assert skill.nse.dims == ("member", "variable")


def test_save_and_load_without_pickle(pair, tmp_path):
    _, ens, _ = pair
    ens.save(tmp_path / "ens")
    files = sorted(os.listdir(tmp_path / "ens"))
    assert files == ["ensemble.json", "member_000.npz", "member_001.npz"] or len(files) == 3
    assert json.loads((tmp_path / "ens" / "ensemble.json").read_text())["kind"]
    back = xdifferland.load_ensemble(tmp_path / "ens")
    assert back.seeds == ens.seeds and back.losses == ens.losses
    assert _same_weights(back.members[0].weights, ens.members[0].weights)
    with np.load(tmp_path / "ens" / files[1], allow_pickle=False) as f:
        assert f.files
    with pytest.raises(FileExistsError):
        ens.save(tmp_path / "ens")


def _untrained(ds, n: int, seed: int = 0) -> Ensemble:
    """An ensemble of untrained members (no fit: these tests are about files)."""
    members = tuple(make_model(ds, ["sand", "clay"], seed=seed + k) for k in range(n))
    return Ensemble(members, tuple(range(n)), tuple(range(seed, seed + n)),
                    tuple(float(k) for k in range(n)), {"made": seed})


def test_save_gives_the_umask_permissions(lai_world, tmp_path, umask):  # noqa: F811
    _untrained(lai_world[0], 2).save(tmp_path / "ens")
    umask.check(tmp_path / "ens")


def test_replacing_an_ensemble(lai_world, tmp_path):  # noqa: F811
    ds, _ = lai_world
    _untrained(ds, 2).save(tmp_path / "ens")
    (tmp_path / "ens" / "notes.txt").write_text("mine")
    new = _untrained(ds, 2, seed=7)
    new.save(tmp_path / "ens", overwrite=True)
    files = sorted(os.listdir(tmp_path / "ens"))
    assert files == ["ensemble.json", "member_000_v1.npz", "member_001_v1.npz", "notes.txt"]
    back = xdifferland.load_ensemble(tmp_path / "ens")
    assert back.seeds == new.seeds and back.info == {"made": 7}
    assert _same_weights(back.members[1].weights, new.members[1].weights)
    _untrained(ds, 1, seed=9).save(tmp_path / "ens", overwrite=True)  # the next version
    assert sorted(os.listdir(tmp_path / "ens")) == ["ensemble.json", "member_000_v2.npz",
                                                    "notes.txt"]


@pytest.mark.parametrize("fail_at", ["second member", "index"])
def test_a_crash_while_replacing_keeps_the_old_ensemble(lai_world, tmp_path,  # noqa: F811
                                                        monkeypatch, fail_at):
    ds, _ = lai_world
    old = _untrained(ds, 2)
    old.save(tmp_path / "ens")
    before = {p.name: p.read_bytes() for p in (tmp_path / "ens").iterdir()}
    saved = []
    real_save = xdifferland.DifferLandModel.save

    def dying_save(self, path, **kwargs):
        if fail_at == "second member" and saved:
            raise KeyboardInterrupt
        saved.append(path)
        return real_save(self, path, **kwargs)

    def dying_index(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(xdifferland.DifferLandModel, "save", dying_save)
    if fail_at == "index":
        monkeypatch.setattr("xdifferland.ensemble_files.write_text_atomic", dying_index)
    with pytest.raises(KeyboardInterrupt):
        _untrained(ds, 2, seed=7).save(tmp_path / "ens", overwrite=True)
    monkeypatch.undo()
    after = {p.name: p.read_bytes() for p in (tmp_path / "ens").iterdir()}
    assert {k: after[k] for k in before} == before  # the old ensemble, whole and untouched
    back = xdifferland.load_ensemble(tmp_path / "ens")
    assert back.seeds == old.seeds
    assert _same_weights(back.members[1].weights, old.members[1].weights)


def test_accessor_forwards(lai_world):  # noqa: F811
    ds, _ = lai_world
    ens = ds.differland.fit_ensemble(1, client="synchronous", bootstrap=False, **FIT)
    assert isinstance(ens, Ensemble) and len(ens) == 1
    assert "bootstrap_patches" in ens.members[0].metadata


def test_a_dead_worker_is_retried(client, tmp_path):  # noqa: F811
    marker = tmp_path / "died-once"

    def die_once(x):
        if x == 1 and not marker.exists():
            marker.write_text("x")
            os._exit(1)  # the worker process dies mid-task
        return x * 10

    assert run_tasks(die_once, [(0,), (1,), (2,)], client=client, retries=2) == [0, 10, 20]
    assert marker.exists()


def test_failing_tasks_are_retried_then_reported(tmp_path):
    calls = tmp_path / "calls"

    def flaky(x):
        n = int(calls.read_text()) if calls.exists() else 0
        calls.write_text(str(n + 1))
        if n < 2:
            raise RuntimeError("transient")
        return x

    assert run_tasks(flaky, [(5,)], client="synchronous", retries=2) == [5]
    with pytest.raises(TaskError, match="failed 2 times"):
        run_tasks(lambda: 1 / 0, [()], client="synchronous", retries=1)


def test_retries_raise_on_the_cluster(client):  # noqa: F811
    def always(x):
        raise ValueError("boom")

    with pytest.raises(TaskError, match="boom"):
        run_tasks(always, [(1,)], client=client, retries=1)


@pytest.mark.parametrize(("damage", "message"), [
    (lambda m: m["members"][0].update(file="../../elsewhere.npz"), "not a member file name"),
    (lambda m: m["members"][1].update(file=m["members"][0]["file"]), "listed twice"),
    (lambda m: m["members"][0].pop("seed"), "'seed' must be a non-negative integer"),
    (lambda m: m["members"][0].update(loss="low"), "'loss' must be a number"),
    (lambda m: m.update(members=[]), "non-empty list"),
    (lambda m: m.update(kind="something-else"), "not an xdifferland ensemble index"),
    (lambda m: m["members"][0].update(file="member_009.npz"), "missing from the folder"),
], ids=["path-outside", "duplicate", "no-seed", "text-loss", "no-members", "kind", "missing"])
def test_damaged_ensemble_index_is_refused(lai_world, tmp_path, damage, message):  # noqa: F811
    _untrained(lai_world[0], 2).save(tmp_path / "ens")
    index = tmp_path / "ens" / "ensemble.json"
    meta = json.loads(index.read_text())
    damage(meta)
    index.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match=message):
        xdifferland.load_ensemble(tmp_path / "ens")


def test_ensemble_index_that_is_not_json_or_huge_is_refused(lai_world, tmp_path):  # noqa: F811
    _untrained(lai_world[0], 1).save(tmp_path / "ens")
    index = tmp_path / "ens" / "ensemble.json"
    index.write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        xdifferland.load_ensemble(tmp_path / "ens")
    index.write_text(" " * (2 << 20))
    with pytest.raises(ModelFileError, match="more than an ensemble index can be"):
        xdifferland.load_ensemble(tmp_path / "ens")
    index.unlink()
    with pytest.raises(ModelFileError, match="has no ensemble.json"):
        xdifferland.load_ensemble(tmp_path / "ens")
