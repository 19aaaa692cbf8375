"""Minibatches: the padding of a short patch, the masks, and the coarse streams' switch."""

from __future__ import annotations

import numpy as np
import pytest

from xdifferland.datasets import synthetic_world
from xdifferland.training.batches import Standardization, build_batch, patch_members
from xdifferland.training.data import COARSE_STREAMS, training_data

#: 8 x 10-cell patches; chunks of 4 x 5 cells hold a quarter patch each
CHUNKS = {"lat": 4, "lon": 5}


@pytest.fixture(scope="module", params=["memory", "store"])
def data(request):
    ds, _ = synthetic_world(n_lat=8, n_lon=20, n_years=1, seed=5)
    return training_data(ds if request.param == "memory" else ds.chunk(CHUNKS))


@pytest.mark.parametrize("coarse_ok", [True, False])
@pytest.mark.parametrize("share", [1.0, 0.5, 0.0])
def test_a_batch_holds_its_pixels_and_zeros_in_its_padding(data, share, coarse_ok):
    """A whole patch fills its batch; part of one (at least a pixel) is padded."""
    members = patch_members(data)
    largest = max(members, key=len)
    size = len(largest)
    std = Standardization.from_training(data, np.concatenate(members))
    n_real = max(1, round(share * size))
    pixels = np.random.default_rng(n_real).permutation(largest)[:n_real]
    assert len(pixels) == n_real
    batch = build_batch(data, pixels, size, std, coarse_ok)
    assert batch.valid.dtype == np.float32
    np.testing.assert_array_equal(batch.valid, np.arange(size) < n_real)
    padded = np.concatenate([pixels, np.full(size - n_real, pixels[0])])
    np.testing.assert_array_equal(batch.forcing.t_min,
                                  np.asarray(data.forcing["t_min"], np.float32)[:, padded])
    for stream, obs in data.observations.items():
        got = batch.observations[stream]
        value = np.asarray(obs["value"], np.float32)[:, pixels]
        mask = np.asarray(obs["mask"], np.float32)[:, pixels]
        assert got.value.dtype == got.mask.dtype == np.float32
        assert got.uncertainty is not None  # all streams' by default (uncertain=None)
        np.testing.assert_array_equal(got.value[:, :n_real], value, err_msg=stream)
        np.testing.assert_array_equal(got.value[:, n_real:], 0.0, err_msg=stream)
        np.testing.assert_array_equal(got.uncertainty[:, n_real:], 1.0, err_msg=stream)
        if stream in COARSE_STREAMS and not coarse_ok:
            np.testing.assert_array_equal(got.mask, 0.0, err_msg=stream)
        else:
            np.testing.assert_array_equal(got.mask[:, :n_real], mask, err_msg=stream)
            np.testing.assert_array_equal(got.mask[:, n_real:], 0.0, err_msg=stream)
        assert set(np.unique(got.mask)) <= {0.0, 1.0}


def test_unobserved_values_enter_a_batch_as_zeros(data):
    members = patch_members(data)
    std = Standardization.from_training(data, np.concatenate(members))
    batch = build_batch(data, members[0], max(len(m) for m in members), std, True)
    gaps = {s for s, got in batch.observations.items() if (got.mask == 0).any()}
    assert {"gpp_ec", "lai", "sif"} <= gaps  # the world's streams have gaps here
    for stream, got in batch.observations.items():
        assert np.isfinite(got.value).all(), stream
        np.testing.assert_array_equal(got.value[got.mask == 0], 0.0, err_msg=stream)
