"""fit(): splits, progress, checkpoints and resume, NaN restarts, model files."""

from __future__ import annotations

import json
import warnings
import zipfile

import jax
import numpy as np
import optax
import pytest
import xarray as xr

import xdifferland
from xdifferland.datasets import synthetic_world
from xdifferland.engine import LossTerm
from xdifferland.training import FitConfig, TrainingError, fit, split_patches
from xdifferland.training.checkpoint import ModelFileError

@pytest.fixture(scope="module")
def trained(small_world):
    ds, _ = small_world
    return fit(ds, epochs=2, progress=False, seed=1)


def leaves(model):
    return jax.tree_util.tree_leaves(model.weights)


def test_fit_returns_an_immutable_model_with_everything_needed(trained, small_world):
    ds, _ = small_world
    model = trained
    assert len(model.history["train_loss"]) == 2
    assert np.isfinite(model.history["train_loss"]).all()
    terms = model.history["train_terms"]
    assert {"lai", "sif", "nbe", "edc"} <= set(terms)
    assert all(len(values) == 2 for values in terms.values())
    # the terms add up to the total of each epoch
    np.testing.assert_allclose(np.sum(list(terms.values()), axis=0),
                               model.history["train_loss"], rtol=1e-5)
    assert model.predictors == xdifferland.training.data.default_predictors(ds)
    assert model.metadata["xdifferland_version"] == xdifferland.__version__
    with pytest.raises(AttributeError):
        model.config = None


def test_accessor_and_function_give_the_same_model(small_world, trained):
    ds, _ = small_world
    again = ds.differland.fit(epochs=2, progress=False, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(leaves(again), leaves(trained)))


def test_parameters_cover_every_registry_entry_with_units(trained, small_world):
    ds, _ = small_world
    params = ds.differland.parameters(trained)
    assert set(params.data_vars) == {p.name for p in xdifferland.PARAMETERS} | {"extrapolation"}
    assert params["leaf_carbon_mass_per_area"].attrs["units"] == "g m-2"
    assert params["canopy_efficiency"].dims == ("lat", "lon")
    ocean = ds["mean_annual_temperature"].isnull()
    assert bool(params["canopy_efficiency"].where(ocean).isnull().all())


def test_parameters_for_new_locations(trained):
    elsewhere, _ = synthetic_world(n_lat=4, n_lon=4, n_years=1, seed=9,
                                   lat_range=(40.0, 42.0), lon_range=(0.0, 2.0))
    with pytest.warns(xdifferland.ExtrapolationWarning, match="and [0-9]+ more predictors"):
        params = trained.parameters(elsewhere)  # a colder, drier world than the trained one
    valid = elsewhere["mean_annual_temperature"].notnull()
    assert bool(params["canopy_efficiency"].where(valid).notnull().sum() == valid.sum())



def test_training_range_is_stored_and_checked(trained, small_world):
    ds, _ = small_world
    std = trained.standardization
    mat = ds["mean_annual_temperature"]
    k = std.names.index("mean_annual_temperature")
    assert std.lower[k] >= float(mat.min()) and std.upper[k] <= float(mat.max())
    with warnings.catch_warnings():
        warnings.simplefilter("error", xdifferland.ExtrapolationWarning)
        trained.parameters(ds.where(mat <= std.upper[k]))  # inside the range: no warning

    # 8 degC beyond the hottest trained location: still a plausible climate, outside the range
    hot = ds.assign(mean_annual_temperature=mat + 8.0 * (mat > std.upper[k] - 1.0))
    n_hot = int(((hot["mean_annual_temperature"] > std.upper[k]) & mat.notnull()).sum())
    with pytest.warns(xdifferland.ExtrapolationWarning,
                      match=rf"{n_hot} of .*mean_annual_temperature: {n_hot} locations.*'clip'"):
        free = trained.parameters(hot)
    clipped = trained.parameters(hot, extrapolation="clip")
    edge = trained.parameters(hot.assign(mean_annual_temperature=hot["mean_annual_temperature"]
                                         .clip(max=std.upper[k])), extrapolation="allow")
    # Clipping gives exactly the parameters at the edge of the range; extrapolating does not.
    # The per-location score still says how far the data lie beyond the range.
    xr.testing.assert_identical(clipped.drop_vars("extrapolation"),
                                edge.drop_vars("extrapolation"))
    assert int((clipped["extrapolation"] > 0).sum()) == n_hot
    assert float(edge["extrapolation"].max()) == 0.0
    assert not free["canopy_efficiency"].equals(clipped["canopy_efficiency"])
    with pytest.raises(ValueError, match="extrapolation"):
        trained.parameters(ds, extrapolation="extend")

def test_simulate_and_evaluate(trained, small_world):
    ds, _ = small_world
    out = trained.simulate(ds, ["lai", "gpp"])
    assert out["lai"].dims == ("time", "lat", "lon")
    skill = trained.evaluate(ds, "all", warmup_months=6)
    assert {"lai", "sif", "et"} <= set(skill["variable"].values)
    assert np.isfinite(skill["rmse"].sel(variable="lai"))
    assert skill["temporal_nse"].dims == ("variable", "lat", "lon")


@pytest.mark.parametrize(("n", "expected"), [(30, (24, 3, 3)), (4, (2, 1, 1)), (2, (2, 0, 0))])
def test_split_sizes(n, expected):
    s = split_patches(n, FitConfig())
    assert (len(s.train), len(s.dev), len(s.test)) == expected
    assert len(set(s.train) | set(s.dev) | set(s.test)) == n


def _warnings_of(logger_name: str, run):
    """Messages of the WARNING records ``logger_name`` emits while ``run()`` runs, and its
    result (a handler of its own: the command line's tests switch propagation off)."""
    import logging

    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        result = run()
    finally:
        logger.removeHandler(handler)
    return [r.getMessage() for r in records], result


def test_a_fit_without_held_out_patches_says_so_and_evaluate_refuses(small_world):
    ds, _ = small_world  # 2 patches: nothing can be held out
    said, model = _warnings_of("xdifferland.training",
                               lambda: fit(ds, epochs=1, progress=False))
    assert any(m.startswith("no test and no dev patches: the data form 2 patches") for m in said)
    for split in ("test", "dev"):
        with pytest.raises(ValueError, match=f"the {split} split is empty.*'train' or 'all'"):
            model.evaluate(ds, split, warmup_months=0)
    assert model.evaluate(ds, "train", warmup_months=0).attrs["n_locations"] > 0
    # a Dataset none of whose locations the model trained on has no train/dev/test split: a
    # split is refused with the reason, and by default every location is scored
    far = ds.assign_coords(lat=ds["lat"] + 40.0)
    with pytest.raises(ValueError, match="none of the locations the model was trained on.*"
                                         "no train split.*split='all'"):
        model.evaluate(far, "train", warmup_months=0)
    assert model.evaluate(far, warmup_months=0).attrs["split"] == "all"


def test_a_fit_with_test_and_dev_patches_says_nothing_of_them(small_world):
    ds, _ = small_world
    said, model = _warnings_of("xdifferland.training", lambda: fit(
        ds, epochs=1, progress=False, patch_size=(2.0, 2.5)))  # 8 patches: 6 / 1 / 1
    assert [len(model.splits[k]) for k in ("train", "dev", "test")] == [6, 1, 1]
    assert not any("patches:" in m for m in said)


def test_split_is_seeded():
    a, b = split_patches(50, FitConfig(seed=1)), split_patches(50, FitConfig(seed=2))
    assert not np.array_equal(a.test, b.test)
    np.testing.assert_array_equal(split_patches(50, FitConfig(seed=1)).test, a.test)


def test_resume_after_a_stop_matches_an_uninterrupted_run(small_world, tmp_path, stop_after):
    ds, _ = small_world
    settings = dict(epochs=4, seed=5, checkpoint_every=2, progress=False)
    full = fit(ds, **settings)

    with pytest.raises(KeyboardInterrupt):
        fit(ds, checkpoint_dir=tmp_path, callback=stop_after(3), **settings)
    checkpoint = tmp_path / "checkpoint.npz"
    assert checkpoint.exists()
    resumed = fit(ds, resume=checkpoint, **settings)
    assert resumed.history["train_loss"] == pytest.approx(full.history["train_loss"])
    assert resumed.history["train_terms"]["lai"] == pytest.approx(
        full.history["train_terms"]["lai"])
    assert all(np.array_equal(a, b) for a, b in zip(leaves(resumed), leaves(full)))


def test_average_last_returns_the_mean_of_the_last_epochs_and_resumes(small_world, tmp_path,
                                                                      stop_after):
    ds, _ = small_world
    settings = dict(seed=5, progress=False, checkpoint_every=1)
    third, fourth = (fit(ds, epochs=n, **settings) for n in (3, 4))
    averaged = fit(ds, epochs=4, average_last=0.5, **settings)  # epochs 3 and 4
    for a, b, mean in zip(leaves(third), leaves(fourth), leaves(averaged)):
        np.testing.assert_allclose(mean, (a + b) / 2, rtol=1e-5, atol=1e-7)
    assert averaged.history["train_loss"] == fourth.history["train_loss"]

    with pytest.raises(KeyboardInterrupt):
        fit(ds, epochs=4, average_last=0.5, checkpoint_dir=tmp_path, callback=stop_after(3),
            **settings)
    resumed = fit(ds, epochs=4, average_last=0.5, resume=tmp_path / "checkpoint.npz",
                  **settings)
    assert all(np.array_equal(a, b) for a, b in zip(leaves(resumed), leaves(averaged)))


def test_resume_refuses_different_settings(small_world, tmp_path):
    ds, _ = small_world
    fit(ds, epochs=1, seed=5, checkpoint_every=1, checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="learning_rate"):
        fit(ds, epochs=2, seed=5, learning_rate=1e-2, resume=tmp_path / "checkpoint.npz",
            progress=False)


def test_nan_loss_restarts_then_gives_up(small_world):
    ds, _ = small_world
    poison = LossTerm("poison", 1.0, None, ("gpp",), lambda o, obs, ctx: o["gpp"].sum() * np.nan,
                      "always NaN")
    with pytest.raises(TrainingError, match="NaN"):
        fit(ds, epochs=1, max_restarts=2, extra_terms=[poison], progress=False)


def test_user_term_and_weights_change_the_loss(small_world):
    ds, _ = small_world
    base = fit(ds, epochs=1, seed=2, progress=False)
    extra = LossTerm("mean_gpp", 1e3, None, ("gpp",), lambda o, obs, ctx: o["gpp"].mean(),
                     "pull GPP down")
    with_term = fit(ds, epochs=1, seed=2, progress=False, extra_terms=[extra])
    no_lai = fit(ds, epochs=1, seed=2, progress=False, loss_weights={"lai": 0})
    assert with_term.history["train_loss"][0] > base.history["train_loss"][0]
    assert no_lai.history["train_loss"][0] < base.history["train_loss"][0]


@pytest.mark.parametrize(("steps_per_epoch", "expected"),
                         [(513, 200), (250, 200), (249, 201), (40, 1250), (39, 1283), (1, 50000)])
def test_default_length_is_200_epochs_or_50000_steps(steps_per_epoch, expected):
    assert FitConfig().resolved_epochs(steps_per_epoch) == expected
    assert FitConfig(epochs=7).resolved_epochs(steps_per_epoch) == 7  # a given number wins


def test_fit_records_the_default_length_it_ran(small_world, monkeypatch):
    import xdifferland.training.config as settings

    monkeypatch.setattr(settings, "DEFAULT_EPOCHS", 1)
    monkeypatch.setattr(settings, "MIN_DEFAULT_STEPS", 5)  # 2 patch steps per epoch: 3 epochs
    ds, _ = small_world
    model = fit(ds, progress=False, seed=1)
    assert model.config.epochs == 3
    assert len(model.history["train_loss"]) == 3


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(epochs=2.5), dict(learning_rate=-1.0),
                                 dict(test_fraction=1.5), dict(loss_weights={"nope": 1.0}),
                                 dict(weight_decay=-0.1), dict(average_last=1.0)])
def test_invalid_settings_name_the_setting(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        FitConfig(**bad)


def test_weight_decay_shrinks_kernels_and_keeps_biases():
    from xdifferland.network import NetworkConfig, init_network

    weights = init_network(NetworkConfig(width=4, depth=1), 3, seed=0)
    zero = jax.tree_util.tree_map(np.zeros_like, weights)
    for decay, kernel_factor in ((0.0, 1.0), (0.5, 1.0 - 0.1 * 0.5)):
        optimizer = FitConfig(learning_rate=0.1, weight_decay=decay).optimizer(1)
        updates, _ = optimizer.update(zero, optimizer.init(weights), weights)
        new = optax.apply_updates(weights, updates)
        layer = new["embedding_0"]
        expected = kernel_factor * weights["embedding_0"]["kernel"]
        np.testing.assert_allclose(layer["kernel"], expected, rtol=1e-6)
        np.testing.assert_array_equal(layer["bias"], weights["embedding_0"]["bias"])


def test_model_file_round_trip(trained, small_world, tmp_path):
    ds, _ = small_world
    path = trained.save(tmp_path / "model.npz")
    loaded = xdifferland.load_model(path)
    assert loaded.config == trained.config and loaded.splits == trained.splits
    assert loaded.history == trained.history  # per-term history survives the JSON metadata
    xr.testing.assert_identical(loaded.parameters(ds), trained.parameters(ds))
    np.testing.assert_array_equal(loaded.standardization.upper, trained.standardization.upper)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        trained.save(path)
    trained.save(path, overwrite=True)


def test_model_file_is_safe_and_errors_are_clear(trained, tmp_path):
    path = trained.save(tmp_path / "model.npz")
    with zipfile.ZipFile(path) as archive:  # arrays and JSON only: nothing executable
        assert all(name.endswith(".npy") for name in archive.namelist())
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelFileError, match="corrupted"):
        xdifferland.load_model(truncated)
    newer = tmp_path / "newer.npz"
    arrays = dict(np.load(path, allow_pickle=False))
    meta = json.loads(arrays.pop("__metadata__").tobytes())
    meta["format_version"] = 99
    arrays["__metadata__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(newer, **arrays)
    with pytest.raises(ModelFileError, match="newer xdifferland"):
        xdifferland.load_model(newer)


def test_epoch_sums_read_steps_in_order_and_keep_few_in_flight():
    from xdifferland.training.loop import _EpochSums

    sums = _EpochSums()
    for k in range(5):  # groups of 3 steps; the last entry of each is padding (count 2)
        losses = jax.numpy.asarray([float(k), 10.0 * k, 1e6])
        sums.add(losses, {"lai": 0.5 * losses}, 2)
        assert len(sums._pending) <= _EpochSums._IN_FLIGHT
    total, terms = sums.result()
    assert total == 110.0 and terms == {"lai": 55.0} and not sums._pending


@pytest.mark.parametrize("n, size, counts", [(7, 3, [3, 3, 1]), (6, 3, [3, 3]), (2, 8, [2]),
                                             (0, 4, [])])
def test_groups_stack_batches_in_order_and_pad_the_last(n, size, counts):
    from xdifferland.training.loop import _groups

    batches = [{"x": np.full((2,), float(k))} for k in range(n)]
    groups = list(_groups(iter(batches), size))
    assert [c for _, c in groups] == counts
    assert all(g["x"].shape == (size, 2) for g, _ in groups)
    seen = np.concatenate([g["x"][:c, 0] for g, c in groups]) if groups else np.array([])
    np.testing.assert_array_equal(seen, np.arange(n, dtype=float))
    if groups and counts[-1] < size:  # padding repeats the last real batch
        last, c = groups[-1]
        assert np.all(last["x"][c:] == n - 1)


def test_steps_per_call_changes_speed_not_results():
    ds, _ = synthetic_world(n_lat=4, n_lon=10, n_years=1, seed=5)
    small_patches = dict(epochs=2, seed=1, progress=False, patch_size=(1.0, 1.0))  # 8 trained
    one = fit(ds, steps_per_call=1, **small_patches)
    fused = fit(ds, steps_per_call=3, **small_patches)  # calls of 3, 3 and 2 steps
    for a, b in zip(jax.tree_util.tree_leaves(one.weights),
                    jax.tree_util.tree_leaves(fused.weights)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(one.history["train_loss"], fused.history["train_loss"],
                               rtol=1e-6)
    assert not np.array_equal(one.history["train_loss"][0], one.history["train_loss"][1])
