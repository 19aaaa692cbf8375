"""Ensembles of fitted models: members trained as Dask tasks, applied with a ``member`` dim.

:func:`fit_ensemble` trains ``n_members`` networks with their own seeds (and, by default, their own
bootstrap resample of the training patches) as independent tasks on a ``dask.distributed`` Client,
ranks them by their final training loss and keeps the best ``select_best``. The resulting
:class:`Ensemble` applies every member to a Dataset and stacks the results along ``member``.

Bootstrap, precisely: each member draws as many training patches as there are, *with*
replacement, from the common training split, and is trained on the *distinct* drawn patches
(about 63 % of them), each counted once. ``fit`` has no per-patch weights, so a patch drawn twice
is not weighted twice: this is bagging without duplicates (a "0.632 subsample"), which gives the
members different data as bootstrap does but is not an exact bootstrap. Test and dev patches are
never trained on; every member keeps the common train/dev/test split for evaluation. Each member
standardizes its predictors on its own training pixels.

Determinism: a member's seed (network initialization, patch shuffles, bootstrap draw) is derived
from the base ``seed`` and the member index only, so the same settings give the same ensemble on
any Client, any number of workers, or ``client="synchronous"``.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from .ensemble_files import read_index, save_members
from .ensemble_intervals import IntervalMethods
from .ensemble_stats import ensemble_mean, ensemble_spread
from .model import DifferLandModel
from .simulation import prepare_dataset
from .tasks import run_tasks
from .training import FitConfig
from .training.batches import patch_members
from .training.data import patch_ids, training_data
from .training.loop import split_patches

__all__ = [
    "Ensemble",
    "EnsemblePlan",
    "bootstrap_patches",
    "ensemble_mean",
    "ensemble_spread",
    "fit_ensemble",
    "load_ensemble",
    "member_seed",
    "plan_ensemble",
]

#: ``fit`` keywords that are not training settings (everything else goes into ``FitConfig``).
_FIT_KEYWORDS = ("predictors", "roles", "patch_variable", "mask", "observation_mask",
                 "extra_terms", "callback", "plausibility")


def member_seed(base_seed: int, index: int) -> int:
    """Seed of member ``index``: a deterministic hash of ``(base_seed, index)``.

    Examples
    --------
    >>> member_seed(0, 1) == member_seed(0, 1) != member_seed(0, 2)
    True
    """
    return int(np.random.SeedSequence([int(base_seed), int(index)]).generate_state(1)[0]
               % (2 ** 31 - 1))


def bootstrap_patches(train: Sequence[int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct patches of a with-replacement draw of ``len(train)`` patches, and their counts.

    Examples
    --------
    >>> distinct, counts = bootstrap_patches([10, 11, 12, 13, 14], seed=3)
    >>> int(counts.sum()), bool(set(distinct) <= {10, 11, 12, 13, 14})
    (5, True)
    """
    train = np.asarray(train)
    draw = np.random.default_rng([int(seed), 0xB007]).choice(train, size=len(train), replace=True)
    return np.unique(draw, return_counts=True)


@dataclass(frozen=True)
class Ensemble(IntervalMethods):
    """Fitted members, best first; apply them with a ``member`` dim.

    ``member_ids`` are the members' indices among all fitted (before ``select_best``), ``seeds``
    their seeds and ``losses`` their ranking losses (final-epoch training loss per training
    batch). ``info`` records how the ensemble was made.
    """

    members: tuple[DifferLandModel, ...]
    member_ids: tuple[int, ...]
    seeds: tuple[int, ...]
    losses: tuple[float, ...]
    info: Mapping = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.members)
        if not n or any(len(x) != n for x in (self.member_ids, self.seeds, self.losses)):
            raise ValueError("an Ensemble needs at least one member and one id, seed and loss "
                             "per member")
        object.__setattr__(self, "members", tuple(self.members))

    def __len__(self) -> int:
        return len(self.members)

    @property
    def predictors(self) -> tuple[str, ...]:
        """The predictors any member uses, in first-seen order."""
        return tuple(dict.fromkeys(p for m in self.members for p in m.predictors))

    def __repr__(self) -> str:
        return (f"<Ensemble: {len(self)} members (ids {list(self.member_ids)}), "
                f"losses {[round(x, 4) for x in self.losses]}>")

    def _stack(self, results: list):
        member = xr.DataArray(list(self.member_ids), dims="member")
        out = xr.concat(results, dim=member, coords="minimal", compat="override",
                        combine_attrs="override")
        out = out.assign_coords(seed=("member", list(self.seeds)),
                                loss=("member", list(self.losses)))
        out.variables["member"].attrs = {"standard_name": "realization", "units": "1",
                                         "long_name": "ensemble member (index among all fitted)"}
        out.variables["seed"].attrs = {"long_name": "random seed of the member's fit"}
        out.variables["loss"].attrs = {"long_name": "member's final training loss (ranking)",
                                       "units": "1"}
        return out

    # --- applying the members ------------------------------------------------------------
    def parameters(self, ds: xr.Dataset, **kwargs) -> xr.Dataset:
        """Every member's parameter maps, stacked along ``member``.

        ``ens.parameters(ds).mean("member")`` is the plain ensemble mean; :meth:`mean` and
        :meth:`spread` also wrap phenology days into the year first.
        """
        return self._stack([m.parameters(ds, **kwargs) for m in self.members])

    def simulate(self, ds: xr.Dataset, outputs=None, **kwargs) -> xr.Dataset:
        """Every member's simulation of ``ds``, stacked along ``member``."""
        return self._stack([m.simulate(ds, outputs, **kwargs) for m in self.members])

    def evaluate(self, ds: xr.Dataset, split: str | None = None, *, mean: bool = False,
                 level: float | None = None, error=None, **kwargs) -> xr.Dataset:
        """Every member's skill on a split, stacked along ``member``; with ``mean`` the skill of
        the ensemble-mean simulation (one table, what a site prediction is scored by).

        ``split`` defaults as in :meth:`DifferLandModel.evaluate`: "test" on the data the
        members were trained on, "all" on new locations (for ``mean``: new to every member).
        With ``mean`` and a ``level`` (e.g. 0.9) the table gains the coverage and CRPS of the
        predictive interval (:meth:`interval_scores`, ``error`` estimated on the dev patches).
        """
        if level is not None and not mean:
            raise ValueError("level= scores the ensemble-mean prediction: pass mean=True too")
        if mean:
            from .evaluation import evaluate

            table = evaluate(_MeanOfMembers(self), ds, split, **kwargs)
            if level is None:
                return table
            scores = self.interval_scores(ds, table.attrs["split"], level, error=error, **kwargs)
            return xr.merge([table, scores[["coverage", "crps"]]], combine_attrs="override")
        return self._stack([m.evaluate(ds, split, **kwargs) for m in self.members])

    def mean(self, ds: xr.Dataset, **kwargs) -> xr.Dataset:
        """Ensemble-mean parameter maps; see :func:`ensemble_mean`."""
        return ensemble_mean(self.parameters(ds, **kwargs))

    def spread(self, ds: xr.Dataset, **kwargs) -> xr.Dataset:
        """Ensemble standard deviation of the parameter maps; see :func:`ensemble_spread`."""
        return ensemble_spread(self.parameters(ds, **kwargs))

    def best(self, k: int) -> Ensemble:
        """The ``k`` members with the lowest ranking loss."""
        order = np.argsort(self.losses, kind="stable")[:k]
        pick = lambda seq: tuple(seq[i] for i in order)
        return Ensemble(pick(self.members), pick(self.member_ids), pick(self.seeds),
                        pick(self.losses), dict(self.info))

    # --- files ---------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """One model file per member plus ``ensemble.json`` (no pickle), atomically: the index
        goes last, so a crash leaves the previous complete ensemble or none. A replaced ensemble's
        members get new names (``member_003_v1.npz``, ...); the old ones go after the index."""
        return save_members(Path(directory), self.members, self.member_ids, self.seeds,
                            self.losses, dict(self.info), overwrite=overwrite)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Ensemble:
        """Read an ensemble written by :meth:`save`; the index and every member are validated
        first (:class:`~xdifferland.errors.ModelFileError` says what is wrong)."""
        directory = Path(directory)
        entries, info = read_index(directory)
        return cls(tuple(DifferLandModel.load(directory / e["file"]) for e in entries),
                   tuple(e["member"] for e in entries), tuple(e["seed"] for e in entries),
                   tuple(float(e["loss"]) for e in entries), info)


class _MeanOfMembers:
    """An Ensemble seen by :func:`~xdifferland.evaluation.evaluate` as one model: it simulates
    the members' mean; a location is trained on if any member trained on it."""

    def __init__(self, ensemble: Ensemble):
        self.ensemble = ensemble
        first = ensemble.members[0]
        self.config, self.patch_variable, self.splits = (first.config, first.patch_variable,
                                                         first.splits)
        self.metadata = {"locations": sorted({s for m in ensemble.members
                                              for s in m.metadata.get("locations", [])})}

    def trained_on(self, ds, *, roles=None) -> bool:
        return any(m.trained_on(ds, roles=roles) for m in self.ensemble.members)

    def split_mask(self, ds, split="test", *, roles=None):
        masks = [m.split_mask(ds, split, roles=roles) for m in self.ensemble.members]
        return xr.concat(masks, "member").any("member") if split != "all" else masks[0]

    def simulate(self, ds, outputs=None, **kwargs):
        runs = self.ensemble.simulate(ds, outputs, **kwargs)
        return runs.mean("member", keep_attrs=True)


def load_ensemble(directory: str | os.PathLike) -> Ensemble:
    """Load an :class:`Ensemble` saved with :meth:`Ensemble.save`."""
    return Ensemble.load(directory)


# --- fitting ----------------------------------------------------------------------------------
def _fit_member(ds: xr.Dataset, config: FitConfig, mask, fit_kwargs: dict) -> bytes:
    """One member, run on a worker: fit, then return the saved model file's bytes."""
    from .training import fit

    model = fit(ds, config, mask=mask, progress=False, **fit_kwargs)
    with tempfile.TemporaryDirectory() as tmp:
        path = model.save(Path(tmp) / "member.npz")
        return path.read_bytes()


def _model_from_bytes(payload: bytes) -> DifferLandModel:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "member.npz"
        path.write_bytes(payload)
        return DifferLandModel.load(path)


def fit_ensemble(ds: xr.Dataset, n_members: int, *, bootstrap: bool = True,
                 select_best: int | None = None, client=None, seeds: Sequence[int] | None = None,
                 retries: int = 2, progress: bool = True, config: FitConfig | None = None,
                 n_workers: int | None = 2, **fit_kwargs) -> Ensemble:
    """Fit ``n_members`` spatialization networks as Dask tasks and keep the best.

    Parameters
    ----------
    ds : xarray.Dataset
        As for :func:`xdifferland.fit` (loaded into memory before it is sent to the workers).
    n_members : int
        Members to fit.
    bootstrap : bool, default True
        Train each member on its own resample of the training patches (see the module notes:
        the distinct patches of a with-replacement draw). Otherwise every member trains on the
        whole training split and differs by its seed only.
    select_best : int, optional
        Keep the ``select_best`` members with the lowest final training loss per training
        batch (comparable across bootstrap samples of different size). Default: keep all.
    client : distributed.Client, "synchronous" or None
        An existing Client is used as is; None starts a LocalCluster of ``n_workers`` processes
        with one thread each and closes it afterwards; ``"synchronous"`` fits in this process.
    seeds : sequence of int, optional
        One seed per member; default :func:`member_seed` of the base ``seed`` (a training
        setting, default 0) and the member index.
    retries : int, default 2
        Extra attempts for a member that fails or whose worker dies.
    progress : bool, default True
        Progress bar over finished members.
    config : FitConfig, optional
        Base settings; alternatively pass them as keywords (``epochs=50``). The base seed and
        ``test_fraction``/``dev_fraction`` define the common split.
    n_workers : int, default 2
        Workers of the temporary LocalCluster.
    **fit_kwargs
        Training settings and :func:`xdifferland.fit` keywords (``predictors``, ``roles``,
        ``patch_variable``, ``mask``, ``observation_mask``, ``extra_terms``).

    Returns
    -------
    Ensemble

    Examples
    --------
    >>> from xdifferland.datasets import synthetic_world
    >>> ds, _ = synthetic_world(seed=0, n_years=3)
    >>> ens = fit_ensemble(ds, 2, select_best=1, client="synchronous", epochs=1,
    ...                    predictors=["sand", "clay"], progress=False)
    >>> len(ens), ens.parameters(ds)["canopy_efficiency"].dims
    (1, ('member', 'lat', 'lon'))
    """
    plan = plan_ensemble(ds, n_members, bootstrap=bootstrap, select_best=select_best,
                         seeds=seeds, config=config, **fit_kwargs)
    payloads = run_tasks(_fit_member, plan.tasks, client=client, retries=retries,
                         progress=progress, description="ensemble", n_workers=n_workers)
    return plan.finish(payloads)


@dataclass(frozen=True)
class EnsemblePlan:
    """The member tasks of an ensemble and how to assemble their results.

    ``tasks`` are argument tuples of ``_fit_member`` (each returns a saved model's bytes);
    :meth:`finish` turns the returned bytes, in task order, into an :class:`Ensemble`. Several
    plans' tasks can run in one batch (as :func:`xdifferland.factorial` does).
    """

    tasks: tuple
    seeds: tuple[int, ...]
    drawn: tuple
    splits: Mapping
    size_of: Mapping
    batch_size: int
    select_best: int
    info: Mapping

    def finish(self, payloads: Sequence[bytes]) -> Ensemble:
        models, losses = [], []
        for payload, seed, (chosen, counts) in zip(payloads, self.seeds, self.drawn):
            model = _model_from_bytes(payload)
            n_batches = sum(-(-self.size_of[int(c)] // self.batch_size) for c in chosen)
            losses.append(float(model.history["train_loss"][-1]) / n_batches)
            meta = {**model.metadata, "member_seed": seed,
                    "bootstrap_patches": {str(int(c)): int(n) for c, n in zip(chosen, counts)}}
            models.append(dataclasses.replace(model, splits=dict(self.splits), metadata=meta))
        ensemble = Ensemble(tuple(models), tuple(range(len(models))), self.seeds, tuple(losses),
                            dict(self.info))
        return ensemble.best(self.select_best)


def plan_ensemble(ds: xr.Dataset, n_members: int, *, bootstrap: bool = True,
                  select_best: int | None = None, seeds: Sequence[int] | None = None,
                  config: FitConfig | None = None, **fit_kwargs) -> EnsemblePlan:
    """Member tasks of :func:`fit_ensemble` (same arguments, no Client); run them elsewhere."""
    if not (isinstance(n_members, (int, np.integer)) and n_members >= 1):
        raise ValueError(f"n_members={n_members!r}: use an integer >= 1")
    if select_best is not None and not 1 <= select_best <= n_members:
        raise ValueError(f"select_best={select_best!r}: use 1..n_members ({n_members}) or None")
    if seeds is not None and len(seeds) != n_members:
        raise ValueError(f"give one seed per member: {len(seeds)} seeds for {n_members} members")
    kwargs = {k: fit_kwargs.pop(k) for k in _FIT_KEYWORDS if k in fit_kwargs}
    for k in ("checkpoint_dir", "resume", "progress"):
        if k in fit_kwargs:
            raise TypeError(f"{k}= is not supported for ensemble members")
    if config is not None and fit_kwargs:
        raise TypeError(f"pass training settings either in config or as keywords, not both "
                        f"({sorted(fit_kwargs)})")
    base = config if config is not None else FitConfig(**fit_kwargs)
    ds = ds.load() if any(v.chunks is not None for v in ds.variables.values()) else ds

    # Common split and batch size, from the full data exactly as fit() builds them.
    data = training_data(ds, predictors=kwargs.get("predictors"), roles=kwargs.get("roles"),
                         patch_size=base.patch_size, patch_variable=kwargs.get("patch_variable"),
                         mask=kwargs.get("mask"), observation_mask=kwargs.get("observation_mask"),
                         plausibility=kwargs.get("plausibility"))
    members = patch_members(data)
    split = split_patches(data.n_patches, base)
    labels = data.patch_labels
    splits = {name: tuple(int(labels[k]) for k in getattr(split, name))
              for name in ("train", "dev", "test")}
    batch_size = base.batch_size or max(len(m) for m in members)
    size_of = {int(labels[k]): len(m) for k, m in enumerate(members)}
    prepared = prepare_dataset(ds, kwargs.get("roles"), check=False)
    ids = patch_ids(prepared.data, prepared.spatial_dims, base.patch_size,
                    kwargs.get("patch_variable"))
    user_mask = kwargs.pop("mask", None)

    seeds = [int(s) for s in seeds] if seeds is not None else [
        member_seed(base.seed, i) for i in range(n_members)]
    tasks, drawn = [], []
    for seed in seeds:
        chosen, counts = (bootstrap_patches(splits["train"], seed) if bootstrap else
                          (np.asarray(splits["train"]), np.ones(len(splits["train"]), int)))
        mask = ids.isin(chosen.tolist())
        if user_mask is not None:
            mask = mask & user_mask.astype(bool)
        config_i = dataclasses.replace(base, seed=seed, test_fraction=0.0, dev_fraction=0.0,
                                       batch_size=batch_size)
        tasks.append((ds, config_i, mask, kwargs))
        drawn.append((chosen, counts))
    info = {"n_fitted": n_members, "bootstrap": bool(bootstrap), "base_seed": base.seed,
            "bootstrap_method": "distinct patches of a with-replacement draw (no duplicates)",
            "loss": "final-epoch training loss per training batch"}
    return EnsemblePlan(tuple(tasks), tuple(seeds), tuple(drawn), splits, size_of, batch_size,
                        select_best or n_members, info)
