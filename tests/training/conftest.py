"""Fixtures shared by the training tests: a small world and a stopped-job callback factory."""

from __future__ import annotations

import pytest

from xdifferland.datasets import synthetic_world

#: 160 cells, 2 patches of 4x5 degrees, 2 years: small enough to fit in seconds.
SMALL = dict(n_lat=8, n_lon=20, n_years=2, seed=3)


@pytest.fixture(scope="module")
def small_world():
    return synthetic_world(**SMALL)


@pytest.fixture
def stop_after():
    """``stop_after(n)``: a ``fit`` callback that interrupts the run after epoch ``n``, as a
    killed job would (the checkpoint written so far stays)."""
    def make(last_epoch: int):
        def callback(epoch, history):
            if epoch == last_epoch:
                raise KeyboardInterrupt
        return callback
    return make
