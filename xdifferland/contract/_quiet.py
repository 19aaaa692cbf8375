"""NumPy's RuntimeWarnings silenced while the value checks reduce data, safely across threads.

The checks take min, max and means of variables that may be all NaN (a chunk of ocean, a
stream never observed); NumPy warns there, and the NaN is reported by the checks themselves.
``warnings.catch_warnings`` would silence that, but it saves and restores the process-wide
filter list: two fits validating on threads at once (``site_validation`` runs its fits on
threads) can interleave so that the one leaving last restores the list with the other's
"ignore" in it, and RuntimeWarnings stay silenced for the rest of the session. Here the threads
share one filter, counted: the first to enter adds it, the last to leave removes that filter
alone, and the filters anyone else added meanwhile are kept.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator

__all__ = ["runtime_warnings_ignored"]

_lock = threading.Lock()
_users = 0
_entry: tuple | None = None  #: the filter this module added, while anyone is inside


@contextlib.contextmanager
def runtime_warnings_ignored() -> Iterator[None]:
    """Ignore RuntimeWarnings inside the block (in every thread, as warning filters are
    process-wide) and leave the filters as they were when the last thread inside leaves.

    Examples
    --------
    >>> import warnings
    >>> before = list(warnings.filters)
    >>> with runtime_warnings_ignored():
    ...     warnings.warn("mean of empty slice", RuntimeWarning)  # not shown
    >>> warnings.filters == before
    True
    """
    global _users, _entry
    with _lock:
        if _users == 0:
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            _entry = warnings.filters[0]
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _remove_filter(_entry)
                _entry = None


def _remove_filter(entry: tuple | None) -> None:
    """Take ``entry`` out of the warning filters (if someone has not already)."""
    if entry is None:
        return
    for i, existing in enumerate(warnings.filters):
        if existing is entry:
            del warnings.filters[i]
            break
    # what warnings.filterwarnings does after changing the list: drop cached decisions
    mutated = getattr(warnings, "_filters_mutated", None)
    if mutated is not None:
        mutated()
