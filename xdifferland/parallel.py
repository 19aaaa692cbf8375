"""Use every CPU core (or every accelerator) by splitting the pixel axis across JAX devices.

DALEC993 is independent across pixels, so a run or a training batch can be split along the pixel
axis and each part run on its own device; only the loss sums and the gradient are combined (XLA
inserts the all-reduce). On a CPU, JAX shows one device by default and most of the time loop runs
on one core; :func:`configure_host_devices` makes JAX show one CPU device per core, and the
helpers below place arrays so that ``jax.jit`` runs each device's share in parallel.

Usage (CPU, before anything touches JAX)::

    import xdifferland.parallel as xp
    xp.configure_host_devices()          # or: XLA_FLAGS=--xla_force_host_platform_device_count=2

    batch = xp.shard_batch(batch)        # training: shard a Batch over all devices
    weights = xp.replicate(weights)      # and replicate the network weights / optimizer state
    run = xp.simulate(parameters, forcing, outputs)   # forward: pads, shards, runs, trims

Nothing here is CPU specific: with several GPUs the same calls split the pixels across them, and
with one device every helper is a no-op placement.
"""

from __future__ import annotations

import os
import re
from typing import Sequence

__all__ = [
    "LOOP_OPTION", "compile_loops_whole", "configure_host_devices", "device_count", "pixel_mesh",
    "replicate", "shard_pixels", "shard_batch", "pad_pixels", "simulate",
]

_FLAG = "--xla_force_host_platform_device_count"
_LOOP_KEY = "xla_cpu_small_while_loop_byte_threshold"
#: XLA CPU backend option compiling a while loop into one function when its bytes touched per
#: iteration are below the threshold (default 1 kB, which no DALEC993 loop is).
LOOP_OPTION = f"{_LOOP_KEY}=1000000000"


def _jax_started() -> bool:
    """Whether JAX has created its backends (after which XLA_FLAGS are no longer read)."""
    import sys

    xb = sys.modules.get("jax._src.xla_bridge")
    return bool(xb is not None and getattr(xb, "_backends", None))


def compile_loops_whole() -> bool:
    """Add :data:`LOOP_OPTION` to ``XLA_FLAGS`` if JAX has not started; whether it is in effect.

    ``import xdifferland`` calls this (unless ``XDIFFERLAND_COMPILE_LOOPS_WHOLE=0``): XLA CPU then
    compiles each time loop into one function instead of dispatching its ~100 kernels one by one
    every month of the scan. Same operations, so the same numbers (the parity tests run with it);
    on the 2-core machine a twin-world training epoch (80-pixel patches, one device) takes
    0.28 s instead of 0.45 s. A value already in ``XLA_FLAGS`` is kept. When JAX has started
    before the import, nothing changes (returns False); other backends ignore the option.
    """
    return _add_loop_option()


def _add_loop_option() -> bool:
    flags = os.environ.get("XLA_FLAGS", "")
    if _LOOP_KEY in flags:
        return True
    if _jax_started():
        return False
    others = re.sub(r"--xla_backend_extra_options=\S*", "", flags).strip()
    os.environ["XLA_FLAGS"] = f"{others} {_with_backend_option(flags, LOOP_OPTION)}".strip()
    return True


def configure_host_devices(n: int | None = None, *, compile_loops_whole: bool = True) -> int:
    """Ask XLA for ``n`` CPU devices (default: the number of usable cores).

    Must run before the first JAX computation in the process (importing ``jax`` is fine; creating
    an array is not). It edits ``XLA_FLAGS`` in ``os.environ``; an explicit count already in
    ``XLA_FLAGS`` is kept. Returns the requested count. GPU devices are unaffected.

    With ``compile_loops_whole`` (default) it also sets :data:`LOOP_OPTION`, which makes XLA CPU
    compile each time loop into one function instead of dispatching its ~100 kernels one by one
    every step. Measured on the 2-core machine (training step 320 x 168, alternating processes,
    min): one device 18-26 ms without it, 12-16 ms with it (see ``benchmarks/README.md``). An
    explicit value already in ``XLA_FLAGS`` is kept.

    Raises
    ------
    RuntimeError
        If JAX has already started, because the setting would silently have no effect.
    """
    if n is None:
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    n = max(1, int(n or 1))
    existing = re.search(rf"{_FLAG}=(\d+)", os.environ.get("XLA_FLAGS", ""))
    if not existing:
        if _jax_started():
            raise RuntimeError(
                "configure_host_devices() must be called before the first JAX computation; set "
                f"XLA_FLAGS={_FLAG}={n} in the environment instead, or call it right after import")
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FLAG}={n}".strip()
    if compile_loops_whole:
        _add_loop_option()  # after JAX started, a missing loop option is only slower: harmless
    return int(existing.group(1)) if existing else n


def _with_backend_option(flags: str, option: str) -> str:
    """``--xla_backend_extra_options`` with ``option`` added to any options already in ``flags``."""
    found = re.search(r"--xla_backend_extra_options=(\S*)", flags)
    options = [o for o in (found.group(1).split(",") if found else []) if o]
    return "--xla_backend_extra_options=" + ",".join(options + [option])


def device_count() -> int:
    """Number of devices the pixel axis is split across (all devices of the default backend)."""
    import jax

    return len(jax.devices())


def pixel_mesh(devices: Sequence | None = None):
    """A 1-D :class:`jax.sharding.Mesh` named ``"pixel"`` over ``devices`` (default: all)."""
    import jax
    import numpy as np
    from jax.sharding import Mesh

    devices = list(jax.devices() if devices is None else devices)
    return Mesh(np.array(devices), ("pixel",))


def _sharding(mesh, ndim: int, axis: int | None):
    from jax.sharding import NamedSharding, PartitionSpec

    spec = [None] * ndim
    if axis is not None:
        spec[axis] = "pixel"
    return NamedSharding(mesh, PartitionSpec(*spec))


def replicate(tree, mesh=None):
    """Place every leaf of ``tree`` whole on every device of ``mesh`` (weights, optimizer state)."""
    import jax
    import numpy as np

    mesh = mesh if mesh is not None else pixel_mesh()
    return jax.tree_util.tree_map(
        lambda x: jax.device_put(x, _sharding(mesh, np.ndim(x), None)), tree)


def shard_pixels(tree, pixel_axis, mesh=None):
    """Split the leaves of ``tree`` along their pixel axis across the devices of ``mesh``.

    ``pixel_axis(leaf)`` returns the axis holding pixels, or ``None`` for a leaf to replicate;
    an int applies to every leaf of rank >= 1. The pixel count must be a multiple of the device
    count (see :func:`pad_pixels`).
    """
    import jax
    import numpy as np

    mesh = mesh if mesh is not None else pixel_mesh()
    n = mesh.devices.size

    def place(x):
        axis = pixel_axis(x) if callable(pixel_axis) else (pixel_axis if np.ndim(x) else None)
        if axis is not None and np.shape(x)[axis] % n:
            raise ValueError(f"{np.shape(x)[axis]} pixels do not split evenly over {n} devices; "
                             "pad them first with xdifferland.parallel.pad_pixels")
        return jax.device_put(x, _sharding(mesh, np.ndim(x), axis))

    return jax.tree_util.tree_map(place, tree)


def _time_major_axis(x):
    """Pixel axis of engine arrays: the last axis of (time, pixel), axis 0 of (pixel,), none of
    ()."""
    import numpy as np

    ndim = np.ndim(x)
    if ndim == 0 or np.shape(x)[-1] == 1:
        return None
    return ndim - 1


def shard_batch(batch, mesh=None, *, stacked: bool = False):
    """Shard a training :class:`~xdifferland.training.batches.Batch` over the pixel rows.

    ``predictors`` ``(B, n)`` and ``hemisphere`` ``(B, 1)`` split along rows; forcing and
    observations ``(T, B)`` along their last axis, static ``(B,)`` fields along theirs; scalars
    (``delta_t``) are replicated. ``B`` must be a multiple of the device count (320 is, for 2, 4,
    8, 16, 32 or 64 devices). ``stacked``: every leaf has a leading axis of batches (from
    :func:`~xdifferland.training.batches.stack_batches`), which is never split.
    """
    mesh = mesh if mesh is not None else pixel_mesh()
    lead = 1 if stacked else 0

    def engine_axis(x):  # the pixel axis of the leaf without its stacking axis
        axis = _time_major_axis(x[0] if stacked else x)
        return None if axis is None else axis + lead

    return type(batch)(
        shard_pixels(batch.predictors, lead, mesh),
        shard_pixels(batch.hemisphere, lead, mesh),
        shard_pixels(batch.forcing, engine_axis, mesh),
        shard_pixels(batch.observations, engine_axis, mesh),
        shard_pixels(batch.valid, lead, mesh),
    )


def pad_pixels(parameters, forcing, multiple: int):
    """Pad the pixel axis of engine inputs to a multiple of ``multiple`` (repeating pixel 0).

    Returns ``(parameters, forcing, n_pixels)``; slice outputs with ``[:, :n_pixels]``.
    """
    import jax
    import numpy as np

    n = int(np.shape(parameters.decomposition_rate)[0])
    extra = (-n) % multiple
    if extra == 0:
        return parameters, forcing, n

    def pad(x):
        axis = _time_major_axis(x)
        if axis is None or np.shape(x)[axis] != n:
            return x
        x = np.asarray(x)
        fill = np.take(x, [0] * extra, axis=axis)
        return np.concatenate([x, fill], axis=axis)

    return jax.tree_util.tree_map(pad, parameters), jax.tree_util.tree_map(pad, forcing), n


def simulate(parameters, forcing, outputs=("lai", "gpp", "et", "nbe"), *, mesh=None, **options):
    """:func:`xdifferland.engine.simulate` with the pixels split across all devices.

    Pads the pixel axis to a multiple of the device count, shards the inputs, runs the jitted
    simulation (XLA partitions the time loop along pixels, each device running its share) and
    trims the padding. Options are passed to :func:`~xdifferland.engine.simulate`.
    """
    from .engine import Forcing, Parameters
    from .engine import simulate as engine_simulate
    from .engine.simulate import Simulation, as_dtype

    mesh = mesh if mesh is not None else pixel_mesh()
    n_devices = mesh.devices.size
    parameters, forcing = Parameters(*parameters), Forcing(*forcing)
    if n_devices > 1:
        parameters, forcing, n = pad_pixels(parameters, forcing, n_devices)
        parameters = shard_pixels(as_dtype(parameters), 0, mesh)
        forcing = shard_pixels(as_dtype(forcing), _time_major_axis, mesh)
    run = engine_simulate(parameters, forcing, outputs, **options)
    if n_devices == 1 or run.final_pools[0].shape[0] == n:
        return run
    return Simulation({k: v[:, :n] for k, v in run.outputs.items()},
                      type(run.final_pools)(*(p[:n] for p in run.final_pools)))
