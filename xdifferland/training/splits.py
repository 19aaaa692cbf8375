"""Patches into train, dev and test splits: seeded, and a warning when nothing is held out."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .config import FitConfig

__all__ = ["Splits", "split_patches"]

log = logging.getLogger("xdifferland.training")


@dataclass(frozen=True)
class Splits:
    """Patch numbers (indices into TrainingData patches) of each split."""

    train: np.ndarray
    dev: np.ndarray
    test: np.ndarray


def split_patches(n_patches: int, config: FitConfig) -> Splits:
    """Seeded split of patches: test held out, dev monitored, the rest trained on."""
    order = np.random.default_rng([config.seed, 0xD1F]).permutation(n_patches)
    def share(fraction: float, n: int) -> int:  # at least one patch when asked and possible
        return max(1, int(round(fraction * n))) if fraction > 0 and n > 2 else 0

    n_test = share(config.test_fraction, n_patches)
    rest = order[n_test:]
    n_dev = share(config.dev_fraction, len(rest))
    n_dev = min(n_dev, len(rest) - 1)
    return Splits(train=np.sort(rest[n_dev:]), dev=np.sort(rest[:n_dev]),
                  test=np.sort(order[:n_test]))


def _say_unheld(splits: Splits, config: FitConfig, patch_variable: str | None,
                gridded: bool) -> None:
    """Warn when a fit holds out no test or no dev patch: its held-out skill cannot be scored."""
    missing = [name for name in ("test", "dev") if len(getattr(splits, name)) == 0]
    if not missing:
        return
    n = len(splits.train) + len(splits.dev) + len(splits.test)
    if n <= 2:
        why = f"the data form {n} patch{'es' * (n != 1)} and 3 or more are needed to hold any out"
        if not (patch_variable or gridded):
            why += ("; a site list is one patch unless patch_variable= names an integer "
                    "patch id per location")
    else:
        why = (f"test_fraction={config.test_fraction:g} and dev_fraction="
               f"{config.dev_fraction:g} of {n} patches leave none for {' or '.join(missing)}")
    log.warning("no %s patches: %s. Nothing is held out for %s: evaluate(..., %s) will fail.",
                " and no ".join(missing), why, " or ".join(missing),
                " or ".join(repr(m) for m in missing))
