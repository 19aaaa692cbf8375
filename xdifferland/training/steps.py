"""The jitted training and evaluation steps of ``fit``, and their reuse across fits.

:func:`_make_steps` builds ``(train_step, eval_step)`` for a set of settings; the fold trainer
and the benchmarks call it directly. :func:`fused_steps` runs several training steps in one
call (``fit`` groups ``FitConfig.steps_per_call`` patches per call). :func:`_compiled_steps`
returns the same steps to every fit whose traced code is identical (ensemble members differ only
in seed), so they compile once per process.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import asdict

import jax
import jax.numpy as jnp
import optax

from ..engine import init, loss_terms, simulate
from ..engine.loss_in_loop import simulated_loss_terms
from ..engine.loss_parameters import parameter_outputs
from ..engine.simulate import whole_step_days
from ..network import predict_parameters
from .config import FitConfig

__all__: list[str] = []


def _make_steps(config: FitConfig, weights_map: dict, outputs: tuple[str, ...],
                extra_terms: tuple, optimizer, delta_t=None):
    """Jitted ``(train_step, loss_fn)``.

    ``delta_t``: the batches' step length in days (a number or an array of equal values); when
    it is a whole number the engine forms the compounded rates with whole-day powers.
    """
    net = config.network
    # Inside jit the batch's delta_t is traced, so the whole-day step is passed in statically.
    step_days = None if delta_t is None else whole_step_days(delta_t)

    def loss_fn(weights, batch):
        params = predict_parameters(weights, net, batch.predictors, batch.hemisphere)
        if config.loss_in_loop:
            terms = simulated_loss_terms(
                params, batch.forcing, batch.observations, weights=weights_map,
                batch_size=batch.valid.shape[0], use_uncertainty=config.use_uncertainty,
                edc_gate=batch.valid, extra_terms=extra_terms,
                extra_outputs=parameter_outputs(params), mass_conserving=config.mass_conserving,
                water_stress=config.water_stress, stress_weights=weights.get("water_stress"),
                step_days=step_days)
            return sum(terms.values()), terms
        run = simulate(params, batch.forcing, outputs, mass_conserving=config.mass_conserving,
                       water_stress=config.water_stress,
                       stress_weights=weights.get("water_stress"), step_days=step_days)
        # user terms may observe the parameters themselves (trait maps)
        with_parameters = {**run.outputs, **parameter_outputs(params)}
        terms = loss_terms(with_parameters, batch.observations, init(params), weights=weights_map,
                           batch_size=batch.valid.shape[0], use_uncertainty=config.use_uncertainty,
                           edc_gate=batch.valid, extra_terms=extra_terms)
        return sum(terms.values()), terms

    @jax.jit
    def train_step(weights, opt_state, batch):
        (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(weights, batch)
        updates, opt_state = optimizer.update(grads, opt_state, weights)
        return optax.apply_updates(weights, updates), opt_state, loss, terms

    return train_step, jax.jit(loss_fn)


def fused_steps(train_step):
    """Jitted ``steps(weights, opt_state, batches, count)``: ``count`` training steps in one call.

    ``batches`` are stacked along a new leading axis of length ``K`` (see
    :func:`~xdifferland.training.batches.stack_batches`); the first ``count`` (1 to ``K``, a
    traced number, so one compiled program serves a shorter last group) are trained on in
    order, exactly as ``count`` calls of ``train_step``. Returns the new weights and optimizer
    state, the ``(K,)`` losses and a dict of ``(K,)`` loss terms (zeros after ``count``).

    Why: each call of a jitted step costs about 1.2 ms of Python dispatch and an argument
    transfer, which the device then waits for; one call per ``K`` steps leaves the device
    busy. Side by side on the 2-core machine (training step 320 x 168), calls of 8 took 7-17 %
    less time per step than one call per step (``benchmarks/README.md``).
    """

    def run(weights, opt_state, batches, count):
        first = jax.tree_util.tree_map(lambda x: x[0], batches)
        _, _, loss_shape, terms_shape = jax.eval_shape(train_step, weights, opt_state, first)
        n = jax.tree_util.tree_leaves(batches)[0].shape[0]
        losses = jnp.zeros((n,), loss_shape.dtype)
        terms = {k: jnp.zeros((n,), v.dtype) for k, v in terms_shape.items()}

        def body(i, carry):
            weights, opt_state, losses, terms = carry
            batch = jax.tree_util.tree_map(
                lambda x: jax.lax.dynamic_index_in_dim(x, i, keepdims=False), batches)
            weights, opt_state, loss, step_terms = train_step(weights, opt_state, batch)
            return (weights, opt_state, losses.at[i].set(loss),
                    {k: v.at[i].set(step_terms[k]) for k, v in terms.items()})

        return jax.lax.fori_loop(0, count, body, (weights, opt_state, losses, terms))

    return jax.jit(run)


#: Jitted steps of recent fits, by what their traced code depends on (see _compiled_steps).
_STEP_CACHE: OrderedDict = OrderedDict()
_STEP_CACHE_LOCK = threading.Lock()
_STEP_CACHE_SIZE = 8


def _step_key(config: FitConfig, weights_map: dict, outputs, extra_terms, steps_per_epoch: int,
              delta_t):
    """Everything the jitted steps close over, or None when some of it is not hashable.

    Seeds, epochs (with a constant rate), splits and checkpointing do not enter the traced code;
    shapes (batch size, predictors, time steps) are told apart by ``jax.jit`` itself.
    """
    traced = {"network": asdict(config.network), "mass_conserving": config.mass_conserving,
              "loss_in_loop": config.loss_in_loop, "water_stress": config.water_stress,
              "use_uncertainty": config.use_uncertainty,
              "learning_rate": config.learning_rate, "schedule": config.schedule,
              "clip_norm": config.clip_norm, "weight_decay": config.weight_decay,
              "total_steps": (config.resolved_epochs(steps_per_epoch) * steps_per_epoch
                              if config.schedule == "cosine" else None)}
    step_days = None if delta_t is None else whole_step_days(delta_t)
    try:
        key = (json.dumps(traced, sort_keys=True), tuple(sorted(weights_map.items())),
               tuple(outputs), tuple(extra_terms), step_days)
        hash(key)
    except TypeError:  # e.g. a user term holding a list: build fresh steps, as before
        return None
    return key


def _compiled_steps(config: FitConfig, weights_map: dict, outputs, extra_terms,
                    steps_per_epoch: int, delta_t=None):
    """``(optimizer, train_steps, eval_step)``, shared by fits whose traced code is the same.

    ``train_steps`` is the :func:`fused_steps` form of the training step.

    Every fit used to jit new closures, so the members of an ensemble (same settings, other
    seeds) each compiled the same two programs again: 10-15 s per member on two cores, more
    than the training itself on a small world. The last few are kept per process.
    """
    key = _step_key(config, weights_map, outputs, extra_terms, steps_per_epoch, delta_t)
    with _STEP_CACHE_LOCK:
        if key is not None and key in _STEP_CACHE:
            _STEP_CACHE.move_to_end(key)
            return _STEP_CACHE[key]
    optimizer = config.optimizer(steps_per_epoch)
    train_step, eval_step = _make_steps(config, weights_map, outputs, extra_terms, optimizer,
                                        delta_t)
    built = (optimizer, fused_steps(train_step), eval_step)
    if key is not None:
        with _STEP_CACHE_LOCK:
            built = _STEP_CACHE.setdefault(key, built)  # another thread may have been first
            _STEP_CACHE.move_to_end(key)
            while len(_STEP_CACHE) > _STEP_CACHE_SIZE:
                _STEP_CACHE.popitem(last=False)
    return built
