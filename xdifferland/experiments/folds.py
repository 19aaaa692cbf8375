"""Several independent fits trained side by side in one vectorized step.

Leave-one-site-out validation needs one fit per held-out site, and a seed ensemble needs one fit
per seed. On a few sites the cost of a fit is the sequential time loop of DALEC993, not the
width of the batch, so training every member at once (``jax.vmap`` over stacked weights,
optimizer states and batches) costs little more than one fit. Each member keeps its own network,
standardization and Adam state; the result equals separate :func:`xdifferland.fit` calls with a
fixed pixel order up to floating-point summation order.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import replace
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..errors import DataError, Problem
from ..engine.loss import active_terms, required_outputs
from ..engine.water_stress import init_water_stress
from ..network import init_network, start_weights
from ..training.batches import Standardization, build_batch, stack_batches
from ..training.config import FitConfig
from ..training.data import training_data
from ..training.divergence import DivergenceWarning, check_convergence
from ..training.loop import Splits, TrainingError, _running_average, _term_weights
from ..training.steps import _make_steps

__all__ = ["Member", "fit_members", "stuck_members", "refit_stuck"]

log = logging.getLogger("xdifferland.experiments")


class Member:
    """One fit of :func:`fit_members`: its sites, observation mask, predictors and seed."""

    def __init__(self, ds: xr.Dataset, observation_mask: xr.DataArray | None,
                 predictors: Sequence[str], seed: int = 0):
        self.ds, self.observation_mask = ds, observation_mask
        self.predictors, self.seed = tuple(predictors), int(seed)


def predictor_sets(predictors) -> tuple[tuple[str, ...], ...]:
    """``predictors`` as predictor sets: one set (a sequence of names) or several (a sequence
    of sequences of names); member ``k`` of a group uses set ``k % n_sets``. A string is the
    command-line form: names separated by ``,``, sets by ``;``.

    Examples
    --------
    >>> predictor_sets(("woody",))
    (('woody',),)
    >>> predictor_sets([["woody"], ("tree_cover", "moisture_index")])
    (('woody',), ('tree_cover', 'moisture_index'))
    >>> predictor_sets("woody;tree_cover,moisture_index")
    (('woody',), ('tree_cover', 'moisture_index'))
    """
    if isinstance(predictors, str):
        predictors = [[n.strip() for n in part.split(",") if n.strip()]
                      for part in predictors.split(";") if part.strip()]
    items = list(predictors)
    if items and all(isinstance(p, str) for p in items):
        return (tuple(items),)
    if items and all(not isinstance(p, str) and len(p) > 0 and all(isinstance(q, str) for q in p)
                     for p in items):
        return tuple(tuple(p) for p in items)
    raise ValueError(f"predictors={predictors!r}: give predictor names (one set) or sequences "
                     "of names (several sets, taken by the members in turn), e.g. ('woody',) "
                     "or (('woody',), ('tree_cover', 'evergreen', 'moisture_index'))")


def _member_data(member: Member):
    """Training arrays of a member; a predictor constant over its sites becomes a column of its
    value (validation would reject it) that the standardization then maps to 0."""
    import dataclasses

    from ..training.data import default_predictors

    ds = member.ds
    constant = [p for p in member.predictors if float(ds[p].std()) == 0.0]
    used = [p for p in member.predictors if p not in constant]
    if not used:
        # e.g. a leave-site-out member whose sites are all wooded: one parameter set for all
        sites = ", ".join(str(s) for s in ds["site"].values) if "site" in ds.dims else "its sites"
        used = [p for p in default_predictors(ds) if float(ds[p].std()) > 0][:1]
        if not used:  # nothing varies to read the arrays with
            raise DataError([Problem(
                "predictors", f"{', '.join(member.predictors)} take one value over the "
                f"training sites of this member ({sites}), and so does every other predictor.",
                "train on more sites")])
        warnings.warn(f"predictors {', '.join(member.predictors)} take one value over the "
                      f"training sites of member seed {member.seed} ({sites}): it learns one "
                      "parameter set for all of them", UserWarning, stacklevel=3)
    unused = [p for p in default_predictors(ds) if p not in used]
    data = training_data(ds.drop_vars(unused), predictors=used,
                         observation_mask=member.observation_mask)
    if not constant:
        return data
    columns = {name: data.predictors[:, k] for k, name in enumerate(data.predictor_names)}
    # (a stand-in predictor that was only read to build the arrays is dropped here)
    for name in constant:
        columns[name] = np.full(data.n_pixels, float(ds[name].mean()))
    order = tuple(member.predictors)
    return dataclasses.replace(data, predictors=np.stack([columns[n] for n in order], axis=1),
                               predictor_names=order)


def _same_streams(datas) -> None:
    """Give every member the same observation streams (absent ones fully masked) to stack."""
    streams = {s for d in datas for s in d.observations}
    for data in datas:
        shape = data.forcing["t_min"].shape
        for stream in streams - set(data.observations):
            data.observations[stream] = {"value": np.zeros(shape), "mask": np.zeros(shape),
                                         "uncertainty": None}


def _stacked_batch(datas, coverage_threshold: float, dtype):
    sizes = {d.n_pixels for d in datas}
    if len(sizes) != 1:
        raise ValueError(f"members must have the same number of sites to train side by side, "
                         f"got {sorted(sizes)}")
    batches, stds = [], []
    for data in datas:
        pixels = np.arange(data.n_pixels)
        # A predictor constant over a member's sites (e.g. a class seen only at its held-out
        # site) is mapped to 0, as if dropped, so every member keeps the same input width.
        std = Standardization.from_training(data, pixels, ignore_constant=True)
        coarse = data.patch_coverage >= coverage_threshold
        batches.append(build_batch(data, pixels, data.n_pixels, std, bool(coarse.all()), dtype))
        stds.append(std)
    return stack_batches(batches), stds


def _start_inputs(data, std: Standardization, dtype):
    """Standardized predictors and hemisphere of a member's training locations."""
    z, zh = std.apply(data.predictors, data.hemisphere)
    return np.asarray(z, dtype), np.asarray(zh, dtype)


def fit_members(members: Sequence[Member], config: FitConfig, *, progress: bool = False,
                callback=None):
    """Train one network per member, all at once; return a fitted model per member.

    Parameters
    ----------
    members : sequence of Member
        Each a patch-free set of sites (one batch of equal size across members) with the
        observations it may train on and its predictors.
    config : FitConfig
        Shared training settings (epochs, learning rate, schedule, network, loss weights). Its
        ``seed`` is ignored: each member uses its own. Dev and test splits are not used.
    progress : bool, default False
        Show a progress bar over epochs.
    callback : callable, optional
        Called as ``callback(epoch, losses)`` after each epoch (``losses`` one per member); raise
        to stop training. Members with different numbers of predictors train in one run per
        number, one after the other, each calling ``callback`` with its own members' losses.

    Returns
    -------
    list of DifferLandModel
        In the order of ``members``; each applies to any Dataset with its predictors.
    """
    from ..model import DifferLandModel, training_categories

    sizes = sorted({len(m.predictors) for m in members})
    if len(sizes) > 1:  # networks of different input widths train side by side per width
        models = [None] * len(members)
        for size in sizes:
            part = [i for i, m in enumerate(members) if len(m.predictors) == size]
            fitted = fit_members([members[i] for i in part], config, progress=progress,
                                 callback=callback)
            for i, model in zip(part, fitted):
                models[i] = model
        return models
    config = replace(config, epochs=config.resolved_epochs(1))  # one step per epoch
    datas = [_member_data(m) for m in members]
    _same_streams(datas)
    dtype = np.float64 if jax.config.jax_enable_x64 else np.float32
    batch, stds = _stacked_batch(datas, config.coverage_threshold, dtype)
    weights_map = _term_weights(config, datas[0], ())
    outputs = required_outputs(active_terms(datas[0].observations, weights_map, ()), ())
    optimizer = config.optimizer(1)
    step_lengths = {d.delta_t for d in datas}  # one whole-day step for all, or the general path
    train_step, _ = _make_steps(config, weights_map, outputs, (), optimizer,
                                step_lengths.pop() if len(step_lengths) == 1 else None)
    step = jax.jit(jax.vmap(train_step))

    for restart in range(config.max_restarts + 1):
        seeds = [m.seed + 7919 * restart for m in members]
        weights = [dict(start_weights(init_network(config.network, len(m.predictors), seed),
                                      config.network, config.water_start,
                                      *_start_inputs(data, std, dtype), step_days=data.delta_t))
                   for m, seed, data, std in zip(members, seeds, datas, stds)]
        if config.water_stress != "default":  # global process networks, one per member
            for w, seed in zip(weights, seeds):
                w["water_stress"] = init_water_stress(config.water_stress, seed)
        weights = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *weights)
        opt_state = jax.vmap(optimizer.init)(weights)
        losses = _train(step, weights, opt_state, batch, config.epochs, progress, callback,
                        average_after=config.averaging_starts())
        if losses is not None:
            break
        log.warning("non-finite training loss: re-initializing all members (restart %d of %d)",
                    restart + 1, config.max_restarts)
    else:
        raise TrainingError("the training loss of a member became NaN/inf "
                            f"{config.max_restarts + 1} times; lower learning_rate")
    weights, history = losses
    splits = Splits(train=np.arange(1), dev=np.arange(0), test=np.arange(0))
    models = []
    for k, (member, data, std) in enumerate(zip(members, datas, stds)):
        own = jax.tree_util.tree_map(lambda x, k=k: np.asarray(x[k]), weights)
        own_history = {"train_loss": [float(loss[k]) for loss, _ in history],
                       "train_terms": {name: [float(terms[name][k]) for _, terms in history]
                                       for name in history[0][1]} if history else {},
                       "dev_loss": [], "dev_epoch": []}
        # Members train side by side, so one cannot stop alone: a diverged member is reported
        # (and recorded in its model) whatever ``config.divergence`` asks of a single fit.
        convergence = check_convergence(own_history, config)
        if not convergence.converged and config.divergence != "ignore":
            warnings.warn(f"member {k} (seed {member.seed}): {convergence.reason}",
                          DivergenceWarning, stacklevel=2)
        models.append(DifferLandModel.from_training(
            weights=own, config=FitConfig.from_dict(config.to_dict() | {"seed": member.seed}),
            standardization=std, data=data, splits=splits, history=own_history,
            predictors=member.predictors, patch_variable=None, extra_terms=(),
            categories=training_categories(member.ds), convergence=convergence))
    return models


def stuck_members(losses: Sequence[float], groups: Sequence, factor: float = 2.0) -> list[int]:
    """Members whose final training loss is more than ``factor`` times the lowest of their group.

    Members of a group fit the same data from different seeds, so their losses are comparable.
    On the FLUXNET sites some initializations end in a plateau where the simulated GPP is zero at
    every training site (the water-stress factor is clamped to 0, so GPP has no gradient): their
    loss stays 3-5 times the best of their group, while healthy seeds stay within a factor 1.8.

    Examples
    --------
    >>> stuck_members([55.0, 60.0, 180.0, 30.0, 31.0], groups=["a", "a", "a", "b", "b"])
    [2]
    """
    if factor <= 1:
        raise ValueError(f"factor={factor!r}: use a number > 1 (a member is stuck when its loss "
                         "exceeds factor x the best loss of its group)")
    best: dict = {}
    for loss, group in zip(losses, groups):
        best[group] = min(best.get(group, math.inf), loss)
    return [i for i, (loss, group) in enumerate(zip(losses, groups))
            if not loss <= factor * best[group]]


def refit_stuck(models: list, members: Sequence[Member], config: FitConfig, groups: Sequence, *,
                factor: float = 2.0, max_refits: int = 2, progress: bool = False,
                callback=None) -> tuple[list, list[int], int]:
    """Refit :func:`stuck_members` from new seeds, up to ``max_refits`` rounds.

    Returns the models (refits in place of the stuck ones), the indices still stuck after the
    last round and the number of refits run.
    """
    models, refits = list(models), 0
    for round_ in range(1, max_refits + 1):
        stuck = stuck_members([m.history["train_loss"][-1] for m in models], groups, factor)
        if not stuck:
            return models, [], refits
        log.warning("%d of %d members ended with a training loss over %g x the best of their "
                    "group (a poor optimum); refitting them from new seeds (round %d of %d)",
                    len(stuck), len(models), factor, round_, max_refits)
        again = [Member(members[i].ds, members[i].observation_mask, members[i].predictors,
                        seed=members[i].seed + 100_003 * round_) for i in stuck]
        for i, model in zip(stuck, fit_members(again, config, progress=progress,
                                               callback=callback)):
            models[i] = model
        refits += len(stuck)
    stuck = stuck_members([m.history["train_loss"][-1] for m in models], groups, factor)
    if stuck and max_refits:
        log.warning("%d of %d members are still stuck after %d rounds of refits",
                    len(stuck), len(models), max_refits)
    return models, stuck, refits


def _train(step, weights, opt_state, batch, epochs: int, progress: bool, callback=None, *,
           average_after: int | None = None):
    """Run the epochs; the final weights (or their mean over the epochs after
    ``average_after``, as ``FitConfig.average_last`` asks) and per-epoch ``(losses, terms)`` of
    every member, or None on a non-finite loss."""
    from tqdm.auto import tqdm

    history, average = [], None
    average_after = epochs if average_after is None else average_after
    for epoch in tqdm(range(1, epochs + 1), disable=not progress, desc="fit members",
                      unit="epoch"):
        weights, opt_state, loss, terms = step(weights, opt_state, batch)
        average = _running_average(average, weights, epoch - average_after)
        loss, terms = np.asarray(loss), jax.device_get(terms)
        if not all(math.isfinite(v) for v in loss):
            return None
        history.append((loss, terms))
        if callback is not None:
            callback(len(history), loss)
    return (weights if average is None else average), history
