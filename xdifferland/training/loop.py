"""``fit``: train the spatialization network end to end through DALEC993 (spec 7-9)."""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from .. import parallel
from ..engine.loss import LossTerm, active_terms, required_outputs
from ..engine.water_stress import init_water_stress
from ..network import init_network, start_weights
from .batches import Standardization, epoch_batches, patch_blocks, patch_members
from .checkpoint import flatten, unflatten, write_arrays
from .epochs import _EpochSums, _groups, _running_average  # noqa: F401 (folds.py, tests)
from .config import FitConfig
from .data import TrainingData, training_data
from .divergence import DivergenceWarning, check_convergence, divergence_during
from .model_file import manifest, read_checkpoint
from .prefetch import prefetched
from .starts import Run, screen_starts, start_seed
from .splits import Splits, _say_unheld, split_patches
from .streams import check_streams, mask_uncovered, stream_records, stream_variables
from .steps import _compiled_steps

__all__ = ["fit", "TrainingError", "Splits", "split_patches"]

log = logging.getLogger("xdifferland.training")
_ANNUAL_TERMS = ("biomass", "nbe_iav", "vod")


class TrainingError(RuntimeError):
    """Training could not produce a finite model."""


def _term_weights(config: FitConfig, data: TrainingData, extra_terms) -> dict:
    # Annual terms average blocks of 12 monthly steps; other steps or lengths cannot use them.
    monthly_years = data.delta_t == 30.0 and data.time.size % 12 == 0
    weights = {} if monthly_years else {name: None for name in _ANNUAL_TERMS}
    if weights and any(s in data.observations for s in ("biomass", "nbe", "vod")):
        log.warning("annual terms %s are off: they need whole years of monthly steps "
                    "(%d steps of %g days here)", ", ".join(_ANNUAL_TERMS), data.time.size,
                    data.delta_t)
    weights.update(config.loss_weights)
    active = active_terms(data.observations, weights, extra_terms)
    if not active:
        raise TrainingError("no loss term is active: the Dataset has no observations the loss "
                            "knows (see xdifferland.training.STREAMS)")
    return weights


def _save_checkpoint(path: Path, weights, opt_state, epoch: int, restarts: int, history: dict,
                     config: FitConfig, average=None) -> None:
    arrays = {f"weights/{k}": v for k, v in flatten(jax.device_get(weights)).items()}
    if average is not None:
        arrays |= {f"average/{k}": v for k, v in flatten(jax.device_get(average)).items()}
    for i, leaf in enumerate(jax.tree_util.tree_leaves(opt_state)):
        arrays[f"optimizer/{i:04d}"] = np.asarray(leaf)
    write_arrays(path, arrays, {"kind": "checkpoint", "epoch": epoch, "restarts": restarts,
                                "history": history, "config": config.to_dict(),
                                "arrays": manifest(arrays)},
                 overwrite=True)


def _load_checkpoint(path, config: FitConfig, weights_template, opt_template):
    # validated against this run (settings, every array's shape, finite values) before use
    arrays, meta = read_checkpoint(path, config, weights_template, opt_template)
    weights = jax.tree_util.tree_map(
        jnp.asarray, unflatten({k[8:]: v for k, v in arrays.items() if k.startswith("weights/")}))
    leaves = [jnp.asarray(arrays[k]) for k in sorted(a for a in arrays if a.startswith("optim"))]
    opt_state = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(opt_template), leaves)
    average = {k[8:]: v for k, v in arrays.items() if k.startswith("average/")}
    average = jax.tree_util.tree_map(jnp.asarray, unflatten(average)) if average else None
    return weights, opt_state, meta["epoch"], meta["restarts"], meta["history"], average


def fit(ds: xr.Dataset, config: FitConfig | None = None, *,
        predictors: Sequence[str] | None = None, roles: Mapping[str, str] | None = None,
        patch_variable: str | None = None, mask: xr.DataArray | None = None,
        observation_mask: xr.DataArray | None = None, extra_terms: Iterable[LossTerm] = (),
        checkpoint_dir: str | Path | None = None,
        resume: str | Path | None = None, progress: bool = True,
        callback: Callable[[int, dict], None] | None = None,
        plausibility: str | Mapping | None = None, **settings):
    """Fit the spatialization network through DALEC993 to the Dataset's observations.

    Parameters
    ----------
    ds : xarray.Dataset
        Forcing, static predictors and observations (see :mod:`xdifferland.contract.declare`).
    config : FitConfig, optional
        All training settings; alternatively pass them as keywords (``epochs=50, seed=1``).
    predictors : sequence of str, optional
        Predictor variables (default: every declared predictor present in ``ds``).
    roles, mask
        As in :func:`xdifferland.simulate`.
    observation_mask : DataArray of bool, optional
        ``(time, *spatial)`` (or broadcastable): observations used for training; others are
        ignored by the loss, e.g. to hold out later years for a temporal test.
    patch_variable : str, optional
        Variable holding an integer patch id per location (site lists); default: coarse
        lat/lon cells of ``config.patch_size`` degrees.
    extra_terms : iterable of LossTerm
        User-defined loss terms added to the built-in ones. A term whose ``observation`` is not
        a built-in stream names a Dataset variable, your own observation stream: it is read
        like the built-in ones (NaN and ``observation_mask`` mask it, ``<name>_unc`` is its
        uncertainty), its term joins the loss history, and the model records it in
        ``metadata["streams"]`` (:func:`~xdifferland.engine.loss_streams.stream_term` builds
        such a term at pixel or patch scale, per step or per year, and lets ``evaluate`` score
        it). A term whose variable the Dataset lacks, or never observes, raises a
        :class:`~xdifferland.errors.DataError` before training.
    checkpoint_dir : path, optional
        Folder for ``checkpoint.npz``, written atomically every ``checkpoint_every`` epochs.
    resume : path, optional
        A checkpoint to continue from; the result equals an uninterrupted run with the same
        settings and seed.
    progress : bool, default True
        Show a progress bar (epoch, training loss, dev loss); messages also go to ``logging``.
    callback : callable, optional
        Called as ``callback(epoch, history)`` after each epoch; raise to stop training.
    plausibility : {"error", "warn", "ignore"} or mapping, optional
        Accept physically implausible input values (see :mod:`xdifferland.contract.plausibility`);
        any override is recorded in ``model.metadata["plausibility_overrides"]``.

    Returns
    -------
    DifferLandModel
        ``model.converged`` is ``False`` when the training or dev loss diverged (ended above
        its start, kept rising, or stayed above its start; see
        :mod:`xdifferland.training.divergence`), and ``model.convergence`` says why and what to
        try; both are saved with the model.

    Warns
    -----
    DivergenceWarning
        When the fit diverged and ``config.divergence`` is ``"warn"`` (the default) or
        ``"stop"`` (training then ends at the epoch a rule fires).

    Examples
    --------
    >>> from xdifferland.datasets import synthetic_world
    >>> ds, truth = synthetic_world(seed=0)
    >>> model = ds.differland.fit(epochs=2, progress=False)
    >>> sorted(model.parameters(ds).data_vars)[:2]
    ['autotrophic_fraction', 'canopy_efficiency']
    >>> model.converged
    True

    Your own stream, e.g. net primary production observed at some pixels (here planted from
    the world's truth), compared with GPP minus autotrophic respiration:

    >>> from xdifferland.engine.loss_streams import stream_term
    >>> ds["npp_obs"] = (truth["gpp"] - truth["autotrophic_respiration"]).assign_attrs(
    ...     units="g m-2 d-1")
    >>> npp = stream_term("npp_obs", {"gpp": 1, "autotrophic_respiration": -1}, weight=100)
    >>> model = ds.differland.fit(epochs=2, progress=False, extra_terms=[npp])
    >>> "npp_obs" in model.history["train_terms"], model.metadata["streams"]["npp_obs"]["scale"]
    (True, 'pixel')
    """
    from ..model import DifferLandModel, training_categories

    config = config if config is not None else FitConfig(**settings)
    extra_terms = tuple(extra_terms)
    data = training_data(ds, predictors=predictors, roles=roles, patch_size=config.patch_size,
                         patch_variable=patch_variable, mask=mask,
                         observation_mask=observation_mask,
                         use_uncertainty=config.use_uncertainty, plausibility=plausibility,
                         extra_streams=stream_variables(extra_terms))
    check_streams(extra_terms, data)
    members = patch_members(data)
    splits = split_patches(data.n_patches, config)
    std = Standardization.from_training(data, np.concatenate([members[k] for k in splits.train]))
    batch_size = config.batch_size or max(len(m) for m in members)
    coarse_ok = data.patch_coverage >= config.coverage_threshold
    mask_uncovered(extra_terms, data, coarse_ok)
    weights_map = _term_weights(config, data, extra_terms)
    outputs = required_outputs(active_terms(data.observations, weights_map, extra_terms),
                               extra_terms)
    dtype = np.float64 if jax.config.jax_enable_x64 else np.float32
    steps_per_epoch = sum(-(-len(members[k]) // batch_size) for k in splits.train)
    # The default length depends on the data (at least MIN_DEFAULT_STEPS steps); the model and
    # its checkpoints record the number of epochs actually run.
    config = replace(config, epochs=config.resolved_epochs(steps_per_epoch),
                     starts=config.resolved_starts(),
                     shuffle_blocks=config.resolved_shuffle_blocks(data.store_chunks))
    blocks = patch_blocks(data, members, config.shuffle_blocks)
    log.info("training %d epochs of %d patch steps (%d steps)", config.epochs, steps_per_epoch,
             config.epochs * steps_per_epoch)
    _say_unheld(splits, config, patch_variable,
                gridded={"lat", "lon"} <= set(data.spatial_dims))
    optimizer, train_steps, eval_step = _compiled_steps(config, weights_map, outputs, extra_terms,
                                                       steps_per_epoch, data.delta_t)
    # built-in streams' uncertainties are read only with use_uncertainty; user terms' always
    uncertain = None if config.use_uncertainty else tuple(stream_variables(extra_terms))
    dev_batches = list(epoch_batches(data, splits.dev, members, batch_size, std, coarse_ok,
                                     None, dtype, uncertain=uncertain))

    train_pixels = np.concatenate([members[k] for k in splits.train])
    start_inputs = [np.asarray(a, dtype) for a in std.apply(data.predictors[train_pixels],
                                                              data.hemisphere[train_pixels])]

    def fresh(restarts: int, start: int = 0) -> Run:
        seed = start_seed(config.seed, restarts, start)
        w = dict(init_network(config.network, len(data.predictor_names), seed))
        w = dict(start_weights(w, config.network, config.water_start, *start_inputs,
                               step_days=data.delta_t))
        if config.water_stress != "default":  # global process networks, trained jointly
            w["water_stress"] = init_water_stress(config.water_stress, seed)
        w, o = place(w), place(optimizer.init(w))
        return Run(w, o, restarts=restarts, start=start, history=_empty_history())

    # Several JAX devices (e.g. host devices from xdifferland.parallel.configure_host_devices):
    # replicate the weights and split every batch's pixel rows across them.
    mesh = _pixel_mesh(batch_size)
    place = (lambda tree: parallel.replicate(tree, mesh)) if mesh else (lambda tree: tree)
    spread = (lambda batch: parallel.shard_batch(batch, mesh)) if mesh else (lambda b: b)
    spread_group = ((lambda group: parallel.shard_batch(group, mesh, stacked=True)) if mesh
                    else (lambda group: group))
    dev_batches = [spread(b) for b in dev_batches]
    # No longer than an epoch: a world of 2 training patches does not send 8 stacked batches.
    group_size = max(1, min(config.steps_per_call, steps_per_epoch))
    checkpoint = Path(checkpoint_dir) / "checkpoint.npz" if checkpoint_dir else None

    def advance(run: Run) -> bool:
        """Train ``run`` one epoch, in place; ``False`` (and ``run`` unchanged in its epoch
        count) when the training loss was not finite."""
        rng = np.random.default_rng([config.seed, run.restarts, run.epoch])
        sums, waited, started = _EpochSums(), [], time.perf_counter()
        # built on a background thread (from memory, or read from a lazy store) while the
        # device works on the previous steps
        batches = prefetched(epoch_batches(data, splits.train, members, batch_size, std,
                                           coarse_ok, rng, dtype, blocks, uncertain),
                             depth=2 * group_size,
                             waited=waited)
        for group, count in _groups(batches, group_size):
            run.weights, run.opt_state, losses, terms = train_steps(
                run.weights, run.opt_state, spread_group(group), count)
            sums.add(losses, terms, count)
        total, term_totals = sums.result()
        log.debug("epoch %d: %.3f s of %.3f s waiting for batches", run.epoch + 1, sum(waited),
                  time.perf_counter() - started)
        if not math.isfinite(total):
            return False
        run.epoch += 1
        run.average = _running_average(run.average, run.weights,
                                       run.epoch - config.averaging_starts())
        run.history["train_loss"].append(total)
        for name, value in term_totals.items():
            run.history["train_terms"].setdefault(name, []).append(value)
        if dev_batches and (run.epoch % config.eval_every == 0 or run.epoch == config.epochs):
            run.history["dev_loss"].append(sum(float(eval_step(run.weights, b)[0])
                                               for b in dev_batches))
            run.history["dev_epoch"].append(run.epoch)
        return True

    screen_epochs = config.screen_epochs()

    def begin(restarts: int) -> Run | None:
        """A fresh run, or the best of the screened starts (``None``: none stayed finite)."""
        if config.resolved_starts() == 1 or screen_epochs == 0:
            return fresh(restarts)
        n = config.resolved_starts()
        log.info("screening %d initializations for %d epochs each", n, screen_epochs)
        with _progress(n * screen_epochs, 0, progress, f"fit: {n} starts") as screen_bar:
            run, scores = screen_starts(lambda k: fresh(restarts, k), advance, n,
                                        screen_epochs, screen_bar)
        if run is not None:
            run.history["start_losses"] = scores
            run.history["start_chosen"] = run.start
            log.info("continuing start %d (training loss %.6g; others %s)", run.start + 1,
                     scores[run.start], ", ".join(f"{s:.6g}" for s in scores))
        return run

    def begin_finite(restarts: int) -> Run:
        """``begin``, re-initialized with new seeds while no start stays finite."""
        run = begin(restarts)
        while run is None:
            restarts = restart(restarts + 1, screen_epochs - 1)
            run = begin(restarts)
        return run

    def restart(restarts: int, epoch: int) -> int:
        if restarts > config.max_restarts:
            raise TrainingError(
                f"the training loss became NaN/inf {restarts} times (last at epoch "
                f"{epoch + 1}); lower learning_rate, check the observations' units, or "
                "switch on mass_conserving=True")
        log.warning("non-finite training loss at epoch %d: re-initializing with a new seed "
                    "(restart %d of %d)", epoch + 1, restarts, config.max_restarts)
        return restarts

    if resume is not None:
        run = fresh(0)
        weights, opt_state, epoch, restarts, history, average = _load_checkpoint(
            resume, config, run.weights, run.opt_state)
        # checkpoints of 0.1 have no per-term history
        run = Run(place(weights), place(opt_state), restarts=restarts, epoch=epoch,
                  history=_empty_history() | history,
                  average=None if average is None else place(average))
        log.info("resuming from %s at epoch %d", resume, epoch)
    else:
        run = begin_finite(0)
        if checkpoint is not None and run.epoch > 0:  # the screening is not repeated on resume
            _save_checkpoint(checkpoint, run.weights, run.opt_state, run.epoch, run.restarts,
                             run.history, config, run.average)

    bar = _progress(config.epochs, run.epoch, progress)
    stopped = None
    while run.epoch < config.epochs:
        if not advance(run):
            run = begin_finite(restart(run.restarts + 1, run.epoch))
            bar.reset()
            bar.update(run.epoch)
            continue
        _report(bar, run.epoch, run.history)
        if config.divergence == "stop":
            stopped = divergence_during(run.history, config)
        if checkpoint is not None and (run.epoch % config.checkpoint_every == 0
                                       or run.epoch == config.epochs or stopped):
            _save_checkpoint(checkpoint, run.weights, run.opt_state, run.epoch, run.restarts,
                             run.history, config, run.average)
        if callback is not None:
            callback(run.epoch, run.history)
        if stopped:
            break
    bar.close()
    convergence = stopped or check_convergence(run.history, config)
    if not convergence.converged and config.divergence != "ignore":
        warnings.warn(convergence.reason, DivergenceWarning, stacklevel=2)
    weights, average, history = run.weights, run.average, run.history
    if average is not None:
        log.info("returning the average of the weights of the last %d epochs",
                 config.epochs - config.averaging_starts())
    model = DifferLandModel.from_training(
        weights=jax.device_get(weights if average is None else average), config=config,
        standardization=std, data=data,
        splits=splits, history=history, predictors=data.predictor_names,
        patch_variable=patch_variable, extra_terms=tuple(t.name for t in extra_terms),
        categories=training_categories(ds), convergence=convergence)
    streams = stream_records(extra_terms, ds, data)
    return replace(model, metadata={**model.metadata, "streams": streams}) if streams else model


def _empty_history() -> dict:
    """Per-epoch sums of the training loss and of each of its terms; dev loss when evaluated."""
    return {"train_loss": [], "train_terms": {}, "dev_loss": [], "dev_epoch": []}


def _pixel_mesh(batch_size: int):
    """A device mesh over the pixel rows when several devices can split the batch evenly."""
    n = parallel.device_count()
    if n > 1 and batch_size % n == 0:
        log.info("training on %d devices, %d pixel rows each", n, batch_size // n)
        return parallel.pixel_mesh()
    if n > 1:
        log.warning("%d devices but batch_size=%d does not split evenly: using one device",
                    n, batch_size)
    return None


def _progress(total: int, start: int, enabled: bool, desc: str = "fit"):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, disable=not enabled, desc=desc, unit="epoch")


def _report(bar, epoch: int, history: dict) -> None:
    train = history["train_loss"][-1]
    dev = history["dev_loss"][-1] if history["dev_loss"] else float("nan")
    bar.set_postfix(train=f"{train:.4g}", dev=f"{dev:.4g}")
    bar.update(1)
    log.info("epoch %d: training loss %.6g, dev loss %.6g", epoch, train, dev)
