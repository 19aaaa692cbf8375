"""Whether a fit converged: its training and dev losses checked for divergence.

A fit diverged when

- its training loss ends above its first value, or its dev loss more than
  :data:`RISE_TOLERANCE` above its first evaluation: the run made the model worse than it was;
- or the loss rose in each of ``divergence_patience`` consecutive epochs (for the dev loss:
  evaluations) by more than :data:`RISE_TOLERANCE` in all;
- or, while training, the loss has stayed above its first value for ``divergence_patience``
  epochs (evaluations) (the run is past its start and not coming back, e.g. saturated at a huge
  learning rate);
- or the dev loss is not finite (the training loss is kept finite by the restarts of ``fit``).

``FitConfig(divergence=...)`` says what ``fit`` does then: ``"warn"`` (default) finishes the run
and issues a :class:`DivergenceWarning`, ``"stop"`` ends training at the epoch the rule fires,
``"ignore"`` does neither. In every mode the model records the verdict
(:attr:`~xdifferland.model.DifferLandModel.converged`,
:attr:`~xdifferland.model.DifferLandModel.convergence`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

__all__ = ["DIVERGENCE_MODES", "RISE_TOLERANCE", "Convergence", "DivergenceWarning",
           "check_convergence", "divergence_during"]

#: What ``fit`` does with a diverging run (see ``FitConfig.divergence``).
DIVERGENCE_MODES = ("warn", "stop", "ignore")
#: Share of the loss a run of consecutive rises must add up to before it counts: epoch sums of a
#: stochastic run near its minimum wobble by a few per cent, a diverging run climbs far more.
RISE_TOLERANCE = 0.05


class DivergenceWarning(UserWarning):
    """A fit ended (or was stopped) with a diverging loss; the message says what to try."""


@dataclass(frozen=True)
class Convergence:
    """The verdict on a fit: ``converged`` is False when a divergence rule fired; ``reason`` says
    which, with the numbers and what to try (or how the losses went, when none fired)."""

    converged: bool
    reason: str

    def to_dict(self) -> dict:
        return {"converged": self.converged, "reason": self.reason}


def _rising(series: Sequence[float], steps: int) -> bool:
    """Rose in each of the last ``steps`` steps, by more than the tolerance in all."""
    if steps < 1 or len(series) < steps + 1:
        return False
    tail = series[-steps - 1:]
    return (all(b > a for a, b in zip(tail, tail[1:]))
            and tail[-1] > tail[0] + RISE_TOLERANCE * abs(tail[0]))


def _stuck_above_start(series: Sequence[float], steps: int) -> bool:
    return len(series) > steps and all(x > series[0] for x in series[-steps:])


def _advice(config) -> str:
    lower = f"{config.learning_rate / 10:g}"
    tips = [f"a lower learning_rate (now {config.learning_rate:g}; e.g. {lower})"]
    if config.clip_norm is None:
        tips.append("gradient clipping (clip_norm=1.0)")
    else:
        tips.append(f"a smaller clip_norm (now {config.clip_norm:g})")
    if config.schedule == "constant":
        tips.append("schedule='cosine'")
    tips.append("and check the observations' units and the loss weights (loss_weights=, "
                "use_uncertainty=)")
    return "Try " + ", ".join(tips)


def _verdicts(history: Mapping, config, *, final: bool) -> list[str]:
    """Sentences of the rules that fired (empty: none)."""
    patience = config.divergence_patience
    train = [float(x) for x in history.get("train_loss", [])]
    dev = [float(x) for x in history.get("dev_loss", [])]
    dev_epochs = list(history.get("dev_epoch", [])) or list(range(1, len(dev) + 1))
    found = []
    for what, series, epochs, steps, unit in (
            ("training", train, list(range(1, len(train) + 1)), patience, "epochs"),
            # the dev loss of a few patches jumps by tens of per cent between evaluations of a
            # healthy run (the demo: 0.29, 0.40, 0.29 of its start): it gets as many
            # evaluations as the training loss gets epochs
            ("dev", dev, dev_epochs, patience, "evaluations")):
        if not series:
            continue
        if not all(math.isfinite(x) for x in series):
            bad = next(e for e, x in zip(epochs, series) if not math.isfinite(x))
            found.append(f"the {what} loss is not finite (epoch {bad})")
            continue
        start = f"{series[0]:.4g} at epoch {epochs[0]}"
        # the first evaluation of the dev loss comes after eval_every epochs, when it may
        # already be near its floor: only a clear rise above it counts
        margin = 0.0 if what == "training" else RISE_TOLERANCE * abs(series[0])
        if final and len(series) > 1 and series[-1] > series[0] + margin:
            found.append(f"the {what} loss ended above its start ({start}, {series[-1]:.4g} at "
                         f"epoch {epochs[-1]})")
        elif _rising(series, steps):
            found.append(f"the {what} loss rose in each of the last {steps} {unit}, from "
                         f"{series[-steps - 1]:.4g} to {series[-1]:.4g} (epoch {epochs[-1]})")
        elif not final and _stuck_above_start(series, steps):
            found.append(f"the {what} loss has stayed above its start ({start}) for {steps} "
                         f"{unit} (now {series[-1]:.4g})")
    return found


def _verdict(found: list[str], config, stopped_at: int | None = None) -> Convergence:
    where = f"; training stopped at epoch {stopped_at}" if stopped_at else ""
    if all(f.startswith("the dev loss") for f in found):  # training went well: held-out did not
        advice = ("The network may fit the training patches at the expense of held-out ones "
                  "(overfitting): try fewer epochs, weight_decay=1e-4 or average_last=0.2; "
                  f"if the dev loss jumps, {_advice(config)[0].lower()}{_advice(config)[1:]}")
    else:
        advice = _advice(config)
    return Convergence(False, f"the fit diverged: {'; '.join(found)}{where}. {advice}.")


def divergence_during(history: Mapping, config) -> Convergence | None:
    """The verdict to stop on after an epoch (``None``: carry on).

    Only the rules that can be judged mid-run: a run of rises, a loss stuck above its start, a
    non-finite dev loss.
    """
    found = _verdicts(history, config, final=False)
    if not found:
        return None
    return _verdict(found, config, stopped_at=len(history.get("train_loss", [])))


def check_convergence(history: Mapping, config) -> Convergence:
    """The verdict on a finished run, every rule applied.

    Examples
    --------
    >>> from xdifferland.training import FitConfig
    >>> config = FitConfig(epochs=4)
    >>> check_convergence({"train_loss": [9.0, 5.0, 4.0, 3.5]}, config).converged
    True
    >>> verdict = check_convergence({"train_loss": [1.75e9, 1.9e9, 1.9e9, 1.9e9]}, config)
    >>> verdict.converged
    False
    >>> print(verdict.reason[:80])
    the fit diverged: the training loss ended above its start (1.75e+09 at epoch 1, 
    """
    found = _verdicts(history, config, final=True)
    if found:
        return _verdict(found, config)
    train = list(history.get("train_loss", []))
    if len(train) < 2:
        return Convergence(True, f"{len(train)} epoch(s): no divergence rule can fire")
    said = f"the training loss fell from {train[0]:.4g} to {train[-1]:.4g}"
    dev = list(history.get("dev_loss", []))
    if len(dev) > 1:
        said += f", the dev loss from {dev[0]:.4g} to {dev[-1]:.4g}"
    elif len(dev) == 1:
        said += f", the dev loss was {dev[0]:.4g}"
    return Convergence(True, said)
