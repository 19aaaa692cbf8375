"""Mass balance: the mass-conserving mode closes carbon and water budgets on every parity case."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.parity_data import load_case, parity_cases
from xdifferland.engine import budget_residuals, simulate

pytestmark = pytest.mark.shared


@pytest.mark.parametrize(("name", "climate"), parity_cases())
def test_mass_conserving_mode_closes_budgets(x64, name, climate):
    params, forcing, _, _ = load_case(name, climate)
    r = budget_residuals(params, forcing, mass_conserving=True)
    carbon = np.abs(np.asarray(r.carbon)) / np.maximum(np.abs(np.asarray(r.total_carbon)), 1.0)
    water = np.abs(np.asarray(r.water)) / np.maximum(np.abs(np.asarray(r.water_pool)), 1.0)
    assert carbon.max() <= 1e-9
    assert water.max() <= 1e-9


def test_reference_mode_shows_the_published_quirks(x64):
    """The default reproduces the reference, whose clamps leak carbon and water (spec 12.1-2)."""
    leaks = []
    for name, climate in parity_cases():
        params, forcing, _, _ = load_case(name, climate)
        r = budget_residuals(params, forcing)
        leaks.append((np.abs(np.asarray(r.carbon)).max(), np.abs(np.asarray(r.water)).max()))
    assert max(c for c, _ in leaks) > 1e-3
    assert max(w for _, w in leaks) > 1e-3


def test_mass_conserving_mode_keeps_pools_and_runoff_in_bounds(x64):
    bad_runoff = bad_pool = 0
    for name, climate in parity_cases():
        params, forcing, _, _ = load_case(name, climate)
        names = ["runoff", "labile_pool", "foliar_pool", "root_pool", "wood_pool",
                 "litter_pool", "som_pool"]
        ref = simulate(params, forcing, names)
        fixed = simulate(params, forcing, names, mass_conserving=True)
        bad_runoff += int((np.asarray(ref.outputs["runoff"]) < 0).sum())
        bad_pool += sum(int((np.asarray(ref.outputs[n]) < 1 - 1e-12).sum()) for n in names[1:])
        assert float(np.asarray(fixed.outputs["runoff"]).min()) >= 0.0
        for n in names[1:]:
            assert float(np.asarray(fixed.outputs[n]).min()) >= 1.0 - 1e-9, n
    # The parity cases do exercise the quirks that mass-conserving mode repairs.
    assert bad_runoff > 0 and bad_pool > 0
