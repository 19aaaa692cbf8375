"""Patch minibatches: standardization, padding and per-epoch shuffling (spec 9.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Iterator, NamedTuple

import jax
import numpy as np

from ..contract.handoff import FORCING_INPUTS, STATIC_INPUTS
from ..engine import Forcing, Observation
from ..typing import Array
from .data import COARSE_STREAMS, TrainingData
from .pixel_store import OPEN_BLOCKS

__all__ = ["OPEN_BLOCKS", "Standardization", "Batch", "build_batch", "stack_batches",
           "patch_members", "patch_blocks", "epoch_batches"]


@dataclass(frozen=True)
class Standardization:
    """Predictor z-scoring from training pixels (mean, population std), stored in the model.

    ``lower`` and ``upper`` are each predictor's range over the training pixels (``None`` in
    models saved before they were recorded); :meth:`outside_range` and ``apply(clip=True)`` use
    them for locations whose predictors lie beyond what the network was trained on.
    """

    names: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    hemisphere_mean: float
    hemisphere_std: float
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None

    @classmethod
    def from_training(cls, data: TrainingData, pixels: np.ndarray, *,
                      ignore_constant: bool = False) -> "Standardization":
        """Statistics of ``pixels``; ``ignore_constant`` maps a predictor constant over them to 0
        everywhere (infinite std: as if dropped, keeping the predictor count) instead of
        raising."""
        x = data.predictors[pixels]
        std = x.std(axis=0)
        constant = [n for n, s in zip(data.predictor_names, std) if not s > 0]
        if constant and not ignore_constant:
            raise ValueError(f"predictors {constant} are constant over the training pixels and "
                             "cannot be standardized; drop them with predictors=[...]")
        std = np.where(std > 0, std, np.inf)
        h = data.hemisphere[pixels]
        return cls(data.predictor_names, x.mean(axis=0), std, float(h.mean()),
                   float(h.std()) if h.std() > 0 else 1.0, x.min(axis=0), x.max(axis=0))

    def outside_range(self, predictors: np.ndarray, tolerance: float = 0.1) -> np.ndarray:
        """``(P, n)`` booleans: predictor values beyond the training range by more than
        ``tolerance`` training standard deviations (a hair outside is still interpolation)."""
        if self.lower is None:
            return np.zeros(np.shape(predictors), bool)
        margin = tolerance * self.std
        return (predictors < self.lower - margin) | (predictors > self.upper + margin)

    def apply(self, predictors: np.ndarray, hemisphere: np.ndarray, clip: bool = False):
        """Standardized predictors ``(P, n)`` and hemisphere ``(P, 1)``.

        With ``clip`` the predictors are first held inside the training range, so a location
        beyond it gets the parameters of the nearest trained value instead of an extrapolation.
        """
        if clip:
            if self.lower is None:
                raise ValueError("this model has no stored training range (saved by an older "
                                 "version); refit it to clip predictors")
            predictors = np.clip(predictors, self.lower, self.upper)
        z = (predictors - self.mean) / self.std
        zh = (hemisphere - self.hemisphere_mean) / self.hemisphere_std
        return z, zh[:, None]

    def to_dict(self) -> dict:
        out = {"names": list(self.names), "mean": self.mean.tolist(),
               "std": [float(s) if np.isfinite(s) else None for s in self.std],  # JSON: no inf
               "hemisphere_mean": self.hemisphere_mean, "hemisphere_std": self.hemisphere_std}
        if self.lower is not None:
            out |= {"lower": self.lower.tolist(), "upper": self.upper.tolist()}
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "Standardization":
        bound = (lambda key: np.asarray(d[key], float) if d.get(key) is not None else None)
        std = np.asarray([np.inf if s is None else s for s in d["std"]], float)
        return cls(tuple(d["names"]), np.asarray(d["mean"], float), std,
                   float(d["hemisphere_mean"]), float(d["hemisphere_std"]),
                   bound("lower"), bound("upper"))


class Batch(NamedTuple):
    """One padded patch: everything the loss needs, as arrays."""

    predictors: Array  #: (B, n) standardized
    hemisphere: Array  #: (B, 1) standardized
    forcing: Forcing  #: (T, B) time-varying, (B,) static, scalar delta_t
    observations: dict  #: stream → Observation of (T, B) arrays
    valid: Array  #: (B,) 1 for real pixels, 0 for padding


def patch_members(data: TrainingData) -> list[np.ndarray]:
    """Pixel indices of each patch."""
    order = np.argsort(data.patch, kind="stable")
    bounds = np.searchsorted(data.patch[order], np.arange(data.n_patches + 1))
    return [order[bounds[k]:bounds[k + 1]] for k in range(data.n_patches)]


def build_batch(data: TrainingData, pixels: np.ndarray, batch_size: int, std: Standardization,
                coarse_ok: bool, dtype=np.float32,
                uncertain: Collection[str] | None = None) -> Batch:
    """A padded batch of ``pixels`` (padding copies the first pixel's forcing, spec 9.2).

    ``uncertain`` names the streams whose uncertainty the batch carries (``None``: all); the
    others carry none (``None``), so a loss that does not read them (built-in streams without
    ``use_uncertainty``) does not read or copy them.
    """
    n = len(pixels)
    if n > batch_size:
        raise ValueError(f"{n} pixels do not fit a batch of {batch_size}")
    padded = np.concatenate([pixels, np.full(batch_size - n, pixels[0])])
    real = np.arange(batch_size) < n
    z, zh = std.apply(data.predictors[padded], data.hemisphere[padded])
    z[~real], zh[~real] = 0.0, 0.0  # padding sits at the training mean
    forcing = Forcing(
        *(np.asarray(data.forcing[name][:, padded], dtype) for name in FORCING_INPUTS),
        *(np.asarray(data.forcing[name][padded], dtype) if name != "delta_t"
          else np.asarray(data.delta_t, dtype) for name in STATIC_INPUTS))
    observations = {}
    padding = n < batch_size  # a full batch's values are used as they are (no product by 1)
    for stream, obs in data.observations.items():
        value, mask = obs["value"][:, padded], obs["mask"][:, padded]
        if padding:
            value, mask = value * real[None, :], mask * real[None, :]
        if stream in COARSE_STREAMS and not coarse_ok:
            mask = np.zeros_like(mask)
        unc = obs["uncertainty"] if uncertain is None or stream in uncertain else None
        observations[stream] = Observation(
            np.asarray(value, dtype), np.asarray(mask, dtype),
            None if unc is None else np.asarray(np.where(real[None, :], unc[:, padded], 1.0),
                                                dtype))
    return Batch(np.asarray(z, dtype), np.asarray(zh, dtype), forcing, observations,
                 real.astype(dtype))


def stack_batches(batches: list[Batch]) -> Batch:
    """Stack batches along a new leading axis (for a scan over patches)."""
    return jax.tree_util.tree_map(lambda *xs: np.stack(xs), *batches)


def patch_blocks(data: TrainingData, members: list[np.ndarray],
                 blocks: dict[str, int] | None) -> np.ndarray | None:
    """Block number of each patch for ``FitConfig.shuffle_blocks``, or None without blocks.

    ``blocks`` gives the cells per block along spatial dims (a dim left out is one block);
    a patch belongs to the block of its first pixel.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> data = SimpleNamespace(spatial_dims=("lat", "lon"),
    ...                        positions=np.array([[0, 0], [0, 3], [2, 0], [3, 3]]))
    >>> members = [np.array([0]), np.array([1]), np.array([2]), np.array([3])]
    >>> patch_blocks(data, members, {"lat": 2, "lon": 2}).tolist()
    [0, 1, 2, 3]
    >>> patch_blocks(data, members, {"lat": 4}).tolist()  # one block over all longitudes
    [0, 0, 0, 0]
    """
    if blocks is None:
        return None
    unknown = sorted(set(blocks) - set(data.spatial_dims))
    if unknown or data.positions is None:
        raise ValueError(f"shuffle_blocks names {unknown or list(blocks)}, but the data's "
                         f"spatial dims are {list(data.spatial_dims)}: name those, or use "
                         "shuffle_blocks='auto' or None")
    size = np.array([blocks.get(d, 0) for d in data.spatial_dims])
    first = data.positions[[int(m.min()) for m in members]]
    cell = np.where(size > 0, first // np.maximum(size, 1), 0)
    return np.unique(cell, axis=0, return_inverse=True)[1].ravel()


def _patch_order(patches: np.ndarray, blocks: np.ndarray | None, rng: np.random.Generator,
                 open_blocks: int = OPEN_BLOCKS) -> np.ndarray:
    """Shuffled patches: freely, or ``open_blocks`` blocks at a time (see :data:`OPEN_BLOCKS`)."""
    if blocks is None:
        return rng.permutation(patches)
    patches = np.asarray(patches)
    ids = blocks[patches]
    order = rng.permutation(np.unique(ids))
    return np.concatenate([rng.permutation(patches[np.isin(ids, order[k:k + open_blocks])])
                           for k in range(0, len(order), open_blocks)])


def epoch_batches(data: TrainingData, patches: np.ndarray, members: list[np.ndarray],
                  batch_size: int, std: Standardization, coarse_ok: np.ndarray,
                  rng: np.random.Generator | None, dtype=np.float32,
                  blocks: np.ndarray | None = None,
                  uncertain: Collection[str] | None = None) -> Iterator[Batch]:
    """Batches of ``patches`` for one epoch; shuffled patches and pixels when ``rng`` is given.

    ``blocks`` (:func:`patch_blocks`) keeps the patches of
    :data:`~.pixel_store.OPEN_BLOCKS` blocks at a time together in the shuffled order. A
    generator: each batch is built when it is asked for, so a training loop builds the next batch
    while the device still computes the previous step (and only a few exist at once).
    ``uncertain``: the streams whose uncertainty the batches carry (see :func:`build_batch`).
    """
    order = _patch_order(patches, blocks, rng) if rng is not None else np.asarray(patches)
    for k in order:
        pixels = members[k]
        if rng is not None:
            pixels = rng.permutation(pixels)
        for start in range(0, len(pixels), batch_size):  # oversized patches are split
            yield build_batch(data, pixels[start:start + batch_size], batch_size, std,
                              bool(coarse_ok[k]), dtype, uncertain)
