"""Model and checkpoint files are validated completely at load, before anything uses them."""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zipfile
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

import xdifferland
from xdifferland import DifferLandModel, FitConfig, ModelFileError, NetworkConfig
from xdifferland.engine.water_stress import init_water_stress
from xdifferland.errors import ModelFileError as FromErrors
from xdifferland.network import init_network
from xdifferland.training.batches import Standardization
from xdifferland.training.checkpoint import ModelFileError as FromCheckpoint
from xdifferland.training.checkpoint import read_arrays
from xdifferland.training.loop import _load_checkpoint, _save_checkpoint
from xdifferland.training.model_file import manifest

PREDICTORS = ("needleleaf_forest", "grassland", "elevation")
NETWORK = NetworkConfig(width=8, depth=2)


def make_model(water_stress: str = "default", n_predictors: int = 3) -> DifferLandModel:
    """A small untrained model, built without fitting (only the network's initialization)."""
    config = FitConfig(epochs=1, network=NETWORK, water_stress=water_stress)
    weights = dict(init_network(NETWORK, n_predictors, 0))
    if water_stress != "default":
        weights["water_stress"] = init_water_stress(water_stress, 0)
    names, n = PREDICTORS[:n_predictors], n_predictors
    std = Standardization(names, np.zeros(n), np.ones(n), 0.5, 0.25, -np.ones(n), np.ones(n))
    return DifferLandModel(weights=jax.tree_util.tree_map(np.asarray, weights), config=config,
                           standardization=std, predictors=names,
                           splits={"train": (0, 1), "dev": (2,), "test": (3,)},
                           history={"train_loss": [1.0]}, metadata={"model": "DALEC993"})


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return make_model().save(tmp_path_factory.mktemp("model") / "model.npz")


def rewrite(source: Path, target: Path, edit, *, keep_manifest: bool = False) -> Path:
    """Copy a file through ``edit(arrays, meta)``, as a user or a bug would (plain ``np.savez``);
    the manifest is renewed unless ``keep_manifest``, so the checks behind it are reached."""
    with np.load(source, allow_pickle=False) as stored:
        arrays = dict(stored)
    meta = json.loads(arrays.pop("__metadata__").tobytes())
    edit(arrays, meta)
    if not keep_manifest:
        meta["arrays"] = manifest(arrays)
    arrays["__metadata__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(target, **arrays)
    return target


def _set(key, value):
    def edit(arrays, meta):
        node = meta
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return edit


def _all_nan(arrays, meta):
    for name in arrays:
        arrays[name] = np.full_like(arrays[name], np.nan)


def _one_inf(arrays, meta):
    arrays["weights/process_head/bias"] = arrays["weights/process_head/bias"].copy()
    arrays["weights/process_head/bias"][3] = np.inf


CORRUPTIONS = {
    "wrong weight shape": (
        lambda a, m: a.update({"weights/embedding_1/kernel": np.zeros((8, 9), np.float32)}),
        "weights/embedding_1/kernel: expected shape (8, 8)"),
    "missing weight": (lambda a, m: a.pop("weights/process_head/bias"),
                       "weights/process_head/bias: missing"),
    "extra array": (lambda a, m: a.update({"weights/extra": np.zeros(2, np.float32)}),
                    "weights/extra: not part of"),
    "integer weights": (
        lambda a, m: a.update({"weights/process_head/bias": np.zeros(31, np.int32)}),
        "expected floating-point values"),
    "changed network width": (_set("config.network.width", 16),
                              "written for a network of width 8, but the stored configuration "
                              "says width 16"),
    "changed network depth": (_set("config.network.depth", 3),
                              "weights/embedding_2/kernel: missing"),
    "absurd network depth": (_set("config.network.depth", 10**6), "depth 1000000"),
    "shortened predictor list": (_set("predictors", list(PREDICTORS[:2])),
                                 "first layer takes 3 predictors but the file lists 2"),
    "standardization of other predictors": (
        _set("standardization.names", ["a", "b", "c"]), "standardization: made for"),
    "standardization too short": (_set("standardization.mean", [0.0, 0.0]),
                                  "standardization: mean has shape (2,) for 3 predictors"),
    "zero standard deviation": (_set("standardization.std", [1.0, 0.0, 1.0]),
                                "standard deviations are not all positive"),
    "NaN weights": (_all_nan, "weights/embedding_0/kernel: 24 of 24 values are NaN"),
    "one infinite weight": (_one_inf, "weights/process_head/bias: 1 of 31 values"),
    "format version -1": (_set("format_version", -1), "invalid format version -1"),
    "format version as text": (_set("format_version", "1"), "invalid format version '1'"),
    "format version too new": (_set("format_version", 99), "newer xdifferland"),
    "other format tag": (_set("format", "something-else"), "not an xdifferland model file"),
    "checkpoint loaded as model": (_set("kind", "checkpoint"), "training checkpoint, not a model"),
    "unreadable settings": (_set("config.network", {"width": "wide"}),
                            "unreadable training settings"),
    "splits missing": (lambda a, m: m.pop("splits"), "splits: expected lists"),
}


@pytest.mark.parametrize("edit, fragment", CORRUPTIONS.values(), ids=list(CORRUPTIONS))
def test_a_corrupted_model_file_is_refused_with_what_is_wrong(model_file, tmp_path, edit,
                                                              fragment):
    bad = rewrite(model_file, tmp_path / "bad.npz", edit)
    with pytest.raises(ModelFileError, match="bad.npz") as caught:
        xdifferland.load_model(bad)
    assert fragment in str(caught.value)


def test_every_problem_is_reported_at_once_with_what_to_do(model_file, tmp_path):
    def edit(arrays, meta):
        arrays["weights/embedding_1/kernel"] = np.zeros((8, 9), np.float32)
        del arrays["weights/process_head/bias"]
        meta["standardization"]["mean"] = [0.0]

    bad = rewrite(model_file, tmp_path / "bad.npz", edit)
    with pytest.raises(ModelFileError, match=r"\(3 problems\)") as caught:
        xdifferland.load_model(bad)
    message = str(caught.value)
    assert "found (8, 9)" in message and "process_head/bias: missing" in message
    assert "re-save it from the fitted model" in message


def test_a_manifest_that_disagrees_with_the_arrays_is_refused(model_file, tmp_path):
    edit = CORRUPTIONS["wrong weight shape"][0]
    bad = rewrite(model_file, tmp_path / "bad.npz", edit, keep_manifest=True)
    with pytest.raises(ModelFileError, match=r"the metadata declares shape \(8, 8\) of float32, "
                                             r"the file holds \(8, 9\)"):
        xdifferland.load_model(bad)


def _crafted(model_file: Path, target: Path) -> tuple[Path, int]:
    """A small file whose weight member's header claims a (40000, 20000) float32 array (3.2
    GB) over 1 MB of zeros; returns the file and where its central-directory entry is."""
    with zipfile.ZipFile(model_file) as archive:
        meta = archive.read("__metadata__.npy")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (40_000, 20_000)})
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("__metadata__.npy", meta)
        archive.writestr("weights/embedding_0/kernel.npy", header.getvalue() + bytes(2**20))
    return target, len(header.getvalue())


def _refused_within(path: Path, fragment: str, limit: int = 32 * 2**20) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=fragment):
            xdifferland.load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit, f"refusing the file allocated {peak / 2**20:.0f} MiB"


def test_a_header_claiming_a_huge_array_is_refused_without_allocating(model_file, tmp_path):
    crafted, _ = _crafted(model_file, tmp_path / "crafted.npz")
    assert crafted.stat().st_size < 100_000
    _refused_within(crafted, r"declaring shape \(40000, 20000\) of float32")


def test_a_zip_directory_claiming_gigabytes_is_refused_without_decompressing(model_file,
                                                                            tmp_path):
    crafted, header = _crafted(model_file, tmp_path / "crafted.npz")
    data = bytearray(crafted.read_bytes())
    # the central directory's uncompressed size of the weight member, as a crafted file sets it
    entry = data.index(b"PK\x01\x02")
    while not data[entry + 46:].startswith(b"weights/embedding_0/kernel.npy"):
        entry = data.index(b"PK\x01\x02", entry + 1)
    data[entry + 24:entry + 28] = struct.pack("<I", header + 40_000 * 20_000 * 4)
    crafted.write_bytes(bytes(data))
    _refused_within(crafted, "declares 3,051.8 MiB of arrays but is only")


class _Payload:
    """Unpickling this would create ``marker``: proof that no code ran if it does not exist."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_payload_is_refused_and_never_run(model_file, tmp_path):
    marker = tmp_path / "pickle-ran"
    with np.load(model_file, allow_pickle=False) as stored:
        arrays = dict(stored)
    arrays["weights/process_head/bias"] = np.array([_Payload(marker)], dtype=object)
    np.savez(tmp_path / "bad.npz", **arrays)  # np.save pickles object arrays
    with pytest.raises(ModelFileError, match="as Python objects"):
        xdifferland.load_model(tmp_path / "bad.npz")
    assert not marker.exists()


@pytest.mark.parametrize("content, fragment", [
    (b"hello, this is a text file\n", "not a readable xdifferland file"),
    (None, "no xdifferland metadata"),
], ids=["text file", "npz of someone else"])
def test_files_that_are_not_ours_are_refused(tmp_path, content, fragment):
    path = tmp_path / "model.npz"
    if content is None:
        np.savez(path, a=np.zeros(3))
    else:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match=fragment):
        xdifferland.load_model(path)


def test_the_error_is_one_class_everywhere():
    assert ModelFileError is FromErrors is FromCheckpoint
    assert issubclass(ModelFileError, ValueError)


@pytest.mark.parametrize("water_stress", ["default", "gpp_acm_et_nn"])
def test_a_good_model_loads_and_round_trips(tmp_path, water_stress):
    model = make_model(water_stress)
    path = model.save(tmp_path / "model.npz")
    loaded = xdifferland.load_model(path)
    assert loaded.config == model.config and loaded.predictors == model.predictors
    assert loaded.splits == model.splits and loaded.history == model.history
    np.testing.assert_array_equal(loaded.standardization.upper, model.standardization.upper)
    for a, b in zip(jax.tree_util.tree_leaves(loaded.weights),
                    jax.tree_util.tree_leaves(model.weights)):
        np.testing.assert_array_equal(a, b)
    arrays, meta = read_arrays(path)  # the generic reader validates too
    assert set(meta["arrays"]) == set(arrays)


def test_a_model_file_without_the_manifest_still_loads(model_file, tmp_path):
    older = rewrite(model_file, tmp_path / "older.npz", lambda a, m: None)
    older = rewrite(older, tmp_path / "oldest.npz", lambda a, m: m.pop("arrays"),
                    keep_manifest=True)
    assert xdifferland.load_model(older).predictors == PREDICTORS


# --- checkpoints (fit(..., resume=)) -------------------------------------------------------
@pytest.fixture(scope="module")
def run_state():
    """A checkpoint's worth of state, built without training: config, weights, Adam state."""
    model = make_model()
    weights = jax.tree_util.tree_map(np.asarray, dict(model.weights))
    return model.config, weights, optax.adam(1e-3).init(weights)


@pytest.fixture
def checkpoint(run_state, tmp_path):
    config, weights, opt_state = run_state
    path = tmp_path / "checkpoint.npz"
    _save_checkpoint(path, weights, opt_state, 3, 0, {"train_loss": [3.0, 2.0, 1.0]}, config,
                     average=weights)
    return path


def test_a_good_checkpoint_resumes(run_state, checkpoint):
    config, weights, opt_state = run_state
    w, o, epoch, restarts, history, average = _load_checkpoint(checkpoint, config, weights,
                                                               opt_state)
    assert epoch == 3 and restarts == 0 and average is not None
    for a, b in zip(jax.tree_util.tree_leaves(o), jax.tree_util.tree_leaves(opt_state)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("edit, fragment", [
    (lambda a, m: a.pop("optimizer/0001"), "optimizer/0001: missing"),
    (lambda a, m: a.update({"optimizer/0002": np.full_like(a["optimizer/0002"], np.nan)}),
     "optimizer/0002: 24 of 24 values are NaN"),
    (lambda a, m: a.update({"average/process_head/bias": np.zeros(5, np.float32)}),
     "average/process_head/bias: expected shape (31,) for this run, found (5,)"),
    (_set("epoch", -1), "epoch: missing or not a count"),
    (_set("kind", "model"), "is a saved model, not a training checkpoint"),
    (_set("format_version", -1), "invalid format version -1"),
], ids=["missing optimizer leaf", "NaN optimizer state", "wrong average shape",
        "negative epoch", "a model as checkpoint", "format version -1"])
def test_a_corrupted_checkpoint_is_refused(run_state, checkpoint, tmp_path, edit, fragment):
    config, weights, opt_state = run_state
    bad = rewrite(checkpoint, tmp_path / "bad.npz", edit)
    with pytest.raises(ModelFileError) as caught:
        _load_checkpoint(bad, config, weights, opt_state)
    assert fragment in str(caught.value)


def test_a_checkpoint_of_other_predictors_says_so(run_state, checkpoint):
    config, _, _ = run_state
    weights = dict(make_model(n_predictors=2).weights)
    with pytest.raises(ModelFileError, match="trained on 3 predictors, this run has 2"):
        _load_checkpoint(checkpoint, config, weights, optax.adam(1e-3).init(weights))


def test_a_checkpoint_of_other_settings_is_refused(run_state, checkpoint):
    config, weights, opt_state = run_state
    other = FitConfig(epochs=1, network=NETWORK, learning_rate=1e-2)
    with pytest.raises(ValueError, match=r"settings differ .* \['learning_rate'\]"):
        _load_checkpoint(checkpoint, other, weights, opt_state)
