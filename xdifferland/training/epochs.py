"""Pieces of a training epoch: the batches grouped per compiled call, the losses summed as the
device returns them, and the running average of the epoch-end weights."""

from __future__ import annotations

import jax

from .batches import stack_batches

__all__: list[str] = []


def _running_average(average, weights, count: int):
    """Mean of the epoch-end weights so far: ``count`` is how many, with these, enter it.

    Stochastic weight averaging (Izmailov et al. 2018): the mean of the last epochs' weights
    lies nearer the centre of the minimum that constant-rate Adam circles around.
    """
    if count <= 0:
        return None
    if average is None or count == 1:
        return weights
    return jax.tree_util.tree_map(lambda a, w: a + (w - a) / count, average, weights)


def _groups(batches, size: int):
    """``(stacked group, count)`` of up to ``size`` consecutive batches, in order.

    A last, shorter group is padded to ``size`` with copies of its last batch (never trained
    on: the fused steps stop after ``count``), so one compiled program serves every group.
    """
    group = []
    for batch in batches:
        group.append(batch)
        if len(group) == size:
            yield stack_batches(group), size
            group = []
    if group:
        count = len(group)
        yield stack_batches(group + [group[-1]] * (size - count)), count


class _EpochSums:
    """Sums of the steps' losses, read back a few calls late.

    Reading a call's losses waits for it; reading the one two calls back lets Python build and
    send the next groups of batches while the device computes (JAX dispatches asynchronously)
    and keeps at most ``_IN_FLIGHT`` groups queued. The sums run in step order.
    """

    _IN_FLIGHT = 2

    def __init__(self):
        self.total, self.terms, self._pending = 0.0, {}, []

    def add(self, losses, terms, count: int) -> None:
        self._pending.append((losses, terms, count))
        if len(self._pending) > self._IN_FLIGHT:
            self._read(*self._pending.pop(0))

    def result(self) -> tuple[float, dict]:
        while self._pending:
            self._read(*self._pending.pop(0))
        return self.total, self.terms

    def _read(self, losses, terms, count: int) -> None:
        losses, terms = jax.device_get((losses, terms))
        for k in range(count):  # one step at a time, as the sums of single steps ran
            self.total += float(losses[k])
            for name, values in terms.items():
                self.terms[name] = self.terms.get(name, 0.0) + float(values[k])
