"""Several initializations screened at the start of a fit; the best one trains on.

A fit through DALEC993 can settle early into a wrong basin that later epochs do not leave: a
water balance with a near-empty bucket, or a leaf-fall day half a season off (the twin
experiment, docs/twin.md). Which basin a run finds depends on its initial weights, and the
training loss separates the basins long before the end. So a fit may train ``starts``
initializations for the first part of the run, keep the one with the lowest training loss, and
continue it: the result is exactly the run that would have started from the winning
initialization alone (same split, same minibatch order), at the cost of the screening epochs of
the others. The published ensembles select their best-converged members by training loss in the
same way, after the whole run (paper, "Parameter Identifiability Analysis").
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["Run", "screen_starts", "start_seed", "screening_score"]

log = logging.getLogger("xdifferland.training")

#: Seed offset between re-initializations after a non-finite loss (a prime, so that restart
#: and start seeds do not meet for any practical number of starts).
RESTART_STRIDE = 7919


@dataclass
class Run:
    """The evolving state of one training run (mutated by the loop, epoch by epoch)."""

    weights: Any
    opt_state: Any
    restarts: int = 0
    start: int = 0
    epoch: int = 0
    history: dict = field(default_factory=dict)
    average: Any = None


def start_seed(seed: int, restarts: int, start: int) -> int:
    """Seed of the initial weights of start ``start`` after ``restarts`` re-initializations.

    Start 0 is the single-start run's initialization, so ``starts=1`` reproduces it.

    Examples
    --------
    >>> start_seed(0, 0, 0), start_seed(0, 0, 2), start_seed(5, 1, 0)
    (0, 2, 7924)
    """
    return seed + RESTART_STRIDE * restarts + start


def screening_score(train_loss: list[float], window: int) -> float:
    """Mean training loss of the last ``window`` epochs (one epoch's loss is noisy).

    Examples
    --------
    >>> screening_score([9.0, 4.0, 2.0], 2)
    3.0
    """
    tail = train_loss[-window:]
    return float(np.mean(tail)) if tail and all(map(math.isfinite, tail)) else math.inf


def screen_starts(new_run: Callable[[int], Run], advance: Callable[[Run], bool], starts: int,
                  epochs: int, bar=None) -> tuple[Run | None, list[float]]:
    """Train ``starts`` runs for ``epochs`` epochs each; return the best and every score.

    Parameters
    ----------
    new_run : callable
        ``new_run(k)`` gives start ``k`` at epoch 0.
    advance : callable
        ``advance(run)`` trains one epoch in place; ``False`` when the loss was not finite
        (that start is dropped).
    starts, epochs : int
        How many starts, and for how many epochs each is screened.
    bar : tqdm, optional
        Advanced once per screening epoch.

    Returns
    -------
    (Run or None, list of float)
        The start with the lowest :func:`screening_score` (``None`` when no start stayed
        finite) and the score of each start (``inf`` for a dropped one).
    """
    window = max(1, epochs // 10)
    best, scores = None, []
    for k in range(starts):
        run = new_run(k)
        while run.epoch < epochs:
            if not advance(run):
                log.warning("start %d of %d: non-finite training loss at epoch %d; dropped",
                            k + 1, starts, run.epoch + 1)
                break
            if bar is not None:
                bar.update(1)
        finished = run.epoch == epochs
        scores.append(screening_score(run.history["train_loss"], window) if finished
                      else math.inf)
        log.info("start %d of %d: training loss %.6g over epochs %d-%d", k + 1, starts,
                 scores[-1], epochs - window + 1, epochs)
        if finished and (best is None or scores[-1] < min(scores[:-1])):
            best = run
    return best, scores
