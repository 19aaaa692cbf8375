"""Iterating on a background thread: the next batches are built while the device computes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import queue
import threading
import time

__all__ = ["prefetched"]


def prefetched(batches: Iterable, depth: int = 2, waited: list | None = None) -> Iterator:
    """Iterate ``batches`` from a background thread, ``depth`` items ahead of the consumer.

    Reading and assembling the next batch (from a store, or from memory) overlaps the device's
    work on the current one. The order is unchanged; an exception in the producer is raised in
    the consumer; a consumer that stops early stops the producer. ``waited``, a list, receives
    the seconds the consumer waited for each item.
    """
    items: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
    stop = threading.Event()
    done = object()

    def produce():
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        items.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put((done, None))
        except BaseException as error:  # handed to the consumer, raised there
            items.put((done, error))

    worker = threading.Thread(target=produce, name="xdifferland-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            start = time.perf_counter()
            item, error = items.get()
            if waited is not None:
                waited.append(time.perf_counter() - start)
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                items.get_nowait()
            except queue.Empty:
                pass
            worker.join(timeout=0.05)
