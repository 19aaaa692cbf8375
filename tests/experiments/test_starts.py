"""The site ensembles' starting point: members train without ending in the zero-GPP plateau.

Two folds of the leave-one-site-out experiment (eleven training sites each), four seeds per
fold, trained side by side with the site-ensemble settings (200 epochs). A member is dead when
its simulated GPP averages below 0.05 g C m-2 d-1 at every training site; it is stuck (and would
be refitted) when its final training loss exceeds twice the best of its fold. From the published
start the same seeds end dead, so the check can fail.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tests.conftest import FLUXNET
from xdifferland.experiments import prepare_sites
from xdifferland.experiments.folds import Member, fit_members, stuck_members
from xdifferland.experiments.loso import LOSO_START, add_site_climate
from xdifferland.experiments.site_ensemble import SITE_ENSEMBLE_SETTINGS
from xdifferland.training import FitConfig

pytestmark = pytest.mark.shared

HELD_OUT = ("AU-Dry", "US-Ha1")
SEEDS = (7, 1007, 2007, 3007)
EPOCHS = SITE_ENSEMBLE_SETTINGS["epochs"]
DEAD_GPP = 0.05  # g C m-2 d-1: mean simulated GPP below this at a site counts as none


def _members():
    ds = add_site_climate(prepare_sites(FLUXNET))
    members = []
    for site in HELD_OUT:
        part = ds.drop_sel(site=site)
        mask = xr.ones_like(part["t_min"], dtype=bool)
        members += [Member(part, mask, ("woody",), seed=s) for s in SEEDS]
    return members


def _train(start: str, epochs: int = EPOCHS):
    members = _members()
    config = FitConfig(**(SITE_ENSEMBLE_SETTINGS | {"epochs": epochs, "water_start": start,
                                                    "test_fraction": 0.0, "dev_fraction": 0.0}))
    models = fit_members(members, config)
    dead = []
    for model, member in zip(models, members):
        gpp = model.simulate(member.ds.isel(time=slice(0, 1500)), ["gpp"],
                             extrapolation="allow")["gpp"].mean("time").values
        dead.append(bool(np.all(gpp < DEAD_GPP)))
    losses = [m.history["train_loss"][-1] for m in models]
    groups = [i // len(SEEDS) for i in range(len(models))]
    return dead, stuck_members(losses, groups), losses


@pytest.fixture(scope="module")
def default_start():
    return _train(LOSO_START)


def test_no_site_ensemble_member_ends_dead_or_stuck(default_start):
    dead, stuck, losses = default_start
    assert not any(dead), f"dead members: {[i for i, d in enumerate(dead) if d]}"
    assert stuck == []
    assert np.all(np.isfinite(losses))


def test_the_published_start_leaves_members_dead():
    # 60 epochs suffice to show it (and cost a third): the dead stay dead.
    dead, stuck, _ = _train("published", epochs=60)
    assert sum(dead) >= 2
    assert set(stuck) >= {i for i, d in enumerate(dead) if d}
