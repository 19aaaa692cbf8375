"""What the checks of :func:`xdifferland.contract.check.validate` share: their context and helpers.

A check is a function ``check(ctx)`` returning a list of
:class:`~xdifferland.errors.Problem` (structure checks, which read no data) or a
:class:`Deferred` (value checks): lazy reductions plus a function that turns their computed
values into problems. ``validate`` computes the lazy parts of all checks in one ``dask.compute``,
so dask-backed data are read once and never loaded whole. The checks live in
:mod:`xdifferland.contract.check`, :mod:`xdifferland.contract.time_checks` and
:mod:`xdifferland.contract.plausibility`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import dask
import numpy as np
import xarray as xr

from ..errors import Problem
from .declare import variable

__all__ = ["CHECK_BLOCK_BYTES", "LAZY_PASSES", "Context", "Deferred", "compute_deferred",
           "in_check_blocks", "label", "location", "offenders"]


@dataclass
class Context:
    """Everything a check may look at."""

    ds: xr.Dataset  #: in canonical units where the units allowed it
    found: dict[str, str]  #: ``{canonical_name: data_var_name}``
    spatial_dims: tuple[str, ...]
    #: Canonical names whose values are not in canonical units (or not numbers at all): range
    #: checks skip them, their unit or dtype problem is reported instead.
    bad_units: frozenset[str] = frozenset()
    #: Canonical names whose values are not numbers: no value check reads them.
    unusable: frozenset[str] = frozenset()
    valid: xr.DataArray | bool = True  #: locations that are computed (others may hold NaN)
    original: xr.Dataset | None = None  #: the Dataset as given (declared units, for hints)
    skip: frozenset[str] = frozenset()  #: names of the checks that do not run
    #: Resolved ``plausibility=`` option (see
    #: :func:`xdifferland.contract.plausibility.plausibility_rules`).
    rules: Mapping[str, object] = field(default_factory=dict)
    _present: object = field(default=None, repr=False)
    _observed: object = field(default=None, repr=False)
    _valid_cache: dict = field(default_factory=dict, repr=False)

    def of_role(self, *roles: str) -> dict[str, xr.DataArray]:
        """The usable (numeric) variables of some roles, by canonical name."""
        return {c: self.ds[n] for c, n in self.found.items()
                if variable(c).role in roles and c not in self.unusable}

    def values(self, da: xr.DataArray):
        """The (NumPy or dask) values of ``da``, NaN outside the computed locations.

        Array operations, not xarray ones: a dozen variables times a few reductions through
        xarray's alignment machinery cost more than the checks themselves on small data.
        """
        data = getattr(da.data, "magnitude", da.data)  # pint-quantified input
        valid = self.valid
        if not isinstance(valid, xr.DataArray) or not set(valid.dims) <= set(da.dims):
            return data
        key = (da.dims, da.shape)
        if key not in self._valid_cache:
            self._valid_cache[key] = valid.broadcast_like(da).transpose(*da.dims).data
        return np.where(self._valid_cache[key], data, np.nan)

    def forcing_present(self) -> xr.DataArray | None:
        """Lazy ``(time,)`` mask: steps where any forcing has a value at any location.

        ``None`` when no forcing has a time dim. Steps where *all* forcing is missing come from
        another time axis merged in (see :func:`xdifferland.contract.time_checks.check_alignment`);
        they are reported once, as such, rather than as NaN in every forcing variable. The same
        object is returned on every call, so checks sharing it compute it once.
        """
        if self._present is None:
            present = [da.notnull().any([d for d in da.dims if d != "time"])
                       for da in self.of_role("forcing").values() if "time" in da.dims]
            if not present:
                return None
            self._present = xr.concat(present, "__forcing__", coords="minimal",
                                      compat="override").any("__forcing__")
        return self._present

    def observation_present(self) -> dict[str, xr.DataArray]:
        """Lazy ``(time,)`` masks of the steps where each time-varying observation has a value
        (the same objects on every call)."""
        if self._observed is None:
            self._observed = {c: da.notnull().any([d for d in da.dims if d != "time"])
                              for c, da in self.of_role("observation").items()
                              if "time" in da.dims}
        return self._observed

    def forcing_rows(self) -> xr.DataArray | bool:
        """Steps at which forcing values are judged by the NaN check.

        Steps where no forcing has a value but an observation has (another time axis merged
        in, or a gap in the forcing record) are check_alignment's, reported once as such; with
        ``alignment`` skipped, every step is judged.
        """
        present = None if "alignment" in self.skip else self.forcing_present()
        if present is None:
            return True
        observed = list(self.observation_present().values())
        if not observed:
            return True
        return present | ~xr.concat(observed, "__obs__", coords="minimal",
                                    compat="override").any("__obs__")


# ----------------------------------------------------------------------------- labels
def label(value) -> str:
    """A coordinate value as a user would type it (dates without a midnight time)."""
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return "NaT"
        value = value.astype("datetime64[us]").item()  # -> datetime.datetime
    if hasattr(value, "strftime"):  # datetime and cftime alike
        midnight = (value.hour, value.minute, value.second) == (0, 0, 0)
        return value.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, (float, np.floating)):
        return str(float(value))
    if isinstance(value, (np.integer, np.bool_)):
        return str(value.item())
    return str(value)


def location(da: xr.DataArray, flat_index: int) -> str:
    """``"time=2001-03-01, lat=10.5, lon=20.0"`` for a flat index into ``da``."""
    if da.ndim == 0:
        return "(scalar)"
    position = np.unravel_index(int(flat_index), da.shape)
    parts = []
    for dim, i in zip(da.dims, position):
        labels = da.indexes.get(dim)
        parts.append(f"{dim}={label(labels[i]) if labels is not None else int(i)}")
    return ", ".join(parts)


@dataclass
class Deferred:
    """Result of a check that needs data values: lazy reductions plus how to read them."""

    lazy: object  #: any pytree of NumPy/dask reductions
    finish: Callable[[object], list[Problem]]


def offenders(arrays: Mapping[str, xr.DataArray], predicate,
              problem: Callable[[str, int, str], Problem]) -> Deferred:
    """Problems for the arrays where ``predicate`` holds somewhere: count and first location."""
    masks = {name: predicate(da) for name, da in arrays.items() if da.size}
    # argmax without an axis is the flat index of the first True, for NumPy and dask alike.
    lazy = {name: (m.data.sum(), m.data.argmax()) for name, m in masks.items()}

    def finish(computed):
        return [problem(name, int(n), location(masks[name], i))
                for name, (n, i) in computed.items() if n]

    return Deferred(lazy, finish)


#: Checks whose reductions a dask-backed Dataset computes in a pass of their own: all checks in
#: one pass hold chunks of every variable at once (peak 2.65 GB on the paper-sized store of
#: ``benchmarks/zarr_training.py``, against 0.77 GB in two passes, which also took less time).
LAZY_PASSES = (("finite", "plausibility"),)


def compute_deferred(results: Mapping[str, object]) -> dict[str, object]:
    """The reductions of the checks that returned a :class:`Deferred`, by check name: one
    ``dask.compute`` per group of :data:`LAZY_PASSES` and one for the rest (for in-memory data
    they have nothing to compute)."""
    deferred = {n: r.lazy for n, r in results.items() if isinstance(r, Deferred)}
    groups = [[n for n in group if n in deferred] for group in LAZY_PASSES]
    rest = [n for n in deferred if not any(n in g for g in groups)]
    computed = {}
    for group in [*groups, rest]:
        if group:
            computed.update(zip(group, dask.compute(*(deferred[n] for n in group))))
    return computed


#: Largest block (bytes) of a dask-backed variable that the value checks reduce at once. The
#: checks make a few reductions per variable and chunk, each a scheduler task, so on a store of
#: small chunks the tasks, not the reading, took the time. On the paper-sized store of
#: ``benchmarks/zarr_training.py`` (chunks of 32 x 40 cells x 168 months) blocks of 16 MiB
#: validate in 22 s at 0.46 GB peak, the store's own chunks in 52-54 s at 0.73-0.77 GB; 4 MiB
#: take 30 s, 64 MiB 22 s at 0.85-0.94 GB (``benchmarks/validation_blocks.py``).
CHECK_BLOCK_BYTES = 16 * 2**20


def in_check_blocks(ds: xr.Dataset, mask: xr.DataArray | None = None,
                    limit: int = CHECK_BLOCK_BYTES) -> tuple[xr.Dataset, xr.DataArray | None]:
    """``ds`` and ``mask`` with their dask-backed variables merged into blocks of at most
    ``limit`` bytes, the same blocks along each dim for every variable (so combining two
    variables does not split them again). NumPy-backed variables are left as they are.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"a": (("time", "lat"), np.zeros((4, 6))), "b": ("lat", np.ones(6))})
    >>> out, _ = in_check_blocks(ds.chunk({"lat": 1}).assign(c=ds["b"]))
    >>> out["a"].chunks, out["b"].chunks, out["c"].chunks
    (((4,), (6,)), ((6,),), None)
    """
    lazy = [v for v in ds.data_vars.values() if v.chunks is not None]
    if not lazy:
        return ds, mask
    largest = max(lazy, key=lambda v: v.nbytes)
    blocks = dict(zip(largest.dims, largest.data.rechunk("auto", block_size_limit=limit).chunks))

    def merged(da: xr.DataArray) -> xr.DataArray:
        if da is None or da.chunks is None:
            return da
        return da.chunk({d: blocks.get(d, da.chunksizes[d]) for d in da.dims})

    return ds.assign({name: merged(da) for name, da in ds.data_vars.items()}), merged(mask)
