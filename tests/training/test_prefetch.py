"""Batches built on a background thread: order kept, errors raised, early stops clean."""

from __future__ import annotations

import threading

import pytest

from xdifferland.training.prefetch import prefetched


def test_prefetched_keeps_order_and_raises_the_producers_error():
    assert list(prefetched(iter(range(50)), depth=3)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("store unreadable")

    with pytest.raises(ValueError, match="store unreadable"):
        list(prefetched(failing()))


def test_a_consumer_that_stops_early_stops_the_producer():
    produced = []

    def endless():
        k = 0
        while True:
            produced.append(k)
            yield k
            k += 1

    before = threading.active_count()
    stream = prefetched(endless(), depth=2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()
    assert threading.active_count() == before
    assert len(produced) <= 3 + 2 + 1  # at most a queue's depth (and the item in hand) ahead
