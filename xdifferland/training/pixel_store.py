"""Training arrays read from a lazy (dask, Zarr) Dataset one batch at a time, not held in memory.

:func:`~xdifferland.training.data.training_data` flattens a Dataset into pixel-major
``(time, pixel)`` arrays. For a dask-backed Dataset at paper scale those are 5-6 GB, although
each training step reads one patch. Here each such array is a :class:`Columns`: indexing it as
``columns[:, pixels]`` reads only the bounding box of ``pixels`` in the Dataset's spatial index
space, for every lazily held variable at once (one ``dask.compute`` per batch, cached for the
other variables of the same batch). Patches are lat/lon rectangles, so a box is a patch; with
Zarr chunks aligned to patches it is a handful of chunk reads.

The values are those the in-memory path would hold (the same float64 conversion of the same
prepared arrays), so a fit gives the same result either way for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
import queue
import threading
import time

import dask
import dask.array
import dask.core
from dask.optimization import cull
import numpy as np
import xarray as xr

__all__ = ["BoxReader", "Columns", "is_lazy", "prefetched"]


def is_lazy(da: xr.DataArray) -> bool:
    """Whether ``da`` is backed by a dask array (a lazily read store)."""
    return isinstance(getattr(da, "data", None), dask.array.Array)


class _Blocks:
    """One lazily held array: its chunk graph, optimized once, from which the chunks a box
    needs are computed without dask optimizing the whole graph again on every read."""

    def __init__(self, array):
        if isinstance(array, dask.array.Array):
            (array,) = dask.optimize(array)
            self.graph = dict(array.__dask_graph__())
            self.name = array.name
            self.bounds = [np.cumsum((0,) + c) for c in array.chunks]
        else:
            self.graph, self.array = None, np.asarray(array)

    def plan(self, index: tuple[slice, ...]):
        """The tasks that read ``array[index]`` (slices of unit step), their keys, and a
        function that makes the box from their results: several arrays' plans run as one
        ``dask.get``. A NumPy-backed array needs no task."""
        if self.graph is None:
            return {}, [], lambda blocks: self.array[index]
        ranges, local = [], []
        for bounds, cut in zip(self.bounds, index):
            start = 0 if cut.start is None else cut.start
            stop = bounds[-1] if cut.stop is None else cut.stop
            first = int(np.searchsorted(bounds, start, side="right") - 1)
            last = int(np.searchsorted(bounds, stop, side="left"))
            ranges.append(range(first, last))
            local.append(slice(start - bounds[first], stop - bounds[first]))
        keys = [(self.name, *(r[i] for r, i in zip(ranges, k)))
                for k in np.ndindex(*(len(r) for r in ranges))]
        culled, _ = cull(self.graph, keys)

        def assemble(blocks: dict) -> np.ndarray:
            def nest(prefix, depth):
                if depth == len(ranges):
                    return blocks[(self.name, *prefix)]
                return [nest(prefix + (i,), depth + 1) for i in ranges[depth]]
            return np.block(nest((), 0))[tuple(local)]

        return culled, keys, assemble


class BoxReader:
    """Reads the bounding box of a set of kept pixels from every registered array at once.

    ``positions`` is ``(P, n_spatial)``: the index of each kept pixel along each spatial dim.
    """

    def __init__(self, positions: np.ndarray, spatial_dims: tuple[str, ...], n_time: int):
        self.positions = np.asarray(positions, np.int64)
        self.spatial_dims = tuple(spatial_dims)
        self.n_time = int(n_time)
        self._arrays: dict[str, _Blocks] = {}
        self._key: bytes | None = None
        self._blocks: dict[str, np.ndarray] = {}

    def register(self, name: str, da: xr.DataArray) -> None:
        """Hold ``da`` (dims ``time`` and the spatial dims, any order) lazily under ``name``."""
        self._arrays[name] = _Blocks(da.transpose("time", *self.spatial_dims).data)
        self._key = None

    def read(self, name: str, pixels: np.ndarray) -> np.ndarray:
        """``(time, len(pixels))`` float64 values of ``name`` at the kept pixels ``pixels``."""
        pixels = np.asarray(pixels, np.int64)
        key = pixels.tobytes()
        if key != self._key:
            position = self.positions[pixels]
            low, high = position.min(axis=0), position.max(axis=0) + 1
            box = (slice(None), *(slice(int(a), int(b)) for a, b in zip(low, high)))
            where = (slice(None), *(position - low).T)
            plans = {n: array.plan(box) for n, array in self._arrays.items()}
            graph, keys = {}, []
            for culled, wanted, _ in plans.values():
                graph.update(culled)
                keys += wanted
            blocks = dict(zip(keys, dask.core.get(graph, keys))) if keys else {}
            self._blocks = {n: np.asarray(assemble(blocks), float)[where]
                            for n, (_, _, assemble) in plans.items()}
            self._key = key
        return self._blocks[name]


class Columns:
    """A ``(time, pixel)`` array whose columns are read on demand: ``columns[:, pixels]``.

    ``combine`` makes the values from the named arrays of the reader (e.g. an observation's
    value and its mask from the raw stream and the observation mask).
    """

    def __init__(self, reader: BoxReader, names: tuple[str, ...], n_pixels: int,
                 combine: Callable[..., np.ndarray] | None = None):
        self.reader, self.names, self.combine = reader, tuple(names), combine
        self.shape = (reader.n_time, int(n_pixels))
        self.ndim = 2

    def __getitem__(self, index) -> np.ndarray:
        if not (isinstance(index, tuple) and len(index) == 2 and index[0] == slice(None)):
            raise IndexError("Columns are read as columns[:, pixels]")
        pixels = np.atleast_1d(np.asarray(index[1]))
        if pixels.dtype == bool:
            pixels = np.flatnonzero(pixels)
        parts = [self.reader.read(n, pixels) for n in self.names]
        return self.combine(*parts) if self.combine is not None else parts[0]

    def __array__(self, dtype=None, copy=None):
        """Every column at once (a full read: for small data and checks only)."""
        out = self[:, np.arange(self.shape[1])]
        return out if dtype is None else out.astype(dtype)

    def sum(self) -> float:
        """Sum over all values, read in blocks of pixels."""
        step = max(1, 2_000_000 // max(self.shape[0], 1))
        return float(sum(self[:, np.arange(start, min(start + step, self.shape[1]))].sum()
                         for start in range(0, self.shape[1], step)))


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
