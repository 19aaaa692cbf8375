"""Training from a dask-backed (Zarr) Dataset: arrays read a batch at a time, same results."""

from __future__ import annotations

import dask
import dask.array
import jax
import numpy as np
import pytest
import xarray as xr

from xdifferland.datasets import synthetic_world
from xdifferland.training import FitConfig
from xdifferland.training.batches import (Standardization, _patch_order, epoch_batches,
                                          patch_blocks, patch_members)
from xdifferland.training.data import training_data
from xdifferland.training.pixel_store import BoxReader, Columns

#: The world's two patches are 4 x 5 degrees, 8 x 10 cells of 0.5 degrees: chunks of 4 x 5
#: cells are quarter patches, chunks of 8 x 20 cells hold both
PATCH_CHUNKS = {"lat": 4, "lon": 5}
WIDE_CHUNKS = {"lat": 8, "lon": 20}


@pytest.fixture(scope="module")
def world():
    ds, _ = synthetic_world(n_lat=8, n_lon=20, n_years=2, seed=3)
    return ds


@pytest.fixture(scope="module")
def long_world():
    """2 x 12 patches of 8 x 10 cells."""
    ds, _ = synthetic_world(n_lat=16, n_lon=120, n_years=1, seed=3)
    return ds


def _later_years(ds):
    years = ds["time"].dt.year
    return (years > years.min()).broadcast_like(ds["lai"])


@pytest.mark.parametrize("held_out", [False, True])
def test_lazy_arrays_hold_the_values_the_in_memory_arrays_hold(world, held_out):
    kwargs = {"observation_mask": _later_years(world)} if held_out else {}
    eager = training_data(world, **kwargs)
    lazy = training_data(world.chunk(PATCH_CHUNKS), **kwargs)
    assert isinstance(lazy.forcing["t_min"], Columns)
    assert isinstance(lazy.observations["lai"]["value"], Columns)
    assert set(lazy.observations) == set(eager.observations)
    for name, values in eager.forcing.items():
        np.testing.assert_array_equal(np.asarray(lazy.forcing[name]), values, err_msg=name)
    for stream, arrays in eager.observations.items():
        for kind, values in arrays.items():
            if values is None:
                assert lazy.observations[stream][kind] is None
                continue
            np.testing.assert_array_equal(np.asarray(lazy.observations[stream][kind]),
                                          values, err_msg=f"{stream} {kind}")
    np.testing.assert_array_equal(lazy.predictors, eager.predictors)
    np.testing.assert_array_equal(lazy.patch, eager.patch)


@pytest.mark.parametrize(("chunks", "use_uncertainty"),
                         [(PATCH_CHUNKS, False), (WIDE_CHUNKS, False), (PATCH_CHUNKS, True)])
def test_a_fit_from_the_store_equals_the_fit_from_memory(world, chunks, use_uncertainty):
    if use_uncertainty:  # every uncertainty positive (the world has some zero)
        world = world.assign({v: world[v].where(world[v] > 0, 0.1 * world[v].max())
                              for v in world.data_vars if v.endswith("_unc")})
    settings = dict(epochs=2, progress=False, seed=1, observation_mask=_later_years(world),
                    use_uncertainty=use_uncertainty)
    lazy = world.chunk(chunks).differland.fit(**settings)
    assert lazy.config.shuffle_blocks == chunks  # "auto": the store's chunks
    eager = world.differland.fit(shuffle_blocks=chunks, **settings)
    assert lazy.history["train_loss"] == eager.history["train_loss"]
    assert lazy.history["dev_loss"] == eager.history["dev_loss"]
    for a, b in zip(jax.tree_util.tree_leaves(eager.weights),
                    jax.tree_util.tree_leaves(lazy.weights)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert world.differland.fit(**settings).config.shuffle_blocks is None  # in memory: free


def _recording(ds, name):
    """``ds`` with ``name``'s chunk reads appended to the returned list (array locations)."""
    computed = []

    def record(block, block_info=None):
        computed.append(tuple(tuple(r) for r in block_info[0]["array-location"]))
        return block

    ds = ds.copy()
    ds[name] = ds[name].copy(data=dask.array.map_blocks(record, ds[name].data, dtype=float))
    return ds, computed


def test_an_epoch_reads_each_store_chunk_once(long_world):
    chunks = {"lat": 8, "lon": 20}  # 12 chunks of 2 patches, more than a reader keeps open
    lazy, computed = _recording(long_world.chunk(chunks), "t_min")
    data = training_data(lazy)
    members = patch_members(data)
    blocks = patch_blocks(data, members, chunks)
    assert len(set(blocks.tolist())) == 12 and len(blocks) == 24
    std = Standardization.from_training(data, np.arange(data.n_pixels))
    patches = np.arange(24)

    def one_epoch(blocks):
        computed.clear()
        batches = list(epoch_batches(data, patches, members, 80, std, np.ones(24, bool),
                                     np.random.default_rng(0), blocks=blocks))
        assert len(batches) == 24
        return list(computed)

    by_blocks = one_epoch(blocks)
    assert sorted(by_blocks) == sorted(set(by_blocks)) and len(by_blocks) == 12
    assert len(one_epoch(None)) > 12  # freely shuffled patches come back to evicted chunks


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("open_blocks", [1, 2, 3])
def test_shuffled_blocks_keep_their_patches_together(seed, open_blocks):
    blocks = np.array([2, 0, 1, 2, 0, 1, 1, 2, 0, 3, 3])
    patches = np.array([0, 1, 2, 3, 4, 5, 6, 8, 9, 10])  # patch 7 is not trained on
    order = _patch_order(patches, blocks, np.random.default_rng(seed), open_blocks)
    assert sorted(order.tolist()) == patches.tolist()
    # the blocks in order of first appearance, open_blocks at a time, form the windows: every
    # patch of a window comes before every patch of the next
    first_seen = list(dict.fromkeys(blocks[order].tolist()))
    window = {b: i // open_blocks for i, b in enumerate(first_seen)}
    windows = [window[b] for b in blocks[order].tolist()]
    assert windows == sorted(windows) and max(windows) == (4 - 1) // open_blocks


def test_shuffle_blocks_must_name_spatial_dims(world):
    with pytest.raises(ValueError, match="shuffle_blocks names \\['x'\\].*'lat', 'lon'"):
        world.differland.fit(epochs=1, progress=False, shuffle_blocks={"x": 4})
    with pytest.raises(ValueError, match="shuffle_blocks="):
        FitConfig(shuffle_blocks={"lat": 0})


def test_reading_one_patch_computes_only_that_patch(world):
    lazy, computed = _recording(world.chunk(PATCH_CHUNKS), "t_min")
    data = training_data(lazy)
    one_patch = np.flatnonzero(data.patch == data.patch[0])
    rows, cols = (np.asarray([world.indexes[d].get_loc(v) for v in data.pixel_index[d].values[
        one_patch]]) for d in ("lat", "lon"))
    computed.clear()
    data.forcing["t_min"][:, one_patch]
    n_chunks = np.prod([len(c) for c in lazy["t_min"].chunks[1:]])
    assert 0 < len(computed) < n_chunks
    for _, (r0, r1), (c0, c1) in computed:  # every chunk read overlaps the patch
        assert r0 <= rows.max() and rows.min() < r1 and c0 <= cols.max() and cols.min() < c1


def test_columns_of_a_box_reader_pick_the_right_pixels():
    values = np.arange(3 * 4 * 5, dtype=float).reshape(3, 4, 5)
    da = xr.DataArray(dask.array.from_array(values, chunks=(3, 2, 2)),
                      dims=("time", "y", "x"))
    kept = np.array([[0, 0], [1, 3], [3, 4], [2, 1]])
    reader = BoxReader(kept, ("y", "x"), 3)
    reader.register("v", da)
    twice = Columns(reader, ("v",), len(kept), lambda v: 2 * v)
    plain = Columns(reader, ("v",), len(kept))
    pick = np.array([3, 1])
    expected = values[:, kept[pick, 0], kept[pick, 1]]
    np.testing.assert_array_equal(plain[:, pick], expected)
    np.testing.assert_array_equal(twice[:, pick], 2 * expected)
    assert plain.sum() == values[:, kept[:, 0], kept[:, 1]].sum()
    with pytest.raises(IndexError, match=r"columns\[:, pixels\]"):
        plain[0]


def test_unusable_uncertainties_of_a_store_are_reported_as_from_memory(world):
    from xdifferland.errors import ValidationError

    bad = world.assign(lai_unc=world["lai_unc"].where(world["lat"] > world["lat"][2], 0.0))
    messages = []
    for ds in (bad, bad.chunk(PATCH_CHUNKS)):
        with pytest.raises(ValidationError) as raised:
            training_data(ds, use_uncertainty=True)
        messages.append(str(raised.value))
    assert "lai_unc" in messages[0] and messages[1] == messages[0]


def _reader_of(values: np.ndarray, kept: np.ndarray) -> BoxReader:
    """A reader of ``values`` (``time, y, x``, chunks of 2 x 2 cells) as "v" at ``kept``."""
    reader = BoxReader(kept, ("y", "x"), values.shape[0])
    reader.register("v", xr.DataArray(dask.array.from_array(values, chunks=(3, 2, 2)),
                                      dims=("time", "y", "x")))
    return reader


def test_float32_stores_are_read_as_float32():
    values = np.arange(3 * 4 * 6, dtype=np.float32).reshape(3, 4, 6)
    kept = np.array([[y, x] for y in range(4) for x in range(6)])
    reader = _reader_of(values, kept)
    for box in (np.array([0, 1, 6, 7]), np.array([23, 5, 0])):  # one chunk, several
        got = Columns(reader, ("v",), len(kept))[:, box]
        assert got.dtype == np.float32  # a batch converts it, exactly as a float64 copy
        np.testing.assert_array_equal(got, values[:, kept[box, 0], kept[box, 1]])


def test_arrays_read_on_demand_are_left_out_of_the_batch_reads():
    values = np.arange(3 * 4 * 6, dtype=float).reshape(3, 4, 6)
    kept = np.array([[0, 0], [1, 1], [3, 5], [2, 4]])
    read = []

    def record(block):
        read.append(block.shape)
        return block

    rare = dask.array.from_array(-values, chunks=(3, 2, 2)).map_blocks(record, dtype=float)
    reader = _reader_of(values, kept)
    reader.register("u", xr.DataArray(rare, dims=("time", "y", "x")), on_demand=True)
    read.clear()  # (dask may call record on an empty block to learn its type)
    pick = np.array([2, 3])
    np.testing.assert_array_equal(Columns(reader, ("v",), 4)[:, pick],
                                  values[:, kept[pick, 0], kept[pick, 1]])
    assert read == []
    np.testing.assert_array_equal(Columns(reader, ("u",), 4)[:, pick],
                                  -values[:, kept[pick, 0], kept[pick, 1]])
    assert read


@pytest.mark.parametrize("chunked", [False, True])
def test_batches_without_uncertainty_do_not_read_it(world, chunked):
    ds = world.chunk(PATCH_CHUNKS) if chunked else world
    ds, computed = _recording(ds, "lai_unc") if chunked else (ds, [])
    data = training_data(ds)
    members = patch_members(data)
    std = Standardization.from_training(data, np.arange(data.n_pixels))
    computed.clear()
    patches = np.arange(data.n_patches)
    for uncertain in ((), ("sif",), None):
        (batch, *_) = epoch_batches(data, patches, members, 80, std,
                                    np.ones(data.n_patches, bool), None, uncertain=uncertain)
        assert (batch.observations["lai"].uncertainty is None) == (uncertain is not None)
        assert (batch.observations["sif"].uncertainty is None) == (uncertain == ())
        if uncertain is not None:
            assert computed == []
    assert computed or not chunked


def test_a_fit_from_a_store_checks_values_as_from_memory(world):
    from xdifferland.errors import ValidationError

    bad = world.copy(deep=True)
    bad["precipitation"][3, 2, 4] = -40.0  # impossible
    bad["t_min"][5, 1, 1] = np.nan  # a gap in the forcing
    messages = []
    for ds in (bad, bad.chunk(PATCH_CHUNKS)):
        with pytest.raises(ValidationError) as raised:
            ds.differland.fit(epochs=1, progress=False)
        messages.append(str(raised.value))
    assert "precipitation" in messages[0] and "t_min" in messages[0]
    assert messages[1] == messages[0]


@pytest.mark.parametrize("seed", range(4))
def test_pixels_inside_one_chunk_are_gathered_from_their_box(seed):
    """The fast path (every array's chunk holds the batch): any pixels of a chunk, in any
    order, from plain, broadcast (a series repeated over space) and integer arrays."""
    rng = np.random.default_rng(seed)
    values = rng.random((5, 6, 8))
    series = np.broadcast_to(rng.random(5)[:, None, None], (5, 6, 8))
    counts = rng.integers(0, 9, (5, 6, 8))
    kept = np.argwhere(rng.random((6, 8)) < 0.8)
    reader = BoxReader(kept, ("y", "x"), 5)
    for name, array in [("values", values), ("series", series), ("counts", counts)]:
        reader.register(name, xr.DataArray(dask.array.from_array(array, chunks=(5, 3, 4)),
                                           dims=("time", "y", "x")))
    in_chunk = np.flatnonzero((kept[:, 0] >= 3) & (kept[:, 1] < 4))  # the chunk at (1, 0)
    pick = rng.permutation(in_chunk)[:max(1, int(rng.integers(1, len(in_chunk) + 1)))]
    for name, array in [("values", values), ("series", series), ("counts", counts)]:
        got = Columns(reader, (name,), len(kept))[:, pick]
        np.testing.assert_array_equal(got, array[:, kept[pick, 0], kept[pick, 1]])
        assert got.dtype == np.float64 and got.shape == (5, len(pick))
