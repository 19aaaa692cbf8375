"""Named worlds of :func:`~xdifferland.datasets.synthetic_world`: the twin experiment's and the
demo's, and the plausibility override the twin world needs."""

from __future__ import annotations

__all__ = ["DEMO_PRESET", "TWIN_PLAUSIBILITY", "TWIN_PRESET"]

#: The world of twin experiments: 48 x 80 cells at 0.5 degrees over 12 degS-12 degN, 5-45 degE
#: (the tropical band where the mapped parameters sustain a canopy at steady state: 2,197 cells,
#: 51 patches of 4 x 5 degrees), 12 years, 288 flux towers (one vegetated cell in 7.6) to pin
#: the GPP level that SIF, LAI and ET leave open (canopy efficiency trades off with uWUE without
#: them; from 144 towers even the planted values themselves carry to the test patches with only
#: r 0.80-0.85, at the acceptance target: examples/twin_ceiling.py). Its planted parameters give
#: the observations something to identify: canopy efficiency varies as much as the other process
#: parameters (amplitude 0.5, not 0.25), LCMA over a wider range (0.8: 47-114 gC m-2 over the
#: land), the leaf-fall day by up to about +-2 months (0.25, not 0.1), and the SIF slope five
#: times less than before (0.1), so that spatial SIF contrasts come mostly from GPP rather than
#: from the observation operator. Its land cover follows the planted canopy
#: (``land_cover_follows_canopy``): the 1,335 land cells whose parameters cannot keep leaves show
#: as mostly non-vegetated, as they would on a map. Its pools start in balance
#: (``balance_pools``), as the loss's steady-state (EDC) term assumes.
TWIN_PRESET: dict = {
    "lat_range": (-12.0, 12.0), "lon_range": (5.0, 45.0), "n_years": 12, "tower_pixels": 288,
    "parameter_amplitudes": {"canopy_efficiency": 0.5, "leaf_carbon_mass_per_area": 0.8,
                             "leaf_fall_day": 0.25, "sif_slope": 0.1},
    "land_cover_follows_canopy": True, "balance_pools": True,
}

#: The world of ``xdifferland demo``: the twin world's design (its extent, 288 towers, land cover
#: that follows the canopy, balanced pools) over 5 years instead of 12, with the default planted
#: amplitudes and a canopy of plausible leaf area. With the default centre of the leaf carbon mass
#: per area (85 gC m-2) the canopy the planted parameters sustain reaches a true LAI of 14 over
#: this extent (25 with the twin's amplitudes; satellite LAI products stop at 10). More leaf
#: carbon per unit area lowers LAI, and also GPP, so the canopy dies out at more cells: centre
#: 110 gC m-2 (seed 0) gives observed LAI at most 9.0 m2 m-2 (true 8.5) and a canopy (mean LAI >
#: 0.3) on 1,435 of the 3,532 land cells; 130 gives 6.0 and 837 cells; 170 leaves 5. (An
#: autotrophic fraction of 0.6 instead: 10.5 and 1,523 cells.) 110 lies well inside the
#: parameter's range (5-200 gC m-2, as in the published code). The 56 patches of 4 x 5 degrees
#: leave 45 to train on at the default split (a 16-patch world holds out only 2, at its arid
#: edge, where test NSE of LAI was -0.49).
DEMO_PRESET: dict = {
    "lat_range": (-12.0, 12.0), "lon_range": (5.0, 45.0), "n_years": 5, "tower_pixels": 288,
    "parameter_baselines": {"leaf_carbon_mass_per_area": 110.0},
    "land_cover_follows_canopy": True, "balance_pools": True,
}

#: The plausibility override the twin world needs (pass it as ``plausibility=`` to its fits):
#: its planted canopies are denser than real ones (observed LAI up to 27 m2 m-2 at seed 0,
#: 33,705 values above the plausible 15). The twin experiment is about recovering planted
#: parameters, not realism; ``DEMO_PRESET`` is the plausible world.
TWIN_PLAUSIBILITY: dict = {"lai": (0.0, 30.0)}
