"""Run independent tasks on a ``dask.distributed`` Client, retrying failed ones.

Ensembles and factorial experiments are many independent fits. :func:`run_tasks` sends them to a
Client (an existing one -- a laptop, an HPC cluster -- used as is, or a temporary
:class:`~distributed.LocalCluster` of processes that is closed afterwards) and collects the results
in task order, whichever worker ran what. A task that raises, or whose worker dies, is resubmitted
up to ``retries`` times. ``client="synchronous"`` runs the tasks one after another in this process
(no Dask), which is convenient for debugging and for checking that results do not depend on the
scheduler.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Callable, Sequence

__all__ = ["SYNCHRONOUS", "TaskError", "client_for", "run_tasks"]

log = logging.getLogger("xdifferland.tasks")

#: Pass as ``client=`` to run tasks serially in the calling process.
SYNCHRONOUS = "synchronous"


class TaskError(RuntimeError):
    """A task kept failing after all its retries."""


@contextlib.contextmanager
def client_for(client=None, *, n_workers: int | None = None, threads_per_worker: int = 1):
    """Yield a usable Client: ``client`` itself, or a temporary LocalCluster closed on exit.

    ``client="synchronous"`` yields ``None`` (run in this process). The temporary cluster uses
    processes (JAX releases the GIL poorly for small kernels), ``n_workers`` defaulting to the
    CPU count (at most 8) with one thread each, and no dashboard.

    Examples
    --------
    >>> with client_for("synchronous") as c:
    ...     print(c)
    None
    """
    if client == SYNCHRONOUS:
        yield None
        return
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    workers = n_workers or max(1, min(8, os.cpu_count() or 1))
    cluster = LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker,
                           processes=True, dashboard_address=":0")
    own = Client(cluster)
    try:
        yield own
    finally:
        own.close()
        cluster.close()


def run_tasks(function: Callable, arguments: Sequence[tuple], *, client=None,
              retries: int = 2, progress: bool = False, description: str = "tasks",
              n_workers: int | None = None) -> list:
    """``[function(*args) for args in arguments]``, run on a Dask Client with retries.

    Parameters
    ----------
    function : callable
        Must be picklable by cloudpickle (module-level functions are sent by reference).
    arguments : sequence of tuple
        Positional arguments of each task.
    client : distributed.Client, "synchronous" or None
        Where to run: an existing Client (used as is, never closed), ``"synchronous"`` (this
        process, in order), or None for a temporary LocalCluster (closed afterwards).
    retries : int, default 2
        Extra attempts for a task that raises or whose worker dies (a dead worker's task is
        also rescheduled by Dask itself, within ``distributed.scheduler.allowed-failures``).
    progress : bool, default False
        Show a progress bar of finished tasks.
    n_workers : int, optional
        Workers of the temporary LocalCluster.

    Returns
    -------
    list
        Results in the order of ``arguments``.

    Raises
    ------
    TaskError
        When a task still fails after ``retries`` extra attempts (its last error is chained).

    Examples
    --------
    >>> run_tasks(pow, [(2, 3), (3, 2)], client="synchronous")
    [8, 9]
    """
    if retries < 0:
        raise ValueError(f"retries={retries!r}: use an integer >= 0")
    arguments = [tuple(a) for a in arguments]
    bar = _bar(len(arguments), progress, description)
    try:
        with client_for(client, n_workers=n_workers) as active:
            if active is None:
                results = []
                for index, args in enumerate(arguments):
                    results.append(_local_attempts(function, args, index, retries))
                    bar.update(1)
                return results
            return _distributed(active, function, arguments, retries, bar)
    finally:
        bar.close()


def _local_attempts(function, args, index, retries):
    for attempt in range(retries + 1):
        try:
            return function(*args)
        except Exception as error:
            if attempt == retries:
                raise TaskError(f"task {index} failed {retries + 1} times; last error: "
                                f"{error!r}") from error
            log.warning("task %d failed (%r); retrying (%d of %d)", index, error, attempt + 1,
                        retries)


def _distributed(client, function, arguments, retries, bar):
    from distributed import as_completed

    run = uuid.uuid4().hex[:8]
    # Datasets shared by several tasks are sent once (to every worker, so a dead worker
    # loses no copy), not once per task.
    shared: dict[int, object] = {}
    for args in arguments:
        for a in args:
            if _is_dataset(a) and id(a) not in shared:
                shared[id(a)] = client.scatter(a, hash=False, broadcast=True)
    arguments = [tuple(shared.get(id(a), a) if _is_dataset(a) else a for a in args)
                 for args in arguments]

    def submit(index: int, attempt: int):
        return client.submit(function, *arguments[index], key=f"xdl-{run}-{index}-{attempt}",
                             pure=False, retries=0)

    futures = {submit(i, 0): (i, 0) for i in range(len(arguments))}
    results: dict[int, object] = {}
    pending = as_completed(list(futures))
    for future in pending:
        index, attempt = futures.pop(future)
        if future.status == "finished":
            results[index] = future.result()
            bar.update(1)
            continue
        error = future.exception()
        if attempt >= retries:
            for other in futures:
                other.cancel()
            raise TaskError(f"task {index} failed {attempt + 1} times (a raised error or a "
                            f"worker that died); last error: {error!r}") from error
        log.warning("task %d failed (%r); retrying (%d of %d)", index, error, attempt + 1,
                    retries)
        retry = submit(index, attempt + 1)
        futures[retry] = (index, attempt + 1)
        pending.add(retry)
    return [results[i] for i in range(len(arguments))]


def _is_dataset(obj) -> bool:
    import xarray as xr

    return isinstance(obj, xr.Dataset)


def _bar(total: int, enabled: bool, description: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=description, unit="task")
