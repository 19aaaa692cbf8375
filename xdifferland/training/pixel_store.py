"""Training arrays read from a lazy (dask, Zarr) Dataset one batch at a time, not held in memory.

:func:`~xdifferland.training.data.training_data` flattens a Dataset into pixel-major
``(time, pixel)`` arrays. For a dask-backed Dataset at paper scale those are 5-6 GB, although
each training step reads one patch. Here each such array is a :class:`Columns`: indexing it as
``columns[:, pixels]`` reads only the bounding box of ``pixels`` in the Dataset's spatial index
space, for every lazily held variable at once (one ``dask.compute`` per batch, cached for the
other variables of the same batch). Patches are lat/lon rectangles, so a box is a patch; with
Zarr chunks aligned to patches it is a handful of chunk reads.

The values are those the in-memory path would hold (float32 values stay float32, which a batch
converts to its dtype exactly as it converts their float64 copy), so a fit gives the same result
either way for the same seed. An array training does not need (an uncertainty without
``use_uncertainty``) is read only if asked for.
"""

from __future__ import annotations

from collections.abc import Callable

import dask
import dask.array
import dask.core
import dask.threaded
from dask.optimization import cull
import numpy as np
import xarray as xr

__all__ = ["OPEN_BLOCKS", "BoxReader", "Columns", "is_lazy"]

#: Blocks whose patches an epoch shuffles together (``FitConfig.shuffle_blocks``): the blocks
#: are shuffled, then taken this many at a time, and the patches of those blocks shuffled among
#: themselves. A store's reader keeps that many chunks per array, so each chunk is still read
#: once per epoch, and consecutive steps come from several regions instead of one.
OPEN_BLOCKS = 4


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
        """The chunk keys ``array[index]`` (slices of unit step) needs, and a function that
        makes the box from the chunks (a dict key -> array). A NumPy-backed array needs none."""
        if self.graph is None:
            return [], lambda blocks: self.array[index]
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

        def assemble(blocks: dict) -> np.ndarray:
            if len(keys) == 1:  # a view of the one chunk, no copy of it
                return blocks[keys[0]][tuple(local)]

            def nest(prefix, depth):
                if depth == len(ranges):
                    return blocks[(self.name, *prefix)]
                return [nest(prefix + (i,), depth + 1) for i in ranges[depth]]
            return np.block(nest((), 0))[tuple(local)]

        return keys, assemble

    def tasks(self, keys: list) -> dict:
        """The part of the graph that computes ``keys``."""
        return cull(self.graph, keys)[0] if keys else {}


class BoxReader:
    """Reads the bounding box of a set of kept pixels from every registered array at once.

    ``positions`` is ``(P, n_spatial)``: the index of each kept pixel along each spatial dim.
    """

    def __init__(self, positions: np.ndarray, spatial_dims: tuple[str, ...], n_time: int,
                 open_chunks: int = 1):
        self.positions = np.asarray(positions, np.int64)
        self.open_chunks = max(1, int(open_chunks))  #: chunks per array kept for reuse
        self.spatial_dims = tuple(spatial_dims)
        self.n_time = int(n_time)
        self._arrays: dict[str, _Blocks] = {}
        self._on_demand: set[str] = set()  #: arrays read only when asked for (see register)
        self._forget()

    def _forget(self) -> None:
        """Drop everything derived from the registered arrays."""
        self._key: bytes | None = None
        self._blocks: dict[str, np.ndarray] = {}
        self._chunks: dict[tuple, np.ndarray] = {}  #: the chunks of the last read, by key
        self._plans: dict[tuple, dict] = {}  #: each box's plans (boxes recur every epoch)
        #: arrays grouped by chunk bounds, with their open chunks (False: not yet known)
        self._groups: list[dict] | None | bool = False

    def register(self, name: str, da: xr.DataArray, on_demand: bool = False) -> None:
        """Hold ``da`` (dims ``time`` and the spatial dims, any order) lazily under ``name``.

        The arrays are read together, a box of all at once. One registered ``on_demand`` is
        left out of that and read on its own when it is asked for: for an array that training
        may not need (an uncertainty a fit without ``use_uncertainty`` never reads).
        """
        self._arrays[name] = _Blocks(da.transpose("time", *self.spatial_dims).data)
        self._on_demand.discard(name)
        if on_demand:
            self._on_demand.add(name)
        self._forget()

    def read(self, name: str, pixels: np.ndarray) -> np.ndarray:
        """``(time, len(pixels))`` values of ``name`` at the kept pixels ``pixels``: float32 or
        float64 as stored (any other type as float64).

        Chunks read are kept for reuse (the last ``open_chunks`` per array, or those of the
        last read when the arrays are chunked unlike): the patches of a chunk, visited together
        with ``FitConfig.shuffle_blocks``, read the store once.
        """
        pixels = np.asarray(pixels, np.int64)
        if name in self._on_demand:
            position = self.positions[pixels]
            low, high = position.min(axis=0), position.max(axis=0) + 1
            return self._read_box(position, low, high, (name,))[name]
        key = pixels.tobytes()
        if key != self._key:
            position = self.positions[pixels]
            low, high = position.min(axis=0), position.max(axis=0) + 1
            blocks = self._read_in_one_chunk(position, low, high)
            self._blocks = blocks if blocks is not None else self._read_box(position, low,
                                                                              high)
            self._key = key
        return self._blocks[name]

    def _read_box(self, position, low, high, names=None) -> dict[str, np.ndarray]:
        """Any box: each array's chunks that overlap it, assembled and gathered; all arrays
        but those read on demand (whose chunks are not kept), or ``names``."""
        box = (slice(None), *(slice(int(a), int(b)) for a, b in zip(low, high)))
        where = (slice(None), *(position - low).T)
        every = self._plans.setdefault((*low.tolist(), *high.tolist()), {})
        together = names is None
        names = [n for n in self._arrays if n not in self._on_demand] if together else names
        for n in names:
            if n not in every:  # boxes recur every epoch: their plans are kept
                every[n] = self._arrays[n].plan(box)
        plans = {n: every[n] for n in names}
        graph, wanted = {}, []
        for n, (keys, _) in plans.items():
            missing = [k for k in keys if k not in self._chunks]
            graph.update(self._arrays[n].tasks(missing))
            wanted += missing
        chunks = {k: self._chunks[k] for keys, _ in plans.values() for k in keys
                  if k in self._chunks}
        chunks.update(zip(wanted, _compute(graph, wanted)))
        if together:
            self._chunks = chunks
        return {n: _floats(assemble(chunks)[where])
                for n, (_, assemble) in plans.items()}

    def _read_in_one_chunk(self, position, low, high) -> dict[str, np.ndarray] | None:
        """The common case, fast: all months in one chunk and the box inside one chunk of each
        array. None when it does not apply.

        Each array's values are gathered from the batch's bounding box in the chunk, copied
        first: a patch's box is a few cache lines per month, while its pixels picked straight
        from a chunk of several MB touch a line each (``benchmarks/zarr_training.py``, chunks
        of 64 x 80 cells: an epoch's CPU time 7 % lower than picking from a stack of the
        chunks)."""
        groups = self._chunk_groups()
        indices = None if groups is None else _chunk_indices(groups, low, high)
        if indices is None:
            return None
        out = {}
        within = np.ravel_multi_index(tuple((position - low).T), tuple(high - low))
        for group, index in zip(groups, indices):
            chunks = group["chunks"].get(index)
            if chunks is None:
                chunks = self._load_chunks(group, index)
            origin = np.array([b[i] for b, i in zip(group["bounds"], index)])
            first, last = low - origin, high - origin  # the batch's box in the chunk
            box = (slice(None), *(slice(int(a), int(b)) for a, b in zip(first, last)))
            for name, chunk in chunks:
                out[name] = _floats(_gather(chunk, box, within))
        return out

    def _load_chunks(self, group: dict, index: tuple) -> list[tuple[str, np.ndarray]]:
        """Read ``group``'s chunks at ``index``, as ``(name, chunk)`` pairs. The group keeps the
        chunks of its last ``open_chunks`` indices."""
        names = group["names"]
        keys = [(self._arrays[n].name, 0, *index) for n in names]
        graph = {}
        for n, k in zip(names, keys):
            graph.update(self._arrays[n].tasks([k]))
        chunks = [(n, np.asarray(c)) for n, c in zip(names, _compute(graph, keys))]
        while len(group["chunks"]) >= self.open_chunks:
            del group["chunks"][next(iter(group["chunks"]))]  # the oldest
        group["chunks"][index] = chunks
        self._chunks = {}
        return chunks

    def _chunk_groups(self) -> list[dict] | None:
        """The registered arrays grouped by their spatial chunk bounds, when all are dask
        arrays with all months in one chunk; None otherwise."""
        if self._groups is False:
            arrays = {n: a for n, a in self._arrays.items() if n not in self._on_demand}
            if not arrays or any(a.graph is None or len(a.bounds[0]) != 2
                                 for a in arrays.values()):
                self._groups = None
            else:
                groups: dict = {}
                for n, a in arrays.items():
                    signature = tuple(tuple(b.tolist()) for b in a.bounds[1:])
                    groups.setdefault(signature, []).append(n)
                self._groups = [{"bounds": [np.asarray(b) for b in signature], "names": names,
                                 "chunks": {}}
                                for signature, names in groups.items()]
        return self._groups


def _chunk_indices(groups: list[dict], low, high) -> list[tuple] | None:
    """Each group's chunk index holding the box ``[low, high)``; None when one does not."""
    indices = []
    for group in groups:
        grid = group["bounds"]
        index = tuple(int(np.searchsorted(b, v, side="right") - 1) for b, v in zip(grid, low))
        if any(h > b[i + 1] for h, b, i in zip(high, grid, index)):
            return None
        indices.append(index)
    return indices


def _floats(values: np.ndarray) -> np.ndarray:
    """``values`` as floats: float32 and float64 as they are (a batch converts them to its
    dtype exactly as from float64), anything else as float64."""
    return values if values.dtype in (np.float32, np.float64) else values.astype(float)


def _gather(chunk: np.ndarray, box: tuple[slice, ...], within: np.ndarray) -> np.ndarray:
    """``(time, P)`` values of ``chunk`` at ``within``, flat positions in its spatial ``box``:
    the box is copied (a view when it is the whole of a contiguous chunk; a broadcast chunk is
    never copied whole), then its columns taken."""
    part = np.ascontiguousarray(chunk[box])
    return np.take(part.reshape(part.shape[0], -1), within, axis=1)


def _compute(graph: dict, keys: list) -> list:
    """The values of ``keys``: several chunks are read on threads (decompression releases
    the GIL), one in the calling thread."""
    if not keys:
        return []
    if len(keys) == 1:
        return dask.core.get(graph, keys)
    return dask.threaded.get(graph, keys, num_workers=4)


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
        return float(sum(self[:, np.arange(start, min(start + step, self.shape[1]))].sum(
            dtype=float)
                         for start in range(0, self.shape[1], step)))
