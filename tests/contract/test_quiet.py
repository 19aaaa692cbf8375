"""RuntimeWarnings silenced during value checks, without leaking filters across threads."""

import threading
import warnings

import numpy as np
import pytest

from xdifferland.contract._quiet import runtime_warnings_ignored
from xdifferland.contract.check import validate
from xdifferland.datasets import synthetic_world


def shown(message: str) -> bool:
    """Whether a RuntimeWarning ``message`` raised now would be shown."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn(message, RuntimeWarning)
    return any(str(w.message) == message for w in caught)


def test_the_filters_are_the_same_after_the_block():
    before = list(warnings.filters)
    with runtime_warnings_ignored():
        assert not shown("inside")
    assert warnings.filters == before


def test_overlapping_threads_leave_no_filter_behind():
    """A enters, B enters, A leaves, B leaves: the order in which two catch_warnings blocks
    would leave B's "ignore" installed for good."""
    before = list(warnings.filters)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen_by_b = []

    def a():
        with runtime_warnings_ignored():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with runtime_warnings_ignored():
            b_in.set()
            a_out.wait(5)
            seen_by_b.append(shown("b, after a left"))

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen_by_b == [False]  # B still inside: still silenced after A left
    assert warnings.filters == before
    assert shown("after both")


def test_filters_added_inside_are_kept():
    with warnings.catch_warnings():  # puts the test's own filter away afterwards
        before = list(warnings.filters)
        with runtime_warnings_ignored():
            warnings.filterwarnings("error", message="a user's own filter")
        assert warnings.filters[1:] == before
        with pytest.raises(UserWarning):
            warnings.warn("a user's own filter")


def test_validate_on_threads_leaves_runtime_warnings_shown():
    """Fits validate on threads (site_validation); an all-NaN stream makes the checks warn.

    (dask's and xarray's NaN reductions race the same way with their own filters for the
    messages of empty and all-NaN slices; those are theirs, and narrow.)"""
    ds, _ = synthetic_world(n_lat=4, n_lon=5, n_years=2, seed=0)
    ds["sif"] = ds["sif"] * np.nan
    errors = []

    def check():
        try:
            validate(ds.chunk({"lat": 2}))
        except Exception as error:  # noqa: BLE001  (handed to the test)
            errors.append(error)

    threads = [threading.Thread(target=check) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert shown("any other RuntimeWarning")
